"""The fully connected layer: steps 1, 3, 7, 8 and 10 of the monolithic loop."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from layers.base import Layer, keep_for_backward

INIT_CHOICES = ("he", "xavier")


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

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator | None = None,
                 init: str | float = "he", dtype=np.float64):
        super().__init__()
        self.in_features = _check_size("in_features", in_features)
        self.out_features = _check_size("out_features", out_features)
        self.dtype = _check_float_dtype(dtype)
        std = _init_std(init, self.in_features, self.out_features)
        rng = _check_rng(rng)
        self.init = init
        with np.errstate(over="ignore"):    # checked just below, with a clearer message
            self.params["W"] = (std * rng.standard_normal((self.in_features, self.out_features))).astype(self.dtype)
        if not np.isfinite(self.params["W"]).all():
            raise ValueError(f"Invalid init standard deviation: {std} overflows {self.dtype}")
        self.params["b"] = np.zeros(self.out_features, dtype=self.dtype)
        self.grads["W"] = None
        self.grads["b"] = None
        self._x = None                      # cache: the input (or a copy of it), needed by (1)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input of shape [N x {self.in_features}], got shape {x.shape}"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self!r} holds {self.dtype} weights but got {x.dtype} input; "
                f"convert the input with x.astype(np.{self.dtype})"
            )
        self._x = keep_for_backward(x)      # a copy unless read-only: the caller may change its x before (1)
        y = x @ self.params["W"]                                  # [N x D_out]
        y += self.params["b"]               # in place: no second [N x D_out] array
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._require_cache(self._x)
        dy = self._check_upstream(dy, (x.shape[0], self.out_features), self.dtype)
        self.grads["W"] = x.T @ dy                                # (1)
        self.grads["b"] = dy.sum(axis=0)                          # (2)
        return dy @ self.params["W"].T                            # (3)

    def config(self) -> dict:
        return {"in_features": self.in_features, "out_features": self.out_features, "dtype": str(self.dtype)}

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, dtype={self.dtype}"


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _check_float_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a NumPy floating dtype such as np.float64, got {dtype!r}") from exc
    if not np.issubdtype(dt, np.floating):
        raise TypeError(f"dtype must be a NumPy floating dtype such as np.float64, got {dt}")
    return dt


def _init_std(init, fan_in: int, fan_out: int) -> float:
    if isinstance(init, str):
        if init == "he":
            return math.sqrt(2.0 / fan_in)
        if init == "xavier":
            return math.sqrt(2.0 / (fan_in + fan_out))
        raise ValueError(f"Invalid init: {init!r} (expected 'he', 'xavier' or a standard deviation such as 0.01)")
    if isinstance(init, bool) or not isinstance(init, Real):
        raise TypeError(f"init must be 'he', 'xavier' or a float standard deviation, got {init!r}")
    if not math.isfinite(init) or init < 0:
        raise ValueError(f"Invalid init standard deviation: {init} (expected a finite number >= 0)")
    return float(init)


def _check_rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a np.random.Generator or None, got {type(rng).__name__}; "
            "pass rng=np.random.default_rng(seed)"
        )
    return rng
