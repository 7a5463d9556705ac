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
        config = _without_inplace(layer) if isinstance(layer, dict) else {}
        kind = config.pop("kind", None)
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
    """The first difference between the architecture ``saved`` in a file and ``model``'s, or None:
    the number of layers, then position by position the kind and each config field."""
    ours = json.loads(json.dumps(architecture(model)))     # through JSON, as the file's went
    if len(saved) != len(ours):
        counts = [f"{len(layers)} layer{'s' * (len(layers) != 1)}" for layers in (saved, ours)]
        return f"the file's model has {counts[0]}, this model has {counts[1]}"
    for position, (theirs, mine) in enumerate(zip(saved, ours, strict=True)):
        theirs, mine = _without_inplace(theirs), _without_inplace(mine)
        for field in dict.fromkeys([*theirs, *mine]):          # "kind" first, as the file has it
            file, here = theirs.get(field, f"no {field}"), mine.get(field, f"no {field}")
            if file != here:
                return f"layer {position} differs in {field}: the file has {file}, this model has {here}"
    return None


def _without_inplace(layer: dict) -> dict:
    """A copy of ``layer`` without ``inplace``, which files written before 2026-12-06 hold for ReLU and
    LeakyReLU: it changed how a layer computed, not what."""
    return {field: value for field, value in layer.items() if field != "inplace"}
