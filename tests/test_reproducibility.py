"""Every run reproduces: one seed, independent streams, bit-identical results, no global random state."""

import numpy as np
import pytest

import train
from data import make_spiral, spawn_generators
from tests.helpers import SMALL, assert_same_files, raises
from training import settings

MINIBATCH_RUN = [*map(str, SMALL), "--batch-size", "16", "--val-fraction", "0.2", "--steps", "12",
                 "--log-every", "4"]

# NumPy's legacy global generator: every function in np.random that draws from it (or reseeds it)
GLOBAL_STATE_FUNCTIONS = sorted(
    name for name in dir(np.random)
    if callable(getattr(np.random, name)) and name[0].islower()
    and name not in {"default_rng", "get_bit_generator", "set_bit_generator"}
)


def test_spawned_generators_are_the_seed_sequences_children_and_do_not_depend_on_how_many():
    four = spawn_generators(7, 4)
    children = np.random.SeedSequence(7).spawn(4)
    for generator, child in zip(four, children, strict=True):
        expected = np.random.default_rng(child).standard_normal(3).tolist()
        assert generator.standard_normal(3).tolist() == expected
    two = spawn_generators(7, 2)
    assert [g.random() for g in two] == [g.random() for g in spawn_generators(7, 4)[:2]]
    firsts = [g.standard_normal(5).tolist() for g in spawn_generators(7, 4)]
    assert len({tuple(f) for f in firsts}) == 4          # four different streams


@pytest.mark.parametrize("args, error, words", [
    ((-1, 2), ValueError, ("seed", ">= 0", "-1")),
    ((1.5, 2), TypeError, ("seed", "int", "1.5")),
    ((0, 0), ValueError, ("n must", "positive int", "0")),
])
def test_spawn_generators_rejects_bad_arguments(args, error, words):
    with raises(error, *words):
        spawn_generators(*args)


def test_train_py_draws_data_weights_split_and_shuffling_from_independent_streams():
    config = dict(settings.DEFAULTS, seed=3)
    streams = settings.generators(config)
    assert list(streams) == ["data", "init", "split", "shuffle", "dropout"]
    expected = spawn_generators(3, 5)
    for generator, reference in zip(streams.values(), expected, strict=True):
        assert generator.random(4).tolist() == reference.random(4).tolist()
    # each job draws from its own stream: the data from the first, the weights from the second
    small = dict(config, points=50, classes=2, hidden=8, init=1.0)
    X, y, _ = settings.build_data(small)
    expected_X, expected_y = make_spiral(50, 2, small["noise"], rng=spawn_generators(3, 1)[0])
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, expected_y)
    W = settings.build_model(small)[0].params["W"]
    np.testing.assert_array_equal(W, spawn_generators(3, 2)[1].standard_normal((2, 8)))


def test_the_same_seed_gives_a_bit_identical_run_and_another_seed_does_not(tmp_path, capsys):
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert train.main([*MINIBATCH_RUN, "--seed", seed, "--out", str(tmp_path / name)]) == 0
    assert_same_files(tmp_path / "a", tmp_path / "b")     # data, split, weights, shuffling, every number
    with pytest.raises(AssertionError):
        assert_same_files(tmp_path / "a", tmp_path / "c")


def test_nothing_touches_numpys_global_random_state(tmp_path, monkeypatch, capsys):
    def trap(name):
        def refuse(*args, **kwargs):
            raise AssertionError(f"np.random.{name} uses NumPy's global random state")
        return refuse

    np.random.seed(1234)
    before = np.random.get_state()[1].copy()
    for name in GLOBAL_STATE_FUNCTIONS:
        monkeypatch.setattr(np.random, name, trap(name))
    assert "permutation" in GLOBAL_STATE_FUNCTIONS and "standard_normal" in GLOBAL_STATE_FUNCTIONS
    # a whole run: data, split, initialisation, shuffled mini-batches, checkpoints, figures, then a resume
    assert train.main([*MINIBATCH_RUN, "--out", str(tmp_path / "run")]) == 0
    assert train.main(["--resume", str(tmp_path / "run" / "checkpoint.npz"), "--steps", "20",
                       "--no-progress"]) == 0
    monkeypatch.undo()
    np.testing.assert_array_equal(np.random.get_state()[1], before)
