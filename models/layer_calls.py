"""The rules Sequential keeps for its layers: what it accepts as one, and around each call of one.

- A layer follows the layer contract (``forward``, ``backward``, ``params``/``grads`` dicts) and
  appears once; the commonest slips (a class instead of an instance, a loss inside the model)
  are named as such.
- An error a layer raises names the layer's position, ``model[2]: ...``, so that an error from deep
  inside a model says where it comes from.
"""

from __future__ import annotations

from layers.base import Loss


def check_layer(layer, position: int, layers: list, *, replacing: int | None = None) -> None:
    """Raise unless ``layer`` may stand at ``position`` among ``layers`` (replacing ``layers[replacing]``)."""
    name = getattr(layer, "__name__", "") if isinstance(layer, type) else type(layer).__name__
    methods = all(callable(getattr(layer, method, None)) for method in ("forward", "backward"))
    if isinstance(layer, Loss) or isinstance(layer, type) and issubclass(layer, Loss):
        what = f"the class {name}" if isinstance(layer, type) else f"{layer!r} (type {name})"
        raise TypeError(f"layer at position {position} is {what}, which looks like a loss; keep it outside "
                        f"the model and call loss_fn.forward(model.forward(X), y) with loss_fn = {name}()")
    if isinstance(layer, type) and methods:
        raise TypeError(f"layer at position {position} is the class {name}, not a layer: "
                        f"pass a layer made from it, {name}(...), not the class itself")
    if not (methods and all(isinstance(getattr(layer, d, None), dict) for d in ("params", "grads"))):
        text = repr(layer) if len(repr(layer)) <= 60 else repr(layer)[:57] + "..."
        what = f"the class {name}" if isinstance(layer, type) else f"{text} (type {name})"
        hint = "; a Layer subclass gets its dicts from super().__init__()" if methods else ""
        raise TypeError(f"layer at position {position} is {what}, "
                        f"expected a layer with forward, backward and params/grads dicts{hint}")
    for other, existing in enumerate(layers):
        if existing is layer and other != replacing:
            raise ValueError(f"the same {layer!r} instance is already at position {other}: each position "
                             "needs its own instance, because a layer caches its input for backward")


class naming_errors:
    """Put ``model[position]: `` in front of a layer's error message; type and traceback stay as they are.

    Used as ``with naming_errors(position): ...`` around every layer call (a class: cheaper per call
    than a generator-based context manager).
    """

    def __init__(self, position: int):
        self.position = position

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind, exc, traceback) -> bool:
        if isinstance(exc, (ValueError, TypeError, RuntimeError)) and len(exc.args) == 1 \
                and isinstance(exc.args[0], str):     # other messages are left alone
            exc.args = (f"model[{self.position}]: {exc.args[0]}",)
        return False                        # the exception goes on
