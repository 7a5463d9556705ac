"""Train a classifier on the spiral: the project's main job.

    python train.py                      # the learner's question: 2 classes x 400 points, h = 1000
    python train.py --depth 3 --activation tanh --hidden 64
    python train.py --optimizer adam --lr 0.01 --batch-size 64 --val-fraction 0.2
    python train.py --resume runs/<run>/checkpoint.npz --steps 6000

Everything a run produces goes to one folder (--out, by default runs/<date>-<time>):
checkpoint.npz (weights, optimizer and batch state: what --resume needs), history.csv,
config.json (every setting, the model, library versions, the outcome), loss.png and boundary.png.

This file is a thin command line over ``training.fit``; the numbers come from the parts in
layers/, models/, optim/ and data/.
"""

from __future__ import annotations

import signal
import sys

EXIT_FAILED = 1            # diverged, unreadable checkpoint, unwritable output
EXIT_USAGE = 2             # bad flags (argparse's convention)
EXIT_INTERRUPTED = 130     # Ctrl-C (128 + SIGINT)

if __name__ == "__main__":
    # Ctrl-C while NumPy and matplotlib load: leave quietly instead of with a traceback.
    signal.signal(signal.SIGINT, lambda signum, frame: sys.exit(EXIT_INTERRUPTED))

import argparse  # noqa: E402  (after the guard above, on purpose)
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from data import BatchStream, make_spiral, spawn_generators  # noqa: E402
from layers import LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh  # noqa: E402
from models import Sequential  # noqa: E402
from models.savefile import write_atomically  # noqa: E402
from optim import SGD, Adam  # noqa: E402
from training import (Diverged, TrainingState, fit, plot_curves, plot_decision_boundary,  # noqa: E402
                      read_checkpoint, require_finite_state, restore, save_checkpoint)

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}
DTYPES = {"float64": np.float64, "float32": np.float32}
OPTIMIZERS = ("sgd", "adam")

# The learner's question (CONTEXT.md). None marks "not given": resolved here, or from a checkpoint.
DEFAULTS = {
    "points": 400, "classes": 2, "noise": 0.5, "seed": 0, "val_fraction": 0.0,
    "hidden": 1000, "depth": 1, "activation": "relu", "init": "auto", "dtype": "float64",
    "optimizer": "sgd", "lr": None, "momentum": 0.0, "weight_decay": 0.0,
    "steps": 3000, "batch_size": None, "log_every": 10, "checkpoint_every": 500,
}
DEFAULT_LR = {"sgd": 1.0, "adam": 1e-3}
# Settings a resumed run may change: they decide how long it runs and how often it saves, not what it computes.
FREE_ON_RESUME = {"steps", "checkpoint_every"}


