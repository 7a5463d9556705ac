"""The course's L2 regularisation, as the course writes it: a penalty on the weight matrices only."""

from __future__ import annotations

import numpy as np

from checks import check_real


class L2:
    """R = ½·λ·Σ_W Σ W², summed over every weight matrix W (λ = reg).

    The weight matrices are the parameters with two or more axes: Linear's W, never a bias b nor
    BatchNorm1d's gamma and beta, as in the course (``reg_loss = 0.5 * reg * np.sum(W * W) + ...``).
    ``fit(..., reg=λ)`` adds R to the loss it reports, and R's gradient to each matrix's gradient
    before the update:
      (1) ∂R/∂W = λ·W                          (course: dW += reg * W)

    Unlike the optimizers' ``weight_decay`` (PyTorch's, which adds λ·θ to the gradient of every
    parameter it is given, biases too, and leaves the reported loss alone), this is the course's
    regularisation exactly.
    """

    def __init__(self, reg: float):
        self.reg = check_real("reg", reg, low=0.0)

    def value(self, parameters) -> float:
        """R at the current weights."""
        return sum(0.5 * self.reg * float(np.sum(p.value * p.value)) for p in _matrices(parameters))

    def add_gradient(self, parameters) -> None:
        """Add (1) to each matrix's gradient, in place (the gradients of the step just computed)."""
        for p in _matrices(parameters):
            p.grad += self.reg * p.value                                  # (1)

    def __repr__(self) -> str:
        return f"L2(reg={self.reg})"


def _matrices(parameters) -> list:
    return [p for p in parameters if p.value.ndim >= 2]
