"""Sequential: layers chained so that backward is the chain rule, one layer at a time."""

from __future__ import annotations

import operator

import numpy as np

from checks import check_flag
from layers.base import Loss, Parameter
from layers.state import checked_state
from models.savefile import load_model, model_from_file, save_model


class Sequential:
    """Layers applied in order: y = f_L(… f_2(f_1(x)) …).

    Backward is the chain rule, last layer first; each layer fills its own grads on the way:
      ∂L/∂x = f_1.backward(f_2.backward(… f_L.backward(dy) …))       dy = ∂L/∂y

    Layers are a list (``model[0]``, ``model[1:]``, ``model[1] = Tanh()``, ``append``, ``insert``, ``del``),
    weights are named ``"<position>.<key>"`` (``"0.W"``), and the caller's ``x`` and ``dy`` are never
    changed. After swapping a layer with weights, make a new optimizer (it keeps the arrays it was given).
    ``train()`` and ``eval()`` set every layer's mode, as in PyTorch (a new model is in training mode).
    An error a layer raises starts with its position, ``model[2]: ...``, type and traceback unchanged.
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
        return self._chain(x, "forward", range(len(self._layers)))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self._chain(dy, "backward", reversed(range(len(self._layers))))

    def _chain(self, array: np.ndarray, method: str, positions) -> np.ndarray:
        """``array`` through the ``method`` of each layer at ``positions`` in turn. An error a layer raises
        gets ``model[position]: `` in front of its message (a one-string message; others are left alone)."""
        if not self._layers:
            raise ValueError("this Sequential has no layers: build it with some, e.g. "
                             "Sequential(Linear(2, 100), ReLU(), Linear(100, 3)), or append them")
        for position in positions:
            try:
                array = getattr(self._layers[position], method)(array)
            except (ValueError, TypeError, RuntimeError) as exc:
                if len(exc.args) == 1 and isinstance(exc.args[0], str):
                    exc.args = (f"model[{position}]: {exc.args[0]}",)
                raise
        return array

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
        arrays = self._state_arrays()
        converted = checked_state(arrays, state, "state_dict does not fit this model")
        for name, array in arrays.items():
            array[...] = converted[name]

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The arrays ``state_dict`` copies, by name: per layer its weights, then its buffers."""
        return {f"{position}.{key}": value for position, layer in enumerate(self._layers)
                for key, value in [*layer.params.items(), *getattr(layer, "buffers", {}).items()]}

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

    def save(self, path) -> None:
        """Write the architecture and the weights to an ``.npz`` file, atomically (models/savefile.py)."""
        save_model(path, self)

    def load(self, path) -> None:
        """Load a file written by ``save``: all or nothing, any problem a ``ValueError`` naming the file."""
        load_model(path, self)

    @classmethod
    def from_file(cls, path, *, dtype=None) -> Sequential:
        """The model in a file written by ``save`` or in a training checkpoint, rebuilt from its architecture
        with its weights loaded, in training mode as any new model; ``dtype`` (such as "float64") builds every
        layer that has a dtype in it instead. Any problem is a ``ValueError`` naming the file."""
        return model_from_file(path, cls, dtype=dtype)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)

    def __getitem__(self, index):
        """A layer (``model[-1]``), or a new Sequential of the same layer objects (``model[1:]``)."""
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __setitem__(self, index, layer) -> None:
        position = range(len(self._layers))[operator.index(index)]     # one position, never a slice
        self._check_layer(layer, position, replacing=position)
        self._layers[position] = layer

    def __delitem__(self, index) -> None:
        del self._layers[index]

    def append(self, layer) -> Sequential:
        self._check_layer(layer, len(self._layers))
        self._layers.append(layer)
        return self

    def insert(self, index: int, layer) -> Sequential:
        if not -len(self) <= operator.index(index) <= len(self):      # list.insert would quietly clamp it
            raise IndexError(f"Sequential.insert position {index} is out of range for {len(self)} layers")
        self._check_layer(layer, index)
        self._layers.insert(index, layer)
        return self

    def __repr__(self) -> str:
        lines = [f"  ({position}): {layer!r}\n" for position, layer in enumerate(self._layers)]
        return "Sequential(\n" + "".join(lines) + ")" if lines else "Sequential()"

    def _check_layer(self, layer, position: int, *, replacing: int | None = None) -> None:
        """Raise unless ``layer`` may stand at ``position`` (replacing the layer there): it follows the layer
        contract (forward, backward, params/grads dicts), and is not there already (its cache would clash).
        The commonest slips (a class, not a layer made from it; a loss inside the model) are named."""
        kind = layer if isinstance(layer, type) else type(layer)
        name = kind.__name__
        what = f"the class {name}" if isinstance(layer, type) else f"{layer!r:.60} (type {name})"
        methods = callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward", None))
        if issubclass(kind, Sequential):
            raise TypeError("a Sequential cannot hold another Sequential: list the layers in one model, "
                            "e.g. Sequential(*first, *second)")
        if issubclass(kind, Loss):
            raise TypeError(f"layer at position {position} is {what}, which looks like a loss; keep it "
                            "outside the model and call loss_fn.forward(model.forward(X), y) with "
                            f"loss_fn = {name}()")
        if isinstance(layer, type) and methods:
            raise TypeError(f"layer at position {position} is {what}, not a layer: pass a layer made "
                            f"from it, {name}(...), not the class itself")
        if not (methods and isinstance(getattr(layer, "params", None), dict)
                and isinstance(getattr(layer, "grads", None), dict)):
            hint = "; a Layer subclass gets its dicts from super().__init__()" if methods else ""
            raise TypeError(f"layer at position {position} is {what}, "
                            f"expected a layer with forward, backward and params/grads dicts{hint}")
        for other, existing in enumerate(self._layers):
            if existing is layer and other != replacing:
                raise ValueError(f"the same {layer!r} instance is already at position {other}: each position "
                                 "needs its own instance, because a layer caches its input for backward")