class Failure(Exception):
    """An expected failure: reported as one line on stderr, never as a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


# The command line -------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def count(minimum: int, maximum: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum of {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is above the maximum of {maximum}")
        return value
    return parse


def number(low: float = 0.0, high: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < low or (high is not None and value >= high):
            bounds = f"{low} <= value < {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{text} is not a finite number {bounds}")
        return value
    return parse


def init_choice(text: str):
    if text in ("auto", "he", "xavier"):
        return text
    try:
        return number()(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'auto', 'he', 'xavier' or a standard deviation >= 0 such as 0.01") from None


def folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder")
    return text


# How each setting is read from the command line; a checkpoint's settings are checked the same way.
PARSE = {
    "points": count(1), "classes": count(2, 1000), "noise": number(), "val_fraction": number(0.0, 1.0),
    "seed": count(0), "hidden": count(1), "depth": count(0, 1000), "init": init_choice, "lr": number(),
    "momentum": number(), "weight_decay": number(), "steps": count(0), "batch_size": count(1),
    "log_every": count(1), "checkpoint_every": count(1),
}
CHOICES = {"activation": tuple(ACTIVATIONS), "dtype": tuple(DTYPES), "optimizer": OPTIMIZERS}


def build_parser() -> Parser:
    p = Parser(prog="train.py", description="Train a classifier on the 2-D spiral and save the run.",
               epilog="Defaults are the learner's question: 400 points per class, 2 classes, noise 0.5, "
                      "one hidden ReLU layer of 1000, SGD with lr 1.0, 3000 full-batch steps, seed 0.")
    d = DEFAULTS
    data = p.add_argument_group("data")
    data.add_argument("--points", type=PARSE["points"], help=f"points per class (default {d['points']})")
    data.add_argument("--classes", type=PARSE["classes"],
                      help=f"number of classes, spiral arms (default {d['classes']})")
    data.add_argument("--noise", type=PARSE["noise"], help=f"angle noise of the spiral (default {d['noise']})")
    data.add_argument("--val-fraction", type=PARSE["val_fraction"],
                      help="share of the points held out for validation (default 0: train on all)")
    data.add_argument("--seed", type=PARSE["seed"],
                      help=f"seed for data, split, weights and shuffling (default {d['seed']})")
    model = p.add_argument_group("model")
    model.add_argument("--hidden", type=PARSE["hidden"], help=f"units per hidden layer (default {d['hidden']})")
    model.add_argument("--depth", type=PARSE["depth"],
                       help=f"number of hidden layers; 0 is a linear classifier (default {d['depth']})")
    model.add_argument("--activation", choices=CHOICES["activation"],
                       help=f"hidden activation (default {d['activation']})")
    model.add_argument("--init", type=PARSE["init"],
                       help="weight init: he, xavier, a std such as 0.01 (the loop's), or auto: he for "
                            "relu/leaky_relu, xavier for tanh/sigmoid (default auto)")
    model.add_argument("--dtype", choices=CHOICES["dtype"], help=f"floating-point precision (default {d['dtype']})")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=CHOICES["optimizer"], help=f"update rule (default {d['optimizer']})")
    opt.add_argument("--lr", type=PARSE["lr"], help="learning rate (default 1.0 for sgd, 0.001 for adam)")
    opt.add_argument("--momentum", type=PARSE["momentum"], help="SGD momentum (default 0)")
    opt.add_argument("--weight-decay", type=PARSE["weight_decay"],
                     help="L2 weight decay λ, adds λ·θ to every gradient (default 0)")
    run = p.add_argument_group("run")
    run.add_argument("--steps", type=PARSE["steps"], help=f"total number of updates (default {d['steps']})")
    run.add_argument("--batch-size", type=PARSE["batch_size"], help="mini-batch size (default: the full batch)")
    run.add_argument("--log-every", type=PARSE["log_every"],
                     help=f"steps between history rows (default {d['log_every']})")
    run.add_argument("--checkpoint-every", type=PARSE["checkpoint_every"],
                     help=f"steps between checkpoints written during the run (default {d['checkpoint_every']})")
    run.add_argument("--out", metavar="DIR", type=folder,
                     help="folder for the run's files (default runs/<date>-<time>)")
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


# The configuration ------------------------------------------------------------------------

def resolve(args: argparse.Namespace, parser: Parser):
    """The run's configuration: flags over defaults, or the checkpoint's, checked for contradictions."""
    given = {name: value for name, value in vars(args).items() if name in DEFAULTS and value is not None}
    if args.resume is None:
        config = dict(DEFAULTS, **given)
        if config["lr"] is None:
            config["lr"] = DEFAULT_LR[config["optimizer"]]
        config["init"] = resolved_init(config["init"], config["activation"])
        for problem in combination_problems(config):
            parser.error(problem)
        return config, None

    try:
        checkpoint = read_checkpoint(args.resume)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    saved = checkpoint.config
    problems = setting_problems(saved) or combination_problems(saved)
    if checkpoint.step < 0:
        problems.append(f"its step count is {checkpoint.step}")
    if problems:
        raise Failure(f"cannot resume from {args.resume}: damaged checkpoint ({'; '.join(problems)})")
    if "init" in given:
        given["init"] = resolved_init(given["init"], saved["activation"])
    clashes = [f"--{name.replace('_', '-')} {value} (the checkpoint has {saved[name]})"
               for name, value in given.items() if name not in FREE_ON_RESUME and saved[name] != value]
    if clashes:
        raise Failure(f"cannot resume {args.resume} with {', '.join(clashes)}: a resumed run keeps its "
                      f"data, model and optimizer; leave those flags out (--steps, "
                      f"--checkpoint-every, --out and --no-progress may change)", EXIT_USAGE)
    config = dict(saved, **{name: given[name] for name in FREE_ON_RESUME if name in given})
    if config["steps"] <= checkpoint.step:
        raise Failure(f"{args.resume} has already made {checkpoint.step} updates; pass a larger --steps "
                      f"(the total) to train further", EXIT_USAGE)
    return config, checkpoint


def resolved_init(init, activation: str):
    if init != "auto":
        return init
    return "he" if activation in ("relu", "leaky_relu") else "xavier"


WHOLE_NUMBERS = {"points", "classes", "seed", "hidden", "depth", "steps", "batch_size", "log_every", "checkpoint_every"}


def setting_problems(config: dict) -> list[str]:
    """Each setting checked as its flag would be: a checkpoint's JSON may have been edited or damaged."""
    problems = []
    for name in DEFAULTS:
        if name not in config:
            problems.append(f"{name} is missing")
            continue
        value = config[name]
        if name in CHOICES:
            if value not in CHOICES[name]:
                problems.append(f"{name} {value!r} is not one of {', '.join(CHOICES[name])}")
            continue
        if (name == "batch_size" and value is None) or (name == "init" and value in ("he", "xavier")):
            continue
        kind = int if name in WHOLE_NUMBERS else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            problems.append(f"{name} {value!r} is not {'a whole number' if kind is int else 'a number'}")
            continue
        try:
            PARSE[name](str(value))
        except argparse.ArgumentTypeError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def combination_problems(config: dict) -> list[str]:
    problems = []
    if config["optimizer"] == "adam" and config["momentum"]:
        problems.append("argument --momentum: applies to --optimizer sgd only (Adam keeps its own running averages)")
    n_points = config["points"] * config["classes"]
    n_val = round(config["val_fraction"] * n_points)
    if config["val_fraction"] and not 1 <= n_val < n_points:
        problems.append(f"argument --val-fraction: {config['val_fraction']} of {n_points} points leaves "
                        f"{n_val} for validation and {n_points - n_val} for training; both need at least one")
    return problems


