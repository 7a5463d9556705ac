"""PyTorch as an independent reference: the same network, loss and optimizers, in float64.

Optional: the whole module is skipped when torch is not installed. Torch's global state (default
dtype, random generator) is left untouched: tensors get an explicit dtype and are made from NumPy
arrays, and torch layers are built with ``skip_init`` and then given our weights.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch parity tests need torch")

from data import make_spiral  # noqa: E402
from layers import LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh  # noqa: E402
from models import Sequential  # noqa: E402
from optim import SGD, Adam  # noqa: E402
from tests.helpers import in_our_layout, mixed_stack  # noqa: E402

F = torch.nn.functional


pytestmark = pytest.mark.usefixtures("torch_global_state_unchanged")     # tests/conftest.py


def tensor(a: np.ndarray) -> "torch.Tensor":
    """A float64 torch copy of a NumPy array."""
    return torch.tensor(a, dtype=torch.float64)


def to_torch(model: Sequential) -> "torch.nn.Sequential":
    """The torch network computing the same function: weight = our Wᵀ, bias = our b, copied exactly."""
    modules = []
    for layer in model:
        if isinstance(layer, Linear):
            # skip_init: no random initialisation, so torch's global generator is not advanced
            linear = torch.nn.utils.skip_init(
                torch.nn.Linear, layer.in_features, layer.out_features, dtype=torch.float64
            )
            with torch.no_grad():
                linear.weight.copy_(tensor(layer.params["W"].T))
                linear.bias.copy_(tensor(layer.params["b"]))
            modules.append(linear)
        elif isinstance(layer, LeakyReLU):
            modules.append(torch.nn.LeakyReLU(layer.negative_slope))
        elif isinstance(layer, ReLU):
            modules.append(torch.nn.ReLU())
        elif isinstance(layer, Tanh):
            modules.append(torch.nn.Tanh())
        elif isinstance(layer, Sigmoid):
            modules.append(torch.nn.Sigmoid())
        else:
            raise TypeError(f"no torch counterpart for {layer!r}")
    return torch.nn.Sequential(*modules)


@pytest.mark.parametrize("n, seed", [(1, 0), (7, 1), (64, 2)])
def test_mixed_stack_loss_dx_and_every_parameter_gradient_match_torch(n, seed):
    """Forward scores, loss, ∂L/∂X and each ∂L/∂W, ∂L/∂b agree with torch autograd to ~1e-15."""
    rng = np.random.default_rng(seed)
    model = mixed_stack(rng)
    X = rng.standard_normal((n, 3))
    y = rng.integers(0, 4, size=n)
    loss_fn = SoftmaxCrossEntropy()

    scores = model.forward(X)
    loss = loss_fn.forward(scores, y)
    dX = model.backward(loss_fn.backward())

    torch_model = to_torch(model)
    X_t = tensor(X).requires_grad_()
    scores_t = torch_model(X_t)
    loss_t = F.cross_entropy(scores_t, torch.from_numpy(y), reduction="mean")
    loss_t.backward()

    tight = dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(scores, scores_t.detach().numpy(), **tight)
    np.testing.assert_allclose(loss, loss_t.item(), **tight)
    np.testing.assert_allclose(dX, X_t.grad.numpy(), **tight)
    ours, theirs = model.parameters(), list(torch_model.parameters())
    assert len(ours) == len(theirs) == 10
    for p, p_t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(p.grad, in_our_layout(p_t.grad), err_msg=p.name, **tight)


def test_softmax_cross_entropy_on_scores_of_1e4_matches_torch_and_stays_finite():
    """Scores of ±1e4 (ties, near-ties, opposite signs): same loss (~1e4) and same ∂L/∂S as torch."""
    rng = np.random.default_rng(3)
    scores = np.array([
        [1e4, 1e4, 1e4, 1e4, 1e4],                  # all tied at the top: P uniform
        [1e4, -1e4, 0.0, 1e4 - 0.5, -1e4],          # two near the top, label on neither
        [-1e4, -1e4, -1e4 + 1.0, -1e4, -1e4 + 2.0], # all very negative
        [1e4, -1e4, 1e4, -1e4, 1e4 - 1e-3],
    ])
    scores = np.vstack([scores, 1e4 * rng.uniform(-1, 1, size=(4, 5))])
    y = np.array([3, 2, 4, 1, 0, 1, 2, 3])
    loss_fn = SoftmaxCrossEntropy()

    loss = loss_fn.forward(scores, y)
    dS = loss_fn.backward()

    S_t = tensor(scores).requires_grad_()
    loss_t = F.cross_entropy(S_t, torch.from_numpy(y))
    loss_t.backward()

    assert np.isfinite(loss) and np.isfinite(dS).all()
    assert loss > 1e3                               # the mislabelled rows cost ~1e4 each
    np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-14)
    np.testing.assert_allclose(dS, S_t.grad.numpy(), rtol=1e-12, atol=1e-16)


OPTIMIZERS = {
    "sgd-momentum": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
    "sgd-nesterov": (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True)),
    "adam": (Adam, torch.optim.Adam, dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3)),
    "adam-defaults": (Adam, torch.optim.Adam, dict(lr=1e-3)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_25_full_batch_steps_follow_torch_trajectory(name):
    """Each framework computes its own gradients; loss and every parameter agree after every step."""
    ours_cls, torch_cls, hyper = OPTIMIZERS[name]
    X, y = make_spiral(n_per_class=20, n_classes=3, noise=0.2, rng=0)
    rng = np.random.default_rng(4)
    model = Sequential(Linear(2, 16, rng=rng, init="xavier"), Tanh(), Linear(16, 3, rng=rng, init="xavier"))
    torch_model = to_torch(model)
    optimizer = ours_cls(model.parameters(), **hyper)
    torch_optimizer = torch_cls(torch_model.parameters(), **hyper)
    loss_fn = SoftmaxCrossEntropy()
    X_t, y_t = tensor(X), torch.from_numpy(y)

    losses = []
    for step in range(25):
        loss = loss_fn.forward(model.forward(X), y)
        model.backward(loss_fn.backward())
        optimizer.step()

        torch_optimizer.zero_grad()
        loss_t = F.cross_entropy(torch_model(X_t), y_t)
        loss_t.backward()
        torch_optimizer.step()

        np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-12, err_msg=f"loss at step {step}")
        for p, p_t in zip(model.parameters(), torch_model.parameters(), strict=True):
            np.testing.assert_allclose(p.value, in_our_layout(p_t), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{p.name} after step {step + 1}")
        losses.append(loss)
    assert losses[-1] < losses[0]                   # the runs really train, so the check is not vacuous
