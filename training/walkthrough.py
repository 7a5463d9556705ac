"""One training step, explained line by line: what explain.py prints, and what the notebook shows of it.

``run_step`` takes one step of any model part by part and keeps every value it computes, named
"0.y" (what model[0].forward returned), "2.W" (model[2]'s ∂L/∂W), "L", "P" or "dS" (∂L/∂S).
``walk_through`` runs a step of the course's network (Linear, ReLU, Linear: the two-class network, or
a ``Course`` of a run's data and trained weights) both as the course loop (``course_step``) and as
the parts, from the same weights, and prints each quantity with its formula, the loop's lines, the
part's formula (its class's ``FORWARD``, ``FORMULAS``: never prose), its values and max |loop − parts|.
"""

import inspect
import sys
from collections import namedtuple

import numpy as np

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy, check_loss_gradient
from models import Sequential
from optim import SGD
from training.course_loop import course_initial_weights, course_step
from training.penalty import L2

# Rounding level: a difference passes if it is at most TOLERANCE and at most RELATIVE times the
# quantity's largest entry. Gradients here are about 1e-5, so the absolute bound alone would let a
# float32-sized error (1e-7 relative) through. RELATIVE leaves room for cancellation: db2 is a sum of
# 800 terms of both signs that nearly cancel, and float64 rounding then reaches ~5e-12 of it.
TOLERANCE, RELATIVE = 1e-12, 1e-10
WIDTH = 100             # every printed line fits a terminal this wide (file names aside)
# The step of the central differences. 1e-5, not check_gradients' 1e-6: through saturated sigmoid
# layers the gradients are tiny next to L, and rounding in L would then dominate a 1e-6 step.
EPS = 1e-5

# The small example, picked by hand so that every product can be checked on paper: four points on
# the two arms of a spiral, one decimal each, none at the origin (where A = b for every unit);
# weights with one decimal, chosen so that every pre-activation A is clearly positive or negative
# (no ReLU kink) and the classes differ.
HAND = {
    "X": np.array([[0.5, 1.0], [1.0, -0.5], [-0.5, -1.0], [-1.0, 0.5]]),
    "y": np.array([0, 0, 1, 1]),
    "W": np.array([[1.0, -0.5, 0.2], [0.5, 1.0, -0.3]]),
    "b": np.array([0.1, -0.2, 0.0]),
    "W2": np.array([[0.6, -0.4], [-0.5, 0.3], [0.2, 0.7]]),
    "b2": np.array([0.0, 0.1]),
}


# A quantity of the course loop: its step (as in the README), the loop's name, the formula, its name in
# run_step's record, what finds the loop's statements (line_of), and the parts' call if not cite's.
Quantity = namedtuple("Quantity", "step name formula key loop part", defaults=("",))

UPDATE = "optimizer.step(): SGD.update (4) θ = θ − η·g  (optim/sgd.py)"
QUANTITIES = (
    Quantity("1", "(unnamed)", "A = X W + b", "0.y", ("np.dot(X, W) + b",)),
    Quantity("2", "hidden_layer", "H = max(0, A)", "1.y", ("hidden_layer =",)),
    Quantity("3", "scores", "S = H W2 + b2", "2.y", ("scores =",)),
    Quantity("4", "probs", "P = softmax(S), row by row", "P", ("exp_scores =", "probs ="),
             "loss_fn.probs: P, kept by SoftmaxCrossEntropy.forward (via log-sum-exp)"),
    Quantity("5", "data_loss", "L = (1/N) Σ_n −log P[n, y_n]", "L", ("correct_logprobs =", "data_loss =")),
    Quantity("6", "dscores", "dS = (P − onehot(y)) / N", "dS", ("dscores = probs", "-= 1", "dscores /=")),
    Quantity("7", "dW2", "dW2 = Hᵀ dS", "2.W", ("dW2 =",)),
    Quantity("7", "db2", "db2 = Σ_n dS[n]", "2.b", ("db2 =",)),
    Quantity("8", "dhidden", "dH = dS W2ᵀ", "2.x", ("dhidden =",)),
    Quantity("9", "mask", "1[A > 0], the ReLU switch (0 at A = 0)", "mask", ("dhidden[",),
             "model[1].backward(np.ones_like(dH)): ReLU.backward (1) with dy = 1 is the switch"),
    Quantity("9", "dhidden, masked", "dA = dH ⊙ 1[A > 0]", "1.x", ("dhidden[",)),
    Quantity("10", "dW", "dW = Xᵀ dA", "0.W", ("dW =",)),
    Quantity("10", "db", "db = Σ_n dA[n]", "0.b", ("db =",)),
    Quantity("11", "W", "W ← W − η dW", "new 0.W", ("W += -step",), UPDATE),
    Quantity("11", "b", "b ← b − η db", "new 0.b", ("b += -step",), UPDATE),
    Quantity("11", "W2", "W2 ← W2 − η dW2", "new 2.W", ("W2 += -step",), UPDATE),
    Quantity("11", "b2", "b2 ← b2 − η db2", "new 2.b", ("b2 += -step",), UPDATE),
)
TITLES = {"0.y": "forward: steps 1 to 5", "dS": "backward: steps 6 to 10, in the order backprop runs them",
          "new 0.W": "update: step 11, with η = step_size = lr"}

