"""A model's architecture as data: what each layer computes, and where two models differ.

Each layer is ``{"kind": its type name, **layer.config()}``, its constructor arguments as
JSON-ready values, so files keep architectures as JSON (models/savefile.py) and compare them field
by field, never by parsing text; ``build`` turns such a list back into layers, for a ``Sequential``.
The kinds a file may name are ``layers.KINDS``.
"""

from __future__ import annotations

import json

from layers import KINDS


def architecture(model) -> list[dict]:
    """``[{"kind": type name, **layer.config()}, ...]``, one object per layer, JSON-ready."""
    return [{"kind": type(layer).__name__, **getattr(layer, "config", dict)()} for layer in model]


def describe(model) -> str:
    """The model in words, its layers counted as Linear layers (CS231n's "2-layer neural network" has
    two): "2-layer MLP, 1000 ReLU units", "4-layer MLP, 3 x 100 Tanh units", "linear classifier"."""
    spec = architecture(model)
    linears = [layer for layer in spec if layer["kind"] == "Linear"]
    if len(linears) < 2:
        return "linear classifier" if linears else "no Linear layer"
    widths = "/".join(str(w) for w in sorted({layer["out_features"] for layer in linears[:-1]}))
    units = widths if len(linears) == 2 else f"{len(linears) - 1} x {widths}"
    activations = sorted({layer["kind"] for layer in spec} & {"ReLU", "LeakyReLU", "Tanh", "Sigmoid"})
    return f"{len(linears)}-layer MLP, {units} {'/'.join(activations) or 'linear'} units"


def build(spec: list[dict], *, rng=0, dtype=None) -> list:
    """The layers of the architecture ``spec`` (as ``read_architecture`` gives it from a file), new:
    ``Sequential(*build(spec))``.

    Each layer is ``KINDS[kind](**config)``; the weights are freshly initialised from ``rng``, which
    Dropout draws its masks from too (load the file's weights next). ``dtype``, if given, replaces the
    dtype of every layer that has one. A ``ValueError`` names the first layer that cannot be built.
    """
    layers = []
    for position, layer in enumerate(spec):
        config = dict(layer)
        kind = config.pop("kind")
        if dtype is not None and "dtype" in config:
            config["dtype"] = dtype
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
    """The first difference between the architecture ``saved`` in a file (as ``read_architecture`` gives
    it) and ``model``'s, or None: the number of layers, then position by position each config field."""
    ours = json.loads(json.dumps(architecture(model)))     # through JSON, as the file's went
    if len(saved) != len(ours):
        return f"the number of layers differs: the file has {len(saved)}, this model has {len(ours)}"
    for position, (theirs, mine) in enumerate(zip(saved, ours, strict=True)):
        for field in dict.fromkeys([*theirs, *mine]):          # "kind" first, as the file has it
            file, here = theirs.get(field, f"no {field}"), mine.get(field, f"no {field}")
            if file != here:
                return f"layer {position} differs in {field}: the file has {file}, this model has {here}"
    return None
