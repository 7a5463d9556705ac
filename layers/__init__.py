"""Layers: the math. Each one maps x -> y in ``forward`` and dy -> dx in ``backward``.

One file per kind: ``linear.py``, ``activations.py``, ``dropout.py``, ``batchnorm.py``, ``standardize.py``,
``losses.py``; the contract they share is in ``base.py`` and the gradient checker that proves them is in
``gradcheck.py``.
``KINDS`` names the layers a model file, PyTorch or train.py's ``--activation`` may name, by type name.
"""

from layers.activations import LeakyReLU, ReLU, Sigmoid, Tanh
from layers.base import Layer, Loss, Parameter
from layers.batchnorm import BatchNorm1d
from layers.dropout import Dropout
from layers.gradcheck import GradCheckReport, check_gradients, check_loss_gradient
from layers.linear import Linear
from layers.losses import MSELoss, SoftmaxCrossEntropy
from layers.standardize import Standardize

KINDS = {kind.__name__: kind for kind in (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, BatchNorm1d,
                                         Standardize)}

__all__ = ["KINDS", "Layer", "Loss", "Parameter", "Linear", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Dropout",
           "BatchNorm1d", "Standardize", "SoftmaxCrossEntropy", "MSELoss", "check_gradients",
           "check_loss_gradient", "GradCheckReport"]
