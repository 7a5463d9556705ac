"""Which code is which formula: one training step, explained line by line, for any model.

    python explain.py            the two-class network: 800 points, 1000 hidden units, 2 classes
    python explain.py --small    4 hand-picked points, 3 hidden units: every number, checkable by hand
    python explain.py --depth 3 --hidden 16 --activation tanh     any network train.py builds
    python explain.py --from runs/<run>/checkpoint.npz            a saved model or checkpoint

The two-class network (no model flags) is run twice from the same weights. The loop side is one
iteration of the course's monolithic loop, ``course_step`` in training/course_loop.py, printed first
as a numbered listing; docs/course_loop.md shows it whole. The framework side calls ``Linear``,
``ReLU``, ``Linear``, ``SoftmaxCrossEntropy`` and ``SGD`` one at a time, in the order backprop runs
them, through their public methods only. For every quantity the walkthrough prints the formula, the
loop's statements with their line numbers in the listing, the framework's call, the numbered formula
in the framework's docstring that computes it, the shape, the values and max |loop − framework|.

Any other model (--depth, --hidden, --activation, or --from a file written by train.py or
``model.save``) has no loop to compare with: it is explained layer by layer, forward then backward,
each layer with its forward formula and the numbered backward formulas of its docstring, and every
gradient is checked against float64 central differences (layers/gradcheck.py): the model's backward
on L = Σ model(X) ⊙ G for a random G, the loss's backward on L = loss(S, y) at the model's scores S.
By the chain rule the two together check the whole step; apart, each has gradients of a size the
check can resolve (on a trained model the loss's gradients are ~1e-8, too small to check end to end).

Exit code 0 when every check passes: loop against parts at rounding level (≤ 1e-12, and ≤ 1e-10
relative to the quantity's largest entry), or central differences within 1e-7 relative. 1 when one
fails or a file cannot be read (one line on stderr names it), 2 for a bad flag.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import train
from checks import check_count
from checks.files import read_npz
from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy, check_gradients, check_loss_gradient
from layers.gradcheck import OK_BELOW
from models import Sequential
from models.architecture import build as build_architecture
from models.savefile import MODEL, check_format, entries_under, load_into, read_architecture
from optim import SGD
from training import runs
from training.course_loop import course_step

# Rounding level: a difference passes if it is at most TOLERANCE and at most RELATIVE times the
# quantity's largest entry. Gradients here are about 1e-5, so the absolute bound alone would let a
# float32-sized error (about 1e-7 relative) through. RELATIVE leaves room for cancellation: db2 is
# a sum of 800 terms of both signs that nearly cancel, and float64 rounding then reaches ~5e-12 of it.
TOLERANCE = 1e-12
RELATIVE = 1e-10
WIDTH = 100             # every printed line fits a terminal this wide


@dataclass(frozen=True)
class Setup:
    """The data and network of one walkthrough, and the loop's step size."""

    n_per_class: int
    n_classes: int
    hidden: int
    init: float                 # weights start as init · N(0, 1), biases at 0
    noise: float = 0.5
    step_size: float = 1.0
    by_hand: bool = False       # True: the data and weights are HAND's, not drawn at random


QUESTION = Setup(n_per_class=400, n_classes=2, hidden=1000, init=0.01)
SMALL = Setup(n_per_class=2, n_classes=2, hidden=3, init=0.0, by_hand=True)

# The small example, picked by hand so that every product can be checked on paper: four points on
# the two arms of a spiral, one decimal each, none at the origin (where A = b for every unit and
# the spiral would give a third of every matrix as zeros); weights with one decimal, chosen so that
# every pre-activation A is clearly positive or negative (no ReLU kink) and the classes differ.
HAND = {
    "X": np.array([[0.5, 1.0], [1.0, -0.5], [-0.5, -1.0], [-1.0, 0.5]]),
    "y": np.array([0, 0, 1, 1]),
    "W": np.array([[1.0, -0.5, 0.2], [0.5, 1.0, -0.3]]),
    "b": np.array([0.1, -0.2, 0.0]),
    "W2": np.array([[0.6, -0.4], [-0.5, 0.3], [0.2, 0.7]]),
    "b2": np.array([0.0, 0.1]),
}


@dataclass(frozen=True)
class Quantity:
    """One quantity of the walkthrough and where each side computes it."""

    step: str                   # the loop's step, numbered as in the README
    key: str                    # the key of its value in both sides' records
    name: str                   # the loop's name
    formula: str
    loop: tuple[str, ...]       # the loop's statements
    framework: tuple[str, ...]  # the framework's calls, on model = Sequential(...) and loss_fn
    where: str                  # the formula in the framework's docstring, and its file


FORWARD = (
    Quantity("1", "A", "(unnamed)", "A = X W + b",
             ("np.dot(X, W) + b                 the loop never names it: see step 2",),
             ("A = model[0].forward(X)",),
             "Linear.forward  y = x W + b  with x = X   (layers/linear.py)"),
    Quantity("2", "H", "hidden_layer", "H = max(0, A)",
             ("hidden_layer = np.maximum(0, np.dot(X, W) + b)",),
             ("H = model[1].forward(A)",),
             "ReLU.forward  y = max(0, x)  with x = A   (layers/activations.py)"),
    Quantity("3", "S", "scores", "S = H W2 + b2",
             ("scores = np.dot(hidden_layer, W2) + b2",),
             ("S = model[2].forward(H)",),
             "Linear.forward  y = x W + b  with x = H, W = W2, b = b2   (layers/linear.py)"),
    Quantity("4", "P", "probs", "P = softmax(S), row by row",
             ("exp_scores = np.exp(scores)",
              "probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)"),
             ("P = loss_fn.probs                kept by loss_fn.forward, step 5",),
             "SoftmaxCrossEntropy.forward, via log-sum-exp   (layers/losses.py)"),
    Quantity("5", "L", "data_loss", "L = (1/N) Σ_n −log P[n, y_n]",
             ("correct_logprobs = -np.log(probs[range(num_examples), y])",
              "data_loss = np.sum(correct_logprobs) / num_examples"),
             ("L = loss_fn.forward(S, y)",),
             "SoftmaxCrossEntropy.forward, via log-sum-exp   (layers/losses.py)"),
)

