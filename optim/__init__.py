"""Optimizers: updates. Each one changes the parameters in place from their gradients.

Schedulers (optim/schedulers.py) change an optimizer's learning rate from step to step."""

from optim.adam import Adam
from optim.optimizer import Optimizer
from optim.schedulers import CosineAnnealingLR, StepLR
from optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "StepLR", "CosineAnnealingLR"]
