"""EarlyStopping: where it stops, whose weights it keeps, and a resumed run that ends as one run would."""

import numpy as np
import pytest

from data import BatchStream, make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from tests.helpers import raises
from training import EarlyStopping, History, TrainingState, fit

X, y = make_spiral(10, 3, noise=0.5, rng=0)
VAL = make_spiral(30, 3, noise=0.5, rng=1)
STEPS, LOG_EVERY, PATIENCE = 300, 5, 3


def make_run(seed=0):
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, 64, rng=rng), ReLU(), Linear(64, 3, rng=rng))
    return model, SGD(model.parameters(), lr=2.0)       # large enough that val_loss rises and falls


def train(model, optimizer, state, steps=STEPS, batch_size=None, log_every=LOG_EVERY, val=VAL):
    return fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=steps, batch_size=batch_size, rng=0,
               val=val, log_every=log_every, state=state)


def with_stopper(model, state, patience=PATIENCE):
    stopper = EarlyStopping(model, state, patience, log_every=LOG_EVERY)
    state.should_stop = stopper.should_stop
    return stopper


def stopped_run(patience=PATIENCE, batch_size=None, steps=STEPS):
    model, optimizer = make_run()
    state = TrainingState()
    stopper = with_stopper(model, state, patience)
    train(model, optimizer, state, steps, batch_size)
    stopper.finish()
    return model, optimizer, state, stopper


def bits(weights: dict) -> dict:
    return {name: value.tobytes() for name, value in weights.items()}


# Where it stops, and the weights it keeps ---------------------------------------------------

RUNS = pytest.mark.parametrize("patience, batch_size", [(1, None), (3, None), (5, None), (3, 10), (5, 10)])


@RUNS
def test_it_stops_one_update_after_the_row_that_used_up_the_patience(patience, batch_size):
    model, optimizer = make_run()
    reference = train(model, optimizer, TrainingState(), batch_size=batch_size)      # no stopper
    val = reference.column("val_loss")
    # the first row k with `patience` rows after the best of rows 0 … k (argmin: the first lowest)
    k = next(k for k in range(len(val)) if k - np.argmin(val[:k + 1]) >= patience)
    _, _, state, _ = stopped_run(patience, batch_size)
    assert state.history.rows[:k + 1] == reference.rows[:k + 1]        # the stopper changed no update
    assert state.step == reference[k]["step"] + 1                     # the earliest fit can stop
    assert [row["step"] for row in state.history.rows[k + 1:]] == [state.step]     # then its final row


@RUNS
def test_best_weights_are_the_weights_the_lowest_row_measured(patience, batch_size):
    """Bit for bit the weights of a run of best_step updates. The runs cover a best row in the loop
    and fit's final row as the best (patience 1: row 6; patience 5 with mini-batches: row 136)."""
    _, _, state, stopper = stopped_run(patience, batch_size)
    history = state.history
    assert stopper.best_step == history.column("step")[np.argmin(history.column("val_loss"))]
    model, optimizer = make_run()
    train(model, optimizer, TrainingState(), steps=stopper.best_step, batch_size=batch_size)
    assert bits(stopper.best_weights) == bits(model.state_dict())


def test_row_0_can_be_the_best_and_its_weights_are_the_initial_ones():
    _, _, state, stopper = stopped_run(patience=1, steps=5)
    assert state.history.column("step").tolist() == [0, 5]
    assert state.history[1]["val_loss"] > state.history[0]["val_loss"]       # fit's final row is worse
    assert stopper.best_step == 0
    assert bits(stopper.best_weights) == bits(make_run()[0].state_dict())


# A run split in two ends as one run would --------------------------------------------------

def snapshot(model, optimizer, state, stopper) -> dict:
    """What a checkpoint carries, copied."""
    return dict(model=model.state_dict(), optimizer=optimizer.state_dict(), stopper=stopper.state_dict(),
                history=state.history.to_arrays(), step=state.step,
                batches=None if state.batches is None else state.batches.state_dict())


def resumed_run(saved: dict, batch_size):
    """New objects, other initial weights: everything comes from ``saved``."""
    model, optimizer = make_run(seed=1)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    state = TrainingState(step=saved["step"], history=History.from_arrays(saved["history"]))
    if batch_size is not None:
        state.batches = BatchStream(X, y, batch_size, rng=99)
        state.batches.load_state_dict(saved["batches"])
    stopper = with_stopper(model, state)
    stopper.load_state_dict(saved["stopper"])
    train(model, optimizer, state, batch_size=batch_size)
    stopper.finish()
    return model, state, stopper


