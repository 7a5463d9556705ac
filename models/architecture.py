"""A model's architecture as data: what each layer computes, and where two models differ.

Each layer is ``{"kind": its type name, **layer.config()}``, its constructor arguments as
JSON-ready values, so files keep architectures as JSON (models/savefile.py) and compare them field
by field, never by parsing text; ``build`` turns such a list back into layers, for a ``Sequential``.
"""

from __future__ import annotations

import json

from layers import BatchNorm1d, Dropout, LeakyReLU, Linear, ReLU, Sigmoid, Tanh

# The layers a saved architecture may name, by their "kind" (their type name).
KINDS = {layer.__name__: layer for layer in (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, BatchNorm1d)}


def architecture(model) -> list[dict]:
    """``[{"kind": type name, **layer.config()}, ...]``, one object per layer, JSON-ready."""
    return [{"kind": type(layer).__name__, **(layer.config() if hasattr(layer, "config") else {})}
            for layer in model]


def build(spec: list[dict], *, rng=0) -> list:
    """The layers of the architecture ``spec`` (as ``architecture`` gives it), new, e.g. from a file:
    ``Sequential(*build(spec))``.

    Each layer is ``KINDS[kind](**config)``; the weights are freshly initialised from ``rng``, which
    Dropout draws its masks from too (load the file's weights next). A ``ValueError`` names the first
    layer that cannot be built.
    """
    if not isinstance(spec, list):
        raise ValueError(f"an architecture is a list of layers, got {type(spec).__name__}")
    layers = []
    for position, layer in enumerate(spec):
        config = dict(layer) if isinstance(layer, dict) else {}
        kind = config.pop("kind", None)
        config.pop("inplace", None)         # ReLU's removed flag, in files written before 2026-12-06
        if kind not in KINDS:
            raise ValueError(f"layer {position}: unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        if kind in ("Linear", "Dropout"):    # the layers that draw random numbers
            config["rng"] = rng
        try:
            layers.append(KINDS[kind](**config))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"layer {position} ({kind}) cannot be built from {layer}: {exc}") from exc
    return layers


def architecture_difference(saved: list[dict], model) -> str | None:
    """The first difference between the architecture ``saved`` in a file and ``model``'s, or None.

    Position by position: the kind, then each config field. ``inplace``, which files written before
    2026-12-06 hold for ReLU and LeakyReLU, is left out: it changed how a layer computed, not what.
    """
    ours = json.loads(json.dumps(architecture(model)))     # through JSON, as the file's went
    if len(saved) != len(ours):
        return f"the file's model has {_layers(len(saved))}, this model has {_layers(len(ours))}"
    for position, (theirs, mine) in enumerate(zip(saved, ours, strict=True)):
        if theirs["kind"] != mine["kind"]:
            return f"layer {position} differs: the file has {theirs['kind']}, this model has {mine['kind']}"
        for field in [*theirs, *(field for field in mine if field not in theirs)]:
            if field != "inplace" and _value(theirs, field) != _value(mine, field):
                return (f"layer {position} differs in {field}: the file has {_value(theirs, field)}, "
                        f"this model has {_value(mine, field)}")
    return None


def _layers(n: int) -> str:
    return f"{n} layer" if n == 1 else f"{n} layers"


def _value(layer: dict, field: str):
    return layer.get(field, f"no {field}")
