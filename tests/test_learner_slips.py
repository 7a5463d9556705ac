"""The commonest slips of a learner, each met by a clear message: a layer class for a layer, a loss
inside the model, a mistyped flag, a run folder for --resume, --init 0, PyTorch's zero_grad; and
the seeded train/validation split that train.py uses."""

import numpy as np
import pytest

import train
from data import make_spiral, spawn_generators, train_val_split
from layers import Layer, Linear, ReLU, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD, Adam
from tests.helpers import SMALL, raises, two_layer
from training import settings

# Sequential: what is not a layer -----------------------------------------------------------

PLACES = {
    "built with": lambda bad: Sequential(Linear(2, 4), bad, Linear(4, 3)),
    "append": lambda bad: Sequential(Linear(2, 4)).append(bad),
    "insert": lambda bad: Sequential(Linear(2, 4), Linear(4, 3)).insert(1, bad),
    "model[i] =": lambda bad: two_layer().__setitem__(1, bad),
}


@pytest.mark.parametrize("place", PLACES)
def test_a_layer_class_instead_of_a_layer_says_add_the_parentheses(place):
    with raises(TypeError, "layer at position 1", "the class ReLU", "ReLU(...)", "not the class"):
        PLACES[place](ReLU)


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy, SoftmaxCrossEntropy()], ids=["class", "instance"])
def test_a_loss_inside_the_model_says_keep_it_outside(place, loss):
    with raises(TypeError, "position 1", "SoftmaxCrossEntropy", "keep it outside the model",
                "loss_fn.forward(model.forward(X), y)", "loss_fn = SoftmaxCrossEntropy()") as caught:
        PLACES[place](loss)
    assert "looks like a loss" in str(caught.value)           # the whole name, never cut short


def test_a_refused_layer_leaves_the_model_as_it_was():
    model = two_layer()
    layers = list(model)
    slips = (lambda: model.append(Tanh), lambda: model.insert(0, ReLU), lambda: model.__setitem__(2, Tanh))
    for slip in slips:
        with pytest.raises(TypeError):
            slip()
    assert list(model) == layers


def test_a_layer_without_its_dicts_is_told_to_call_super_init():
    class Forgetful(Layer):
        def __init__(self):                 # no super().__init__(): no params/grads dicts
            pass

        def forward(self, x):
            return x

        def backward(self, dy):
            return dy

    with raises(TypeError, "position 0", "type Forgetful", "params/grads dicts", "super().__init__()"):
        Sequential(Forgetful())


def test_a_list_of_layers_gets_the_unpacking_hint_and_classes_of_other_kinds_are_not_layers():
    with raises(TypeError, "Sequential(*layers)", "not a list"):
        Sequential([Linear(2, 4), ReLU()])
    with raises(TypeError, "position 0", "the class int", "expected a layer") as caught:
        Sequential(int)
    assert "pass int()" not in str(caught.value)        # only a layer class gets that hint


# data.train_val_split -----------------------------------------------------------------------

def test_the_split_takes_the_first_rows_of_a_permutation_and_keeps_each_part_in_order():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10) % 3
    X_train, y_train, X_val, y_val = train_val_split(X, y, 0.3, rng=np.random.default_rng(4))
    order = np.random.default_rng(4).permutation(10)
    val_rows, train_rows = np.sort(order[:3]), np.sort(order[3:])       # round(0.3 · 10) = 3
    np.testing.assert_array_equal(X_val, X[val_rows])
    np.testing.assert_array_equal(y_val, y[val_rows])
    np.testing.assert_array_equal(X_train, X[train_rows])
    np.testing.assert_array_equal(y_train, y[train_rows])
    assert sorted(np.concatenate([X_train[:, 0], X_val[:, 0]]).tolist()) == X[:, 0].tolist()


def test_the_same_seed_gives_the_same_split_and_a_generator_advances():
    X, y = make_spiral(20, 2, rng=0)
    first, again = train_val_split(X, y, 0.25, rng=7), train_val_split(X, y, 0.25, rng=7)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(7)
    first_val, second_val = train_val_split(X, y, 0.25, rng=rng)[2], train_val_split(X, y, 0.25, rng=rng)[2]
    assert not np.array_equal(first_val, second_val)


@pytest.mark.parametrize("fraction, error, words", [
    (0.0, ValueError, ("val_fraction", "0.0", "0 < val_fraction < 1")),
    (1.0, ValueError, ("val_fraction", "1.0", "0 < val_fraction < 1")),
    (float("nan"), ValueError, ("val_fraction", "nan")),
    ("0.2", TypeError, ("val_fraction", "'0.2'", "real number")),
    (0.1, ValueError, ("0.1 of 4 samples", "leaves 0 for validation and 4 for training", "at least one")),
    (0.9, ValueError, ("0.9 of 4 samples", "4 for validation and 0 for training", "at least one")),
])
def test_bad_fractions_are_refused(fraction, error, words):
    X, y = make_spiral(2, 2, rng=0)
    with raises(error, *words):
        train_val_split(X, y, fraction, rng=0)


