"""Turning a seed argument into random generators, never touching NumPy's global state."""

from __future__ import annotations

import numpy as np

from checks import check_count


def spawn_generators(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent generators from one int seed: one for the data, one for the weights, ...

    They are the children of ``np.random.SeedSequence(seed)`` (NumPy's way to split one seed
    into streams that do not overlap or correlate), so the k-th generator depends only on
    ``seed`` and k: asking for more streams later changes none of the first ones.
    Using one generator for two jobs would correlate them: the weights would be drawn from
    the same numbers as the data's noise.
    """
    seed = check_count("seed", seed, minimum=0)
    n = check_count("n", n)
    return [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(n)]
