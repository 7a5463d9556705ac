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

import argparse
import datetime
import json
import math
import platform
import signal
import sys
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from data import BatchStream, make_spiral
from layers import LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from models import Sequential
from models.savefile import write_atomically
from optim import SGD, Adam
from training import (Diverged, TrainingState, fit, plot_curves, plot_decision_boundary, read_checkpoint,
                      restore, save_checkpoint)

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}
DTYPES = {"float64": np.float64, "float32": np.float32}

# The learner's question (CONTEXT.md). None marks "not given": resolved here, or from a checkpoint.
DEFAULTS = {
    "points": 400, "classes": 2, "noise": 0.5, "seed": 0, "val_fraction": 0.0,
    "hidden": 1000, "depth": 1, "activation": "relu", "init": "auto", "dtype": "float64",
    "optimizer": "sgd", "lr": None, "momentum": 0.0, "weight_decay": 0.0,
    "steps": 3000, "batch_size": None, "log_every": 10, "checkpoint_every": 500,
}
DEFAULT_LR = {"sgd": 1.0, "adam": 1e-3}
# Settings a resumed run may change: they decide how long it runs and what it shows, not what it computes.
FREE_ON_RESUME = {"steps", "checkpoint_every"}

EXIT_FAILED = 1            # diverged, unreadable checkpoint, unwritable output
EXIT_USAGE = 2             # bad flags (argparse's convention)
EXIT_INTERRUPTED = 130     # Ctrl-C (128 + SIGINT)