# Building the run from its configuration ------------------------------------------------

def generators(config: dict) -> dict[str, np.random.Generator]:
    """Independent random streams for the data, the weights, the split and the shuffling, all
    from the one seed. The first two are what ``spawn_generators(seed, 2)`` gives a script."""
    names = ("data", "init", "split", "shuffle")
    return dict(zip(names, spawn_generators(config["seed"], len(names))))


def build_data(config: dict):
    """The spiral, split into training and validation sets."""
    dtype = DTYPES[config["dtype"]]
    X, y = make_spiral(config["points"], config["classes"], config["noise"], seed=generators(config)["data"],
                       dtype=dtype)
    n_val = round(config["val_fraction"] * len(X))
    order = generators(config)["split"].permutation(len(X))
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    val = (X[val_rows], y[val_rows]) if n_val else None
    return X[train_rows], y[train_rows], val


def build_model(config: dict) -> Sequential:
    rng = generators(config)["init"]
    dtype = DTYPES[config["dtype"]]
    widths = [2] + [config["hidden"]] * config["depth"]
    model = Sequential()
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        model.append(Linear(d_in, d_out, rng=rng, init=config["init"], dtype=dtype))
        model.append(make_activation(config["activation"]))
    model.append(Linear(widths[-1], config["classes"], rng=rng, init=config["init"], dtype=dtype))
    return model


def make_activation(name: str):
    """The activation layer; ReLU and LeakyReLU work in place (PyTorch's inplace=True), which spares
    a new [N x h] array in each direction. Inside the model this never touches the caller's arrays."""
    if name in ("relu", "leaky_relu"):
        return ACTIVATIONS[name](inplace=True)
    return ACTIVATIONS[name]()


