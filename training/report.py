"""What a run of train.py reports besides its training: the data line, the figures, the best-validation
weights (best.npz), a test set's loss and accuracy, and predictions for new rows (predictions.csv)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

import data
from checks.files import write_atomically, write_npz
from layers import SoftmaxCrossEntropy
from models import Sequential
from models.architecture import describe
from models.savefile import MODEL, model_entries
from training import runs, settings
from training.loop import evaluate, evaluation_mode
from training.plots import plot_curves, plot_decision_boundary, plot_hidden_units

SCALES = 100        # features whose spreads differ by more than this: a divergence suggests --standardize


def class_names(config: dict) -> list[str]:
    """The name of each class: a CSV file's labels, or 0 … K−1."""
    return config["labels"] or [str(k) for k in range(config["classes"])]


def describe_data(config: dict, X) -> str:
    name, classes = config["dataset"], config["classes"]
    if name not in settings.DATASETS:
        return f"{name}, {classes} classes, {config['points']} rows of {X.shape[1]} features"
    points, noise, seed = config["points"], config["noise"], config["seed"]
    return f"{name}, {classes} classes x {points} points, noise {noise}, seed {seed}"


def scales_hint(X, config: dict) -> str:
    """A divergence's hint when the features' spreads differ by more than SCALES times (else "")."""
    spreads = X.std(axis=0)
    spreads = spreads[spreads > 0]
    ratio = spreads.max() / spreads.min() if len(spreads) else 1.0
    if config["standardize"] or ratio <= SCALES:
        return ""
    return f"; the features' spreads differ by {ratio:.3g} times: try --standardize"


def check_columns(config: dict, file: str, flag: str) -> None:
    """A usage error unless ``file``'s header (if it has one) names the run's features, in their order."""
    header, expected = data.csv_header(file), config["features"]
    if header and expected and [name for name in header if name != config["label_column"]] != expected:
        raise runs.Failure(f"argument {flag}: {file} has the columns {', '.join(header)}; the run's features "
                           f"are {', '.join(expected)}, in this order", runs.EXIT_USAGE)


def read_test(config: dict, file: str, X) -> tuple:
    """--test FILE: its rows (X, y), its labels among the run's classes, with the training rows' features."""
    named = dict(config, labels=class_names(config))        # a generated data set's: 0 … K−1
    test = settings.read_points(named, file, "argument --test: {}", dtype=X.dtype)[:2]
    check_columns(config, file, "--test")
    if test[0].shape[1] != X.shape[1]:
        raise runs.Failure(f"argument --test: {file} has {test[0].shape[1]} features, the run's data "
                           f"{X.shape[1]}", runs.EXIT_USAGE)
    return test


def save_best(path: Path, model, weights: dict) -> None:
    """``model``'s file (as ``model.save`` writes it) with the best-validation ``weights`` in it."""
    write_npz(path, {**model_entries(model), **{MODEL + name: value for name, value in weights.items()}})


def outcome(record: dict, state, out: Path, best_step, stopped: bool, model, file, test) -> None:
    """The record's ``best`` (the best-validation row, kept in best.npz; ``stopped``: by --patience) and
    ``test`` (loss and accuracy on the rows (X, y) of ``file``, with the best weights if kept), printed."""
    if best_step is not None:
        best = next(row for row in state.history if row["step"] == best_step)
        record["best"] = dict(best, file="best.npz", stopped_early=stopped)
        print(f"best       step {best_step}: val loss {best['val_loss']:.4g}  val accuracy "
              f"{best['val_accuracy']:.1%}{f', stopped at step {state.step}' * stopped}; {out / 'best.npz'}")
        model = Sequential.from_file(out / "best.npz")
    if test:
        loss, accuracy = evaluate(model, SoftmaxCrossEntropy(), *test)
        who = "the final weights" if best_step is None else f"the best weights, step {best_step}"
        print(f"test       {file}, {len(test[0])} rows: loss {loss:.4g}  accuracy {accuracy:.1%} ({who})")
        record["test"] = dict(file=file, rows=len(test[0]), loss=loss, accuracy=accuracy, weights=who)