BACKWARD = (
    Quantity("6", "dS", "dscores", "dS = (P − onehot(y)) / N",
             ("dscores = probs                  no copy: the next two statements edit probs too",
              "dscores[range(num_examples), y] -= 1",
              "dscores /= num_examples"),
             ("dS = loss_fn.backward()",),
             "SoftmaxCrossEntropy.backward (1)  ∂L/∂S = (P − onehot(y)) / N   (layers/losses.py)"),
    Quantity("7", "dW2", "dW2", "dW2 = Hᵀ dS",
             ("dW2 = np.dot(hidden_layer.T, dscores)",),
             ('dH = model[2].backward(dS)       fills model[2].grads["W"]',),
             "Linear.backward (1)  ∂L/∂W = xᵀ dy  with x = H, dy = dS   (layers/linear.py)"),
    Quantity("7", "db2", "db2", "db2 = Σ_n dS[n]",
             ("db2 = np.sum(dscores, axis=0)",),
             ('the same call                    fills model[2].grads["b"]',),
             "Linear.backward (2)  ∂L/∂b = Σ_n dy[n]  with dy = dS   (layers/linear.py)"),
    Quantity("8", "dH", "dhidden", "dH = dS W2ᵀ",
             ("dhidden = np.dot(dscores, W2.T)",),
             ("dH = model[2].backward(dS)       its return value",),
             "Linear.backward (3)  ∂L/∂x = dy Wᵀ  with dy = dS, W = W2   (layers/linear.py)"),
    Quantity("9", "mask", "mask", "1[A > 0], the ReLU switch (0 at A = 0)",
             ("dhidden[hidden_layer <= 0] = 0   keeps dhidden where hidden_layer > 0",),
             ("model[1].backward(np.ones_like(dH))   with dy = 1, (1) returns the switch",),
             "ReLU.backward (1)  ∂L/∂x = dy ⊙ 1[x > 0]  with x = A   (layers/activations.py)"),
    Quantity("9", "dA", "dhidden, masked", "dA = dH ⊙ 1[A > 0]",
             ("dhidden[hidden_layer <= 0] = 0",),
             ("dA = model[1].backward(dH)",),
             "ReLU.backward (1)  ∂L/∂x = dy ⊙ 1[x > 0]  with dy = dH   (layers/activations.py)"),
    Quantity("10", "dW", "dW", "dW = Xᵀ dA",
             ("dW = np.dot(X.T, dhidden)",),
             ('model[0].backward(dA)            fills model[0].grads["W"]',),
             "Linear.backward (1)  ∂L/∂W = xᵀ dy  with x = X, dy = dA   (layers/linear.py)"),
    Quantity("10", "db", "db", "db = Σ_n dA[n]",
             ("db = np.sum(dhidden, axis=0)",),
             ('the same call                    fills model[0].grads["b"]',),
             "Linear.backward (2)  ∂L/∂b = Σ_n dy[n]  with dy = dA   (layers/linear.py)"),
)


def _update(name: str, grad: str, position: int, key: str) -> Quantity:
    return Quantity("11", name, name, f"{name} ← {name} − η {grad}",
                    (f"{name} += -step_size * {grad}",),
                    (f'optimizer.step()                 updates model[{position}].params["{key}"]',),
                    f"SGD.update (4)  θ = θ − η·g  with g = {grad}   (optim/sgd.py)")


UPDATE = (_update("W", "dW", 0, "W"), _update("b", "db", 0, "b"),
          _update("W2", "dW2", 2, "W"), _update("b2", "db2", 2, "b"))

SECTIONS = (
    ("forward: steps 1 to 5", FORWARD),
    ("backward: steps 6 to 10, in the order backprop runs them", BACKWARD),
    ("update: step 11, with η = step_size = lr", UPDATE),
)


# The two sides ------------------------------------------------------------------------------

def build(setup: Setup, seed: int):
    """The two-class setup's data and network: X, y, model, loss_fn, optimizer (randomness from ``seed``,
    or HAND's numbers for the small example)."""
    if setup.by_hand:
        X, y = HAND["X"], HAND["y"]
    else:
        X, y = make_spiral(n_per_class=setup.n_per_class, n_classes=setup.n_classes, noise=setup.noise,
                           rng=seed)
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, setup.hidden, rng=rng, init=setup.init), ReLU(),
                       Linear(setup.hidden, setup.n_classes, rng=rng, init=setup.init))
    if setup.by_hand:
        model.load_state_dict({"0.W": HAND["W"], "0.b": HAND["b"], "2.W": HAND["W2"], "2.b": HAND["b2"]})
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=setup.step_size)
    return X, y, model, loss_fn, optimizer