def build_optimizer(config: dict, model: Sequential):
    if config["optimizer"] == "adam":
        return Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"])


# The run's folder -------------------------------------------------------------------------

def holds_a_run(folder: Path) -> bool:
    return (folder / "config.json").exists() or (folder / "checkpoint.npz").exists()


def choose_out(args, checkpoint) -> tuple[Path, bool]:
    """The run's folder, and whether it is the resumed run's own folder. Nothing is created yet."""
    if args.out is not None:
        out = Path(args.out)
    elif checkpoint is not None:
        out = Path(checkpoint.path).parent
    else:
        return Path("runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), False
    if out.exists() and not out.is_dir():
        raise Failure(f"--out {out} is a file, not a folder", EXIT_USAGE)
    own = checkpoint is not None and (out / "checkpoint.npz").exists() and \
        (out / "checkpoint.npz").resolve() == Path(checkpoint.path).resolve()
    if holds_a_run(out) and not own:
        hint = f", or continue it with --resume {out / 'checkpoint.npz'}" if (out / "checkpoint.npz").exists() else ""
        raise Failure(f"{out} already holds a run; choose another --out{hint}", EXIT_USAGE)
    return out, own


def claim(out: Path, own: bool, default_name: bool) -> Path:
    """Create the folder and claim it with an empty config.json, so no other run can share it."""
    if own:
        return out
    if default_name:                        # runs/<date>-<time>, or -2, -3, … when that second is taken
        out.parent.mkdir(parents=True, exist_ok=True)
        base = out
        for suffix in range(2, 1000):
            try:
                out.mkdir()
                break
            except FileExistsError:
                out = base.with_name(f"{base.name}-{suffix}")
    else:
        out.mkdir(parents=True, exist_ok=True)
    try:
        (out / "config.json").open("x").close()
    except FileExistsError:
        raise Failure(f"{out} already holds a run; choose another --out", EXIT_USAGE) from None
    return out


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("numpy", "matplotlib", "tqdm", "backprop-parts"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


# Running ----------------------------------------------------------------------------------

class StopFlag:
    """First Ctrl-C: finish the current step, save, exit 130. A second one aborts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():    # only there can signals be caught
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)


def run(args: argparse.Namespace, parser: Parser) -> int:
    config, checkpoint = resolve(args, parser)
    out, own = choose_out(args, checkpoint)
    X, y, val = build_data(config)
    model = build_model(config)
    loss_fn = SoftmaxCrossEntropy()
    optimizer = build_optimizer(config, model)
    state = TrainingState()
    if config["batch_size"] is not None:
        state.batches = BatchStream(X, y, config["batch_size"], rng=generators(config)["shuffle"])
    if checkpoint is not None:
        try:
            restore(checkpoint, model, optimizer, state)
        except ValueError as exc:
            raise Failure(str(exc)) from None
    out = claim(out, own, default_name=args.out is None and checkpoint is None)

    n_params = sum(p.value.size for p in model.parameters())
    batching = "full batch" if config["batch_size"] is None else f"mini-batches of {config['batch_size']}"
    print(f"data       spiral, {config['classes']} classes x {config['points']} points, noise {config['noise']}, "
          f"seed {config['seed']}: {len(X)} for training, {0 if val is None else len(val[0])} for validation")
    print("model      " + repr(model).replace("\n", "\n           "))
    print(f"           {n_params:,} parameters, {config['dtype']}, init {config['init']}")
    print(f"optimizer  {optimizer!r}, {batching}")
    start_note = f", resuming at step {state.step} from {checkpoint.path}" if checkpoint else ""
    print(f"run        {config['steps']} steps{start_note}, files in {out}", flush=True)

    record = {
        "config": config,
        "model": repr(model),
        "optimizer": repr(optimizer),
        "parameters": n_params,
        "samples": {"train": len(X), "validation": 0 if val is None else len(val[0])},
        "versions": versions(),
        "command": " ".join(["train.py"] + sys.argv[1:]),
        "resumed_from": None if checkpoint is None else {"path": checkpoint.path, "step": checkpoint.step},
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    started = time.perf_counter()
    write_record(out, record, state, started, status="running")

    def checkpoint_now(state: TrainingState) -> None:
        if state.step % config["checkpoint_every"] == 0:
            save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)

    with StopFlag() as stop:
        try:
            history = fit(model, loss_fn, optimizer, X, y, steps=config["steps"], batch_size=config["batch_size"],
                          val=val, log_every=config["log_every"], progress=not args.no_progress, state=state,
                          on_step=checkpoint_now, should_stop=stop)
            trained = time.perf_counter() - started
            save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)
        except Diverged as exc:
            write_record(out, record, state, started, status="diverged", message=str(exc))
            state.history.to_csv(out / "history.csv")
            kept = out / "checkpoint.npz"
            kept_note = f"the last good checkpoint is {kept}" if kept.exists() else "no checkpoint was written"
            raise Failure(f"{exc}; {kept_note}; the history up to the failure is in {out / 'history.csv'}") from None
        history.to_csv(out / "history.csv")
        final = history[-1]
        status = "interrupted" if stop.requested else "completed"
        write_record(out, record, state, started, status=status, final=final)
    if stop.requested:
        print(f"interrupted at step {state.step}: saved; continue with "
              f"python train.py --resume {out / 'checkpoint.npz'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    plot_curves(history, out / "loss.png", title=run_title(config))
    plot_decision_boundary(model, X, y, out / "boundary.png", val=val,
                           title=f"{run_title(config)}\ntrain accuracy {final['train_accuracy']:.1%} "
                                 f"after {state.step} steps")
    print(f"saved      checkpoint.npz, history.csv, config.json, loss.png, boundary.png in {out}")
    print(summary(final, trained))
    return 0


def save_good_checkpoint(path: Path, model, optimizer, state: TrainingState, config: dict) -> None:
    """Save, unless a weight or optimizer buffer is no longer finite: a diverged state never
    replaces a good checkpoint."""
    require_finite_state(state.step, model, optimizer)
    # A save cut short by a hard kill (power loss, SIGKILL) leaves its hidden temporary file; the
    # run's folder belongs to this run alone, so any such file is stale: remove it.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    save_checkpoint(path, model, optimizer, state, config)


def write_record(out: Path, record: dict, state: TrainingState, started: float, *, status: str,
                 final: dict | None = None, message: str | None = None) -> None:
    record.update({
        "status": status,
        "message": message,
        "finished": None if status == "running" else datetime.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        "steps_done": state.step,
        "final": None if final is None else {k: None if v != v else v for k, v in final.items()},  # NaN: none
    })
    text = json.dumps(record, indent=2, allow_nan=False, default=str) + "\n"
    write_atomically(out / "config.json", lambda file: file.write(text.encode("utf-8")))


def run_title(config: dict) -> str:
    layers = f"{config['depth']} x {config['hidden']} {config['activation']}" if config["depth"] else "linear"
    return f"spiral {config['classes']} x {config['points']}, {layers}, {config['optimizer']} lr {config['lr']:g}"


def summary(final: dict, seconds: float) -> str:
    def loss(value: float) -> str:
        return f"{value:.4f}" if value < 1e4 else f"{value:.4g}"

    line = f"done       step {final['step']}  loss {loss(final['loss'])}  train accuracy {final['train_accuracy']:.1%}"
    if not math.isnan(final["val_accuracy"]):
        line += f"  val loss {loss(final['val_loss'])}  val accuracy {final['val_accuracy']:.1%}"
    return line + f"  ({seconds:.1f} s of training)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser)
    except Failure as exc:
        message, code = str(exc), exc.code
    except OSError as exc:
        message, code = f"cannot write the run's files: {exc}", EXIT_FAILED
    except MemoryError:
        message = "out of memory: the model or data is too large (try a smaller --hidden, --depth or --points)"
        code = EXIT_FAILED
    except KeyboardInterrupt:
        message, code = "aborted; the last checkpoint on disk is unchanged", EXIT_INTERRUPTED
    print(f"train.py: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
