"""Central-difference gradient checks in float64: every layer, whole models, and planted bugs."""

import numpy as np
import pytest

from layers import Linear, ReLU, SoftmaxCrossEntropy, check_gradients, check_loss_gradient
from layers.gradcheck import PrecisionWarning
from models import Sequential
from tests.helpers import ACTIVATIONS, TOL, assert_passes, away_from_zero, stack

SHAPES = [(1, 1, 1), (3, 5, 2), (7, 4, 9), (16, 3, 3)]      # (N, D_in, D_out)


@pytest.mark.parametrize("n, d_in, d_out", SHAPES)
def test_linear(n, d_in, d_out):
    rng = np.random.default_rng(n * 100 + d_in)
    layer = Linear(d_in, d_out, rng=rng, init=0.5)
    layer.params["b"][...] = rng.standard_normal(d_out)
    assert_passes(check_gradients(layer, rng.standard_normal((n, d_in)), rng=rng))


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (9, 7), (2, 3, 4)])
def test_activation(name, shape):
    rng = np.random.default_rng(sum(shape))
    layer = ACTIVATIONS[name]()
    assert_passes(check_gradients(layer, away_from_zero(rng, shape) * 2, rng=rng))


@pytest.mark.parametrize("n, k", [(1, 2), (5, 3), (12, 7)])
def test_softmax_cross_entropy(n, k):
    rng = np.random.default_rng(n + k)
    scores = rng.standard_normal((n, k))
    y = rng.integers(0, k, size=n)
    assert_passes(check_loss_gradient(SoftmaxCrossEntropy(), scores, y))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("n, widths", [(1, [2, 3, 3, 3, 2]), (6, [3, 6, 5, 4, 4]), (11, [4, 2, 7, 3, 5])])
def test_sequential_stacks(activation, depth, n, widths):
    rng = np.random.default_rng(depth * 10 + n)
    model = stack(activation, depth, widths, rng)
    report = check_gradients(model, rng.standard_normal((n, widths[0])), rng=rng)
    assert set(report.errors) == {"x"} | {p.name for p in model.parameters()}
    assert_passes(report)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_model_and_loss_end_to_end(activation):
    rng = np.random.default_rng(11)
    model = stack(activation, 2, [2, 8, 8, 3], rng)
    x = rng.standard_normal((10, 2))
    y = rng.integers(0, 3, size=10)
    assert_passes(check_gradients(model, x, loss=SoftmaxCrossEntropy(), y=y))


def test_the_questions_network_with_the_loops_initialisation():
    rng = np.random.default_rng(5)
    model = Sequential(Linear(2, 30, rng=rng, init=0.01), ReLU(), Linear(30, 2, rng=rng, init=0.01))
    model[0].params["b"][...] = 0.05          # every hidden unit stays > 1e-3 away from the kink at 0
    x = rng.standard_normal((8, 2))
    y = rng.integers(0, 2, size=8)
    # With 0.01-scale weights, ∂L/∂x is about 1e-4 while L ≈ ln 2: rounding in L (1e-16 / eps)
    # limits eps = 1e-6 to about 1e-6 relative error, which the report explains ...
    report = check_gradients(model, x, loss=SoftmaxCrossEntropy(), y=y)
    assert "rounding in L alone allows" in str(report)
    # x's 2e-6 is all rounding in L (every difference within it): it passes, and says so
    assert report.passed and report.at_rounding == {"x"} and report.verdict("x") == "ok at rounding level"
    # ... and a larger eps resolves (ReLU nets are piecewise linear, so it costs no accuracy)
    assert_passes(check_gradients(model, x, loss=SoftmaxCrossEntropy(), y=y, eps=1e-4))


def test_the_check_changes_neither_the_input_nor_the_weights():
    rng = np.random.default_rng(0)
    model = stack("tanh", 1, [3, 4, 2], rng)
    weights = model.state_dict()
    x = rng.standard_normal((4, 3))
    x_before = x.copy()
    check_gradients(model, x)
    np.testing.assert_array_equal(x, x_before)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, weights[name])


# The checker catches planted bugs --------------------------------------------------------

