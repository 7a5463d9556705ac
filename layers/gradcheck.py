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
central difference is meaningless there. Whether L is smooth at an entry whose central difference
misses is decided by halving ε: for a smooth L the central difference moves by O(ε²) and the gap
between the one-sided differences (L(θ_i + ε) − L(θ_i)) / ε and (L(θ_i) − L(θ_i − ε)) / ε halves.
If the central difference moves, a kink lies within ±ε: the entry is left out of the relative
error and counted in ``report.kinks``. If the gap stays, the kink is at θ_i itself: the backward
must then give one of the two one-sided derivatives (extrapolated from ε and ε/2), and is checked
against the nearer; an entry that matches neither is left out and counted. All of this is decided
by the forward pass alone, so a wrong backward cannot make its entries look like kinks; an array
whose entries all straddle kinks is reported as not checked, and fails.

Rounding. What a forward pass may round L by is measured, not assumed: L at a few entries moved
by steps far too small to bend it, less the straight line through them (``_rounding_of``). It is
set by the terms summed into L, not by L: a trained model's loss of 3e-5 made of log-sum-exps of
scores near 10 rounds like 10. A difference within that rounding is neither a miss nor a kink, and an
array whose every difference is within it passes even above 1e-7 (the report says so): central
differences cannot tell it from right. For an ordinary gradient that rounding is far below 1e-7 of it,
so only gradients tiny next to L pass this way, such as the exact zero of a bias that a BatchNorm1d
follows (it subtracts the batch mean, so the bias has no effect on L), whose analytic and numeric
values are then both at the rounding level.
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
    ``at_rounding`` names the arrays above 1e-7 whose every difference is within what rounding in L
    allows: they pass at any ``tol``, as closely checked as central differences can (see the note).
    """

    errors: dict[str, float]
    kinks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    eps: float = 1e-6
    at_rounding: frozenset[str] = frozenset()

    @property
    def worst(self) -> float:
        """The largest relative error among the arrays that could be checked."""
        return max((error for error in self.errors.values() if not math.isnan(error)), default=0.0)

    @property
    def passed(self) -> bool:
        """True when every array's relative error is at most 1e-7 (what a correct float64 backward gives)."""
        return self.passed_at(OK_BELOW)

    def passed_at(self, tol: float) -> bool:
        """True when every array's relative error is at most ``tol``, or all rounding in L (``at_rounding``);
        an array not checked fails."""
        return all(self.passes(name, tol) for name in self.errors)

    def passes(self, name: str, tol: float = OK_BELOW) -> bool:
        """Whether the array ``name`` passes at ``tol``; NaN (not checked) is not <= tol."""
        return self.errors[name] <= tol or name in self.at_rounding

    def verdict(self, name: str) -> str:
        """"ok", "ok at rounding level", "suspicious", "WRONG" or "NOT CHECKED", at the 1e-7 bar."""
        error = self.errors[name]
        if math.isnan(error):
            return "NOT CHECKED"
        if error <= OK_BELOW:
            return "ok"
        if name in self.at_rounding:
            return "ok at rounding level"
        return "suspicious" if error <= BUG_ABOVE else "WRONG"

    def __str__(self) -> str:
        width = max((len(name) for name in self.errors), default=1)
        lines = [f"gradient check: central differences with eps={self.eps:g}"]
        for name, error in self.errors.items():
            line = f"  {name:<{width}}  relative error {error:.1e}  {self.verdict(name)}"
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

    Random draws are held fixed: the generator of each layer that draws (``rng``, as Dropout's) is
    rewound before every forward pass, so every pass draws the same mask; buffers (BatchNorm1d's
    running statistics, which each training-mode pass moves) are put back before the last pass.
    """
    x = _as_float_copy("x", x)
    params = _parameters_of(module)
    _warn_unless_float64(x, params)
    held = _HeldFixed(module)

    # the module gets copies: a layer built with inplace=True overwrites what it is given
    if loss is None:
        out = module.forward(x.copy())
        upstream = _upstream(dy, out, rng)

        def objective() -> float:
            held.rewind()
            return float(np.sum(module.forward(x.copy()) * upstream))

        def analytic() -> np.ndarray:
            held.rewind()
            module.forward(x.copy())
            return module.backward(upstream.copy())
    else:
        if y is None:
            raise ValueError("check_gradients with a loss needs the labels y as well")

        def objective() -> float:
            held.rewind()
            return float(loss.forward(module.forward(x.copy()), y))

        def analytic() -> np.ndarray:
            held.rewind()
            loss.forward(module.forward(x.copy()), y)
            return module.backward(loss.backward())

    dx = analytic()
    named = [("x", x, dx)] + [(p.name, p.value, _copy_or_none(p.grad)) for p in params]
    report = _compare(named, objective, eps)
    held.restore_buffers()
    analytic()
    return report


class _HeldFixed:
    """The random draws of a module's layers, held fixed, and its buffers as they were at the start."""

    def __init__(self, module):
        layers = list(module) if hasattr(module, "__iter__") else [module]
        self.generators = [(layer.rng, layer.rng.bit_generator.state) for layer in layers
                           if isinstance(getattr(layer, "rng", None), np.random.Generator)]
        self.buffers = [(array, array.copy()) for layer in layers
                        for array in getattr(layer, "buffers", {}).values()]

    def rewind(self) -> None:
        """Every generator back to its state at the start: the next forward draws what the first drew."""
        for rng, state in self.generators:
            rng.bit_generator.state = state

    def restore_buffers(self) -> None:
        for array, before in self.buffers:
            array[...] = before


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
    errors, kinks, notes, at_rounding = {}, {}, {}, set()
    rounding = _rounding_of(objective, [array for _, array, _ in named])
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
        numeric, gap, noise, sides = _numeric_gradient(objective, array, eps, rounding, sides=True)
        analytic = analytic.astype(np.float64)
        scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
        # the central difference disagrees by more than a correct backward or the rounding of L allows
        missed = np.abs(analytic - numeric) > OK_BELOW * scale + noise
        # A kink spoilt it if L is not smooth there. Halving the step tells: for a smooth L the central
        # difference moves by O(eps²) and the gap between the one-sided slopes, L''·eps + O(eps³), halves.
        # A kink within ±eps moves the central difference; a kink at the entry itself leaves the gap
        # (the jump of the slope) as it was, whatever the step.
        straddles = np.zeros(array.shape, dtype=bool)
        if missed.any():
            half, half_gap, half_noise, half_sides = _numeric_gradient(
                objective, array, eps / 2, rounding, map(tuple, np.argwhere(missed)), sides=True)
            slack = OK_BELOW * scale + 4 * (noise + half_noise)
            moved = missed & (np.abs(numeric - half) > slack)
            at_kink = missed & ~moved & (np.abs(half_gap - gap / 2) > slack)
            # At a kink at the entry L still has a derivative from either side, and the backward must
            # give one of them (which one is the layer's convention, e.g. ReLU's slope 0 at 0). Each is
            # (L(θ ± h) − L(θ)) / ±h extrapolated to h = 0 from h = eps and eps/2 (error O(eps²)).
            right, left = 2 * half_sides[0] - sides[0], 2 * half_sides[1] - sides[1]
            nearer = np.where(np.abs(analytic - right) <= np.abs(analytic - left), right, left)
            one_sided = at_kink & (np.abs(analytic - nearer) <= OK_BELOW * scale + 8 * (noise + half_noise))
            numeric = np.where(one_sided, nearer, numeric)
            straddles = moved | (at_kink & ~one_sided)
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
        if errors[name] <= OK_BELOW:
            continue
        kept_noise = noise[~straddles]
        allowed = kept_noise.max(initial=0.0)               # what rounding in L allows, at most
        floor = float(allowed) / scale
        # the same test as `missed` above: a difference within the rounding of L is no disagreement
        if np.all(difference <= OK_BELOW * scale + kept_noise):
            at_rounding.add(name)
            if scale <= allowed:
                notes[name] = ("≈ 0, no effect on L, as for a bias before BatchNorm1d: analytic and numeric "
                               f"are both within the rounding of L (about {allowed:.0e})")
            else:
                notes[name] = (f"rounding in L alone allows about {floor:.0e}: the gradients are tiny next "
                               "to L and agree within it; a larger eps checks them more closely")
        elif errors[name] <= 10 * floor:
            notes[name] = (f"rounding in L alone allows about {floor:.0e}: the gradients are tiny next to L, "
                           "try a larger eps")
    return GradCheckReport(errors=errors, kinks=kinks, notes=notes, eps=eps,
                           at_rounding=frozenset(at_rounding))


def _rounding_of(objective, arrays, probes: int = 4, steps: int = 4) -> float:
    """How far a forward pass may round L, measured: L at a few entries moved by k·δ, k = −steps..steps,
    with δ ~ 1e-11 relative, far too little to bend L, so what a straight line through them leaves
    over is rounding. The median over the probed entries, so a probe that sits on a kink (its line
    breaks) does not count; never less than a few units in the last place of L.

    Rounding in L is set by the sizes of the terms summed into it, not by L itself: a loss of 3e-5
    made of log-sum-exps of scores near 10 rounds like 10, thousands of units in the last place of L.
    """
    centre = objective()
    floor = _ROUNDING_ULPS * _EPS64 * abs(centre)
    spreads = []
    for array in arrays:
        for flat in np.unique(np.linspace(0, array.size - 1, min(probes, array.size)).astype(int)):
            index = np.unravel_index(flat, array.shape)
            original = array[index]
            delta = 1e-11 * max(1.0, abs(float(original)))
            moved, values = [], []
            for k in range(-steps, steps + 1):
                array[index] = original + k * delta
                moved.append(float(array[index]) - float(original))     # the step actually taken
                values.append(objective())
            array[index] = original
            moved, values = np.asarray(moved), np.asarray(values)
            if np.ptp(moved) == 0:          # too narrow a float to take steps this small: nothing to fit
                continue
            centred = moved - moved.mean()
            slope = np.sum(centred * (values - values.mean())) / np.sum(centred ** 2)     # least squares
            line = values.mean() + slope * centred
            spreads.append(float(np.max(np.abs(values - line))))
    measured = 2 * float(np.median(spreads)) if spreads else 0.0
    return max(floor, measured)


def _numeric_gradient(objective, array: np.ndarray, eps: float, rounding: float, indices=None, *,
                      sides: bool = False):
    """Central differences of ``objective`` in each entry of ``array`` (perturbed in place), or in
    the entries at ``indices`` only (the others are left 0).

    Returns, per entry, the estimate, the gap between the two one-sided differences, and how
    much of the estimate could be rounding: ``rounding`` (of L, from ``_rounding_of``) over the step;
    with ``sides``, also the one-sided differences (upward, downward).
    """
    numeric = np.zeros(array.shape, dtype=np.float64)
    gap = np.zeros(array.shape, dtype=np.float64)
    noise = np.zeros(array.shape, dtype=np.float64)
    ups = np.zeros(array.shape, dtype=np.float64)
    downs = np.zeros(array.shape, dtype=np.float64)
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
        ups[index], downs[index] = slope_up, slope_down
        ulps = _ROUNDING_ULPS * _EPS64 * max(abs(above), abs(below), abs(centre))
        noise[index] = max(rounding, ulps) / (up - down)
    return (numeric, gap, noise, (ups, downs)) if sides else (numeric, gap, noise)


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
