"""What every optimizer shares: its parameter list, its buffers, its saved state."""

from __future__ import annotations

import numpy as np

from checks import check_finite
from layers.state import checked_state


class Optimizer:
    """Base class: updates each parameter in place from the gradient its layer left in ``grads``.

    Subclasses name their per-parameter buffers in ``buffer_names`` (zeros to start with)
    and implement ``update(i, theta, grad)`` for parameter ``i``. ``step()`` first checks every
    gradient, then updates, so a missing or non-finite gradient never leaves a half-updated model
    (a non-finite one raises ``checks.NonFiniteError``, which ``fit`` reports as divergence).

    Coming from PyTorch: here each ``backward`` overwrites the gradients, so no ``zero_grad()`` is
    needed between steps, whereas PyTorch adds to them and needs ``optimizer.zero_grad()`` first.
    ``zero_grad()`` exists all the same and, like PyTorch's default (``set_to_none=True``), sets every
    gradient to None, so that a ``step()`` before the next ``backward`` is a clear error.
    """

    buffer_names: tuple[str, ...] = ()
    nonnegative_buffers: tuple[str, ...] = ()     # buffers that can only hold values >= 0

    def __init__(self, params):
        self.params = _check_params(params, type(self).__name__)
        self.step_count = 0
        self.buffers = {name: [np.zeros_like(p.value) for p in self.params] for name in self.buffer_names}

    def step(self) -> None:
        grads = [_gradient_of(p) for p in self.params]      # all checked before any update
        self.step_count += 1
        for i, (p, grad) in enumerate(zip(self.params, grads, strict=True)):
            self.update(i, p.value, grad)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None) until the next ``backward``."""
        for p in self.params:
            p.grad = None

    def update(self, i: int, theta: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement update()")

    def _named_buffers(self) -> dict[str, np.ndarray]:
        """Every buffer array, named ``"<buffer>/<parameter>"``: the names ``state_dict`` saves."""
        return {f"{buffer}/{p.name}": array for buffer, arrays in self.buffers.items()
                for p, array in zip(self.params, arrays, strict=True)}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The step count and a copy of every buffer."""
        return {"step": np.array(self.step_count)} | {n: a.copy() for n, a in self._named_buffers().items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; strict, and checked before anything changes."""
        expected = self.state_dict()
        nonnegative = ["step"] + [name for name in expected if name.split("/")[0] in self.nonnegative_buffers]
        converted = checked_state(expected, state, f"{type(self).__name__} state does not fit",
                                  whole_numbers=("step",), nonnegative=nonnegative)
        self.step_count = int(converted["step"])
        for name, array in self._named_buffers().items():
            array[...] = converted[name]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""


def _check_params(params, owner: str) -> list:
    """``model.parameters()``: a non-empty list of Parameters with floating-point arrays, each once."""
    whole = isinstance(params, np.ndarray) or hasattr(params, "forward") or not hasattr(params, "__iter__")
    params = [params] if whole else list(params)
    for p in params:
        value = getattr(p, "value", None)
        if not (hasattr(p, "grad") and isinstance(value, np.ndarray) and value.dtype.kind == "f"):
            shown = type(p).__name__ if hasattr(p, "forward") else f"{p!r:.50}"
            raise TypeError(f"{owner} expects model.parameters(), a list of Parameters of floating-point "
                            f"arrays; got {shown}")
    if not params:
        raise ValueError(f"{owner} got an empty parameter list: the model has nothing to train")
    twice = [p.name for i, p in enumerate(params) if any(p.value is q.value for q in params[:i])]
    if twice:
        raise ValueError(f"{owner} got parameter {twice[0]!r} twice: pass each parameter once, "
                         "as model.parameters() lists them")
    return params


def _gradient_of(p) -> np.ndarray:
    if p.grad is None:
        raise RuntimeError(f"parameter {p.name!r} has no gradient: call backward() before optimizer.step()")
    if np.shape(p.grad) != p.value.shape:
        raise ValueError(f"the gradient of {p.name!r} has shape {np.shape(p.grad)}, "
                         f"but the parameter has shape {p.value.shape}")
    return check_finite(f"the gradient of {p.name!r}", p.grad, consequence=": no parameter was updated")
