"""State dicts: the strict checks every ``load_state_dict`` makes before it changes anything."""

from __future__ import annotations

import numpy as np


def state_mismatches(expected: dict, state: dict) -> list[str]:
    """What keeps ``state`` from matching ``expected`` name for name and shape for shape.

    Used by every strict ``load_state_dict``: missing names, unexpected names, wrong shapes.
    """
    missing = [name for name in expected if name not in state]
    unexpected = [str(name) for name in state if name not in expected]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(unexpected))
    for name, current in expected.items():
        if name not in state:
            continue
        try:
            shape = np.shape(state[name])
        except ValueError:                  # a ragged nested list has no shape
            problems.append(f"{name} is not an array of numbers")
            continue
        if shape != np.shape(current):
            problems.append(f"{name} has shape {shape}, expected {np.shape(current)}")
    return problems


def convert_state(expected: dict, state: dict, *, whole_numbers=(), nonnegative=()) -> tuple[dict, list[str]]:
    """Check ``state`` against ``expected`` and convert each value to the dtype it will be copied into.

    Returns the converted values and every problem found (none: it fits). Besides names and
    shapes, each value must be real numbers (whole numbers for names in ``whole_numbers``),
    finite once converted (so 1e300 bound for a float32 array is caught here, not after the
    copy), and not negative for names in ``nonnegative``.
    """
    problems = state_mismatches(expected, state)
    converted = {}
    for name, current in expected.items():
        try:
            value = np.asarray(state[name])
        except (KeyError, ValueError):      # missing, or ragged: reported above
            continue
        if value.shape != np.shape(current):
            continue                        # reported above
        if value.dtype.kind not in ("iu" if name in whole_numbers else "fiu"):
            wanted = "whole numbers" if name in whole_numbers else "real numbers"
            problems.append(f"{name} has dtype {value.dtype}, expected {wanted}")
            continue
        dtype = np.asarray(current).dtype
        with np.errstate(over="ignore", invalid="ignore"):     # overflow shows as inf, checked next
            converted[name] = value.astype(dtype)
        if not np.isfinite(converted[name]).all():
            problems.append(f"{name} contains NaN or infinity (as {dtype})")
        elif name in nonnegative and (converted[name] < 0).any():
            problems.append(f"{name} must not be negative")
    return converted, problems