def test_samples_and_labels_must_match():
    with raises(ValueError, "X has 5 samples", "y has 4", "same number"):
        train_val_split(np.zeros((5, 2)), np.zeros(4, dtype=np.int64), 0.2, rng=0)
    with raises(TypeError, "train_val_split", "NumPy arrays"):
        train_val_split([[0.0]] * 4, [0] * 4, 0.5, rng=0)


@pytest.mark.parametrize("val_fraction", [0.0, 0.25])
def test_build_data_is_bit_identical_to_the_split_it_replaced(val_fraction):
    config = dict(settings.DEFAULTS, points=30, classes=3, val_fraction=val_fraction, seed=3)
    data_rng, _, split_rng, _ = spawn_generators(3, 4)
    X, y = make_spiral(30, 3, 0.5, rng=data_rng)
    n_val = round(val_fraction * len(X))                  # what build_data computed before
    order = split_rng.permutation(len(X))
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    X_train, y_train, val = settings.build_data(config)
    assert X_train.tobytes() == X[train_rows].tobytes() and y_train.tobytes() == y[train_rows].tobytes()
    if n_val:
        assert val[0].tobytes() == X[val_rows].tobytes() and val[1].tobytes() == y[val_rows].tobytes()
    else:
        assert val is None


# train.py --------------------------------------------------------------------------------

def no_figure(*args, **kwargs):
    return None


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*args)``: (exit code, stdout, stderr) of ``train.main(args)`` in tmp_path, without figures."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "plot_curves", no_figure)
    monkeypatch.setattr(train.report, "plot_decision_boundary", no_figure)
    monkeypatch.setattr(train.report, "plot_hidden_units", no_figure)

    def call(*args):
        capsys.readouterr()
        try:
            code = train.main([str(arg) for arg in args])
        except SystemExit as exc:                # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err
    return call


@pytest.mark.parametrize("args, hint", [
    (["--hiden", "64"], "unrecognized arguments: --hiden 64 (did you mean --hidden?)"),
    (["--hiden=64"], "unrecognized arguments: --hiden=64 (did you mean --hidden?)"),
    (["--val-fractoin", "0.2"], "(did you mean --val-fraction?)"),
    (["--zzz"], "unrecognized arguments: --zzz (see --help)"),
])
def test_a_mistyped_flag_suggests_the_nearest_one(cli, args, hint):
    code, _, err = cli(*args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("train.py: error: ") and hint in err, err


def test_resume_takes_the_run_folder_as_well_as_its_checkpoint(cli):
    assert cli(*SMALL, "--steps", "2", "--out", "run")[0] == 0
    code, out, err = cli("--resume", "run", "--steps", "4", "--no-progress")
    assert code == 0, err
    assert "resuming at step 2 from run/checkpoint.npz" in out
    assert "step 4" in out.splitlines()[-1]


def test_resume_from_a_folder_without_a_checkpoint_names_the_folder(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("--resume", "empty", "--steps", "4")
    assert code == 1
    assert err.count("\n") == 1 and "cannot resume from empty" in err and "no checkpoint.npz" in err, err


def test_init_0_warns_on_one_line_and_the_run_goes_on(cli):
    code, _, err = cli(*SMALL, "--steps", "2", "--init", "0", "--out", "zero")
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: warning: --init 0"), err
    assert "never break symmetry" in lines[0] and "--init 0.01" in lines[0] and len(lines[0]) <= 100
    code, _, err = cli(*SMALL, "--steps", "2", "--init", "0", "--depth", "0", "--out", "linear")
    assert code == 0 and err == ""              # no hidden units, no symmetry to break


# Optimizer.zero_grad, for PyTorch users ----------------------------------------------------

@pytest.mark.parametrize("make", [lambda p: SGD(p, lr=0.1, momentum=0.9), lambda p: Adam(p, lr=0.1)],
                         ids=["SGD", "Adam"])
def test_zero_grad_forgets_the_gradients_and_changes_no_result(make):
    X, y = make_spiral(5, 3, rng=0)
    losses = []
    for call_zero_grad in (False, True):
        model = two_layer(hidden=6)
        optimizer, loss_fn = make(model.parameters()), SoftmaxCrossEntropy()
        for _ in range(3):
            if call_zero_grad:
                optimizer.zero_grad()               # PyTorch's habit: harmless here
            losses.append(loss_fn.forward(model.forward(X), y))
            model.backward(loss_fn.backward())
            optimizer.step()
        optimizer.zero_grad()
        assert all(p.grad is None for p in model.parameters())
        with raises(RuntimeError, "'0.W'", "has no gradient", "backward()"):
            optimizer.step()
    assert losses[:3] == losses[3:]                 # exactly the same steps either way
