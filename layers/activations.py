"""Elementwise nonlinearities: step 2 (forward) and step 9 (backward) of the monolithic loop."""

from __future__ import annotations

import numpy as np

from checks import check_real
from layers.base import Layer, read_only


class ReLU(Layer):
    """Rectified linear unit: y = max(0, x), elementwise.

    Shapes: x [any shape] -> y [same shape].

    Backward, given dy = ∂L/∂y:
      (1) ∂L/∂x = dy ⊙ 1[x > 0]        (loop: dhidden[hidden_layer <= 0] = 0)

    The derivative is a 0/1 switch. At exactly x = 0 it is taken as 0, as in the loop and in
    PyTorch, so a unit that outputs 0 passes no gradient back.

    The switch is a new array, so a caller who edits y (or x) after forward changes nothing that
    backward reads.
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = max(0, x), elementwise"
    FORMULAS = {1: "∂L/∂x = dy ⊙ 1[x > 0]"}

    def __init__(self, *, inplace=None):
        super().__init__()
        refuse_inplace(self, inplace)       # a removed argument: its error says what to write
        self._mask = None                   # cache: the switch 1[x > 0], needed by (1)
        self._dtype = None                  # cache: the input's dtype, which dy must share

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        self._mask, self._dtype = x > 0, x.dtype
        return np.maximum(x, 0)                                   # y = max(0, x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._mask, self._dtype)
        return dy * self._mask                                    # (1)


class LeakyReLU(Layer):
    """Leaky rectified linear unit: y = x if x > 0, else α·x, elementwise (α = negative_slope).

    Shapes: x [any shape] -> y [same shape].

    Backward, given dy = ∂L/∂y:
      (1) ∂L/∂x = dy ⊙ (1 if x > 0, else α)

    At exactly x = 0 the slope is taken as α, matching the forward's x > 0 test and PyTorch.
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = x if x > 0, else α·x, elementwise (α = negative_slope)"
    FORMULAS = {1: "∂L/∂x = dy ⊙ (1 if x > 0, else α)"}

    def __init__(self, negative_slope: float = 0.01, *, inplace=None):
        super().__init__()
        self.negative_slope = check_real("negative_slope", negative_slope)
        refuse_inplace(self, inplace)       # a removed argument: its error says what to write
        self._slope = None                  # cache: the local slope (1 or α), needed by (1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        on = x > 0
        # exactly 1 where x > 0 and exactly α elsewhere; np.where would read better but is ~5x slower
        self._slope = (on + self.negative_slope * ~on).astype(x.dtype, copy=False)
        return x * self._slope                                    # y = x or α·x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._slope)
        return dy * self._slope                                   # (1)

    def config(self) -> dict:
        return {"negative_slope": self.negative_slope}

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Tanh(Layer):
    """Hyperbolic tangent: y = tanh(x), elementwise.

    Shapes: x [any shape] -> y [same shape].

    Backward, given dy = ∂L/∂y:
      (1) ∂L/∂x = dy ⊙ (1 − y²)

    ``np.tanh`` saturates to ±1 for large |x| without overflow or warnings.
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = tanh(x), elementwise"
    FORMULAS = {1: "∂L/∂x = dy ⊙ (1 − y²)"}

    def __init__(self):
        super().__init__()
        self._y = None                      # cache: the output, needed by (1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        self._y = read_only(np.tanh(x))     # the caller gets this very array: read-only, it stays fit for (1)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._y)
        return dy * (1 - self._y * self._y)                       # (1)


class Sigmoid(Layer):
    """Logistic sigmoid: y = 1 / (1 + e^(−x)), elementwise.

    Shapes: x [any shape] -> y [same shape].

    Backward, given dy = ∂L/∂y:
      (1) ∂L/∂x = dy ⊙ y ⊙ (1 − y)

    e^(−x) overflows for x below about −710 (float64). The forward therefore computes
      y = e^min(x, 0) / (1 + e^(−|x|))
    which is 1 / (1 + e^(−x)) for x ≥ 0 and the equal e^x / (1 + e^x) for x < 0: no exponent
    is ever positive, so any input gives a finite, fully accurate result and no warning.
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = 1 / (1 + e^(−x)), elementwise"
    FORMULAS = {1: "∂L/∂x = dy ⊙ y ⊙ (1 − y)"}

    def __init__(self):
        super().__init__()
        self._y = None                      # cache: the output, needed by (1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        with np.errstate(under="ignore"):   # e^(−|x|) rounds to 0 for |x| > 745: the right answer
            self._y = read_only(np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x))))
        return self._y                      # read-only, so the caller cannot spoil what (1) needs

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._y)
        with np.errstate(under="ignore"):   # a product below the smallest float rounds to 0: right
            return dy * self._y * (1 - self._y)                   # (1)


def refuse_inplace(layer: Layer, inplace) -> None:
    """Raise a TypeError if ``inplace`` was passed at all. ReLU and LeakyReLU took it until 2026-12-06
    (PyTorch's flag: write the result over the argument); it saved too little to keep
    (docs/performance.md), so an old call gets told what to write instead."""
    if inplace is not None:
        raise TypeError(f"{type(layer).__name__}(inplace={inplace!r}): the inplace argument is gone, "
                        f"{type(layer).__name__} always returns a new array; write {layer!r} instead")
