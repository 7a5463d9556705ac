"""Batch normalisation: each feature standardised over the batch, then scaled and shifted."""

from __future__ import annotations

import numpy as np

from checks import check_count, check_float_dtype, check_real
from layers.base import Layer


class BatchNorm1d(Layer):
    """Batch normalisation: y = gamma ⊙ x̂ + beta, with x̂ = (x − μ) / √(σ² + ε), per feature.

    Training mode, over the N rows of the batch (the variance is the biased one, divided by N):
      μ = (1/N) Σ_n x[n]                    σ² = (1/N) Σ_n (x[n] − μ)²
    and the running statistics move towards them (momentum 0 <= m <= 1, 1 keeping the last batch's;
    the variance unbiased, N/(N − 1)):
      running_mean ← (1 − m)·running_mean + m·μ
      running_var  ← (1 − m)·running_var  + m·σ²·N/(N − 1)
    Evaluation mode uses μ = running_mean and σ² = running_var, and changes nothing.

    Shapes: x [N x D] -> y [N x D]; gamma, beta, running_mean, running_var [D].

    Backward, given dy = ∂L/∂y [N x D], with s = 1/√(σ² + ε), g = gamma ⊙ dy and Σ over the rows n:
      (1) ∂L/∂gamma = Σ dy ⊙ x̂                  [D]
      (2) ∂L/∂beta = Σ dy                        [D]
      (3) ∂L/∂x = s ⊙ (g − Σg/N − x̂ ⊙ Σ(g ⊙ x̂)/N)  [N x D]
    Formula (3) has three terms because x reaches x̂ three ways: directly, through μ and through σ²
    (docs/batchnorm.md derives it). In evaluation mode μ and σ² are constants and (3) is s ⊙ g.

    As PyTorch's ``nn.BatchNorm1d(num_features, eps, momentum)`` with ``weight`` = gamma and
    ``bias`` = beta, for [N x D] input only (not [N x C x L]). ``momentum`` is a number (PyTorch's
    None, a cumulative average, is not offered), so no ``num_batches_tracked`` is kept. A batch of
    one row in training mode is an error, as in PyTorch: its variance is 0, x̂ would be 0.
    Because μ and σ² mix the rows, ``fit`` never splits a training batch into chunks for it.
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "y = gamma ⊙ x̂ + beta, with x̂ = (x − μ) / √(σ² + ε), per feature"
    FORMULAS = {1: "∂L/∂gamma = Σ dy ⊙ x̂", 2: "∂L/∂beta = Σ dy", 3: "∂L/∂x = s ⊙ (g − Σg/N − x̂ ⊙ Σ(g ⊙ x̂)/N)"}

    depends_on_mode = True

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=np.float64):
        super().__init__()
        self.num_features = check_count("num_features", num_features)
        self.eps = check_real("eps", eps, low=0.0, low_open=True)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0, high_closed=True)
        self.dtype = check_float_dtype("dtype", dtype)
        self.params["gamma"] = np.ones(self.num_features, dtype=self.dtype)
        self.params["beta"] = np.zeros(self.num_features, dtype=self.dtype)
        self.grads["gamma"] = None
        self.grads["beta"] = None
        self.buffers["running_mean"] = np.zeros(self.num_features, dtype=self.dtype)
        self.buffers["running_var"] = np.ones(self.num_features, dtype=self.dtype)
        self._x_hat = None                  # cache: x̂, needed by (1) and (3)
        self._s = None                      # cache: s = 1/√(σ² + ε), needed by (3)
        self._batch = None                  # cache: whether μ and σ² were the batch's (training mode)

    @property
    def needs_whole_batch(self) -> bool:
        return self.training

    def _check_input(self, x, **expected) -> np.ndarray:
        """The shared checks, and in training mode a batch of 2 rows or more (one row has no spread)."""
        x = super()._check_input(x, **expected)
        if self.training and len(x) < 2:
            raise ValueError(f"{self!r} needs at least 2 rows in training mode, got {len(x)}: the variance "
                             "of one row is 0; use a larger batch, or model.eval() to predict one row")
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, features=self.num_features, dtype=self.dtype)
        N = len(x)
        if self.training:
            mean = x.mean(axis=0)                                       # μ       [D]
            var = x.var(axis=0)                                         # σ²      [D], biased
            m = self.momentum
            self.buffers["running_mean"] *= 1 - m
            self.buffers["running_mean"] += m * mean
            self.buffers["running_var"] *= 1 - m
            self.buffers["running_var"] += m * var * (N / (N - 1))     # unbiased
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        self._batch = self.training
        self._s = 1 / np.sqrt(var + self.eps)                           # s       [D]
        self._x_hat = (x - mean) * self._s                              # x̂       [N x D]
        return self.params["gamma"] * self._x_hat + self.params["beta"]  # y      [N x D]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        dy = self._check_upstream(dy, self._x_hat)
        x_hat = self._x_hat
        self.grads["gamma"] = (dy * x_hat).sum(axis=0)                                          # (1)
        self.grads["beta"] = dy.sum(axis=0)                                                     # (2)
        g = self.params["gamma"] * dy
        if not self._batch:
            return self._s * g                                                                  # (3), eval
        return self._s * (g - g.sum(axis=0) / len(g) - x_hat * ((g * x_hat).sum(axis=0) / len(g)))  # (3)

    def config(self) -> dict:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "dtype": str(self.dtype)}

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, dtype={self.dtype}"
