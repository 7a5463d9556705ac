"""training.fit as a library function: history, divergence, clean stops, exact continuation."""

import math

import numpy as np
import pytest

from data import BatchStream, make_spiral, minibatches
from layers import Linear, ReLU, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD, Adam
from tests.helpers import raises
from training import Diverged, History, TrainingState, evaluate, fit, train_step


def make_run(seed=0, optimizer="sgd", lr=0.5):
    X, y = make_spiral(30, 3, rng=seed)
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, 16, rng=rng), Tanh(), Linear(16, 3, rng=rng))
    if optimizer == "sgd":
        opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        opt = Adam(model.parameters(), lr=lr)
    return model, SoftmaxCrossEntropy(), opt, X, y


def test_full_batch_history_rows_measure_the_whole_training_set():
    model, loss_fn, opt, X, y = make_run()
    history = fit(model, loss_fn, opt, X, y, steps=25, log_every=10)
    assert list(history.column("step")) == [0, 10, 20, 25]
    # the last row is a separate evaluation of the final model
    loss, accuracy = evaluate(model, loss_fn, X, y)
    assert history[-1]["loss"] == loss and history[-1]["train_accuracy"] == accuracy
    assert history[-1]["loss"] < history[0]["loss"]
    assert math.isnan(history[0]["val_accuracy"]) and not history.has_validation


def test_a_row_reused_from_training_equals_a_separate_evaluation():
    model, loss_fn, opt, X, y = make_run()
    fit(model, loss_fn, opt, X, y, steps=10, log_every=10)
    state = TrainingState()
    weights = model.state_dict()
    history = fit(model, loss_fn, opt, X, y, steps=1, log_every=1, state=state)
    model.load_state_dict(weights)
    assert (history[0]["loss"], history[0]["train_accuracy"]) == evaluate(model, loss_fn, X, y)


def test_validation_columns_and_minibatches():
    model, loss_fn, opt, X, y = make_run(optimizer="adam", lr=0.02)
    X_val, y_val = make_spiral(10, 3, rng=9)
    history = fit(model, loss_fn, opt, X, y, steps=30, batch_size=16, rng=1, val=(X_val, y_val), log_every=5)
    assert len(history) == 7 and history.has_validation
    assert history[-1]["val_loss"] == evaluate(model, loss_fn, X_val, y_val)[0]


def test_the_loop_is_the_plain_loop():
    """fit with full batches makes exactly the updates of the explicit loop."""
    model, loss_fn, opt, X, y = make_run()
    fit(model, loss_fn, opt, X, y, steps=15)
    twin, twin_loss, twin_opt, _, _ = make_run()
    for _ in range(15):
        twin_loss.forward(twin.forward(X), y)
        twin.backward(twin_loss.backward())
        twin_opt.step()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, twin.state_dict()[name])


@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize("stops", [[12], [10], [5, 12, 20]], ids=["off-grid", "on-a-log-row", "three-stops"])
def test_continuing_a_state_is_bit_identical_to_an_uninterrupted_run(batch_size, stops):
    model, loss_fn, opt, X, y = make_run(optimizer="adam", lr=0.05)
    straight = fit(model, loss_fn, opt, X, y, steps=23, batch_size=batch_size, rng=3, log_every=5)

    model2, loss2, opt2, _, _ = make_run(optimizer="adam", lr=0.05)
    state = TrainingState()
    for stop in stops:
        fit(model2, loss2, opt2, X, y, steps=stop, batch_size=batch_size, rng=3, log_every=5, state=state)
        assert state.history[-1]["step"] == stop            # an end-of-run row ...
    resumed = fit(model2, loss2, opt2, X, y, steps=23, batch_size=batch_size, rng=3, log_every=5, state=state)
    assert resumed.rows == straight.rows                    # ... measured again, so the rows are the same
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[name], value)


