"""BLAS threads: fit runs its steps on one unless blas_threads says otherwise; train.py's --threads.

One thread is the default because a busy machine makes a second one wait (docs/performance.md). The
thread count may change a result's last digits, so a run records its count and a resumed run keeps it.
"""

import json

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from data import make_spiral
from layers import Linear, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD
from tests.helpers import SMALL, assert_same_files
from tests.test_train_cli import assert_one_clean_error_line, cli  # noqa: F401  (cli is a fixture)
from training import TrainingState, blas_threads, fit


def blas_thread_counts() -> list[int]:
    return [library["num_threads"] for library in threadpool_info() if library["user_api"] == "blas"]


def threads_seen_by_fit() -> set[int]:
    """The BLAS thread counts in force at each of fit's steps."""
    X, y = make_spiral(20, 2, rng=0)
    model = Sequential(Linear(2, 8, rng=0), Tanh(), Linear(8, 2, rng=0))
    seen = set()
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=3,
        state=TrainingState(on_step=lambda state: seen.update(blas_thread_counts())))
    return seen


def test_fit_steps_on_one_thread_and_gives_numpy_its_threads_back():
    before = blas_thread_counts()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS in this NumPy")
    assert threads_seen_by_fit() == {1}
    assert blas_thread_counts() == before


def test_blas_threads_sets_the_count_for_fit_and_the_block_then_puts_it_back():
    before = blas_thread_counts()
    if not before:
        pytest.skip("threadpoolctl finds no BLAS in this NumPy")
    with blas_threads(2):
        assert blas_thread_counts() == [2] * len(before)
        assert threads_seen_by_fit() == {2}
    with blas_threads(None):                    # NumPy's own count
        assert threads_seen_by_fit() == set(before)
    assert blas_thread_counts() == before
    assert threads_seen_by_fit() == {1}


@pytest.mark.parametrize("n, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_a_bad_thread_count_is_named(n, error):
    with pytest.raises(error, match="threads"):
        blas_threads(n)


def test_train_py_records_its_threads_and_a_resumed_run_keeps_them(cli, tmp_path):  # noqa: F811
    """A run on 2 threads, stopped and resumed without --threads, equals the run made in one go."""
    common = [*SMALL, "--threads", 2, "--checkpoint-every", 5]
    assert cli(*common, "--steps", 12, "--out", tmp_path / "straight").returncode == 0
    assert cli(*common, "--steps", 5, "--out", tmp_path / "split").returncode == 0
    config = json.loads((tmp_path / "split" / "config.json").read_text())["config"]
    assert config["threads"] == 2
    resumed = cli("--resume", tmp_path / "split", "--steps", 12, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_files(tmp_path / "straight", tmp_path / "split")


def test_train_py_runs_on_one_thread_by_default(cli, tmp_path):  # noqa: F811
    assert cli(*SMALL, "--steps", 2, "--out", tmp_path / "run").returncode == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["threads"] == 1


@pytest.mark.parametrize("value, fragments", [("-1", ("int >= 0", "got -1")), ("two", ("whole number",))])
def test_a_bad_threads_flag_is_one_line(cli, value, fragments):  # noqa: F811
    assert_one_clean_error_line(cli("--threads", value), 2, "argument --threads", *fragments)


def test_one_and_two_threads_train_alike_to_rounding():
    """Where they differ, only in the last digits: a product's sums split between threads."""
    X, y = make_spiral(200, 2, rng=0)
    weights = []
    for n in (1, 2):
        rng = np.random.default_rng(0)
        model = Sequential(Linear(2, 300, rng=rng), Tanh(), Linear(300, 2, rng=rng))
        with blas_threads(n):
            fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.5), X, y, steps=10,
                state=TrainingState(chunk_size=None))
        weights.append(model.state_dict())
    for name, value in weights[0].items():
        np.testing.assert_allclose(weights[1][name], value, rtol=1e-9, atol=1e-12)
