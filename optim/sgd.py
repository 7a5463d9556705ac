"""Stochastic gradient descent: step 11 of the monolithic loop, with momentum and weight decay."""

from __future__ import annotations

import numpy as np

from checks import check_flag, check_real
from optim.optimizer import Optimizer


class SGD(Optimizer):
    """Gradient descent: θ ← θ − η·∂L/∂θ, with PyTorch's momentum, Nesterov and weight decay.

    Each step, for every parameter θ with gradient ∂L/∂θ (η = lr, μ = momentum,
    λ = weight_decay; the momentum buffer v starts at 0):
      (1) g = ∂L/∂θ + λ·θ          the gradient of an added (λ/2)·Σθ²   (loop: dW += reg * W)
      (2) v = μ·v + g              only when μ > 0
      (3) g = g + μ·v  (nesterov)  or  g = v  (plain momentum)
      (4) θ = θ − η·g                                                  (loop: W += -step_size * dW)

    These are ``torch.optim.SGD``'s equations (with dampening 0). Unlike the loop's ``reg``
    term, weight decay applies to every parameter it is given, biases included, as in PyTorch.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        self.lr = check_real("learning rate", lr, low=0.0)
        self.momentum = check_real("momentum", momentum, low=0.0, high=1.0,
                                   why="; at 1 or more the velocity never decays and training diverges")
        self.weight_decay = check_real("weight_decay value", weight_decay, low=0.0)
        self.nesterov = check_flag("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("Nesterov momentum requires a momentum > 0, got momentum=0")
        self.buffer_names = ("momentum_buffer",) if self.momentum > 0 else ()
        super().__init__(params)

    def update(self, i: int, theta: np.ndarray, grad: np.ndarray) -> None:
        g = grad
        if self.weight_decay > 0:
            g = g + self.weight_decay * theta                         # (1)
        if self.momentum > 0:
            v = self.buffers["momentum_buffer"][i]
            v[...] = self.momentum * v + g                            # (2)
            g = g + self.momentum * v if self.nesterov else v         # (3)
        theta -= self.lr * g                                          # (4)

    def extra_repr(self) -> str:
        return (f"lr={self.lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
                f"nesterov={self.nesterov}")
