"""Train a classifier on the spiral (or moons, circles, XOR, your CSV file): the project's main job.

    python train.py                      # the course's two-class spiral: 2 x 400 points, h = 1000
    python train.py --dataset moons --animate                  # also training.gif: watch it learn
    python train.py --dataset my_points.csv                    # your own points (data/csv_file.py)
    python train.py --depth 3 --activation tanh --optimizer adam --lr 0.01 --batch-size 64
    python train.py --resume runs/<run> --steps 6000         # or runs/<run>/checkpoint.npz
    python train.py --resume runs/<run> --plot-only          # draw a run's figures (again)

A run's files go to one folder (--out, by default runs/<date>-<time>): checkpoint.npz (what --resume
needs), history.csv, config.json (every setting, library versions, the outcome), loss.png, boundary.png,
hidden.png (one hidden layer) and, with --animate, training.gif.
The machinery around the run (its folder and record, resuming, Ctrl-C, exit codes) is in training/runs.py;
which folders a run may write to, and its lock (one train.py per run folder), in training/files.py.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

try:                # a Ctrl-C while NumPy and matplotlib load (about a second): one line, exit 130
    import numpy as np

    from checks import check_flag, check_spread
    from data import (
        BatchStream,
        load_csv,
        make_circles,
        make_moons,
        make_spiral,
        make_xor,
        spawn_generators,
        train_val_split,
        validation_size,
    )
    from layers import BatchNorm1d, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
    from layers.linear import init_std
    from models import Sequential
    from optim import SGD, Adam
    from training import Diverged, TrainingState, blas_threads, fit, plot_curves, plot_decision_boundary, runs
    from training.animation import BoundaryRecorder
    from training.divergence import DEFAULT_FACTOR, PATIENCE, check_factor
    from training.loop import DEFAULT_CHUNK_SIZE
    from training.plots import describe_model, plot_hidden_units
except KeyboardInterrupt:
    print("train.py: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)

# Settings ---------------------------------------------------------------------------------

ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "tanh": Tanh, "sigmoid": Sigmoid}
DTYPES = {"float64": np.float64, "float32": np.float32}
CHOICES = {"activation": tuple(ACTIVATIONS), "dtype": tuple(DTYPES), "optimizer": ("sgd", "adam")}
# The generated data sets: each one's noise when --noise is not given, and its number of classes if
# fixed (--classes applies to the spiral's arms and the circles' rings). A name ending in .csv is a file.
DATASETS = {"spiral": make_spiral, "moons": make_moons, "circles": make_circles, "xor": make_xor}
DATASET_NOISE = {"spiral": 0.5, "moons": 0.15, "circles": 0.08, "xor": 0.1}
TWO_CLASSES = ("moons", "xor")

# The course's two-class spiral and its network. None marks "not given": filled in by complete().
# (noise: the spiral's; another data set's is filled in by settings().)
DEFAULTS = {
    "dataset": "spiral", "points": 400, "classes": 2, "noise": 0.5, "seed": 0, "val_fraction": 0.0,
    "hidden": 1000, "depth": 1, "activation": "relu", "init": "auto", "dtype": "float64",
    "batchnorm": False, "dropout": 0.0,
    "optimizer": "sgd", "lr": None, "momentum": 0.0, "weight_decay": 0.0, "reg": 0.0,
    "steps": 3000, "batch_size": None, "log_every": 10, "checkpoint_every": 500,
    "chunk_size": DEFAULT_CHUNK_SIZE, "diverge_factor": DEFAULT_FACTOR, "threads": 1,
}
DEFAULT_LR = {"sgd": 1.0, "adam": 1e-3}
# A resumed run may change these: they decide how long it runs, how often it saves and how it sums a
# step's gradient (chunk_size, threads: only the rounding differs), not what it computes.
FREE_ON_RESUME = ("steps", "checkpoint_every", "chunk_size", "diverge_factor", "threads")
# Settings older checkpoints lack, as their runs had them (0: no chunks, no divergence rule, NumPy's threads).
ADDED_SINCE = {"chunk_size": 0, "diverge_factor": 0, "batchnorm": False, "dropout": 0.0, "reg": 0.0,
               "dataset": "spiral", "threads": 0}


# A flag's type: a whole number from minimum (to maximum), or a number from low (below high).
count, number = runs.count_flag, runs.number_flag


def dataset_name(name: str) -> str:
    """A generated data set's name or a path ending in .csv."""
    if not isinstance(name, str) or not (name in DATASETS or name.lower().endswith(".csv")):
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)} or a file name ending in .csv, "
                         f"got {name!r}")
    return name


