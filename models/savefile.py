"""Model files: what they hold, and saving and loading a model with them.

A model file (format ``backprop-parts/2``) is an uncompressed ``.npz``, a zip of ``.npy`` arrays:
  format         "backprop-parts/2"
  architecture   JSON text, one object per layer: {"kind": its type name, **layer.config()}, e.g.
                 [{"kind": "Linear", "in_features": 2, "out_features": 100, "dtype": "float64"},
                  {"kind": "ReLU"}, ...]
  model/<name>   each weight under its ``state_dict`` name, e.g. model/0.W
A training checkpoint (training/checkpoint.py) holds the same entries, and more.

The file is written atomically and read without unpickling (checks/files.py). Loading checks the
format marker and the architecture, field by field, before a single weight changes.
"""

from __future__ import annotations

import json

import numpy as np

from checks import check_float_dtype
from checks.files import read_npz, write_npz
from models.architecture import architecture, architecture_difference, build

FORMAT = "backprop-parts/2"       # the "format" entry of every file this project writes
EARLIER_FORMATS = ("backprop-parts/1",)     # 1: the architecture was the model's repr, a string
MODEL = "model/"                  # the prefix of the weights' entries


def save_model(path, model) -> None:
    """Write ``model``'s architecture and weights to ``path`` (``Sequential.save``), all or nothing."""
    write_npz(path, model_entries(model))


def load_model(path, model) -> None:
    """Load the file at ``path`` into ``model`` (``Sequential.load``); any problem is a ``ValueError``
    naming the file, and nothing changes unless everything fits."""
    arrays = read_npz(path)
    check_format(path, arrays)
    saved = read_architecture(path, arrays)
    try:
        load_into(model, saved, entries_under(arrays, MODEL))
    except ValueError as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc


def model_from_file(path, sequential, *, dtype=None):
    """The model in the file at ``path`` (``Sequential.from_file``): ``sequential(*layers)`` built from
    its architecture, every layer with a dtype in ``dtype`` if given, its weights loaded; a
    ``ValueError`` naming the file if it is not a model file or a checkpoint, or is damaged."""
    dtype = None if dtype is None else check_float_dtype("dtype", dtype)
    arrays = read_npz(path)
    check_format(path, arrays)
    spec = read_architecture(path, arrays)
    try:
        model = sequential(*build(spec, dtype=dtype))
        model.load_state_dict(entries_under(arrays, MODEL))
    except ValueError as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc
    return model


def model_entries(model) -> dict[str, np.ndarray]:
    """The entries a file needs for ``model``: format, architecture and ``model/<name>`` weights."""
    arrays = {"format": np.array(FORMAT), "architecture": np.array(json.dumps(architecture(model)))}
    arrays.update({MODEL + name: value for name, value in model.state_dict().items()})
    return arrays


def read_architecture(path, arrays: dict[str, np.ndarray]) -> list[dict]:
    """The architecture entry of a file read from ``path``, or a ``ValueError`` if it is damaged.

    Files written before 2026-12-06 hold ``inplace`` for ReLU and LeakyReLU: it said how a layer
    computed, not what, and is left out here.
    """
    try:
        layers = json.loads(str(arrays["architecture"]))
    except (KeyError, ValueError, RecursionError):      # missing, not JSON, or nested beyond parsing
        layers = None
    if not isinstance(layers, list) or not all(isinstance(one, dict) and "kind" in one for one in layers):
        raise ValueError(f"cannot load {path}: damaged file (its architecture is not a JSON list of layers)")
    return [{field: value for field, value in layer.items() if field != "inplace"} for layer in layers]


def load_into(model, saved: list[dict], weights: dict) -> None:
    """Copy ``weights`` into ``model`` if its architecture is ``saved``, all or nothing.

    A ``ValueError`` names the first difference, or the weights that do not fit; the caller adds
    the file's name.
    """
    different = architecture_difference(saved, model)
    if different:
        raise ValueError(f"it was saved from another architecture: {different}")
    model.load_state_dict(weights)


def entries_under(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries whose names start with ``prefix``, without it: ``model/0.W`` -> ``0.W``."""
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}


def check_format(path, arrays: dict[str, np.ndarray]) -> None:
    """Raise unless ``arrays`` (read from ``path``) carry this version's format marker."""
    marker = str(arrays["format"]) if "format" in arrays and arrays["format"].shape == () else ""
    if marker.startswith("backprop-parts/") and marker != FORMAT:
        version = "an earlier" if marker in EARLIER_FORMATS else "another"
        raise ValueError(f"cannot load {path}: it was written in format {marker} by {version} version of "
                         f"this project; this version reads {FORMAT} (retrain, or load it with that version "
                         "and save its state_dict)")
    if marker != FORMAT:
        names = ", ".join(sorted(arrays)[:6]) or "nothing"
        raise ValueError(f"cannot load {path}: not a file saved by this project (no format entry {FORMAT!r}; "
                         f"it holds {names})")
