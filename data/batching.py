"""Mini-batches: every sample exactly once per pass, in a shuffled or fixed order."""

from __future__ import annotations

from numbers import Integral

import numpy as np

from data.seeding import as_generator


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = True,
                rng: np.random.Generator | int | None = None):
    """Yield ``(X_batch, y_batch)`` pairs that cover every sample exactly once.

    Batches hold ``batch_size`` samples; the last one holds what is left (it may be short).
    With ``shuffle`` the order is a fresh permutation drawn from ``rng`` (a Generator is
    advanced, so successive passes differ); without it, batches are slices in order.
    The arguments are checked at once, not when the first batch is drawn.
    """
    if not (hasattr(X, "shape") and hasattr(y, "shape")):
        raise TypeError("minibatches expects NumPy arrays X [N x ...] and y [N]")
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError("minibatches expects X and y with one row per sample, got a scalar")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}; they must match")
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral):
        raise TypeError(f"batch_size must be a positive int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    order = as_generator(rng).permutation(len(X)) if shuffle else None
    return _batches(X, y, int(batch_size), order)


def _batches(X, y, batch_size: int, order):
    for start in range(0, len(X), batch_size):
        if order is None:
            yield X[start:start + batch_size], y[start:start + batch_size]
        else:
            rows = order[start:start + batch_size]
            yield X[rows], y[rows]
