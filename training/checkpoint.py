"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is an ``.npz`` file, written atomically and read without unpickling, holding
  format, architecture, model/<name>
                   what ``Sequential.save`` writes (models/savefile.py), so ``model.load`` reads it too
  rng/<position>   the generator state of each layer that draws random numbers (Dropout), as JSON
                   text, so that a resumed run draws the masks the uninterrupted one would have
  optim/<name>     the optimizer's step count and buffers
  batches/<name>   the batch stream's pass order, position and generator state (mini-batch runs)
  history/<name>   the history columns so far
  early/, schedule/  train.py's early stopping and learning-rate schedule, when the run has them (``extra``)
  step             the number of updates made
  config           the run's configuration, as JSON text
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from checks import check_count
from checks.files import read_npz, write_npz
from models.savefile import MODEL, check_format, entries_under, load_into, model_entries, read_architecture
from training.history import History


@dataclass
class Checkpoint:
    """A checkpoint read from disk, not yet applied to anything; ``arrays``: all its entries."""

    path: str
    config: dict
    step: int
    history: History
    architecture: list[dict]
    arrays: dict


def save_checkpoint(path, model, optimizer, state, config: dict, extra: dict | None = None) -> None:
    """Write model, optimizer, batch stream, history and config to ``path``, all or nothing; ``extra``:
    more parts by prefix, ``{"schedule/": scheduler.state_dict()}`` (read back with ``entries_under``)."""
    arrays = model_entries(model)
    arrays.update(config=np.array(json.dumps(config, sort_keys=True)), step=np.array(state.step))
    parts = {
        "optim/": optimizer.state_dict(),
        "batches/": state.batches.state_dict() if state.batches is not None else {},
        "history/": state.history.to_arrays(),
        "rng/": {position: np.array(json.dumps(rng.bit_generator.state))
                 for position, rng in layer_generators(model).items()},
        **(extra or {}),
    }
    arrays.update({prefix + name: value for prefix, part in parts.items() for name, value in part.items()})
    write_npz(path, arrays)


def read_checkpoint(path) -> Checkpoint:
    """Read a checkpoint; any problem is a ``ValueError`` that names the file."""
    arrays = read_npz(path)
    check_format(path, arrays)
    if "config" not in arrays:
        raise ValueError(f"cannot resume from {path}: it holds model weights only (Sequential.save), not a "
                         "training checkpoint")
    try:
        config = json.loads(str(arrays["config"]))
        step = step_count(arrays["step"])
        history = History.from_arrays(entries_under(arrays, "history/"))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:     # RecursionError: 100,000 "["
        raise ValueError(f"cannot resume from {path}: damaged checkpoint ({exc!r})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"cannot resume from {path}: damaged checkpoint (its config is not a JSON object)")
    return Checkpoint(str(path), config, step, history, read_architecture(path, arrays), arrays)


def restore(checkpoint: Checkpoint, model, optimizer, state, extra: dict | None = None) -> None:
    """Put the checkpoint's weights, optimizer state, batch position, generators and history in place,
    then each part of ``extra`` (``{"schedule/": scheduler}``, as ``save_checkpoint`` took them), whose
    ``last_epoch``, if it has one, must be the checkpoint's step. Those come after the rest is in place:
    a damaged part is a ValueError then, the rest restored (train.py stops on it).

    All or nothing: every part is checked before the first array changes (each ``load_state_dict``
    checks its part before it copies; the batch stream, loaded last, is checked first), and if
    anything still fails during the copies (even a Ctrl-C), what was copied is put back as it was.
    """
    def part(prefix: str) -> dict:
        return entries_under(checkpoint.arrays, prefix)
    generators = layer_generators(model)
    try:
        if (state.batches is None) != (not part("batches/")):
            kinds = ("full-batch", "mini-batch") if part("batches/") else ("mini-batch", "full-batch")
            raise ValueError(f"it was saved by a {kinds[1]} run, but this run is {kinds[0]}")
        if state.batches is not None:
            state.batches.check_state_dict(part("batches/"))
        step_count(checkpoint.step)
        if set(part("rng/")) != set(generators):
            raise ValueError(f"its random layers are at positions {sorted(part('rng/')) or 'none'}, this "
                             f"model's at {sorted(generators) or 'none'}")
        states = {}
        for position, rng in generators.items():
            try:
                states[position] = json.loads(str(part("rng/")[position]))
                type(rng.bit_generator)().state = states[position]      # refused if it is not such a state
            except (TypeError, ValueError, RecursionError) as exc:
                raise ValueError(f"the generator state of layer {position} is damaged ({exc!r})") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot resume from {checkpoint.path}: {exc}") from exc
    buffers = [array for arrays in optimizer.buffers.values() for array in arrays]
    arrays = [p.value for p in model.parameters()] + list(model.buffers().values()) + buffers
    before = [array.copy() for array in arrays], optimizer.step_count, {
        position: rng.bit_generator.state for position, rng in generators.items()}
    try:
        load_into(model, checkpoint.architecture, part(MODEL))
        optimizer.load_state_dict(part("optim/"))
        if state.batches is not None:
            state.batches.load_state_dict(part("batches/"))
        for position, rng in generators.items():
            rng.bit_generator.state = states[position]
    except BaseException as exc:
        for array, saved in zip(arrays, before[0], strict=True):
            array[...] = saved              # copied back as they were, whatever they hold
        optimizer.step_count = before[1]
        for position, rng in generators.items():
            rng.bit_generator.state = before[2][position]
        if isinstance(exc, ValueError):
            raise ValueError(f"cannot resume from {checkpoint.path}: {exc}") from exc
        raise
    state.step, state.history = checkpoint.step, checkpoint.history
    for prefix, part in (extra or {}).items():
        try:
            part.load_state_dict(entries_under(checkpoint.arrays, prefix))
            if getattr(part, "last_epoch", state.step) != state.step:
                raise ValueError(f"its {prefix[:-1]} is at step {part.last_epoch}, the run at {state.step}")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot resume from {checkpoint.path}: damaged checkpoint ({exc})") from exc


def step_count(value) -> int:
    """One whole number >= 0 (saved as a 0-d array, or an int): 7.9 is refused, not read as 7."""
    value = np.asarray(value)
    if value.shape != ():
        raise ValueError(f"its step count must be one whole number, got an array of shape {value.shape}")
    return check_count("its step count", value.item(), minimum=0)


def layer_generators(model) -> dict[str, np.random.Generator]:
    """The generator of each layer that draws random numbers (a Generator ``rng``: Dropout), by position."""
    return {str(position): layer.rng for position, layer in enumerate(model)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}

