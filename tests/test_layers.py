"""Layers: hand-computed cases, the contract (params/grads, caches, dtypes) and every input error."""

import numpy as np
import pytest

from layers import LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from tests.helpers import raises

ACTIVATIONS = [ReLU, LeakyReLU, Tanh, Sigmoid]


def small_linear():
    """Linear(2, 2) with W = [[1, 2], [3, 4]] and b = [0.5, −1]."""
    layer = Linear(2, 2, rng=np.random.default_rng(0))
    layer.params["W"][...] = [[1.0, 2.0], [3.0, 4.0]]
    layer.params["b"][...] = [0.5, -1.0]
    return layer


# Hand-computed cases ----------------------------------------------------------------------

def test_linear_by_hand():
    layer = small_linear()
    x = np.array([[1.0, 1.0], [2.0, 0.0]])
    # y = x W + b: [1+3+0.5, 2+4−1] = [4.5, 5]; [2+0+0.5, 4+0−1] = [2.5, 3]
    np.testing.assert_array_equal(layer.forward(x), [[4.5, 5.0], [2.5, 3.0]])
    dy = np.array([[1.0, 0.0], [0.0, 2.0]])
    dx = layer.backward(dy)
    # (1) xᵀ dy = [[1·1 + 2·0, 1·0 + 2·2], [1·1 + 0·0, 1·0 + 0·2]] = [[1, 4], [1, 0]]
    np.testing.assert_array_equal(layer.grads["W"], [[1.0, 4.0], [1.0, 0.0]])
    # (2) Σ_n dy[n] = [1, 2]
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 2.0])
    # (3) dy Wᵀ: [1, 0]·Wᵀ = [1, 3]; [0, 2]·Wᵀ = [4, 8]
    np.testing.assert_array_equal(dx, [[1.0, 3.0], [4.0, 8.0]])


def test_relu_by_hand_with_zero_derivative_at_zero():
    layer = ReLU()
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[0.0, 0.0, 3.0]])
    # ReLU'(0) = 0: the unit at exactly 0 passes no gradient, like the loop's hidden_layer <= 0
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])


def test_leaky_relu_by_hand():
    layer = LeakyReLU(0.1)
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[0.1 * -2.0, 0.0, 3.0]])
    # slope α at x <= 0, 1 above
    np.testing.assert_array_equal(layer.backward(np.array([[1.0, 1.0, 1.0]])), [[0.1, 0.1, 1.0]])


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.3, 1 / 3])
def test_leaky_relu_is_exactly_alpha_x(slope):
    x = np.random.default_rng(0).standard_normal(10_000)
    y = LeakyReLU(slope).forward(x)
    np.testing.assert_array_equal(y, np.where(x > 0, x, slope * x))


def test_tanh_by_hand():
    layer = Tanh()
    x = np.array([[0.0, np.log(2.0)]])
    # tanh(ln 2) = (2 − 1/2) / (2 + 1/2) = 0.6; 1 − 0.6² = 0.64
    np.testing.assert_allclose(layer.forward(x), [[0.0, 0.6]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 2.0]])), [[1.0, 1.28]], rtol=1e-14)


def test_sigmoid_by_hand():
    layer = Sigmoid()
    x = np.array([[0.0, np.log(3.0), -np.log(3.0)]])
    # σ(0) = 1/2; σ(ln 3) = 3/4; σ(−ln 3) = 1/4; σ' = σ(1 − σ) = 1/4, 3/16, 3/16
    np.testing.assert_allclose(layer.forward(x), [[0.5, 0.75, 0.25]], rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), [[0.25, 0.1875, 0.1875]], rtol=1e-14)


# Extreme inputs ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer_class", [Tanh, Sigmoid])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturating_activations_are_finite_and_silent_for_huge_inputs(layer_class, dtype):
    info = np.finfo(dtype)
    x = np.array([[info.min, -1e4, -800.0, -720.0, -100.0, -50.0, 0.0, 50.0, 800.0, 1e4, info.max]],
                 dtype=dtype)
    layer = layer_class()
    with np.errstate(all="raise"):          # any overflow or invalid operation would raise here
        y = layer.forward(x)
        dx = layer.backward(np.ones_like(x))
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    low, high = (-1.0, 1.0) if layer_class is Tanh else (0.0, 1.0)
    assert y[0, 0] == low and y[0, -1] == high
    assert y.dtype == dx.dtype == dtype


# The contract -----------------------------------------------------------------------------

def test_linear_params_and_grads_share_keys_and_backward_overwrites():
    layer = small_linear()
    assert layer.params.keys() == layer.grads.keys() == {"W", "b"}
    assert layer.grads["W"] is None
    x = np.ones((1, 2))
    layer.forward(x)
    layer.backward(np.ones((1, 2)))
    layer.forward(x)
    layer.backward(np.ones((1, 2)))
    # a second backward replaces the gradient, it does not add to it
    np.testing.assert_array_equal(layer.grads["b"], [1.0, 1.0])


