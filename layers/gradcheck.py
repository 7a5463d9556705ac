"""Check a backward pass against central differences of the forward pass, in float64. The rule, the verdicts
and how rounding in L and ReLU's kink are told from a bug: docs/layers.md, "Checking your own layer"."""

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
    """Per array ("x", then each parameter by name): the worst relative error (NaN: not checked, and fails),
    the entries left out at kinks, a note; and the arrays above 1e-7 that pass at the rounding level of L."""

    errors: dict[str, float]
    kinks: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    eps: float = 1e-6
    at_rounding: frozenset[str] = frozenset()

    @property
    def passed(self) -> bool:
        return self.passed_at(OK_BELOW)

    def passed_at(self, tol: float) -> bool:
        return all(self.passes(name, tol) for name in self.errors)

    def passes(self, name: str, tol: float = OK_BELOW) -> bool:
        return self.errors[name] <= tol or name in self.at_rounding

    def verdict(self, name: str) -> str:
        error = self.errors[name]
        if math.isnan(error):
            return "NOT CHECKED"
        if self.passes(name):
            return "ok" if error <= OK_BELOW else "ok at rounding level"
        return "suspicious" if error <= BUG_ABOVE else "WRONG"

    def __str__(self) -> str:
        width = max((len(name) for name in self.errors), default=1)
        lines = [f"gradient check: central differences with eps={self.eps:g}"]
        for name, error in self.errors.items():
            kinks = 0 if math.isnan(error) else self.kinks.get(name, 0)     # if NaN, the note says it all
            straddle = "1 entry straddles" if kinks == 1 else f"{kinks} entries straddle"
            lines.append(f"  {name:<{width}}  relative error {error:.1e}  {self.verdict(name)}"
                         + (f"  ({straddle} a ReLU kink, excluded)" if kinks else "")
                         + (f"  ({self.notes[name]})" if name in self.notes else ""))
        return "\n".join(lines)


def check_gradients(module, x: np.ndarray, *, loss=None, y=None, dy=None, eps: float = 1e-6,
                    rng: np.random.Generator | int = 0, window: int | None = None) -> GradCheckReport:
    """Check ``module.backward`` (a layer or a model) on L = Σ module(x) ⊙ G, ∂L/∂y = G (``dy`` or drawn from
    ``rng``), or on L = loss(module(x), y); each weight whole, or its first ``window`` entries along each axis
    (x always whole). x and weights are kept, the module left as after a pass at x."""
    x = _as_float_copy("x", x)
    params = _parameters_of(module)
    layers = list(module) if hasattr(module, "__iter__") else [module]
    generators = [(layer.rng, layer.rng.bit_generator.state) for layer in layers
                  if isinstance(getattr(layer, "rng", None), np.random.Generator)]
    buffers = [(array, array.copy()) for layer in layers for array in getattr(layer, "buffers", {}).values()]
    out = module.forward(x.copy())          # copies of x: a module may write over its input
    if loss is None:
        dy = np.asarray(as_generator("rng", rng).standard_normal(out.shape) if dy is None else dy, out.dtype)
        if dy.shape != out.shape:
            raise ValueError(f"dy must have the output's shape {out.shape}, got {dy.shape}")

    def objective() -> float:       # each pass alike: Dropout's draws rewound, BatchNorm1d's buffers put back
        for generator, state in generators:
            generator.bit_generator.state = state
        for array, before in buffers:
            array[...] = before
        out = module.forward(x.copy())
        return float(np.sum(out * dy)) if loss is None else float(loss.forward(out, y))

    def seen(array):            # a view: moving its entries moves the weight's
        return array if window is None or array is None else array[(slice(window),) * array.ndim]

    objective()
    dx = module.backward(dy.copy() if loss is None else loss.backward())
    return _compare([("x", x, dx)] + [(p.name, seen(p.value), seen(p.grad)) for p in params], objective, eps)


def check_loss_gradient(loss, scores: np.ndarray, y, *, eps: float = 1e-6) -> GradCheckReport:
    """Check ``loss.backward()`` = ∂L/∂scores against central differences of ``loss.forward``."""
    scores = _as_float_copy("scores", scores)
    loss.forward(scores, y)
    return _compare([("scores", scores, loss.backward())], lambda: float(loss.forward(scores, y)), eps)


