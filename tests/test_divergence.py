"""Divergence beyond NaN: the loss stuck above diverge_factor x its start for PATIENCE logged rows."""

import numpy as np
import pytest

from data import make_spiral
from layers import SoftmaxCrossEntropy
from optim import SGD, Adam
from tests.helpers import raises, two_layer
from training import Diverged, History, TrainingState, fit
from training.loop import PATIENCE, check_factor, stuck_loss


def history_of(losses):
    history = History()
    for step, loss in enumerate(losses):
        history.append(10 * step, loss, 0.5)
    return history


def test_the_rule_fires_after_patience_rows_above_factor_times_the_first_loss():
    assert PATIENCE == 50
    assert stuck_loss(history_of([1.0] + [2.01] * 49), 2.0) is None          # one row short
    reason = stuck_loss(history_of([1.0] + [2.01] * 50), 2.0)
    assert "2 x its first value 1" in reason and "50 logged rows" in reason and "2.01" in reason
    assert stuck_loss(history_of([1.0] + [2.01] * 30 + [1.99] + [2.01] * 40), 2.0) is None   # reset
    assert stuck_loss(history_of([1.0] + [2.0] * 60), 2.0) is None           # at, not above
    assert stuck_loss(history_of([1.0] + [1e300] * 60), 0.0) is None         # 0: off


@pytest.mark.parametrize("factor, error, words", [
    (0.5, ValueError, ("diverge_factor", "0.5", "> 1", "0 to turn")),
    (1, ValueError, ("diverge_factor", "> 1")),
    (float("inf"), ValueError, ("diverge_factor", "inf")),
    ("off", TypeError, ("diverge_factor", "'off'")),
    (True, TypeError, ("diverge_factor", "True")),
])
def test_a_factor_is_0_or_a_finite_number_above_1(factor, error, words):
    with raises(error, *words):
        check_factor(factor)
    assert check_factor(0) == 0.0 and check_factor(3) == 3.0


def small(optimizer, lr, dtype=np.float64):
    X, y = make_spiral(10, 3, rng=0)
    model = two_layer(hidden=16, dtype=dtype)
    return model, SoftmaxCrossEntropy(), optimizer(model.parameters(), lr=lr), X.astype(dtype), y


@pytest.mark.parametrize("optimizer, lr", [(SGD, 1e10), (Adam, 1e100)])
def test_fit_stops_a_loss_stuck_far_above_its_start_and_blames_the_learning_rate(optimizer, lr):
    model, loss_fn, opt, X, y = small(optimizer, lr)
    with raises(Diverged, "step 50", "the training loss has stayed above 2 x", "learning rate") as caught:
        fit(model, loss_fn, opt, X, y, steps=200, log_every=1)
    assert caught.value.step == 50 and caught.value.value > 1e9


def test_diverge_factor_0_lets_such_a_run_finish():
    model, loss_fn, opt, X, y = small(SGD, 1e10)
    history = fit(model, loss_fn, opt, X, y, steps=60, log_every=1,
                  state=TrainingState(diverge_factor=0))
    assert history[-1]["loss"] > 1e9


@pytest.mark.parametrize("optimizer, lr", [(SGD, 1.0), (Adam, 1e-3), (Adam, 0.1)])
def test_a_learning_run_never_trips_the_rule(optimizer, lr):
    model, loss_fn, opt, X, y = small(optimizer, lr)
    history = fit(model, loss_fn, opt, X, y, steps=300, log_every=1)
    assert history[-1]["loss"] < history[0]["loss"]


def test_at_step_0_the_inputs_or_the_initial_weights_are_named_not_the_learning_rate():
    model, loss_fn, opt, X, y = small(SGD, 0.1, dtype=np.float32)
    X = X * np.float32(3e38)                # finite float32 inputs whose scores overflow at once
    with raises(Diverged, "step 0", "before any update", "inputs", "init") as caught:
        fit(model, loss_fn, opt, X, y, steps=5)
    assert "learning rate" not in str(caught.value)
