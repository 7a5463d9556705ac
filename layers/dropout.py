"""Dropout: units zeroed at random while training, the identity while evaluating."""

from __future__ import annotations

import numpy as np

from checks import as_generator, check_real
from layers.base import Layer


class Dropout(Layer):
    """Inverted dropout: y = x ⊙ m / (1 − p) in training mode, y = x in evaluation mode.

    m is a fresh 0/1 mask at every forward, each entry 1 (kept) with probability 1 − p, drawn as
    m = 1[u ≥ p] from u = rng.random(x.shape). Dividing by 1 − p keeps the expected value of y
    equal to x, so evaluation needs no rescaling.

    Shapes: x [any shape] -> y [same shape].

    Backward, given dy = ∂L/∂y:
      (1) ∂L/∂x = dy ⊙ m / (1 − p)         (the mask of the last forward; dy itself in evaluation mode)

    As in PyTorch's ``nn.Dropout``, except for where the mask comes from: here a
    ``np.random.Generator`` given to the layer (``rng``: a Generator, an int seed or None), never a
    global one. The mask is drawn row after row, so forward on the rows of a batch in consecutive
    chunks draws the very mask of one forward on the whole batch. p = 0 is the identity; p must be
    below 1 (PyTorch's p = 1 zeroes everything, which nothing can learn from).
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = x ⊙ m / (1 − p) in training mode, y = x in evaluation mode"
    FORMULAS = {1: "∂L/∂x = dy ⊙ m / (1 − p)"}

    depends_on_mode = True

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | int | None = None):
        super().__init__()
        self.p = check_real("p", p, low=0.0, high=1.0, why=", the probability of dropping a unit")
        self.rng = as_generator("rng", rng)
        self._mask = None                   # cache: m / (1 − p) (None: the identity), needed by (1)
        self._y = None                      # cache: the last output, whose shape and dtype dy must have

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        if not self.training or self.p == 0:
            self._mask, self._y = None, x
            return x
        keep = self.rng.random(x.shape) >= self.p                       # m, 1 with probability 1 − p
        self._mask = keep * np.asarray(1 / (1 - self.p), dtype=x.dtype)  # m / (1 − p), in x's dtype
        self._y = x * self._mask                                         # y = x ⊙ m / (1 − p)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._y)
        return dy if self._mask is None else dy * self._mask     # (1); in evaluation mode the identity

    def config(self) -> dict:
        return {"p": self.p}

    def extra_repr(self) -> str:
        return f"p={self.p}"