def predict(name: str, file: str, out: str | None = None) -> int:
    """``train.py --resume RUN --predict FILE``: RUN/predictions.csv (or in ``out``), a row per row of FILE
    (its label column, if it has one, is left out): the predicted class and each class's probability."""
    config, checkpoint = settings.resume(name, {}, to_train=False)
    best = Path(checkpoint.path).parent / "best.npz"
    weights = best if config["patience"] and best.is_file() else Path(checkpoint.path)
    try:
        model = Sequential.from_file(weights).eval()
    except ValueError as exc:
        raise runs.Failure(str(exc)) from None
    first = checkpoint.architecture[0]
    features = first.get("in_features", first.get("num_features"))
    dtype = settings.DTYPES[config["dtype"]]
    try:
        X = data.load_csv(file, label_column=None, dtype=dtype)
    except (OSError, ValueError) as exc:
        X, problem = None, exc
    if X is None or X.shape[1] == features + 1:     # its labels too? read as the training file is
        try:
            X = settings.read_points(config, file, "argument --predict: {}", dtype=dtype)[0]
        except runs.Failure as failure:     # said of the labels if the file has the run's label column
            try:
                labelled = X is None and config["label_column"] in (data.csv_header(file) or [])
            except (OSError, ValueError, csv.Error):    # not a text file: load_csv's words say so
                labelled = False
            if X is None:
                said = f"argument --predict: {problem}"
                raise (failure if labelled else runs.Failure(said, runs.EXIT_USAGE)) from None
    if X.shape[1] != features:
        raise runs.Failure(f"argument --predict: {file} has {X.shape[1]} columns; the run's model takes "
                           f"{features} features (and a label column may follow them)", runs.EXIT_USAGE)
    check_columns(config, file, "--predict")
    with evaluation_mode(model):
        scores = model.forward(X)
    if not np.isfinite(scores).all():
        row = np.flatnonzero(~np.isfinite(scores).all(axis=1))[0] + 1
        raise runs.Failure(f"argument --predict: row {row} of {file} gives scores beyond {scores.dtype}: is "
                           "it on the training data's scale?")
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    names = class_names(config)
    text = io.StringIO()
    rows = csv.writer(text, lineterminator="\n")     # quoted where a class name holds a comma
    rows.writerow(["row", "predicted", *(f"p({name})" for name in names)])
    rows.writerows([n + 1, names[p.argmax()], *(f"{v:.6g}" for v in p)] for n, p in enumerate(probabilities))
    with runs.run_folder(out, Path(checkpoint.path)) as out:
        replaced = " (replacing the earlier one)" * (out / "predictions.csv").exists()
        write_atomically(out / "predictions.csv", lambda handle: handle.write(text.getvalue().encode()))
    print(f"predicted  {len(X)} rows of {file} with {weights}: {out / 'predictions.csv'}{replaced}")
    return runs.EXIT_OK


def draw_figures(config: dict, model, X, y, val, out: Path, status: str, history, recorder=None,
                 skip=False, record=None) -> dict[str, str]:
    """loss.png; boundary.png for points in the plane; hidden.png for one hidden layer; training.gif
    from the ``recorder``. A figure that cannot be drawn is one line on stderr, never a failure."""
    model.eval()                        # predictions from here on: no dropout, running statistics
    optimizer = "SGD" if config["optimizer"] == "sgd" else "Adam"
    title = f"{describe(model)}, {optimizer} lr {config['lr']}"
    about = describe_data(config, X).split(", seed")[0]
    accuracy = f"train accuracy {history[-1]['train_accuracy']:.1%} after {history[-1]['step']} steps"
    best = (record or {}).get("best", {}).get("step")
    figures = {"loss.png": lambda path: plot_curves(history, path, title=f"{title}\n{about}", best=best)}
    if X.shape[1] == 2:
        figures["boundary.png"] = lambda path: plot_decision_boundary(model, X, y, path, val=val,
                                                                      title=f"{title}\n{about}: {accuracy}")
    if X.shape[1] == 2 and config["depth"] == 1 and not (config["batchnorm"] or config["dropout"]
                                                          or config["standardize"]):
        figures["hidden.png"] = lambda path: plot_hidden_units(model, X, y, path)
    if recorder is not None:
        figures["training.gif"] = lambda path: recorder.write_gif(path, title=f"{title}: {about}")
    return runs.draw_figures(out, figures, status, skip=skip)