class Failure(Exception):
    """An expected failure: reported as one line on stderr, never as a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


# The command line -------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum of {minimum}")
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


def build_parser() -> Parser:
    p = Parser(prog="train.py", description="Train a classifier on the 2-D spiral and save the run.",
               formatter_class=argparse.RawDescriptionHelpFormatter,
               epilog="Defaults are the learner's question: 400 points per class, 2 classes, noise 0.5, "
                      "one hidden ReLU layer of 1000, SGD with lr 1.0, 3000 full-batch steps, seed 0.")
    d = DEFAULTS
    data = p.add_argument_group("data")
    data.add_argument("--points", type=count(1), help=f"points per class (default {d['points']})")
    data.add_argument("--classes", type=count(2), help=f"number of classes, spiral arms (default {d['classes']})")
    data.add_argument("--noise", type=number(), help=f"angle noise of the spiral (default {d['noise']})")
    data.add_argument("--val-fraction", type=number(0.0, 1.0),
                      help="share of the points held out for validation (default 0: train on all)")
    data.add_argument("--seed", type=count(0),
                      help=f"seed for data, split, weights and shuffling (default {d['seed']})")
    model = p.add_argument_group("model")
    model.add_argument("--hidden", type=count(1), help=f"units per hidden layer (default {d['hidden']})")
    model.add_argument("--depth", type=count(0), help=f"number of hidden layers; 0 is a linear classifier (default {d['depth']})")
    model.add_argument("--activation", choices=list(ACTIVATIONS), help=f"hidden activation (default {d['activation']})")
    model.add_argument("--init", type=init_choice,
                       help="weight init: he, xavier, a std such as 0.01 (the loop's), or auto: he for "
                            "relu/leaky_relu, xavier for tanh/sigmoid (default auto)")
    model.add_argument("--dtype", choices=list(DTYPES), help=f"floating-point precision (default {d['dtype']})")
    opt = p.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=["sgd", "adam"], help=f"update rule (default {d['optimizer']})")
    opt.add_argument("--lr", type=number(), help="learning rate (default 1.0 for sgd, 0.001 for adam)")
    opt.add_argument("--momentum", type=number(), help="SGD momentum (default 0)")
    opt.add_argument("--weight-decay", type=number(), help="L2 weight decay λ, adds λ·θ to every gradient (default 0)")
    run = p.add_argument_group("run")
    run.add_argument("--steps", type=count(0), help=f"total number of updates (default {d['steps']})")
    run.add_argument("--batch-size", type=count(1), help="mini-batch size (default: the full batch)")
    run.add_argument("--log-every", type=count(1), help=f"steps between history rows (default {d['log_every']})")
    run.add_argument("--checkpoint-every", type=count(1),
                     help=f"steps between checkpoints written during the run (default {d['checkpoint_every']})")
    run.add_argument("--out", metavar="DIR", help="folder for the run's files (default runs/<date>-<time>)")
    run.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in CHECKPOINT")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def resolve(args: argparse.Namespace, parser: Parser):
    """The run's configuration: flags over defaults, or the checkpoint's, checked for contradictions."""
    given = {name: value for name, value in vars(args).items()
             if name in DEFAULTS and value is not None}
    checkpoint = None
    if args.resume is not None:
        try:
            checkpoint = read_checkpoint(args.resume)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        saved = checkpoint.config
        clashes = [f"--{name.replace('_', '-')} {value} (the checkpoint has {saved.get(name)})"
                   for name, value in given.items()
                   if name not in FREE_ON_RESUME and saved.get(name) != value]
        if clashes:
            raise Failure(f"cannot resume {args.resume} with {', '.join(clashes)}: a resumed run keeps its "
                          f"data, model and optimizer; leave those flags out (--steps, "
                          f"--checkpoint-every, --out and --no-progress may change)", EXIT_USAGE)
        config = dict(saved, **{name: given[name] for name in FREE_ON_RESUME if name in given})
        if config["steps"] <= checkpoint.step:
            raise Failure(f"{args.resume} has already made {checkpoint.step} updates; pass a larger --steps "
                          f"(the total) to train further", EXIT_USAGE)
    else:
        config = dict(DEFAULTS, **given)
        if config["lr"] is None:
            config["lr"] = DEFAULT_LR[config["optimizer"]]
        if config["init"] == "auto":
            config["init"] = "he" if config["activation"] in ("relu", "leaky_relu") else "xavier"
        if config["optimizer"] == "adam" and config["momentum"]:
            parser.error("argument --momentum: applies to --optimizer sgd only (Adam keeps its own running averages)")
        n_points = config["points"] * config["classes"]
        n_val = round(config["val_fraction"] * n_points)
        if config["val_fraction"] and not 1 <= n_val < n_points:
            parser.error(f"argument --val-fraction: {config['val_fraction']} of {n_points} points leaves "
                         f"{n_val} for validation and {n_points - n_val} for training; both need at least one")
    return config, checkpoint


# Building the run from its configuration ------------------------------------------------

def build_data(config: dict):
    """The spiral, split into training and validation sets by the seed."""
    dtype = DTYPES[config["dtype"]]
    X, y = make_spiral(config["points"], config["classes"], config["noise"], seed=config["seed"], dtype=dtype)
    n_val = round(config["val_fraction"] * len(X))
    order = np.random.default_rng([config["seed"], 1]).permutation(len(X))
    val_rows, train_rows = order[:n_val], np.sort(order[n_val:])
    val = (X[np.sort(val_rows)], y[np.sort(val_rows)]) if n_val else None
    return X[train_rows], y[train_rows], val


def build_model(config: dict) -> Sequential:
    rng = np.random.default_rng(config["seed"])
    dtype = DTYPES[config["dtype"]]
    widths = [2] + [config["hidden"]] * config["depth"]
    model = Sequential()
    for d_in, d_out in zip(widths[:-1], widths[1:]):
        model.append(Linear(d_in, d_out, rng=rng, init=config["init"], dtype=dtype))
        model.append(ACTIVATIONS[config["activation"]]())
    model.append(Linear(widths[-1], config["classes"], rng=rng, init=config["init"], dtype=dtype))
    return model


def build_optimizer(config: dict, model: Sequential):
    if config["optimizer"] == "adam":
        return Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"], weight_decay=config["weight_decay"])


def choose_out(args, checkpoint) -> Path:
    """The run's folder: --out, the checkpoint's folder when resuming, or a new dated one."""
    if args.out is not None:
        out = Path(args.out)
    elif checkpoint is not None:
        out = Path(checkpoint.path).parent
    else:
        out = Path("runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise Failure(f"--out {out} is a file, not a folder", EXIT_USAGE)
    existing = out / "checkpoint.npz"
    continuing_here = checkpoint is not None and existing.exists() and existing.resolve() == Path(checkpoint.path).resolve()
    if existing.exists() and not continuing_here:
        raise Failure(f"{out} already holds a run ({existing}); choose another --out, "
                      f"or continue it with --resume {existing}", EXIT_USAGE)
    return out


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Failure(f"cannot create the output folder {out}: {exc.strerror}") from None


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

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return                          # signal handlers can only be set from the main thread
        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True
            print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)
        signal.signal(signal.SIGINT, handler)


def run(args: argparse.Namespace, parser: Parser) -> int:
    config, checkpoint = resolve(args, parser)
    out = choose_out(args, checkpoint)
    X, y, val = build_data(config)
    model = build_model(config)
    loss_fn = SoftmaxCrossEntropy()
    optimizer = build_optimizer(config, model)
    state = TrainingState()
    if config["batch_size"] is not None:
        state.batches = BatchStream(X, y, config["batch_size"], rng=np.random.default_rng([config["seed"], 2]))
    if checkpoint is not None:
        try:
            restore(checkpoint, model, optimizer, state)
        except ValueError as exc:
            raise Failure(str(exc)) from None

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

    def checkpoint_now(state: TrainingState) -> None:
        if state.step % config["checkpoint_every"] == 0:
            save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)

    make_folder(out)
    stop = StopFlag()
    stop.install()
    started = time.perf_counter()
    try:
        history = fit(model, loss_fn, optimizer, X, y, steps=config["steps"], val=val,
                      log_every=config["log_every"], progress=not args.no_progress, state=state,
                      on_step=checkpoint_now, should_stop=stop)
        trained = time.perf_counter() - started
        save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)
    except Diverged as exc:
        finish_record(out, record, state, started, status="diverged", message=str(exc))
        state.history.to_csv(out / "history.csv")
        kept = out / "checkpoint.npz"
        kept_note = f"the last good checkpoint is {kept}" if kept.exists() else "no checkpoint was written"
        raise Failure(f"{exc}; {kept_note}; the history up to the failure is in {out / 'history.csv'}") from None
    history.to_csv(out / "history.csv")
    final = history[-1]
    status = "interrupted" if stop.requested else "completed"
    finish_record(out, record, state, started, status=status, final=final)
    if stop.requested:
        print(f"interrupted at step {state.step}: saved; continue with "
              f"python train.py --resume {out / 'checkpoint.npz'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    plot_curves(history, out / "loss.png", title=f"{run_title(config)}")
    plot_decision_boundary(model, X, y, out / "boundary.png", val=val,
                           title=f"{run_title(config)}\ntrain accuracy {final['train_accuracy']:.1%} "
                                 f"after {state.step} steps")
    print(f"saved      checkpoint.npz, history.csv, config.json, loss.png, boundary.png in {out}")
    print(summary(final, trained))
    return 0


def save_good_checkpoint(path: Path, model, optimizer, state: TrainingState, config: dict) -> None:
    """Save, unless a weight is no longer finite: a diverged state never replaces a good checkpoint."""
    for p in model.parameters():
        if not np.isfinite(p.value).all():
            raise Diverged(state.step, f"a weight of {p.name}", p.value[~np.isfinite(p.value)].flat[0])
    save_checkpoint(path, model, optimizer, state, config)


def finish_record(out: Path, record: dict, state: TrainingState, started: float, *, status: str,
                  final: dict | None = None, message: str | None = None) -> None:
    record.update({
        "status": status,
        "message": message,
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
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
    line = f"done       step {final['step']}  loss {final['loss']:.4f}  train accuracy {final['train_accuracy']:.1%}"
    if not math.isnan(final["val_accuracy"]):
        line += f"  val loss {final['val_loss']:.4f}  val accuracy {final['val_accuracy']:.1%}"
    return line + f"  ({seconds:.1f} s of training)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run(args, parser)
    except Failure as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("train.py: aborted; the last checkpoint on disk is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
