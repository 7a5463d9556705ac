"""Divergence beyond NaN: the loss stuck above diverge_factor x its start for PATIENCE logged rows, or
jumped above it and not coming down at the EARLY_ROWS-th row."""

import numpy as np
import pytest

import train
from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD, Adam
from tests.helpers import raises, two_layer
from training import Diverged, History, TrainingState, fit
from training.divergence import EARLY_ROWS, PATIENCE, check_factor, stuck_loss


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


def test_the_early_rule_fires_at_the_fifth_row_when_the_loss_jumped_and_is_not_coming_down():
    assert EARLY_ROWS == 5
    reason = stuck_loss(history_of([0.92, 6.669, 6.670, 6.670, 6.671]), 2.0)    # --lr 50: the net died
    assert "jumped above 2 x its first value 0.92" in reason and "not coming down" in reason
    assert "6.669, 6.67, 6.67, 6.671" in reason
    assert stuck_loss(history_of([1.0, 15.0, 20.5, 6.6, 12.2]), 2.0) is not None    # up and down, no new low
    assert stuck_loss(history_of([1.0, 7.0, 7.0, 7.0]), 2.0) is None                # a row short
    assert stuck_loss(history_of([1.0] + [7.0] * 5), 2.0) is None                   # only at the fifth row
    assert stuck_loss(history_of([1.0] + [7.0] * 4), 0.0) is None                   # 0: off
    assert stuck_loss(history_of([1.0] + [7.0] * 4), 8.0) is None                   # the factor applies
    for losses in ([1.0, 117, 96, 63, 50],          # --activation sigmoid: falling; it reaches 95 %
                   [1.0, 2.26, 0.47, 16.35, 0.43],  # the moons default: 16 x at step 30, 0.02 x at 300
                   [1.0, 2003, 456, 141, 12.2],     # Adam at lr 10: climbs, then falls to 0.05 x
                   [1.0, 7.0, 7.0, 7.0, 6.6]):      # a new low, by more than 5 %
        assert stuck_loss(history_of(losses), 2.0) is None, losses


def test_fit_stops_a_dead_network_at_the_fifth_row():
    X, y = make_spiral(20, 2, rng=0)
    model = Sequential(Linear(2, 16, rng=0), ReLU(), Linear(16, 2, rng=1))
    with raises(Diverged, "step 40", "jumped above 2 x", "not coming down", "learning rate") as caught:
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=50), X, y, steps=300)
    assert caught.value.what == "the training loss" and caught.value.value > 2 * 0.6482


def test_train_py_lr_50_ends_diverged_at_step_40(tmp_path, capsys):
    assert train.main(["--lr", "50", "--steps", "300", "--no-progress", "--out", str(tmp_path / "r")]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("train.py: error: training diverged at step 40: the training loss jumped")
    assert "not coming down" in last and "smaller learning rate" in last


@pytest.mark.parametrize("flags", [
    [], ["--optimizer", "adam"], ["--dataset", "moons"], ["--dataset", "circles"], ["--dataset", "xor"],
    ["--batch-size", "64"], ["--activation", "sigmoid"],
    ["--depth", "3", "--activation", "tanh", "--hidden", "64", "--lr", "0.5"],
    ["--optimizer", "adam", "--lr", "0.01", "--batch-size", "64", "--val-fraction", "0.2"],
])
def test_train_py_defaults_and_the_readme_runs_pass_the_early_rule(flags, tmp_path, monkeypatch):
    """The fifth row is at step 40, so 41 steps meet the early rule (the README's runs and the data
    sets' defaults; the default moons run is 16 x its start at step 30). Figures are not drawn."""
    monkeypatch.setattr(train.report, "draw_figures", lambda *args, **kwargs: {})
    assert train.main([*flags, "--steps", "41", "--no-progress", "--out", str(tmp_path / "r")]) == 0


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
