"""Two rules Sequential keeps around each call of a layer's forward or backward.

- An ``inplace=True`` layer never gets the caller's own ``x`` or ``dy``, only a copy: between the
  layers the arrays belong to the model, so only those may be overwritten.
- An error a layer raises names the layer's position, ``model[2]: ...``, so that an error from deep
  inside a model says where it comes from.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np


def not_the_callers(a: np.ndarray, callers: np.ndarray, layer) -> np.ndarray:
    """``a``, or a copy of it if ``layer`` overwrites its argument and ``a`` is (part of) ``callers``."""
    if getattr(layer, "inplace", False) and np.may_share_memory(a, callers):
        return np.array(a, copy=True)
    return a


@contextmanager
def naming_errors(position: int):
    """Put ``model[position]: `` in front of a layer's error message; type and traceback stay as they are."""
    try:
        yield
    except (ValueError, TypeError, RuntimeError) as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):   # other messages are left alone
            exc.args = (f"model[{position}]: {exc.args[0]}",)
        raise
