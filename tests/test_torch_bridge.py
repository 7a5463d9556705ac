"""to_torch and from_torch: the same network in both libraries, proven equal.

The first two tests run without torch (the project must import and explain itself without it);
the others need torch and skip cleanly when it is missing. Torch's global state (default dtype,
random generator) must be left as it was found: see the ``torch`` fixture.
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from layers import Layer, LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from models import Sequential, from_torch, to_torch
from tests import helpers
from tests.helpers import ROOT, assert_same_model, in_our_layout, raises

EXAMPLE = ROOT / "examples" / "continue_in_torch.py"


@pytest.fixture
def mixed_stack(torch):
    """The parity tests' model (ReLU, Tanh, Sigmoid and LeakyReLU between 5 Linears), with torch."""
    return helpers.mixed_stack


# Without torch ------------------------------------------------------------------------------

def test_importing_the_project_never_imports_torch():
    code = ("import sys, layers, models, optim, data, training; "
            "from models import to_torch, from_torch; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bridge, argument", [
    (to_torch, Sequential(Linear(2, 3, rng=np.random.default_rng(0)), ReLU())),
    (from_torch, object()),
])
def test_without_torch_the_bridge_says_how_to_install_it(monkeypatch, bridge, argument):
    monkeypatch.setitem(sys.modules, "torch", None)     # `import torch` fails, as without torch
    with raises(ModuleNotFoundError, bridge.__name__, "PyTorch", "pip install -e '.[torch]'") as caught:
        bridge(argument)
    assert isinstance(caught.value, ImportError) and caught.value.name == "torch"


def test_to_torch_refuses_what_it_cannot_carry_before_importing_torch(monkeypatch):
    """Unknown layers are found without torch: the message is about the model, not the install."""
    monkeypatch.setitem(sys.modules, "torch", None)

    class Scale(Layer):
        def forward(self, x):
            return x

    class MyReLU(ReLU):                 # a subclass may compute something else: not carried either
        pass

    rng = np.random.default_rng(0)
    with raises(TypeError, "to_torch", "layer 1 is Scale()", "Linear, ReLU, LeakyReLU, Tanh"):
        to_torch(Sequential(Linear(2, 3, rng=rng), Scale()))
    with raises(TypeError, "to_torch", "layer 0 is MyReLU()"):
        to_torch(Sequential(MyReLU()))
    with raises(TypeError, "to_torch", "models.Sequential", "list"):
        to_torch([Linear(2, 3, rng=rng)])
    if np.dtype(np.longdouble) not in (np.float16, np.float32, np.float64):   # float128 on x86 Linux
        longdouble = np.dtype(np.longdouble).name
        with raises(TypeError, "layer 0", f"PyTorch has no {longdouble}", "dtype=np.float64"):
            to_torch(Sequential(Linear(2, 3, rng=rng, dtype=np.longdouble)))


# With torch: exact copies -------------------------------------------------------------------

def test_round_trip_is_bit_identical(torch, mixed_stack):
    model = mixed_stack(np.random.default_rng(0))
    model.insert(1, ReLU())
    model.append(LeakyReLU(0.2))

    back = from_torch(to_torch(model))

    assert_same_model(back, model)


def test_export_shares_no_memory_either_way(torch):
    model = Sequential(Linear(2, 3, rng=np.random.default_rng(0)))
    torch_model = to_torch(model)
    with torch.no_grad():
        torch_model[0].weight.fill_(7.0)
    assert not (model[0].params["W"] == 7.0).any()
    back = from_torch(torch_model)
    with torch.no_grad():
        torch_model[0].bias.fill_(7.0)
    assert not (back[0].params["b"] == 7.0).any()


def test_torch_model_round_trip_keeps_weights_and_flags(torch):
    with torch.random.fork_rng():       # nn.Linear draws its weights from the global generator
        torch.manual_seed(0)
        torch_model = torch.nn.Sequential(
            torch.nn.Linear(2, 16), torch.nn.LeakyReLU(0.1),
            torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
        )
    again = to_torch(from_torch(torch_model))
    assert repr(again) == repr(torch_model)
    in_place = torch.nn.Sequential(torch.nn.ReLU(inplace=True), torch.nn.LeakyReLU(0.1, inplace=True))
    assert repr(from_torch(in_place)) == repr(Sequential(ReLU(), LeakyReLU(0.1)))   # torch's speed flag goes
    ours, theirs = torch_model.state_dict(), again.state_dict()
    assert list(ours) == list(theirs)
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype == torch.float32, name
        assert torch.equal(ours[name], theirs[name]), name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_both_ways(torch, dtype):
    rng = np.random.default_rng(1)
    model = Sequential(Linear(2, 4, rng=rng, dtype=dtype), Tanh(), Linear(4, 3, rng=rng, dtype=dtype))
    torch_dtype = torch.from_numpy(np.zeros(1, dtype)).dtype
    torch_model = to_torch(model)
    assert {p.dtype for p in torch_model.parameters()} == {torch_dtype}
    assert {a.dtype for a in from_torch(torch_model).state_dict().values()} == {np.dtype(dtype)}

    X = rng.standard_normal((5, 2)).astype(dtype)
    assert model.forward(X).dtype == dtype and torch_model(torch.from_numpy(X)).dtype == torch_dtype


