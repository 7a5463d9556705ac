"""Adam: gradient steps scaled by running estimates of the gradient's mean and square."""

from __future__ import annotations

import numpy as np

from checks import check_real
from optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), with PyTorch's weight decay (added to the gradient).

    Each step t = 1, 2, …, for every parameter θ with gradient ∂L/∂θ (η = lr, λ = weight_decay;
    the buffers m and v start at 0):
      (1) g = ∂L/∂θ + λ·θ
      (2) m = β1·m + (1 − β1)·g            running mean of the gradient
      (3) v = β2·v + (1 − β2)·g²           running mean of its square
      (4) m̂ = m / (1 − β1^t)               bias corrections: m and v start at 0
      (5) v̂ = v / (1 − β2^t)
      (6) θ = θ − η·m̂ / (√v̂ + ε)

    These are ``torch.optim.Adam``'s equations (``amsgrad=False``). For decoupled weight decay
    (AdamW) the decay would act on θ directly instead of entering g.
    """

    buffer_names = ("exp_avg", "exp_avg_sq")
    nonnegative_buffers = ("exp_avg_sq",)

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        self.lr = check_real("learning rate", lr, low=0.0)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Invalid betas: {betas!r} (expected a pair such as (0.9, 0.999))")
        self.betas = (check_real("beta1", betas[0], low=0.0, high=1.0),
                      check_real("beta2", betas[1], low=0.0, high=1.0))
        self.eps = check_real("epsilon value", eps, low=0.0, low_open=True,
                              why="; with ε = 0 a gradient entry that stays 0 gives 0/0 = nan")
        self.weight_decay = check_real("weight_decay value", weight_decay, low=0.0)
        super().__init__(params)

    def update(self, i: int, theta: np.ndarray, grad: np.ndarray) -> None:
        beta1, beta2 = self.betas
        t = self.step_count
        m, v = self.buffers["exp_avg"][i], self.buffers["exp_avg_sq"][i]
        g = grad + self.weight_decay * theta if self.weight_decay > 0 else grad     # (1)
        m[...] = beta1 * m + (1 - beta1) * g                          # (2)
        v[...] = beta2 * v + (1 - beta2) * (g * g)                    # (3)
        m_hat = m / (1 - beta1**t)                                    # (4)
        v_hat = v / (1 - beta2**t)                                    # (5)
        theta -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)        # (6)

    def extra_repr(self) -> str:
        return f"lr={self.lr}, betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay}"