@pytest.mark.parametrize("layer", [Linear(3, 2, rng=np.random.default_rng(0)), ReLU(), LeakyReLU(), Tanh(),
                                   Sigmoid()],
                         ids=lambda layer: type(layer).__name__)
def test_backward_before_forward_names_the_layer(layer):
    with raises(RuntimeError, f"{layer!r}.backward()", "forward"):
        layer.backward(np.ones((2, 2)))


@pytest.mark.parametrize("layer_class", ACTIVATIONS)
def test_activation_rejects_dy_of_another_dtype(layer_class):
    layer = layer_class()
    layer.forward(np.ones((2, 3), dtype=np.float32))
    with raises(TypeError, "dy", "float32", "float64"):
        layer.backward(np.ones((2, 3)))


@pytest.mark.parametrize("layer_class", ACTIVATIONS)
def test_activation_rejects_non_float_input(layer_class):
    with raises(TypeError, "forward", "NumPy array", "list"):
        layer_class().forward([[1.0]])
    with raises(TypeError, "forward", "floating-point", "int64"):
        layer_class().forward(np.ones((2, 2), dtype=np.int64))


@pytest.mark.parametrize("layer_class", [Linear] + ACTIVATIONS)
def test_changing_arrays_after_forward_cannot_corrupt_backward(layer_class):
    """A layer's cache is its own: the caller may change its input or the returned output."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4))
    dy = rng.standard_normal((3, 4))
    layer = Linear(4, 4, rng=rng) if layer_class is Linear else layer_class()
    twin = Linear(4, 4, rng=np.random.default_rng(0)) if layer_class is Linear else layer_class()
    if layer_class is Linear:
        twin.params["W"][...] = layer.params["W"]
    twin.forward(x.copy())
    expected = twin.backward(dy)
    y = layer.forward(x)
    x *= 3.0
    if layer_class in (Tanh, Sigmoid):
        with pytest.raises(ValueError, match="read-only"):
            y *= -2.0                       # their output is what they keep: read-only
        y.copy()[...] = 0.0                 # the documented way to edit it
    else:
        y *= -2.0                           # the others keep no output: the caller owns it
    np.testing.assert_array_equal(layer.backward(dy), expected)
    for key in layer.grads:
        np.testing.assert_array_equal(layer.grads[key], twin.grads[key])


@pytest.mark.parametrize("layer_class", ACTIVATIONS)
def test_activation_rejects_dy_of_the_wrong_shape(layer_class):
    layer = layer_class()
    layer.forward(np.ones((2, 3)))
    with raises(ValueError, "dy", "(2, 3)", "(3, 2)"):
        layer.backward(np.ones((3, 2)))


def test_linear_rejects_dy_of_the_wrong_shape_or_dtype():
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    layer.forward(np.ones((4, 3)))
    with raises(ValueError, "dy", "(4, 2)", "(4, 3)"):
        layer.backward(np.ones((4, 3)))
    with raises(TypeError, "dy", "float64", "float32"):
        layer.backward(np.ones((4, 2), dtype=np.float32))


@pytest.mark.parametrize("layer_class", [Linear] + ACTIVATIONS)
def test_forward_and_backward_never_modify_the_callers_arrays(layer_class):
    rng = np.random.default_rng(1)
    layer = Linear(4, 4, rng=rng) if layer_class is Linear else layer_class()
    x = rng.standard_normal((5, 4))
    dy = rng.standard_normal((5, 4))
    x_before, dy_before = x.copy(), dy.copy()
    x.flags.writeable = False               # any in-place write would raise
    dy.flags.writeable = False
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dy, dy_before)


@pytest.mark.parametrize("layer_class", [Linear] + ACTIVATIONS)
def test_float32_in_float32_out(layer_class):
    rng = np.random.default_rng(2)
    layer = Linear(3, 4, rng=rng, dtype=np.float32) if layer_class is Linear else layer_class()
    x = rng.standard_normal((5, 3)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    for grad in layer.grads.values():
        assert grad.dtype == np.float32


# Initialisation ---------------------------------------------------------------------------

@pytest.mark.parametrize("init, expected_std", [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(2 / 600)),
                                                 (0.01, 0.01)])
def test_init_standard_deviation(init, expected_std):
    layer = Linear(400, 200, rng=np.random.default_rng(3), init=init)
    # 80 000 draws: the sample std is within 1 % of the target with overwhelming probability
    assert abs(layer.params["W"].std() / expected_std - 1) < 0.01
    assert not layer.params["b"].any()


def test_same_generator_state_gives_same_weights_and_global_state_is_untouched():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = Linear(3, 4, rng=np.random.default_rng(7))
    b = Linear(3, 4, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.params["W"], b.params["W"])
    Linear(3, 4)                            # rng=None: fresh entropy, still not the global state
    np.testing.assert_array_equal(np.random.get_state()[1], before)


def test_repr_shows_the_constructor_arguments():
    assert repr(Linear(2, 1000, rng=np.random.default_rng(0))) == \
        "Linear(in_features=2, out_features=1000, dtype=float64)"
    assert repr(Linear(2, 3, rng=np.random.default_rng(0), dtype=np.float32)) == \
        "Linear(in_features=2, out_features=3, dtype=float32)"
    assert repr(LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(ReLU()) == "ReLU()"


def test_layer_is_callable_like_pytorch():
    layer = small_linear()
    x = np.ones((1, 2))
    np.testing.assert_array_equal(layer(x), layer.forward(x))


# Bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, words", [
    (dict(in_features=0, out_features=2), ValueError, ("in_features", "positive int", "0")),
    (dict(in_features=2, out_features=-1), ValueError, ("out_features", "positive int", "-1")),
    (dict(in_features=2.0, out_features=2), TypeError, ("in_features", "positive int", "2.0")),
    (dict(in_features=True, out_features=2), TypeError, ("in_features", "positive int", "True")),
    (dict(in_features=2, out_features=2, init="kaiming"), ValueError,
     ("init", "'kaiming'", "'he'", "'xavier'")),
    (dict(in_features=2, out_features=2, init=-0.1), ValueError, ("init", "-0.1")),
    (dict(in_features=2, out_features=2, init=float("nan")), ValueError, ("init", "nan")),
    (dict(in_features=2, out_features=2, dtype=np.int32), TypeError, ("dtype", "floating", "int32")),
    (dict(in_features=2, out_features=2, rng="0"), TypeError,
     ("rng", "np.random.Generator", "int seed", "'0'")),
    (dict(in_features=2, out_features=2, rng=-1), ValueError, ("rng", "int seed >= 0", "-1")),
])
def test_linear_constructor_errors(kwargs, error, words):
    with raises(error, *words):
        Linear(**kwargs)


def test_linear_forward_errors_name_the_layer_and_the_expectation():
    layer = Linear(2, 3, rng=np.random.default_rng(0))
    with raises(ValueError, "Linear(in_features=2, ", "[N x 2]", "(5, 3)"):
        layer.forward(np.ones((5, 3)))
    with raises(ValueError, "[N x 2]", "(2,)"):
        layer.forward(np.ones(2))
    with raises(TypeError, "float64 weights", "float32 input", "x.astype(np.float64)"):
        layer.forward(np.ones((5, 2), dtype=np.float32))
    with raises(TypeError, "floating-point", "int64"):
        layer.forward(np.ones((5, 2), dtype=np.int64))
    with raises(TypeError, "NumPy array", "list"):
        layer.forward([[1.0, 2.0]])


@pytest.mark.parametrize("slope, error, words", [
    (float("inf"), ValueError, ("negative_slope", "inf")),
    (float("nan"), ValueError, ("negative_slope", "nan")),
    ("0.1", TypeError, ("negative_slope", "real number", "'0.1'")),
])
def test_leaky_relu_constructor_errors(slope, error, words):
    with raises(error, *words):
        LeakyReLU(slope)


# A removed argument says what to write instead -------------------------------------------

@pytest.mark.parametrize("inplace", [True, False])
def test_the_removed_inplace_argument_is_a_type_error_that_says_what_to_write(inplace):
    with raises(TypeError, f"ReLU(inplace={inplace})", "always returns a new array", "write ReLU()"):
        ReLU(inplace=inplace)
    with raises(TypeError, f"LeakyReLU(inplace={inplace})", "write LeakyReLU(negative_slope=0.1)"):
        LeakyReLU(0.1, inplace=inplace)


@pytest.mark.parametrize("layer_class", ACTIVATIONS)
def test_a_returned_value_is_never_overwritten_by_a_later_call(layer_class):
    rng = np.random.default_rng(6)
    layer = layer_class()
    x1, dy1 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y1 = layer.forward(x1)
    dx1 = layer.backward(dy1)
    y1_before, dx1_before = y1.copy(), dx1.copy()
    layer.forward(rng.standard_normal((3, 4)))
    layer.backward(rng.standard_normal((3, 4)))
    np.testing.assert_array_equal(y1, y1_before)
    np.testing.assert_array_equal(dx1, dx1_before)


def test_rng_is_one_rule_everywhere_an_int_seed_or_a_generator():
    """Linear, make_spiral, minibatches and fit take the same ``rng``: an int seed gives the same draws
    as ``np.random.default_rng(seed)``."""
    from_seed = Linear(3, 4, rng=7).params["W"]
    from_generator = Linear(3, 4, rng=np.random.default_rng(7)).params["W"]
    np.testing.assert_array_equal(from_seed, from_generator)
