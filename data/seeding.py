"""Turning a seed argument into a random generator, never touching NumPy's global state."""

from __future__ import annotations

from numbers import Integral

import numpy as np


def as_generator(seed) -> np.random.Generator:
    """An int seed or None becomes a new Generator; a Generator is used as it is."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, Integral) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a np.random.Generator or None, got {seed!r}")