# How each setting is read from the command line; a checkpoint's settings are checked the same way.
PARSE = {
    "dataset": runs.flag_type("dataset", dataset_name, str, kind="a data set's name or a .csv file"),
    "points": count("points", 1), "classes": count("classes", 2, 1000), "noise": number("noise"),
    "val_fraction": number("val_fraction", 0, 1), "seed": count("seed", 0), "hidden": count("hidden", 1),
    "depth": count("depth", 0, 1000), "lr": number("lr"), "momentum": number("momentum", 0, 1),
    "weight_decay": number("weight_decay"), "steps": count("steps", 0), "batch_size": count("batch_size", 1),
    "reg": number("reg"), "dropout": number("dropout", 0, 1),
    "batchnorm": runs.flag_type("batchnorm", lambda value: check_flag("batchnorm", value), bool,
                                kind="true or false"),
    "log_every": count("log_every", 1), "checkpoint_every": count("checkpoint_every", 1),
    "chunk_size": count("chunk_size", 0, names=("auto",)), "threads": count("threads", 0),
    "diverge_factor": runs.flag_type("diverge_factor", check_factor, float, kind="a number"),
    "init": number("init", names=("auto", "he", "xavier"),
                   kind="'auto', 'he', 'xavier' or a standard deviation >= 0 such as 0.01"),
}


def build_parser() -> runs.ArgumentParser:
    parser = runs.ArgumentParser(
        prog="train.py", description="Train a classifier on the 2-D spiral (or another data set) and save "
                                     "the run.",
        epilog="Defaults are the course's two-class spiral: 400 points per class, 2 classes, noise 0.5, "
               "one hidden ReLU layer of 1000, SGD with lr 1.0, 3000 full-batch steps, seed 0.")

    groups = {name: parser.add_argument_group(name) for name in ("data", "model", "optimizer", "run")}

    def flag(group: str, name: str, help: str):
        """--val-fraction sets val_fraction, read and checked by PARSE["val_fraction"]."""
        setting = name[2:].replace("-", "_")
        help += "" if "(default" in help else f" (default {DEFAULTS[setting]})"
        groups[group].add_argument(name, type=PARSE.get(setting), choices=CHOICES.get(setting), help=help)

    flag("data", "--dataset", "spiral, moons, circles, xor, or a CSV file of your points: coordinates and "
                              "a label per line (a header names the label column 'label'; else the last)")
    flag("data", "--points", "points per class (not for a CSV file)")
    flag("data", "--classes", "number of classes: spiral arms or circles' rings (moons and xor have 2)")
    flag("data", "--noise", "the data's noise: the spiral's angle noise (default 0.5); the standard "
                            "deviation added to moons (0.15), circles (0.08) and xor (0.1) points")
    flag("data", "--val-fraction", "share of the points held out for validation (default 0: train on all)")
    flag("data", "--seed", "seed for data, split, weights and shuffling")
    flag("model", "--hidden", "units per hidden layer")
    flag("model", "--depth", "number of hidden layers; 0 is a linear classifier")
    flag("model", "--activation", "hidden activation")
    flag("model", "--init", "weight init: he, xavier, a std such as 0.01 (the loop's), or auto: he for "
                            "relu/leaky_relu, xavier for tanh/sigmoid (default auto)")
    flag("model", "--dtype", "floating-point precision")
    groups["model"].add_argument("--batchnorm", action="store_const", const=True,
                                 help="BatchNorm1d after each hidden Linear, before its activation")
    flag("model", "--dropout", "Dropout with this p after each hidden activation (default 0: none)")
    flag("optimizer", "--optimizer", "update rule")
    flag("optimizer", "--lr", "learning rate (default 1.0 for sgd, 0.001 for adam)")
    flag("optimizer", "--momentum", "SGD momentum (default 0)")
    flag("optimizer", "--weight-decay", "L2 weight decay λ, adds λ·θ to every gradient (default 0)")
    flag("optimizer", "--reg", "the course's L2 regularisation λ: ½·λ·ΣW² over the weight matrices (not "
                               "biases) added to the loss, λ·W to their gradients (default 0)")
    flag("run", "--steps", "total number of updates")
    flag("run", "--batch-size", "mini-batch size (default: the full batch)")
    flag("run", "--log-every", "steps between history rows")
    flag("run", "--checkpoint-every", "steps between checkpoints written during the run")
    flag("run", "--chunk-size", "rows per chunk of a step's batch, gradients summed; auto: from the CPU's "
                                "L2 cache where chunks pay, else only for memory; 0: no chunks")
    flag("run", "--threads", "BLAS threads; 0: NumPy's own choice, one per core (default 1: fast on a busy "
                             "machine too)")
    flag("run", "--diverge-factor", f"stop as diverged when the loss of the last {PATIENCE} history rows "
                                    f"stayed above this x the first row's loss; 0: never "
                                    f"(default {DEFAULT_FACTOR:g})")
    groups["run"].add_argument("--out", metavar="DIR", type=runs.folder_name,
                               help="folder for the run's files (default runs/<date>-<time>)")
    groups["run"].add_argument("--resume", metavar="RUN", help="continue the run saved in RUN: its folder "
                                                               "or its checkpoint.npz")
    groups["run"].add_argument("--plot-only", action="store_true", help="with --resume RUN: draw the run's "
                               "figures (and write its history.csv) from its checkpoint, without training; "
                               "with --out NEW: in a new folder, with a copy of the checkpoint")
    groups["run"].add_argument("--animate", action="store_true", help="also write training.gif: the "
                               "decision boundary at 40 evenly spaced steps beside the loss so far")
    groups["run"].add_argument("--no-progress", action="store_true", help="no progress bar")
    groups["run"].add_argument("--debug", action="store_true", help="show the traceback of an unexpected "
                                                                    "error (or set BACKPROP_DEBUG=1)")
    return parser


