"""Holding out part of a data set for validation, by a seeded random choice of rows."""

from __future__ import annotations

import numpy as np

from checks import as_generator, check_real, check_samples


def train_val_split(X: np.ndarray, y: np.ndarray, val_fraction: float, *,
                    rng: np.random.Generator | int | None):
    """Split the samples at random into a training and a validation part.

    Of the N samples, n_val = round(val_fraction · N) go to validation, chosen as the first n_val
    entries of ``rng.permutation(N)``; the rest train. Each part keeps the rows in their original
    order. Returns ``(X_train, y_train, X_val, y_val)``, copies. ``rng`` is a Generator (which is
    advanced), an int seed, or None for fresh randomness.
    """
    check_samples("train_val_split", X, y)
    n_val = validation_size(val_fraction, len(X))
    order = as_generator("rng", rng).permutation(len(X))
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    return X[train_rows], y[train_rows], X[val_rows], y[val_rows]


def validation_size(val_fraction: float, n: int) -> int:
    """round(val_fraction · n), if that leaves at least one of the ``n`` samples on each side."""
    val_fraction = check_real("val_fraction", val_fraction, low=0, high=1, low_open=True)
    n_val = round(val_fraction * n)
    if not 1 <= n_val < n:
        raise ValueError(f"val_fraction {val_fraction} of {n} samples leaves {n_val} for validation and "
                         f"{n - n_val} for training; both need at least one")
    return n_val