@pytest.mark.parametrize("batch_size", [None, 10])
@pytest.mark.parametrize("split", ["off-grid", "on-grid", "in-on_step", "after-the-stop"])
def test_a_run_split_in_two_ends_as_one_run(split, batch_size):
    straight, _, straight_state, straight_stopper = stopped_run(batch_size=batch_size)
    if split in ("off-grid", "on-grid"):            # fit to step 36 or 40, then finish()
        steps = 36 if split == "off-grid" else 40
        model, optimizer, state, stopper = stopped_run(batch_size=batch_size, steps=steps)
        assert split == "on-grid" or stopper.best_step == 36    # fit's final row, which the resumed fit drops
        saved = snapshot(model, optimizer, state, stopper)
    elif split == "in-on_step":                     # as train.py's checkpoints: right after a new best row
        val = straight_state.history.column("val_loss")
        new_best = [k for k in range(1, len(val)) if val[k] < val[:k].min()]
        at = straight_state.history[new_best[2]]["step"] + 1
        model, optimizer = make_run()
        state = TrainingState()
        stopper = with_stopper(model, state)
        kept = []

        def keep(state):
            if state.step == at:
                kept.append(snapshot(model, optimizer, state, stopper))
                assert stopper.best_step == at - 1          # and in best_step and best_weights at once

        state.on_step = keep
        train(model, optimizer, state, batch_size=batch_size)
        saved, = kept
        assert saved["history"]["step"][-1] == at - 1       # the new best row, not yet seen by should_stop,
        assert saved["stopper"]["best_step"] == at - 1      # is in the stopper's state
    else:                                           # resumed after it stopped: it stops again at once
        saved = snapshot(*stopped_run(batch_size=batch_size))
    model, state, stopper = resumed_run(saved, batch_size)
    assert state.history.rows == straight_state.history.rows
    assert state.step == straight_state.step
    assert stopper.best_step == straight_stopper.best_step
    assert bits(stopper.best_weights) == bits(straight_stopper.best_weights)
    assert bits(model.state_dict()) == bits(straight.state_dict())


# Misuse ------------------------------------------------------------------------------------

def test_a_run_without_validation_is_refused():
    model, optimizer = make_run()
    state = TrainingState()
    with_stopper(model, state)
    with raises(ValueError, "--patience", "val=(X_val, y_val)"):
        train(model, optimizer, state, val=None)


def test_a_log_every_other_than_fits_is_caught_when_its_row_is_the_best():
    model, optimizer = make_run()
    state = TrainingState()
    stopper = EarlyStopping(model, state, PATIENCE, log_every=7)    # fit logs every 5: row 10 is a new best
    state.should_stop = stopper.should_stop
    with raises(RuntimeError, "row at step 10", "log_every"):
        train(model, optimizer, state)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(patience=0), ValueError, ("patience", "positive int", "0")),
    (dict(patience=2.5), TypeError, ("patience", "int", "2.5")),
    (dict(patience=3, log_every=0), ValueError, ("log_every", "positive int", "0")),
])
def test_bad_arguments(kwargs, error, words):
    with raises(error, *words):
        EarlyStopping(make_run()[0], TrainingState(), **kwargs)


def test_state_dict_round_trip_and_strict_loading():
    model, _, state, stopper = stopped_run()
    saved = stopper.state_dict()
    assert sorted(saved) == ["best_step", "best_weights/0.W", "best_weights/0.b", "best_weights/2.W",
                             "best_weights/2.b"]
    fresh = EarlyStopping(model, TrainingState(), PATIENCE, log_every=LOG_EVERY)
    assert fresh.best_step == -1 and fresh.best_weights is None
    assert fresh.state_dict()["best_step"] == -1                # no row of fit's loop yet: none
    with raises(RuntimeError, "no copy", "step 60"):            # a run's rows, without its stopper's state
        EarlyStopping(model, state, PATIENCE, log_every=LOG_EVERY).state_dict()
    bad = dict(saved, extra=np.zeros(1), **{"best_weights/0.W": np.zeros((3, 3))})
    del bad["best_weights/2.b"]
    with raises(ValueError, "EarlyStopping state", "missing best_weights/2.b", "unexpected extra",
                "best_weights/0.W has shape (3, 3)"):
        fresh.load_state_dict(bad)
    with raises(ValueError, "best_step", "whole numbers"):
        fresh.load_state_dict(dict(saved, best_step=np.array(2.5)))
    with raises(TypeError, "load_state_dict", "dict", "list"):
        fresh.load_state_dict([])
    with raises(ValueError, f"best_step {saved['best_step']}", "not the step of a history row"):
        fresh.load_state_dict(saved)                            # its state holds no history yet
    assert fresh.best_step == -1                                # a rejected state changes nothing
    fresh.state.step, fresh.state.history = state.step, state.history
    fresh.load_state_dict(saved)
    assert fresh.best_step == saved["best_step"]
    assert bits(fresh.best_weights) == bits({name[13:]: value for name, value in saved.items()
                                             if name != "best_step"})