def complete(config: dict) -> dict:
    """Settings that follow from others: the optimizer's learning rate, the activation's init."""
    lr = DEFAULT_LR[config["optimizer"]] if config["lr"] is None else config["lr"]
    relu_like = config["activation"] in ("relu", "leaky_relu")
    init = ("he" if relu_like else "xavier") if config["init"] == "auto" else config["init"]
    return dict(config, lr=lr, init=init)


def samples(config: dict) -> int:
    """How many points the data set holds: a CSV file's rows are recorded as its points."""
    return config["points"] if config["dataset"] not in DATASETS else config["points"] * config["classes"]


def combination_problems(config: dict) -> list[str]:
    """What the library would refuse in these settings together, by its own rules, found before the run."""
    problems = []
    dtype = DTYPES[config["dtype"]]
    for setting, check in (("init", lambda: init_std(complete(config)["init"], 1, 1, dtype)),
                           ("noise", lambda: check_spread("noise", config["noise"], np.float64))):
        try:
            check()
        except ValueError as exc:
            problems.append(f"argument --{setting}: {exc}")
    if config["optimizer"] == "adam" and config["momentum"]:
        problems.append("argument --momentum: applies to --optimizer sgd only "
                        "(Adam keeps its own running averages)")
    if config["dataset"] in TWO_CLASSES and config["classes"] != 2:
        problems.append(f"argument --classes: {config['dataset']} has 2 classes, got {config['classes']} "
                        "(--classes applies to the spiral and the circles)")
    rows = samples(config)                              # for training: less the validation share
    if config["val_fraction"]:
        try:
            rows -= validation_size(config["val_fraction"], rows)
        except ValueError as exc:
            problems.append(f"argument --val-fraction: {exc}")
    if config["batchnorm"]:
        problems += one_row_batches(rows, config["batch_size"])
    widths = [2] + [config["hidden"]] * config["depth"] + [config["classes"]]
    weights = sum((d_in + 1) * d_out for d_in, d_out in zip(widths[:-1], widths[1:], strict=True))
    return problems + runs.memory_problems({"--hidden": weights * np.dtype(dtype).itemsize,
                                            "--points": samples(config) * (2 * np.dtype(dtype).itemsize + 8)})


