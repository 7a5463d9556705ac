"""Check a backward pass against central differences of the forward pass.

Use it on your own layers before you trust them::

    from layers.gradcheck import check_gradients
    report = check_gradients(MyLayer(...), x)      # x a float64 array
    print(report)                                  # worst relative error per input and parameter
    assert report.passed                          # or report.passed_at(1e-6)

How it works. For a layer (or a whole model) f and a fixed random G with the shape of f(x),
the scalar L = Σ f(x) ⊙ G has ∂L/∂y = G, so ``backward(G)`` must return ∂L/∂x and fill
∂L/∂θ for every parameter θ. Each entry is then estimated from the forward pass alone:

    ∂L/∂θ_i ≈ (L(θ_i + ε) − L(θ_i − ε)) / 2ε          (central difference, error O(ε²))

and compared per array with

    relative error = max_i |analytic_i − numeric_i| / max_i max(|analytic_i|, |numeric_i|)

that is, the worst disagreement relative to the array's largest gradient entry. In float64
with ε = 1e-6 a correct backward gives about 1e-7 or better; above 1e-2 means a bug. Float32
cannot resolve ε-sized steps, so the checker warns when given anything but float64.

A ReLU is not differentiable at 0. When a step of ±ε moves some unit across 0 (a kink), the
central difference is meaningless there. The checker notices because the one-sided differences
(L(θ_i + ε) − L(θ_i)) / ε and (L(θ_i) − L(θ_i − ε)) / ε then disagree (a kink at θ_i), or
because halving ε changes the central difference (a kink within ±ε; for a smooth L the change
is O(ε²)). Such an entry, if its central difference misses the analytic value, is left out of
the relative error and counted in ``report.kinks``. Whether L is smooth at an entry is decided
by the forward pass alone, so a wrong backward cannot make its entries look like kinks; an
array whose entries all straddle kinks is reported as not checked, and fails.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from checks import as_generator
from layers.base import Parameter

OK_BELOW = 1e-7        # what a correct float64 backward achieves
BUG_ABOVE = 1e-2       # what only a wrong backward produces
_KINK_GAP = 1e-4       # one-sided differences further apart than this (relative) mean a kink
_EPS64 = float(np.finfo(np.float64).eps)
_ROUNDING_ULPS = 16    # how many units in the last place of L a forward pass may round away


class PrecisionWarning(UserWarning):
    """A gradient check was asked of arrays that are not float64."""


@dataclass(frozen=True)
class GradCheckReport:
    """Worst relative error per checked array ("x", then each parameter by name).

    ``kinks`` counts, per array, the entries left out because a step straddled a kink; an array
    whose entries all did has the error NaN (not checked) and a note. ``passed`` asks for 1e-7
    everywhere, ``passed_at(tol)`` for ``tol``; either fails an array that could not be checked.
    """

    errors: dict[str, float]
    kinks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    eps: float = 1e-6

    @property
    def worst(self) -> float:
        """The largest relative error among the arrays that could be checked."""
        return max((error for error in self.errors.values() if not math.isnan(error)), default=0.0)

    @property
    def passed(self) -> bool:
        """True when every array's relative error is at most 1e-7 (what a correct float64 backward gives)."""
        return self.passed_at(OK_BELOW)

    def passed_at(self, tol: float) -> bool:
        """True when every array's relative error is at most ``tol``; an array not checked fails."""
        return all(error <= tol for error in self.errors.values())     # NaN (not checked) is not <= tol

    def __str__(self) -> str:
        width = max((len(name) for name in self.errors), default=1)
        lines = [f"gradient check: central differences with eps={self.eps:g}"]
        for name, error in self.errors.items():
            if math.isnan(error):
                verdict = "NOT CHECKED"
            elif error <= OK_BELOW:
                verdict = "ok"
            elif error <= BUG_ABOVE:
                verdict = "suspicious"
            else:
                verdict = "WRONG"
            line = f"  {name:<{width}}  relative error {error:.1e}  {verdict}"
            kinks = self.kinks.get(name, 0)
            if kinks and not math.isnan(error):
                entries = "1 entry straddles" if kinks == 1 else f"{kinks} entries straddle"
                line += f"  ({entries} a ReLU kink, excluded)"
            if name in self.notes:
                line += f"  ({self.notes[name]})"
            lines.append(line)
        return "\n".join(lines)


def check_gradients(module, x: np.ndarray, *, loss=None, y=None, dy=None, eps: float = 1e-6,
                    rng: np.random.Generator | int = 0) -> GradCheckReport:
    """Check ``module.backward`` (a layer or a model) against central differences.

    Without ``loss``, checks L = Σ module(x) ⊙ G for a random G drawn from ``rng`` (or ``dy``
    if given). With ``loss`` and labels ``y``, checks L = loss(module(x), y) end to end.
    Neither ``x`` nor the module's weights are changed: each perturbed entry is put back
    exactly. The module is left as after one forward and backward at ``x``.
    """
    x = _as_float_copy("x", x)
    params = _parameters_of(module)
    _warn_unless_float64(x, params)

    # the module gets copies: a layer built with inplace=True overwrites what it is given
    if loss is None:
        out = module.forward(x.copy())
        upstream = _upstream(dy, out, rng)

        def objective() -> float:
            return float(np.sum(module.forward(x.copy()) * upstream))

        def analytic() -> np.ndarray:
            module.forward(x.copy())
            return module.backward(upstream.copy())
    else:
        if y is None:
            raise ValueError("check_gradients with a loss needs the labels y as well")

        def objective() -> float:
            return float(loss.forward(module.forward(x.copy()), y))

        def analytic() -> np.ndarray:
            loss.forward(module.forward(x.copy()), y)
            return module.backward(loss.backward())

    dx = analytic()
    named = [("x", x, dx)] + [(p.name, p.value, _copy_or_none(p.grad)) for p in params]
    report = _compare(named, objective, eps)
    analytic()
    return report


