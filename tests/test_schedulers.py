"""Learning-rate schedulers: PyTorch's values step for step, exact resumes, and their checks."""

import math

import numpy as np
import pytest

from data import make_spiral
from layers import Layer, Linear, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD, Adam, CosineAnnealingLR, StepLR
from tests.helpers import raises
from training import TrainingState, fit


class Bias(Layer):
    """A parameter-only layer, so that tests can set ∂L/∂θ directly."""

    def __init__(self, values):
        super().__init__()
        self.params["b"] = np.array(values, dtype=np.float64)
        self.grads["b"] = None


SETTINGS = [
    (StepLR, dict(step_size=3, gamma=0.5), 50),
    (StepLR, dict(step_size=3, gamma=0.1), 50),
    (CosineAnnealingLR, dict(T_max=10), 20),                   # 2·T_max: down to η_min and back up
    (CosineAnnealingLR, dict(T_max=10, eta_min=0.01), 20),
    (CosineAnnealingLR, dict(T_max=300), 600),
    (CosineAnnealingLR, dict(T_max=300, eta_min=0.01), 600),
]


def our_lrs(make, kwargs, steps, base_lr=0.1):
    optimizer = SGD(Bias([0.0]).parameters(), lr=base_lr)
    scheduler = make(optimizer, **kwargs)
    lrs = []
    for _ in range(steps + 1):
        lrs.append(optimizer.lr)
        assert scheduler.get_last_lr() == [optimizer.lr]
        scheduler.step()
    return lrs


@pytest.mark.parametrize("make, kwargs, steps", SETTINGS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_the_lrs_are_pytorchs(make, kwargs, steps):
    """PyTorch's cosine is recursive (η_t from η_{t−1}), ours closed form: equal to rounding. The largest
    relative difference of these settings is 3.7e-13, at step 599 of T_max=300, eta_min=0.01."""
    torch = pytest.importorskip("torch")
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = getattr(torch.optim.lr_scheduler, make.__name__)(optimizer, **kwargs)
    theirs = []
    for _ in range(steps + 1):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(our_lrs(make, kwargs, steps), theirs, rtol=1e-12, atol=0)


def test_hand_computed_values():
    # StepLR: 0.1 for t = 0, 1; 0.1·0.5 for t = 2, 3; 0.1·0.25 for t = 4
    assert our_lrs(StepLR, dict(step_size=2, gamma=0.5), 4) == [0.1, 0.1, 0.05, 0.05, 0.025]
    # cosine, T_max = 4: η₀·(1 + cos(π·t/4))/2 = η₀·[1, (2 + √2)/4, 1/2, (2 − √2)/4, 0, (2 − √2)/4]
    lrs = our_lrs(CosineAnnealingLR, dict(T_max=4), 5, base_lr=1.0)
    r = math.sqrt(2)
    expected = [1, (2 + r) / 4, 0.5, (2 - r) / 4, 0, (2 - r) / 4]
    np.testing.assert_allclose(lrs, expected, rtol=1e-15, atol=1e-16)
    assert lrs[4] == 0.0                                         # η_min at T_max exactly


@pytest.mark.parametrize("make, kwargs", [(StepLR, dict(step_size=3, gamma=0.1)),
                                          (CosineAnnealingLR, dict(T_max=20, eta_min=0.001))])
@pytest.mark.parametrize("optimizer", [SGD, Adam])
def test_a_resumed_schedule_gets_the_same_floats(make, kwargs, optimizer):
    def run(scheduler, steps):
        lrs = []
        for _ in range(steps):
            lrs.append(scheduler.optimizer.lr)
            scheduler.step()
        return lrs

    straight = make(optimizer(Bias([0.0]).parameters(), lr=0.3), **kwargs)
    expected = run(straight, 37)
    first = make(optimizer(Bias([0.0]).parameters(), lr=0.3), **kwargs)
    got = run(first, 13)
    resumed = make(optimizer(Bias([0.0]).parameters(), lr=5.0), **kwargs)       # lr and base_lr: loaded
    resumed.load_state_dict(first.state_dict())
    assert resumed.optimizer.lr == first.optimizer.lr and resumed.last_epoch == 13
    assert got + run(resumed, 24) == expected                  # == : bit for bit


def test_adam_steps_with_the_scheduled_lr():
    layer = Bias([1.0])
    optimizer = Adam(layer.parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    for lr in [0.1, 0.05, 0.025]:
        before = layer.params["b"].copy()
        layer.grads["b"] = np.array([2.0])                     # a constant gradient: m̂ = g, v̂ = g²
        optimizer.step()
        scheduler.step()
        np.testing.assert_allclose(before - layer.params["b"], [lr * 2.0 / (2.0 + 1e-8)], rtol=1e-14)
    assert scheduler.last_epoch == 3 and optimizer.lr == 0.0125


def test_with_fit_one_scheduler_step_per_update():
    X, y = make_spiral(10, 3, rng=0)
    model = Sequential(Linear(2, 3, rng=np.random.default_rng(0)))
    optimizer = SGD(model.parameters(), lr=0.5)
    scheduler = CosineAnnealingLR(optimizer, T_max=12)
    seen = []

    def on_step(state):
        seen.append(optimizer.lr)                              # the lr the step just made used
        scheduler.step()

    state = TrainingState(on_step=on_step)
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=12, state=state)
    assert scheduler.last_epoch == state.step == 12 and optimizer.lr == 0.0
    assert seen == [scheduler.lr_at(t) for t in range(12)]


# Misuse ------------------------------------------------------------------------------------

NAN = float("nan")


@pytest.mark.parametrize("make, error, words", [
    (lambda o: StepLR(o, step_size=0), ValueError, ("step_size", "positive int", "0")),
    (lambda o: StepLR(o, step_size=2.5), TypeError, ("step_size", "int", "2.5")),
    (lambda o: StepLR(o, step_size=3, gamma=NAN), ValueError, ("gamma", "nan")),
    (lambda o: StepLR(o, step_size=3, gamma=-0.5), ValueError, ("gamma", "-0.5", ">= 0")),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, ("T_max", "positive int", "0")),
    (lambda o: CosineAnnealingLR(o, T_max=10.0), TypeError, ("T_max", "int", "10.0")),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=-1e-3), ValueError, ("eta_min", "-0.001")),
    (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=float("inf")), ValueError, ("eta_min", "inf")),
    (lambda o: StepLR(o.params, step_size=3), TypeError, ("StepLR", "optimizer", "`lr`", "list")),
])
def test_bad_arguments(make, error, words):
    optimizer = SGD(Bias([0.0]).parameters(), lr=0.1)
    with raises(error, *words):
        make(optimizer)
    assert optimizer.lr == 0.1                                   # a refused scheduler changed nothing


