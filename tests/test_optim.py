"""Optimizers: hand-computed steps, validation of every hyperparameter, and their saved state."""

import math

import numpy as np
import pytest

from layers import Layer, Linear, Parameter, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD, Adam
from tests.helpers import raises


class Bias(Layer):
    """A parameter-only layer, so that tests can set θ and ∂L/∂θ directly."""

    def __init__(self, values, dtype=np.float64):
        super().__init__()
        self.params["b"] = np.array(values, dtype=dtype)
        self.grads["b"] = None


def param_with_grad(theta, grad, dtype=np.float64):
    layer = Bias(theta, dtype)
    layer.grads["b"] = np.array(grad, dtype=dtype)
    return layer


# Hand-computed steps ----------------------------------------------------------------------

def test_plain_sgd_is_the_loops_update():
    layer = param_with_grad([1.0, -2.0], [0.5, 0.25])
    SGD(layer.parameters(), lr=0.1).step()
    # θ − η g = [1 − 0.05, −2 − 0.025]
    np.testing.assert_array_equal(layer.params["b"], [1.0 - 0.1 * 0.5, -2.0 - 0.1 * 0.25])


def test_sgd_weight_decay_adds_lambda_theta_to_the_gradient():
    layer = param_with_grad([2.0], [1.0])
    SGD(layer.parameters(), lr=0.5, weight_decay=0.1).step()
    # g = 1 + 0.1·2 = 1.2; θ = 2 − 0.5·1.2 = 1.4
    np.testing.assert_allclose(layer.params["b"], [1.4], rtol=1e-15)


def test_sgd_momentum_by_hand():
    layer = param_with_grad([0.0], [1.0])
    opt = SGD(layer.parameters(), lr=1.0, momentum=0.9)
    opt.step()                               # v = 1, θ = −1
    opt.step()                               # v = 0.9 + 1 = 1.9, θ = −2.9
    np.testing.assert_allclose(layer.params["b"], [-2.9], rtol=1e-15)
    np.testing.assert_allclose(opt.buffers["momentum_buffer"][0], [1.9], rtol=1e-15)


def test_sgd_nesterov_by_hand():
    layer = param_with_grad([0.0], [1.0])
    opt = SGD(layer.parameters(), lr=1.0, momentum=0.5, nesterov=True)
    opt.step()                               # v = 1, g = 1 + 0.5·1 = 1.5, θ = −1.5
    opt.step()                               # v = 0.5 + 1 = 1.5, g = 1 + 0.75 = 1.75, θ = −3.25
    np.testing.assert_allclose(layer.params["b"], [-3.25], rtol=1e-15)


def test_adam_first_step_moves_each_entry_by_about_lr():
    layer = param_with_grad([1.0, 1.0, 1.0], [3.0, -0.001, 0.0])
    Adam(layer.parameters(), lr=0.01).step()
    # t = 1: m̂ = g, v̂ = g², so θ − η g / (|g| + ε): a step of η·sign(g), and none where g = 0
    expected = [1.0 - 0.01 * 3.0 / (3.0 + 1e-8), 1.0 + 0.01 * 0.001 / (0.001 + 1e-8), 1.0]
    np.testing.assert_allclose(layer.params["b"], expected, rtol=1e-15)


def test_adam_second_step_by_hand():
    layer = param_with_grad([0.0], [1.0])
    opt = Adam(layer.parameters(), lr=0.1, betas=(0.5, 0.75), eps=1e-300)     # ε far below an ulp of √v̂
    opt.step()
    layer.grads["b"] = np.array([3.0])
    opt.step()
    # t=1: m = 0.5, v = 0.25, m̂ = 1, v̂ = 1, θ = −0.1
    # t=2: m = 0.25 + 1.5 = 1.75, v = 0.1875 + 2.25 = 2.4375, m̂ = 1.75/0.75, v̂ = 2.4375/0.4375
    expected = -0.1 - 0.1 * (1.75 / 0.75) / math.sqrt(2.4375 / 0.4375)
    np.testing.assert_allclose(layer.params["b"], [expected], rtol=1e-14)
    assert opt.step_count == 2


@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    lambda p: Adam(p, lr=0.1, weight_decay=0.01),
])
def test_updates_are_in_place_and_keep_float32(make):
    layer = param_with_grad([1.0, 2.0], [0.5, 0.5], dtype=np.float32)
    array = layer.params["b"]
    opt = make(layer.parameters())
    opt.step()
    opt.step()
    assert layer.params["b"] is array
    assert array.dtype == np.float32
    assert all(buffer[0].dtype == np.float32 for buffer in opt.buffers.values())
    assert (array < [1.0, 2.0]).all()


# Misuse -----------------------------------------------------------------------------------

def test_step_before_backward_names_the_parameter():
    layer = Linear(2, 2, rng=np.random.default_rng(0))
    with raises(RuntimeError, "'W'", "no gradient", "backward()", "optimizer.step()"):
        SGD(layer.parameters(), lr=0.1).step()