def check_loss_gradient(loss, scores: np.ndarray, y, *, eps: float = 1e-6) -> GradCheckReport:
    """Check ``loss.backward()`` = ∂L/∂scores against central differences of ``loss.forward``."""
    scores = _as_float_copy("scores", scores)
    _warn_unless_float64(scores, [])

    def objective() -> float:
        return float(loss.forward(scores, y))

    objective()
    report = _compare([("scores", scores, loss.backward())], objective, eps)
    objective()
    return report


def _compare(named, objective, eps: float) -> GradCheckReport:
    errors, kinks, notes = {}, {}, {}
    for name, array, analytic in named:
        if analytic is None:
            errors[name] = math.inf
            notes[name] = "backward left no gradient for it"
            continue
        analytic = np.asarray(analytic)
        if analytic.shape != array.shape:
            errors[name] = math.inf
            notes[name] = f"gradient has shape {analytic.shape}, the array has shape {array.shape}"
            continue
        numeric, gap, noise = _numeric_gradient(objective, array, eps)
        analytic = analytic.astype(np.float64)
        scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
        missed = np.abs(analytic - numeric) > OK_BELOW * scale        # the central difference disagrees
        # A kink spoilt it if L is not smooth there: the one-sided slopes differ (a kink at the entry) ...
        straddles = missed & (gap > _KINK_GAP * scale + noise)
        rest = missed & ~straddles
        if rest.any():   # ... or halving the step moves the estimate (a kink within ±eps; smooth L: O(eps²))
            half, _, half_noise = _numeric_gradient(objective, array, eps / 2, map(tuple, np.argwhere(rest)))
            straddles |= rest & (np.abs(numeric - half) > OK_BELOW * scale + noise + half_noise)
        kinks[name] = int(np.count_nonzero(straddles))
        if straddles.all() and array.size:
            errors[name] = math.nan
            notes[name] = (f"all {array.size} entries straddle a ReLU kink, so none could be checked: "
                           "move the input away from 0")
            continue
        kept_analytic, kept_numeric = analytic[~straddles], numeric[~straddles]
        scale = max(np.abs(kept_analytic).max(initial=0.0), np.abs(kept_numeric).max(initial=0.0))
        difference = np.abs(kept_analytic - kept_numeric)
        errors[name] = float(difference.max(initial=0.0) / scale) if scale else 0.0
        floor = float(noise[~straddles].max(initial=0.0)) / scale if scale else 0.0
        if OK_BELOW < errors[name] <= 10 * floor:
            notes[name] = (f"rounding in L alone allows about {floor:.0e}: the gradients are tiny next to L, "
                           "try a larger eps")
    return GradCheckReport(errors=errors, kinks=kinks, notes=notes, eps=eps)


def _numeric_gradient(objective, array: np.ndarray, eps: float, indices=None):
    """Central differences of ``objective`` in each entry of ``array`` (perturbed in place), or in
    the entries at ``indices`` only (the others are left 0).

    Returns, per entry, the estimate, the gap between the two one-sided differences, and how
    much of either could be rounding: a few units in the last place of L, divided by the step.
    """
    numeric = np.zeros(array.shape, dtype=np.float64)
    gap = np.zeros(array.shape, dtype=np.float64)
    noise = np.zeros(array.shape, dtype=np.float64)
    centre = objective()
    for index in np.ndindex(array.shape) if indices is None else indices:
        original = array[index]
        array[index] = original + eps
        up = float(array[index])                # the step actually taken, after rounding
        above = objective()
        array[index] = original - eps
        down = float(array[index])
        below = objective()
        array[index] = original
        numeric[index] = (above - below) / (up - down)
        slope_up = (above - centre) / (up - float(original))
        slope_down = (centre - below) / (float(original) - down)
        gap[index] = abs(slope_up - slope_down)
        noise[index] = _ROUNDING_ULPS * _EPS64 * max(abs(above), abs(below), abs(centre)) / (up - down)
    return numeric, gap, noise


def _parameters_of(module) -> list[Parameter]:
    if hasattr(module, "parameters"):
        return list(module.parameters())
    if isinstance(getattr(module, "params", None), dict) and isinstance(getattr(module, "grads", None), dict):
        return [Parameter(key, module.params, module.grads, key) for key in module.params]
    raise TypeError(
        f"check_gradients needs a layer or model with params/grads dicts or parameters(), "
        f"got {type(module).__name__}"
    )


def _as_float_copy(name: str, array) -> np.ndarray:
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"check_gradients needs {name} as a floating-point NumPy array, got {array!r:.60}")
    return array.copy()


def _upstream(dy, out: np.ndarray, rng) -> np.ndarray:
    if dy is not None:
        dy = np.asarray(dy, dtype=out.dtype)
        if dy.shape != out.shape:
            raise ValueError(f"dy must have the output's shape {out.shape}, got {dy.shape}")
        return dy
    return as_generator("rng", rng).standard_normal(out.shape).astype(out.dtype)


def _warn_unless_float64(x: np.ndarray, params: list[Parameter]) -> None:
    arrays = [("x", x)] + [(p.name, p.value) for p in params]
    lax = [f"{name} is {array.dtype}" for name, array in arrays if array.dtype != np.float64]
    if lax:
        warnings.warn(
            f"gradient check in reduced precision ({', '.join(lax)}): central differences need "
            "float64, so expect relative errors that say nothing about the backward",
            PrecisionWarning,
            stacklevel=3,
        )


def _copy_or_none(array):
    return None if array is None else np.array(array, copy=True)
