"""Dropout, BatchNorm1d and the train/eval modes: the math, the modes, and everywhere a layer goes
(fit's chunks and evaluation passes, state dicts, save files, checkpoints, train.py)."""

import numpy as np
import pytest

import explain
from data import make_spiral
from layers import BatchNorm1d, Dropout, Linear, ReLU, SoftmaxCrossEntropy, Tanh
from layers.gradcheck import check_gradients
from models import Sequential
from optim import SGD
from tests.helpers import SMALL, assert_passes, assert_same_files, edited_checkpoint, raises
from tests.test_train_cli import cli  # noqa: F401  (cli is a fixture)
from training import (
    TrainingState,
    evaluate,
    fit,
    read_checkpoint,
    restore,
    save_checkpoint,
    settings,
    walkthrough,
)
from training.machine import chunk_rows


def batch(shape=(9, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape) * 2 + 1


def small_model(*, batchnorm=True, dropout=0.2, seed=0):
    rng = np.random.default_rng(seed)
    layers = [Linear(2, 8, rng=rng)]
    layers += [BatchNorm1d(8)] if batchnorm else []
    layers += [Tanh()]
    layers += [Dropout(dropout, rng=seed + 1)] if dropout else []
    return Sequential(*layers, Linear(8, 3, rng=rng))


# Dropout -----------------------------------------------------------------------------------

def test_dropout_keeps_each_entry_with_probability_1_minus_p_and_scales_it_by_1_over_1_minus_p():
    x = batch((400, 50))
    y = Dropout(0.25, rng=3).forward(x)
    u = np.random.default_rng(3).random(x.shape)            # the draws the layer makes
    np.testing.assert_array_equal(y, np.where(u >= 0.25, x * (1 / 0.75), 0.0))
    assert abs(np.mean(y != 0) - 0.75) < 0.01


def test_dropout_is_the_identity_in_eval_mode_and_for_p_0():
    x, dy = batch(), batch(seed=1)
    for layer in (Dropout(0.5, rng=0).eval(), Dropout(0.0, rng=0)):
        assert layer.forward(x) is x
        assert layer.backward(dy) is dy


def test_dropout_backward_is_the_mask_and_passes_the_gradient_check_with_the_mask_held_fixed():
    layer = Dropout(0.4, rng=5)
    x, dy = batch(), batch(seed=1)
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.backward(dy), np.where(y != 0, dy / 0.6, 0.0))
    report = check_gradients(layer, x)
    assert_passes(report)
    assert report.errors["x"] <= 1e-9


def test_dropout_chunks_draw_the_mask_of_the_whole_batch():
    x = batch((30, 5))
    whole = Dropout(0.5, rng=7).forward(x)
    layer = Dropout(0.5, rng=7)
    chunks = np.concatenate([layer.forward(x[rows]) for rows in (slice(0, 7), slice(7, 20), slice(20, 30))])
    np.testing.assert_array_equal(chunks, whole)


@pytest.mark.parametrize("p, error", [(1.0, ValueError), (-0.1, ValueError), (float("nan"), ValueError),
                                      ("0.5", TypeError)])
def test_dropout_refuses_p_outside_0_1(p, error):
    with raises(error, "p", "0 <= p < 1" if error is ValueError else "real number"):
        Dropout(p)


# BatchNorm1d -------------------------------------------------------------------------------

def test_batchnorm_normalises_over_the_batch_and_moves_the_running_statistics_by_hand():
    x = np.array([[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]])          # μ = (3, 30), σ² = (14/3, 1400/3)
    layer = BatchNorm1d(2, eps=0.0 + 1e-5, momentum=0.5)
    layer.params["gamma"][...] = [2.0, 1.0]
    layer.params["beta"][...] = [0.0, -1.0]
    y = layer.forward(x)
    expected_hat = (x - [3.0, 30.0]) / np.sqrt(np.array([14 / 3, 1400 / 3]) + 1e-5)
    np.testing.assert_allclose(y, expected_hat * [2.0, 1.0] + [0.0, -1.0], rtol=1e-14)
    np.testing.assert_allclose(layer.buffers["running_mean"], [1.5, 15.0], rtol=1e-15)
    np.testing.assert_allclose(layer.buffers["running_var"], [0.5 + 0.5 * 7.0, 0.5 + 0.5 * 700.0], rtol=1e-15)


