"""The figures of a run: learning curves, decision regions with their confidence, and the hidden layer.

Figures are drawn with matplotlib's object API on an Agg canvas: no window, no pyplot state,
and no change to the backend of a notebook or script that imports this module.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from checks.files import write_atomically
from training.loop import evaluation_mode

MAX_LEGEND_CLASSES = 10             # more classes get no legend: 1000 entries take minutes to lay out
DPI = 110
CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# The shading's depth: a class's colour mixed with white, from PALE (the predicted class is as likely
# as a guess, probability 1/K) to DEEP (it is certain). Deep stays light enough for points on top.
PALE, DEEP = 0.08, 0.55


def class_colours(n_classes: int) -> list[str]:
    return [CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in range(n_classes)]


def new_figure(size: tuple[float, float], dpi: int = DPI) -> Figure:
    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plot_curves(history, path, *, title: str = "", best: int | None = None) -> None:
    """Loss (on a log scale if ``log_axis`` allows) and accuracy against the step, training and validation
    together; ``best``: the step of the kept best weights, marked."""
    fig = new_figure((8.2, 3.6))
    loss_ax, acc_ax = fig.subplots(1, 2)
    steps = history.column("step")
    columns = {"training": ("loss", "train_accuracy"), "validation": ("val_loss", "val_accuracy")}
    curves = {name: (history.column(loss), 100 * history.column(accuracy))
              for name, (loss, accuracy) in columns.items() if name == "training" or history.has_validation}
    log = log_axis(np.concatenate([loss for loss, _ in curves.values()]))
    for (name, (loss, accuracy)), colour in zip(curves.items(), ("#1f77b4", "#ff7f0e"), strict=False):
        loss_ax.plot(steps, drawable(loss), color=colour, label=name)
        acc_ax.plot(steps, accuracy, color=colour, label=name)
    loss_ax.set(xlabel="step (updates made)", ylabel="mean cross-entropy loss",
                title="Loss (log scale)" if log else "Loss", yscale="log" if log else "linear")
    # zoomed to what the curves reach after the first tenth of the run: from 0, the last per cent a
    # trained model's curves live in is squashed flat
    later = np.concatenate([accuracy[len(accuracy) // 10:] for _, accuracy in curves.values()])
    low = float(np.nanmin(later)) if np.isfinite(later).any() else 0.0
    low = max(0.0, np.floor(low - max(0.5, 0.08 * (100 - low))))
    acc_ax.set(xlabel="step (updates made)", ylabel="accuracy (%)", ylim=(low, 101 if low < 90 else 100),
               title="Accuracy" + (f" (axis from {low:g} %)" if low > 0 else ""))
    for ax in (loss_ax, acc_ax):
        if best is not None:
            ax.axvline(best, color="0.4", linestyle="--", linewidth=1, label=f"best.npz (step {best})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    save_png(fig, path)


def log_axis(losses: np.ndarray) -> bool:
    """Whether a log axis can draw these losses: none is 0, negative, not finite, or beyond 1e±250, where
    matplotlib's log ticks overflow (a diverged run's losses go on a linear axis)."""
    return bool(np.all((losses > 1e-250) & (losses < 1e250)))


def drawable(losses: np.ndarray) -> np.ndarray:
    """The losses with those beyond 1e300 left out (nan), as inf and nan are: near the largest float
    matplotlib's linear ticks overflow too."""
    return np.where(np.abs(losses) < 1e300, losses, np.nan)


