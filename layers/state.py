"""State dicts: the strict checks every ``load_state_dict`` makes before it changes anything."""

from __future__ import annotations

import numpy as np


def convert_state(expected: dict, state: dict, *, whole_numbers=(), nonnegative=()) -> tuple[dict, list[str]]:
    """Check ``state`` against ``expected`` and convert each value to the dtype it will be copied into.

    Returns the converted values and every problem found (none: it fits): names missing or
    unexpected, a shape that differs, values that are not real numbers (whole numbers for names in
    ``whole_numbers``), not finite once converted (so 1e300 bound for a float32 array is caught here,
    not after the copy), or negative for names in ``nonnegative``.
    """
    missing = [name for name in expected if name not in state]
    unexpected = [str(name) for name in state if name not in expected]
    problems = [f"{what} {', '.join(names)}"
                for what, names in [("missing", missing), ("unexpected", unexpected)] if names]
    converted = {}
    for name, current in expected.items():
        if name not in state:
            continue
        try:
            value = np.asarray(state[name])
        except ValueError:                  # a ragged nested list has no shape
            problems.append(f"{name} is not an array of numbers")
            continue
        wanted = "whole numbers" if name in whole_numbers else "real numbers"
        if value.shape != np.shape(current):
            problems.append(f"{name} has shape {value.shape}, expected {np.shape(current)}")
        elif value.dtype.kind not in ("iu" if name in whole_numbers else "fiu"):
            problems.append(f"{name} has dtype {value.dtype}, expected {wanted}")
        else:
            with np.errstate(over="ignore", invalid="ignore"):     # overflow shows as inf, checked next
                converted[name] = value.astype(np.asarray(current).dtype)
            if not np.isfinite(converted[name]).all():
                problems.append(f"{name} contains NaN or infinity (as {converted[name].dtype})")
            elif name in whole_numbers and (converted[name] != value).any():     # 2**64 − 1 wraps to −1
                problems.append(f"{name} holds {value.max()}, too large for {converted[name].dtype}")
            elif name in nonnegative and (converted[name] < 0).any():
                problems.append(f"{name} must not be negative")
    return converted, problems


def checked_state(expected: dict, state, refusal: str, **rules) -> dict:
    """What every ``load_state_dict`` does first: ``state`` converted by ``convert_state(expected, state,
    **rules)``, or a ``TypeError`` if it is not a dict, a ``ValueError`` "<refusal>: <the problems>"."""
    if not isinstance(state, dict):
        raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state).__name__}")
    converted, problems = convert_state(expected, state, **rules)
    if problems:
        raise ValueError(f"{refusal}: " + "; ".join(problems))
    return converted