def loop_step(X, y, initial: dict, step_size: float) -> dict:
    """One iteration of the course loop (``course_step``) from copies of ``initial``, under the keys
    of ``Quantity.key``, plus the aliasing evidence of step 6.

    The loop keeps only what it needs, so four quantities the walkthrough shows are not in its
    record. They are derived below from the record and the initial weights, by the same
    expressions the loop evaluates, so they are the loop's values to the last bit.
    """
    W, b, W2, b2 = (initial[k].copy() for k in ("W", "b", "W2", "b2"))
    record = course_step(X, y, W, b, W2, b2, step_size=step_size)
    seen = {
        "H": record["hidden_layer"], "S": record["scores"], "L": np.asarray(record["data_loss"]),
        "dS": record["dscores"], "dW2": record["dW2"], "db2": record["db2"],
        "dA": record["dhidden"], "dW": record["dW"], "db": record["db"],
        "W": W, "b": b, "W2": W2, "b2": b2,
    }
    # Derived here, not kept by the loop:
    # step 1, A: the loop evaluates np.dot(X, W) + b inside step 2 and never names it
    seen["A"] = np.dot(X, initial["W"]) + initial["b"]
    # step 4, P: probs as step 4 made it; the loop's probs was edited by step 6 (it is dscores now)
    seen["P"] = record["exp_scores"] / np.sum(record["exp_scores"], axis=1, keepdims=True)
    # step 8, dH: dhidden before step 9 masked it, from W2 as it was before the update
    seen["dH"] = np.dot(record["dscores"], initial["W2"].T)
    # step 9, the mask: where dhidden[hidden_layer <= 0] = 0 keeps dhidden
    seen["mask"] = (record["hidden_layer"] > 0).astype(X.dtype)

    # The aliasing, as the loop left it: dscores = probs copied nothing
    seen["dscores is probs"] = record["dscores"] is record["probs"]
    seen["probs after step 6"] = record["probs"]
    return seen


def framework_step(X, y, model, loss_fn, optimizer) -> dict:
    """The same step through the framework, one layer at a time, in backprop order; public API only.

    Every value is recorded as a copy: a layer may reuse its arrays on its next call.
    """
    first, relu, second = model[0], model[1], model[2]
    seen = {}

    A = first.forward(X)
    H = relu.forward(A)
    S = second.forward(H)
    seen["L"] = np.asarray(loss_fn.forward(S, y))
    seen.update(A=A.copy(), H=H.copy(), S=S.copy(), P=loss_fn.probs)

    dS = loss_fn.backward()
    seen["dS"] = dS.copy()
    dH = second.backward(dS)
    seen.update(dH=dH.copy(), dW2=second.grads["W"].copy(), db2=second.grads["b"].copy())
    # with dy = 1, ReLU's formula (1) dy ⊙ 1[x > 0] is the switch itself
    seen["mask"] = relu.backward(np.ones_like(dH)).copy()
    dA = relu.backward(dH)
    seen["dA"] = dA.copy()
    first.backward(dA)                      # returns ∂L/∂X, which nothing needs
    seen.update(dW=first.grads["W"].copy(), db=first.grads["b"].copy())

    optimizer.step()
    seen.update(W=first.params["W"].copy(), b=first.params["b"].copy(),
                W2=second.params["W"].copy(), b2=second.params["b"].copy())
    return seen


@dataclass(frozen=True)
class Row:
    """A quantity with both sides' values."""

    quantity: Quantity
    loop_value: np.ndarray
    framework_value: np.ndarray

    @property
    def difference(self) -> float:
        """max |loop − framework|; infinite when the shapes differ (broadcasting would hide it)."""
        if self.loop_value.shape != self.framework_value.shape:
            return float("inf")
        if self.loop_value.size == 0:
            return 0.0
        return float(np.max(np.abs(self.loop_value - self.framework_value)))

    @property
    def relative(self) -> float:
        """The difference over the loop value's largest entry (0 when both are exactly 0)."""
        scale = float(np.max(np.abs(self.loop_value), initial=0.0))
        if self.difference == 0:
            return 0.0
        return self.difference / scale if scale > 0 else float("inf")

    @property
    def ok(self) -> bool:
        return self.difference <= TOLERANCE and self.relative <= RELATIVE   # False for NaN too


@dataclass(frozen=True)
class Walkthrough:
    """Everything one run of both sides produced, ready to print."""

    setup: Setup
    seed: int
    X: np.ndarray
    y: np.ndarray
    initial: dict               # the weights both sides started from
    loop: dict                  # loop_step's record
    sections: tuple             # (title, tuple of Row) per section

    @property
    def rows(self) -> list[Row]:
        return [row for _, rows in self.sections for row in rows]


def walk_through(setup: Setup = QUESTION, seed: int = 0) -> Walkthrough:
    """Run one step both ways from the same weights, and pair up every quantity."""
    X, y, model, loss_fn, optimizer = build(setup, seed)
    initial = {"W": model[0].params["W"].copy(), "b": model[0].params["b"].copy(),
               "W2": model[2].params["W"].copy(), "b2": model[2].params["b"].copy()}
    loop = loop_step(X, y, initial, setup.step_size)
    framework = framework_step(X, y, model, loss_fn, optimizer)
    sections = tuple(
        (title, tuple(Row(q, np.asarray(loop[q.key]), np.asarray(framework[q.key])) for q in quantities))
        for title, quantities in SECTIONS
    )
    return Walkthrough(setup, seed, X, y, initial, loop, sections)


# The course loop as a numbered listing ------------------------------------------------------

def course_listing() -> tuple[str, ...]:
    """The statements of ``course_step``'s body, comments left out: listing line n is item n − 1."""
    body = inspect.getsource(course_step).split('"""')[2].split("    return {")[0]
    statements = (line.split("#")[0].strip() for line in body.splitlines())
    return tuple(statement for statement in statements if statement)


LISTING = course_listing()


def line_of(code: str) -> int:
    """The number of the first listing line that contains ``code`` (a statement or part of one)."""
    return next(number for number, statement in enumerate(LISTING, 1) if code in statement)


# Printing values ----------------------------------------------------------------------------

def shape_of(array: np.ndarray) -> str:
    """``[800 x 1000]``, ``[1000]``, or ``scalar``."""
    return "[" + " x ".join(map(str, array.shape)) + "]" if array.ndim else "scalar"