# The statements of course_step's body, comments left out: listing line n is LISTING[n - 1].
BODY = inspect.getsource(course_step).split('"""')[2].split("    return {")[0]
LISTING = tuple(statement for line in BODY.splitlines() if (statement := line.split("#")[0].strip()))


def line_of(code: str) -> int:
    """The number of the first listing line that contains ``code``."""
    return next(number for number, statement in enumerate(LISTING, 1) if code in statement)


# One step, part by part ---------------------------------------------------------------------

def run_step(model: Sequential, X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """One step of ``model`` with SoftmaxCrossEntropy, one call at a time (no update). Every value, as
    a copy (a part may reuse its arrays), in the order computed: "i.y" what model[i].forward returned,
    then "L", "P", "dS" = ∂L/∂S, then from the last layer each one's "i.W", "i.b", … and "i.x" = ∂L/∂x."""
    loss_fn = SoftmaxCrossEntropy()
    seen, x = {}, X
    for i, layer in enumerate(model):
        x = seen[f"{i}.y"] = np.array(layer.forward(x))
    seen.update(L=np.asarray(loss_fn.forward(x, y)), P=loss_fn.probs, dS=loss_fn.backward())
    dy = seen["dS"]
    for i in reversed(range(len(model))):
        dy = np.array(model[i].backward(dy.copy()))
        seen.update({f"{i}.{key}": model[i].grads[key].copy() for key in model[i].params})
        seen[f"{i}.x"] = dy
    return seen


def cite(key: str, model: Sequential) -> tuple[str, str, str]:
    """Who computes run_step's value ``key``, by which formula of its class, and in which file:
    "2.W" -> ("model[2]", "Linear.backward (1) ∂L/∂W = xᵀ dy", "layers/linear.py")."""
    owner, name = key.split(".") if "." in key else ("loss_fn", {"L": "y", "dS": "S", "P": "P"}[key])
    part = SoftmaxCrossEntropy if owner == "loss_fn" else type(model[int(owner)])
    found = [f"backward ({n}) {formula}" for n, formula in part.FORMULAS.items() if f"∂L/∂{name} " in formula]
    text = f"forward {part.FORWARD}" if name == "y" else found[0] if found else "forward, P = softmax(S)"
    who = owner if owner == "loss_fn" else f"model[{owner}]"
    return who, f"{part.__name__}.{text}", part.__module__.replace(".", "/") + ".py"


def shape(array) -> str:
    """``[800 x 1000]``, ``[1000]`` or ``scalar``."""
    return "[" + " x ".join(map(str, np.shape(array))) + "]" if np.ndim(array) else "scalar"


def values(array, full: bool, indent: int = 10, rows: dict | None = None) -> list[str]:
    """``array``'s entries: every one (``full``), or its corners, the first and last two along each axis,
    or (``rows``, {row: its class}, of an array of one row per point) those rows, each labelled. Four
    decimals, or three significant digits when every entry is below 0.01 or one is 1e4 or more."""
    array = array + 0.0 if array.dtype.kind == "f" else array     # −0.0 + 0.0 is 0.0: no "-0.0000"
    largest = np.max(np.abs(array), initial=0.0) if array.dtype.kind == "f" else 1.0
    style = "{: .4f}" if 1e-2 <= largest < 1e4 or largest == 0 else "{: .2e}"
    kwargs = dict(max_line_width=WIDTH - indent, threshold=sys.maxsize if full else 5 if rows else 30,
                  edgeitems=2, formatter={"float_kind": style.format})
    if rows and not full:
        return [" " * indent + f"row {n:>4} (class {k})  {np.array2string(array[n], **kwargs)}"
                for n, k in rows.items()]
    return [" " * indent + line for line in np.array2string(array, **kwargs).splitlines()]


def inputs(arrays: dict, full: bool, rows: dict | None = None) -> list[str]:
    """Each array's name and shape, then its values (of X, its ``rows``)."""
    return [line for name, x in arrays.items()
            for line in (f"{name} {shape(x)}", *values(x, full, 4, rows if name == "X" else None))]


def shown_rows(y) -> dict[int, int]:
    """Each class's second and last row, {row: class} (a spiral's first point is at the origin)."""
    rows = [np.flatnonzero(y == k) for k in np.unique(y)]
    return {int(n): int(y[n]) for ns in rows for n in ns[[min(1, len(ns) - 1), -1]]}


# The two-class network: the course loop against the parts -------------------------------------

# A quantity with both sides' values, max |loop − parts|, and whether that is at rounding level.
Row = namedtuple("Row", "quantity loop parts difference ok")


def compare(loop: np.ndarray, parts: np.ndarray) -> tuple[float, bool]:
    """max |loop − parts|, infinite when the shapes differ (broadcasting would hide it), and whether it
    is at rounding level: ≤ TOLERANCE and ≤ RELATIVE × the loop value's largest entry (False for NaN)."""
    same = loop.shape == parts.shape
    difference = float(np.max(np.abs(loop - parts), initial=0.0)) if same else float("inf")
    return difference, difference <= min(TOLERANCE, RELATIVE * np.max(np.abs(loop), initial=0.0))


def loop_step(X, y, initial: dict, lr: float = 1.0, reg: float = 0.0) -> dict:
    """One iteration of the course loop from copies of ``initial`` (step_size ``lr``), its values by
    run_step's names. Four the loop does not keep are derived from its record and the initial weights by
    the expressions the loop evaluates: they are the loop's values to the last bit."""
    W, b, W2, b2 = (initial[name].copy() for name in ("W", "b", "W2", "b2"))
    record = course_step(X, y, W, b, W2, b2, step_size=lr, reg=reg)
    return {"1.y": record["hidden_layer"], "2.y": record["scores"], "L": np.asarray(record["data_loss"]),
            "dS": record["dscores"], "2.W": record["dW2"], "2.b": record["db2"], "1.x": record["dhidden"],
            "0.W": record["dW"], "0.b": record["db"], "new 0.W": W, "new 0.b": b, "new 2.W": W2,
            "new 2.b": b2,
            "0.y": np.dot(X, initial["W"]) + initial["b"],         # step 1, inside step 2's statement
            # probs as step 4 made it: the loop's probs was edited by step 6 (it is dscores now)
            "P": record["exp_scores"] / np.sum(record["exp_scores"], axis=1, keepdims=True),
            "2.x": np.dot(record["dscores"], initial["W2"].T),     # dhidden before step 9's mask
            "mask": (record["hidden_layer"] > 0).astype(X.dtype),  # where step 9 keeps dhidden
            "dscores is probs": record["dscores"] is record["probs"]}


# The step to explain: points, weights before it (by the loop's names), where they come from, step, lr, reg.
Course = namedtuple("Course", "X y weights about step lr reg", defaults=(0, 1.0, 0.0))
NAMES = {"W": "0.W", "b": "0.b", "W2": "2.W", "b2": "2.b"}             # the loop's names: the parts'
PER_POINT = ("0.y", "1.y", "2.y", "P", "dS", "2.x", "mask", "1.x")     # one row per point: rows shown


def two_class(small: bool = False, seed: int = 0) -> Course:
    """The two-class network's first step: 800 spiral points (``seed``), 1000 hidden units, weights
    0.01 · N(0, 1) (``seed``); ``small``: HAND's 4 points and weights, 3 hidden units."""
    if small:
        X, y, weights = HAND["X"], HAND["y"], {name: HAND[name] for name in NAMES}
        data = "picked by hand (HAND in training/walkthrough.py), none at the origin"
    else:
        X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=seed)
        weights = course_initial_weights(2, 1000, 2, np.random.default_rng(seed))    # Linear's init=0.01
        data = f"make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng={seed})"
    init = [] if small else ["init   the loop's 0.01·N(0, 1), not train.py's He init (--from explains a run)"]
    return Course(X, y, weights, [f"data   {data}: X {shape(X)}, y {shape(y)}", *init])