def test_divergence_names_the_step_after_the_last_completed_update():
    _, loss_fn, _, X, y = make_run()
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 16, rng=rng), ReLU(), Linear(16, 3, rng=rng))
    opt = SGD(model.parameters(), lr=1e200)
    snapshots = []
    with raises(Diverged, "smaller learning rate") as caught:
        fit(model, loss_fn, opt, X, y, steps=50,
            state=TrainingState(on_step=lambda s: snapshots.append(s.step)))
    assert not math.isfinite(caught.value.value)
    assert f"step {caught.value.step}: {caught.value.what} is {caught.value.value}" in str(caught.value)
    assert caught.value.step == snapshots[-1]               # the step after the last completed update
    assert caught.value.step < 5


def test_a_nan_gradient_is_caught_before_the_update():
    class NaNGradient(ReLU):
        def backward(self, dy):
            return np.full_like(dy, np.nan)

    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 4, rng=rng), NaNGradient(), Linear(4, 3, rng=rng))
    X, y = make_spiral(10, 3, rng=0)
    before = model.state_dict()
    with raises(Diverged, "step 0", "gradient of '0.W'", "nan"):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=5)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_an_overflowing_optimizer_state_is_caught_at_the_next_row():
    X, y = make_spiral(10, 3, rng=0, dtype=np.float32)
    model = Sequential(Linear(2, 3, rng=np.random.default_rng(0), init=1e10, dtype=np.float32))
    opt = Adam(model.parameters(), weight_decay=1e10)       # (1e10 · 1e10)² overflows float32 in v
    with raises(Diverged, "step 5", "exp_avg_sq/0.W", "inf"):
        fit(model, SoftmaxCrossEntropy(), opt, X, y, steps=20, log_every=5)


def test_a_continued_state_must_get_the_same_data_and_batch_size():
    model, loss_fn, opt, X, y = make_run()
    state = TrainingState()
    fit(model, loss_fn, opt, X, y, steps=3, batch_size=8, rng=0, state=state)
    with raises(ValueError, "batch_size=8", "batch_size=None"):
        fit(model, loss_fn, opt, X, y, steps=6, state=state)
    with raises(ValueError, "other data"):
        fit(model, loss_fn, opt, X + 1, y, steps=6, batch_size=8, state=state)
    fit(model, loss_fn, opt, X.copy(), y.copy(), steps=6, batch_size=8, state=state)    # equal data is fine
    assert state.step == 6


def test_should_stop_ends_between_steps():
    model, loss_fn, opt, X, y = make_run()
    state = TrainingState()
    state.should_stop = lambda: state.step >= 7
    fit(model, loss_fn, opt, X, y, steps=100, state=state)
    assert state.step == 7 and state.history[-1]["step"] == 7


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(steps=-1), ValueError, ("steps", ">= 0", "-1")),
    (dict(steps=2.5), TypeError, ("steps", "int", "2.5")),
    (dict(steps=5, log_every=0), ValueError, ("log_every", "positive int", "0")),
    (dict(steps=5, batch_size=0), ValueError, ("batch_size", "positive int", "0")),
    (dict(steps=5, val=np.zeros((3, 2))), TypeError, ("val", "(X_val, y_val)", "ndarray")),
    (dict(steps=5, val=(np.zeros((3, 2)), np.zeros(2))), ValueError, ("val", "3 samples", "2 labels")),
])
def test_bad_arguments(kwargs, error, words):
    model, loss_fn, opt, X, y = make_run()
    with raises(error, *words):
        fit(model, loss_fn, opt, X, y, **kwargs)


def test_fit_refuses_empty_or_non_finite_data_before_its_first_step():
    model, loss_fn, opt, X, y = make_run()
    before = model.state_dict()
    nan_X = X.copy()
    nan_X[4, 1] = np.nan
    for (X_, y_), kwargs, words in [
        ((X[:0], y[:0]), {}, ("X has 0 samples", "at least 1")),          # was a ZeroDivisionError
        ((X[:0], y[:0]), dict(batch_size=8), ("X has 0 samples", "at least 1")),
        ((nan_X, y), {}, ("X is nan at index (4, 1)", "data must be finite")),
        ((X, y), dict(val=(np.full_like(X, np.inf), y)), ("X_val is inf at index (0, 0)", "data must be")),
        ((X, np.eye(3, dtype=np.int64)[y]), {}, ("fit expects", "(90, 3)", "y.argmax(axis=1)")),
    ]:
        with raises(ValueError, *words):
            fit(model, loss_fn, opt, X_, y_, steps=5, **kwargs)
    assert all(np.array_equal(before[name], value) for name, value in model.state_dict().items())


