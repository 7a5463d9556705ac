"""Draw the question's network as a computation graph: docs/backprop_graph.png.

    python docs/backprop_graph.py [OUTPUT.png]

Forward arrows (dark, on top) carry the quantities of the forward pass; backward arrows (red,
underneath) carry the gradients, from the loss back to every parameter. Shapes are those of the
question: N = 800 points, h = 1000 hidden units, K = 2 classes. Drawn with matplotlib's object API
on an Agg canvas at a fixed size and resolution, so redrawing it with the same matplotlib and
fonts gives the same file.
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
NODE_Y = 3.0                # the row of nodes; forward arrows run above its middle, backward below
FORWARD_Y = NODE_Y + 0.25
BACKWARD_Y = NODE_Y - 0.25

# (x, title, detail, kind): a "data" node is an array, an "operation" node a part of the framework
NODES = (
    (0.8, "X", "[N x 2]\ndata", "data"),
    (3.7, "Linear(W, b)", "W [2 x h], b [h]\nmodel[0]", "operation"),
    (7.2, "ReLU", "max(0, ·)\nmodel[1]", "operation"),
    (10.7, "Linear(W2, b2)", "W2 [h x K], b2 [K]\nmodel[2]", "operation"),
    (15.0, "SoftmaxCrossEntropy(y)", "y [N] labels\nloss_fn", "operation"),
    (18.6, "L", "scalar\nmean loss", "data"),
)
HALF_WIDTH = (0.55, 1.0, 0.75, 1.0, 1.15, 0.55)      # wide enough for each title, per node
NODE_HALF_HEIGHT = 0.62

# (from node, to node, label above the arrow): the forward pass, left to right
FORWARD = (
    (0, 1, "X"),
    (1, 2, "A = X W + b\n[N x h]"),
    (2, 3, "H = max(0, A)\n[N x h]"),
    (3, 4, "S = H W2 + b2\n[N x K]"),
    (4, 5, "L = mean −log P[n, yₙ]"),
)

# (from node, to node, label below the arrow): the backward pass, right to left
BACKWARD = (
    (4, 3, "dS = (P − onehot(y)) / N\n[N x K]"),
    (3, 2, "dH = dS W2ᵀ\n[N x h]"),
    (2, 1, "dA = dH ⊙ 1[A > 0]\n[N x h]"),
)

# (node, label): parameter gradients, drawn as red arrows leaving an operation node downwards
PARAMETER_GRADIENTS = (
    (1, "dW = Xᵀ dA   [2 x h]\ndb = Σₙ dA[n]   [h]\nW ← W − η dW,  b ← b − η db"),
    (3, "dW2 = Hᵀ dS   [h x K]\ndb2 = Σₙ dS[n]   [K]\nW2 ← W2 − η dW2,  b2 ← b2 − η db2"),
)


def draw(path) -> None:
    """Write the computation graph as a PNG to ``path``."""
    fig = Figure(figsize=(19.5, 5.0))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 19.5)
    ax.set_ylim(0, 5.0)
    ax.set_axis_off()

    for (x, title, detail, kind), half_width in zip(NODES, HALF_WIDTH, strict=True):
        _node(ax, x, half_width, title, detail, kind)
    for start, end, label in FORWARD:
        _arrow(ax, start, end, FORWARD_Y, label, FORWARD_COLOUR, above=True)
    for start, end, label in BACKWARD:
        _arrow(ax, start, end, BACKWARD_Y, label, BACKWARD_COLOUR, above=False)
    for node, label in PARAMETER_GRADIENTS:
        x = NODES[node][0]
        ax.annotate("", xy=(x, 1.45), xytext=(x, NODE_Y - NODE_HALF_HEIGHT),
                    arrowprops={"arrowstyle": "-|>", "color": BACKWARD_COLOUR, "lw": 1.8})
        ax.text(x, 1.35, label, ha="center", va="top", fontsize=10.5, color=BACKWARD_COLOUR,
                linespacing=1.5)

    ax.text(0.2, 4.8, "The question's network as a computation graph", fontsize=14, weight="bold",
            va="top")
    ax.text(0.2, 4.4, "forward: the quantities, left to right", fontsize=10.5, color=FORWARD_COLOUR,
            va="top")
    ax.text(4.6, 4.4, "backward: the gradients ∂L/∂(·), right to left, then SGD's update (η = lr)",
            fontsize=10.5, color=BACKWARD_COLOUR, va="top")
    ax.text(19.3, 0.15, "N = 800 points, h = 1000 hidden units, K = 2 classes in the question",
            fontsize=9, color="#555555", ha="right")
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


def _node(ax, x: float, half_width: float, title: str, detail: str, kind: str) -> None:
    """An array as a grey ellipse, a part of the framework as a blue box; title above, detail below."""
    left, bottom = x - half_width, NODE_Y - NODE_HALF_HEIGHT
    if kind == "data":
        shape = Ellipse((x, NODE_Y), 2 * half_width, 2 * NODE_HALF_HEIGHT, facecolor="#f4f4f4",
                        edgecolor="#555555", linewidth=1.5)
    else:
        shape = FancyBboxPatch((left, bottom), 2 * half_width, 2 * NODE_HALF_HEIGHT,
                               boxstyle="round,pad=0.02,rounding_size=0.15", facecolor="#eaf2fb",
                               edgecolor="#2c5d8f", linewidth=1.5)
    ax.add_patch(shape)
    ax.text(x, NODE_Y + 0.22, title, ha="center", va="center", fontsize=10.5, weight="bold")
    ax.text(x, NODE_Y - 0.22, detail, ha="center", va="center", fontsize=8.5, color="#333333")


def _arrow(ax, start: int, end: int, y: float, label: str, colour: str, *, above: bool) -> None:
    x0, x1 = NODES[start][0], NODES[end][0]
    sign = 1 if x1 > x0 else -1
    tail = x0 + sign * HALF_WIDTH[start]
    head = x1 - sign * HALF_WIDTH[end]
    ax.annotate("", xy=(head, y), xytext=(tail, y),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.8, "shrinkA": 2,
                            "shrinkB": 2})
    offset = 0.12 if above else -0.12
    ax.text((tail + head) / 2, y + offset, label, ha="center", va="bottom" if above else "top",
            fontsize=10, color=colour, linespacing=1.3)


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