def format_difference(difference: float) -> str:
    return "0" if difference == 0 else f"{difference:.1e}"


def format_array(array: np.ndarray, indent: int) -> list[str]:
    """Every entry of ``array``, four decimals."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating):
        array = array + 0.0                 # −0.0 + 0.0 is 0.0: no "-0.0000"
    text = np.array2string(array, precision=4, suppress_small=True, separator=" ",
                           max_line_width=WIDTH - indent, floatmode="fixed")
    return [" " * indent + line for line in text.splitlines()]


def format_compact(array: np.ndarray, indent: int, rows: int = 3, columns: int = 6) -> list[str]:
    """The first ``rows`` rows and ``columns`` columns of ``array``, "…" for the rest."""
    array = np.asarray(array)
    if array.ndim == 0:
        return [" " * indent + f"{array.item():.6f}"]
    shown = array[:rows, :columns] if array.ndim == 2 else array[:columns]
    floats = np.issubdtype(array.dtype, np.floating)
    tiny = floats and 0 < np.max(np.abs(shown)) < 1e-2     # four decimals would show little but 0.0000
    number = "{:10.2e}" if tiny else "{:8.4f}" if floats else "{:3d}"

    def row(values: np.ndarray) -> str:
        text = " ".join(number.format(value + 0) for value in values[:columns])
        return text + ("  …" if len(values) > columns else "")

    if array.ndim == 1:
        return [" " * indent + "[" + row(array) + "]"]
    lines = [" " * indent + "[" + row(values) + "]" for values in array[:rows]]
    if len(array) > rows:
        more = len(array) - rows
        lines.append(" " * indent + f" …  ({more} more {'row' if more == 1 else 'rows'})")
    return lines


def show(array: np.ndarray, indent: int, full: bool) -> list[str]:
    return format_array(array, indent) if full else format_compact(array, indent)


def right_aligned(left: str, right: str) -> str:
    return left + " " * max(1, WIDTH - len(left) - len(right)) + right


# Printing the two-class network: loop against parts ------------------------------------------

def format_walkthrough(walk: Walkthrough, *, show_values: bool) -> list[str]:
    """The walkthrough as lines of at most ``WIDTH`` characters, top to bottom.

    ``show_values``: every number (the small example); otherwise the first rows of each quantity.
    """
    lines = _header(walk) + _listing() + _inputs(walk, show_values)
    for title, rows in walk.sections:
        lines += ["", title, "=" * WIDTH]
        for row in rows:
            if row.quantity.key == "dS":
                lines += _step_6_by_hand(walk, show_values)
            lines += _block(row, show_values)
    lines += [""] + _summary(walk.rows)
    return lines


def _header(walk: Walkthrough) -> list[str]:
    s = walk.setup
    n = walk.X.shape[0]
    if s.by_hand:
        data = [f"data   picked by hand (HAND in explain.py): {n} points one decimal each, on the two arms",
                "       of a spiral, none at the origin; weights with one decimal, biases too.",
                "       With η = 1 every number below can be checked with pencil and paper."]
        model = (f"Linear(2, {s.hidden}), ReLU(), Linear({s.hidden}, {s.n_classes}))"
                 "   weights: HAND's")
    else:
        data = [f"data   make_spiral(n_per_class={s.n_per_class}, n_classes={s.n_classes}, noise={s.noise}, "
                f"rng={walk.seed}): X {shape_of(walk.X)}, y {shape_of(walk.y)}"]
        model = (f"Linear(2, {s.hidden}, init={s.init}), ReLU(), "
                 f"Linear({s.hidden}, {s.n_classes}, init={s.init}))")
    return [
        "One training step of the two-class network, run twice from the same weights:",
        "  loop       the course loop (training/course_loop.py), statement for statement, with its names",
        "  framework  the parts, one layer at a time:",
        f"             model = Sequential({model}",
        f"             loss_fn = SoftmaxCrossEntropy(); optimizer = SGD(model.parameters(), "
        f"lr={s.step_size})",
        *data,
        f"sizes  N = num_examples = {n}, h = {s.hidden}, K = {s.n_classes}, "
        f"η = step_size = lr = {s.step_size}",
        f"       reg = λ = 0: lines {_reg_lines()} add nothing here (the course's setup uses",
        "       reg = 1e-3; docs/course_loop.md)",
        "Per quantity: loop name, formula, shape; the loop's statements with their line numbers in the",
        "listing below; the framework's call; the numbered formula in the framework's docstring that",
        "computes it (its part and file); the values; max |loop − framework|.",
    ]


def _reg_lines() -> str:
    """The listing lines of the regularization (run here with reg = 0): "8, 9, 19 and 20"."""
    numbers = [str(number) for number, statement in enumerate(LISTING, 1) if re.search(r"\breg", statement)]
    return ", ".join(numbers[:-1]) + " and " + numbers[-1]


def _listing() -> list[str]:
    lines = ["", "the loop: course_step in training/course_loop.py, one statement per line, "
             "comments left out", "=" * WIDTH]
    return lines + [f"{number:>4} | {statement}" for number, statement in enumerate(LISTING, 1)]


def _inputs(walk: Walkthrough, full: bool) -> list[str]:
    lines = ["", "inputs, the same on both sides", "=" * WIDTH]
    named = [("X", walk.X), ("y", walk.y)] + [(k, v) for k, v in walk.initial.items()]
    for name, value in named:
        lines.append(f"{name} {shape_of(value)}")
        lines += show(value, 4, full)
    if np.any(walk.loop["A"] == 0):
        lines += ["note: some pre-activations are exactly 0 (a point at the origin has A = b = 0); the",
                  "      ReLU's derivative at 0 is taken as 0, as in the loop (hidden_layer <= 0)."]
    return lines


def _block(row: Row, full: bool) -> list[str]:
    q = row.quantity
    lines = [right_aligned(f"{q.step:>2}  {q.name:<16} {q.formula}", shape_of(row.framework_value))]
    for i, statement in enumerate(q.loop):
        code = statement.split("   ")[0].strip()        # what follows three spaces is a remark
        lines.append(f"    {'loop' if i == 0 else '':<8}{line_of(code):>2} | {statement}")
    lines += [f"    {'framework' if i == 0 else '':<12}{call}" for i, call in enumerate(q.framework)]
    lines.append(f"    {'where':<12}{q.where}")
    lines += show(row.loop_value, 16, full)
    flag = "" if row.ok else "   TOO LARGE"
    lines.append(f"    max |loop − framework| = {format_difference(row.difference)}   "
                 f"relative {format_difference(row.relative)}{flag}")
    return lines


def _step_6_by_hand(walk: Walkthrough, full: bool) -> list[str]:
    """Step 6 for a learner: the aliasing of dscores and probs, and the four states of the array."""
    loop, y = walk.loop, walk.y
    N, K = loop["P"].shape
    onehot = np.eye(K, dtype=int)[y]
    # the loop's lines 11 and 12, replayed on a copy of probs so that each state can be shown
    state = loop["P"].copy()
    state[range(N), y] -= 1
    minus_one = state.copy()
    state /= N
    pairs = " ".join(f"({n}, {label})" for n, label in enumerate(y[:8]))
    pairs += "" if N <= 8 else f" …  ({N} pairs, one per row)"
    n, k = 0, int(y[0])
    numeric, analytic = _central_difference(loop["S"], y, n, k), loop["dS"][n, k]
    minus, divide = line_of("dscores[range(num_examples), y] -= 1"), line_of("dscores /= num_examples")
    return [
        f" 6  step 6 by hand, on the loop's side: lines {line_of('dscores = probs')} to {divide}",
        f"    line {line_of('dscores = probs')}: dscores = probs copies nothing: both names now refer "
        "to one array.",
        f"    dscores is probs  ->  {loop['dscores is probs']}",
        "    (a) probs before the two statements that follow: P = softmax(S)",
        *show(loop["P"], 8, full),
        "    (b) onehot(y): 1 in the true class's column. dscores[range(num_examples), y] selects",
        "        exactly those entries, the pairs (n, y_n):",
        f"        {pairs}",
        *show(onehot, 8, full),
        f"    (c) probs after  line {minus}: dscores[range(num_examples), y] -= 1   →  P − onehot(y)",
        *show(minus_one, 8, full),
        f"    (d) probs after  line {divide}: dscores /= num_examples   →  (P − onehot(y)) / N, N = {N}",
        *show(loop["probs after step 6"], 8, full),
        "    Why −1 and /N: L = (1/N) Σ_n ℓ_n, with ℓ_n = −log P[n, y_n] = −S[n, y_n] + log Σ_j e^S[n, j]",
        "      ∂ℓ_n/∂S[n, k] = P[n, k] − 1[k = y_n]       −1 only in the true class's column",
        "      ∂L/∂S[n, k]   = (P[n, k] − 1[k = y_n]) / N  ℓ_n depends on row n alone; the mean gives 1/N",
        f"    Check entry [{n}, {k}] (true class {k}) by a central difference, ε = 1e-5:",
        f"      (L(S + ε e) − L(S − ε e)) / 2ε = {numeric:.10f}",
        f"      (P[{n}, {k}] − 1) / N              = {analytic:.10f}   "
        f"relative error {abs(numeric - analytic) / abs(analytic):.0e}",
        "",
    ]


def _central_difference(scores: np.ndarray, y: np.ndarray, n: int, k: int, eps: float = 1e-5) -> float:
    """(L(S + ε e_nk) − L(S − ε e_nk)) / 2ε, with the framework's loss on a fresh instance."""
    plus, minus = scores.copy(), scores.copy()
    plus[n, k] += eps
    minus[n, k] -= eps
    loss = SoftmaxCrossEntropy()
    return (loss.forward(plus, y) - loss.forward(minus, y)) / (2 * eps)


