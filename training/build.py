"""What a run's settings build (train.py's and explain.py's): its data, split into training and
validation rows, its model, optimizer and learning-rate schedule, and the generators they draw from."""

from __future__ import annotations

import numpy as np

import data
from layers import KINDS, BatchNorm1d, Dropout, Linear, Standardize
from models import Sequential
from optim import SGD, Adam, CosineAnnealingLR, StepLR
from training.runs import EXIT_USAGE, Failure

# --activation's values, by the layer kinds' one registry (layers.KINDS): relu, leaky_relu, tanh, sigmoid
ACTIVATIONS = {"relu": KINDS["ReLU"], "leaky_relu": KINDS["LeakyReLU"], "tanh": KINDS["Tanh"],
               "sigmoid": KINDS["Sigmoid"]}
DTYPES = {"float64": np.float64, "float32": np.float32}
# The generated data sets and each one's noise when --noise is not given; a name ending in .csv is a file.
DATASETS = {"spiral": data.make_spiral, "moons": data.make_moons, "circles": data.make_circles,
            "xor": data.make_xor}
DATASET_NOISE = {"spiral": 0.5, "moons": 0.15, "circles": 0.08, "xor": 0.1}


def read_points(config: dict, path: str | None = None, message: str = "argument --dataset: {}", **kwargs):
    """``data.load_csv`` of the run's CSV file (or ``path``) with its label column and, once known, its
    classes: X, y and the class names; a file that cannot be used is a usage error said by ``message``."""
    try:
        return data.load_csv(path or config["dataset"], label_column=config["label_column"],
                             classes=config.get("labels"), return_classes=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise Failure(message.format(exc), EXIT_USAGE) from None


def generators(config: dict) -> dict[str, np.random.Generator]:
    """Independent streams from the one seed; the first two are ``spawn_generators(seed, 2)``'s."""
    names = ("data", "init", "split", "shuffle", "dropout")
    return dict(zip(names, data.spawn_generators(config["seed"], len(names)), strict=True))


def build_data(config: dict):
    """The data set, split into training and validation sets: X, y and (X_val, y_val) or None."""
    name, dtype, rng = config["dataset"], DTYPES[config["dtype"]], generators(config)["data"]
    if name in ("spiral", "circles"):
        X, y = DATASETS[name](config["points"], config["classes"], config["noise"], rng=rng, dtype=dtype)
    elif name in DATASETS:
        X, y = DATASETS[name](config["points"], config["noise"], rng=rng, dtype=dtype)
    else:
        X, y, _ = read_points(config, message="{} (the run's data file, by its name when the run began: "
                              "resume the run from the folder it began in)", dtype=dtype)   # configure()'s
        if len(X) != config["points"] or y.max() + 1 != config["classes"]:
            raise Failure(f"the run's data file {name} has changed since the run began: it now holds "
                          f"{len(X)} points in {y.max() + 1} classes, the run has {config['points']} in "
                          f"{config['classes']}", EXIT_USAGE)
    if not config["val_fraction"]:
        return X, y, None
    X_train, y_train, X_val, y_val = data.train_val_split(X, y, config["val_fraction"],
                                                     rng=generators(config)["split"])
    return X_train, y_train, (X_val, y_val)


def build_model(config: dict, features: int = 2, X=None) -> Sequential:
    """[Standardize, its μ and σ from the training points ``X``], then Linear, [BatchNorm1d], activation,
    [Dropout] per hidden layer, then the output Linear."""
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
    if config["standardize"]:
        try:
            model.insert(0, Standardize(features, dtype=dtype) if X is None else Standardize.from_data(X))
        except ValueError as exc:
            raise Failure(f"argument --standardize: {exc}", EXIT_USAGE) from None
    return model


def build_optimizer(config: dict, model: Sequential):
    if config["optimizer"] == "adam":
        return Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    return SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"],
               weight_decay=config["weight_decay"])


def build_schedule(config: dict, optimizer):
    """--lr-schedule: StepLR(--lr-step-size, --lr-gamma), CosineAnnealingLR over --steps, or None."""
    if config["lr_schedule"] == "step":
        return StepLR(optimizer, config["lr_step_size"], config["lr_gamma"])
    cosine = config["lr_schedule"] == "cosine"      # over the run's steps (at least 1: --steps 0 runs none)
    return CosineAnnealingLR(optimizer, max(config["steps"], 1)) if cosine else None
