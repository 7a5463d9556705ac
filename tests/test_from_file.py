"""Sequential.from_file: the model in a model file or a checkpoint, rebuilt from its architecture alone."""

import numpy as np
import pytest

from checks.files import read_npz
from layers import (
    KINDS,
    BatchNorm1d,
    Dropout,
    LeakyReLU,
    Linear,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Standardize,
    Tanh,
)
from models import Sequential
from models.architecture import architecture, build
from optim import SGD
from tests.helpers import foreign_npz, raises
from training import TrainingState, save_checkpoint


def every_kind(dtype=np.float64, seed=0):
    """A model holding every kind of layers.KINDS, trained for one step: every array differs from the
    one a fresh build of its architecture starts with, so that a loader skipping any shows."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((30, 4)) * [0.1, 1.0, 10.0, 100.0] + 5.0).astype(dtype)
    y = rng.integers(0, 3, 30)
    model = Sequential(
        Standardize.from_data(X), Linear(4, 8, rng=rng, dtype=dtype), BatchNorm1d(8, dtype=dtype), ReLU(),
        Linear(8, 8, rng=rng, dtype=dtype), LeakyReLU(0.1), Dropout(0.25, rng=rng),
        Linear(8, 6, rng=rng, dtype=dtype), Tanh(), Linear(6, 5, rng=rng, dtype=dtype), Sigmoid(),
        Linear(5, 3, rng=rng, dtype=dtype),
    )
    assert {type(layer).__name__ for layer in model} == set(KINDS), "add the new kind to this model"
    loss_fn, optimizer = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn.forward(model.forward(X), y)
    model.backward(loss_fn.backward())
    optimizer.step()
    fresh = Sequential(*build(architecture(model))).state_dict()
    assert all(not np.array_equal(value, fresh[name]) for name, value in model.state_dict().items())
    return model, optimizer, X


def assert_same_model(loaded, model, X):
    assert type(loaded) is Sequential and repr(loaded) == repr(model)
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(theirs) == list(ours)
    for name in ours:
        assert (theirs[name].dtype, theirs[name].tobytes()) == (ours[name].dtype, ours[name].tobytes()), name
    assert loaded.training                       # a new model, as any
    np.testing.assert_array_equal(loaded.eval().forward(X), model.eval().forward(X), strict=True)


def test_a_model_file_round_trips_every_kind(tmp_path):
    model, _, X = every_kind()
    model.save(tmp_path / "model.npz")
    assert_same_model(Sequential.from_file(tmp_path / "model.npz"), model, X)


def test_a_checkpoint_gives_its_model(tmp_path):
    model, optimizer, X = every_kind(seed=1)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, optimizer, TrainingState(step=1), {"hidden": 8})
    assert any(name.startswith("optim/") for name in read_npz(path))       # more than a model file holds
    assert_same_model(Sequential.from_file(str(path)), model, X)


def test_dtype_widens_every_layer_that_has_one(tmp_path):
    model, _, X = every_kind(np.float32, seed=2)
    model.save(tmp_path / "model.npz")
    wide = Sequential.from_file(tmp_path / "model.npz", dtype="float64")
    assert repr(wide) == repr(model).replace("float32", "float64")
    narrow = model.state_dict()
    for name, value in wide.state_dict().items():
        assert value.dtype == np.float64
        np.testing.assert_array_equal(value, narrow[name].astype(np.float64))      # widening is exact
    scores = wide.eval().forward(X.astype(np.float64))
    np.testing.assert_allclose(model.eval().forward(X), scores, rtol=0, atol=1e-5 * np.abs(scores).max())
    assert repr(Sequential.from_file(tmp_path / "model.npz", dtype=None)) == repr(model)


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with raises(ValueError, str(missing)):
        Sequential.from_file(missing)
    with raises(ValueError, "foreign.npz", "not a file saved by this project"):
        Sequential.from_file(foreign_npz(tmp_path / "foreign.npz"))
    model, _, _ = every_kind()
    model.save(tmp_path / "model.npz")
    arrays = read_npz(tmp_path / "model.npz")
    del arrays["model/1.W"]
    np.savez(tmp_path / "damaged.npz", **arrays)
    with raises(ValueError, "damaged.npz", "missing 1.W"):
        Sequential.from_file(tmp_path / "damaged.npz")
    with raises(TypeError, "dtype", "int32"):
        Sequential.from_file(tmp_path / "model.npz", dtype=np.int32)


@pytest.mark.parametrize("dtype", ["float16", np.float32])
def test_a_narrower_dtype_is_accepted_too(tmp_path, dtype):
    model, _, _ = every_kind()
    model.save(tmp_path / "model.npz")
    assert {value.dtype for value in Sequential.from_file(tmp_path / "model.npz", dtype=dtype)
            .state_dict().values()} == {np.dtype(dtype)}
