"""Draw the course's two-layer network as a computation graph: docs/backprop_graph.png.

    python docs/backprop_graph.py [OUTPUT.png]

The graph runs top to bottom: X, Linear, ReLU, Linear, SoftmaxCrossEntropy, L. Forward arrows (dark,
on the left of the column) carry the quantities; backward arrows (red, on the right) carry the
gradients from the loss back to every parameter. Each quantity is labelled with its math name and
shape, then with its name in the course loop (training/course_loop.py, in code font); each gradient
also with the method and formula number that compute it, as docs/backprop.md cites them.

The figure is 9.6 inches wide, so shown 900 pixels wide (a repository page) a point is 1.3 pixels
and the smallest text, 9 pt, stays above 11 pixels. Drawn with matplotlib's object API on an Agg
canvas at a fixed size and resolution, so redrawing it with the same matplotlib and fonts gives the
same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyBboxPatch

DEFAULT_OUTPUT = Path(__file__).resolve().with_suffix(".png")

FORWARD_COLOUR = "#1f1f1f"
BACKWARD_COLOUR = "#c0392b"
UNUSED_COLOUR = "#8a8a8a"

# The axes span the figure in inches, so every position and size below is in inches.
WIDTH, HEIGHT = 9.6, 7.3
DPI = 150                   # 1440 x 1095 pixels: sharper than the 900 a page shows it at
CENTRE = 3.1                # the column of nodes
NODE_HALF_WIDTH = 1.0
NODE_HALF_HEIGHT = 0.27
FIRST_ROW = HEIGHT - 1.3    # the centre of the top node
PITCH = 1.03                # from one node's centre to the next one's
ARROW_OFFSET = 0.62         # forward arrows run this far left of the centre, backward ones this far right
LABEL_GAP = 0.12            # between a node's side and the labels beside it
PARAMETER_X = 7.1           # the left edge of the parameter gradients' column
LINE = 0.185                # one line of label text

# Fonts, in points: at 900 pixels wide, 9 pt is 11.7 pixels.
MATH = {"fontsize": 10}
LOOP_NAME = {"fontsize": 9.5, "family": "monospace", "weight": "bold"}
WHERE = {"fontsize": 9.5, "family": "monospace"}

# (title, detail, kind), top to bottom: a "data" node is an array, an "operation" node a framework part
NODES = (
    ("X", "data  [N x 2]", "data"),
    ("Linear(W, b)", "model[0]   W [2 x h], b [h]", "operation"),
    ("ReLU", "model[1]   max(0, ·)", "operation"),
    ("Linear(W2, b2)", "model[2]   W2 [h x K], b2 [K]", "operation"),
    ("SoftmaxCrossEntropy", "loss_fn   labels y [N]", "operation"),
    ("L", "scalar", "data"),
)

# The forward pass, one entry per arrow from node i down to node i + 1: (math and shape, loop name)
FORWARD = (
    ("X   [N x 2]", "X"),
    ("A = X W + b   [N x h]", "np.dot(X, W) + b"),
    ("H = max(0, A)   [N x h]", "hidden_layer"),
    ("S = H W2 + b2   [N x K]", "scores"),
    ("L = mean −log P[n, y_n]", "data_loss"),
)
# P never leaves the loss part, so it is written beside it rather than on an arrow: (node, math, name)
INSIDE = (4, "P = softmax(S)   [N x K]", "probs")

# The backward pass, one entry per arrow from node i + 1 up to node i: (i, math and shape, loop name,
# where it is computed)
BACKWARD = (
    (1, "dA = dH ⊙ 1[A > 0]   [N x h]", "dhidden, after the mask", "ReLU.backward (1)"),
    (2, "dH = dS W2ᵀ   [N x h]", "dhidden", "Linear.backward (3)"),
    (3, "dS = (P − onehot(y)) / N   [N x K]", "dscores", "SoftmaxCrossEntropy.backward (1)"),
)
# model[0].backward returns dX too, though nothing below the data is trained: grey and dashed
UNUSED = (0, "dX = dA Wᵀ   [N x 2]", "(the loop skips it)", "Linear.backward (3)")

# The parameter gradients, beside the Linear node that computes them: (node, entries as in BACKWARD)
PARAMETER_GRADIENTS = (
    (1, (("dW = Xᵀ dA   [2 x h]", "dW", "Linear.backward (1)"),
         ("db = Σ_n dA[n]   [h]", "db", "Linear.backward (2)"))),
    (3, (("dW2 = Hᵀ dS   [h x K]", "dW2", "Linear.backward (1)"),
         ("db2 = Σ_n dS[n]   [K]", "db2", "Linear.backward (2)"))),
)


def draw(path) -> None:
    """Write the computation graph as a PNG to ``path``."""
    fig = Figure(figsize=(WIDTH, HEIGHT))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, WIDTH)
    ax.set_ylim(0, HEIGHT)
    ax.set_axis_off()

    for row, (title, detail, kind) in enumerate(NODES):
        _node(ax, _row_y(row), title, detail, kind)

    left_labels = CENTRE - NODE_HALF_WIDTH - LABEL_GAP
    right_labels = CENTRE + NODE_HALF_WIDTH + LABEL_GAP
    for row, (math, name) in enumerate(FORWARD):
        _vertical_arrow(ax, CENTRE - ARROW_OFFSET, row, row + 1, FORWARD_COLOUR)
        _label(ax, left_labels, _gap_y(row), ((math, MATH), (name, LOOP_NAME)), FORWARD_COLOUR, "right")
    node, math, name = INSIDE
    _label(ax, left_labels, _row_y(node), ((math, MATH), (name, LOOP_NAME)), FORWARD_COLOUR, "right")

    for row, math, name, where in BACKWARD:
        _vertical_arrow(ax, CENTRE + ARROW_OFFSET, row + 1, row, BACKWARD_COLOUR)
        _label(ax, right_labels, _gap_y(row), ((math, MATH), (name, LOOP_NAME), (where, WHERE)),
               BACKWARD_COLOUR, "left")
    row, math, name, where = UNUSED
    _vertical_arrow(ax, CENTRE + ARROW_OFFSET, row + 1, row, UNUSED_COLOUR, dashed=True)
    _label(ax, right_labels, _gap_y(row), ((math, MATH), (name, WHERE), (where, WHERE)), UNUSED_COLOUR,
           "left")

    for node, gradients in PARAMETER_GRADIENTS:
        y = _row_y(node)
        ax.annotate("", xy=(PARAMETER_X - 0.08, y), xytext=(CENTRE + NODE_HALF_WIDTH, y),
                    arrowprops={"arrowstyle": "-|>", "color": BACKWARD_COLOUR, "lw": 1.8, "shrinkA": 0,
                                "shrinkB": 0})
        weights, bias = ([(math, MATH), (name, LOOP_NAME), (where, WHERE)] for math, name, where in gradients)
        _label(ax, PARAMETER_X, y, weights + [("", WHERE)] + bias, BACKWARD_COLOUR, "left")

    ax.text(0.15, HEIGHT - 0.15, "The two-layer network as a computation graph", fontsize=14,
            weight="bold", va="top")
    ax.text(0.15, HEIGHT - 0.5, "forward, top to bottom: the math name and shape, then the course "
            "loop's name (bold code)", fontsize=10, color=FORWARD_COLOUR, va="top")
    ax.text(0.15, HEIGHT - 0.72, "backward, bottom to top: the gradients d(·) = ∂L/∂(·), the loop's "
            "name, then the method and formula that compute them", fontsize=10, color=BACKWARD_COLOUR,
            va="top")
    ax.text(0.15, 0.38, "Then SGD.update (4): θ ← θ − η dθ for θ = W, b, W2, b2, with η = lr "
            "(the loop: W += -step_size * dW, …)", fontsize=10, color=BACKWARD_COLOUR, va="bottom")
    ax.text(0.15, 0.12, "N = 800 points, h = 1000 hidden units, K = 2 classes "
            "(the two-class setup, train.py's default)", fontsize=9, color="#555555", va="bottom")
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _row_y(row: int) -> float:
    return FIRST_ROW - row * PITCH


def _gap_y(row: int) -> float:
    """The middle of the gap between node ``row`` and the node below it."""
    return _row_y(row) - PITCH / 2


def _node(ax, y: float, title: str, detail: str, kind: str) -> None:
    """An array as a grey ellipse, a part of the framework as a blue box; title above, detail below."""
    if kind == "data":
        shape = Ellipse((CENTRE, y), 1.1, 2 * NODE_HALF_HEIGHT, facecolor="#f4f4f4", edgecolor="#555555",
                        linewidth=1.5)
    else:
        shape = FancyBboxPatch((CENTRE - NODE_HALF_WIDTH, y - NODE_HALF_HEIGHT), 2 * NODE_HALF_WIDTH,
                               2 * NODE_HALF_HEIGHT, boxstyle="round,pad=0,rounding_size=0.1",
                               facecolor="#eaf2fb", edgecolor="#2c5d8f", linewidth=1.5)
    ax.add_patch(shape)
    ax.text(CENTRE, y + 0.09, title, ha="center", va="center", fontsize=10.5, weight="bold")
    ax.text(CENTRE, y - 0.12, detail, ha="center", va="center", fontsize=9, color="#333333")


def _vertical_arrow(ax, x: float, start: int, end: int, colour: str, *, dashed: bool = False) -> None:
    """An arrow from the edge of node ``start`` to the edge of node ``end``, up or down."""
    sign = 1 if end < start else -1          # rows count downwards
    tail = _row_y(start) + sign * NODE_HALF_HEIGHT
    head = _row_y(end) - sign * NODE_HALF_HEIGHT
    ax.annotate("", xy=(x, head), xytext=(x, tail),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.8, "shrinkA": 0, "shrinkB": 0,
                            "linestyle": "--" if dashed else "-"})


def _label(ax, x: float, y: float, lines, colour: str, align: str) -> None:
    """Lines of (text, font) stacked one LINE apart and centred on ``y`` as a block."""
    top = y + (len(lines) - 1) * LINE / 2
    for index, (text, font) in enumerate(lines):
        ax.text(x, top - index * LINE, text, ha=align, va="center", color=colour, **font)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backprop_graph.py", description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT,
                        help=f"where to write the PNG (default: {DEFAULT_OUTPUT.name} next to this script)")
    args = parser.parse_args(argv)
    draw(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
