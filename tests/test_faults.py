"""Faults lose nothing: a crash while saving a checkpoint, and every unusable checkpoint file.

Model files (``Sequential.save``/``load``) are tested the same way in test_sequential.py; these are
the training checkpoints that ``train.py --resume`` reads.
"""

import os
import pickle

import numpy as np
import pytest

import models.savefile
from models.savefile import read_npz, write_npz_atomically
from data import make_spiral
from layers import Linear, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD
from tests.test_sequential import corrupted_member, foreign_npz, pickled_npz, single_npy, write_bytes
from training import TrainingState, fit, read_checkpoint, restore, save_checkpoint


def make_run(hidden=8, seed=0, activation=Tanh):
    """A small model trained for 5 steps, its optimizer and state."""
    X, y = make_spiral(10, 3, seed=seed)
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, hidden, rng=rng), activation(), Linear(hidden, 3, rng=rng))
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    state = TrainingState()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=5, log_every=5, state=state)
    return model, optimizer, state


def save_run(path, **kwargs):
    model, optimizer, state = make_run(**kwargs)
    save_checkpoint(path, model, optimizer, state, {"hidden": kwargs.get("hidden", 8)})
    return path


def test_a_crash_while_saving_keeps_the_last_checkpoint_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = save_run(tmp_path / "checkpoint.npz")
    old_bytes = path.read_bytes()
    model, optimizer, state = make_run(seed=1)

    def crash(file, **arrays):
        file.write(b"the first half of a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(models.savefile.np, "savez", crash)
    with pytest.raises(OSError, match="No space left on device"):
        save_checkpoint(path, model, optimizer, state, {"hidden": 8})
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    assert path.read_bytes() == old_bytes
    monkeypatch.undo()
    model, optimizer, state = make_run(seed=2)
    restore(read_checkpoint(path), model, optimizer, state)      # still loadable
    assert state.step == 5


def truncated_checkpoint(path):
    save_run(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def wider_checkpoint(path):
    return save_run(path, hidden=16)


def other_layers_checkpoint(path):
    from layers import ReLU
    return save_run(path, activation=ReLU)


class Trap:
    """Unpickling this would run code: it creates the folder named in ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def code_running_pickle(path):
    """A checkpoint whose weights are a pickle that, if ever unpickled, creates a folder."""
    marker = path.with_name("code-ran")
    trap = np.empty(1, dtype=object)
    trap[0] = Trap(marker)
    np.savez(path, format=np.array("backprop-parts/1"), config=np.array("{}"), step=np.array(5),
             **{"model/0.W": trap})
    pickle.loads(pickle.dumps(trap[0]))
    assert marker.exists()                  # the trap works ...
    marker.rmdir()                          # ... so start without it
    return path


def damaged_optimizer_checkpoint(path):
    """Weights that fit, then an optimizer buffer of the wrong shape: restore fails half-way."""
    save_run(path)
    arrays = read_npz(path)
    arrays["optim/momentum_buffer/2.W"] = np.zeros((1, 1))
    write_npz_atomically(path, arrays)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda p: write_bytes(p, b""), r"cannot load .*bad\.npz: the file is empty"),
    (lambda p: write_bytes(p, bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))),
     r"cannot load .*bad\.npz: not an \.npz file \(and never unpickled\)"),
    (truncated_checkpoint, r"cannot load .*bad\.npz: not a readable \.npz file"),
    (corrupted_member, r"cannot load .*bad\.npz: damaged or truncated \.npz file"),
    (foreign_npz, r"cannot load .*bad\.npz: not a file saved by this project"),
    (single_npy, r"cannot load .*bad\.npz: it holds a single \.npy array"),
    (pickled_npz, r"cannot load .*bad\.npz: it holds pickled Python objects, which are never loaded"),
    (code_running_pickle, r"cannot load .*bad\.npz: it holds pickled Python objects, which are never loaded"),
    (lambda p: (Sequential(Linear(2, 8, rng=np.random.default_rng(0))).save(p), p)[1],
     r"cannot resume from .*bad\.npz: it holds model weights only"),
    (wider_checkpoint, r"cannot resume from .*bad\.npz: state_dict does not fit this model: 0\.W has shape \(2, 16\)"),
    (damaged_optimizer_checkpoint, r"cannot resume from .*bad\.npz: SGD state does not fit: "
                                   r"momentum_buffer/2\.W has shape \(1, 1\)"),
    (other_layers_checkpoint, r"cannot resume from .*bad\.npz: it was saved from another architecture: "
                              r"layer 1 differs: the file has ReLU\(\), this model has Tanh\(\)"),
])
def test_every_unusable_checkpoint_is_a_value_error_naming_it_and_changes_nothing(tmp_path, make, message):
    path = make(tmp_path / "bad.npz")
    model, optimizer, state = make_run()
    weights, buffers = model.state_dict(), optimizer.state_dict()
    with pytest.raises(ValueError, match=message):
        restore(read_checkpoint(path), model, optimizer, state)
    assert not (tmp_path / "code-ran").exists()
    for name, value in model.state_dict().items():
        assert value.tobytes() == weights[name].tobytes(), name
    for name, value in optimizer.state_dict().items():
        assert np.asarray(value).tobytes() == np.asarray(buffers[name]).tobytes(), name
    assert state.step == 5
