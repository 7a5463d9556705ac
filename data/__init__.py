"""Data: data sets, a validation split and batching."""

from data.batching import BatchStream, minibatches
from data.seeding import spawn_generators
from data.spiral import make_spiral
from data.split import train_val_split, validation_size

__all__ = ["make_spiral", "minibatches", "BatchStream", "spawn_generators", "train_val_split",
           "validation_size"]
