"""What every optimizer shares: its parameter list, its buffers, its saved state."""

from __future__ import annotations

import numpy as np

from checks import check_finite
from layers.state import convert_state


class Optimizer:
    """Base class: updates each parameter in place from the gradient its layer left in ``grads``.

    Subclasses name their per-parameter buffers in ``buffer_names`` (zeros to start with)
    and implement ``update(i, theta, grad)`` for parameter ``i``. ``step()`` first checks every
    gradient, then updates, so a missing gradient never leaves a half-updated model.

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
        self.buffers: dict[str, list[np.ndarray]] = {
            name: [np.zeros_like(p.value) for p in self.params] for name in self.buffer_names
        }

    def step(self) -> None:
        grads = [_gradient_of(p) for p in self.params]
        self.step_count += 1
        for i, (p, grad) in enumerate(zip(self.params, grads, strict=True)):
            self.update(i, p.value, grad)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None) until the next ``backward``."""
        for p in self.params:
            p.grad = None

    def update(self, i: int, theta: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement update()")

    def state_dict(self) -> dict[str, np.ndarray]:
        """The step count and a copy of every buffer, named ``"<buffer>/<parameter>"``."""
        state = {"step": np.array(self.step_count)}
        for buffer, arrays in self.buffers.items():
            for p, array in zip(self.params, arrays, strict=True):
                state[f"{buffer}/{p.name}"] = array.copy()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; strict, and checked before anything changes."""
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state).__name__}")
        expected = self.state_dict()
        nonnegative = ["step"] + [name for name in expected if name.split("/")[0] in self.nonnegative_buffers]
        converted, problems = convert_state(expected, state, whole_numbers=("step",), nonnegative=nonnegative)
        if problems:
            raise ValueError(f"{type(self).__name__} state does not fit: " + "; ".join(problems))
        self.step_count = int(converted["step"])
        for buffer, arrays in self.buffers.items():
            for p, array in zip(self.params, arrays, strict=True):
                array[...] = converted[f"{buffer}/{p.name}"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""


def _check_params(params, owner: str) -> list:
    if isinstance(params, np.ndarray) or not hasattr(params, "__iter__") or hasattr(params, "forward"):
        raise TypeError(
            f"{owner} expects the list returned by model.parameters(), got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ValueError(f"{owner} got an empty parameter list: the model has nothing to train")
    seen = {}
    for i, p in enumerate(params):
        if not all(hasattr(p, attr) for attr in ("name", "value", "grad")):
            raise TypeError(
                f"{owner} parameter {i} is {p!r:.40} (type {type(p).__name__}), expected a Parameter: "
                "pass model.parameters(), not the arrays themselves"
            )
        if not (isinstance(p.value, np.ndarray) and np.issubdtype(p.value.dtype, np.floating)):
            raise TypeError(f"{owner} parameter {p.name!r} must be a floating-point NumPy array")
        if id(p.value) in seen:
            also = "" if seen[id(p.value)] == p.name else f" (also as {seen[id(p.value)]!r})"
            raise ValueError(f"{owner} got parameter {p.name!r} twice{also}: pass each parameter once, "
                             "as model.parameters() lists them")
        seen[id(p.value)] = p.name
    return params


def _gradient_of(p) -> np.ndarray:
    grad = p.grad
    if grad is None:
        raise RuntimeError(
            f"parameter {p.name!r} has no gradient: call backward() before optimizer.step()"
        )
    if np.shape(grad) != p.value.shape:
        raise ValueError(
            f"the gradient of {p.name!r} has shape {np.shape(grad)}, "
            f"but the parameter has shape {p.value.shape}"
        )
    return check_finite(f"the gradient of {p.name!r}", grad, consequence=": no parameter was updated")