def test_steps_cannot_go_backwards():
    model, loss_fn, opt, X, y = make_run()
    state = TrainingState()
    fit(model, loss_fn, opt, X, y, steps=5, state=state)
    with raises(ValueError, "5 updates", "steps=3", "backwards"):
        fit(model, loss_fn, opt, X, y, steps=3, state=state)


def test_no_output_without_progress(capsys):
    model, loss_fn, opt, X, y = make_run()
    fit(model, loss_fn, opt, X, y, steps=5)
    assert capsys.readouterr() == ("", "")


# The batch stream that makes resuming exact -------------------------------------------------

def test_batch_stream_draws_the_same_batches_as_minibatches_pass_after_pass():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    stream = BatchStream(X, y, 4, rng=np.random.default_rng(5))
    rng = np.random.default_rng(5)
    for _ in range(3):
        for X_batch, y_batch in minibatches(X, y, 4, rng=rng):
            got_X, got_y = stream.next_batch()
            np.testing.assert_array_equal(got_X, X_batch)
            np.testing.assert_array_equal(got_y, y_batch)


def test_batch_stream_state_round_trip():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    stream = BatchStream(X, y, 3, rng=1)
    for _ in range(5):
        stream.next_batch()
    copy = BatchStream(X, y, 3, rng=99)
    copy.load_state_dict(stream.state_dict())
    for _ in range(10):
        np.testing.assert_array_equal(copy.next_batch()[1], stream.next_batch()[1])


@pytest.mark.parametrize("change, words", [
    (dict(order=np.array([0, 0, 1])), ("order", "permutation", "10 samples")),
    (dict(position=np.array(99)), ("position 99", "pass of 10")),
    (dict(rng=np.array("not json")), ("batch state", "incomplete or damaged")),
])
def test_batch_stream_rejects_a_foreign_state(change, words):
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=np.int64)
    stream = BatchStream(X, y, 3, rng=1)
    stream.next_batch()
    with raises(ValueError, *words):
        BatchStream(X, y, 3, rng=1).load_state_dict(dict(stream.state_dict(), **change))


def test_history_csv_round_trips_every_digit(tmp_path):
    history = History()
    history.append(0, 1 / 3, 0.5)
    history.append(10, 0.1 + 0.2, 2 / 3, 0.7, 0.25)
    history.to_csv(tmp_path / "h.csv")
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines == ["step,loss,train_accuracy,val_loss,val_accuracy",
                     "0,0.3333333333333333,0.5,,",
                     "10,0.30000000000000004,0.6666666666666666,0.7,0.25"]
    assert History.from_arrays(history.to_arrays()).rows[1] == history.rows[1]


@pytest.mark.parametrize("name", ["on_step", "should_stop", "progress", "chunk_size", "diverge_factor"])
def test_fit_answers_a_keyword_that_moved_to_training_state_with_what_to_write(name):
    model, loss_fn, opt, X, y = make_run()
    before = model.state_dict()
    with raises(TypeError, name, f"state=TrainingState({name}="):
        fit(model, loss_fn, opt, X, y, steps=3, **{name: None})
    assert all(np.array_equal(value, before[key]) for key, value in model.state_dict().items())


def test_train_step_is_the_readmes_four_lines():
    (model, loss_fn, opt, X, y), (twin, _, twin_opt, _, _) = make_run(), make_run()
    loss, scores = train_step(model, loss_fn, opt, X, y)
    expected_scores = twin.forward(X)
    expected_loss = loss_fn.forward(expected_scores, y)
    twin.backward(loss_fn.backward())
    twin_opt.step()
    assert loss == expected_loss and np.array_equal(scores, expected_scores)
    assert all(np.array_equal(value, twin.state_dict()[key]) for key, value in model.state_dict().items())