def one_row_batches(rows: int, batch_size: int | None) -> list[str]:
    """BatchNorm1d cannot train on a batch of one row (the variance of one row is undefined)."""
    size = rows if batch_size is None else min(batch_size, rows)
    last = rows % size or size
    if last != 1:
        return []
    if rows == 1:
        return ["argument --batchnorm: needs at least 2 training rows, the data has 1 (the variance of one "
                "row is undefined); raise --points, or lower --val-fraction"]
    # the nearest that fits (rows itself always does)
    fits = next(b for d in range(1, rows) for b in (size + d, size - d)
                if 2 <= b <= rows and rows % b != 1)
    batches = ("makes every batch 1 row" if size == 1 else
               f"leaves a last batch of 1 row of the {rows} training rows")
    return [f"argument --batch-size: with --batchnorm, --batch-size {batch_size} {batches} (the variance of "
            f"one row is undefined); choose one whose last batch has 2 rows or more, such as {fits}"]


def settings(args: argparse.Namespace, parser: runs.ArgumentParser):
    """The run's configuration: the flags given over the defaults, or over a checkpoint's settings."""
    given = {name: value for name, value in vars(args).items() if name in DEFAULTS and value is not None}
    if args.animate and args.plot_only:
        parser.error("argument --animate: records a run while it trains; --plot-only trains nothing")
    if args.plot_only and args.resume is None:
        parser.error("argument --plot-only: draws the figures of the run named by --resume RUN, "
                     "in its folder (or, with --out, in a new one)")
    if args.resume is not None:
        return runs.resumed_config(args.resume, given, checks=PARSE, choices=CHOICES,
                                   optional=("batch_size",), combined=combination_problems,
                                   complete=complete, free=FREE_ON_RESUME, added=ADDED_SINCE,
                                   to_train=not args.plot_only)
    config = complete(dict(DEFAULTS, **given))
    if "noise" not in given:            # each data set's own; DEFAULTS holds the spiral's
        config["noise"] = DATASET_NOISE.get(config["dataset"], 0.0)
    if config["dataset"] not in DATASETS:
        config.update(own_points(config["dataset"], given, parser))
    for problem in combination_problems(config):
        parser.error(problem)
    return config, None


def own_points(path: str, given: dict, parser: runs.ArgumentParser) -> dict:
    """The settings a CSV file decides: its rows (recorded as points), its classes, no noise."""
    decided = [f"--{name}" for name in ("points", "classes", "noise") if name in given]
    if decided:
        parser.error(f"argument {decided[0]}: the CSV file {path} decides its points, classes and noise; "
                     "leave out --points, --classes and --noise")
    X, y = read_points(path, parser.error)
    return {"points": len(X), "classes": int(y.max()) + 1, "noise": 0.0}


def read_points(path: str, fail):
    """``load_csv(path)``; a file that cannot be used is ``fail(message)``: one line, exit 2."""
    try:
        return load_csv(path)
    except (OSError, ValueError) as exc:
        fail(f"argument --dataset: {exc}")


def refuse_data(message: str):
    raise runs.Failure(message, runs.EXIT_USAGE)


# Data, model, optimizer -------------------------------------------------------------------

def generators(config: dict) -> dict[str, np.random.Generator]:
    """Independent streams from the one seed; the first two are what ``spawn_generators(seed, 2)`` gives."""
    names = ("data", "init", "split", "shuffle", "dropout")
    return dict(zip(names, spawn_generators(config["seed"], len(names)), strict=True))