def test_batchnorm_in_eval_mode_uses_the_running_statistics_and_changes_nothing():
    layer = BatchNorm1d(3).eval()                 # before any training step: mean 0, variance 1
    x = batch((1, 3))                             # one row is fine in eval mode
    np.testing.assert_allclose(layer.forward(x), x / np.sqrt(1 + 1e-5), rtol=1e-15)
    assert (layer.buffers["running_mean"] == 0).all() and (layer.buffers["running_var"] == 1).all()
    dy = batch((1, 3), seed=2)
    np.testing.assert_allclose(layer.backward(dy), dy / np.sqrt(1 + 1e-5), rtol=1e-15)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_batchnorm_passes_the_gradient_check_over_the_whole_batch(mode):
    layer = BatchNorm1d(4)
    layer.params["gamma"][...] = [0.5, 2.0, -1.0, 1.5]
    layer.params["beta"][...] = [0.1, 0.2, 0.3, 0.4]
    layer.buffers["running_mean"][...] = [0.5, -0.5, 1.0, 0.0]
    getattr(layer, mode)()
    before = {name: value.copy() for name, value in layer.buffers.items()}
    report = check_gradients(layer, batch((9, 4), seed=3))    # not seed 0: G, drawn from seed 0, would be ∝ x
    assert_passes(report)
    assert max(report.errors.values()) <= 1e-8
    if mode == "eval":
        for name, value in before.items():
            np.testing.assert_array_equal(layer.buffers[name], value)


def test_batchnorm_refuses_one_row_in_train_mode_and_the_wrong_feature_count():
    with raises(ValueError, "BatchNorm1d(3", "at least 2 rows", "got 1", "eval"):
        BatchNorm1d(3).forward(batch((1, 3)))
    with raises(ValueError, "BatchNorm1d(3", "[N x 3]", "(5, 4)"):
        BatchNorm1d(3).forward(batch((5, 4)))
    for momentum in (-0.1, 1.5, float("nan")):
        with raises(ValueError, "Invalid momentum", str(momentum), "0 <= momentum <= 1"):
            BatchNorm1d(3, momentum=momentum)
    with raises(ValueError, "eps"):
        BatchNorm1d(3, eps=0.0)


def test_batchnorm_with_momentum_1_keeps_the_last_batchs_statistics_as_pytorch_allows():
    layer = BatchNorm1d(2, momentum=1.0)
    for seed in (1, 2):
        x = batch((5, 2), seed=seed)
        layer.forward(x)
    # the second batch's mean and unbiased variance, exactly: (1 − 1)·old + 1·new
    np.testing.assert_array_equal(layer.buffers["running_mean"], x.mean(axis=0))
    np.testing.assert_allclose(layer.buffers["running_var"], x.var(axis=0, ddof=1), rtol=1e-15)
    assert BatchNorm1d(2, momentum=0.0).momentum == 0.0


def test_a_bias_before_batchnorm_has_gradient_0_and_passes_at_rounding_level_in_both_tools():
    """BatchNorm1d subtracts the batch mean, so the bias of the Linear before it has no effect on L: its
    gradient is 0, analytic (~1e-17) and numeric (~1e-11) both rounding. The relative error is then
    about 1, yet every difference is within the rounding of L: it passes, and the report says why."""
    config = settings.complete(dict(settings.DEFAULTS, depth=2, hidden=8, batchnorm=True, dropout=0.1,
                                    init="he"))
    model = settings.build_model(config)
    report = check_gradients(model, np.random.default_rng(0).standard_normal((16, 2)))
    assert report.passed and report.at_rounding == {"0.b", "4.b"}     # Linear biases, each before BatchNorm1d
    for name in ("0.b", "4.b"):
        assert report.errors[name] > 0.5 and report.verdict(name) == "ok at rounding level"
        assert report.notes[name].startswith("≈ 0, no effect on L, as for a bias before BatchNorm1d")
        assert np.abs(model[int(name[0])].grads["b"]).max() < 1e-14
        assert walkthrough.verdict(report, name).endswith("  ok")       # explain.py by the same rule
    others = [error for name, error in report.errors.items() if name not in report.at_rounding]
    assert max(others) <= 1e-8                                           # the ordinary bar, as it was
    assert "WRONG" not in str(report)
    assert "0.b      relative error 1.0e+00  ok at rounding level" in str(report)


