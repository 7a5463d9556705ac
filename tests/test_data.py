"""The spiral data set and mini-batching."""

import json

import numpy as np
import pytest

from data import BatchStream, make_spiral, minibatches
from tests.helpers import raises


def test_spiral_shapes_dtypes_and_labels():
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    assert X.shape == (800, 2) and X.dtype == np.float64
    assert y.shape == (800,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [400, 400])
    assert make_spiral(5, 3, rng=0, dtype=np.float32)[0].dtype == np.float32


def test_spiral_without_noise_follows_the_formula_by_hand():
    X, y = make_spiral(n_per_class=3, n_classes=2, noise=0.0, rng=0)
    # class 1: r = 0, 0.5, 1 and t = 4, 6, 8; the point is (r sin t, r cos t)
    r = np.array([0.0, 0.5, 1.0])
    t = np.array([4.0, 6.0, 8.0])
    np.testing.assert_allclose(X[3:], np.column_stack([r * np.sin(t), r * np.cos(t)]), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), np.tile(r, 2), rtol=1e-15)


def test_noise_only_moves_the_angle():
    X, _ = make_spiral(n_per_class=50, n_classes=3, noise=0.5, rng=1)
    np.testing.assert_allclose(np.hypot(X[:, 0], X[:, 1]), np.tile(np.linspace(0, 1, 50), 3),
                               rtol=1e-12, atol=1e-15)


def test_seed_int_or_generator_is_reproducible_and_global_state_is_untouched():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    a = make_spiral(rng=3)[0]
    b = make_spiral(rng=np.random.default_rng(3))[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_spiral(rng=4)[0])
    make_spiral(rng=None)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(n_per_class=0), ValueError, ("n_per_class", "positive int", "0")),
    (dict(n_classes=2.5), TypeError, ("n_classes", "positive int", "2.5")),
    (dict(noise=-0.1), ValueError, ("noise", "-0.1", ">= 0")),
    (dict(noise=float("nan")), ValueError, ("noise", "nan")),
    (dict(rng="0"), TypeError, ("rng", "np.random.Generator", "'0'")),
    (dict(dtype=np.int32), TypeError, ("dtype", "np.float64", "int32")),
    (dict(dtype="foo"), TypeError, ("dtype", "np.float64", "'foo'")),
])
def test_spiral_argument_errors(kwargs, error, words):
    with raises(error, *words):
        make_spiral(**kwargs)


@pytest.mark.parametrize("n, batch_size", [(10, 3), (10, 5), (10, 10), (10, 32), (1, 1)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_exactly_once_and_the_last_batch_may_be_short(n, batch_size, shuffle):
    X = np.arange(2 * n, dtype=np.float64).reshape(n, 2)
    y = np.arange(n)
    batches = list(minibatches(X, y, batch_size, shuffle=shuffle, rng=0))
    sizes = [len(yb) for _, yb in batches]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    seen = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(np.sort(seen), y)
    for Xb, yb in batches:                   # rows stay paired with their labels
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)
    if not shuffle:
        np.testing.assert_array_equal(seen, y)


def test_shuffling_follows_the_generator():
    X, y = np.zeros((20, 1)), np.arange(20)
    rng = np.random.default_rng(5)
    first = np.concatenate([yb for _, yb in minibatches(X, y, 4, rng=rng)])
    second = np.concatenate([yb for _, yb in minibatches(X, y, 4, rng=rng)])
    assert not np.array_equal(first, second)              # the generator advanced
    again = np.concatenate([yb for _, yb in minibatches(X, y, 4, rng=np.random.default_rng(5))])
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("args, error, words", [
    ((np.zeros((5, 2)), np.zeros(4), 2), ValueError, ("X has 5 samples", "y has 4", "same number")),
    ((np.zeros((0, 2)), np.zeros(0), 2), ValueError, ("X has 0 samples", "y has 0", "at least 1")),
    ((np.zeros((4, 2)), np.zeros((4, 3), dtype=np.int64), 2), ValueError, ("y [N]", "(4, 2)", "(4, 3)")),
    ((np.zeros((5, 2)), np.zeros(5), 0), ValueError, ("batch_size", "positive int", "0")),
    ((np.zeros((5, 2)), np.zeros(5), 2.0), TypeError, ("batch_size", "positive int", "2.0")),
    (([[0.0]], [0], 1), TypeError, ("minibatches", "NumPy arrays")),
    ((np.array(1.0), np.array(1), 1), ValueError, ("X [N x ...]", "y [N]", "() and ()")),
])
def test_minibatch_errors_are_raised_at_the_call(args, error, words):
    with raises(error, *words):
        minibatches(*args)                   # no next(): the check must not wait for the first batch


def test_minibatch_options_are_checked_even_without_shuffling():
    X, y = np.zeros((4, 1)), np.arange(4)
    with raises(TypeError, "shuffle", "True or False", "'no'"):
        minibatches(X, y, 2, shuffle="no")
    with raises(TypeError, "rng", "np.random.Generator", "'seed'"):
        minibatches(X, y, 2, shuffle=False, rng="seed")


def test_a_batch_state_for_another_kind_of_generator_is_refused_and_changes_nothing():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=np.int64)
    saved = BatchStream(X, y, 3, rng=1)
    saved.next_batch()
    stream = BatchStream(X, y, 3, rng=2)
    before = stream.state_dict()
    foreign = np.array(json.dumps({"bit_generator": "MT19937", "state": {"key": [0] * 624, "pos": 624}}))
    with raises(ValueError, "batch state", "generator state", "PCG64"):
        stream.load_state_dict(dict(saved.state_dict(), rng=foreign))
    assert all(np.array_equal(before[name], value) for name, value in stream.state_dict().items())