def _summary(rows: list[Row]) -> list[str]:
    failed = [row for row in rows if not row.ok]
    if not failed:
        worst = max(row.relative for row in rows)
        return [f"all {len(rows)} differences ≤ {TOLERANCE:.0e}, and ≤ {RELATIVE:.0e} relative to the values "
                f"(largest {format_difference(worst)}):",
                "the parts compute what the loop computes."]
    return [f"FAILED: {row.quantity.name} (step {row.quantity.step}) differs by "
            f"{format_difference(row.difference)} (relative {format_difference(row.relative)}), "
            f"more than {TOLERANCE:.0e} (relative {RELATIVE:.0e})" for row in failed]


# Any model: layer by layer, every gradient checked by central differences -------------------

SPIRAL_POINTS = 8       # points per class of the spiral any other model is explained on
CHECK_ALL = 6000        # up to this many weights, every entry is checked; beyond, a window of each
WINDOW = 12             # the window: the first WINDOW entries along each axis of each weight
# The step of the central differences. 1e-5, not check_gradients' 1e-6: through saturated sigmoid
# layers the gradients are tiny next to L, and rounding in L would then dominate a 1e-6 step.
EPS = 1e-5


@dataclass(frozen=True)
class Subject:
    """A model to explain, the data to explain it on, and where both come from."""

    model: Sequential
    X: np.ndarray
    y: np.ndarray
    source: tuple[str, ...]     # header lines


