"""Dropout and BatchNorm1d against PyTorch, and through the bridge both ways, in float64.

Skipped when torch is not installed. Torch's global state (default dtype, random generator) is left
as it was found: nn.Dropout's masks are drawn inside ``torch.random.fork_rng``.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch")

from data import make_spiral  # noqa: E402
from layers import BatchNorm1d, Dropout, Linear, SoftmaxCrossEntropy, Tanh  # noqa: E402
from models import Sequential, from_torch, to_torch  # noqa: E402
from optim import SGD  # noqa: E402
from tests.helpers import raises  # noqa: E402
from training import fit  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_global_state_unchanged")     # tests/conftest.py


def tensor(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def test_batchnorm_matches_torch_over_5_train_steps_and_an_eval_pass():
    rng = np.random.default_rng(0)
    ours = BatchNorm1d(5, eps=1e-5, momentum=0.1)
    theirs = torch.nn.BatchNorm1d(5, eps=1e-5, momentum=0.1, dtype=torch.float64)
    for step in range(5):
        x = rng.standard_normal((12, 5)) * (step + 1) + step
        dy = rng.standard_normal((12, 5))
        y = ours.forward(x)
        dx = ours.backward(dy)
        x_t = tensor(x, grad=True)
        y_t = theirs(x_t)
        y_t.backward(tensor(dy))
        close = {"y": (y, y_t), "dx": (dx, x_t.grad), "gamma grad": (ours.grads["gamma"], theirs.weight.grad),
                 "beta grad": (ours.grads["beta"], theirs.bias.grad),
                 "running_mean": (ours.buffers["running_mean"], theirs.running_mean),
                 "running_var": (ours.buffers["running_var"], theirs.running_var)}
        for what, (a, b) in close.items():
            np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=1e-10,
                                       err_msg=f"step {step}: {what}")
        with torch.no_grad():           # one SGD step on both, so gamma and beta move
            ours.params["gamma"] -= 0.1 * ours.grads["gamma"]
            ours.params["beta"] -= 0.1 * ours.grads["beta"]
            theirs.weight -= 0.1 * theirs.weight.grad
            theirs.bias -= 0.1 * theirs.bias.grad
            theirs.weight.grad = theirs.bias.grad = None
    x = rng.standard_normal((3, 5))
    y_t = theirs.eval()(tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours.eval().forward(x), y_t, rtol=0, atol=1e-10)


def test_batchnorm_with_momentum_1_matches_torch():
    """PyTorch takes momentum in [0, 1]; with 1 the running statistics are the last batch's."""
    rng = np.random.default_rng(2)
    ours = BatchNorm1d(3, momentum=1.0)
    theirs = torch.nn.BatchNorm1d(3, momentum=1.0, dtype=torch.float64)
    for _ in range(2):
        x = rng.standard_normal((6, 3)) * 3 + 1
        ours.forward(x)
        theirs(tensor(x))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(ours.buffers[name], getattr(theirs, name).numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.buffers["running_var"], x.var(axis=0, ddof=1), rtol=1e-14)


def test_dropout_equals_torch_dropout_given_the_same_mask():
    x = np.random.default_rng(0).uniform(0.5, 2.0, (20, 6))           # no zeros: y != 0 shows the mask
    dy = np.random.default_rng(1).standard_normal((20, 6))
    x_t = tensor(x, grad=True)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        y_t = torch.nn.Dropout(0.3)(x_t)
    y_t.backward(tensor(dy))
    mask = y_t.detach().numpy() != 0

    class Draws:                        # stands in for the generator: draws that keep exactly torch's mask
        def random(self, shape):
            return np.where(mask, 0.99, 0.0)

    ours = Dropout(0.3)
    ours.rng = Draws()
    np.testing.assert_array_equal(ours.forward(x), y_t.detach().numpy())
    np.testing.assert_array_equal(ours.backward(dy), x_t.grad.numpy())


def trained_model():
    X, y = make_spiral(10, 3, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 6, rng=rng), BatchNorm1d(6), Tanh(), Dropout(0.2, rng=1),
                       Linear(6, 3, rng=rng))
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.3), X, y, steps=4)
    return model, X


def test_round_trip_with_both_layers_is_byte_equal_and_computes_the_same():
    model, X = trained_model()
    module = to_torch(model.eval())
    assert [type(m).__name__ for m in module] == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear"]
    assert not module.training and module[3].p == 0.2
    np.testing.assert_allclose(module(tensor(X)).detach().numpy(), model.forward(X), rtol=0, atol=1e-12)
    back = from_torch(module)
    assert repr(back) == repr(model) and not back.training
    ours, theirs = model.state_dict(), back.state_dict()
    assert list(theirs) == list(ours)
    for name in ours:
        assert (theirs[name].dtype, theirs[name].tobytes()) == (ours[name].dtype, ours[name].tobytes()), name


def test_from_torch_refuses_a_batchnorm_it_cannot_hold():
    for module in (torch.nn.BatchNorm1d(3, affine=False, track_running_stats=False),
                   torch.nn.BatchNorm1d(3, momentum=None),
                   torch.nn.BatchNorm1d(3, track_running_stats=False)):
        with raises(ValueError, "from_torch", "module (0)", "affine=True"):
            from_torch(torch.nn.Sequential(module))
