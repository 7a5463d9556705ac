"""Models: composition. ``Sequential`` chains layers; it relies only on the layer contract."""

from models.sequential import Sequential

__all__ = ["Sequential"]