def test_a_failed_step_changes_no_parameter():
    layer = Linear(2, 2, rng=np.random.default_rng(0))
    layer.grads["W"] = np.ones((2, 2))        # b still has no gradient
    before = layer.params["W"].copy()
    with pytest.raises(RuntimeError):
        SGD(layer.parameters(), lr=0.1).step()
    np.testing.assert_array_equal(layer.params["W"], before)


def test_a_gradient_of_the_wrong_shape_is_rejected():
    layer = param_with_grad([1.0, 2.0], [[1.0, 2.0]])
    with raises(ValueError, "gradient of 'b'", "(1, 2)", "(2,)"):
        SGD(layer.parameters(), lr=0.1).step()


@pytest.mark.parametrize("params, error, words", [
    (Linear(2, 2, rng=np.random.default_rng(0)), TypeError, ("SGD", "model.parameters()", "Linear")),
    (Sequential(ReLU()), TypeError, ("SGD", "model.parameters()", "Sequential")),
    ([], ValueError, ("SGD", "empty parameter list")),
    ([np.zeros(2)], TypeError, ("SGD", "model.parameters()", "array([0., 0.])")),
    (Sequential(Linear(2, 2, rng=0)).parameters() + [1.0], TypeError, ("SGD", "Parameters", "1.0")),
    ([Parameter("w", {"w": np.arange(3)}, {}, "w")], TypeError, ("floating-point", "dtype=int64")),
])
def test_bad_parameter_lists(params, error, words):
    with raises(error, *words):
        SGD(params, lr=0.1)


def test_the_same_parameter_twice_is_rejected():
    params = Bias([1.0]).parameters()
    with raises(ValueError, "Adam", "'b' twice"):
        Adam(params + params)


NAN = float("nan")


@pytest.mark.parametrize("kwargs, words", [
    (dict(lr=-0.1), ("learning rate", "-0.1")),
    (dict(lr=NAN), ("learning rate", "nan")),
    (dict(lr=float("inf")), ("learning rate", "inf")),
    (dict(lr=10**400), ("learning rate", "1000000", "finite")),
    (dict(lr=0.1, momentum=-0.5), ("momentum", "-0.5")),
    (dict(lr=0.1, momentum=NAN), ("momentum", "nan")),
    (dict(lr=0.1, momentum=1.0), ("momentum: 1.0", "0 <= momentum < 1", "velocity never decays")),
    (dict(lr=0.1, weight_decay=-1e-3), ("weight_decay", "-0.001")),
    (dict(lr=0.1, weight_decay=NAN), ("weight_decay", "nan")),
    (dict(lr=0.1, nesterov=True), ("Nesterov", "momentum > 0", "momentum=0")),
])
def test_sgd_hyperparameters_are_validated(kwargs, words):
    with raises(ValueError, *words):
        SGD(Bias([1.0]).parameters(), **kwargs)


@pytest.mark.parametrize("kwargs, words", [
    (dict(lr=NAN), ("learning rate", "nan")),
    (dict(lr=-1e-3), ("learning rate", "-0.001")),
    (dict(eps=NAN), ("epsilon", "nan")),
    (dict(betas=(1.0, 0.999)), ("beta1: 1.0", "0 <= beta1 < 1")),
    (dict(betas=(0.9, NAN)), ("beta2", "nan")),
    (dict(betas=(0.9, -0.1)), ("beta2", "-0.1")),
    (dict(eps=-1e-8), ("epsilon", "-1e-08")),
    (dict(eps=0.0), ("epsilon", "0.0", "> 0", "0/0 = nan")),
    (dict(weight_decay=NAN), ("weight_decay", "nan")),
])
def test_adam_hyperparameters_are_validated(kwargs, words):
    with raises(ValueError, *words):
        Adam(Bias([1.0]).parameters(), **kwargs)


@pytest.mark.parametrize("make, error, words", [
    (lambda p: SGD(p, lr="0.1"), TypeError, ("learning rate", "'0.1'", "real number")),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=1), TypeError, ("nesterov", "True or False", "1")),
    (lambda p: Adam(p, betas=0.9), TypeError, ("betas", "0.9", "pair")),
])
def test_hyperparameters_of_the_wrong_type(make, error, words):
    with raises(error, *words):
        make(Bias([1.0]).parameters())


def test_repr_shows_the_hyperparameters():
    params = Bias([1.0]).parameters()
    assert repr(SGD(params, lr=1.0)) == "SGD(lr=1.0, momentum=0.0, weight_decay=0.0, nesterov=False)"
    assert repr(Adam(params)) == "Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0)"


