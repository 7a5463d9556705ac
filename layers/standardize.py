"""Standardisation: each feature shifted and scaled by statistics of the training data."""

from __future__ import annotations

import numpy as np

from checks import check_count, check_float_dtype
from layers.base import Layer


class Standardize(Layer):
    """Standardisation: y = (x − μ) / σ, per feature, with μ = mean and σ = √var.

    μ and var are buffers, measured once on the training data (``Standardize.from_data(X)``) and then
    fixed: saved with the weights, never trained, the same in training and evaluation mode. A new
    layer has μ = 0 and var = 1, which changes nothing.

    Shapes: x [N x D] -> y [N x D]; mean, var [D].

    Backward, given dy = ∂L/∂y [N x D]:
      (1) ∂L/∂x = dy / σ                 [N x D]

    As PyTorch's ``nn.BatchNorm1d(D, eps=0, affine=False)`` in evaluation mode, with running_mean = μ
    and running_var = var (models/torch_bridge.py).
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = (x − μ) / σ, per feature, with μ = mean and σ = √var"
    FORMULAS = {1: "∂L/∂x = dy / σ"}

    def __init__(self, num_features: int, *, dtype=np.float64):
        super().__init__()
        self.num_features = check_count("num_features", num_features)
        self.dtype = check_float_dtype("dtype", dtype)
        self.buffers["mean"] = np.zeros(self.num_features, dtype=self.dtype)
        self.buffers["var"] = np.ones(self.num_features, dtype=self.dtype)
        self._sigma = None                  # cache: σ as a view of x's shape [N x D], needed by (1)

    @classmethod
    def from_data(cls, X: np.ndarray) -> Standardize:
        """A layer whose μ and var are those of the training data X [N x D] (of X's dtype):
        μ = X.mean(0), var = X.var(0) (biased, divided by N).

        A feature that is constant in X gets μ = its value and var = 1, so that it maps to 0 exactly:
        not NaN (0/0), and not ±1, which the rounding of X.mean(0) would give (its var ≈ 1e-33, not 0).
        Both are computed in float64; a variance beyond X's dtype (float32: 3.4e38) is a ValueError.
        """
        if not isinstance(X, np.ndarray) or X.dtype.kind != "f":
            raise TypeError(f"Standardize.from_data expects the training data X as a floating-point NumPy "
                            f"array, got {type(X).__name__} {getattr(X, 'dtype', '')}")
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"Standardize.from_data expects X of shape [N x D] with N >= 1, got {X.shape}")
        layer, wide = cls(X.shape[1], dtype=X.dtype), X.astype(np.float64)     # float32's var may overflow
        constant = (X == X[0]).all(axis=0)
        with np.errstate(over="ignore"):
            layer.buffers["mean"][...] = np.where(constant, X[0], wide.mean(axis=0))
            layer.buffers["var"][...] = np.where(constant, 1, wide.var(axis=0))
        if not np.isfinite(layer.buffers["var"]).all():
            feature = int(np.flatnonzero(~np.isfinite(layer.buffers["var"]))[0])
            raise ValueError(f"Standardize.from_data: feature {feature}'s variance, "
                             f"{wide.var(axis=0)[feature]:.3g}, does not fit {X.dtype}; use float64")
        return layer

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, features=self.num_features, dtype=self.dtype)
        self._sigma = np.broadcast_to(np.sqrt(self.buffers["var"]), x.shape)     # σ, read-only view
        return (x - self.buffers["mean"]) / self._sigma                          # y       [N x D]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._sigma)
        return dy / self._sigma                                                  # (1)

    def config(self) -> dict:
        return {"num_features": self.num_features, "dtype": str(self.dtype)}

    def extra_repr(self) -> str:
        return f"{self.num_features}, dtype={self.dtype}"
