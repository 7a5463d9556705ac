"""Standardize: y = (x − μ)/σ with μ and σ from the training data, and the same layer in PyTorch.

The contract every layer keeps (gradient check, dtypes, layouts, ...) is tested in test_conformance.py;
here: the numbers, from_data, the buffers, and the bridge both ways (skipped without torch).
"""

import numpy as np
import pytest

from layers import Linear, ReLU, SoftmaxCrossEntropy, Standardize
from models import Sequential, from_torch, to_torch
from optim import SGD
from tests.helpers import assert_same_model, raises

SCALES = np.array([0.1, 1.0, 10.0, 100.0, 1000.0])     # one feature on each scale


def scaled_data(rng, n=50):
    """Features on the scales 0.1 … 1000, shifted away from 0."""
    return (rng.standard_normal((n, len(SCALES))) + 3.0) * SCALES


# The numbers -------------------------------------------------------------------------------

def test_forward_and_backward_by_hand():
    layer = Standardize(2)
    layer.buffers["mean"][...] = [1.0, -2.0]
    layer.buffers["var"][...] = [4.0, 0.25]                     # σ = 2 and 0.5
    x = np.array([[3.0, -2.0], [1.0, -1.0], [-1.0, -3.0]])
    np.testing.assert_array_equal(layer.forward(x), [[1.0, 0.0], [0.0, 2.0], [-1.0, -2.0]])
    dy = np.array([[2.0, 1.0], [-4.0, 0.5], [1.0, -3.0]])
    np.testing.assert_array_equal(layer.backward(dy), [[1.0, 2.0], [-2.0, 1.0], [0.5, -6.0]])   # dy / σ


def test_a_new_layer_changes_nothing_and_the_modes_compute_the_same():
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer = Standardize(3)
    np.testing.assert_array_equal(layer.forward(x), x)
    assert not getattr(layer, "depends_on_mode", False)
    np.testing.assert_array_equal(layer.eval().forward(x), x)


def test_from_data_measures_the_mean_and_biased_variance():
    X = scaled_data(np.random.default_rng(1))
    layer = Standardize.from_data(X)
    np.testing.assert_array_equal(layer.buffers["mean"], X.mean(axis=0))
    np.testing.assert_array_equal(layer.buffers["var"], X.var(axis=0))
    y = layer.forward(X)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-12)
    assert repr(layer) == "Standardize(5, dtype=float64)"
    assert layer.config() == {"num_features": 5, "dtype": "float64"}


def test_a_constant_feature_maps_to_exactly_zero():
    X = np.column_stack([np.full(19, 0.1), np.arange(19.0), np.zeros(19)])
    assert X[:, 0].var() != 0                   # the rounding from_data must not trust: 0.1 - mean(0.1, ...)
    layer = Standardize.from_data(X)
    np.testing.assert_array_equal(layer.buffers["var"][[0, 2]], [1.0, 1.0])
    y = layer.forward(X)
    assert (y[:, [0, 2]] == 0).all()
    assert np.isfinite(y).all()


def test_from_data_keeps_the_dtype_of_the_data():
    X = scaled_data(np.random.default_rng(2)).astype(np.float32)
    layer = Standardize.from_data(X)
    assert layer.dtype == np.float32 and {b.dtype for b in layer.buffers.values()} == {np.dtype(np.float32)}
    assert layer.forward(X).dtype == np.float32


def test_the_buffers_are_saved_but_never_trained():
    rng = np.random.default_rng(3)
    X, y = scaled_data(rng, 20), rng.integers(0, 3, 20)
    model = Sequential(Standardize.from_data(X), Linear(5, 3, rng=rng))
    assert [p.name for p in model.parameters()] == ["1.W", "1.b"]
    assert list(model.state_dict())[:2] == ["0.mean", "0.var"]
    before = model.state_dict()
    loss_fn, optimizer = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1)
    loss_fn.forward(model.forward(X), y)
    model.backward(loss_fn.backward())
    optimizer.step()
    after = model.state_dict()
    for name in ("0.mean", "0.var"):
        np.testing.assert_array_equal(after[name], before[name])
    assert not np.array_equal(after["1.W"], before["1.W"])