# Saved state ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda p: SGD(p, lr=0.1, momentum=0.9),
    lambda p: Adam(p, lr=0.1),
])
def test_state_dict_round_trip_continues_identically(make):
    def run(layer, opt, steps):
        for k in range(steps):
            layer.grads["b"] = np.array([np.sin(k), np.cos(k)])
            opt.step()

    straight = Bias([1.0, 2.0])
    opt = make(straight.parameters())
    run(straight, opt, 5)
    state, weights = opt.state_dict(), straight.params["b"].copy()
    run(straight, opt, 3)

    resumed = Bias(weights)
    opt2 = make(resumed.parameters())
    opt2.load_state_dict(state)
    run(resumed, opt2, 3)
    np.testing.assert_array_equal(resumed.params["b"], straight.params["b"])


def test_load_state_dict_is_strict():
    opt = Adam(Bias([1.0, 2.0]).parameters())
    state = opt.state_dict()
    assert sorted(state) == ["exp_avg/b", "exp_avg_sq/b", "step"]
    bad = dict(state, **{"exp_avg/b": np.zeros(3), "extra": np.zeros(1)})
    del bad["exp_avg_sq/b"]
    with raises(ValueError, "Adam state", "missing exp_avg_sq/b", "unexpected extra",
                "exp_avg/b has shape (3,), expected (2,)"):
        opt.load_state_dict(bad)
    with raises(ValueError, "step", "negative"):
        opt.load_state_dict(dict(state, step=np.array(-1)))
    with raises(ValueError, "step holds 18446744073709551615", "too large for int64") as caught:
        opt.load_state_dict(dict(state, step=np.array(2**64 - 1, dtype=np.uint64)))    # not read as -1
    assert "negative" not in str(caught.value)


@pytest.mark.parametrize("change, words", [
    ({"exp_avg/b": np.array(["a", "b"])}, ("exp_avg/b", "<U1", "real numbers")),
    ({"exp_avg_sq/b": np.array([1.0, -1.0])}, ("exp_avg_sq/b", "negative")),
    ({"exp_avg/b": np.array([np.nan, 0.0])}, ("exp_avg/b", "NaN or infinity")),
    ({"step": np.array([1, 2])}, ("step", "(2,)", "()")),
    ({"step": np.array(2.5)}, ("step", "float64", "whole numbers")),
])
def test_a_rejected_state_changes_nothing(change, words):
    layer = param_with_grad([1.0, 2.0], [0.5, -0.5])
    opt = Adam(layer.parameters())
    opt.step()
    before = opt.state_dict()
    bad = dict(before, step=np.array(5), **{"exp_avg/b": np.full(2, 7.0)})
    bad.update(change)
    with raises(ValueError, *words):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert all(np.array_equal(after[name], before[name]) for name in before)


def test_load_state_dict_needs_a_dict():
    with raises(TypeError, "load_state_dict", "dict of arrays", "list"):
        SGD(Bias([1.0]).parameters(), lr=0.1).load_state_dict([])


def test_an_optimizer_keeps_the_parameters_it_was_given_as_in_pytorch():
    """After swapping a layer, the old optimizer still updates the removed one: make a new optimizer."""
    from models import Sequential
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 2, rng=rng))
    opt = SGD(model.parameters(), lr=0.1)
    old = model[0]
    model[0] = Linear(2, 2, rng=rng)
    new_weights = model[0].params["W"].copy()
    for layer in (old, model[0]):
        layer.forward(np.ones((1, 2)))
        layer.backward(np.ones((1, 2)))
    opt.step()
    np.testing.assert_array_equal(model[0].params["W"], new_weights)        # the new layer did not move
    SGD(model.parameters(), lr=0.1).step()
    assert not np.array_equal(model[0].params["W"], new_weights)           # a new optimizer moves it


@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1)],
                         ids=["SGD", "Adam"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_gradient_is_refused_and_nothing_changes(make, bad):
    model = Sequential(Linear(2, 3, rng=np.random.default_rng(0)), ReLU(),
                       Linear(3, 2, rng=np.random.default_rng(1)))
    optimizer = make(model.parameters())
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(np.ones((4, 2))), np.array([0, 1, 0, 1]))
    model.backward(loss_fn.backward())
    optimizer.step()                        # a good step first, so the buffers hold something
    loss_fn.forward(model.forward(np.ones((4, 2))), np.array([0, 1, 0, 1]))
    model.backward(loss_fn.backward())
    model[2].grads["W"][1, 0] = bad          # the last parameter: every other one was checked before it
    weights, state = model.state_dict(), optimizer.state_dict()
    with raises(ValueError, "gradient of '2.W'", f"is {bad} at index (1, 0)", "no parameter was updated"):
        optimizer.step()
    for name, value in model.state_dict().items():
        assert value.tobytes() == weights[name].tobytes(), name          # bit for bit
    for name, value in optimizer.state_dict().items():
        assert np.asarray(value).tobytes() == np.asarray(state[name]).tobytes(), name
