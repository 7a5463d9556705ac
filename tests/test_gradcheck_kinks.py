"""The gradient checker on the project's own data: the spiral's first points sit on ReLU's kink.

An entry whose ±eps step crosses a kink is checked with the slope from the side it starts on, or
with half the step; one that neither checks is left out, and counted, if the forward pass shows the
kink. The forward pass alone decides, so a wrong backward still fails. Most tests use 20 hidden
units to stay cheap; the width matters, though: with 1000 units the spiral's points near the origin
have some unit's kink within ±eps much more often (tests/test_gradcheck_verdicts.py).
"""

import math

import numpy as np
import pytest

from data import make_spiral
from data.seeding import spawn_generators
from layers import GradCheckReport, Linear, ReLU, SoftmaxCrossEntropy, check_gradients
from models import Sequential


def spiral_check(hidden=20):
    X, y = make_spiral(400, 2, 0.5, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, hidden, rng=rng), ReLU(), Linear(hidden, 2, rng=rng))
    return check_gradients(model, X, loss=SoftmaxCrossEntropy(), y=y)


def test_a_correct_model_passes_on_the_default_spiral_with_its_kinks_excluded():
    report = spiral_check()
    # the two points at the origin: moving either coordinate switches hidden units on or off
    assert report.kinks["x"] == 4
    assert report.passed is True
    assert max(report.errors.values()) <= 1e-7
    assert "x    relative error" in str(report)
    assert "(4 entries straddle a ReLU kink, excluded)" in str(report)


def test_a_bias_gradient_taken_as_a_mean_still_fails(monkeypatch):
    correct = Linear.backward

    def mean_bias(self, dy):
        dx = correct(self, dy)
        self.grads["b"] = dy.mean(axis=0)                # bug: the sum over the batch, divided by N
        return dx

    monkeypatch.setattr(Linear, "backward", mean_bias)
    report = spiral_check()
    assert report.passed is False
    assert report.errors["0.b"] > 0.99 and report.errors["2.b"] > 0.99     # 1 − 1/800
    assert report.errors["0.W"] <= 1e-7
    assert "WRONG" in str(report)


def test_a_bug_away_from_the_kink_is_not_hidden_by_it():
    class PassesNegatives(ReLU):
        def backward(self, dy):
            return np.where(self._require_cache(self._mask), dy, 0.5 * dy)    # bug: slope 0.5 below 0

    x = np.array([[1e-7, 1.0, -1.0]])        # the first entry's ±eps step crosses 0
    report = check_gradients(PassesNegatives(), x)
    assert report.kinks["x"] == 0            # the first is checked from the right, where the bug is not
    assert report.errors["x"] > 1e-2         # the third, at −1, shows it
    assert not report.passed


def three_kinks(a):
    """y = relu(x − a) − relu(x + a) + relu(x + 10): at x = 0, dy/dx = −1 + 1 = 0, but for any step
    s > a both one-sided slopes are 1 − a/s (by hand: y(s) − y(0) = y(0) − y(−s) = s − a), so the
    central difference is 1 − a/s, not 0, and it moves as s is halved."""
    model = Sequential(Linear(1, 3, rng=0), ReLU(), Linear(3, 1, rng=0))
    model[0].params["W"][...] = 1.0
    model[0].params["b"][...] = [-a, a, 10.0]
    model[2].params["W"][...] = [[1.0], [-1.0], [1.0]]
    model[2].params["b"][...] = 0.0
    return model


def test_an_array_whose_entries_all_straddle_kinks_is_not_checked_and_fails():
    report = check_gradients(three_kinks(4e-7), np.zeros((3, 1)), dy=np.ones((3, 1)))
    assert report.kinks["x"] == 3
    assert math.isnan(report.errors["x"])
    assert report.passed is False and report.passed_at(1.0) is False
    assert "all 3 entries straddle a ReLU kink" in str(report)
    assert "NOT CHECKED" in str(report)


def test_passed_is_a_property_and_passed_at_takes_a_tolerance():
    report = GradCheckReport(errors={"x": 5e-7, "W": 1e-9})
    assert report.passed is False             # a method object would always be truthy
    assert report.passed_at(1e-6) is True
    with pytest.raises(TypeError):
        report.passed(1e-6)                   # the old call: a bool is not callable


def test_a_kink_within_the_step_whose_one_sided_slopes_agree_is_found_by_halving_the_step():
    # a = 4e-7 < eps: the central difference is 0.6 at eps and 0.2 at eps/2. It moved, which a smooth
    # L's would not: a kink lies within ±eps, and the entry is left out
    report = check_gradients(three_kinks(4e-7), np.array([[0.0], [1.0]]), dy=np.ones((2, 1)))
    assert report.kinks["x"] == 1
    assert report.errors["x"] <= 1e-7                # the entry at x = 1, where dy/dx = 1
    assert "(1 entry straddles a ReLU kink, excluded)" in str(report)


def test_relu_at_zero_is_checked_against_the_one_sided_slopes():
    report = check_gradients(ReLU(), np.zeros((1, 3)))       # backward gives the slope from below, 0
    assert report.kinks["x"] == 0 and report.passed

    class TwiceAtZero(ReLU):
        def backward(self, dy):
            return 2.0 * dy                 # bug: at x = 0, neither the slope from below (0) nor above (1)

    layer = TwiceAtZero()
    report = check_gradients(layer, np.zeros((1, 3)))
    assert report.passed is False
    assert report.kinks["x"] == 3                 # on the kink, matching no side: left out, so
    assert math.isnan(report.errors["x"])        # nothing was checked, and the check fails


def test_the_default_network_passes_on_its_first_20_points_at_the_origin():
    # the course network as train.py builds it: 1000 hidden units, biases 0, the first point at the
    # origin, where every unit sits on its kink. The old checker missed one of those kinks among the
    # 1000 biases and reported 0.b WRONG (2.6e-02); only the cheap arrays are checked here
    # (x and the biases: 1,024 entries, not 5,002).
    X, y = make_spiral(400, 2, 0.5, rng=spawn_generators(seed=0, n=2)[0])
    rng = spawn_generators(seed=0, n=2)[1]
    model = Sequential(Linear(2, 1000, rng=rng), ReLU(), Linear(1000, 2, rng=rng))
    biases = BiasesOnly(model)
    report = check_gradients(biases, X[:20], loss=SoftmaxCrossEntropy(), y=y[:20])
    assert list(report.errors) == ["x", "0.b", "2.b"]
    assert report.passed, str(report)
    assert report.kinks["0.b"] <= 1


class BiasesOnly:
    """``model`` for check_gradients with only its biases as parameters (the weights stay fixed)."""

    def __init__(self, model):
        self.forward, self.backward = model.forward, model.backward
        self._biases = [p for p in model.parameters() if p.name.endswith(".b")]

    def parameters(self):
        return self._biases