def model_from_flags(args: argparse.Namespace) -> Subject:
    """The network ``train.py`` builds with the same flags (its defaults for the flags not given)."""
    hidden = args.hidden if args.hidden is not None else SMALL.hidden if args.small else None
    given = {"depth": args.depth, "hidden": hidden, "activation": args.activation, "seed": args.seed,
             "batchnorm": args.batchnorm, "dropout": args.dropout}
    config = train.complete(dict(train.DEFAULTS, **{k: v for k, v in given.items() if v is not None}))
    model = train.build_model(config)
    extras = "".join([", batchnorm"] * config["batchnorm"] + [f", dropout {config['dropout']}"] * bool(
        config["dropout"]))
    source = (f"model  train.build_model: depth {config['depth']}, hidden {config['hidden']}, "
              f"{config['activation']}{extras}, init {config['init']}, seed {config['seed']}",)
    X, y, data = explanation_data(args, n_classes=2, noise=config["noise"])
    return Subject(model, X, y, source=source + data)


def model_from_file(args: argparse.Namespace) -> Subject:
    """The model in a file written by ``model.save`` or train.py: rebuilt from the file's architecture
    JSON, then loaded with its weights. Float32 weights are widened to float64 for the check.
    A run's folder stands for its checkpoint.npz, as with train.py's --resume."""
    path = Path(args.path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    arrays = read_npz(path)
    check_format(path, arrays)
    saved = read_architecture(path, arrays)
    spec = [dict(layer, dtype="float64") if "dtype" in layer else layer for layer in saved]
    try:
        model = Sequential(*build_architecture(spec))
        load_into(model, spec, entries_under(arrays, MODEL))
        config = json.loads(str(arrays["config"])) if "config" in arrays else {}
    except ValueError as exc:           # json's errors are ValueErrors too
        raise ValueError(f"cannot load {path}: {exc}") from exc
    linears = [layer for layer in model if isinstance(layer, Linear)]
    if not linears or linears[0].in_features != 2:
        raise ValueError(f"cannot explain {path}: its model does not take the spiral's 2-D points")
    kind = "a training checkpoint" if config else "a model file"
    run = ", ".join([*(f"{key} {config[key]}" for key in ("depth", "hidden", "activation", "optimizer", "lr")
                       if key in config),
                     *(["batchnorm"] if config.get("batchnorm") else []),
                     *(f"{key} {config[key]}" for key in ("dropout", "reg") if config.get(key))])
    narrow = sorted({layer["dtype"] for layer in saved if layer.get("dtype", "float64") != "float64"})
    source = (f"model  {path}: {kind}",
              "       rebuilt from its architecture JSON (models.architecture.build), weights loaded",
              *([f"       its {', '.join(narrow)} weights widened to float64 for the check"]
                if narrow else []),
              *([f"       the run's config: {run}"] if run else []))
    noise = config.get("noise", 0.5) if isinstance(config, dict) else 0.5
    X, y, data = explanation_data(args, n_classes=linears[-1].out_features, noise=noise)
    return Subject(model, X, y, source=source + data)


def explanation_data(args: argparse.Namespace, *, n_classes: int, noise: float):
    """X, y and a line saying where they come from: HAND's points (--small) or a small spiral."""
    if args.small:
        return HAND["X"], HAND["y"], ("data   HAND's 4 points (in explain.py): picked by hand, none at the "
                                      "origin",)
    X, y = make_spiral(n_per_class=SPIRAL_POINTS, n_classes=n_classes, noise=noise, rng=args.seed)
    away = np.any(X != 0, axis=1)       # a point at the origin puts a ReLU unit with bias 0 on its kink
    return X[away], y[away], (f"data   make_spiral(n_per_class={SPIRAL_POINTS}, n_classes={n_classes}, "
                              f"noise={noise}, rng={args.seed}),",
                              f"       without its points at the origin: X {shape_of(X[away])}",)


def forward_formula(part) -> str:
    """The first line of the part's docstring, after its name: "Affine map: y = x W + b." -> "y = x W + b"."""
    return inspect.getdoc(type(part)).splitlines()[0].split(": ", 1)[-1].rstrip(".")


def backward_formulas(part) -> list[tuple[str, str]]:
    """The numbered formulas of the part's docstring: [("1", "∂L/∂W = xᵀ dy"), ...]."""
    doc = inspect.getdoc(type(part)) or ""
    return [(number, re.split(r"\s{2,}", text.strip())[0])
            for number, text in re.findall(r"^\s*\((\d+)\) (.+)$", doc, re.M)]


def file_of(part) -> str:
    return type(part).__module__.replace(".", "/") + ".py"


class Window:
    """A weight seen through a window, as views: check_gradients perturbs the window's entries in
    place, so the model sees every step, and compares them with the same window of the gradient."""

    def __init__(self, parameter, size: int):
        self.name, self._parameter = parameter.name, parameter
        self._index = tuple(slice(0, size) for _ in parameter.value.shape)

    @property
    def value(self) -> np.ndarray:
        return self._parameter.value[self._index]

    @property
    def grad(self) -> np.ndarray | None:
        grad = self._parameter.grad
        return None if grad is None else grad[self._index]


class Windowed:
    """``model`` for check_gradients, with each weight cut down to a ``Window``."""

    def __init__(self, model: Sequential, size: int):
        self.forward, self.backward = model.forward, model.backward
        self._windows = [Window(p, size) for p in model.parameters()]
        self._model = model

    def __iter__(self):                 # the layers, whose random draws check_gradients holds fixed
        return iter(self._model)

    def parameters(self) -> list[Window]:
        return self._windows


def gradient_check(model: Sequential, X: np.ndarray):
    """check_gradients on the whole model's backward, L = Σ model(X) ⊙ G for a random G (seed 0),
    in float64: (report, what was checked). The loss is checked on its own (check_loss_gradient)."""
    total = sum(p.value.size for p in model.parameters())
    if total <= CHECK_ALL:
        return check_gradients(model, X, eps=EPS, rng=0), f"all {total:,} weights"
    windowed = Windowed(model, WINDOW)
    checked = sum(w.value.size for w in windowed.parameters())
    return (check_gradients(windowed, X, eps=EPS, rng=0),
            f"the first {WINDOW} entries along each axis of each weight, {checked:,} of {total:,}")


def verdict(report, name: str) -> str:
    """gradcheck's own verdict: within what a correct float64 backward achieves, or within the rounding
    of L (``report.passes``)."""
    return f"relative error {report.errors[name]:.1e}  " + ("ok" if report.passes(name) else "WRONG")


def explain_model(subject: Subject, full: bool) -> tuple[list[str], str | None]:
    """One step of ``subject.model``: forward, loss, backward, layer by layer, then the gradient check.
    Returns the lines and the first failure (None when every gradient passes)."""
    model, X, y = subject.model, subject.X, subject.y
    loss_fn = SoftmaxCrossEntropy()

    # forward: x_0 = X, x_{i+1} = model[i].forward(x_i)
    xs = [X]
    for layer in model:
        xs.append(np.array(layer.forward(xs[-1])))
    L = loss_fn.forward(xs[-1], y)
    # backward: dy = ∂L/∂S, then dx = model[i].backward(dy), last layer first
    dS = loss_fn.backward()
    dys, grads, dy = {}, {}, dS
    for position in reversed(range(len(model))):
        layer = model[position]
        dys[position] = dy
        dx = np.array(layer.backward(dy.copy()))
        grads[position] = {"x": dx, **{key: layer.grads[key].copy() for key in layer.params}}
        dy = dx

    report, checked = gradient_check(model, X)
    loss_report = check_loss_gradient(SoftmaxCrossEntropy(), xs[-1], y, eps=EPS)

    N = len(X)
    lines = [f"One training step of this {len(model)}-layer model, explained layer by layer:",
             *[f"  ({position}): {layer!r}" for position, layer in enumerate(model)],
             *subject.source,
             f"loss   SoftmaxCrossEntropy; N = {N} points, K = {xs[-1].shape[1]} classes",
             "There is no course loop for this model: every gradient is checked against float64",
             "central differences instead (layers/gradcheck.py): the loss's backward at S, and the",
             "model's backward on L = Σ model(X) ⊙ G for a random G (by the chain rule, the whole step).",
             "", "inputs", "=" * WIDTH, f"X {shape_of(X)}", *show(X, 4, full), f"y {shape_of(y)}",
             *show(y, 4, full)]

    lines += ["", "forward: x_0 = X, then x_{i+1} = model[i].forward(x_i); the scores S are the last",
              "=" * WIDTH]
    for position, layer in enumerate(model):
        name = type(layer).__name__
        lines.append(f"{position:>2}  {name + '.forward':<20}{forward_formula(layer)}")
        lines.append(right_aligned(f"    x {shape_of(xs[position])} -> y {shape_of(xs[position + 1])}",
                                   file_of(layer)))
        for key, value in layer.params.items():
            lines += [f"    {key} {shape_of(value)}", *show(value, 8, full)]
        lines += [f"    y {shape_of(xs[position + 1])}", *show(xs[position + 1], 8, full)]
    lines.append(right_aligned(f"loss  SoftmaxCrossEntropy.forward  {forward_formula(loss_fn)}",
                               file_of(loss_fn)))
    lines += [f"    P = softmax(S) {shape_of(dS)}", *show(loss_fn.probs, 8, full), f"    L = {L:.6f}"]

    lines += ["", "backward: dy = ∂L/∂S from the loss, then dx = model[i].backward(dy), last layer first",
              "=" * WIDTH]
    (number, formula), = backward_formulas(loss_fn)
    lines.append(right_aligned(f"loss  SoftmaxCrossEntropy.backward ({number})  {formula}", file_of(loss_fn)))
    lines += [f"    ∂L/∂S {shape_of(dS)}   check S: {verdict(loss_report, 'scores')}", *show(dS, 8, full)]
    for position in reversed(range(len(model))):
        layer = model[position]
        lines.append(right_aligned(f"{position:>2}  {type(layer).__name__}.backward, given dy = ∂L/∂y "
                                   f"{shape_of(dys[position])}", file_of(layer)))
        for number, formula in backward_formulas(layer):
            key = re.match(r"∂L/∂(\w+)", formula).group(1)
            value = grads[position][key]
            if key != "x":
                name = f"{position}.{key}"
                note = f"check {name}: {verdict(report, name)}"
            elif position == 0:
                note = f"check x: {verdict(report, 'x')}"
            else:
                note = f"becomes model[{position - 1}]'s dy"
            lines += [f"    ({number}) {formula:<33} {shape_of(value):<12}{note}", *show(value, 8, full)]
    lines += ["update (not run here): θ = θ − η·g for each weight θ   SGD.update (4) in optim/sgd.py"]

    lines += ["", f"gradient check: central differences with eps {report.eps:g}; the loss's backward at S,",
              "the whole model's backward on L = Σ model(X) ⊙ G, G random (seed 0) with the shape of S;",
              f"checked: x and {checked}", "=" * WIDTH]
    # each label with its report and the array's name in it
    checks = {"S (the loss)": (loss_report, "scores"), **{name: (report, name) for name in report.errors}}
    for label, (source, name) in checks.items():
        kinks = source.kinks.get(name, 0)
        straddle = "1 entry straddles" if kinks == 1 else f"{kinks} entries straddle"
        lines.append(f"    {label:<14}{verdict(source, name)}"
                     + (f"   ({straddle} a kink, left out)" if kinks else ""))
        if name in source.notes:        # on a line of its own: with the verdict it would not fit WIDTH
            lines.append(f"{'':<18}({source.notes[name].split(':')[0]})")
    wrong = [(label, source.errors[name]) for label, (source, name) in checks.items()
             if not source.passes(name)]
    if not wrong:
        lines += ["", f"all {len(checks)} gradients agree with central differences "
                  f"(relative error ≤ {OK_BELOW:.0e},",
                  "or within the rounding of L): each backward formula computes its derivative."]
        return lines, None
    name, error = wrong[0]
    lines += ["", f"FAILED: {len(wrong)} of {len(checks)} gradients disagree with central differences"]
    return lines, (f"gradient check failed: ∂L/∂{name} relative error {error:.1e} > {OK_BELOW:.0e}: "
                   "a backward formula is wrong")


# Output that any console can print ------------------------------------------------------------

# Plain ASCII for the math symbols, for consoles that cannot encode them (cp1252, ascii).
PLAIN = str.maketrans({
    "η": "eta", "∂": "d", "Σ": "sum", "⊙": "*", "×": "x", "→": "->", "−": "-", "≤": "<=", "≥": ">=",
    "←": "<-", "ᵀ": "^T", "ε": "eps", "ℓ": "l", "…": "...", "·": "*", "λ": "lambda", "θ": "theta",
    "α": "alpha", "μ": "mu", "²": "^2", "√": "sqrt", "≈": "~", "—": "-",
})


def emit(lines: list[str], stream=None) -> None:
    """Write ``lines`` to ``stream`` (stdout), in plain ASCII if its encoding cannot show them."""
    stream = sys.stdout if stream is None else stream
    text = "\n".join(lines) + "\n"
    try:
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = "".join(line + "\n" for line in plain_lines(lines))
    stream.write(text)


def plain_lines(lines: list[str]) -> list[str]:
    """``lines`` in ASCII (``plain``), with the " = " of neighbouring lines that were aligned still
    aligned: "ε" becomes "eps", so the text before an " = " can grow on one line and not the next."""
    ascii_lines = [plain(line) for line in lines]
    column = [line.find(" = ") if " = " in line else None for line in lines]
    start = 0
    while start < len(lines):
        end = start + 1
        while end < len(lines) and column[start] is not None and column[end] == column[start]:
            end += 1
        if end - start > 1:             # a run of lines whose " = " lined up
            heads = [ascii_line.split(" = ", 1) for ascii_line in ascii_lines[start:end]]
            width = max(len(head) for head, _ in heads)
            ascii_lines[start:end] = [f"{head:<{width}} = {tail}" for head, tail in heads]
        start = end
    return ascii_lines


def plain(line: str) -> str:
    """``line`` in ASCII, still at most WIDTH columns: "Σ" becomes "sum", so the padding that
    right-aligns a shape gives up what the names gained."""
    ascii_line = line.translate(PLAIN).encode("ascii", errors="replace").decode("ascii")
    excess = len(ascii_line) - max(WIDTH, len(line))
    padding = max(re.findall(r" {3,}", ascii_line), key=len, default="")
    if excess > 0 and len(padding) > excess:
        ascii_line = ascii_line.replace(padding, padding[excess:], 1)
    return ascii_line


def fail(message: str) -> int:
    """The one-line error of a failed check or an unreadable file; exit code 1."""
    emit([f"explain.py: error: {message}"], sys.stderr)
    return 1


# Command line -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = runs.ArgumentParser(
        prog="explain.py",
        description="One training step, explained line by line: the two-class network as the monolithic "
                    "loop and as the parts, quantity by quantity; any other model layer by layer, every "
                    "gradient checked by central differences.")
    parser.add_argument("--small", action="store_true",
                        help="4 hand-picked points (and 3 hidden units), printing every number")
    seed = runs.flag_type("seed", lambda value: check_count("seed", value, minimum=0), int,
                          kind="a whole number")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the data and weights (default 0)")
    model = parser.add_argument_group("any model (no loop to compare with: checked by central differences)")
    model.add_argument("--depth", type=train.PARSE["depth"], help="hidden layers, as in train.py (default 1)")
    model.add_argument("--hidden", type=train.PARSE["hidden"],
                       help="units per hidden layer (default 1000, 3 with --small)")
    model.add_argument("--activation", choices=train.CHOICES["activation"], help="default relu")
    model.add_argument("--batchnorm", action="store_const", const=True,
                       help="BatchNorm1d after each hidden Linear, as in train.py")
    model.add_argument("--dropout", type=train.PARSE["dropout"], metavar="P",
                       help="Dropout(P) after each hidden activation, as in train.py")
    model.add_argument("--from", dest="path", metavar="PATH",
                       help="a run's folder, or a checkpoint.npz or model file written by train.py "
                            "or model.save")
    args = parser.parse_args(argv)
    flags = [flag for flag in ("depth", "hidden", "activation", "batchnorm", "dropout")
             if getattr(args, flag) is not None]
    if args.path is not None and flags:
        parser.error(f"argument --from: the file says what the model is; leave out --{flags[0]}")

    if args.path is None and not flags:             # the two-class network: loop against parts
        walk = walk_through(SMALL if args.small else QUESTION, args.seed)
        emit(format_walkthrough(walk, show_values=args.small))
        failed = [row for row in walk.rows if not row.ok]
        if failed:
            return fail(f"the parts differ from the loop in {len(failed)} quantities, first "
                        f"{failed[0].quantity.name} (step {failed[0].quantity.step})")
        return 0

    try:
        subject = model_from_file(args) if args.path is not None else model_from_flags(args)
    except ValueError as exc:
        return fail(str(exc))
    lines, failure = explain_model(subject, full=args.small)
    emit(lines)
    return fail(failure) if failure else 0


if __name__ == "__main__":
    sys.exit(main())
