"""The argument checks every package shares: each rule written once, under one name.

A check returns the value it accepts (converted: an ``int``, a ``float``, a ``np.dtype``, a
``Generator``), so a caller reads ``self.lr = check_real("learning rate", lr, low=0)``, and raises
the conventional error otherwise: ``TypeError`` for a value of the wrong kind, ``ValueError`` for
one out of range, ``RuntimeError`` for a call in the wrong order. Each message names the argument,
the value it got and what it expected. This module imports nothing but NumPy.

Its neighbour ``checks.files`` holds the rules every package's files share: written atomically,
read without unpickling.
"""

from __future__ import annotations

import sys
from numbers import Integral, Real

import numpy as np


def check_count(name: str, value, *, minimum: int = 1) -> int:
    """A whole number >= ``minimum``: a count of samples, units, steps, classes, streams, ..."""
    expected = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be {expected}, got {value}")
    return int(value)


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_closed: bool = False, why: str = "") -> float:
    """A finite real number with low <= value (low < value if ``low_open``) and value < high
    (value <= high if ``high_closed``).

    The message reads like PyTorch's ("Invalid learning rate: -1.0 (expected ... >= 0)"), with
    ``why`` appended when a bound has a reason worth telling.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"Invalid {name}: {value!r} (expected a real number, such as 0.1)")
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value <= high if high_closed else value < high)
    if not (abs(value) <= sys.float_info.max and above and below):     # NaN, ±inf and 10**400 are not
        under = "<=" if high_closed else "<"
        if low is not None and high is not None:
            bounds = f" with {low:g} {'<' if low_open else '<='} {name} {under} {high:g}"
        elif low is not None:
            bounds = f" with {name} {'>' if low_open else '>='} {low:g}"
        else:
            bounds = "" if high is None else f" with {name} {under} {high:g}"
        raise ValueError(f"Invalid {name}: {value} (expected a finite number{bounds}{why})")
    return float(value)


def check_spread(name: str, value, dtype) -> float:
    """A standard deviation σ >= 0 whose draws stay finite in ``dtype``: 10 σ, beyond any draw
    from N(0, 1) in practice, must not overflow it."""
    value = check_real(name, value, low=0.0)
    if value > float(np.finfo(dtype).max) / 10:
        raise ValueError(f"Invalid {name}: {value} is too large, its draws overflow {np.dtype(dtype)}")
    return value


def check_flag(name: str, value) -> bool:
    """A True/False switch (Python's or NumPy's bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_float_dtype(name: str, dtype) -> np.dtype:
    """A NumPy floating-point dtype, given as np.float32, "float64", np.dtype(...), ..."""
    try:
        converted = np.dtype(dtype)
    except TypeError:
        converted = repr(dtype)             # not a dtype at all: the message shows what was given
    if not isinstance(converted, np.dtype) or converted.kind != "f":
        raise TypeError(f"{name} must be a NumPy floating dtype such as np.float64, got {converted}")
    return converted


def as_generator(name: str, rng) -> np.random.Generator:
    """A ``np.random.Generator`` (used as it is, so it advances), an int seed, or None (fresh
    randomness) becomes a Generator. NumPy's global random state is never used."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    seed = isinstance(rng, Integral) and not isinstance(rng, bool)
    if seed and rng >= 0:
        return np.random.default_rng(int(rng))
    expected = f"{name} must be a np.random.Generator, an int seed >= 0 or None, got {rng!r}"
    raise (ValueError if seed else TypeError)(f"{expected}; for example np.random.default_rng(0)")


def check_floats(owner, x, *, what: str = "input", features: int | None = None, dtype=None,
                 ndim: int | None = None) -> np.ndarray:
    """A floating-point NumPy array: [N x ``features``] if given, ``ndim``-D if given, of ``dtype`` if given.

    ``owner`` (a layer, a loss, ...) and ``what`` name the culprit in the message.
    """
    def takes() -> str:                 # made only for a message: a layer's repr costs time at every call
        return f"{owner!r}.forward expects " + ("" if what == "input" else f"{what} as ")

    if not isinstance(x, np.ndarray):
        raise TypeError(f"{takes()}a NumPy array, got {type(x).__name__}; "
                        "convert it with np.asarray(x, dtype=np.float64)")
    if x.dtype.kind != "f":
        raise TypeError(f"{takes()}a floating-point array, got dtype {x.dtype}; "
                        "convert it with x.astype(np.float64)")
    if features is not None and (x.ndim != 2 or x.shape[1] != features):
        raise ValueError(f"{owner!r} expects {what} of shape [N x {features}], got shape {x.shape}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{takes()}a {ndim}-D array, got shape {x.shape}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{owner!r} holds {dtype} weights but got {x.dtype} {what}; "
                        f"convert the {what} with x.astype(np.{dtype})")
    return x


def check_samples(owner: str, X, y) -> None:
    """Samples X [N x ...] and their labels y [N] (or float regression targets y [N x ...]): NumPy
    arrays with the same N >= 1."""
    if not (hasattr(X, "shape") and hasattr(y, "shape")):
        raise TypeError(f"{owner} expects NumPy arrays X [N x ...] and y [N]")
    if X.ndim == 0 or y.ndim == 0 or (y.ndim > 1 and y.dtype.kind != "f"):
        raise ValueError(f"{owner} expects X [N x ...] and labels y [N] (or float targets y [N x ...]), "
                         f"got shapes {X.shape} and {y.shape}{_flat_labels(y)}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X has {len(X)} samples and y has {len(y)}: they need the same number, at least 1")


def check_upstream(owner, dy, shape: tuple, dtype) -> np.ndarray:
    """The gradient handed to ``backward``: an array with the shape and dtype of the last output."""
    if not isinstance(dy, np.ndarray):
        raise TypeError(f"{owner!r}.backward expects a NumPy array, got {type(dy).__name__}")
    if dy.shape != shape:
        raise ValueError(f"{owner!r}.backward expects dy with the shape of its last output {shape}, "
                         f"got {dy.shape}")
    if dy.dtype != dtype:
        raise TypeError(f"{owner!r}.backward expects dy with the dtype of its last output ({dtype}), "
                        f"got {dy.dtype}")
    return dy


def check_targets(owner, y, scores: np.ndarray) -> np.ndarray:
    """Regression targets: a floating-point array with the shape and dtype of ``scores``."""
    y = check_floats(owner, y, what="targets")
    if y.shape != scores.shape:
        hint = "; for one output per row pass y[:, None]" if y.shape == scores.shape[:1] else ""
        raise ValueError(f"{owner!r} expects targets of the scores' shape {scores.shape}, "
                         f"got shape {y.shape}{hint}")
    if y.dtype != scores.dtype:
        raise TypeError(f"{owner!r} got {scores.dtype} scores but {y.dtype} targets; "
                        f"convert the targets with y.astype(np.{scores.dtype})")
    return y


def check_labels(y, n: int, k: int) -> np.ndarray:
    """Class labels: a 1-D integer array of ``n`` labels, each in 0 .. k−1."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array with one label per row of scores, got shape {y.shape}"
                         f"{_flat_labels(y)}")
    if y.dtype.kind not in "iu":          # signed or unsigned integers (np.issubdtype is slower)
        whole = y.dtype.kind == "b" or (y.dtype.kind == "f" and np.array_equal(y, np.round(y)))
        fix = ("convert them with y.astype(np.int64)" if whole else
               "they are not whole numbers (real-valued targets need MSELoss)")
        raise TypeError(f"labels must be integers (class indices), got dtype {y.dtype}; {fix}")
    if y.shape[0] != n:
        raise ValueError(f"got {y.shape[0]} labels for {n} rows of scores; expected one label per row")
    if y.size and (y.min() < 0 or y.max() >= k):
        i = np.flatnonzero((y < 0) | (y >= k))[0]
        negative = "; NumPy would silently read a negative label as counting from the last class"
        hint = negative if y[i] < 0 else ""
        raise ValueError(f"label {y[i]} at index {i} is out of range for {k} classes "
                         f"(expected 0 <= label < {k}{hint})")
    return y


