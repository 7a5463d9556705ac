"""restore() is all or nothing: every malformed part of a checkpoint is refused before the first array of
the model or the optimizer changes, and a failure during the copies (even Ctrl-C) puts everything back."""

import json

import numpy as np
import pytest

from checks.files import read_npz
from data import BatchStream, make_spiral
from layers import SoftmaxCrossEntropy
from tests.helpers import make_run, raises
from training import TrainingState, fit, read_checkpoint, restore, save_checkpoint
from training.checkpoint import Checkpoint


def minibatch_checkpoint(path, seed=0):
    """A mini-batch run of 3 steps saved at ``path``; its model, optimizer and state."""
    X, y = make_spiral(10, 3, rng=0)
    model, optimizer, _ = make_run(seed=seed)
    state = TrainingState()
    state.batches = BatchStream(X, y, 4, rng=np.random.default_rng(seed))
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=3, batch_size=4, state=state)
    save_checkpoint(path, model, optimizer, state, {"hidden": 8})
    return model, optimizer, state


def with_generator_state(value):
    def edit(arrays):
        state = json.loads(str(arrays["batches/rng"]))
        state["state"]["state"] = value
        arrays["batches/rng"] = np.array(json.dumps(state))
    return edit


def entry(name, value):
    def edit(arrays):
        arrays[name] = value
    return edit


MALFORMED = {                                       # edit of the saved arrays -> words of the ValueError
    "config nested 100,000 deep": (entry("config", np.array("[" * 100_000)), ("recursion depth",)),
    "architecture nested 100,000 deep": (entry("architecture", np.array("[" * 100_000)), ("architecture",)),
    "step 7.9": (entry("step", np.array(7.9)), ("step count", "7.9")),
    "step -5": (entry("step", np.array(-5)), ("step count", "-5")),
    "step as text": (entry("step", np.array("7")), ("step count",)),
    "step as two numbers": (entry("step", np.array([1, 2])), ("step count", "shape (2,)")),
    "generator state -1": (with_generator_state(-1), ("generator state", "OverflowError")),
    "generator state 2**200": (with_generator_state(2**200), ("generator state",)),
    "generator state text": (with_generator_state("x"), ("generator state",)),
    "generator state not JSON": (entry("batches/rng", np.array("{")), ("batch state",)),
    "generator state nested deeply": (entry("batches/rng", np.array("[" * 100_000)), ("batch state",)),
    "batch position 2.5": (entry("batches/position", np.array(2.5)), ("position 2.5",)),
    "batch position -1": (entry("batches/position", np.array(-1)), ("position -1",)),
    "batch order of floats": (entry("batches/order", np.arange(30.0)), ("not a permutation",)),
    "optimizer step -1": (entry("optim/step", np.array(-1)), ("step must not be negative",)),
    "optimizer step 2.5": (entry("optim/step", np.array(2.5)), ("step has dtype float64",)),
    "optimizer buffer of text": (entry("optim/momentum_buffer/0.W", np.array("x")), ("momentum_buffer/0.W",)),
    "weights not finite": (entry("model/2.b", np.full(3, np.inf)), ("2.b",)),
    "history of unequal columns": (entry("history/loss", np.zeros(7)), ("history",)),
}


@pytest.mark.parametrize("field", MALFORMED)
def test_each_malformed_field_is_refused_and_changes_no_array(tmp_path, field):
    edit, words = MALFORMED[field]
    path = tmp_path / "checkpoint.npz"
    minibatch_checkpoint(path)
    arrays = read_npz(path)
    edit(arrays)
    np.savez(path, **arrays)
    model, optimizer, state = minibatch_checkpoint(tmp_path / "other.npz", seed=5)
    weights, buffers = model.state_dict(), optimizer.state_dict()
    batches, step_count = state.batches.state_dict(), optimizer.step_count
    with raises(ValueError, str(path), *words):
        restore(read_checkpoint(path), model, optimizer, state)
    for name, value in model.state_dict().items():
        assert value.tobytes() == weights[name].tobytes(), name
    for name, value in optimizer.state_dict().items():
        assert value.tobytes() == buffers[name].tobytes(), name
    for name, value in state.batches.state_dict().items():
        assert value.tobytes() == batches[name].tobytes(), name
    assert state.step == 3 and optimizer.step_count == step_count


def test_an_interrupt_during_the_copies_puts_everything_back(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    minibatch_checkpoint(path, seed=1)
    model, optimizer, state = minibatch_checkpoint(tmp_path / "other.npz", seed=5)
    weights, buffers, step_count = model.state_dict(), optimizer.state_dict(), optimizer.step_count

    def ctrl_c_after_the_first_buffer(saved):
        optimizer.buffers["momentum_buffer"][0][...] = 7.0
        optimizer.step_count = 99
        raise KeyboardInterrupt
    checkpoint = read_checkpoint(path)
    monkeypatch.setattr(optimizer, "load_state_dict", ctrl_c_after_the_first_buffer)
    with pytest.raises(KeyboardInterrupt):
        restore(checkpoint, model, optimizer, state)
    saved = {name[6:]: value for name, value in checkpoint.arrays.items() if name.startswith("model/")}
    assert any(not np.array_equal(value, weights[name]) for name, value in saved.items())
    for name, value in model.state_dict().items():       # the weights had been copied: put back
        assert value.tobytes() == weights[name].tobytes(), name
    for name, value in optimizer.state_dict().items():
        assert value.tobytes() == buffers[name].tobytes(), name
    assert optimizer.step_count == step_count and state.step == 3


@pytest.mark.parametrize("step, words", [(7.9, ("7.9", "float")), (-5, ("-5",)), (True, ("True",))])
def test_restore_refuses_a_step_that_is_not_a_whole_number_at_least_0(tmp_path, step, words):
    path = tmp_path / "checkpoint.npz"
    minibatch_checkpoint(path)
    checkpoint = read_checkpoint(path)
    checkpoint = Checkpoint(**dict(vars(checkpoint), step=step))
    model, optimizer, state = minibatch_checkpoint(tmp_path / "other.npz", seed=5)
    weights = model.state_dict()
    with raises(ValueError, "cannot resume from", "step count", *words):
        restore(checkpoint, model, optimizer, state)
    for name, value in model.state_dict().items():
        assert value.tobytes() == weights[name].tobytes(), name
