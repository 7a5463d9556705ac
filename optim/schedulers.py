"""Learning-rate schedules: the optimizer's lr as a function of how many epochs (steps) have passed."""

from __future__ import annotations

import math

import numpy as np

from checks import check_count, check_real
from layers.state import checked_state


class LRScheduler:
    """Base class: sets ``optimizer.lr`` to η_t = ``lr_at(t)`` for t = ``last_epoch``.

    η₀ (``base_lr``) is the optimizer's lr when the scheduler is made; ``last_epoch`` counts the calls
    of ``step()``, 0 at first; subclasses give the formula, ``lr_at(t)``. As in PyTorch, call
    ``scheduler.step()`` after ``optimizer.step()``: the next update uses the new lr. With ``fit``, one
    step is one update:
    ``TrainingState(on_step=lambda state: scheduler.step())`` keeps ``last_epoch == state.step``.

    Each η_t is computed from (η₀, t) alone, never from η_{t−1}, so a run resumed from ``state_dict()``
    gets exactly the floats of an uninterrupted one. ``state_dict()`` holds t, η₀ and the settings named
    in ``saved`` (CosineAnnealingLR's T_max: a resumed run keeps its schedule, whatever its new length).
    """

    saved: tuple[str, ...] = ()

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"{type(self).__name__} expects an optimizer with one learning rate `lr`, "
                            f"such as SGD or Adam, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = check_real("learning rate", optimizer.lr, low=0.0)
        self.last_epoch = -1
        self.step()                     # as PyTorch's constructor does: last_epoch 0, η = lr_at(0)

    def step(self) -> None:
        """One epoch (here: one update) more: t = last_epoch + 1, and the optimizer's lr becomes η_t."""
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def __repr__(self) -> str:
        settings = {k: v for k, v in vars(self).items() if k not in ("optimizer", "base_lr", "last_epoch")}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in settings.items())})"

    def get_last_lr(self) -> list[float]:
        """The lr the scheduler set last, in a list as PyTorch's (one entry per parameter group)."""
        return [self.lr_at(self.last_epoch)]

    def state_dict(self) -> dict[str, np.ndarray]:
        names = ("last_epoch", "base_lr", *self.saved)
        return {name: np.array(getattr(self, name)) for name in names}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output (strict, checked before anything changes) and set the lr."""
        refusal, expected = f"{type(self).__name__} state does not fit", self.state_dict()
        whole = [name for name, value in expected.items() if value.dtype.kind == "i"]
        converted = checked_state(expected, state, refusal, whole_numbers=whole, nonnegative=list(expected))
        if any(converted[name] < 1 for name in self.saved):          # T_max: a cosine of no steps
            raise ValueError(f"{refusal}: {', '.join(self.saved)} must be at least 1")
        for name, value in converted.items():
            setattr(self, name, value.item())
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """Multiplies the lr by γ every ``step_size`` epochs: η_t = η₀·γ^⌊t / step_size⌋.

    PyTorch's ``torch.optim.lr_scheduler.StepLR`` for one learning rate.
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = check_count("step_size", step_size)
        self.gamma = check_real("gamma", gamma, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Lowers the lr from η₀ to η_min along half a cosine in T_max epochs:
    η_t = η_min + (η₀ − η_min)·(1 + cos(π·t / T_max)) / 2.

    PyTorch's ``torch.optim.lr_scheduler.CosineAnnealingLR`` for one learning rate (whose recursive
    form gives the same values to rounding). Past T_max the lr climbs back along the cosine, as
    PyTorch's does: give T_max = the number of steps to end at η_min.
    """

    saved = ("T_max",)

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = check_count("T_max", T_max)
        self.eta_min = check_real("eta_min", eta_min, low=0.0)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
