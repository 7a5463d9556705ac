"""Optimizers: updates. Each one changes the parameters in place from their gradients."""

from optim.adam import Adam
from optim.optimizer import Optimizer
from optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam"]