class BiasNudged(Linear):
    """A planted bug: ∂L/∂b off by 1e-6, on a bias whose true gradient is 0."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = self.grads["b"] + 1e-6
        return dx


def test_a_wrong_gradient_for_a_bias_before_batchnorm_still_fails():
    rng = np.random.default_rng(0)
    model = Sequential(BiasNudged(2, 8, rng=rng), BatchNorm1d(8), Tanh(), Linear(8, 3, rng=rng))
    report = check_gradients(model, batch((10, 2)))
    assert not report.passed and not report.passed_at(1e-2)
    assert report.verdict("0.b") == "WRONG" and report.errors["0.b"] > 0.99
    assert "0.b" not in report.at_rounding
    assert walkthrough.verdict(report, "0.b").endswith("WRONG")


# Modes, parameters and state ----------------------------------------------------------------

def test_train_and_eval_set_every_layer_and_return_the_model():
    model = small_model()
    assert model.eval() is model and not model.training
    assert not any(layer.training for layer in model)
    assert model.train() is model and all(layer.training for layer in model)
    with raises(TypeError, "mode"):
        model.train("no")


def test_running_statistics_are_state_but_not_parameters_and_no_optimizer_touches_them():
    model = small_model()
    names = [p.name for p in model.parameters()]
    assert names == ["0.W", "0.b", "1.gamma", "1.beta", "4.W", "4.b"]
    assert list(model.state_dict()) == names[:4] + ["1.running_mean", "1.running_var"] + names[4:]
    X, y = make_spiral(10, 3, rng=0)
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(model.forward(X), y)
    model.backward(loss_fn.backward())
    stats = {name: value.copy() for name, value in model.buffers().items()}
    SGD(model.parameters(), lr=0.5, momentum=0.9, weight_decay=0.1).step()
    for name, value in stats.items():
        np.testing.assert_array_equal(model.buffers()[name], value)


def test_state_dict_and_save_files_carry_the_running_statistics(tmp_path):
    X, y = make_spiral(10, 3, rng=0)
    model = small_model()
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.3), X, y, steps=5)
    model.eval()
    model.save(tmp_path / "model.npz")
    again = small_model(seed=9)
    again.load(tmp_path / "model.npz")
    assert not np.array_equal(again.buffers()["1.running_var"], np.ones(8))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name], value)
    np.testing.assert_array_equal(again.eval().forward(X), model.forward(X))
    with raises(ValueError, "running_var", "missing"):
        again.load_state_dict({k: v for k, v in model.state_dict().items() if k != "1.running_var"})


# fit: chunks, evaluation passes -------------------------------------------------------------

def test_fit_never_chunks_a_batch_for_batchnorm_in_train_mode():
    X, _ = make_spiral(100, 3, rng=0)
    model = small_model()
    assert chunk_rows(7, model, X) is None and chunk_rows("auto", model, X) is None
    assert chunk_rows(7, model.eval(), X) == 7          # eval mode mixes no rows
    assert chunk_rows(7, small_model(batchnorm=False), X) == 7


def training(model, chunk_size, *, steps=12, batch_size=None, log_every=3):
    X, y = make_spiral(20, 3, rng=0)
    history = fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.3), X, y, steps=steps,
                  batch_size=batch_size, rng=1, log_every=log_every,
                  state=TrainingState(chunk_size=chunk_size))
    return history, model.state_dict()


def test_fit_with_batchnorm_is_the_same_whatever_the_chunk_size():
    first, first_state = training(small_model(), 7)
    second, second_state = training(small_model(), None)
    np.testing.assert_array_equal(first.column("loss"), second.column("loss"))
    for name, value in first_state.items():
        np.testing.assert_array_equal(second_state[name], value)


def test_fit_with_dropout_in_chunks_equals_unchunked_to_rounding():
    first, first_state = training(small_model(batchnorm=False), 7, batch_size=30)
    second, second_state = training(small_model(batchnorm=False), None, batch_size=30)
    np.testing.assert_allclose(first.column("loss"), second.column("loss"), rtol=1e-12)
    for name, value in first_state.items():
        np.testing.assert_allclose(second_state[name], value, rtol=1e-12, atol=1e-14)


def test_fit_measures_in_eval_mode_leaves_the_running_statistics_to_training_and_ends_in_train_mode():
    X, y = make_spiral(20, 3, rng=0)
    fitted, by_hand = small_model(), small_model()
    fitted.eval()
    history = fit(fitted, SoftmaxCrossEntropy(), SGD(fitted.parameters(), lr=0.3), X, y, steps=6, log_every=1)
    assert fitted.training and all(layer.training for layer in fitted)
    loss_fn, optimizer = SoftmaxCrossEntropy(), SGD(by_hand.parameters(), lr=0.3)
    for _ in range(6):                  # the same steps, with no evaluation pass in between
        loss_fn.forward(by_hand.forward(X), y)
        by_hand.backward(loss_fn.backward())
        optimizer.step()
    for name, value in by_hand.state_dict().items():
        np.testing.assert_array_equal(fitted.state_dict()[name], value, err_msg=name)
    loss, accuracy = evaluate(by_hand, loss_fn, X, y)       # eval mode: no dropout, running statistics
    assert by_hand.training
    assert history[-1]["loss"] == loss and history[-1]["train_accuracy"] == accuracy


def test_checkpoints_restore_running_statistics_and_the_dropout_generator(tmp_path):
    X, y = make_spiral(20, 3, rng=0)

    def run(steps, state=None, model=None):
        model = model or small_model()
        optimizer = SGD(model.parameters(), lr=0.3, momentum=0.9)
        state = state or TrainingState()
        return model, optimizer, state, fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=steps,
                                            batch_size=16, rng=1, state=state, log_every=2)

    straight = run(9)[0]
    model, optimizer, state, _ = run(4)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, state, {})
    fresh = small_model(seed=3)
    fresh_optimizer = SGD(fresh.parameters(), lr=0.3, momentum=0.9)
    fresh_state = TrainingState()
    fresh_state.batches = type(state.batches)(X, y, 16, rng=1)
    restore(read_checkpoint(tmp_path / "c.npz"), fresh, fresh_optimizer, fresh_state)
    fit(fresh, SoftmaxCrossEntropy(), fresh_optimizer, X, y, steps=9, batch_size=16, state=fresh_state,
        log_every=2)
    for name, value in straight.state_dict().items():
        assert fresh.state_dict()[name].tobytes() == value.tobytes(), name


def test_train_py_with_batchnorm_and_dropout_resumes_bit_identically(cli, tmp_path):  # noqa: F811
    common = [*SMALL, "--depth", 2, "--batchnorm", "--dropout", 0.1, "--reg", 1e-3, "--log-every", 4,
              "--checkpoint-every", 5, "--batch-size", 32]
    assert cli(*common, "--steps", 20, "--out", tmp_path / "straight").returncode == 0
    assert cli(*common, "--steps", 11, "--out", tmp_path / "split").returncode == 0
    resumed = cli("--resume", tmp_path / "split", "--steps", 20, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(tmp_path / "straight", tmp_path / "split")
    config = read_checkpoint(tmp_path / "split" / "checkpoint.npz").config
    assert (config["batchnorm"], config["dropout"], config["reg"]) == (True, 0.1, 1e-3)


def test_a_checkpoint_from_before_these_flags_resumes_without_them(cli, tmp_path):  # noqa: F811
    common = [*SMALL, "--log-every", 4]
    assert cli(*common, "--steps", 12, "--out", tmp_path / "straight").returncode == 0
    assert cli(*common, "--steps", 6, "--out", tmp_path / "split").returncode == 0
    checkpoint = tmp_path / "split" / "checkpoint.npz"
    edited_checkpoint(checkpoint, checkpoint, reg=None, dropout=None, batchnorm=None)
    resumed = cli("--resume", tmp_path / "split", "--steps", 12, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(tmp_path / "straight", tmp_path / "split")


def test_train_py_refuses_a_dropout_of_1(cli):  # noqa: F811
    result = cli(*SMALL, "--dropout", 1)
    assert result.returncode == 2 and "dropout" in result.stderr


def test_train_py_refuses_a_batch_size_leaving_one_row_for_batchnorm(cli, tmp_path):  # noqa: F811
    result = cli("--batchnorm", "--batch-size", 799, "--steps", 3, "--out", tmp_path / "run")    # 800 rows
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    for words in ("argument --batch-size", "--batchnorm", "--batch-size 799", "last batch of 1 row",
                  "the 800 training rows", "variance of one row is undefined", "choose another --batch-size"):
        assert words in result.stderr
    assert not (tmp_path / "run").exists()
    result = cli(*SMALL, "--batchnorm", "--batch-size", 1, "--steps", 3)
    assert result.returncode == 2 and "--batch-size 1 makes every batch 1 row" in result.stderr
    # the validation share is left out: 120 rows − 24 = 96 for training, 95 leave 1
    result = cli(*SMALL, "--batchnorm", "--val-fraction", 0.2, "--batch-size", 95, "--steps", 3)
    assert result.returncode == 2 and "1 row of the 96 training rows" in result.stderr
    assert settings.problems(settings.complete(dict(settings.DEFAULTS, batch_size=799))) == []
    fine = settings.complete(dict(settings.DEFAULTS, batchnorm=True, batch_size=798))     # leaves 2
    assert settings.problems(fine) == []


def test_a_checkpoint_leaving_one_row_for_batchnorm_is_refused_on_resume(cli, tmp_path):  # noqa: F811
    result = cli(*SMALL, "--batchnorm", "--batch-size", 40, "--steps", 2, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    edited = edited_checkpoint(tmp_path / "run" / "checkpoint.npz", tmp_path / "edited.npz", batch_size=119)
    result = cli("--resume", edited, "--steps", 4, "--out", tmp_path / "more")
    # the checkpoint's settings, checked as the flags are: an edited file is damaged (exit 1)
    assert result.returncode == 1 and "cannot resume from" in result.stderr
    assert "--batch-size 119 leaves a last batch of 1 row of the 120" in result.stderr


def test_fit_names_the_one_row_batch_that_batchnorm_refuses():
    X, y = make_spiral(3, 3, rng=0)         # 9 rows
    for batch_size, words in ((4, ("step 2:", "last mini-batch of each pass has 1 row",
                                   "9 rows in batches of 4 leave 1")),
                              (1, ("step 0:", "every mini-batch has 1 row (batch_size=1)"))):
        model = small_model(dropout=0)
        with raises(ValueError, *words, "model[1]: BatchNorm1d(8", "at least 2 rows"):
            fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=5,
                batch_size=batch_size, rng=0)


def test_a_checkpoint_without_the_dropout_generator_is_refused(tmp_path):
    X, y = make_spiral(10, 3, rng=0)
    model = small_model()
    optimizer = SGD(model.parameters(), lr=0.3)
    state = TrainingState()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=2, state=state)
    save_checkpoint(tmp_path / "c.npz", model, optimizer, state, {})
    checkpoint = read_checkpoint(tmp_path / "c.npz")
    del checkpoint.arrays["rng/3"]
    before = model.state_dict()
    with raises(ValueError, "cannot resume", "random layers", "['3']"):
        restore(checkpoint, model, SGD(model.parameters(), lr=0.3), TrainingState())
    for name, value in before.items():
        np.testing.assert_array_equal(model.state_dict()[name], value)


def test_a_relu_network_with_both_layers_learns_the_spiral():
    X, y = make_spiral(50, 3, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 32, rng=rng), BatchNorm1d(32), ReLU(), Dropout(0.1, rng=1),
                       Linear(32, 3, rng=rng))
    history = fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5, momentum=0.9), X, y,
                  steps=150, log_every=50)
    assert history[-1]["train_accuracy"] > 0.85


# explain.py --------------------------------------------------------------------------------

def explained(argv, capsys):
    code = explain.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_explain_shows_batchnorm_and_dropout_layer_by_layer_with_their_checks(capsys):
    code, out, err = explained(["--depth", "2", "--hidden", "5", "--batchnorm", "--dropout", "0.2"], capsys)
    assert code == 0, err
    assert " 1  BatchNorm1d.forward" in out and " 3  Dropout.backward" in out
    assert "(3) ∂L/∂x = s ⊙ (g − Σg/N − x̂ ⊙ Σ(g ⊙ x̂)/N)" in out and "(1) ∂L/∂x = dy ⊙ m / (1 − p)" in out
    assert "check 5.gamma: relative error" in out and "check 1.beta: relative error" in out
    assert "all 12 gradients agree with central differences" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_explain_from_a_checkpoint_with_both_layers(cli, tmp_path, capsys):  # noqa: F811
    result = cli(*SMALL, "--batchnorm", "--dropout", 0.3, "--reg", 0.001, "--steps", 3,
                 "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    code, out, err = explained(["--from", str(tmp_path / "run")], capsys)
    assert code == 0, err
    assert ("the run's config: depth 1, hidden 16, activation relu, optimizer sgd, lr 1.0, batchnorm, "
            "dropout 0.3, reg 0.001\n") in out
    assert "(1): BatchNorm1d(16" in out and "(3): Dropout(p=0.3)" in out
    assert "all 8 gradients agree" in out
