"""Check a backward pass against central differences of the forward pass.

Use it on your own layers before you trust them::

    from layers import check_gradients
    report = check_gradients(MyLayer(...), x)      # x a float64 array
    print(report)                                  # worst relative error per input and parameter
    assert report.passed                          # or report.passed_at(1e-6)

For a layer or model f and a fixed random G, L = Σ f(x) ⊙ G has ∂L/∂y = G, so ``backward(G)`` must give
∂L/∂x and fill ∂L/∂θ (with a loss, L = loss(f(x), y)). Each entry θ_i is moved by ±h, h = eps·max(1, |θ_i|):

    D_i = (L(θ_i + h) − L(θ_i − h)) / 2h          (central difference, error O(h²))

An array's error, max_i |analytic_i − D_i| / max_i max(|analytic_i|, |D_i|), is 1e-7 or less for a
correct float64 backward, above 1e-2 for a bug. Rounding in L and ReLU's kink at 0 can spoil D_i;
``_numeric_gradient`` says how the check tells, by the forward pass alone.
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


class PrecisionWarning(UserWarning):
    """A gradient check was asked of arrays that are not float64."""


@dataclass(frozen=True)
class GradCheckReport:
    """Worst relative error per array ("x", then each parameter by name), the entries left out at kinks,
    notes, and the arrays above 1e-7 whose every entry agrees within the rounding of L."""

    errors: dict[str, float]
    kinks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    eps: float = 1e-6
    at_rounding: frozenset[str] = frozenset()

    @property
    def worst(self) -> float:
        return max((error for error in self.errors.values() if not math.isnan(error)), default=0.0)

    @property
    def passed(self) -> bool:
        return self.passed_at(OK_BELOW)

    def passed_at(self, tol: float) -> bool:
        return all(self.passes(name, tol) for name in self.errors)

    def passes(self, name: str, tol: float = OK_BELOW) -> bool:
        """Within ``tol``, or at rounding level; an array not checked (error NaN) fails."""
        return self.errors[name] <= tol or name in self.at_rounding

    def verdict(self, name: str) -> str:
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
    """Check ``module.backward`` (a layer or a model) against central differences: of L = Σ module(x) ⊙ G
    for a random G drawn from ``rng`` (or ``dy``), or with ``loss`` and labels ``y``, of loss(module(x), y).
    ``x`` and the weights are left as they were, the module as after one forward and backward at ``x``.
    Random masks (a layer's ``rng``, as Dropout's) are drawn alike in every forward pass, and buffers
    (BatchNorm1d's running statistics) are put back at the end."""
    x = _as_float_copy("x", x)
    params = _parameters_of(module)
    if loss is not None and y is None:
        raise ValueError("check_gradients with a loss needs the labels y as well")
    layers = list(module) if hasattr(module, "__iter__") else [module]
    generators = [(layer.rng, layer.rng.bit_generator.state) for layer in layers
                  if isinstance(getattr(layer, "rng", None), np.random.Generator)]
    buffers = [(array, array.copy()) for layer in layers for array in getattr(layer, "buffers", {}).values()]
    out = module.forward(x.copy())      # copies of x: a layer built with inplace=True overwrites its input
    if loss is None and dy is None:
        dy = as_generator("rng", rng).standard_normal(out.shape)
    if loss is None and np.shape(dy) != out.shape:
        raise ValueError(f"dy must have the output's shape {out.shape}, got {np.shape(dy)}")
    upstream = None if loss is not None else np.asarray(dy, dtype=out.dtype)

    def objective() -> float:
        for generator, state in generators:
            generator.bit_generator.state = state       # rewound: every pass draws what the first drew
        out = module.forward(x.copy())
        return float(np.sum(out * upstream)) if loss is None else float(loss.forward(out, y))

    def analytic() -> np.ndarray:
        objective()
        return module.backward(upstream.copy() if loss is None else loss.backward())

    named = [("x", x, analytic())] + [(p.name, p.value, p.grad) for p in params]
    report = _compare([(name, array, None if g is None else np.array(g)) for name, array, g in named],
                      objective, eps)
    for array, before in buffers:
        array[...] = before
    analytic()
    return report


def check_loss_gradient(loss, scores: np.ndarray, y, *, eps: float = 1e-6) -> GradCheckReport:
    """Check ``loss.backward()`` = ∂L/∂scores against central differences of ``loss.forward``."""
    scores = _as_float_copy("scores", scores)
    loss.forward(scores, y)
    report = _compare([("scores", scores, loss.backward())], lambda: float(loss.forward(scores, y)), eps)
    loss.forward(scores, y)
    return report


def _compare(named, objective, eps: float) -> GradCheckReport:
    lax = [f"{name} is {array.dtype}" for name, array, _ in named if array.dtype != np.float64]
    if lax:
        warnings.warn(f"gradient check in reduced precision ({', '.join(lax)}): central differences need "
                      "float64, so expect relative errors that say nothing about the backward",
                      PrecisionWarning, stacklevel=3)
    centre = objective()
    if not math.isfinite(centre):
        raise ValueError(f"check_gradients: L = {centre} at the given input and weights, so there is no "
                         "gradient to check (do the weights or the scores overflow?)")
    errors, kinks, notes, at_rounding = {}, {}, {}, set()
    for name, array, analytic in named:
        if analytic is None or analytic.shape != array.shape:
            errors[name] = math.inf
            notes[name] = ("backward left no gradient for it" if analytic is None else
                           f"gradient has shape {analytic.shape}, the array has shape {array.shape}")
            continue
        numeric, allowed, kinked = _numeric_gradient(objective, array, analytic.astype(float), eps, centre)
        kinks[name] = int(np.count_nonzero(kinked))
        if kinked.all() and array.size:
            errors[name] = math.nan
            notes[name] = (f"all {array.size} entries straddle a ReLU kink, so none could be checked: "
                           "move the input away from 0")
            continue
        analytic, numeric, allowed = analytic[~kinked], numeric[~kinked], allowed[~kinked]
        scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
        difference = np.abs(analytic - numeric)
        errors[name] = float(difference.max(initial=0.0) / scale) if scale else 0.0
        floor = float(allowed.max(initial=0.0))         # the most that rounding in L may put into an entry
        if errors[name] > OK_BELOW and np.all(difference <= OK_BELOW * scale + allowed):
            at_rounding.add(name)
        allows = f"rounding in L alone allows about {floor / scale if scale else 0:.0e}"
        if name in at_rounding and scale <= floor:
            notes[name] = (f"≈ 0, no effect on L, as for a bias before BatchNorm1d: analytic and numeric are "
                           f"both within the rounding of L (about {floor:.0e})")
        elif name in at_rounding:
            notes[name] = f"{allows}: every entry agrees within it"
        elif OK_BELOW < errors[name] <= 10 * floor / scale:
            notes[name] = f"{allows}: the gradients are tiny next to L, try a larger eps"
    return GradCheckReport(errors, kinks, notes, eps, frozenset(at_rounding))


def _numeric_gradient(objective, array: np.ndarray, analytic: np.ndarray, eps: float, centre: float):
    """Per entry: the numeric derivative, how much rounding in L it may carry, and whether a kink of L
    leaves it unchecked. Only the forward pass decides, so a wrong backward cannot make L look kinked.

    A value of L is off by up to δ (``_rounding_of``), so D_i by up to δ/h: an entry within 1e-7 (of the
    largest gradient) plus δ/h agrees. One that does not may still agree with D_i at h/2 (within 2δ/h),
    or with the slope from the right or from the left, each extrapolated from h and h/2 to a step of 0
    (within 8δ/h): where L is smooth all three are its derivative, at a kink at θ_i only the two slopes
    are, and the backward must give one of them. An entry that agrees with none is left out if the
    forward pass shows a kink: the two slopes differ by more than 16δ/h, or D_i moves by more than its
    rounding when the step is halved, up to 4 times (at h/2^k, by (1 + 2^k)·δ/h). Otherwise it fails.
    """
    delta = _rounding_of(objective, array, centre)
    numeric, allowed = np.zeros(array.shape), np.zeros(array.shape)
    kinked = np.zeros(array.shape, dtype=bool)
    bar = OK_BELOW * np.abs(analytic).max(initial=0.0)
    for index in np.ndindex(array.shape):
        # h = eps·max(1, |θ|), so that even a huge weight moves; never below what the dtype resolves
        step = max(eps, 4 * np.finfo(array.dtype).eps) * max(1.0, abs(float(array[index])))
        central, right, left, h = _differences(objective, array, index, step, centre)
        numeric[index], allowed[index] = central, delta / h
        if abs(analytic[index] - central) <= bar + delta / h:
            continue
        half, half_right, half_left, _ = _differences(objective, array, index, step / 2, centre)
        right = 2 * half_right - right
        left = 2 * half_left - left
        for estimate, rounding in [(half, 2 * delta / h), (right, 8 * delta / h), (left, 8 * delta / h)]:
            if abs(analytic[index] - estimate) <= bar + rounding:
                numeric[index], allowed[index] = estimate, rounding
                break
        else:
            moved = any(abs(_differences(objective, array, index, step / 2 ** k, centre)[0] - central)
                        > (1 + 2 ** k) * delta / h for k in range(1, 5))
            kinked[index] = moved or abs(right - left) > 16 * delta / h
    return numeric, allowed, kinked


def _differences(objective, array: np.ndarray, index, step: float, centre: float):
    """The entry moved by ±step: the central difference, the slopes to the right and to the left, and
    the step actually taken (θ ± step is rounded to the array's dtype)."""
    original = array[index]
    array[index] = original + step
    up = float(array[index]) - float(original)
    above = objective()
    array[index] = original - step
    down = float(original) - float(array[index])
    below = objective()
    array[index] = original
    return (above - below) / (up + down), (above - centre) / up, (centre - below) / down, (up + down) / 2


def _rounding_of(objective, array: np.ndarray, centre: float) -> float:
    """δ, how far rounding may move a value of L, measured: at up to 4 entries, L after 0 … 8 steps of
    about 1e-11·|θ|, far too small to bend L, less the straight line through them. Twice the largest
    deviation, the median over the entries (one on a kink does not count), and at least ε·|L|."""
    deviations = []
    resolution = np.finfo(array.dtype).eps
    for flat in np.unique(np.linspace(0, array.size - 1, min(4, array.size)).astype(int)):
        index = np.unravel_index(flat, array.shape)
        original = array[index]
        tiny = max(1e-3 * math.sqrt(resolution), resolution) * max(1.0, abs(float(original)))
        steps, values = [], []
        for k in range(9):
            array[index] = original + k * tiny
            steps.append(float(array[index]) - float(original))      # the step actually taken
            values.append(objective() - centre)
        array[index] = original
        line = np.polyval(np.polyfit(steps, values, 1), steps)
        deviations.append(2 * np.abs(np.asarray(values) - line).max())
    return max(float(np.median(deviations)) if deviations else 0.0, np.finfo(float).eps * abs(centre))


def _parameters_of(module) -> list[Parameter]:
    if hasattr(module, "parameters"):
        return list(module.parameters())
    if isinstance(getattr(module, "params", None), dict) and isinstance(getattr(module, "grads", None), dict):
        return [Parameter(key, module.params, module.grads, key) for key in module.params]
    raise TypeError(f"check_gradients needs a layer or model with params/grads dicts or parameters(), "
                    f"got {type(module).__name__}")


def _as_float_copy(name: str, array) -> np.ndarray:
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"check_gradients needs {name} as a floating-point NumPy array, got {array!r:.60}")
    return array.copy()
