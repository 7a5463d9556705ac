"""The fully connected layer: steps 1, 3, 7, 8 and 10 of the monolithic loop."""

from __future__ import annotations

import math

import numpy as np

from checks import as_generator, check_count, check_float_dtype, check_spread, check_upstream
from layers.base import Layer


class Linear(Layer):
    """Affine map: y = x W + b.

    Shapes: x [N x D_in] -> y [N x D_out]; W [D_in x D_out]; b [D_out].

    W is stored as [D_in x D_out] so the code reads like the loop's ``X.dot(W) + b``.
    PyTorch's ``nn.Linear`` stores the transpose, ``weight`` [D_out x D_in], and computes
    x weightᵀ + bias: ``W`` here equals ``weight.T`` there.

    Backward, given dy = ∂L/∂y [N x D_out]:
      (1) ∂L/∂W = xᵀ dy                 [D_in x D_out]   (loop: dW2 = hidden_layer.T.dot(dscores))
      (2) ∂L/∂b = Σ_n dy[n]             [D_out]          (loop: db2 = np.sum(dscores, axis=0))
      (3) ∂L/∂x = dy Wᵀ                 [N x D_in]       (loop: dhidden = dscores.dot(W2.T))

    Initialisation (biases start at 0), W ~ std · N(0, 1) with
      init="he"       std = √(2 / D_in)              suits ReLU layers
      init="xavier"   std = √(2 / (D_in + D_out))    suits tanh and sigmoid layers
      init=0.01       std = 0.01                     the monolithic loop's choice
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = x W + b"
    FORMULAS = {1: "∂L/∂W = xᵀ dy", 2: "∂L/∂b = Σ_n dy[n]", 3: "∂L/∂x = dy Wᵀ"}

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator | int | None = None,
                 init: str | float = "he", dtype=np.float64):
        super().__init__()
        self.in_features = check_count("in_features", in_features)
        self.out_features = check_count("out_features", out_features)
        self.dtype = check_float_dtype("dtype", dtype)
        std = init_std(init, self.in_features, self.out_features, self.dtype)
        W = std * as_generator("rng", rng).standard_normal((self.in_features, self.out_features))
        self.params["W"] = W.astype(self.dtype)                   # W ~ std · N(0, 1)
        self.params["b"] = np.zeros(self.out_features, dtype=self.dtype)
        self.grads["W"] = self.grads["b"] = None     # same keys as params, no gradient yet
        self._x = None                      # cache: a copy of the input, needed by (1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, features=self.in_features, dtype=self.dtype)
        self._x = x.copy()                  # a copy: the caller may change its x before (1)
        y = x @ self.params["W"]                                  # [N x D_out]
        y += self.params["b"]               # in place: no second [N x D_out] array
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._require_cache(self._x)
        dy = check_upstream(self, dy, (len(x), self.out_features), self.dtype)
        self.grads["W"] = x.T @ dy                                # (1)
        self.grads["b"] = dy.sum(axis=0)                          # (2)
        return dy @ self.params["W"].T                            # (3)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "dtype": str(self.dtype)}

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.dtype}"


def init_std(init: str | float, fan_in: int, fan_out: int, dtype: np.dtype) -> float:
    """The standard deviation of the initial weights, by name ("he", "xavier") or given as a number."""
    if init == "he":
        return math.sqrt(2.0 / fan_in)
    if init == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if isinstance(init, str):
        raise ValueError(f"Invalid init: {init!r} "
                         "(expected 'he', 'xavier' or a standard deviation such as 0.01)")
    return check_spread("init standard deviation", init, dtype)
