"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is an ``.npz`` file, written atomically and read without unpickling, holding
  format, architecture, model/<name>
                   what ``Sequential.save`` writes (models/savefile.py), so ``model.load`` reads it too
  rng/<position>   the generator state of each layer that draws random numbers (Dropout), as JSON
                   text, so that a resumed run draws the masks the uninterrupted one would have
  optim/<name>     the optimizer's step count and buffers
  batches/<name>   the batch stream's pass order, position and generator state (mini-batch runs)
  history/<name>   the history columns so far
  step             the number of updates made
  config           the run's configuration, as JSON text
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from checks import check_count
from checks.files import read_npz, write_npz
from models.savefile import MODEL, check_format, entries_under, load_into, model_entries, read_architecture
from training.history import History
from training.loop import TrainingState


@dataclass
class Checkpoint:
    """A checkpoint read from disk, not yet applied to anything."""

    path: str
    architecture: list[dict]
    config: dict
    step: int
    model: dict
    optimizer: dict
    batches: dict
    history: History
    generators: dict = field(default_factory=dict)


def save_checkpoint(path, model, optimizer, state: TrainingState, config: dict) -> None:
    """Write model, optimizer, batch stream, history and config to ``path``, all or nothing."""
    arrays = model_entries(model)
    arrays["config"] = np.array(json.dumps(config, sort_keys=True))
    arrays["step"] = np.array(state.step)
    groups = {
        "optim/": optimizer.state_dict(),
        "batches/": state.batches.state_dict() if state.batches is not None else {},
        "history/": state.history.to_arrays(),
        "rng/": {position: np.array(json.dumps(rng.bit_generator.state))
                 for position, rng in layer_generators(model).items()},
    }
    for prefix, entries in groups.items():
        arrays.update({prefix + name: value for name, value in entries.items()})
    write_npz(path, arrays)


def read_checkpoint(path) -> Checkpoint:
    """Read a checkpoint; any problem is a ``ValueError`` that names the file."""
    arrays = read_npz(path)
    check_format(path, arrays)
    if "config" not in arrays:
        raise ValueError(
            f"cannot resume from {path}: it holds model weights only (Sequential.save), "
            "not a training checkpoint"
        )
    missing = [name for name in ("step",) if name not in arrays]
    if missing:
        raise ValueError(
            f"cannot resume from {path}: damaged checkpoint (the entry {missing[0]!r} is missing)")
    try:
        config = json.loads(str(arrays["config"]))
        step = whole_number("its step count", arrays["step"])
        history = History.from_arrays(entries_under(arrays, "history/"))
    except RecursionError:                  # e.g. 100,000 nested "[": Python's parser gives up
        raise ValueError(f"cannot resume from {path}: damaged checkpoint (its config is nested too "
                         "deeply)") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot resume from {path}: damaged checkpoint ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"cannot resume from {path}: damaged checkpoint (its config is not a JSON object)")
    return Checkpoint(path=str(path), architecture=read_architecture(path, arrays), config=config, step=step,
                      model=entries_under(arrays, MODEL), optimizer=entries_under(arrays, "optim/"),
                      batches=entries_under(arrays, "batches/"), history=history,
                      generators=entries_under(arrays, "rng/"))


def restore(checkpoint: Checkpoint, model, optimizer, state: TrainingState) -> None:
    """Put the checkpoint's weights, optimizer state, batch position and history in place.

    All or nothing: every part is checked before the first array changes (each ``load_state_dict``
    checks its own part before it copies; the batch stream's part is checked first, as it loads
    last), and if anything still fails during the copies (even a Ctrl-C), everything already
    copied is put back as it was.
    """
    try:
        if (state.batches is None) != (not checkpoint.batches):
            kinds = ("full-batch", "mini-batch") if checkpoint.batches else ("mini-batch", "full-batch")
            raise ValueError(f"it was saved by a {kinds[1]} run, but this run is {kinds[0]}")
        if state.batches is not None:
            state.batches.check_state_dict(checkpoint.batches)
        whole_number("its step count", checkpoint.step)
        generator_states = _generator_states(checkpoint.generators, layer_generators(model))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot resume from {checkpoint.path}: {exc}") from exc
    saved = [array.copy() for array in _state_arrays(model, optimizer)]
    step_count = optimizer.step_count
    generators = layer_generators(model)
    generators_before = {position: rng.bit_generator.state for position, rng in generators.items()}
    try:
        load_into(model, checkpoint.architecture, checkpoint.model)
        optimizer.load_state_dict(checkpoint.optimizer)
        if state.batches is not None:
            state.batches.load_state_dict(checkpoint.batches)
        for position, rng in generators.items():
            rng.bit_generator.state = generator_states[position]
    except BaseException as exc:
        for array, before in zip(_state_arrays(model, optimizer), saved, strict=True):
            array[...] = before             # copied back as they were, whatever they hold
        optimizer.step_count = step_count
        for position, rng in generators.items():
            rng.bit_generator.state = generators_before[position]
        if isinstance(exc, ValueError):
            raise ValueError(f"cannot resume from {checkpoint.path}: {exc}") from exc
        raise
    state.step = checkpoint.step
    state.history = checkpoint.history


def whole_number(name: str, value) -> int:
    """One whole number >= 0 (a count saved as a 0-d array, or an int): 7.9 is refused, not read as 7."""
    value = np.asarray(value)
    if value.size != 1:
        raise ValueError(f"{name} must be one whole number, got an array of shape {value.shape}")
    return check_count(name, value.item(), minimum=0)


def layer_generators(model) -> dict[str, np.random.Generator]:
    """The generator of each layer that draws random numbers (a Generator ``rng``: Dropout), by position."""
    return {str(position): layer.rng for position, layer in enumerate(model)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}


def _generator_states(saved: dict, generators: dict) -> dict[str, dict]:
    """The saved generator states (JSON text by position), checked to fit ``generators`` one for one."""
    if set(saved) != set(generators):
        raise ValueError(f"its random layers are at positions {sorted(saved) or 'none'}, this model's at "
                         f"{sorted(generators) or 'none'}")
    states = {}
    for position, rng in generators.items():
        try:
            states[position] = json.loads(str(saved[position]))
            type(rng.bit_generator)().state = states[position]      # refused if it is not such a state
        except (TypeError, ValueError, KeyError, RecursionError) as exc:
            raise ValueError(f"damaged checkpoint (the generator state of layer {position}: {exc!r})") \
                from exc
    return states


def _state_arrays(model, optimizer) -> list:
    """Every array a restore may change in place: the weights and buffers, the optimizer's buffers."""
    buffers = [array for arrays in optimizer.buffers.values() for array in arrays]
    return [p.value for p in model.parameters()] + list(model.buffers().values()) + buffers

