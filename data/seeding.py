"""Turning a seed argument into random generators, never touching NumPy's global state."""

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


def spawn_generators(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one int seed: one for the data, one for the weights, ...

    They are the children of ``np.random.SeedSequence(seed)`` (NumPy's way to split one seed
    into streams that do not overlap or correlate), so the k-th generator depends only on
    ``seed`` and k: asking for more streams later changes none of the first ones.
    Using one generator for two jobs would correlate them: the weights would be drawn from
    the same numbers as the data's noise.
    """
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    n = check_count("n", n)
    return [np.random.default_rng(child) for child in np.random.SeedSequence(int(seed)).spawn(n)]


def check_count(name: str, value) -> int:
    """A positive int (a count of samples, classes, streams, ...), or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)
