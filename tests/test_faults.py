"""Faults lose nothing: a crash while saving a checkpoint, and every unusable checkpoint file.

Model files (``Sequential.save``/``load``) are tested the same way in test_sequential.py; these are
the training checkpoints that ``train.py --resume`` reads.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from checks.files import read_npz, write_npz
from data import BatchStream, make_spiral
from layers import Linear, SoftmaxCrossEntropy
from models import Sequential
from models.savefile import FORMAT
from tests.helpers import (
    ROOT,
    SMALL,
    corrupted_member,
    foreign_npz,
    make_run,
    other_layers_checkpoint,
    pickled_npz,
    raises,
    save_run,
    single_npy,
    train,
    wider_checkpoint,
    write_bytes,
)
from training import TrainingState, fit, read_checkpoint, restore, save_checkpoint


def test_a_crash_while_saving_keeps_the_last_checkpoint_and_leaves_no_temporary_file(tmp_path,
                                                                                     monkeypatch):
    path = save_run(tmp_path / "checkpoint.npz")
    old_bytes = path.read_bytes()
    model, optimizer, state = make_run(seed=1)

    def crash(file, **arrays):
        file.write(b"the first half of a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", crash)
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
    np.savez(path, format=np.array(FORMAT), config=np.array("{}"), step=np.array(5),
             **{"model/0.W": trap})
    pickle.loads(pickle.dumps(trap[0]))
    assert marker.exists()                  # the trap works ...
    marker.rmdir()                          # ... so start without it
    return path


def earlier_version_checkpoint(path):
    """A checkpoint as the previous version wrote it: format backprop-parts/1, the architecture a repr."""
    save_run(path)
    arrays = read_npz(path)
    model, _, _ = make_run()
    arrays.update(format=np.array("backprop-parts/1"), architecture=np.array(repr(model)))
    np.savez(path, **arrays)
    return path


def garbled_architecture_checkpoint(path):
    save_run(path)
    arrays = read_npz(path)
    arrays["architecture"] = np.array('[{"kind": "Linear", "in_features": 2,')
    np.savez(path, **arrays)
    return path


def damaged_optimizer_checkpoint(path):
    """Weights that fit, then an optimizer buffer of the wrong shape: restore fails half-way."""
    save_run(path)
    arrays = read_npz(path)
    arrays["optim/momentum_buffer/2.W"] = np.zeros((1, 1))
    write_npz(path, arrays)
    return path


@pytest.mark.parametrize("make, words", [
    (lambda p: write_bytes(p, b""), ("cannot load", "the file is empty")),
    (lambda p: write_bytes(p, bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8))),
     ("cannot load", "not an .npz file", "never unpickled")),
    (truncated_checkpoint, ("cannot load", "not a readable .npz file")),
    (corrupted_member, ("cannot load", "damaged or truncated")),
    (foreign_npz, ("cannot load", "not a file saved by this project")),
    (single_npy, ("cannot load", "a single .npy array")),
    (pickled_npz, ("cannot load", "pickled Python objects", "never loaded")),
    (code_running_pickle, ("cannot load", "pickled Python objects", "never loaded")),
    (lambda p: (Sequential(Linear(2, 8, rng=np.random.default_rng(0))).save(p), p)[1],
     ("cannot resume from", "model weights only")),
    (wider_checkpoint, ("cannot resume from", "another architecture", "layer 0", "out_features",
                        "the file has 16", "this model has 8")),
    (damaged_optimizer_checkpoint, ("cannot resume from", "SGD state does not fit", "momentum_buffer/2.W",
                                    "shape (1, 1)")),
    (other_layers_checkpoint, ("cannot resume from", "another architecture", "layer 1",
                               "the file has ReLU", "this model has Tanh")),
    (earlier_version_checkpoint, ("cannot load", "format backprop-parts/1", "earlier version",
                                  "this version reads backprop-parts/2")),
    (garbled_architecture_checkpoint, ("cannot load", "damaged file",
                                       "architecture is not a JSON list of layers")),
])
def test_every_unusable_checkpoint_is_a_value_error_naming_it_and_changes_nothing(tmp_path, make, words):
    path = make(tmp_path / "bad.npz")
    model, optimizer, state = make_run()
    weights, buffers = model.state_dict(), optimizer.state_dict()
    with raises(ValueError, str(path), *words):
        restore(read_checkpoint(path), model, optimizer, state)
    assert not (tmp_path / "code-ran").exists()
    for name, value in model.state_dict().items():
        assert value.tobytes() == weights[name].tobytes(), name
    for name, value in optimizer.state_dict().items():
        assert np.asarray(value).tobytes() == np.asarray(buffers[name]).tobytes(), name
    assert state.step == 5


def test_a_failed_restore_puts_back_exactly_what_was_there_even_if_it_was_not_finite(tmp_path):
    X, y = make_spiral(10, 3, rng=0)
    path = tmp_path / "minibatch.npz"
    model, optimizer, _ = make_run()
    state = TrainingState()
    state.batches = BatchStream(X, y, 4, rng=np.random.default_rng(0))
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=3, batch_size=4, state=state)
    save_checkpoint(path, model, optimizer, state, {"hidden": 8})
    arrays = read_npz(path)
    arrays["batches/position"] = np.array(99)                  # the last part to load does not fit
    write_npz(path, arrays)
    model, optimizer, _ = make_run(seed=3)
    optimizer.buffers["momentum_buffer"][0][0, 0] = np.inf      # a state load_state_dict would refuse
    weights = [p.value.copy() for p in model.parameters()]
    buffers = [b.copy() for b in optimizer.buffers["momentum_buffer"]]
    target = TrainingState()
    target.batches = BatchStream(X, y, 4, rng=np.random.default_rng(0))
    with raises(ValueError, "cannot resume from", str(path), "batch state does not fit"):
        restore(read_checkpoint(path), model, optimizer, target)
    for p, before in zip(model.parameters(), weights, strict=True):
        assert p.value.tobytes() == before.tobytes()
    for buffer, before in zip(optimizer.buffers["momentum_buffer"], buffers, strict=True):
        assert buffer.tobytes() == before.tobytes()


def test_a_full_batch_checkpoint_in_a_mini_batch_run_says_so(tmp_path):
    path = save_run(tmp_path / "full.npz")
    model, optimizer, state = make_run(seed=1)
    X, y = make_spiral(10, 3, rng=0)
    state.batches = BatchStream(X, y, 4, rng=np.random.default_rng(0))
    with raises(ValueError, str(path), "full-batch run", "this run is mini-batch"):
        restore(read_checkpoint(path), model, optimizer, state)


def test_a_save_killed_outright_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    """A hard kill runs no cleanup code, so the hidden temporary file stays, next to the intact last
    checkpoint; train.py's next checkpoint (for example on --resume) removes it."""
    assert train(*SMALL, "--steps", "4", "--out", tmp_path / "run", cwd=tmp_path).returncode == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    killer = (
        "import os, sys, numpy as np\n"
        "from checks import files\n"
        "def die(file, **arrays):\n"
        "    file.write(b'half a checkpoint'); file.flush(); os._exit(9)\n"
        "files.np.savez = die\n"
        f"files.write_npz({str(checkpoint)!r}, {{'x': np.ones(3)}})\n"
    )
    killed = subprocess.run([sys.executable, "-c", killer], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert killed.returncode == 9
    leftovers = list((tmp_path / "run").glob(".checkpoint.npz.*.tmp"))
    assert len(leftovers) == 1
    assert read_checkpoint(checkpoint).step == 4                   # the last checkpoint is intact
    resumed = train("--resume", checkpoint, "--steps", "6", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not list((tmp_path / "run").glob(".checkpoint.npz.*.tmp"))
