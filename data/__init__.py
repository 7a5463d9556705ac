"""Data: data sets and batching."""

from data.batching import BatchStream, minibatches
from data.seeding import spawn_generators
from data.spiral import make_spiral

__all__ = ["make_spiral", "minibatches", "BatchStream", "spawn_generators"]
