"""Which code is which formula: one training step, run as the monolithic loop and as the parts.

    python explain.py            the question's network: 800 points, 1000 hidden units, 2 classes
    python explain.py --small    6 points, 3 hidden units, every number printed to check by hand

Both runs start from the same weights. The loop side is one iteration of the course's monolithic
loop, ``course_step`` in training/course_loop.py, written statement for statement with the course's
names (``hidden_layer``, ``dscores = probs``, ``dhidden[hidden_layer <= 0] = 0``,
``W += -step_size * dW``); docs/course_loop.md shows it whole. The framework side calls ``Linear``,
``ReLU``, ``Linear``, ``SoftmaxCrossEntropy`` and ``SGD`` one at a time, in the order backprop runs
them, through their public methods only. For every quantity the walkthrough prints the formula, the
loop's statements, the framework's call, the numbered formula in the framework's docstring that
computes it, the shape, and max |loop − framework|.

Exit code 0 when every difference is at rounding level (≤ 1e-12, and ≤ 1e-10 relative to the
quantity's largest entry), 1 when one is not (the quantity is named), 2 for a bad flag.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from checks import check_count
from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
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


QUESTION = Setup(n_per_class=400, n_classes=2, hidden=1000, init=0.01)
# init 1.0, not the loop's 0.01: with 0.01 the small network's numbers all round to 0.0000
SMALL = Setup(n_per_class=3, n_classes=2, hidden=3, init=1.0)


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
    """The question's data and network: X, y, model, loss_fn, optimizer (randomness from ``seed``)."""
    X, y = make_spiral(n_per_class=setup.n_per_class, n_classes=setup.n_classes, noise=setup.noise,
                       rng=seed)
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, setup.hidden, rng=rng, init=setup.init), ReLU(),
                       Linear(setup.hidden, setup.n_classes, rng=rng, init=setup.init))
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


# Printing -----------------------------------------------------------------------------------

def shape_of(array: np.ndarray) -> str:
    """``[800 x 1000]``, ``[1000]``, or ``scalar``."""
    return "[" + " x ".join(map(str, array.shape)) + "]" if array.ndim else "scalar"


def format_difference(difference: float) -> str:
    return "0" if difference == 0 else f"{difference:.1e}"


def format_array(array: np.ndarray, indent: int) -> list[str]:
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating):
        array = array + 0.0                 # −0.0 + 0.0 is 0.0: no "-0.0000" for a point at the origin
    text = np.array2string(array, precision=4, suppress_small=True, separator=" ",
                           max_line_width=WIDTH - indent, floatmode="fixed")
    return [" " * indent + line for line in text.splitlines()]


def format_walkthrough(walk: Walkthrough, *, show_values: bool) -> list[str]:
    """The walkthrough as lines of at most ``WIDTH`` characters, top to bottom."""
    lines = _header(walk)
    if show_values:
        lines += _inputs(walk)
    for title, rows in walk.sections:
        lines += ["", title, "=" * WIDTH]
        for row in rows:
            if show_values and row.quantity.key == "dS":
                lines += _step_6_by_hand(walk)
            lines += _block(row, show_values)
    lines += [""] + _summary(walk.rows)
    return lines


def _header(walk: Walkthrough) -> list[str]:
    s = walk.setup
    n = walk.X.shape[0]
    return [
        "One training step of the question's network, run twice from the same weights:",
        "  loop       the monolithic loop of the question, statement for statement, with its names",
        "  framework  the parts, one layer at a time:",
        f"             model = Sequential(Linear(2, {s.hidden}, init={s.init}), ReLU(), "
        f"Linear({s.hidden}, {s.n_classes}, init={s.init}))",
        f"             loss_fn = SoftmaxCrossEntropy(); optimizer = SGD(model.parameters(), "
        f"lr={s.step_size})",
        f"data   make_spiral(n_per_class={s.n_per_class}, n_classes={s.n_classes}, noise={s.noise}, "
        f"rng={walk.seed}): X {shape_of(walk.X)}, y {shape_of(walk.y)}",
        f"sizes  N = num_examples = {n}, h = {s.hidden}, K = {s.n_classes}, "
        f"η = step_size = lr = {s.step_size}",
        "Per quantity: loop name, formula, shape; the loop's statements; the framework's call; the",
        "numbered formula in the framework's docstring that computes it; max |loop − framework|.",
    ]


def _inputs(walk: Walkthrough) -> list[str]:
    lines = ["", "inputs, the same on both sides", "=" * WIDTH]
    named = [("X", walk.X), ("y", walk.y)] + [(k, v) for k, v in walk.initial.items()]
    for name, value in named:
        lines.append(f"{name} {shape_of(value)}")
        lines += format_array(value, 4)
    if np.any(walk.loop["A"] == 0):
        lines += ["note: some points sit at the origin (radius 0), where A = 0 W + b = 0 exactly; the",
                  "      ReLU's derivative at 0 is taken as 0, as in the loop (hidden_layer <= 0)."]
    return lines


def _block(row: Row, show_values: bool) -> list[str]:
    q = row.quantity
    title = f"{q.step:>2}  {q.name:<16} {q.formula}"
    shape = shape_of(row.framework_value)
    lines = [title + " " * max(1, WIDTH - len(title) - len(shape)) + shape]
    lines += [f"    {'loop' if i == 0 else '':<12}{statement}" for i, statement in enumerate(q.loop)]
    lines += [f"    {'framework' if i == 0 else '':<12}{call}" for i, call in enumerate(q.framework)]
    lines.append(f"    {'where':<12}{q.where}")
    if show_values:
        lines += format_array(row.loop_value, 16)
    flag = "" if row.ok else "   TOO LARGE"
    lines.append(f"    max |loop − framework| = {format_difference(row.difference)}   "
                 f"relative {format_difference(row.relative)}{flag}")
    return lines


def _step_6_by_hand(walk: Walkthrough) -> list[str]:
    """Step 6 for a learner: the aliasing of dscores and probs, and why −1 and /N are the gradient."""
    loop = walk.loop
    n, k = 0, int(walk.y[0])
    numeric, analytic = _central_difference(loop["S"], walk.y, n, k), loop["dS"][n, k]
    return [
        " 6  step 6 by hand, on the loop's side",
        "    dscores = probs copies nothing: both names now refer to one array.",
        f"    dscores is probs  ->  {loop['dscores is probs']}",
        "    probs before the two statements that follow:",
        *format_array(loop["P"], 8),
        "    probs after  dscores[range(num_examples), y] -= 1  and  dscores /= num_examples:",
        *format_array(loop["probs after step 6"], 8),
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


# Command line -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="explain.py",
        description="One training step as the monolithic loop and as the parts, compared quantity "
                    "by quantity: which code computes which formula.")
    parser.add_argument("--small", action="store_true",
                        help="6 points and 3 hidden units, printing every number to check by hand")
    seed = runs.flag_type("seed", lambda value: check_count("seed", value, minimum=0), int,
                          kind="a whole number")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the data and weights (default 0)")
    args = parser.parse_args(argv)
    walk = walk_through(SMALL if args.small else QUESTION, args.seed)
    print("\n".join(format_walkthrough(walk, show_values=args.small)))
    return 0 if all(row.ok for row in walk.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