def _flat_labels(y) -> str:
    """The fix for labels that are not flat: a column raveled, one-hot rows turned into class indices."""
    if y.ndim == 2:
        return "; pass y.ravel()" if y.shape[1] == 1 else "; for one-hot labels pass y.argmax(axis=1)"
    return ""


class NonFiniteError(ValueError):
    """An array that must be finite holds NaN or infinity. ``what`` names it, ``value`` is the first
    bad entry and ``index`` where it sits, so a training loop can report it as divergence."""

    def __init__(self, message: str, what: str, value: float, index: tuple):
        super().__init__(message)
        self.what, self.value, self.index = what, value, index


def check_finite(what: str, array, *, consequence: str = "", data: bool = False) -> np.ndarray:
    """``array`` if every entry is finite, else an error naming ``what`` and its first bad entry.

    A number the model computed (a score, a gradient) that is not finite means divergence: a
    ``NonFiniteError``, which ``fit`` reports as ``Diverged``. With ``data=True`` the array is given
    data (targets), which no learning rate makes finite: a plain ``ValueError`` that says so.
    """
    finite = np.isfinite(array)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        value = np.asarray(array)[index]
        if data:
            raise ValueError(f"{what} is {value} at index {index}{consequence}: the data must be finite "
                             "numbers (a problem in the data, not the model: find them with np.isfinite)")
        message = (f"{what} is {value} at index {index}{consequence} "
                   "(a diverging model produces these: try a smaller learning rate)")
        raise NonFiniteError(message, what, value, index)
    return array


def require_cache(owner, cache):
    """``cache``, or the error for calling ``owner.backward`` before ``forward``."""
    if cache is None:
        raise RuntimeError(f"{owner!r}.backward() was called before forward(): "
                           "run forward on a batch first, then backward")
    return cache
