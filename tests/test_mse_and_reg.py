"""MSELoss (regression) and the course's L2 regularisation (fit's ``reg``, train.py's --reg)."""

import math
from pathlib import Path

import numpy as np
import pytest

from data import make_spiral
from layers import Linear, MSELoss, ReLU, SoftmaxCrossEntropy, Tanh, check_loss_gradient
from models import Sequential
from optim import SGD
from tests.helpers import assert_passes, raises
from training import TrainingState, fit
from training.course_loop import course_initial_weights, course_loop
from training.penalty import L2

# MSELoss -----------------------------------------------------------------------------------

def test_mse_is_the_mean_over_every_entry_by_hand():
    scores = np.array([[1.0, 2.0], [3.0, 5.0]])
    targets = np.array([[0.0, 2.0], [1.0, 1.0]])
    loss = MSELoss()
    assert loss.forward(scores, targets) == (1 + 0 + 4 + 16) / 4
    np.testing.assert_array_equal(loss.backward(), 2 * (scores - targets) / 4)


def test_mse_passes_the_gradient_check():
    rng = np.random.default_rng(0)
    report = check_loss_gradient(MSELoss(), rng.standard_normal((7, 3)), rng.standard_normal((7, 3)))
    assert_passes(report)
    assert report.errors["scores"] <= 1e-9


def test_mse_refuses_targets_of_another_shape_or_kind():
    scores = np.zeros((4, 1))
    with raises(ValueError, "MSELoss()", "targets", "(4, 1)", "(4,)", "y[:, None]"):
        MSELoss().forward(scores, np.zeros(4))
    with raises(TypeError, "MSELoss()", "floating-point", "int64"):
        MSELoss().forward(scores, np.zeros((4, 1), dtype=np.int64))
    with raises(TypeError, "float64 scores", "float32 targets", "astype"):
        MSELoss().forward(scores, np.zeros((4, 1), dtype=np.float32))
    with raises(ValueError, "target", "nan"):
        MSELoss().forward(scores, np.full((4, 1), np.nan))
    with raises(RuntimeError, "before forward()"):
        MSELoss().backward()


def test_a_nan_target_is_a_data_problem_not_divergence():
    """No learning rate makes a target finite: the error says the data must be finite, and fit refuses
    the targets before its first step, not as Diverged (whose advice is a smaller learning rate)."""
    scores, targets = np.zeros((4, 1)), np.zeros((4, 1))
    targets[2, 0] = np.nan
    with raises(ValueError, "a target is nan at index (2, 0)", "data must be finite", "isfinite") as caught:
        MSELoss().forward(scores, targets)
    assert type(caught.value) is ValueError and "learning rate" not in str(caught.value)
    model = Sequential(Linear(1, 1, rng=0))
    before = model.state_dict()
    with raises(ValueError, "y is nan at index (2, 0)", "data must be finite") as caught:
        fit(model, MSELoss(), SGD(model.parameters(), lr=0.1), np.ones((4, 1)), targets, steps=3)
    assert type(caught.value) is ValueError and "learning rate" not in str(caught.value)
    assert all(np.array_equal(before[name], value) for name, value in model.state_dict().items())
    with raises(RuntimeError, "before forward()"):
        MSELoss().backward()


@pytest.mark.parametrize("batch_size", [None, 16])
def test_fit_trains_a_regression_and_reports_accuracy_as_nan(batch_size):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 2))
    T = np.stack([np.sin(3 * X[:, 0]), X[:, 0] * X[:, 1]], axis=1)          # [N x 2] targets
    model = Sequential(Linear(2, 16, rng=rng), Tanh(), Linear(16, 2, rng=rng))
    history = fit(model, MSELoss(), SGD(model.parameters(), lr=0.1, momentum=0.9), X, T, steps=200,
                  batch_size=batch_size, rng=1, log_every=50, val=(X[:8], T[:8]),
                  state=TrainingState(chunk_size=10))
    assert history[-1]["loss"] < 0.25 * history[0]["loss"]
    assert all(math.isnan(row["train_accuracy"]) and math.isnan(row["val_accuracy"]) for row in history)
    assert history.has_validation


# The course's L2 regularisation ------------------------------------------------------------

def test_fit_with_reg_follows_the_course_loop_with_reg_within_1e_9():
    X, y = make_spiral(100, 3, 0.2, rng=0)
    init = course_initial_weights(2, 100, 3, np.random.default_rng(1))
    losses, _, weights = course_loop(X, y, **init, reg=1e-3, iterations=400)
    model = Sequential(Linear(2, 100, rng=0), ReLU(), Linear(100, 3, rng=0))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    history = fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X, y, steps=400,
                  log_every=1, state=TrainingState(chunk_size=64), reg=1e-3)
    ours = history.column("loss")[:-1]      # the last row measures the weights after the last update
    assert len(ours) == 400
    assert np.abs(ours - np.array(losses)).max() <= 1e-9
    for name, key in {"0.W": "W", "0.b": "b", "2.W": "W2", "2.b": "b2"}.items():
        np.testing.assert_allclose(model.state_dict()[name], weights[key], rtol=1e-9, atol=1e-12)


def test_the_readmes_table_says_what_fit_does_with_reg():
    """The README's rows for the loop's reg lines name fit(..., reg=λ), whose reported loss includes R
    (the test above), and do not say that R is not part of the loss."""
    page = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if "`reg_loss = " in line or "`dW += reg * W`" in line]
    assert len(rows) == 2 and all("fit(..., reg=λ)" in row for row in rows)
    assert "part of every loss" in rows[0] and "not part of the loss" not in page


def test_l2_touches_weight_matrices_only():
    model = Sequential(Linear(2, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    for p in model.parameters():
        p.value[...] = 1.0 if p.name.endswith("W") else 5.0
        p.grad = np.zeros_like(p.value)
    penalty = L2(0.5)
    assert penalty.value(model.parameters()) == 0.5 * 0.5 * (6 + 6)         # biases left out
    penalty.add_gradient(model.parameters())
    grads = {p.name: p.grad for p in model.parameters()}
    assert (grads["0.W"] == 0.5).all() and (grads["2.W"] == 0.5).all()
    assert (grads["0.b"] == 0).all() and (grads["2.b"] == 0).all()


def test_a_negative_reg_is_refused_by_fit():
    X, y = make_spiral(5, 2, rng=0)
    model = Sequential(Linear(2, 2, rng=0))
    with raises(ValueError, "reg", "-0.1", ">= 0"):
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=1, reg=-0.1)
