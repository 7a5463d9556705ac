"""Data: data sets, a learner's own points from a CSV file, a validation split and batching."""

from data.batching import BatchStream, minibatches
from data.csv_file import csv_header, load_csv
from data.seeding import spawn_generators
from data.split import train_val_split, validation_size
from data.toy import make_circles, make_moons, make_spiral, make_xor

__all__ = ["make_spiral", "make_moons", "make_circles", "make_xor", "load_csv", "csv_header", "minibatches",
           "BatchStream", "spawn_generators", "train_val_split", "validation_size"]
