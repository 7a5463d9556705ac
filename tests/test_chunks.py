"""fit in chunks (gradient accumulation): the same training as the unchunked step, to rounding.

A step over a batch of more than ``chunk_size`` rows runs forward and backward chunk by chunk, each
backward from (n_c/N)·∂L_c/∂S, and sums the chunks' gradients before the one update. Only the order
of the additions changes, so every figure here must agree with the unchunked run (or the course's
loop) to rounding, and exactly where the math leaves nothing to reorder (one chunk, a resumed run).
"""

import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD, Adam
from tests.helpers import SMALL, assert_same_files, edited_checkpoint
from tests.test_train_cli import assert_one_clean_error_line, cli  # noqa: F401  (cli is a fixture)
from training import TrainingState, fit
from training.course_loop import course_initial_weights, course_step
from training.machine import DEFAULT_CHUNK_SIZE, chunk_rows


def relative(a, b):
    return np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max()


def training(chunk_size, *, steps=50, batch_size=None, optimizer=SGD, lr=0.5, layer=Linear, loss=None):
    """A 3-class spiral of N = 300 through a Tanh network of 40 units; the history and the weights."""
    X, y = make_spiral(100, 3, rng=0)
    rng = np.random.default_rng(1)
    model = Sequential(layer(2, 40, rng=rng), Tanh(), layer(40, 3, rng=rng))
    history = fit(model, loss or SoftmaxCrossEntropy(), optimizer(model.parameters(), lr=lr), X, y,
                  steps=steps, batch_size=batch_size, rng=2, log_every=1,
                  state=TrainingState(chunk_size=chunk_size))
    return history, model.state_dict()


@pytest.mark.parametrize("chunk_size", [7, 64, 100, 299])
def test_chunked_fit_equals_unchunked_fit_to_rounding(chunk_size):
    reference, ref_weights = training(None)
    history, weights = training(chunk_size)
    assert len(history) == len(reference) == 51
    assert relative(history.column("loss"), reference.column("loss")) <= 1e-12
    np.testing.assert_array_equal(history.column("train_accuracy"), reference.column("train_accuracy"))
    for name in ref_weights:
        assert relative(weights[name], ref_weights[name]) <= 1e-12, name
    assert reference.column("loss")[-1] < 0.7 * reference.column("loss")[0]     # it trained


@pytest.mark.parametrize("chunk_size", [300, 10_000])
def test_a_batch_within_one_chunk_is_the_plain_step_bit_for_bit(chunk_size):
    reference, ref_weights = training(None, steps=10)
    history, weights = training(chunk_size, steps=10)
    assert history.rows == reference.rows
    for name in ref_weights:
        np.testing.assert_array_equal(weights[name], ref_weights[name])


