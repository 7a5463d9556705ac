"""The figures of a run: learning curves, decision regions with their confidence, and the hidden layer.

Figures are drawn with matplotlib's object API on an Agg canvas: no window, no pyplot state,
and no change to the backend of a notebook or script that imports this module.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from checks.files import write_atomically
from training.history import History
from training.loop import chunk_rows, evaluation_mode

LOG_AXIS_RANGE = (1e-250, 1e250)    # losses a log axis draws; beyond, the axis shows their log₁₀
MAX_LEGEND_CLASSES = 10             # more classes get no legend: 1000 entries take minutes to lay out
DPI = 110
_CURVE_COLOURS = {"training": "#1f77b4", "validation": "#ff7f0e"}
_CLASS_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# The shading's depth: a class's colour mixed with white, from PALE (the predicted class is as likely
# as a guess, probability 1/K) to DEEP (it is certain). Deep stays light enough for points on top.
PALE, DEEP = 0.08, 0.55


def describe_model(model) -> str:
    """The model in words, for a title: "2-layer MLP, 1000 ReLU units" or "linear classifier"."""
    linears = [layer for layer in model if type(layer).__name__ == "Linear"]
    if len(linears) == 1:
        return "linear classifier"
    widths = sorted({layer.out_features for layer in linears[:-1]})
    activations = sorted({type(layer).__name__ for layer in model if type(layer).__name__ in
                          ("ReLU", "LeakyReLU", "Tanh", "Sigmoid")})
    hidden = len(linears) - 1
    units = "/".join(str(w) for w in widths) if hidden == 1 else f"{hidden} x {'/'.join(map(str, widths))}"
    return f"{len(linears)}-layer MLP, {units} {'/'.join(activations) or 'linear'} units"


def class_colours(n_classes: int) -> list[str]:
    return [_CLASS_COLOURS[c % len(_CLASS_COLOURS)] for c in range(n_classes)]


def accuracy_range(accuracies: list[np.ndarray]) -> tuple[float, float]:
    """The accuracy axis (in %): zoomed to what the curves reach once the first tenth of the run is
    over, since an axis from 0 squashes the last few per cent where a trained model's curves live."""
    later = [a[len(a) // 10:] for a in accuracies]
    values = np.concatenate([a[np.isfinite(a)] for a in later])
    if values.size == 0:
        return 0.0, 101.0
    low, high = float(values.min()), float(values.max())
    pad = max(0.5, 0.08 * (high - low))
    return max(0.0, np.floor(low - pad)), min(101.0, np.ceil(high + pad))


def plot_curves(history: History, path, *, title: str = "") -> None:
    """Loss (log scale; beyond LOG_AXIS_RANGE its log₁₀) and accuracy against the step, training
    and validation together; the accuracy axis is zoomed to the curves (``accuracy_range``)."""
    fig = Figure(figsize=(8.2, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    loss_ax, acc_ax = fig.subplots(1, 2)
    draw_curves(loss_ax, acc_ax, history)
    if title:
        fig.suptitle(title)
    _save(fig, path)


def draw_curves(loss_ax, acc_ax, history: History) -> None:
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
    loss_ax.set(xlabel="step (updates made)", ylabel=ylabel, title="Loss (log scale)" if log_axis and
                not exponents else "Loss")
    low, high = accuracy_range(list(accuracies.values()))
    acc_ax.set(xlabel="step (updates made)", ylabel="accuracy (%)", ylim=(low, high),
               title="Accuracy" + (f" (axis from {low:g} %)" if low > 0 else ""))
    for ax in (loss_ax, acc_ax):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="best")


def plane_grid(points: list[np.ndarray], resolution: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A resolution x resolution grid of the plane around the points, 10 % of their extent beyond
    them: the extent (x_low, x_high, y_low, y_high) and the grid's points [resolution² x 2]."""
    everything = np.concatenate(points)
    low, high = everything.min(axis=0), everything.max(axis=0)
    margin = 0.1 * max(*(high - low), 1e-3)
    xs = np.linspace(low[0] - margin, high[0] + margin, resolution)
    ys = np.linspace(low[1] - margin, high[1] + margin, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    extent = np.array([xs[0], xs[-1], ys[0], ys[-1]])
    return extent, np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(dtype)


def probabilities(model, points: np.ndarray) -> np.ndarray:
    """softmax(model.forward(points)) [N x K], in evaluation mode (no dropout mask drawn, no running
    statistic changed: a snapshot taken during training leaves the training as it was), in fit's
    chunks (``chunk_rows``): each chunk's arrays stay in the cache, and memory stays small."""
    with evaluation_mode(model):
        rows = chunk_rows("auto", model, points) or len(points)
        scores = np.concatenate([model.forward(points[start:start + rows])
                                 for start in range(0, len(points), rows)]).astype(np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def shading(probs: np.ndarray, colours: list[str], shape: tuple[int, int]) -> np.ndarray:
    """An RGB image [rows x columns x 3]: at each point the predicted class's colour, mixed with white
    from PALE (its probability is 1/K, a guess) to DEEP (probability 1)."""
    k = probs.shape[1]
    predicted = probs.argmax(axis=1)
    confidence = (probs.max(axis=1) - 1 / k) / (1 - 1 / k) if k > 1 else np.ones(len(probs))
    depth = (PALE + (DEEP - PALE) * np.clip(confidence, 0, 1))[:, None]
    rgb = np.array([to_rgb(c) for c in colours])[predicted]
    return (1 - depth + depth * rgb).reshape(*shape, 3)


def plot_decision_boundary(model, X: np.ndarray, y: np.ndarray, path, *, val=None, title: str = "",
                           resolution: int = 200) -> None:
    """The class the model predicts at every point of the plane, shaded by its probability, with
    the data on top: training points filled, validation points (``val = (X_val, y_val)``) hollow,
    misclassified points ringed in black. The legend sits beside the plane, never on the data."""
    fig = Figure(figsize=(8.2, 5.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    draw_boundary(ax, model, X, y, val=val, resolution=resolution, legend=True)
    ax.set_title(title or "Decision regions")
    _save(fig, path)


def draw_boundary(ax, model, X, y, *, val=None, resolution: int = 200, legend: bool = True):
    """The shaded regions and the points on ``ax``; returns the image, whose data an animation renews."""
    n_classes = int(max(y.max() + 1, model.forward(X[:1]).shape[1]))
    colours = class_colours(n_classes)
    extent, grid = plane_grid([X] if val is None else [X, val[0]], resolution, X.dtype)
    image = ax.imshow(shading(probabilities(model, grid), colours, (resolution, resolution)),
                      origin="lower", extent=extent, interpolation="bilinear", aspect="equal")
    wrong = model.predict(X) != y
    many = n_classes > MAX_LEGEND_CLASSES
    # the same points, each class's colour, in one call each: no per-class loop for a thousand classes
    ax.scatter(X[:, 0], X[:, 1], s=12, c=[colours[c] for c in y], edgecolors="white", linewidths=0.3)
    ax.scatter(X[wrong, 0], X[wrong, 1], s=55, facecolors="none", edgecolors="black", linewidths=1.1)
    handles = [Line2D([], [], ls="", marker="o", ms=6, color=colours[c], mec="white",
                      label=f"class {c} ({np.sum(y == c)})") for c in range(n_classes)] if not many else []
    handles.append(Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec="black",
                          label=f"misclassified ({wrong.sum()})"))
    if val is not None:
        wrong_val = model.predict(val[0]) != val[1]
        ax.scatter(val[0][:, 0], val[0][:, 1], s=16, facecolors="white",
                   edgecolors=[colours[c] for c in val[1]], linewidths=1.2)
        ax.scatter(val[0][wrong_val, 0], val[0][wrong_val, 1], s=55, facecolors="none", edgecolors="black",
                   linewidths=1.1)
        handles.append(Line2D([], [], ls="", marker="o", ms=6, mfc="white", mec="grey",
                              label=f"validation ({len(val[1])}, {wrong_val.sum()} wrong)"))
    handles.append(Line2D([], [], ls="", marker="s", ms=9, color="#cccccc",
                          label="shading: the predicted\nclass's probability\n(pale 1/K, deep 1)"))
    if legend:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0,
                  frameon=False)
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
    first, _, second = model[0], model[1], model[2]
    extent, grid = plane_grid([X], resolution, X.dtype)
    on = (grid @ first.params["W"] + first.params["b"]) > 0                          # [R² x h]
    strength = np.abs(second.params["W"]).sum(axis=1)                                # [h]
    chosen = np.argsort(-strength)[:units]
    fig = Figure(figsize=(8.2, 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 4).ravel()
    counts = on.sum(axis=1).reshape(resolution, resolution)
    shown = axes[0].imshow(counts, origin="lower", extent=extent, cmap="viridis", aspect="equal")
    fig.colorbar(shown, ax=axes[0], shrink=0.8, label="units on")
    axes[0].set_title(f"units on, of {on.shape[1]}", fontsize=9)
    switch = LinearSegmentedColormap.from_list("switch", ["#f4f4f4", "#f2b134"])
    colours = class_colours(int(y.max()) + 1)
    for ax, unit in zip(axes[1:], chosen, strict=False):
        ax.imshow(on[:, unit].reshape(resolution, resolution), origin="lower", extent=extent, cmap=switch,
                  vmin=0, vmax=1, aspect="equal")
        ax.set_title(f"unit {unit} on", fontsize=9)
    for ax in axes:
        ax.scatter(X[:, 0], X[:, 1], s=1.5, c=[colours[c] for c in y], linewidths=0)
        ax.set(xticks=[], yticks=[])
    for ax in axes[1 + len(chosen):]:
        ax.set_visible(False)
    fig.suptitle(title or "The hidden layer: where each unit is on (orange), for the strongest units",
                 fontsize=10)
    _save(fig, path)


def _save(fig: Figure, path) -> None:
    """The figure as a PNG of 256 colours (a palette): a third of the bytes of a full-colour one, and
    no difference to see in these figures, whose shading is their only gradient."""
    fig.set_dpi(DPI)
    fig.canvas.draw()
    pixels = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    image = pixels.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    write_atomically(path, lambda file: image.save(file, format="PNG"))