def build_data(config: dict):
    """The data set, split into training and validation sets."""
    name, dtype, rng = config["dataset"], DTYPES[config["dtype"]], generators(config)["data"]
    if name in ("spiral", "circles"):
        X, y = DATASETS[name](config["points"], config["classes"], config["noise"], rng=rng, dtype=dtype)
    elif name in DATASETS:
        X, y = DATASETS[name](config["points"], config["noise"], rng=rng, dtype=dtype)
    else:
        X, y = read_points(name, refuse_data)
        X = X.astype(dtype)
        if len(X) != config["points"] or y.max() + 1 != config["classes"]:
            refuse_data(f"argument --dataset: {name} has changed since the run began: it now holds "
                        f"{len(X)} points in {y.max() + 1} classes, the run has {config['points']} in "
                        f"{config['classes']}")
    if not config["val_fraction"]:
        return X, y, None
    X_train, y_train, X_val, y_val = train_val_split(X, y, config["val_fraction"],
                                                     rng=generators(config)["split"])
    return X_train, y_train, (X_val, y_val)


def build_model(config: dict, features: int = 2) -> Sequential:
    """Linear, [BatchNorm1d], activation, [Dropout] per hidden layer, then the output Linear."""
    rng, dropout_rng = generators(config)["init"], generators(config)["dropout"]   # masks: one stream
    dtype = DTYPES[config["dtype"]]
    widths = [features] + [config["hidden"]] * config["depth"]
    Activation = ACTIVATIONS[config["activation"]]
    model = Sequential()
    for d_in, d_out in zip(widths[:-1], widths[1:], strict=True):
        model.append(Linear(d_in, d_out, rng=rng, init=config["init"], dtype=dtype))
        if config["batchnorm"]:
            model.append(BatchNorm1d(d_out, dtype=dtype))
        model.append(Activation())
        if config["dropout"]:
            model.append(Dropout(config["dropout"], rng=dropout_rng))
    model.append(Linear(widths[-1], config["classes"], rng=rng, init=config["init"], dtype=dtype))
    return model


def build_optimizer(config: dict, model: Sequential):
    if config["optimizer"] == "adam":
        return Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"],
               weight_decay=config["weight_decay"])


# The run ----------------------------------------------------------------------------------

def run(args: argparse.Namespace, parser: runs.ArgumentParser) -> int:
    config, checkpoint = settings(args, parser)
    with blas_threads(config["threads"] or None):
        return train(args, parser, config, checkpoint)


def train(args: argparse.Namespace, parser: runs.ArgumentParser, config: dict, checkpoint) -> int:
    if config["init"] == 0 and config["depth"]:
        runs.warn("train.py", "--init 0: identical weights never break symmetry; try --init 0.01")
    out, own = runs.choose_folder(args.out, checkpoint)
    X, y, val = build_data(config)
    if args.animate and X.shape[1] != 2:
        parser.error(f"argument --animate: draws points in the plane; {config['dataset']} has "
                     f"{X.shape[1]} coordinates")
    model = build_model(config, X.shape[1])
    loss_fn = SoftmaxCrossEntropy()
    optimizer = build_optimizer(config, model)
    state = TrainingState()
    if config["batch_size"] is not None:
        state.batches = BatchStream(X, y, config["batch_size"], rng=generators(config)["shuffle"])
    if checkpoint is not None:
        runs.restore_run(checkpoint, model, optimizer, state)
    with runs.claim(out, own, default_name=args.out is None and checkpoint is None,
                    plot_only=args.plot_only) as out:
        # From here to the end this process is the folder's only writer (a lock, see training/files.py).
        args.folder = out               # named if an unexpected error ends the run
        if args.plot_only:
            state.history.to_csv(out / "history.csv")
            figures = draw_figures(config, state.history, model, X, y, val, out)
            status = runs.update_record(out, state, figures=figures, checkpoint=checkpoint)
            stopped = runs.figures_interrupted(out, figures, status)
            if stopped:
                return stopped
            print(f"saved      {', '.join(['history.csv', *drawn(figures)])} in {out} (step {state.step})")
            return runs.EXIT_OK

        n_val = 0 if val is None else len(val[0])
        print(f"data       {describe_data(config, X)}: {len(X)} for training, {n_val} for validation")
        record = runs.RunRecord(out, config, model, optimizer, {"train": len(X), "validation": n_val},
                                checkpoint)
        record.begin(state)             # prints the model, the optimizer, the run; config.json says "running"

        recorder = BoundaryRecorder(model, X, y, steps=config["steps"], start=state.step) if args.animate \
            else None

        def checkpoint_now(state: TrainingState) -> None:
            if state.step % config["checkpoint_every"] == 0:
                runs.save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)
            if recorder is not None:
                recorder(state)

        with runs.StopFlag() as stop, record.failed_if_raised(state):
            try:
                history = fit(model, loss_fn, optimizer, X, y, steps=config["steps"],
                              batch_size=config["batch_size"], val=val, log_every=config["log_every"],
                              progress=not args.no_progress, state=state, on_step=checkpoint_now,
                              should_stop=stop, chunk_size=config["chunk_size"] or None,
                              diverge_factor=config["diverge_factor"], reg=config["reg"])
                trained = record.seconds()
                runs.save_good_checkpoint(out / "checkpoint.npz", model, optimizer, state, config)
            except Diverged as exc:
                raise record.diverged(exc, state) from None
            history.to_csv(out / "history.csv")
            finished = state.step >= config["steps"]
            record.write(state, "completed" if finished else "interrupted", final=history[-1])
        if stop.requested and not finished:
            return stop.saved_and_stopped(state.step, out / "checkpoint.npz")

        # a Ctrl-C after the last step: the run is complete; its figures are left to --plot-only
        figures = draw_figures(config, history, model, X, y, val, out, recorder, skip=stop.requested)
        record.drew(figures)
        stopped = runs.figures_interrupted(out, figures, "completed")
        if stopped:
            return stopped
    saved = ["checkpoint.npz", "history.csv", "config.json", *drawn(figures)]
    print(f"saved in   {out}")         # the folder on a line of its own: the lines stay within 100 columns
    print(textwrap.fill(", ".join(saved), width=100, initial_indent=" " * 11, subsequent_indent=" " * 11))
    print(runs.summary(history[-1], trained))
    return runs.EXIT_OK


