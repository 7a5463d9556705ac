"""The mistakes the checker knows, each a wrong formula at one step with its lesson.

A loop mistake replaces one stage of the backward pass; the checker computes the stages in order
(``STAGES``), so a mistake at step 6 flows through the correct formulas of steps 7 to 10, as it does
in a learner's code. ``v`` is the namespace of what is known so far: the inputs X, y, W, b, W2, b2,
H (hidden_layer), P (probs), N, K, reg, onehot, and every stage already computed.

The loop's stages and what the learner returns (training/course_loop.py, the README's table):

    dscores  dS = (P − onehot(y)) / N      dscores = probs; dscores[range(N), y] -= 1; dscores /= N
    dW2      Hᵀ dS                          dW2 = np.dot(hidden_layer.T, dscores)
    db2      Σ_n dS[n]                      db2 = np.sum(dscores, axis=0)
    dH       dS W2ᵀ                         dhidden = np.dot(dscores, W2.T)
    dhidden  dA = dH ⊙ 1[A > 0]             dhidden[hidden_layer <= 0] = 0
    dW       Xᵀ dA                          dW = np.dot(X.T, dhidden)
    db       Σ_n dA[n]                      db = np.sum(dhidden, axis=0)
    rW2, rW  λ W2, λ W (rb2, rb: 0)         dW2 += reg * W2; dW += reg * W

returned: dscores, dW2 + rW2, db2 + rb2, dhidden, dW + rW, db + rb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

QUANTITIES = ("dscores", "dW2", "db2", "dhidden", "dW", "db")     # the loop's order: earliest first
GRADIENTS = ("dW2", "db2", "dW", "db")
# where each stage's result is returned
QUANTITY_OF = {"dscores": "dscores", "dW2": "dW2", "db2": "db2", "dH": "dhidden", "dhidden": "dhidden",
               "dW": "dW", "db": "db", "rW2": "dW2", "rb2": "db2", "rW": "dW", "rb": "db"}

STAGES = {
    "dscores": lambda v: (v.P - v.onehot) / v.N,
    "dW2": lambda v: v.H.T @ v.dscores,
    "db2": lambda v: v.dscores.sum(axis=0),
    "dH": lambda v: v.dscores @ v.W2.T,
    "dhidden": lambda v: v.dH * (v.H > 0),
    "dW": lambda v: v.X.T @ v.dhidden,
    "db": lambda v: v.dhidden.sum(axis=0),
    "rW2": lambda v: v.reg * v.W2 if v.reg else 0.0,      # no reg, no line that adds it
    "rb2": lambda v: 0.0,
    "rW": lambda v: v.reg * v.W if v.reg else 0.0,
    "rb": lambda v: 0.0,
}

# the loop's line and the formula of each quantity, for messages
LINES = {
    "dscores": ("dscores = probs; dscores[range(num_examples), y] -= 1; dscores /= num_examples",
                "dS = (P − onehot(y)) / N (step 6)"),
    "dW2": ("dW2 = np.dot(hidden_layer.T, dscores)", "dW2 = Hᵀ dS (step 7)"),
    "db2": ("db2 = np.sum(dscores, axis=0)", "db2 = Σ_n dS[n] (step 7)"),
    "dhidden": ("dhidden = np.dot(dscores, W2.T); dhidden[hidden_layer <= 0] = 0",
                "dA = (dS W2ᵀ) ⊙ 1[A > 0] (steps 8, 9)"),
    "dW": ("dW = np.dot(X.T, dhidden)", "dW = Xᵀ dA (step 10)"),
    "db": ("db = np.sum(dhidden, axis=0)", "db = Σ_n dA[n] (step 10)"),
}
REG_LINES = {"dW2": ("dW2 += reg * W2", "dW2 = Hᵀ dS + λ W2 (step 10)"),
             "dW": ("dW += reg * W", "dW = Xᵀ dA + λ W (step 10)"),
             "db2": ("(nothing: b2 is not in R)", "db2 = Σ_n dS[n]"),
             "db": ("(nothing: b is not in R)", "db = Σ_n dA[n]")}


@dataclass(frozen=True)
class Mistake:
    """One wrong formula: ``changes`` replaces stages of the backward pass (loop) or quantities of a
    layer's backward (layer); ``what`` says what the learner's quantity then is, ``why`` the lesson."""

    id: str
    quantity: str           # where the mistake is: the earliest quantity it changes
    changes: dict = field(hash=False)
    what: str
    line: str               # the line it should be, and its formula
    formula: str
    why: str
    needs_reg: bool = False


def loop(id, stage, change, what, why, *, needs_reg=False, extra=None):
    """A loop mistake at ``stage`` (``extra``: further stages it changes, as a flipped sign does)."""
    quantity = QUANTITY_OF[stage]
    line, formula = (REG_LINES if stage.startswith("r") else LINES)[quantity]
    return Mistake(id, quantity, {stage: change, **(extra or {})}, what, line, formula, why, needs_reg)


MEAN = "L is the mean of N losses, so each row's gradient carries 1/N, once"
SUM_OVER_ROWS = ("{b} is added to every one of the N rows, so its gradient is the sum of their gradients "
                 "over axis 0, one number per {unit}: [{size}]")
SHAPE = "a gradient has its weight's shape: {w} is [{shape}], so {formula}"
SWITCH = ("the ReLU's switch is 1[A > 0], whether the unit was on in the forward pass; an off unit outputs 0 "
          "whatever its input, so no gradient passes it, and an on unit passes the gradient unchanged")
REG = "R = (λ/2)(ΣW² + ΣW2²), so ∂R/∂W = λ W: the ½ and the 2 of the square cancel"

LOOP = [
    loop("dscores-missing-minus-one", "dscores", lambda v: v.P / v.N,
         "P / N: the probabilities without the − onehot(y), so it never pulls the true class up",
         "∂(−log P[n, y_n])/∂S[n, k] = P[n, k] − 1[k = y_n]: the 1 comes from the log of the true class's "
         "probability; dscores[range(num_examples), y] -= 1 subtracts it at (n, y_n), one entry a row"),
    loop("dscores-missing-divide-by-N", "dscores", lambda v: v.P - v.onehot,
         "P − onehot(y), without the 1/N: every gradient comes out N times too big", MEAN),
    loop("dscores-divided-twice", "dscores", lambda v: (v.P - v.onehot) / v.N**2,
         "(P − onehot(y)) / N², divided by N twice: every gradient comes out N times too small",
         MEAN + ": dscores /= num_examples once, and no second /N later"),
    loop("dscores-minus-one-everywhere", "dscores", lambda v: (v.P - 1) / v.N,
         "(P − 1) / N: 1 subtracted from every entry (dscores -= 1, or dscores[:, y] -= 1, which takes "
         "whole columns), not only at the true class",
         "onehot(y) is 1 only at (n, y_n): dscores[range(num_examples), y] -= 1 picks one entry a row, "
         "the true class's"),
    loop("dscores-divided-by-K", "dscores", lambda v: (v.P - v.onehot) / v.K,
         "(P − onehot(y)) / K: divided by the number of classes K instead of the number of examples N",
         MEAN + "; num_examples = X.shape[0] is N, probs.shape[1] is K"),
    loop("sign-flipped", "dscores", lambda v: (v.onehot - v.P) / v.N,
         "(onehot(y) − P) / N, the gradient with its sign flipped: a step along it climbs the loss "
         "(gradient ascent)",
         "−log P[n, y_n] falls as the true class's score rises, so dS[n, y_n] = (P[n, y_n] − 1)/N < 0; "
         "the update θ ← θ − η dθ goes downhill only with the true gradient"),
    loop("sign-flipped", "dscores", lambda v: (v.onehot - v.P) / v.N,
         "(onehot(y) − P) / N and − λ W: every gradient with its sign flipped, the reg terms too: a step "
         "along it climbs the loss (gradient ascent)",
         "−log P[n, y_n] falls as the true class's score rises, so dS[n, y_n] = (P[n, y_n] − 1)/N < 0; "
         "the update θ ← θ − η dθ goes downhill only with the true gradient",
         needs_reg=True, extra={"rW2": lambda v: -v.reg * v.W2, "rW": lambda v: -v.reg * v.W}),
    loop("dW2-transposed", "dW2", lambda v: v.dscores.T @ v.H,
         "dscoresᵀ H, of shape [K x h]: the transpose of dW2",
         SHAPE.format(w="W2", shape="h x K", formula="dW2 = Hᵀ dS, [h x N] times [N x K]")),
    loop("dW2-missing-transpose", "dW2", lambda v: v.H @ v.dscores,
         "hidden_layer times dscores, without the .T: [N x h] times [N x K] does not line up",
         SHAPE.format(w="W2", shape="h x K", formula="dW2 = Hᵀ dS, [h x N] times [N x K]")),
    loop("db2-wrong-axis", "db2", lambda v: v.dscores.sum(axis=1),
         "Σ_k dscores[n, k], summed over axis 1: one number per example, shape [N], not per class",
         SUM_OVER_ROWS.format(b="b2", unit="class", size="K")),
    loop("db2-mean-not-sum", "db2", lambda v: v.dscores.mean(axis=0),
         "the mean of dscores over the rows: N times too small",
         SUM_OVER_ROWS.format(b="b2", unit="class", size="K") + "; the 1/N is already in dscores"),
    loop("dhidden-missing-transpose", "dH", lambda v: v.dscores @ v.W2,
         "dscores times W2, without the .T: [N x K] times [h x K] does not line up",
         "dH = dS W2ᵀ: [N x K] times [K x h] gives one gradient per example and hidden unit, [N x h]"),
    Mistake("dhidden-before-divide-by-N", "dhidden", {"dH": lambda v: (v.N * v.dscores) @ v.W2.T},
            "N times dA: dscores W2ᵀ taken before dscores /= num_examples, so dW and db come out N "
            "times too big while dW2 and db2, computed after the /N, are right",
            "dscores /= num_examples; dhidden = np.dot(dscores, W2.T); "
            "dhidden[hidden_layer <= 0] = 0",
            "dA = (dS W2ᵀ) ⊙ 1[A > 0] (steps 8, 9), from dscores after its /N",
            "statement order. The loop divides dscores by N (step 6) before step 8 reads it; "
            "`dscores /= num_examples` edits dscores in place, so a dhidden computed earlier never "
            "gets the 1/N"),
    loop("relu-mask-from-gradient", "dhidden", lambda v: v.dH * (v.dH > 0),
         "dscores W2ᵀ zeroed where the gradient is ≤ 0 (dhidden[dhidden <= 0] = 0), not where the unit "
         "was off", SWITCH + "; the gradient's sign says nothing about it"),
    loop("relu-mask-inverted", "dhidden", lambda v: v.dH * (v.H <= 0),
         "dscores W2ᵀ kept where the unit was off and zeroed where it was on: the switch inverted", SWITCH),
    loop("relu-mask-missing", "dhidden", lambda v: v.dH,
         "dscores W2ᵀ with no ReLU switch: gradient flows back through units that were off "
         "(dhidden[hidden_layer < 0] = 0 does nothing: hidden_layer = max(0, ·) is never below 0)", SWITCH),
    loop("relu-mask-times-activation", "dhidden", lambda v: v.dH * v.H,
         "dscores W2ᵀ multiplied by hidden_layer, the unit's value, instead of by the 0/1 switch",
         "the ReLU's slope is 1 where the unit is on, whatever its value, and 0 where it is off: "
         "dhidden[hidden_layer <= 0] = 0 multiplies by that slope"),
    loop("dW-transposed", "dW", lambda v: v.dhidden.T @ v.X,
         "dhiddenᵀ X, of shape [h x D]: the transpose of dW",
         SHAPE.format(w="W", shape="D x h", formula="dW = Xᵀ dA, [D x N] times [N x h]")),
    loop("dW-missing-transpose", "dW", lambda v: v.X @ v.dhidden,
         "X times dhidden, without the .T: [N x D] times [N x h] does not line up",
         SHAPE.format(w="W", shape="D x h", formula="dW = Xᵀ dA, [D x N] times [N x h]")),
    loop("dW-from-hidden-layer", "dW", lambda v: v.H.T @ v.dhidden,
         "hidden_layerᵀ dhidden, of shape [h x h]: the dW2 line copied with dhidden, but the first layer's "
         "input is X", "a weight's gradient is its layer's input, transposed, times the gradient at its "
         "output: dW = Xᵀ dA, as dW2 = Hᵀ dS"),
    loop("dW-before-mask", "dW", lambda v: v.X.T @ v.dH,
         "Xᵀ (dscores W2ᵀ), taken before the ReLU switch",
         "the loop masks dhidden in place (step 9) before step 10 reads it: dW needs the masked dhidden"),
    loop("db-wrong-axis", "db", lambda v: v.dhidden.sum(axis=1),
         "Σ_j dhidden[n, j], summed over axis 1: one number per example, shape [N], not per hidden unit",
         SUM_OVER_ROWS.format(b="b", unit="hidden unit", size="h")),
    loop("db-mean-not-sum", "db", lambda v: v.dhidden.mean(axis=0),
         "the mean of dhidden over the rows: N times too small",
         SUM_OVER_ROWS.format(b="b", unit="hidden unit", size="h") + "; the 1/N is already in dscores"),
    loop("db-before-mask", "db", lambda v: v.dH.sum(axis=0),
         "Σ_n (dscores W2ᵀ)[n], taken before the ReLU switch",
         "the loop masks dhidden in place (step 9) before step 10 reads it: db needs the masked dhidden"),
]

for _name, _stage in (("W2", "rW2"), ("W", "rW")):
    LOOP += [
        loop("reg-missing", _stage, lambda v: 0.0, f"d{_name} without the reg term λ {_name}",
             f"the loss is L + R and R = (λ/2)(ΣW² + ΣW2²) holds {_name}, so ∂R/∂{_name} = λ {_name} "
             "joins the data gradient", needs_reg=True),
        loop("reg-factor", _stage, lambda v, w=_name: 2 * v.reg * getattr(v, w),
             f"d{_name} with 2λ {_name} for its reg term, instead of λ {_name}", REG, needs_reg=True),
        loop("reg-factor", _stage, lambda v, w=_name: 0.5 * v.reg * getattr(v, w),
             f"d{_name} with ½λ {_name} for its reg term, instead of λ {_name}", REG, needs_reg=True),
        loop("reg-sign-flipped", _stage, lambda v, w=_name: -v.reg * getattr(v, w),
             f"d{_name} − λ {_name}: the reg term subtracted", "R grows with every weight's square, so its "
             f"gradient λ {_name} points away from 0 and the update θ ← θ − η dθ pulls the weights back "
             "towards 0", needs_reg=True),
        loop("reg-divided-by-N", _stage, lambda v, w=_name: v.reg * getattr(v, w) / v.N,
             f"d{_name} with λ {_name} / N for its reg term", "R is not a mean over the examples: it has no "
             f"1/N, so its gradient is λ {_name}, added after the data gradient's /N", needs_reg=True),
    ]
for _name, _stage in (("b2", "rb2"), ("b", "rb")):
    LOOP.append(loop("reg-on-bias", _stage, lambda v, w=_name: v.reg * getattr(v, w),
                     f"d{_name} + λ {_name}: a reg term on a bias", "R = (λ/2)(ΣW² + ΣW2²) holds the "
                     "weights only: the biases are not regularised, so their gradients have no λ term",
                     needs_reg=True))


# Layers: a mistake is a function of the layer's state (c: x, W, dy, mask, y_out, P, labels, N) giving
# one quantity ("x" or a parameter name) ---------------------------------------------------------------

def layer(id, quantity, change, what, formula, why):
    return Mistake(id, quantity, {quantity: change}, what, "", formula, why)


LINEAR_SHAPE = SHAPE.format(w="W", shape="D_in x D_out",
                            formula="∂L/∂W = xᵀ dy, [D_in x N] times [N x D_out]")
LAYER = {
    "Linear": [
        layer("linear-dW-transposed", "W", lambda c: c.dy.T @ c.x, "dyᵀ x, of shape [D_out x D_in]: the "
              "transpose of ∂L/∂W", "(1) ∂L/∂W = xᵀ dy", LINEAR_SHAPE),
        layer("linear-dW-missing-transpose", "W", lambda c: c.x @ c.dy, "x times dy, without the .T: "
              "[N x D_in] times [N x D_out] does not line up", "(1) ∂L/∂W = xᵀ dy", LINEAR_SHAPE),
        layer("linear-db-mean-not-sum", "b", lambda c: c.dy.mean(axis=0), "the mean of dy over the rows: N "
              "times too small", "(2) ∂L/∂b = Σ_n dy[n]", SUM_OVER_ROWS.format(b="b", unit="output",
                                                                              size="D_out")),
        layer("linear-db-wrong-axis", "b", lambda c: c.dy.sum(axis=1), "Σ_k dy[n, k], summed over axis 1: "
              "one number per example, shape [N]", "(2) ∂L/∂b = Σ_n dy[n]",
              SUM_OVER_ROWS.format(b="b", unit="output", size="D_out")),
        layer("linear-dx-missing-transpose", "x", lambda c: c.dy @ c.W, "dy times W, without the .T: "
              "[N x D_out] times [D_in x D_out] does not line up", "(3) ∂L/∂x = dy Wᵀ",
              "∂L/∂x has x's shape [N x D_in]: dy Wᵀ, [N x D_out] times [D_out x D_in]"),
        layer("linear-dx-from-dW", "x", lambda c: c.dy @ (c.x.T @ c.dy).T, "dy times the gradient ∂L/∂Wᵀ, "
              "instead of times the weights Wᵀ", "(3) ∂L/∂x = dy Wᵀ",
              "y = x W + b, so x reaches L through the weights W themselves: ∂L/∂x = dy Wᵀ"),
    ],
    "ReLU": [
        layer("relu-mask-from-gradient", "x", lambda c: c.dy * (c.dy > 0), "dy zeroed where dy ≤ 0, not "
              "where x ≤ 0", "(1) ∂L/∂x = dy ⊙ 1[x > 0]", SWITCH + "; the gradient's sign says nothing"),
        layer("relu-mask-inverted", "x", lambda c: c.dy * ~c.mask, "dy kept where x ≤ 0 and zeroed where "
              "x > 0: the switch inverted", "(1) ∂L/∂x = dy ⊙ 1[x > 0]", SWITCH),
        layer("relu-mask-missing", "x", lambda c: c.dy, "dy itself, with no switch",
              "(1) ∂L/∂x = dy ⊙ 1[x > 0]", SWITCH),
        layer("relu-mask-times-activation", "x", lambda c: c.dy * c.y_out, "dy multiplied by the output "
              "max(0, x) instead of by the 0/1 switch", "(1) ∂L/∂x = dy ⊙ 1[x > 0]",
              "the ReLU's slope is 1 where x > 0, whatever x is, and 0 elsewhere"),
    ],
    "SoftmaxCrossEntropy": [
        layer("softmax-missing-divide-by-N", "x", lambda c: c.P - c.onehot, "P − onehot(y), without the 1/N",
              "(1) ∂L/∂S = (P − onehot(y)) / N", MEAN),
        layer("softmax-missing-minus-one", "x", lambda c: c.P / c.N, "P / N, without the − onehot(y)",
              "(1) ∂L/∂S = (P − onehot(y)) / N", "∂(−log P[n, y_n])/∂S[n, k] = P[n, k] − 1[k = y_n]"),
        layer("softmax-minus-one-everywhere", "x", lambda c: (c.P - 1) / c.N, "(P − 1) / N: 1 subtracted "
              "from every entry, not only at the true class", "(1) ∂L/∂S = (P − onehot(y)) / N",
              "onehot(y) is 1 only at (n, y_n): probs[range(N), y] picks one entry a row"),
        layer("softmax-divided-twice", "x", lambda c: (c.P - c.onehot) / c.N**2, "(P − onehot(y)) / N²",
              "(1) ∂L/∂S = (P − onehot(y)) / N", MEAN),
        layer("softmax-sign-flipped", "x", lambda c: (c.onehot - c.P) / c.N, "(onehot(y) − P) / N, the "
              "gradient with its sign flipped (gradient ascent)", "(1) ∂L/∂S = (P − onehot(y)) / N",
              "−log P[n, y_n] falls as the true class's score rises, so its gradient there is negative"),
    ],
}

# found by what the code does to arrays it was given, not by its numbers
IN_PLACE = {
    "ReLU": Mistake("relu-edits-dy-in-place", "x", {}, "dy itself, edited in place: the caller's dy "
                    "changed", "", "(1) ∂L/∂x = dy ⊙ 1[x > 0]", "a layer never changes the arrays passed "
                    "to it (the caller may still need dy): build a new array, dy * self._mask or dy.copy()"),
    "SoftmaxCrossEntropy": Mistake("softmax-edits-cache-in-place", "x", {}, "right once, then wrong: "
                                   "backward edited self._probs in place, so a second call gives another "
                                   "answer", "", "(1) ∂L/∂S = (P − onehot(y)) / N", "backward may run "
                                   "twice and must give the same answer: start from self._probs.copy()"),
}

# found in the loop by what the code does, not by its gradients: the checker writes the message from
# ``what`` and ``why`` with the array's name (``{name}``) or the dtypes the error gave
ALIAS = ("`{alias} = {name}` does not copy (as `dscores = probs` does not). Both names are one "
         "array, so an in-place edit through {alias} changes {name}, which later formulas read "
         "({reads})")
BEHAVIOUR = {
    "input-changed-in-place": Mistake(
        "input-changed-in-place", "", {}, "Your backward changed {name} in place: after the call "
        "{count} of its {size} entries differ from what was handed in", "", "",
        "backward reads its inputs and returns new arrays; it must leave X, y, W, b, W2, b2 and "
        "hidden_layer as they were given"),
    "weights-updated-in-backward": Mistake(
        "weights-updated-in-backward", "", {}, "Your backward updated the weight {name}: after the "
        "call {count} of its {size} entries differ from what was handed in", "", "",
        "backward computes the gradients and must not update the weights. The update "
        "`{name} += -step_size * d{name}` is step 11, after backward returns, in the training "
        "loop"),
    "integer-array-in-place": Mistake(
        "integer-array-in-place", "", {}, "an {to} array, so it holds whole numbers only", "", "",
        "an in-place operator (+=, -=, *=, /=) stores its result in the array itself and keeps its "
        "dtype. A {frm} result cannot go into an {to} array; only a new array takes the float "
        "result"),
    "precision-lost": Mistake(
        "precision-lost", "", {}, "close to the right ones, but each is off by about {error} of "
        "its size (the checker allows {tol} in {dtype} inputs)", "", "", "the checker passes "
        "float64 (then float32) arrays. A quantity computed in a lower precision carries its "
        "rounding into every formula after it; {digits}"),
}


def all_ids() -> list[str]:
    """Every id of the catalogue, in order, each once."""
    mistakes = (LOOP + [m for group in LAYER.values() for m in group] + list(IN_PLACE.values())
                + list(BEHAVIOUR.values()))
    return list(dict.fromkeys(m.id for m in mistakes))


def onehot(y, K) -> np.ndarray:
    return np.eye(K)[y]
