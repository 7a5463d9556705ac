"""Models: composition. ``Sequential`` chains layers; it relies only on the layer contract.

``model.save`` and ``model.load`` write and read model files (models/savefile.py), which keep the
architecture as data (models/architecture.py), so ``Sequential.from_file`` rebuilds a model from one.
``to_torch`` and ``from_torch`` carry a ``Sequential`` to PyTorch and back; torch is imported only when
they are called.
"""

from models.sequential import Sequential
from models.torch_bridge import from_torch, to_torch

__all__ = ["Sequential", "to_torch", "from_torch"]
