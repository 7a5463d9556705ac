"""The 2-D spiral data set of the course loop (docs/course_loop.md)."""

from __future__ import annotations

import numpy as np

from checks import as_generator, check_count, check_float_dtype, check_spread


def make_spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2,
                rng: np.random.Generator | int | None = None, *, dtype=np.float64):
    """K interleaved spiral arms in the plane, one per class.

    For class c = 0 … K−1, with P = n_per_class points:
      r = linspace(0, 1, P)                                   radius, from the centre outwards
      t = linspace(4c, 4(c + 1), P) + noise · N(0, 1)         angle, in radians
      x = (r · sin t, r · cos t)

    Returns X [N x 2] (``dtype``, float64 by default) and y [N] int64 with N = P·K, class by class.
    The course page uses P = 100, K = 3, noise = 0.2; the learner's question P = 400, K = 2,
    noise = 0.5. ``rng`` is a ``np.random.Generator`` (which is advanced), an int seed, or None
    for fresh randomness; NumPy's global random state is never used.
    """
    n_per_class = check_count("n_per_class", n_per_class)
    n_classes = check_count("n_classes", n_classes)
    noise = check_spread("noise", noise, np.float64)      # the angles are float64 whatever ``dtype``
    dtype = check_float_dtype("dtype", dtype)
    rng = as_generator("rng", rng)
    X = np.empty((n_per_class * n_classes, 2), dtype=dtype)      # filled class by class: no float64 copy
    r = np.linspace(0.0, 1.0, n_per_class)
    for c in range(n_classes):
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class) + noise * rng.standard_normal(n_per_class)
        rows = slice(c * n_per_class, (c + 1) * n_per_class)
        X[rows, 0] = r * np.sin(t)
        X[rows, 1] = r * np.cos(t)
    return X, np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