def course_model(weights: dict) -> Sequential:
    """Linear, ReLU, Linear with the course loop's ``weights`` (W, b, W2, b2)."""
    (D, h), K = weights["W"].shape, weights["W2"].shape[1]
    model = Sequential(Linear(D, h), ReLU(), Linear(h, K))
    model.load_state_dict({key: weights[name] for name, key in NAMES.items()})
    return model


def walk_through(small=False, seed=0, course: Course | None = None) -> tuple[list[Row], list[str]]:
    """One step of the course's network both ways from the same weights, every quantity paired, and the
    printout: ``course``'s step, by default the two-class network's first (``two_class``). ``small``:
    every value printed (else corners, and of each array of one row per point, rows of each class)."""
    course = course or two_class(small, seed)
    X, y, initial, lr, reg = course.X, course.y, course.weights, course.lr, course.reg
    (D, h), K = initial["W"].shape, initial["W2"].shape[1]
    model = course_model(initial)
    loop = loop_step(X, y, initial, lr, reg)
    parts = run_step(model, X, y)
    parts["mask"] = model[1].backward(np.ones_like(parts["2.x"]))   # with dy = 1, ReLU's (1) is the switch
    if reg:
        L2(reg).add_gradient(model.parameters())                   # lines 19 and 20: dW += λ W
        parts.update({"0.W": model[0].grads["W"].copy(), "2.W": model[2].grads["W"].copy()})
    SGD(model.parameters(), lr=lr).step()
    parts.update({f"new {name}": value for name, value in model.state_dict().items()})
    pairs = [(q, np.asarray(loop[q.key]), np.asarray(parts[q.key])) for q in QUANTITIES]
    rows = [Row(q, one, other, *compare(one, other)) for q, one, other in pairs]
    reg_lines = [str(number) for number, statement in enumerate(LISTING, 1) if "reg" in statement]
    shown = shown_rows(y)
    lines = ["One training step of the course's network, run twice from the same weights:",
             "  loop   course_step in training/course_loop.py: the course's loop, statement for statement",
             f"  parts  model = Sequential(Linear({D}, {h}), ReLU(), Linear({h}, {K})), one part at a time,",
             f"         loss_fn = SoftmaxCrossEntropy(), optimizer = SGD(model.parameters(), lr={lr})",
             *course.about, f"sizes  N = num_examples = {len(X)}, h = {h}, K = {K}, η = step_size = lr = "
             f"{lr}",
             f"       reg = λ = {reg:g}: lines {', '.join(reg_lines[:-1])} and {reg_lines[-1]} " + (
                 "add ½λ(ΣW² + ΣW2²) to L and λW, λW2 to dW, dW2" if reg
                 else "add nothing here (the course uses reg = 1e-3)"),
             *([] if small else ["rows   of the arrays of one row per point: each class's second and last"]),
             "", "the loop, comments left out", "=" * WIDTH,
             *(f"{number:>4} | {statement}" for number, statement in enumerate(LISTING, 1)),
             "", "inputs, the same on both sides", "=" * WIDTH,
             *inputs({"X": X, "y": y, **initial}, small, shown)]
    for q, expected, got, difference, ok in rows:
        if q.key in TITLES:
            lines += ["", TITLES[q.key], "=" * WIDTH,
                      f"step  {'loop name':<17}{'formula':<40}{'shape':>14}  max |loop − parts|"]
        lines += step_6_by_hand(loop, y, small, shown, course.step) if q.key == "dS" else []
        flag = "" if ok else f"  TOO LARGE (> {TOLERANCE:.0e}, or > {RELATIVE:.0e} relative)"
        lines.append(f"{q.step:>2}    {q.name:<17}{q.formula:<40}{shape(got):>14}  {difference:.1e}"
                     + flag)
        for i, number in enumerate(map(line_of, q.loop)):
            lines.append(f"    {'loop' if i == 0 else '':<6}{number:>2} | {LISTING[number - 1]}")
        part = q.part or "{}: {}  ({})".format(*cite(q.key, model))
        lines += [f"    parts {part}", *values(expected, small, rows=shown if q.key in PER_POINT else None)]
        lines += update(q.name, initial[q.name], loop[q.key[4:]], expected, lr) if q.key[:4] == "new " else []
    failed = [f"FAILED: {row.quantity.name} (step {row.quantity.step})" for row in rows if not row.ok]
    return rows, lines + ["", *failed] if failed else lines + [
        "", f"all {len(rows)} differences ≤ {TOLERANCE:.0e}, and ≤ {RELATIVE:.0e} relative to the values:",
        "the parts compute what the loop computes."]


