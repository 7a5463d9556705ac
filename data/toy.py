"""The toy data sets in the plane, each hard for a linear classifier in its own way.

Each one draws P points per class from ``rng`` (a Generator, which is advanced, an int seed, or None for
fresh randomness; NumPy's global random state is never used), with Gaussian ``noise``, and returns
X [N x 2] (``dtype``, float64 by default) and y [N] int64, class by class.
"""

from __future__ import annotations

import numpy as np

from checks import as_generator, check_count, check_float_dtype, check_spread


def make_spiral(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2,
                rng: np.random.Generator | int | None = None, *, dtype=np.float64):
    """K interleaved spiral arms, one per class: the data set of the course loop (docs/course_loop.md).

    For class c = 0 … K−1, with P = n_per_class points:
      r = linspace(0, 1, P)                                   radius, from the centre outwards
      t = linspace(4c, 4(c + 1), P) + noise · N(0, 1)         angle, in radians
      x = (r · sin t, r · cos t)

    Returns X [P·K x 2] and y [P·K]. The course page uses P = 100, K = 3, noise = 0.2; the learner's
    question P = 400, K = 2, noise = 0.5.
    """
    n_per_class, noise, dtype, rng = _check(n_per_class, noise, dtype, rng)
    n_classes = check_count("n_classes", n_classes)
    r = np.linspace(0.0, 1.0, n_per_class)
    arms = []
    for c in range(n_classes):
        t = np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class) + noise * rng.standard_normal(n_per_class)
        arms.append(np.column_stack([r * np.sin(t), r * np.cos(t)]).astype(dtype))     # angles in float64
    return np.concatenate(arms), np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)


def make_moons(n_per_class: int = 100, noise: float = 0.1,
               rng: np.random.Generator | int | None = None, *, dtype=np.float64):
    """Two interleaved half circles, one per class: a boundary that must bend twice.

    With P = n_per_class points per class and t = linspace(0, π, P):
      class 0:  x = (cos t, sin t)             + noise · N(0, I)      the upper arc
      class 1:  x = (1 − cos t, 1/2 − sin t)   + noise · N(0, I)      the lower arc, shifted right

    Returns X [2P x 2] (``dtype``) and y [2P] int64. ``noise`` is the standard deviation of the
    Gaussian added to both coordinates; 0.1 keeps the moons apart, 0.3 makes them overlap.
    """
    n_per_class, noise, dtype, rng = _check(n_per_class, noise, dtype, rng)
    t = np.linspace(0.0, np.pi, n_per_class)
    upper = np.column_stack([np.cos(t), np.sin(t)])
    lower = np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])
    return _finish([upper, lower], noise, dtype, rng)


def make_circles(n_per_class: int = 100, n_classes: int = 2, noise: float = 0.05,
                 rng: np.random.Generator | int | None = None, *, dtype=np.float64):
    """K concentric rings, one per class: a boundary that must close around the centre.

    For class c = 0 … K−1, with P = n_per_class points:
      r_c = (c + 1) / K                                   the ring's radius, the innermost first
      t   = 2π · (0, 1, …, P−1) / P                       angles spaced evenly around the ring
      x   = r_c · (cos t, sin t) + noise · N(0, I)

    Returns X [K·P x 2] (``dtype``) and y [K·P] int64. The rings lie 1/K apart, so a ``noise``
    near 1/(4K) lets neighbouring rings touch.
    """
    n_per_class, noise, dtype, rng = _check(n_per_class, noise, dtype, rng)
    n_classes = check_count("n_classes", n_classes)
    t = 2.0 * np.pi * np.arange(n_per_class) / n_per_class
    rings = [(c + 1) / n_classes * np.column_stack([np.cos(t), np.sin(t)]) for c in range(n_classes)]
    return _finish(rings, noise, dtype, rng)


def make_xor(n_per_class: int = 100, noise: float = 0.1,
             rng: np.random.Generator | int | None = None, *, dtype=np.float64):
    """The XOR of the signs of two coordinates: the classic problem no single line separates.

    With P = n_per_class points per class, u ~ U(0, 1)² drawn per point, and signs s alternating
    +1, −1, +1, … over the class's points:
      class 0:  x = ( s·u₁,  s·u₂) + noise · N(0, I)      quadrants I and III: x₁x₂ > 0
      class 1:  x = ( s·u₁, −s·u₂) + noise · N(0, I)      quadrants II and IV: x₁x₂ < 0

    Returns X [2P x 2] (``dtype``) and y [2P] int64. Without noise, y = 1[x₁ x₂ < 0] exactly;
    noise moves points near the axes into the neighbouring quadrant.
    """
    n_per_class, noise, dtype, rng = _check(n_per_class, noise, dtype, rng)
    s = np.where(np.arange(n_per_class) % 2 == 0, 1.0, -1.0)
    quadrants = []
    for flip in (1.0, -1.0):
        u = rng.uniform(0.0, 1.0, size=(n_per_class, 2))
        quadrants.append(np.column_stack([s * u[:, 0], flip * s * u[:, 1]]))
    return _finish(quadrants, noise, dtype, rng)


def _check(n_per_class, noise, dtype, rng):
    dtype = check_float_dtype("dtype", dtype)           # the noise's draws must stay finite in it
    return (check_count("n_per_class", n_per_class), check_spread("noise", noise, dtype), dtype,
            as_generator("rng", rng))


def _finish(classes: list[np.ndarray], noise: float, dtype, rng: np.random.Generator):
    """The classes' points stacked, class by class, with noise · N(0, I) added; and their labels."""
    X = np.concatenate(classes)
    X = X + noise * rng.standard_normal(X.shape)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), [len(points) for points in classes])
    return X.astype(dtype, copy=False), y