def test_errors_name_the_culprit():
    with raises(ValueError, "num_features", "positive int", "0"):
        Standardize(0)
    with raises(TypeError, "dtype", "floating"):
        Standardize(3, dtype=np.int32)
    with raises(TypeError, "Standardize.from_data", "floating-point", "list"):
        Standardize.from_data([[1.0, 2.0]])
    with raises(TypeError, "Standardize.from_data", "int64"):
        Standardize.from_data(np.ones((3, 2), dtype=np.int64))
    with raises(ValueError, "Standardize.from_data", "[N x D]", "(3,)"):
        Standardize.from_data(np.ones(3))
    with raises(ValueError, "Standardize.from_data", "N >= 1", "(0, 2)"):
        Standardize.from_data(np.ones((0, 2)))
    with raises(ValueError, "Standardize(3", "[N x 3]", "(4, 2)"):
        Standardize(3).forward(np.ones((4, 2)))
    with raises(RuntimeError, "Standardize(3", "before forward()"):
        Standardize(3).backward(np.ones((4, 3)))


# PyTorch ---------------------------------------------------------------------------------------

def standardised_model(seed=4):
    rng = np.random.default_rng(seed)
    X = scaled_data(rng)
    model = Sequential(Standardize.from_data(X), Linear(5, 16, rng=rng), ReLU(), Linear(16, 3, rng=rng))
    return model, scaled_data(rng, 40)          # new points, so that x − μ is not the training data's


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
def test_to_torch_computes_the_same_scores_in_either_mode(torch, training):
    """In training mode too: the exported Standardize is a BatchNorm1d kept in eval mode, so that it
    standardises by the training data's μ and var, never by the batch's."""
    model, X = standardised_model()
    torch_model = to_torch(model.train(training))
    bn = torch_model[0]
    assert type(bn) is torch.nn.BatchNorm1d and bn.eps == 0.0 and not bn.affine and bn.track_running_stats
    assert (torch_model.training, torch_model[1].training, bn.training) == (training, training, False)
    np.testing.assert_array_equal(bn.running_mean.numpy(), model[0].buffers["mean"])
    np.testing.assert_array_equal(bn.running_var.numpy(), model[0].buffers["var"])

    scores = model.forward(X)
    scores_t = torch_model(torch.from_numpy(X)).detach().numpy()
    assert np.max(np.abs(scores - scores_t)) <= 1e-12 * np.max(np.abs(scores))
    np.testing.assert_array_equal(bn.running_mean.numpy(), model[0].buffers["mean"])    # not moved


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_bit_identical(torch, dtype):
    rng = np.random.default_rng(5)
    X = scaled_data(rng).astype(dtype)
    model = Sequential(Standardize.from_data(X), Linear(5, 3, rng=rng, dtype=dtype))
    back = from_torch(to_torch(model))
    assert_same_model(back, model)


def test_from_torch_takes_a_batchnorm_without_affine_as_its_eval_mode_function(torch):
    rng = np.random.default_rng(6)
    bn = torch.nn.BatchNorm1d(5, eps=1e-3, affine=False, dtype=torch.float64)
    bn.running_mean.copy_(torch.from_numpy(SCALES))
    bn.running_var.copy_(torch.from_numpy(SCALES ** 2))
    model = from_torch(torch.nn.Sequential(bn).eval())
    assert repr(model[0]) == "Standardize(5, dtype=float64)"
    np.testing.assert_array_equal(model[0].buffers["var"], SCALES ** 2 + 1e-3)     # the eps goes into var
    X = scaled_data(rng)
    y, y_t = model.forward(X), bn(torch.from_numpy(X)).detach().numpy()
    assert np.max(np.abs(y - y_t)) <= 1e-12 * np.max(np.abs(y))


def test_from_torch_still_refuses_other_batchnorms(torch):
    nn = torch.nn
    for module in (nn.BatchNorm1d(3, affine=False, track_running_stats=False),
                   nn.BatchNorm1d(3, track_running_stats=False), nn.BatchNorm1d(3, momentum=None)):
        with raises(ValueError, "from_torch", "module (0)", "affine=True"):
            from_torch(torch.nn.Sequential(module))
    odd = torch.nn.BatchNorm1d(3, affine=False).to(torch.bfloat16)
    with raises(TypeError, "module (0)", "running_mean torch.bfloat16", ".double()"):
        from_torch(torch.nn.Sequential(odd))