def update(name: str, old, g, new, lr: float) -> list[str]:
    """old − η·g = new, for the first entry and the one with the largest |g|."""
    lines = []
    for i in dict.fromkeys([0, int(np.argmax(np.abs(g)))]):
        where, gradient = ", ".join(map(str, np.unravel_index(i, old.shape))), f"{g.flat[i]:.6g}"
        gradient = f"({gradient})" if g.flat[i] < 0 else gradient
        lines.append(f"          {name}[{where}]:  {old.flat[i]:.6g} − {lr} · {gradient} = {new.flat[i]:.6g}")
    return lines


def step_6_by_hand(loop: dict, y: np.ndarray, full: bool, rows: dict, step: int) -> list[str]:
    """Step 6 for a learner, on the loop's side: the aliasing of dscores and probs, the array's four
    states, why −1 and /N, and one entry checked by a central difference."""
    P = loop["P"]
    Y = np.eye(P.shape[1], dtype=int)[y]          # onehot(y)
    first, minus, divide = line_of("dscores = probs"), line_of("-= 1"), line_of("dscores /=")
    report = check_loss_gradient(SoftmaxCrossEntropy(), loop["2.y"], y, eps=EPS)
    states = {f"(a) probs before line {minus}: P = softmax(S)": P,
              f"(b) onehot(y): 1 in each row's true class, the entries (n, y_n) line {minus} selects": Y,
              f"(c) probs after line {minus}, dscores[range(num_examples), y] -= 1:  P − onehot(y)": P - Y,
              f"(d) probs after line {divide}, dscores /= num_examples:  (P − onehot(y)) / N": loop["dS"]}
    return [f" 6    step 6 by hand, on the loop's side: lines {first} to {divide}",
            f"      line {first}, dscores = probs, copies nothing: both names refer to one array, so lines "
            f"{minus} and {divide}",
            f"      edit probs too. dscores is probs  ->  {loop['dscores is probs']}",
            *(line for label, state in states.items()
              for line in (f"      {label}", *values(state, full, rows=rows))),
            "      Why: L = (1/N) Σ_n ℓ_n, ℓ_n = −log P[n, y_n] = −S[n, y_n] + log Σ_j e^S[n, j], so",
            "      ∂L/∂S[n, k] = (P[n, k] − 1[k = y_n]) / N: −1 in the true class's column, 1/N for the mean",
            *(["      At the initial weights every score is near 0, so P ≈ 1/K: --step 100 explains a step",
               "      after 100 training steps, where P has moved."] if not (step or full) else []),
            f"      central differences of L (check_loss_gradient) agree: {verdict(report, 'scores')}", ""]


def verdict(report, name: str) -> str:
    """gradcheck's verdict on one array: ok within what a correct float64 backward achieves or within
    the rounding of L (``report.passes``), else its word for how far off (suspicious, WRONG)."""
    word = "ok" if report.passes(name) else report.verdict(name)
    return f"relative error {report.errors[name]:.1e}  {word}"
