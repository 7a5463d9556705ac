"""Data: data sets and batching."""

from data.batching import minibatches
from data.spiral import make_spiral

__all__ = ["make_spiral", "minibatches"]