def plane_grid(points: list[np.ndarray], resolution: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A resolution x resolution grid of the plane around the points, 10 % of their extent beyond
    them: the extent (x_low, x_high, y_low, y_high) and the grid's points [resolution² x 2]."""
    everything = np.concatenate(points)
    low, high = everything.min(axis=0), everything.max(axis=0)
    margin = 0.1 * max(*(high - low), 1e-3)
    xs, ys = (np.linspace(low[i] - margin, high[i] + margin, resolution) for i in (0, 1))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return np.array([xs[0], xs[-1], ys[0], ys[-1]]), grid.astype(dtype)


def probabilities(model, points: np.ndarray) -> np.ndarray:
    """softmax(model.forward(points)) [N x K], in evaluation mode (no dropout mask drawn, no running
    statistic changed: a snapshot taken during training leaves the training as it was), in chunks
    of rows whose widest array holds about a million numbers, so that memory stays small."""
    width = max([points.shape[1]] + [max(p.value.shape) for p in model.parameters()])
    rows = max(1, 2**20 // width)
    with evaluation_mode(model):
        scores = np.concatenate([model.forward(points[start:start + rows])
                                 for start in range(0, len(points), rows)]).astype(np.float64)
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def shading(probs: np.ndarray, colours: list[str], shape: tuple[int, int]) -> np.ndarray:
    """An RGB image [rows x columns x 3]: at each point the predicted class's colour, mixed with white
    from PALE (its probability is 1/K, a guess) to DEEP (probability 1)."""
    probs = probs.astype(np.float64)    # in float32, 1 − depth + depth·1 rounds to 1 + 3e-8: clipped
    k = probs.shape[1]
    confidence = (probs.max(axis=1) - 1 / k) / (1 - 1 / k) if k > 1 else np.ones(len(probs))
    depth = (PALE + (DEEP - PALE) * np.clip(confidence, 0, 1))[:, None]
    rgb = np.array([to_rgb(c) for c in colours])[probs.argmax(axis=1)]
    return (1 - depth + depth * rgb).reshape(*shape, 3)


def plot_decision_boundary(model, X: np.ndarray, y: np.ndarray, path, *, val=None, title: str = "",
                           resolution: int = 200) -> None:
    """The class the model predicts at every point of the plane, shaded by its probability, with
    the data on top: training points filled, validation points (``val = (X_val, y_val)``) hollow,
    misclassified points ringed in black. The legend sits beside the plane, never on the data."""
    fig = new_figure((8.2, 5.6))
    ax = fig.subplots()
    draw_boundary(ax, model, X, y, val=val, resolution=resolution, legend=True)
    ax.set_title(title or "Decision regions")
    save_png(fig, path)


def draw_boundary(ax, model, X, y, *, val=None, resolution: int = 200, legend: bool = True):
    """The shaded regions and the points on ``ax``; returns the image, whose data an animation renews."""
    n_classes = int(max(y.max() + 1, model.forward(X[:1]).shape[1]))
    colours = class_colours(n_classes)
    extent, grid = plane_grid([X] if val is None else [X, val[0]], resolution, X.dtype)
    image = ax.imshow(shading(probabilities(model, grid), colours, (resolution, resolution)),
                      origin="lower", extent=extent, interpolation="bilinear", aspect="equal")
    wrong = model.predict(X) != y
    # each set of points in one call, each point its class's colour: no loop over a thousand classes
    ax.scatter(X[:, 0], X[:, 1], s=12, c=[colours[c] for c in y], edgecolors="white", linewidths=0.3)
    for c in range(n_classes if n_classes <= MAX_LEGEND_CLASSES else 0):          # the legend's entries
        ax.scatter([], [], s=30, color=colours[c], edgecolors="white", label=f"class {c} ({np.sum(y == c)})")
    ringed = X[wrong]
    if val is not None:
        wrong_val = model.predict(val[0]) != val[1]
        ax.scatter(val[0][:, 0], val[0][:, 1], s=16, facecolors="white", linewidths=1.2,
                   edgecolors=[colours[c] for c in val[1]],
                   label=f"validation ({len(val[1])}, {wrong_val.sum()} wrong)")
        ringed = np.concatenate([ringed, val[0][wrong_val]])
    ax.scatter(ringed[:, 0], ringed[:, 1], s=55, facecolors="none", edgecolors="black", linewidths=1.1,
               label=f"misclassified ({wrong.sum()})")
    ax.scatter([], [], s=80, marker="s", color="#cccccc",
               label="shading: the predicted\nclass's probability\n(pale 1/K, deep 1)")
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False)
    ax.set(xlabel="x₁", ylabel="x₂")
    return image


def plot_hidden_units(model, X: np.ndarray, y: np.ndarray, path, *, title: str = "",
                      units: int = 7, resolution: int = 100) -> None:
    """What the first hidden layer sees: where each unit is on (ReLU's switch 1[x·w + b > 0]) over
    the plane, for the ``units`` units whose output weights are largest, and how many units are on.

    Each unit is on in a half-plane bounded by the line x·w_j + b_j = 0; the network's boundary is
    pieced together from these lines, so it bends only where some unit switches. Needs a model that
    starts Linear(2, h), an activation, then a Linear layer.
    """
    first, second = model[0], model[2]
    extent, grid = plane_grid([X], resolution, X.dtype)
    on = (grid @ first.params["W"] + first.params["b"]) > 0                          # [R² x h]
    strength = np.abs(second.params["W"]).sum(axis=1)                                # [h]
    chosen = np.argsort(-strength)[:units]
    fig = new_figure((8.2, 4.4))
    axes = fig.subplots(2, 4).ravel()
    shown = axes[0].imshow(on.sum(axis=1).reshape(resolution, resolution), origin="lower", extent=extent,
                           cmap="viridis", aspect="equal")
    fig.colorbar(shown, ax=axes[0], shrink=0.8, label="units on")
    axes[0].set_title(f"units on, of {on.shape[1]}", fontsize=9)
    for ax, unit in zip(axes[1:], chosen, strict=False):
        switch = np.where(on[:, unit, None], to_rgb("#f2b134"), to_rgb("#f4f4f4"))   # orange where on
        ax.imshow(switch.reshape(resolution, resolution, 3), origin="lower", extent=extent, aspect="equal")
        ax.set_title(f"unit {unit} on", fontsize=9)
    colours = class_colours(int(y.max()) + 1)
    for ax in axes:
        ax.scatter(X[:, 0], X[:, 1], s=1.5, c=[colours[c] for c in y], linewidths=0)
        ax.set(xticks=[], yticks=[])
    for ax in axes[1 + len(chosen):]:
        ax.set_visible(False)
    fig.suptitle(title or "The hidden layer: where each unit is on (orange), for the strongest units",
                 fontsize=10)
    save_png(fig, path)


def save_png(fig: Figure, path) -> None:
    """The figure as a PNG of 256 colours (a palette): a third of the bytes of a full-colour one, and
    no difference to see in these figures, whose shading is their only gradient."""
    fig.canvas.draw()
    pixels = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    image = pixels.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    write_atomically(path, lambda file: image.save(file, format="PNG"))
