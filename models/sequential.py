"""Sequential: layers chained so that backward is the chain rule, one layer at a time."""

from __future__ import annotations

import numpy as np

from checks import check_flag
from layers.base import Parameter
from layers.state import convert_state
from models.layer_calls import check_layer, naming_errors
from models.savefile import load_model, save_model


class Sequential:
    """Layers applied in order: y = f_L(… f_2(f_1(x)) …).

    Backward is the chain rule, last layer first; each layer fills its own grads on the way:
      ∂L/∂x = f_1.backward(f_2.backward(… f_L.backward(dy) …))       dy = ∂L/∂y

    Layers are a list (``model[0]``, ``model[1:]``, ``model[1] = Tanh()``, ``append``, ``insert``, ``del``),
    weights are named ``"<position>.<key>"`` (``"0.W"``), and the caller's ``x`` and ``dy`` are never
    changed. After swapping a layer with weights, make a new optimizer (it keeps the arrays it was given).
    ``train()`` and ``eval()`` set every layer's mode, as in PyTorch (a new model is in training mode).
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            raise TypeError("Sequential takes the layers as separate arguments: "
                            "Sequential(*layers), not a list")
        self._layers: list = []
        for layer in layers:
            self.append(layer)
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._require_layers(x)
        for position, layer in enumerate(self._layers):
            with naming_errors(position):
                x = layer.forward(x)
        return x

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self._require_layers(dy)
        for position in reversed(range(len(self._layers))):
            layer = self._layers[position]
            with naming_errors(position):
                dy = layer.backward(dy)
        return dy

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted labels [N], each row's highest score; runs ``forward``: call it after ``backward``."""
        return self.forward(x).argmax(axis=1)

    def parameters(self) -> list[Parameter]:
        """Every trainable array, named ``"<position>.<key>"``, for an optimizer."""
        return [Parameter(f"{position}.{key}", layer.params, layer.grads, key)
                for position, layer in enumerate(self._layers) for key in layer.params]

    def buffers(self) -> dict[str, np.ndarray]:
        """Every non-trainable state array (BatchNorm1d's running statistics), by name:
        ``{"1.running_mean": ..., "1.running_var": ...}``; the layers' own arrays, not copies."""
        return {f"{position}.{key}": value for position, layer in enumerate(self._layers)
                for key, value in getattr(layer, "buffers", {}).items()}

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every weight and buffer, by name: ``{"0.W": ..., "0.b": ..., "2.W": ...}``; a layer's
        weights come before its buffers, as in PyTorch (``"1.gamma"``, ``"1.beta"``, ``"1.running_mean"``)."""
        return {name: value.copy() for name, value in self._state_arrays().items()}

    def load_state_dict(self, state: dict) -> None:
        """Copy ``state`` into the weights and buffers (their dtype kept); strict, and checked before
        anything changes."""
        if not isinstance(state, dict):
            raise TypeError(f"load_state_dict expects a dict of arrays, got {type(state).__name__}")
        arrays = self._state_arrays()
        converted, problems = convert_state(arrays, state)
        if problems:
            raise ValueError("state_dict does not fit this model: " + "; ".join(problems))
        for name, array in arrays.items():
            array[...] = converted[name]

    def train(self, mode: bool = True) -> Sequential:
        """Every layer in training mode (``mode`` False: evaluation mode), as PyTorch's ``train``; returns
        the model. Only Dropout and BatchNorm1d compute differently in the two modes."""
        self.training = check_flag("mode", mode)
        for layer in self._layers:
            if hasattr(layer, "train"):     # a layer of your own may have no modes
                layer.train(self.training)
        return self

    def eval(self) -> Sequential:
        """Every layer in evaluation mode: ``train(False)``."""
        return self.train(False)

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``state_dict`` copies, by name: per layer its weights, then its buffers."""
        arrays = {}
        for position, layer in enumerate(self._layers):
            for key, value in [*layer.params.items(), *getattr(layer, "buffers", {}).items()]:
                arrays[f"{position}.{key}"] = value
        return arrays

    def save(self, path) -> None:
        """Write the architecture and the weights to an ``.npz`` file, atomically (models/savefile.py)."""
        save_model(path, self)

    def load(self, path) -> None:
        """Load a file written by ``save``: all or nothing, any problem a ``ValueError`` naming the file."""
        load_model(path, self)

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

    def append(self, layer) -> Sequential:
        self._check_layer(layer, len(self._layers))
        self._layers.append(layer)
        return self

    def insert(self, index: int, layer) -> Sequential:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential.insert needs an int position, got {index!r}")
        if not -len(self) <= index <= len(self):
            raise IndexError(f"Sequential.insert position {index} is out of range for {len(self)} layers")
        self._check_layer(layer, index)
        self._layers.insert(index, layer)
        return self

    def __repr__(self) -> str:
        lines = [f"  ({position}): {layer!r}\n" for position, layer in enumerate(self._layers)]
        return "Sequential(\n" + "".join(lines) + ")" if lines else "Sequential()"

    def _position(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential positions must be ints (slices only for reading), got {index!r}")
        n = len(self._layers)
        if not -n <= index < n:
            raise IndexError(f"Sequential index {index} is out of range for {n} layers")
        return int(index) % n

    def _require_layers(self, array):
        if not self._layers:
            raise ValueError("this Sequential has no layers: build it with some, e.g. "
                             "Sequential(Linear(2, 100), ReLU(), Linear(100, 3)), or append them")
        return array

    def _check_layer(self, layer, position: int, *, replacing: int | None = None) -> None:
        """A layer must follow the contract, and appear only once (its cache would clash): layer_calls.py."""
        if isinstance(layer, Sequential):
            raise TypeError("a Sequential cannot hold another Sequential: list the layers in one model, "
                            "e.g. Sequential(*first, *second)")
        check_layer(layer, position, self._layers, replacing=replacing)

