"""What several test files share: an error check, small models, damaged files, runs of train.py.

Test files import from here, never from each other, so a test file can change without breaking
another one.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from checks.files import read_npz
from data import make_spiral
from layers import LeakyReLU, Linear, ReLU, Sigmoid, SoftmaxCrossEntropy, Tanh
from models import Sequential
from optim import SGD
from training import TrainingState, fit, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent


# Errors: the type and the words that matter -----------------------------------------------

@contextlib.contextmanager
def raises(error, *words, match=None):
    """``pytest.raises(error)``, and the message must contain each of ``words``: the culprit's name
    and value, the expectation, the fix. The rest of the sentence may be reworded freely.

    ``match`` (a regex, as in pytest.raises) is only for where a position is the point, such as
    ``r"^model\\[2\\]: "`` for a message that must start with the layer's position."""
    with pytest.raises(error, match=match) as caught:
        yield caught
    message = str(caught.value)
    missing = [word for word in words if word not in message]
    assert not missing, f"{missing} not in the message: {message}"


# Models and gradient checks ----------------------------------------------------------------

TOL = 1e-7                                  # the bar every correct backward must clear
ACTIVATIONS = {"relu": ReLU, "leaky_relu": lambda: LeakyReLU(0.1), "tanh": Tanh, "sigmoid": Sigmoid}


def two_layer(hidden=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Sequential(Linear(2, hidden, rng=rng, dtype=dtype), ReLU(),
                      Linear(hidden, 3, rng=rng, dtype=dtype))


def away_from_zero(rng, shape, margin=0.05):
    """Standard normal entries pushed at least ``margin`` away from ReLU's kink at 0."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def assert_passes(report):
    assert report.passed_at(TOL), f"\n{report}"


def stack(activation, depth, widths, rng):
    """Linear → activation, ``depth`` times, then a final Linear."""
    layers = []
    for d_in, d_out in zip(widths[:depth], widths[1:depth + 1], strict=True):
        layers += [Linear(d_in, d_out, rng=rng, init="xavier"), ACTIVATIONS[activation]()]
    layers.append(Linear(widths[depth], widths[-1], rng=rng, init="xavier"))
    for layer in layers:
        if isinstance(layer, Linear):
            layer.params["b"][...] = 0.1 * rng.standard_normal(layer.out_features)
    return Sequential(*layers)


def mixed_stack(rng: np.random.Generator) -> Sequential:
    """Every layer kind we have, with non-zero biases so that copying b is put to the test."""
    model = Sequential(
        Linear(3, 8, rng=rng), ReLU(),
        Linear(8, 7, rng=rng), Tanh(),
        Linear(7, 6, rng=rng), Sigmoid(),
        Linear(6, 5, rng=rng), LeakyReLU(0.05),
        Linear(5, 4, rng=rng),
    )
    for layer in model:
        if isinstance(layer, Linear):
            layer.params["b"][...] = 0.5 * rng.standard_normal(layer.out_features)
    return model


def assert_same_model(back, model):
    """``back`` is ``model`` bit for bit: the same repr, and every weight and buffer of the same name,
    dtype and bytes, in the same order."""
    assert repr(back) == repr(model)
    ours, theirs = model.state_dict(), back.state_dict()
    assert list(theirs) == list(ours)
    for name in ours:
        assert theirs[name].dtype == ours[name].dtype
        assert theirs[name].tobytes() == ours[name].tobytes(), name


def in_our_layout(t) -> np.ndarray:
    """A torch weight [D_out x D_in] as our W [D_in x D_out]; a bias as it is."""
    a = t.detach().numpy()
    return a.T if a.ndim == 2 else a


# Damaged model files -----------------------------------------------------------------------

def write_bytes(path, data):
    path.write_bytes(data)
    return path


def foreign_npz(path):
    np.savez(path, weights=np.ones(3))
    return path


def single_npy(path):
    with open(path, "wb") as file:
        np.save(file, np.ones(3))
    return path


def zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", "hello")
    return path


def pickled_npz(path):
    np.savez(path, format=np.array("backprop-parts/1"), **{"model/0.W": np.array([{"a": 1}], dtype=object)})
    return path


def truncated(path):
    two_layer().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def corrupted_member(path):
    two_layer().save(path)
    data = bytearray(path.read_bytes())
    data[200:260] = b"x" * 60                     # inside the first array's bytes: the CRC no longer matches
    path.write_bytes(bytes(data))
    return path


def short_member(path):
    """An .npz whose member claims 10 numbers but holds 1: NumPy's reader stops with a ValueError."""
    buffer = io.BytesIO()
    np.save(buffer, np.arange(10.0))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", buffer.getvalue()[:-72])
    return path


# Training checkpoints ----------------------------------------------------------------------

def make_run(hidden=8, seed=0, activation=Tanh):
    """A small model trained for 5 steps, its optimizer and state."""
    X, y = make_spiral(10, 3, rng=seed)
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(2, hidden, rng=rng), activation(), Linear(hidden, 3, rng=rng))
    optimizer = SGD(model.parameters(), lr=0.5, momentum=0.9)
    state = TrainingState()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=5, log_every=5, state=state)
    return model, optimizer, state


def save_run(path, **kwargs):
    model, optimizer, state = make_run(**kwargs)
    save_checkpoint(path, model, optimizer, state, {"hidden": kwargs.get("hidden", 8)})
    return path


def wider_checkpoint(path):
    return save_run(path, hidden=16)


def other_layers_checkpoint(path):
    return save_run(path, activation=ReLU)


# train.py ----------------------------------------------------------------------------------

SMALL = ["--points", "40", "--classes", "3", "--hidden", "16", "--no-progress"]


def train(*args, cwd):
    """``python train.py *args`` in a subprocess, in the folder ``cwd``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_same_files(a: Path, b: Path):
    """Two runs' checkpoints hold the same bytes in every entry, and their histories are identical."""
    first, second = read_npz(a / "checkpoint.npz"), read_npz(b / "checkpoint.npz")
    assert first.keys() == second.keys()
    for name in first:                       # weights, optimizer, batch order and generator, history
        x, y = first[name], second[name]
        assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), name
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()


def edited_checkpoint(path: Path, out: Path, *, step: int | None = None, **changes) -> Path:
    """A copy at ``out`` of the checkpoint at ``path``, its config JSON edited: valid JSON, other
    settings (a value of None deletes the setting); ``step`` replaces the step count."""
    arrays = read_npz(path)
    config = json.loads(str(arrays["config"]))
    for name, value in changes.items():
        if value is None:
            del config[name]
        else:
            config[name] = value
    arrays["config"] = np.array(json.dumps(config))
    if step is not None:
        arrays["step"] = np.array(step)
    np.savez(out, **arrays)
    return out
