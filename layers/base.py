"""The layer contract every part of the project relies on.

A layer holds its trainable arrays in ``params`` and their gradients in ``grads`` (same keys),
maps ``x -> y`` in ``forward`` and keeps what its backward pass needs in a cache, and in
``backward`` takes ``dy = ∂L/∂y``, overwrites ``grads`` and returns ``dx = ∂L/∂x``.
Models and optimizers use only this contract, never a concrete layer class.

A layer is in training mode (``training`` True) until ``eval()``; ``train()`` switches it back, as
in PyTorch. Only layers whose forward differs between the modes say so (``depends_on_mode = True``:
Dropout, BatchNorm1d), and a layer whose forward mixes the rows of a batch says that too
(``needs_whole_batch = True``: BatchNorm1d), so that ``fit`` never splits its batches; a layer without
these attributes has neither property. Non-trainable state (BatchNorm1d's running statistics) lives in
``buffers``: saved with the weights, never given to an optimizer.

Arrays passed in are never changed. A layer that keeps its output for ``backward`` returns it
read-only (``read_only``), so that nobody can change it behind its back.
"""

from __future__ import annotations

import numpy as np

from checks import check_finite, check_flag, check_floats, check_labels, check_upstream, require_cache


class Parameter:
    """One trainable array and the place its gradient appears: ``params[key]`` and ``grads[key]``.

    Optimizers receive a list of these from ``model.parameters()``. ``value`` is the layer's own
    array (updates happen in place, so the layer sees them); ``grad`` is looked up at each call,
    so a layer may either overwrite its gradient array or assign a new one in ``backward``.
    ``grad`` is ``None`` until the first ``backward`` (and after ``optimizer.zero_grad()``).
    """

    def __init__(self, name: str, params: dict, grads: dict, key: str):
        self.name, self._params, self._grads, self._key = name, params, grads, key

    @property
    def value(self) -> np.ndarray:
        return self._params[self._key]

    @property
    def grad(self) -> np.ndarray | None:
        return self._grads.get(self._key)

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        self._grads[self._key] = value

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


class Layer:
    """Base class: ``params``/``grads`` dicts, ``forward``/``backward``, and a readable repr.

    Subclasses implement ``forward(x)`` and ``backward(dy)`` and may override ``extra_repr``.
    ``layer(x)`` is ``layer.forward(x)``, as in PyTorch.
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray | None] = {}
        self.buffers: dict[str, np.ndarray] = {}    # non-trainable state, saved with the weights
        self.training = True

    def train(self, mode: bool = True) -> Layer:
        """Training mode (``mode`` False: evaluation mode); returns the layer, as PyTorch's does."""
        self.training = check_flag("mode", mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def parameters(self) -> list[Parameter]:
        """This layer's trainable arrays, named by their keys."""
        return [Parameter(key, self.params, self.grads, key) for key in self.params]

    def config(self) -> dict:
        """The constructor arguments that say what this layer computes, as JSON-ready values.

        Saved files keep ``{"kind": type name, **config()}`` per layer and compare them field by
        field when loading. Subclasses with constructor arguments override it.
        """
        return {}

    def extra_repr(self) -> str:
        """The constructor arguments worth showing in ``repr`` (PyTorch's convention)."""
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # Helpers for subclasses: each check is one call into the shared rules of checks/, the layer the owner.
    # self._check_input(x, features=..., dtype=...): x if it is a floating-point array ([N x features] and
    # of dtype, if given); self._require_cache(cache): cache, or the error for backward before forward.
    _check_input = check_floats
    _require_cache = require_cache

    def _check_upstream(self, dy, cache, dtype=None) -> np.ndarray:
        """``dy`` if forward has filled ``cache`` and dy has its shape (and ``dtype``, default the
        cache's): an elementwise layer's cache has the shape of its output."""
        cache = require_cache(self, cache)
        return check_upstream(self, dy, cache.shape, cache.dtype if dtype is None else dtype)


class Loss:
    """Base class for losses: ``forward(scores, y)`` returns a Python float, ``backward()`` ∂L/∂scores.

    A loss ends the chain, so its ``backward`` takes no upstream gradient (it is ∂L/∂L = 1).
    """

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> float:
        return self.forward(scores, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    _require_cache = require_cache      # self._require_cache(cache), as in Layer

    def _check_input(self, scores, y) -> tuple[np.ndarray, np.ndarray]:
        """Scores [N x K]: finite floats, N ≥ 1; labels y [N]: integers in 0 … K−1."""
        return self._check_scores(scores), check_labels(y, *np.shape(scores))

    def _check_scores(self, scores) -> np.ndarray:
        """Scores [N x K]: finite floats, N ≥ 1."""
        scores = check_floats(self, scores, what="scores", ndim=2)
        if scores.size == 0:
            raise ValueError(f"scores must be non-empty, got shape {scores.shape}")
        return check_finite("a score", scores)


def read_only(y: np.ndarray) -> np.ndarray:
    """Mark an output ``y`` read-only and return it.

    For a layer that keeps its output for ``backward`` and hands the same array on (``Tanh``,
    ``Sigmoid``): read-only, it cannot be edited behind the layer's back (NumPy raises
    "assignment destination is read-only"; edit ``y.copy()`` instead).
    """
    y = np.asarray(y)                   # a 0-d input gives a NumPy scalar; make it an array
    y.flags.writeable = False
    return y