class Recording(SoftmaxCrossEntropy):
    """The loss, noting how many rows each forward call gets."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def forward(self, scores, y):
        self.rows.append(len(scores))
        return super().forward(scores, y)


def test_a_mini_batch_larger_than_a_chunk_is_chunked_too():
    reference, ref_weights = training(None, steps=30, batch_size=50, optimizer=Adam, lr=0.01)
    loss = Recording()
    history, weights = training(20, steps=30, batch_size=50, optimizer=Adam, lr=0.01, loss=loss)
    # each history row over all 300 points: 15 x 20, then the step's mini-batch of 50: chunks of 20, 20, 10
    assert loss.rows[:18] == [20] * 15 + [20, 20, 10] and max(loss.rows) == 20
    assert loss.rows.count(10) == 30
    assert relative(history.column("loss"), reference.column("loss")) <= 1e-12
    for name in ref_weights:
        assert relative(weights[name], ref_weights[name]) <= 1e-12, name


class InPlaceLinear(Linear):
    """A Linear that writes its gradients into the arrays it already holds, as the contract allows."""

    def backward(self, dy):
        W, b = self.grads["W"], self.grads["b"]
        dx = super().backward(dy)
        if W is not None:
            np.copyto(W, self.grads["W"])
            np.copyto(b, self.grads["b"])
            self.grads["W"], self.grads["b"] = W, b
        return dx


def test_a_layer_writing_its_gradient_in_place_never_writes_into_the_sums():
    reference, ref_weights = training(None, steps=20)
    history, weights = training(64, steps=20, layer=InPlaceLinear)
    assert relative(history.column("loss"), reference.column("loss")) <= 1e-12
    for name in ref_weights:
        assert relative(weights[name], ref_weights[name]) <= 1e-12, name


class BothOptimizers:
    """The loop's update as two SGDs: weight decay (the loop's reg term) on W and W2, none on the biases."""

    def __init__(self, params, reg):
        self.optimizers = [SGD([p for p in params if p.name.endswith("W")], lr=1.0, weight_decay=reg),
                           SGD([p for p in params if p.name.endswith("b")], lr=1.0)]

    def step(self):
        for optimizer in self.optimizers:
            optimizer.step()


@pytest.mark.parametrize("setup", [
    dict(n_per_class=400, n_classes=2, noise=0.5, hidden=100, reg=0.0, steps=200, chunk_size=128),
    dict(n_per_class=100, n_classes=3, noise=0.2, hidden=100, reg=1e-3, steps=300, chunk_size=64),
    dict(n_per_class=400, n_classes=2, noise=0.5, hidden=300, reg=0.0, steps=200, chunk_size="auto"),
], ids=["question-data", "course", "default-chunks"])
def test_fit_in_chunks_trains_as_the_course_loop(setup):
    X, y = make_spiral(setup["n_per_class"], setup["n_classes"], setup["noise"], rng=0)
    init = course_initial_weights(2, setup["hidden"], setup["n_classes"], np.random.default_rng(1))
    W, b, W2, b2 = (init[name].copy() for name in ("W", "b", "W2", "b2"))
    data_losses = [course_step(X, y, W, b, W2, b2, reg=setup["reg"])["data_loss"]
                   for _ in range(setup["steps"])]

    hidden, n_classes = setup["hidden"], setup["n_classes"]
    model = Sequential(Linear(2, hidden, rng=0), ReLU(), Linear(hidden, n_classes, rng=0))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    history = fit(model, SoftmaxCrossEntropy(), BothOptimizers(model.parameters(), setup["reg"]), X, y,
                  steps=setup["steps"], log_every=1, state=TrainingState(chunk_size=setup["chunk_size"]))
    losses = history.column("loss")[:-1]    # the last row measures the weights after the last update
    assert len(losses) == setup["steps"]
    assert np.abs(np.array(losses) - data_losses).max() <= 1e-9
    for name, value in {"0.W": W, "0.b": b, "2.W": W2, "2.b": b2}.items():
        assert relative(model.state_dict()[name], value) <= 1e-9, name
    assert losses[-1] < 0.6 * losses[0]


@pytest.mark.parametrize("flags", [
    ["--chunk-size", 7, "--momentum", 0.9, "--lr", 0.5],
    ["--chunk-size", 5, "--batch-size", 16, "--optimizer", "adam", "--lr", 0.02, "--val-fraction", 0.2],
], ids=["full-batch", "mini-batch"])
def test_resume_in_chunks_is_bit_identical(cli, tmp_path, flags):  # noqa: F811
    common = [*SMALL, *flags, "--log-every", 4, "--checkpoint-every", 5]
    assert cli(*common, "--steps", 20, "--out", tmp_path / "straight").returncode == 0
    assert cli(*common, "--steps", 11, "--out", tmp_path / "split").returncode == 0
    resumed = cli("--resume", tmp_path / "split", "--steps", 20, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(tmp_path / "straight", tmp_path / "split")


def test_a_checkpoint_from_before_chunks_resumes_without_them(cli, tmp_path):  # noqa: F811
    common = [*SMALL, "--lr", 0.5, "--log-every", 4]
    assert cli(*common, "--chunk-size", 0, "--steps", 20, "--out", tmp_path / "straight").returncode == 0
    assert cli(*common, "--chunk-size", 0, "--steps", 9, "--out", tmp_path / "split").returncode == 0
    checkpoint = tmp_path / "split" / "checkpoint.npz"
    edited_checkpoint(checkpoint, checkpoint, chunk_size=None)      # as written before --chunk-size
    resumed = cli("--resume", tmp_path / "split", "--steps", 20, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(tmp_path / "straight", tmp_path / "split")


@pytest.mark.parametrize("l2, rows", [
    (2**20, {np.float64: 131, np.float32: 262}),     # a 1 MB L2: chunks whose [rows x 1000] array fills it
    (2**21, {np.float64: 262, np.float32: 524}),
    (2**19, {np.float64: 1048, np.float32: 2097}),   # 512 KB: chunks only for memory, 8 MB arrays
    (0, {np.float64: 1048, np.float32: 2097}),       # an L2 that could not be read: the same
])
def test_auto_chunks_fill_the_l2_cache_where_it_holds_1_mb_and_else_only_bound_memory(monkeypatch, l2, rows):
    import training.machine
    from training.settings import DEFAULTS
    monkeypatch.setattr(training.machine, "l2_cache_bytes", lambda: l2)
    assert DEFAULTS["chunk_size"] == DEFAULT_CHUNK_SIZE == "auto"
    course = Sequential(Linear(2, 1000, rng=0), ReLU(), Linear(1000, 2, rng=0))
    for dtype, expected in rows.items():
        assert chunk_rows("auto", course, np.zeros((800, 2), dtype)) == expected
    wide_input = Sequential(Linear(5000, 10, rng=0))                      # the input is the widest array
    budget = l2 if l2 >= 2**20 else 2**23
    assert chunk_rows("auto", wide_input, np.zeros((3, 5000))) == budget // 40000
    assert chunk_rows("auto", Sequential(Linear(2, 2**24, rng=0)), np.zeros((800, 2))) == 1  # never 0 rows
    assert chunk_rows(None, course, np.zeros((800, 2))) is None and chunk_rows(64, course, None) == 64


def test_the_l2_cache_is_read_from_linux_and_is_the_same_at_every_call():
    from training.machine import l2_cache_bytes
    if not Path("/sys/devices/system/cpu/cpu0/cache").is_dir():
        pytest.skip("Linux reports CPU caches under /sys/devices/system/cpu; this system does not")
    assert l2_cache_bytes() >= 64 * 2**10 and l2_cache_bytes() % 2**10 == 0
    assert l2_cache_bytes() == l2_cache_bytes()     # read once: a run's chunks never change mid-run


@pytest.mark.parametrize("chunk_size, error", [
    (0, ValueError), (-3, ValueError), (1.5, TypeError), ("100", TypeError), (True, TypeError),
    ("Auto", TypeError),
])
def test_bad_chunk_sizes_are_named_by_fit(chunk_size, error):
    X, y = make_spiral(10, 3, rng=0)
    model = Sequential(Linear(2, 4, rng=0), Tanh(), Linear(4, 3, rng=0))
    before = model.state_dict()
    with pytest.raises(error, match="chunk_size") as caught:
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=2,
            state=TrainingState(chunk_size=chunk_size))
    assert "None" in str(caught.value) and '"auto"' in str(caught.value)    # the other choices
    assert all(np.array_equal(model.state_dict()[name], before[name]) for name in before)


def test_fit_accepts_none_and_a_state_continues_with_another_chunk_size():
    X, y = make_spiral(50, 3, rng=0)
    model = Sequential(Linear(2, 8, rng=0), Tanh(), Linear(8, 3, rng=0))
    optimizer = SGD(model.parameters(), lr=0.5)
    state = TrainingState(chunk_size=None)
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=3, state=state)
    state.chunk_size = 16
    history = fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=6, state=state)
    assert history.column("step").tolist() == [0, 6]


@pytest.mark.parametrize("value, fragments", [
    ("-1", ("int >= 0", "got -1")), ("1.5", ("whole number", "'1.5'")), ("x", ("whole number", "'x'")),
])
def test_bad_chunk_sizes_give_one_line_from_train_py(cli, value, fragments):  # noqa: F811
    result = cli("--chunk-size", value)
    assert_one_clean_error_line(result, 2, "argument --chunk-size", *fragments, "(see --help)")


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the page faults counted here are glibc's")
def test_chunked_steps_reuse_freed_memory_instead_of_faulting_in_new_pages():
    """keep_freed_memory: in a fresh process, the course's step in 7 chunks takes its arrays back from
    the heap (no page faults), where glibc's default would give them back to the kernel at every chunk.
    The fresh processes are benchmarks/speed_devices.py's, which print faults and ms per step."""
    def faults_per_step(keep):
        run = subprocess.run([sys.executable, "-m", "benchmarks.speed_devices", "--child", keep],
                             capture_output=True, text=True, check=True, cwd=ROOT)
        return float(run.stdout.split()[0])
    assert faults_per_step("on") < 5
    assert faults_per_step("off") > 100               # the device does something: glibc's default faults


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_benchmarks_inline_formulas_compute_fits_step_bit_for_bit(dtype):
    """benchmarks/bench_step.py's "formulas" row, the floor fit is compared with, must compute what fit
    computes, statement for statement: the same weights after a few steps of the course's setup."""
    from benchmarks.bench_step import build_model, formulas_step

    X, y = make_spiral(n_per_class=100, n_classes=2, noise=0.5, rng=0)
    X = X.astype(dtype)
    init = course_initial_weights(2, 100, 2, np.random.default_rng(1))
    model = build_model(init, dtype)
    rows = 64                           # four chunks of the 200 rows, the last one of 8
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X, y, steps=3,
        state=TrainingState(chunk_size=rows))
    weights = {name: value.astype(dtype) for name, value in init.items()}
    for _ in range(3):
        formulas_step(X, y, weights, rows)
    state = model.state_dict()
    for name, key in [("W", "0.W"), ("b", "0.b"), ("W2", "2.W"), ("b2", "2.b")]:
        np.testing.assert_array_equal(weights[name], state[key])