def test_load_state_dict_is_strict_and_changes_nothing_when_refused():
    optimizer = SGD(Bias([0.0]).parameters(), lr=0.1)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.5)
    scheduler.step()
    state = scheduler.state_dict()
    assert sorted(state) == ["base_lr", "last_epoch"]
    for bad, words in [
        ({"last_epoch": np.array(3)}, ("StepLR state", "missing base_lr")),
        (dict(state, extra=np.array(1)), ("unexpected extra",)),
        (dict(state, last_epoch=np.array(-1)), ("last_epoch", "negative")),
        (dict(state, last_epoch=np.array(2.5)), ("last_epoch", "float64", "whole numbers")),
        (dict(state, base_lr=np.array(NAN)), ("base_lr", "NaN or infinity")),
        (dict(state, base_lr=np.array([0.1, 0.2])), ("base_lr", "shape (2,)", "expected ()")),
    ]:
        with raises(ValueError, *words):
            scheduler.load_state_dict(bad)
    with raises(TypeError, "load_state_dict", "dict", "list"):
        scheduler.load_state_dict([])
    assert (scheduler.last_epoch, scheduler.base_lr, optimizer.lr) == (1, 0.1, 0.05)


def test_a_resumed_cosine_keeps_its_T_max():
    """train.py's cosine runs over the run's first --steps: a run resumed with more keeps that T_max."""
    first = CosineAnnealingLR(SGD(Bias([1.0]).parameters(), lr=0.1), T_max=30)
    for _ in range(12):
        first.step()
    resumed = CosineAnnealingLR(SGD(Bias([1.0]).parameters(), lr=0.1), T_max=60)
    resumed.load_state_dict(first.state_dict())
    assert resumed.T_max == 30 and resumed.optimizer.lr == first.optimizer.lr
