"""The two figures of a run: learning curves and decision regions. Headless, never blocking.

Figures are drawn with matplotlib's object API on an Agg canvas: no window, no pyplot state,
and no change to the backend of a notebook or script that imports this module.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from models.savefile import write_atomically
from training.history import History

LOG_AXIS_RANGE = (1e-250, 1e250)    # losses a log axis draws; beyond, the axis shows their log₁₀
MAX_LEGEND_CLASSES = 10             # more classes get no legend: 1000 entries take minutes to lay out
_CURVE_COLOURS = {"training": "#1f77b4", "validation": "#ff7f0e"}
_CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def plot_curves(history: History, path, *, title: str = "") -> None:
    """Loss (log scale; beyond LOG_AXIS_RANGE its log₁₀) and accuracy against the step, for training
    and validation."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    steps = history.column("step")
    losses = {"training": history.column("loss")}
    accuracies = {"training": 100 * history.column("train_accuracy")}
    if history.has_validation:
        losses["validation"] = history.column("val_loss")
        accuracies["validation"] = 100 * history.column("val_accuracy")
    log_axis = bool(np.all(np.isfinite(losses["training"]) & (losses["training"] > 0)))
    # matplotlib's log axis computes its ticks as powers of ten, which overflow near 1e308: beyond
    # LOG_AXIS_RANGE the axis is linear and shows the losses' exponents, log₁₀ of the loss
    every = np.concatenate(list(losses.values()))
    every = every[np.isfinite(every)]
    exponents = log_axis and not np.all((every > LOG_AXIS_RANGE[0]) & (every < LOG_AXIS_RANGE[1]))
    for name, loss in losses.items():
        colour = _CURVE_COLOURS[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            loss_ax.plot(steps, np.log10(loss) if exponents else loss, color=colour, label=name)
        acc_ax.plot(steps, accuracies[name], color=colour, label=name)
    if log_axis and not exponents:
        loss_ax.set_yscale("log")           # a perfect fit (loss 0) stays on a linear scale
    ylabel = "log₁₀ of the mean cross-entropy loss" if exponents else "mean cross-entropy loss"
    loss_ax.set(xlabel="step (updates made)", ylabel=ylabel, title="Loss")
    acc_ax.set(xlabel="step (updates made)", ylabel="accuracy (%)", title="Accuracy", ylim=(0, 101))
    for ax in (loss_ax, acc_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    _save(fig, path)


def plot_decision_boundary(model, X: np.ndarray, y: np.ndarray, path, *, val=None, title: str = "",
                           resolution: int = 300) -> None:
    """The class the model predicts at every point of the plane, with the data on top.

    Training points are filled; validation points (``val = (X_val, y_val)``) are hollow.
    """
    n_classes = int(max(y.max() + 1, model.forward(X[:1]).shape[1]))
    colours = [_CLASS_COLOURS[c % len(_CLASS_COLOURS)] for c in range(n_classes)]
    everything = X if val is None else np.concatenate([X, val[0]])
    low, high = everything.min(axis=0), everything.max(axis=0)
    margin = 0.1 * max(*(high - low), 1e-3)
    xs = np.linspace(low[0] - margin, high[0] + margin, resolution)
    ys = np.linspace(low[1] - margin, high[1] + margin, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(X.dtype)
    chunks = np.array_split(grid, max(1, len(grid) // 4096))
    regions = np.concatenate([model.predict(chunk) for chunk in chunks])

    fig = Figure(figsize=(6.4, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.contourf(grid_x, grid_y, regions.reshape(grid_x.shape), levels=np.arange(n_classes + 1) - 0.5,
                cmap=ListedColormap(colours), alpha=0.25)
    if n_classes <= MAX_LEGEND_CLASSES:
        for c in range(n_classes):
            points = X[y == c]
            ax.scatter(points[:, 0], points[:, 1], s=14, color=colours[c], edgecolors="black",
                       linewidths=0.4, label=f"class {c} ({len(points)} points)")
            if val is not None:
                held_out = val[0][val[1] == c]
                ax.scatter(held_out[:, 0], held_out[:, 1], s=18, facecolors="white", edgecolors=colours[c],
                           linewidths=1.2, label=f"class {c}, validation ({len(held_out)})")
        ax.legend(loc="best", framealpha=0.9)
    else:                                   # the same points, each class's colour, in one call each
        ax.scatter(X[:, 0], X[:, 1], s=14, color=[colours[c] for c in y], edgecolors="black", linewidths=0.4)
        if val is not None:
            ax.scatter(val[0][:, 0], val[0][:, 1], s=18, facecolors="white",
                       edgecolors=[colours[c] for c in val[1]], linewidths=1.2)
    ax.set(xlabel="x₁", ylabel="x₂", title=title or "Decision regions", aspect="equal")
    _save(fig, path)


def _save(fig: Figure, path) -> None:
    write_atomically(path, lambda file: fig.savefig(file, format="png", dpi=110))
