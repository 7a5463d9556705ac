"""SoftmaxCrossEntropy: hand-computed values, stability at ±1e4, the loop's step 6, every input error."""

import numpy as np
import pytest

from layers import SoftmaxCrossEntropy
from tests.helpers import raises


def test_equal_scores_give_ln_k_and_the_gradient_by_hand():
    loss_fn = SoftmaxCrossEntropy()
    scores = np.zeros((2, 4))
    # P = 1/4 everywhere, so L = −log(1/4) = ln 4
    assert loss_fn.forward(scores, np.array([0, 3])) == pytest.approx(np.log(4), rel=1e-15)
    # (1) (P − onehot(y)) / N with N = 2: (1/4 − 1)/2 = −3/8 at the label, (1/4)/2 = 1/8 elsewhere
    expected = np.array([[-3 / 8, 1 / 8, 1 / 8, 1 / 8], [1 / 8, 1 / 8, 1 / 8, -3 / 8]])
    np.testing.assert_array_equal(loss_fn.backward(), expected)


def test_two_classes_by_hand():
    loss_fn = SoftmaxCrossEntropy()
    # scores (ln 3, 0): P = (3/4, 1/4); label 1 gives L = −ln(1/4) = ln 4
    loss = loss_fn.forward(np.array([[np.log(3.0), 0.0]]), np.array([1]))
    assert loss == pytest.approx(np.log(4), rel=1e-15)
    np.testing.assert_allclose(loss_fn.backward(), [[0.75, -0.75]], rtol=1e-15)
    np.testing.assert_allclose(loss_fn.probs, [[0.75, 0.25]], rtol=1e-15)


def test_loss_is_a_python_float():
    assert type(SoftmaxCrossEntropy().forward(np.zeros((1, 2)), np.array([0]))) is float


def test_a_perfect_fit_is_plus_zero():
    loss = SoftmaxCrossEntropy().forward(np.array([[0.0, -1e4]]), np.array([0]))
    assert loss == 0.0 and str(loss) == "0.0"


def test_changing_the_labels_after_forward_cannot_corrupt_backward():
    loss_fn = SoftmaxCrossEntropy()
    y = np.array([0, 1])
    loss_fn.forward(np.zeros((2, 2)), y)
    y[:] = [1, 0]
    np.testing.assert_array_equal(loss_fn.backward(), [[-0.25, 0.25], [0.25, -0.25]])


def test_scores_near_the_float_limit_give_an_infinite_loss_without_warnings():
    with np.errstate(all="raise"):
        loss = SoftmaxCrossEntropy().forward(np.array([[1e308, -1e308]]), np.array([1]))
    assert loss == np.inf


def test_backward_is_the_loops_three_statements():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((6, 3))
    y = np.array([0, 1, 2, 2, 1, 0])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    exp_scores = np.exp(scores)
    dscores = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    dscores[range(6), y] -= 1
    dscores /= 6
    np.testing.assert_allclose(loss_fn.backward(), dscores, rtol=1e-14, atol=1e-17)


def test_backward_twice_gives_the_same_gradient():
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(np.array([[1.0, 2.0, 3.0]]), np.array([2]))
    np.testing.assert_array_equal(loss_fn.backward(), loss_fn.backward())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_scores_neither_overflow_nor_take_log_of_zero(dtype):
    loss_fn = SoftmaxCrossEntropy()
    scores = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]], dtype=dtype)
    y = np.array([1, 1, 0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss = loss_fn.forward(scores, y)
        grad = loss_fn.backward()
    # row 0: −log P = 2e4 (wrong by a margin of 2e4); row 1: 0; row 2: ln 2
    assert loss == pytest.approx((2e4 + 0 + np.log(2)) / 3, rel=1e-6)
    expected = np.array([[1, -1], [0, 0], [-0.5, 0.5]]) / 3
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-30)
    assert grad.dtype == dtype


def test_scores_and_caller_arrays_are_not_modified():
    scores = np.array([[0.5, -0.5], [2.0, 1.0]])
    y = np.array([0, 1])
    before = scores.copy()
    scores.flags.writeable = False
    y.flags.writeable = False
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(scores, y)
    loss_fn.backward()
    np.testing.assert_array_equal(scores, before)


def test_backward_before_forward():
    with raises(RuntimeError, "SoftmaxCrossEntropy().backward()", "forward"):
        SoftmaxCrossEntropy().backward()


@pytest.mark.parametrize("y, error, words", [
    (np.array([0, 3, 1]), ValueError, ("label 3", "index 1", "3 classes", "0 <= label < 3")),
    (np.array([0, 1, -1]), ValueError, ("label -1", "index 2", "3 classes", "0 <= label < 3",
                                                   "negative label as counting from the last class")),
    (np.array([0.0, 1.0, 2.0]), TypeError, ("labels", "integers", "float64", "y.astype(np.int64)")),
    (np.array([0.0, 0.5, 2.0]), TypeError, ("labels", "integers", "not whole numbers", "MSELoss")),
    (np.array([True, False, True]), TypeError, ("labels", "integers", "bool", "y.astype(np.int64)")),
    (np.array([[0], [1], [2]]), ValueError, ("labels", "1-D", "(3, 1)", "y.ravel()")),
    (np.eye(3), ValueError, ("labels", "1-D", "(3, 3)", "one-hot", "y.argmax(axis=1)")),
    (np.array([0, 1]), ValueError, ("2 labels", "3 rows")),
])
def test_label_errors_name_the_value_position_and_k(y, error, words):
    with raises(error, *words):
        SoftmaxCrossEntropy().forward(np.zeros((3, 3)), y)


def test_labels_may_be_a_list_of_ints():
    assert SoftmaxCrossEntropy().forward(np.zeros((2, 2)), [0, 1]) == pytest.approx(np.log(2))


@pytest.mark.parametrize("scores, error, words", [
    (np.zeros(3), ValueError, ("scores", "2-D", "(3,)")),
    (np.zeros((0, 3)), ValueError, ("scores", "non-empty", "(0, 3)")),
    (np.array([[0.0, np.nan, 0.0]] * 3), ValueError, ("score", "nan", "(0, 1)")),
    (np.array([[0.0, 0.0, 0.0], [0.0, 0.0, np.inf], [0.0] * 3]), ValueError,
     ("score", "inf", "(1, 2)")),
    (np.zeros((3, 3), dtype=np.int64), TypeError, ("scores", "floating-point", "int64")),
    ([[0.0, 0.0, 0.0]] * 3, TypeError, ("scores", "NumPy array", "list")),
])
def test_score_errors(scores, error, words):
    with raises(error, *words):
        SoftmaxCrossEntropy().forward(scores, np.array([0, 1, 2]))
