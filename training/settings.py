"""train.py's settings: their defaults, how each flag is read and checked (``PARSE``, which checks a
checkpoint's saved settings too), ``configure`` and ``resume`` (a usage error, exit 2, for settings the
library would refuse together); what they build is in training/build.py (its builders are named here too).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import data
from checks import check_count, check_flag, check_real, check_spread
from checks.files import unusable_path
from layers.linear import init_std
from training.build import (  # noqa: F401 (build_* and generators: named here for train.py and explain.py)
    ACTIVATIONS,
    DATASET_NOISE,
    DATASETS,
    DTYPES,
    build_data,
    build_model,
    build_optimizer,
    build_schedule,
    generators,
    read_points,
)
from training.checkpoint import Checkpoint, read_checkpoint
from training.loop import DEFAULT_CHUNK_SIZE, DEFAULT_FACTOR, check_factor
from training.runs import EXIT_USAGE, Failure, run_record

CHOICES = {"activation": tuple(ACTIVATIONS), "dtype": tuple(DTYPES), "optimizer": ("sgd", "adam"),
           "lr_schedule": ("none", "step", "cosine")}
TWO_CLASSES = ("moons", "xor")          # --classes applies to the spiral's arms and the circles' rings

# The course's two-class spiral and its network. None marks "not given": filled in by complete().
DEFAULTS = {
    "dataset": "spiral", "points": 400, "classes": 2, "noise": 0.5, "seed": 0, "val_fraction": 0.0,
    "hidden": 1000, "depth": 1, "activation": "relu", "init": "auto", "dtype": "float64",
    "batchnorm": False, "dropout": 0.0, "standardize": False, "label_column": "label", "labels": None,
    "features": None,
    "optimizer": "sgd", "lr": None, "momentum": 0.0, "weight_decay": 0.0, "reg": 0.0,
    "lr_schedule": "none", "lr_step_size": None, "lr_gamma": 0.1,
    "steps": 3000, "batch_size": None, "log_every": 10, "checkpoint_every": 500, "patience": 0,
    "chunk_size": DEFAULT_CHUNK_SIZE, "diverge_factor": DEFAULT_FACTOR, "threads": 1,
}
DEFAULT_LR = {"sgd": 1.0, "adam": 1e-3}
MAX_CLASSES = 1000
# A resumed run may change these: how long it runs, how often it saves, how it sums a step (rounding only).
FREE_ON_RESUME = ("steps", "checkpoint_every", "chunk_size", "diverge_factor", "threads")
# Settings older checkpoints lack, as their runs had them (0: no chunks, no divergence rule, NumPy's threads).
ADDED_SINCE = {"chunk_size": 0, "diverge_factor": 0, "batchnorm": False, "dropout": 0.0, "reg": 0.0,
               "dataset": "spiral", "threads": 0, "standardize": False, "label_column": "label",
               "labels": None, "features": None, "patience": 0, "lr_schedule": "none", "lr_step_size": None,
               "lr_gamma": 0.1}


def flag(name: str, check, convert=float, kind: str = "a number", names: tuple = ()):
    """An argparse ``type=`` for the setting ``name``: text -> ``convert`` -> ``check`` (a shared rule
    from checks/), whose error becomes argparse's one-line usage error. One of ``names`` is taken as
    it is; a value that is not text (a checkpoint's saved setting) goes to ``check`` as it is."""
    def parse(value):
        if value in names:
            return value
        if isinstance(value, str):
            try:
                value = convert(value)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {value!r}") from None
        try:
            return check(value)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def count(name: str, minimum: int, maximum: float = float("inf"), names: tuple = ()):
    """A whole number from ``minimum`` to ``maximum``, or one of ``names`` (None: a saved "not given")."""
    def check(value) -> int:
        value = check_count(name, value, minimum=minimum)
        if value > maximum:
            raise ValueError(f"{name} must be at most {maximum}, got {value}")
        return value
    return flag(name, check, int, "a whole number" + "".join(f" or {n!r}" for n in names if n), names)


def number(name: str, low: float = 0, high: float | None = None, **kwargs):
    """A finite number with ``low`` <= value (< ``high``)."""
    return flag(name, lambda value: check_real(name, value, low=low, high=high), **kwargs)


def one_of(name: str, values, kind: str = "", other=lambda value: value.lower().endswith(".csv")):
    """One of ``values``, or with ``kind`` a text that ``other`` accepts (a file name ending in .csv)."""
    values = tuple(values)

    def check(value):
        if not (value in values or kind and isinstance(value, str) and other(value)):
            listed = f"one of {', '.join(values)}" if values else ""
            raise ValueError(f"{name} must be {listed}{kind}, got {value!r}")
        return value
    return flag(name, check, str)


# How each setting is read from the command line; a checkpoint's settings are checked the same way.
PARSE = {
    "dataset": one_of("dataset", DATASETS, " or a file name ending in .csv"), "points": count("points", 1),
    "activation": one_of("activation", ACTIVATIONS), "dtype": one_of("dtype", DTYPES),
    "optimizer": one_of("optimizer", CHOICES["optimizer"]),
    "classes": count("classes", 2, MAX_CLASSES),
    "noise": flag("noise", lambda value: check_spread("noise", value, np.float64)),     # drawn in float64
    "val_fraction": number("val_fraction", 0, 1),
    "seed": count("seed", 0), "hidden": count("hidden", 1), "depth": count("depth", 0, 1000),
    "lr": number("lr"), "momentum": number("momentum", 0, 1), "weight_decay": number("weight_decay"),
    "steps": count("steps", 0), "batch_size": count("batch_size", 1, names=(None,)), "reg": number("reg"),
    "dropout": number("dropout", 0, 1),
    "batchnorm": flag("batchnorm", lambda value: check_flag("batchnorm", value), bool, "true or false"),
    "standardize": flag("standardize", lambda value: check_flag("standardize", value), bool, "true or false"),
    "label_column": one_of("label_column", (), "a column's name", lambda value: value.strip()),
    "lr_schedule": one_of("lr_schedule", CHOICES["lr_schedule"]), "patience": count("patience", 0),
    "lr_step_size": count("lr_step_size", 1, names=(None,)), "lr_gamma": number("lr_gamma"),
    "log_every": count("log_every", 1), "checkpoint_every": count("checkpoint_every", 1),
    "chunk_size": count("chunk_size", 0, names=("auto",)), "threads": count("threads", 0),
    "diverge_factor": flag("diverge_factor", check_factor),
    "init": number("init", names=("auto", "he", "xavier"),
                   kind="'auto', 'he', 'xavier' or a standard deviation >= 0 such as 0.01"),
}


def complete(config: dict) -> dict:
    """Settings that follow from others: the optimizer's learning rate, the activation's init."""
    lr = DEFAULT_LR[config["optimizer"]] if config["lr"] is None else config["lr"]
    relu_like = config["activation"] in ("relu", "leaky_relu")
    init = ("he" if relu_like else "xavier") if config["init"] == "auto" else config["init"]
    return dict(config, lr=lr, init=init)


def configure(given: dict) -> dict:
    """A new run's settings: the ``given`` flags over the defaults, refused (exit 2) if they do not fit."""
    config = complete(dict(DEFAULTS, **given))
    if "noise" not in given:            # each data set's own; DEFAULTS holds the spiral's
        config["noise"] = DATASET_NOISE.get(config["dataset"], 0.0)
    if config["dataset"] not in DATASETS:
        decided = [f"--{name}" for name in ("points", "classes", "noise") if name in given]
        if decided:
            raise Failure(f"argument {decided[0]}: the CSV file {config['dataset']} decides its points, "
                          "classes and noise; leave out --points, --classes and --noise", EXIT_USAGE)
        X, y, labels = read_points(config, dtype=DTYPES[config["dtype"]])
        header = data.csv_header(config["dataset"])         # the names a test file's columns must have
        features = header and [name for name in header if name != config["label_column"]]
        config.update(points=len(X), classes=len(labels), noise=0.0, labels=labels, features=features)
        if not 2 <= config["classes"] <= MAX_CLASSES:   # refused now, not when the run is resumed
            raise Failure(f"argument --dataset: {config['dataset']} has {config['classes']} classes; a "
                          f"classifier takes 2 to {MAX_CLASSES} (as --classes does)", EXIT_USAGE)
    elif "label_column" in given:
        raise Failure(f"argument --label-column: names a column of a CSV file; {config['dataset']} is not "
                      "one", EXIT_USAGE)
    found = problems(config)
    if found:
        raise Failure(found[0], EXIT_USAGE)
    return config


def resume(name: str, given: dict, *, to_train: bool) -> tuple[dict, Checkpoint]:
    """The checkpoint ``--resume name`` names (a file, or a run's folder and so its checkpoint.npz) and
    the resumed run's settings: the saved ones, checked as their flags would be (a checkpoint's JSON
    may have been edited), with the ``given`` flags that are free to change applied; any other given
    flag must agree with them. ``to_train``: ``steps`` must exceed the updates made."""
    path = Path(name)
    try:
        folder = path.is_dir()
    except OSError as exc:                  # a name no file system takes: a usage error, as for --out
        raise Failure(f"cannot resume from {path}: {unusable_path(path, exc)}", EXIT_USAGE) from None
    if folder and not (path / "checkpoint.npz").is_file():
        why = "a run writes it at its first checkpoint, see --checkpoint-every"
        if (run_record(path) or {}).get("status") in ("running", "failed"):
            why = f"its run was killed before its first checkpoint; start it again with --out {path}"
        raise Failure(f"cannot resume from {path}: the folder holds no checkpoint.npz ({why})")
    path = path / "checkpoint.npz" if folder else path
    try:
        checkpoint = read_checkpoint(path)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    saved, found = dict(ADDED_SINCE, **checkpoint.config), []
    if saved["lr_schedule"] != "step":      # --lr-gamma alone was taken, unused, before it was refused
        saved["lr_gamma"] = ADDED_SINCE["lr_gamma"]
    for name, parse in PARSE.items():
        try:
            if parse(saved[name]) != saved[name]:
                found.append(f"{name} {saved[name]!r} is text, not a number")
        except KeyError:
            found.append(f"{name} is missing")
        except argparse.ArgumentTypeError as exc:
            found.append(str(exc))
    found = found or problems(saved)
    if found:
        raise Failure(f"cannot resume from {path}: damaged checkpoint ({'; '.join(found)})")
    saved = complete(saved)                 # an "auto" init, say, as a new run would have it
    asked = complete(dict(saved, **given))
    clashes = [f"--{name.replace('_', '-')} {asked[name]} (the checkpoint has {saved[name]})"
               for name in given if name not in FREE_ON_RESUME and asked[name] != saved[name]]
    if clashes:
        free = ", ".join(f"--{name.replace('_', '-')}" for name in FREE_ON_RESUME)
        raise Failure(f"cannot resume {path} with {', '.join(clashes)}: a resumed run keeps the settings it "
                      f"began with; leave those flags out ({free}, --out and --no-progress may change), or "
                      "start a new run", EXIT_USAGE)
    config = dict(saved, **{name: given[name] for name in FREE_ON_RESUME if name in given})
    if to_train and config["steps"] <= checkpoint.step:
        raise Failure(f"{path} has already made {checkpoint.step} updates; pass a larger --steps (the total) "
                      "to train further, or --plot-only to draw its figures", EXIT_USAGE)
    return config, checkpoint


def problems(config: dict) -> list[str]:
    """What the library would refuse in these settings together, by its own rules, found before the run."""
    found = []
    dtype = np.dtype(DTYPES[config["dtype"]])
    # the points: a CSV file's rows are recorded as its points
    total = config["points"] * (config["classes"] if config["dataset"] in DATASETS else 1)
    fraction = config["val_fraction"]
    checks = {"init": lambda: init_std(complete(config)["init"], 1, 1, dtype),
              "val-fraction": lambda: fraction and data.validation_size(fraction, total)}
    for name, check in checks.items():
        try:
            check()
        except ValueError as exc:
            found.append(f"argument --{name}: {exc}")
    for name, size in (("labels", config["classes"]), ("features", None)):     # a CSV file's names
        names = config[name]
        if names is not None and not (isinstance(names, list) and size in (None, len(names))
                                      and all(isinstance(one, str) for one in names)):
            found.append(f"{name} must be a list of names{f' of the {size} classes' * bool(size)}, got "
                         f"{names!r:.80}")
    if config["patience"] and not fraction:
        found.append("argument --patience: stops on the validation loss; pass --val-fraction, such as 0.2")
    if config["lr_schedule"] == "step" and config["lr_step_size"] is None:
        found.append("argument --lr-schedule: step needs --lr-step-size N, the steps between its decays")
    if config["lr_schedule"] != "step" and (config["lr_step_size"], config["lr_gamma"]) != (None, 0.1):
        found.append("argument --lr-step-size or --lr-gamma: they apply to --lr-schedule step only")
    if config["optimizer"] == "adam" and config["momentum"]:
        found.append("argument --momentum: applies to --optimizer sgd only (Adam keeps its own averages)")
    if config["dataset"] in TWO_CLASSES and config["classes"] != 2:
        found.append(f"argument --classes: {config['dataset']} has 2 classes, got {config['classes']} "
                     "(--classes applies to the spiral and the circles)")
    if config["batchnorm"] and not found:       # BatchNorm1d cannot train on a batch of one row
        rows = total - (data.validation_size(fraction, total) if fraction else 0)
        size = min(config["batch_size"] or rows, rows)
        if size == 1 or rows % size == 1:
            batches = "makes every batch 1 row" if size == 1 else \
                f"leaves a last batch of 1 row of the {rows} training rows"
            found.append(f"argument --batch-size: with --batchnorm, --batch-size {size} {batches} (the "
                         "variance of one row is undefined); choose another --batch-size")
    root, lr, bound = float(np.finfo(dtype).max) ** 0.5, complete(config)["lr"], 2 * (1 + config["momentum"])
    if config["dataset"] in ("moons", "circles", "xor") and 10 * config["noise"] > root:  # x's products
        found.append(f"argument --noise: {config['noise']:g} overflows {dtype} as training multiplies the "
                     f"points' coordinates; use at most {root / 10:.3g}")
    for flag, decay in (("--weight-decay", config["weight_decay"]), ("--reg", config["reg"])):   # + λ·θ
        if config["optimizer"] == "sgd" and lr * decay > bound:     # θ·(1 − lr·λ), with momentum's help
            found.append(f"argument {flag}: --lr x {flag} = {lr * decay:.3g} > 2·(1 + momentum) = {bound:g}: "
                         f"the weights grow without end; use {flag} <= {bound / lr:.3g}")
    widths = [2] + [config["hidden"]] * config["depth"] + [config["classes"]]
    weights = sum((d_in + 1) * d_out for d_in, d_out in zip(widths[:-1], widths[1:], strict=True))
    needs = {"--hidden": weights * dtype.itemsize, "--points": total * (2 * dtype.itemsize + 8)}
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return found + [f"argument {name}: the run needs at least {nbytes / 1e9:.3g} GB, more than the machine's "
                    f"{memory / 1e9:.3g} GB of memory" for name, nbytes in needs.items() if nbytes > memory]