def describe_data(config: dict, X) -> str:
    if config["dataset"] not in DATASETS:
        return (f"{config['dataset']}, {config['classes']} classes, {len(X)} points of {X.shape[1]} "
                "coordinates")
    return (f"{config['dataset']}, {config['classes']} classes x {config['points']} points, noise "
            f"{config['noise']}, seed {config['seed']}")


def draw_figures(config: dict, history, model: Sequential, X, y, val, out, recorder=None,
                 skip: bool = False) -> dict[str, str]:
    """loss.png; boundary.png for points in the plane; hidden.png for one hidden layer; training.gif
    from the ``recorder``. A figure that cannot be drawn is one line on stderr, never a failure.
    ``skip``: none is drawn (after a Ctrl-C)."""
    model.eval()                        # predictions from here on: no dropout, running statistics
    optimizer = {"sgd": "SGD", "adam": "Adam"}[config["optimizer"]]
    title = f"{describe_model(model)}, {optimizer} lr {config['lr']}"
    data = describe_data(config, X).split(", seed")[0]
    accuracy = f"train accuracy {history[-1]['train_accuracy']:.1%} after {history[-1]['step']} steps"
    figures = {"loss.png": lambda path: plot_curves(history, path, title=f"{title}\n{data}")}
    if X.shape[1] == 2:
        figures["boundary.png"] = lambda path: plot_decision_boundary(model, X, y, path, val=val,
                                                                      title=f"{title}\n{data}: {accuracy}")
        if config["depth"] == 1 and not (config["batchnorm"] or config["dropout"]):   # Linear, ReLU, Linear
            figures["hidden.png"] = lambda path: plot_hidden_units(model, X, y, path)
    if recorder is not None:
        figures["training.gif"] = lambda path: recorder.write_gif(path, title=f"{title}: {data}")
    return runs.draw_figures(out, figures, skip=skip)


def drawn(figures: dict[str, str]) -> list[str]:
    return [name for name, outcome in figures.items() if outcome == "drawn"]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return runs.exit_code(lambda: run(args, parser), prog="train.py",
                          memory_hint="try a smaller --hidden, --depth or --points",
                          debug=args.debug, folder=lambda: getattr(args, "folder", None))


if __name__ == "__main__":
    sys.exit(main())