class MissingTransposeLinear(Linear):
    """Bug: ∂L/∂x = dy W instead of dy Wᵀ (shapes agree because W is square)."""

    def backward(self, dy):
        super().backward(dy)
        return dy @ self.params["W"]


class TransposedWeightGradLinear(Linear):
    """Bug: ∂L/∂W = (xᵀ dy)ᵀ, a transpose in the wrong place."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"].T
        return dx


class DoubledBiasLinear(Linear):
    """Bug: ∂L/∂b counted twice."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = 2 * self.grads["b"]
        return dx


class InvertedMaskReLU(ReLU):
    """Bug: gradient passed where the unit is off, blocked where it is on."""

    def backward(self, dy):
        return np.where(self._require_cache(self._mask), 0, dy)


@pytest.mark.parametrize("bug, culprit", [
    (MissingTransposeLinear, "x"),
    (TransposedWeightGradLinear, "W"),
    (DoubledBiasLinear, "b"),
])
def test_planted_linear_bugs_fail_the_check(bug, culprit):
    rng = np.random.default_rng(3)
    layer = bug(4, 4, rng=rng)
    report = check_gradients(layer, rng.standard_normal((5, 4)))
    assert report.errors[culprit] > 1e-2
    assert not report.passed
    assert "WRONG" in str(report)


def test_planted_inverted_relu_mask_fails_the_check_inside_a_model():
    rng = np.random.default_rng(4)
    model = Sequential(Linear(3, 6, rng=rng), InvertedMaskReLU(), Linear(6, 2, rng=rng))
    report = check_gradients(model, rng.standard_normal((5, 3)))
    assert report.errors["0.W"] > 1e-2 and report.errors["x"] > 1e-2
    assert report.errors["2.W"] < TOL            # the layer above the bug is still right


def test_a_gradient_of_the_wrong_shape_is_reported_not_crashed_on():
    class WrongShape(Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"] = self.grads["W"].T
            return dx

    report = check_gradients(WrongShape(2, 3, rng=np.random.default_rng(0)), np.ones((2, 2)))
    assert report.errors["W"] == np.inf
    assert "gradient has shape (3, 2), the array has shape (2, 3)" in str(report)


def test_steps_across_a_relu_kink_are_checked_by_the_slope_on_their_side():
    # the fourth entry's ±eps step crosses 0, and the second sits on 0 itself. ReLU is straight on
    # either side of its kink, so the one-sided slopes check them: from the right at 1e-7 (1), from
    # below at 0 (0, ReLU's convention); no entry is left out
    x = np.array([[1.0, 0.0, -2.0, 1e-7]])
    report = check_gradients(ReLU(), x)
    assert report.kinks["x"] == 0
    assert report.errors["x"] <= 1e-7 and report.passed


def test_reduced_precision_warns():
    layer = Linear(2, 2, rng=np.random.default_rng(0), dtype=np.float32)
    with pytest.warns(PrecisionWarning) as warned:
        check_gradients(layer, np.ones((3, 2), dtype=np.float32))
    assert all(f"{name} is float32" in str(warned[0].message) for name in ("x", "W", "b"))


def test_report_reads_like_a_table():
    report = check_gradients(Linear(2, 2, rng=np.random.default_rng(0)), np.ones((3, 2)))
    lines = str(report).splitlines()
    assert lines[0] == "gradient check: central differences with eps=1e-06"
    assert [line.split()[0] for line in lines[1:]] == ["x", "W", "b"]
    assert all(line.endswith("ok") for line in lines[1:])


def test_a_window_checks_only_the_first_entries_of_each_weight():
    class WrongPastRow3(Linear):
        def backward(self, dy):
            dx = super().backward(dy)
            self.grads["W"][3:] *= 2            # a bug outside the window
            return dx

    layer, x = WrongPastRow3(5, 4, rng=0), np.random.default_rng(1).standard_normal((6, 5))
    assert not check_gradients(layer, x).passed
    report = check_gradients(layer, x, window=3)
    assert report.passed and set(report.errors) == {"x", "W", "b"}
    np.testing.assert_array_equal(check_gradients(Linear(5, 4, rng=0), x, window=3).errors["x"],
                                  check_gradients(Linear(5, 4, rng=0), x).errors["x"])