def _compare(named, objective, eps: float) -> GradCheckReport:
    """The report on each (name, array, ∂L/∂array from backward), L being ``objective()``."""
    named = [(name, array, None if g is None else np.array(g, dtype=float)) for name, array, g in named]
    lax = ", ".join(f"{name} is {array.dtype}" for name, array, _ in named if array.dtype != np.float64)
    if lax:
        warnings.warn(f"gradient check in reduced precision ({lax}): central differences need float64, so "
                      "the errors say nothing about the backward", PrecisionWarning, stacklevel=3)
    centre = objective()
    if not math.isfinite(centre):
        raise ValueError(f"check_gradients: L = {centre}: no gradient to check (do the weights overflow?)")
    errors, kinks, notes, at_rounding = {}, {}, {}, set()
    for name, array, analytic in named:
        if analytic is None or analytic.shape != array.shape:
            errors[name] = math.inf
            notes[name] = ("backward left no gradient for it" if analytic is None else
                           f"gradient has shape {analytic.shape}, the array has shape {array.shape}")
            continue
        analytic, numeric, allowed, kinks[name] = _numeric_gradient(objective, array, analytic, eps, centre)
        if array.size and kinks[name] == array.size:     # nothing left to check: the array fails
            errors[name] = math.nan
            notes[name] = f"all {array.size} entries straddle a ReLU kink: none checked, move the input off 0"
            continue
        scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
        difference = np.abs(analytic - numeric)
        errors[name] = float(difference.max(initial=0.0) / scale) if scale else 0.0
        floor = float(allowed.max(initial=0.0))         # the most that rounding in L may put into an entry
        allows = f"rounding in L alone allows about {floor / scale if scale else 0:.0e}"
        if errors[name] > OK_BELOW and np.all(difference <= OK_BELOW * scale + allowed):
            at_rounding.add(name)
            notes[name] = (f"{allows}: every entry agrees within it" if scale > floor else
                           f"≈ 0, no effect on L, as for a bias before BatchNorm1d: both within {floor:.0e}")
        elif OK_BELOW < errors[name] <= 10 * floor / scale:
            notes[name] = f"{allows}: the gradients are tiny next to L, try a larger eps"
    objective()                 # the caches (and buffers) as after a forward pass at the given point
    return GradCheckReport(errors, kinks, notes, eps, frozenset(at_rounding))


def _numeric_gradient(objective, array: np.ndarray, analytic: np.ndarray, eps: float, centre: float):
    """The entries of ``analytic`` not left out at a kink, the estimates of ∂L/∂θ they are compared with, the
    rounding in L each may carry, and how many were left out (only where the forward pass shows a kink)."""

    def moved(index, step: float) -> tuple[float, float]:      # L with θ moved by step, and the step taken
        original = array[index]
        array[index] = original + step
        taken = float(array[index]) - float(original)          # θ + step is rounded to the array's dtype
        value = objective()
        array[index] = original
        return value, taken

    def slopes(index, step: float):     # θ moved by ±step: D, the slopes right and left, the step taken
        (above, up), (below, down) = moved(index, step), moved(index, -step)
        return (above - below) / (up - down), (above - centre) / up, (below - centre) / down, (up - down) / 2

    # δ, how far rounding moves L: twice its largest deviation from a line over 9 steps too small to bend it
    deviations = []
    resolution = np.finfo(array.dtype).eps
    for flat in np.unique(np.linspace(0, array.size - 1, min(4, array.size)).astype(int)):
        index = np.unravel_index(flat, array.shape)
        tiny = max(1e-3 * math.sqrt(resolution), resolution) * max(1.0, abs(float(array[index])))
        values, steps = np.array([moved(index, k * tiny) for k in range(9)]).T
        line = np.polyval(np.polyfit(steps, values - centre, 1), steps)
        deviations.append(2 * np.abs(values - centre - line).max())
    delta = max(float(np.median(deviations)) if deviations else 0.0, np.finfo(float).eps * abs(centre))

    numeric, allowed, kinked = np.zeros(array.shape), np.zeros(array.shape), np.zeros(array.shape, dtype=bool)
    bar = OK_BELOW * np.abs(analytic).max(initial=0.0)
    for index in np.ndindex(array.shape):
        step = max(eps, 4 * resolution) * max(1.0, abs(float(array[index])))      # a huge θ moves too
        central, right, left, h = slopes(index, step)
        numeric[index], allowed[index] = central, delta / h
        if abs(analytic[index] - central) <= bar + delta / h:
            continue
        half, half_right, half_left, _ = slopes(index, step / 2)
        right, left = 2 * half_right - right, 2 * half_left - left       # one-sided slopes, extrapolated to 0
        for estimate, rounding in [(half, 2 * delta / h), (right, 8 * delta / h), (left, 8 * delta / h)]:
            if abs(analytic[index] - estimate) <= bar + rounding:
                numeric[index], allowed[index] = estimate, rounding
                break
        else:       # none agrees: left out if the slopes differ, or D moves as the step halves, past rounding
            kinked[index] = abs(right - left) > 16 * delta / h or any(
                abs(slopes(index, step / 2**k)[0] - central) > (1 + 2**k) * delta / h for k in range(1, 5))
    return analytic[~kinked], numeric[~kinked], allowed[~kinked], int(np.count_nonzero(kinked))


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