# With torch: the same function, the same gradients --------------------------------------------

@pytest.mark.parametrize("n, seed", [(1, 0), (64, 1)])
def test_forward_and_every_gradient_match_torch_autograd(torch, mixed_stack, n, seed):
    """Ours (hand-written backward) against the exported model's autograd, in float64."""
    rng = np.random.default_rng(seed)
    model = mixed_stack(rng)
    X = rng.standard_normal((n, 3))
    y = rng.integers(0, 4, size=n)
    loss_fn = SoftmaxCrossEntropy()
    torch_model = to_torch(model)

    scores = model.forward(X)
    loss = loss_fn.forward(scores, y)
    dX = model.backward(loss_fn.backward())

    X_t = torch.from_numpy(X).requires_grad_()
    scores_t = torch_model(X_t)
    loss_t = torch.nn.CrossEntropyLoss()(scores_t, torch.from_numpy(y))
    loss_t.backward()

    assert np.max(np.abs(scores - scores_t.detach().numpy())) <= 1e-12
    assert abs(loss - loss_t.item()) <= 1e-12
    assert np.max(np.abs(dX - X_t.grad.numpy())) <= 1e-10
    for p, p_t in zip(model.parameters(), torch_model.parameters(), strict=True):
        assert np.max(np.abs(p.grad - in_our_layout(p_t.grad))) <= 1e-10, p.name


def test_a_model_built_in_torch_imports_and_computes_the_same(torch):
    with torch.random.fork_rng():
        torch.manual_seed(1)
        torch_model = torch.nn.Sequential(
            torch.nn.Linear(3, 10), torch.nn.Sigmoid(), torch.nn.Linear(10, 10), torch.nn.Tanh(),
            torch.nn.Linear(10, 4),
        ).double()
    model = from_torch(torch_model)
    X = np.random.default_rng(2).standard_normal((20, 3))

    assert len(model) == 5 and type(model[1]) is Sigmoid and type(model[3]) is Tanh
    np.testing.assert_array_equal(model[0].params["W"], torch_model[0].weight.detach().numpy().T)
    scores_t = torch_model(torch.from_numpy(X)).detach().numpy()
    assert np.max(np.abs(model.forward(X) - scores_t)) <= 1e-12


# With torch: what from_torch refuses ----------------------------------------------------------

KNOWN = "torch.nn.Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout and BatchNorm1d"   # what it knows


def test_from_torch_names_an_unsupported_module_and_its_position(torch):
    nn = torch.nn
    with torch.random.fork_rng():       # Linear and Conv2d draw weights from the global generator
        with_gelu = nn.Sequential(nn.Linear(2, 3), nn.GELU())
        conv = nn.Sequential(nn.Conv2d(1, 1, 3))
        nested = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 3)))
    with raises(TypeError, "from_torch", "module (1) is a torch.nn.GELU", KNOWN):
        from_torch(with_gelu)
    with raises(TypeError, "from_torch", "module (0) is a torch.nn.Conv2d", KNOWN):
        from_torch(conv)
    with raises(TypeError, "from_torch", "module (2) is a torch.nn.Sequential", KNOWN):
        from_torch(nested)


def test_from_torch_wants_a_torch_sequential(torch):
    with torch.random.fork_rng():
        linear = torch.nn.Linear(2, 3)
    with raises(TypeError, "from_torch", "torch.nn.Sequential", "got Linear"):
        from_torch(linear)
    with raises(TypeError, "from_torch", "torch.nn.Sequential", "got Sequential"):
        from_torch(Sequential(ReLU()))           # ours, not torch's


def test_from_torch_refuses_a_linear_without_bias(torch):
    with torch.random.fork_rng():
        no_bias = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False))
    with raises(ValueError, "from_torch", "module (0) is Linear(in_features=2, out_features=3, bias=False)",
                "bias=True"):
        from_torch(no_bias)


def test_from_torch_refuses_a_dtype_numpy_cannot_hold_or_mixed_dtypes(torch):
    with torch.random.fork_rng():
        bfloat16 = torch.nn.Sequential(torch.nn.Linear(2, 3).to(torch.bfloat16))
        mixed = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(2, 3).double())
    mixed[1].bias.data = mixed[1].bias.data.float()
    with raises(TypeError, "from_torch", "module (0) is Linear(in_features=2, out_features=3, bias=True)",
                "weight torch.bfloat16", "bias torch.bfloat16", "float16, float32 or float64", ".double()"):
        from_torch(bfloat16)
    with raises(TypeError, "module (1)", "weight torch.float64", "bias torch.float32"):
        from_torch(mixed)


# With torch: the example script ---------------------------------------------------------------

def test_the_example_continues_training_in_torch_on_the_same_loss_trace(torch):
    spec = importlib.util.spec_from_file_location("continue_in_torch", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)

    traces = example.continue_in_torch(steps_here=30, steps_after=15, hidden=16)

    assert len(traces.before) == 30 and len(traces.here) == len(traces.torch) == 15
    assert traces.here[-1] < traces.before[0]     # it trains, so the comparison is not vacuous
    assert np.max(np.abs(np.subtract(traces.here, traces.torch))) <= example.TOLERANCE
