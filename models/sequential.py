"""Sequential: layers chained so that backward is the chain rule, one layer at a time."""

from __future__ import annotations

import re
from contextlib import contextmanager

import numpy as np

from layers.base import Parameter
from layers.state import convert_state
from models.savefile import FORMAT, check_format, read_npz, write_npz_atomically

_MODEL_PREFIX = "model/"          # where a saved file keeps the weights


class Sequential:
    """Layers applied in order: y = f_L(… f_2(f_1(x)) …).

    Backward, given dy = ∂L/∂y, runs the layers last to first; each turns ∂L/∂(its output)
    into ∂L/∂(its input) and fills its own grads on the way (the chain rule):
      ∂L/∂x = f_1.backward(f_2.backward(… f_L.backward(dy) …))

    The question's two-layer network, in this form::

        model = Sequential(Linear(2, 1000, rng=rng), ReLU(), Linear(1000, 2, rng=rng))

    Layers are addressed by position (``model[0]``, ``model[1:]``), can be swapped
    (``model[1] = Tanh()``), added (``append``, ``insert``) and removed (``del model[1]``).
    Parameters are named ``"<position>.<key>"``, for example ``"0.W"``, in ``parameters()``
    and ``state_dict()``. An optimizer holds the parameters it was given, as in PyTorch: after
    swapping a layer that has weights, make a new optimizer, or the new layer never trains.

    The arrays passed between the layers belong to the model, so a layer built with
    ``inplace=True`` may overwrite them; ``forward`` and ``backward`` never change the caller's
    ``x`` or ``dy``.
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            raise TypeError(
                "Sequential takes the layers as separate arguments: Sequential(*layers), not a list"
            )
        self._layers: list = []
        for layer in layers:
            self.append(layer)

    # The forward and backward passes ------------------------------------------------------

    def forward(self, x: np.ndarray) -> np.ndarray:
        data = self._require_layers(x)
        for position, layer in enumerate(self._layers):
            with _naming_the_layer(position):
                x = layer.forward(_not_the_callers(x, data, layer))
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        upstream = self._require_layers(dy)
        for position in reversed(range(len(self._layers))):
            layer = self._layers[position]
            with _naming_the_layer(position):
                dy = layer.backward(_not_the_callers(dy, upstream, layer))
        return dy

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels: the index of the highest score in each row [N].

        This runs ``forward``, which replaces the layers' caches: call it after ``backward``.
        """
        return self.forward(x).argmax(axis=1)

    def parameters(self) -> list[Parameter]:
        """Every trainable array, named ``"<position>.<key>"``, for an optimizer."""
        return [
            Parameter(f"{position}.{key}", layer.params, layer.grads, key)
            for position, layer in enumerate(self._layers)
            for key in layer.params
        ]

    # Weights: state dicts and files -------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every weight, by name: ``{"0.W": ..., "0.b": ..., "2.W": ...}``."""
        return {p.name: p.value.copy() for p in self.parameters()}

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` into the existing weight arrays, keeping their dtype.

        Strict: every name must be present, none extra, every shape must match, and every value
        must be finite once converted to the weight's dtype. Everything is checked before the
        first weight changes.
        """
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state).__name__}")
        converted, problems = self._convert(state)
        if problems:
            raise ValueError("state_dict does not fit this model: " + "; ".join(problems))
        self._copy_in(converted)

    def save(self, path) -> None:
        """Write the weights to an ``.npz`` file at ``path``, atomically."""
        arrays = {"format": np.array(FORMAT), "architecture": np.array(repr(self))}
        arrays.update({_MODEL_PREFIX + name: value for name, value in self.state_dict().items()})
        write_npz_atomically(path, arrays)

    def load(self, path) -> None:
        """Load weights saved by ``save`` into this model (which must have the same architecture).

        Every failure (missing, truncated, foreign or mismatched file) is a ``ValueError``
        naming the file; nothing changes unless everything fits.
        """
        arrays = read_npz(path)
        check_format(path, arrays)
        saved = str(arrays["architecture"]) if "architecture" in arrays else None
        state = {
            name[len(_MODEL_PREFIX):]: value
            for name, value in arrays.items()
            if name.startswith(_MODEL_PREFIX)
        }
        converted, problems = self._convert(state)
        if problems:
            raise ValueError(
                f"cannot load {path}: it does not fit this model: " + "; ".join(problems)
                + f"\nthe file holds:\n{saved or 'an unknown model'}\nthis model is:\n{self!r}"
            )
        # weights of the right shapes can still belong to other layers (Tanh for ReLU, another slope)
        if saved is not None and (different := layer_difference(saved, self)):
            raise ValueError(f"cannot load {path}: it was saved from another architecture: {different}")
        self._copy_in(converted)

    def _require_layers(self, array):
        if not self._layers:
            raise ValueError("this Sequential has no layers: build it with some, e.g. "
                             "Sequential(Linear(2, 100), ReLU(), Linear(100, 3)), or append them")
        return array

    def _convert(self, state: dict) -> tuple[dict, list[str]]:
        """Each value converted to its weight's dtype, and everything that keeps ``state`` from fitting."""
        return convert_state({p.name: p.value for p in self.parameters()}, state)

    def _copy_in(self, converted: dict) -> None:
        for p in self.parameters():
            p.value[...] = converted[p.name]

    # A list of layers ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[self._position(index)]

    def __setitem__(self, index, layer) -> None:
        position = self._position(index)
        self._check_layer(layer, position, replacing=position)
        self._layers[position] = layer

    def __delitem__(self, index) -> None:
        del self._layers[self._position(index)]

    def append(self, layer) -> "Sequential":
        self._check_layer(layer, len(self._layers))
        self._layers.append(layer)
        return self

    def insert(self, index: int, layer) -> "Sequential":
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential.insert needs an int position, got {index!r}")
        n = len(self._layers)
        if not -n <= index <= n:
            raise IndexError(f"Sequential.insert position {index} is out of range for {n} layers")
        self._check_layer(layer, index)
        self._layers.insert(index, layer)
        return self

    def __repr__(self) -> str:
        if not self._layers:
            return "Sequential()"
        lines = [f"  ({position}): {layer!r}" for position, layer in enumerate(self._layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def _position(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential positions must be ints (slices only for reading), got {index!r}")
        n = len(self._layers)
        if not -n <= index < n:
            raise IndexError(f"Sequential index {index} is out of range for {n} layers")
        return int(index) % n

    def _check_layer(self, layer, position: int, *, replacing: int | None = None) -> None:
        """A layer must follow the contract, and appear only once (its cache would clash)."""
        if isinstance(layer, Sequential):
            raise TypeError(
                "a Sequential cannot hold another Sequential: list the layers in one model, "
                "e.g. Sequential(*first, *second)"
            )
        has_methods = callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))
        has_dicts = isinstance(getattr(layer, "params", None), dict) and isinstance(getattr(layer, "grads", None), dict)
        if not (has_methods and has_dicts):
            if has_methods:
                hint = (f": {layer!r} looks like a loss; keep it outside the model and call "
                        "loss_fn.forward(model.forward(X), y)")
            else:
                hint = ""
            raise TypeError(
                f"layer at position {position} is {layer!r:.40} (type {type(layer).__name__}), expected a layer with "
                f"forward, backward and params/grads dicts{hint}"
            )
        for other, existing in enumerate(self._layers):
            if existing is layer and other != replacing:
                raise ValueError(
                    f"the same {layer!r} instance is already at position {other}: each position needs "
                    "its own instance, because a layer caches its input for backward"
                )


def _not_the_callers(a, callers, layer):
    """``a``, or a copy of it if ``layer`` overwrites its argument and ``a`` is (part of) the caller's array.

    Between the layers, the arrays belong to the model, so an ``inplace=True`` layer may reuse
    them; the caller's own ``x`` and ``dy`` it gets as copies.
    """
    if getattr(layer, "inplace", False) and np.may_share_memory(a, callers):
        return np.array(a, copy=True)
    return a


def layer_difference(saved: str, model: Sequential) -> str | None:
    """Where the layers in ``saved`` (a Sequential's repr, as files keep it) and in ``model`` first
    differ, or None when they agree position by position (or ``saved`` cannot be read).

    Each layer is compared by its repr without ``inplace``, which changes how a layer computes,
    not what: so a different kind, size or slope is found, and named.
    """
    positions = re.findall(r"^ *\((\d+)\): ", saved, flags=re.MULTILINE)
    saved_layers = re.findall(r"^ *\(\d+\): (.*)$", saved, flags=re.MULTILINE)
    if not positions or positions != [str(i) for i in range(len(positions))]:
        return None                         # not a repr this project wrote: the weights are checked instead
    ours = [repr(layer) for layer in model]
    if len(saved_layers) != len(ours):
        return f"the file's model has {_layers(len(saved_layers))}, this model has {_layers(len(ours))}"
    for position, (theirs, mine) in enumerate(zip(saved_layers, ours)):
        if _without_inplace(theirs) != _without_inplace(mine):
            return f"layer {position} differs: the file has {theirs}, this model has {mine}"
    return None


def _layers(n: int) -> str:
    return f"{n} layer" if n == 1 else f"{n} layers"


def _without_inplace(layer_repr: str) -> str:
    return re.sub(r"(, )?inplace=True", "", layer_repr).replace("(, ", "(")


@contextmanager
def _naming_the_layer(position: int):
    """Prefix a layer's error message with its position, ``model[2]: ...``, so that an error from
    deep inside a model says which layer raised it. The exception itself (type, traceback, notes)
    is re-raised unchanged; only a message held as its single text argument is prefixed."""
    try:
        yield
    except (ValueError, TypeError, RuntimeError) as exc:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (f"model[{position}]: {exc.args[0]}",)
        raise
