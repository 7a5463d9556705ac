"""docs/errors.md against the code: each row's example raises the documented type, and its message
holds the row's key word (the one part of the example message written in backticks).

Each row id (``E-...``) has a trigger below that makes the error happen; train.py rows run
``train.main`` and check its exit code and its stderr line. A row is needed only for an error worth
explaining to users: a new ``raise`` needs no row here, and its own test checks its type and key
words (``tests.helpers.raises``). Triggers run in an empty scratch folder and name their files
relatively, as the doc does.
"""

import contextlib
import errno
import fcntl
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import Mock

import numpy as np
import pytest

import checks.files
import train
from data import BatchStream, load_csv, make_spiral, minibatches, spawn_generators, train_val_split
from layers import (
    BatchNorm1d,
    Dropout,
    Layer,
    LeakyReLU,
    Linear,
    Loss,
    MSELoss,
    ReLU,
    SoftmaxCrossEntropy,
    Standardize,
    Tanh,
    check_gradients,
)
from models import Sequential, from_torch, to_torch
from optim import SGD, Adam, Optimizer, StepLR
from tests.helpers import (
    ROOT,
    SMALL,
    corrupted_member,
    foreign_npz,
    make_run,
    other_layers_checkpoint,
    pickled_npz,
    save_run,
    short_member,
    single_npy,
    truncated,
    two_layer,
    wider_checkpoint,
    write_bytes,
    zip_of_text,
)
from tests.helpers import train as train_in_a_subprocess
from training import (
    EarlyStopping,
    History,
    TrainingState,
    fit,
    read_checkpoint,
    restore,
    runs,
    save_checkpoint,
    settings,
)

HAVE_TORCH = importlib.util.find_spec("torch") is not None
TORCH_ROWS = {"E-from-torch-type", "E-from-torch-module", "E-from-torch-bias", "E-from-torch-dtype",
              "E-from-torch-batchnorm"}
ROW = re.compile(r"^\|\s*`(E-[a-z0-9-]+)`\s*\|")
CELL_BORDER = re.compile(r"(?<!\\)\|")


def doc_rows(text: str) -> dict[str, tuple[str, str]]:
    """Every row of the doc: id -> (what is raised, the key word of its message)."""
    rows = {}
    for line in text.splitlines():
        if match := ROW.match(line):
            cells = [cell.strip() for cell in CELL_BORDER.split(line.strip())[1:-1]]
            words = re.findall(r"`([^`]+)`", cells[2])
            assert len(cells) == 5 and len(words) == 1, f"{match[1]}: 5 cells, one key word in `code`: {line}"
            assert match[1] not in rows, f"row {match[1]} appears twice"
            rows[match[1]] = (cells[1].strip("`"), words[0].replace("\\|", "|").replace("↵", "\n"))
    return rows


DOC = doc_rows((ROOT / "docs" / "errors.md").read_text(encoding="utf-8"))
DOC_TYPES = {kind for kind, _ in DOC.values()}


@dataclass
class Cli:
    """A train.py row: ``train.main(argv)``, after ``setup(monkeypatch)`` prepared the folder."""
    argv: list[str]
    setup: object = field(default=lambda mp: None)


def outcome(trigger, monkeypatch) -> tuple[str, str]:
    """(the exception's type name, its message), or for train.py ("exit N", its last stderr line)."""
    if not isinstance(trigger, Cli):
        try:
            trigger()
        except Exception as exc:            # the most specific documented type it is an instance of
            names = [kind.__name__ for kind in type(exc).__mro__]
            return next((name for name in names if name in DOC_TYPES), names[0]), str(exc)
        return "nothing raised", ""
    trigger.setup(monkeypatch)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = train.main([str(arg) for arg in trigger.argv])
        except SystemExit as exc:             # argparse's usage errors
            code = exc.code
    return f"exit {code}", (stderr.getvalue().strip().splitlines() or [""])[-1]


# What the triggers build -------------------------------------------------------------------

def earlier_format(path):
    """A model file as the previous version wrote it: format backprop-parts/1, the architecture a repr."""
    np.savez(path, format=np.array("backprop-parts/1"), architecture=np.array(repr(two_layer())),
             **{"model/" + name: value for name, value in two_layer().state_dict().items()})
    return path


def damaged_architecture(path):
    """A file of this version whose architecture entry is not JSON."""
    two_layer().save(path)
    arrays = dict(np.load(path))
    np.savez(path, **dict(arrays, architecture=np.array("[{not json")))
    return path


def linear(d_in=2, d_out=3, **kwargs):
    return Linear(d_in, d_out, rng=np.random.default_rng(0), **kwargs)


def after_forward(layer):
    layer.forward(np.array([1.0, -2.0]))
    return layer


class Scale(Layer):
    """A learner's own layer that forgot to write forward and backward."""

    def __init__(self, s=None):
        super().__init__()
        self.params["s"] = np.ones(2) if s is None else s
        self.grads["s"] = None


class MyLoss(Loss):
    """A learner's own loss that forgot forward and backward."""


class MyOptimizer(Optimizer):
    """A learner's own optimizer that forgot update."""


def with_gradient(value=None):
    """A one-layer model after forward and backward, its W gradient replaced by ``value``."""
    model = Sequential(linear())
    model.forward(np.ones((4, 2)))
    model.backward(np.ones((4, 3)))
    if value is not None:
        model[0].grads["W"] = value
    return model


def load_into_a_stream(**change):
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=np.int64)
    saved = BatchStream(X, y, 3, rng=1)
    saved.next_batch()
    BatchStream(X, y, 3, rng=1).load_state_dict(dict(saved.state_dict(), **change))


def small_problem(lr=0.5, activation=Tanh):
    X, y = make_spiral(10, 3, rng=0)
    model = Sequential(linear(2, 8), activation(), linear(8, 3))
    return model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=lr), X, y


def fit_on(change):
    """fit of the small problem on its data changed by ``change(X, y)``."""
    model, loss_fn, optimizer, X, y = small_problem()
    fit(model, loss_fn, optimizer, *change(X, y), steps=2)


def fit_a_dead_network():
    """SGD at lr 50 kills a two-class ReLU model's units at once: the early divergence rule."""
    model = Sequential(linear(2, 16), ReLU(), linear(16, 2))
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=50), *make_spiral(20, 2, rng=0), steps=300)


def fit_with_batchnorm(n, **kwargs):
    """fit of a model with BatchNorm1d at model[1] on n rows."""
    X = np.random.default_rng(0).standard_normal((n, 2))
    model = Sequential(Linear(2, 4, rng=0), BatchNorm1d(4), ReLU(), Linear(4, 2, rng=1))
    return fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, (X[:, 0] > 0).astype(int),
               steps=5, rng=0, **kwargs)


def fit_twice(first, second, steps=(2, 4)):
    model, loss_fn, optimizer, X, y = small_problem()
    state = TrainingState()
    fit(model, loss_fn, optimizer, X, y, steps=steps[0], state=state, **first)
    fit(model, loss_fn, optimizer, *second.pop("data", (X, y)), steps=steps[1], state=state, **second)


def checkpoint_with(path="checkpoint.npz", **changes):
    """A real training checkpoint with entries replaced (or removed, for None)."""
    arrays = checks.files.read_npz(save_run(Path(path)))
    arrays.update(changes)
    np.savez(path, **{name: value for name, value in arrays.items() if value is not None})
    return path


def resume_from(path, batches=None):
    model, optimizer, state = make_run()
    if batches:                               # a mini-batch run's checkpoint ...
        state.batches = BatchStream(*make_spiral(10, 3, rng=0), 4, rng=0)
        save_checkpoint(path, model, optimizer, state, {"hidden": 8})
        state.batches = None                  # ... restored into a full-batch run
    restore(read_checkpoint(path), model, optimizer, state)


def resume_without_the_dropout_generator(path):
    model = Sequential(linear(2, 8), Tanh(), linear(8, 3), Dropout(0.5, rng=0))
    optimizer = SGD(model.parameters(), lr=0.5)
    save_checkpoint(path, model, optimizer, TrainingState(), {"hidden": 8})
    checkpoint = read_checkpoint(path)
    del checkpoint.arrays["rng/3"]          # as if its rng/3 entry were lost
    restore(checkpoint, model, optimizer, TrainingState())


def a_finished_run(config_changes=None, **entries):
    """run/checkpoint.npz: a copy of one small finished train.py run (made once), entries changed."""
    made = Path.cwd().parent / "finished_run"
    if not made.exists():
        with contextlib.redirect_stdout(io.StringIO()):
            assert train.main([*SMALL, "--steps", "2", "--out", str(made)]) == 0
    Path("run").mkdir()
    shutil.copy(made / "config.json", "run/config.json")            # a run's folder: its record ...
    path = shutil.copy(made / "checkpoint.npz", "run/checkpoint.npz")   # ... and its checkpoint
    arrays = checks.files.read_npz(path)
    arrays["config"] = np.array(json.dumps(dict(json.loads(str(arrays["config"])), **(config_changes or {}))))
    np.savez(path, **dict(arrays, **entries))


def claimed_while_starting(mp):
    """Another run claims run/ between train.py choosing the folder and claiming it, and ends there
    (diverged before its first checkpoint; while it runs, its lock would answer)."""
    real = settings.build_data

    def build_data(config):
        Path("run").mkdir()
        runs.write_record(Path("run"), {"versions": {"backprop-parts": "0.1.0"}}, "diverged", TrainingState())
        return real(config)
    mp.setattr(settings, "build_data", build_data)


def held_by_another_run(mp):
    """run/ is a run folder whose lock process 4242 holds (flock says so, as it would)."""
    a_finished_run()
    Path("run/.lock").write_text("4242\n")
    mp.setattr(fcntl, "flock", Mock(side_effect=BlockingIOError(errno.EWOULDBLOCK, "in use")))


def killed_before_its_first_checkpoint():
    """run/ as a kill during the first checkpoint's write leaves it: a record saying "running", the
    checkpoint's temporary file, no checkpoint.npz."""
    Path("run").mkdir()
    runs.write_record(Path("run"), {"versions": {"backprop-parts": "0.1.0"}}, "running", TrainingState())
    Path("run/.checkpoint.npz.backprop-0123456789abcdef.tmp").write_bytes(b"PK half")


def a_copied_checkpoint(mp):
    a_finished_run()
    Path("backup").mkdir()
    shutil.copy("run/checkpoint.npz", "backup/copy.npz")


def ctrl_c_twice(mp):
    """fit, as train.py calls it, after two Ctrl-Cs: the second aborts."""
    def fit_after_two_interrupts(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        return fit(*args, **kwargs)
    mp.setattr(train, "fit", fit_after_two_interrupts)


def a_csv_run_seen_from_elsewhere(mp):
    """run/: a finished run on points.csv, started here; then the current folder is elsewhere/."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--dataset", a_csv("1,2,0\n3,4,1\n"), "--steps", "2", "--hidden", "4",
                           "--no-progress", "--out", "run"]) == 0
    mp.chdir(folder("elsewhere"))


def scales_apart() -> str:
    """A CSV file's text: 40 points whose second coordinate spreads 1,000 times as far as the first."""
    X = np.random.default_rng(0).standard_normal((40, 2)) * [1, 1000]
    return "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X)


def early_stopping_without_val():
    model, state = two_layer(), TrainingState()
    state.should_stop = EarlyStopping(model, state, patience=3).should_stop
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), *make_spiral(5, 3, rng=0), steps=20,
        state=state)


def a_csv(text: str) -> str:
    Path("points.csv").write_text(text, encoding="utf-8")
    return "points.csv"


def unreadable(path):
    """Tests often run as root, who may open any file: ``open`` fails as without read permission."""
    two_layer().save(path)
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checks.files, "open", Mock(side_effect=denied), raising=False)
        two_layer().load(path)


def without_torch(call):
    """``call()`` as it runs where PyTorch is not installed (``import torch`` fails)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "torch", None)
        call()


def from_torch_of(make):
    """``from_torch`` of ``make(torch.nn)``, leaving torch's global generator alone."""
    import torch
    with torch.random.fork_rng():
        modules = make(torch.nn)
    from_torch(modules)


def folder(path):
    Path(path).mkdir()
    return path


LOSS = SoftmaxCrossEntropy
NAN_AT_1_0 = np.where(np.arange(6).reshape(3, 2) == 2, np.nan, 0.0)
M = "model.npz"
C = "checkpoint.npz"
RESUME = ["--resume", "run/checkpoint.npz", "--steps", "10"]


# The triggers, one per row of docs/errors.md ---------------------------------------------

TRIGGERS = {
    # Layers
    "E-layer-input-type": lambda: ReLU().forward([1.0, -2.0]),
    "E-layer-input-dtype": lambda: ReLU().forward(np.array([1, -2])),
    "E-layer-backward-first": lambda: Tanh().backward(np.ones(2)),
    "E-layer-dy-type": lambda: after_forward(ReLU()).backward([1.0, 1.0]),
    "E-layer-dy-shape": lambda: after_forward(ReLU()).backward(np.ones(3)),
    "E-layer-dy-dtype": lambda: after_forward(ReLU()).backward(np.ones(2, dtype=np.float32)),
    "E-layer-flag": lambda: ReLU().train(1),
    "E-layer-inplace": lambda: ReLU(inplace=True),
    "E-leaky-slope-type": lambda: LeakyReLU("0.1"),
    "E-leaky-slope-value": lambda: LeakyReLU(float("inf")),
    "E-layer-forward-missing": lambda: Scale().forward(np.ones(2)),
    "E-layer-backward-missing": lambda: Scale().backward(np.ones(2)),
    "E-linear-size-type": lambda: Linear(2.0, 3),
    "E-linear-size-value": lambda: Linear(2, 0),
    "E-linear-dtype-unknown": lambda: Linear(2, 3, dtype="fp32"),
    "E-linear-dtype-int": lambda: Linear(2, 3, dtype=np.int64),
    "E-linear-init-name": lambda: Linear(2, 3, init="kaiming"),
    "E-linear-init-type": lambda: Linear(2, 3, init=None),
    "E-linear-init-std": lambda: Linear(2, 3, init=-0.01),
    "E-linear-init-overflow": lambda: linear(init=1e300, dtype=np.float32),
    "E-linear-input-shape": lambda: linear().forward(np.ones((4, 3))),
    "E-linear-input-dtype": lambda: linear().forward(np.ones((4, 2), dtype=np.float32)),
    "E-dropout-p": lambda: Dropout(1.0),
    "E-batchnorm-one-row": lambda: BatchNorm1d(3).forward(np.ones((1, 3))),
    "E-batchnorm-features": lambda: BatchNorm1d(3).forward(np.ones((4, 2))),
    "E-batchnorm-momentum": lambda: BatchNorm1d(3, momentum=1.5),
    "E-standardize-range": lambda: Standardize.from_data(np.array([[-1.5e20], [1.5e20]], dtype=np.float32)),
    # Loss
    "E-mse-target-shape": lambda: MSELoss().forward(np.zeros((4, 1)), np.zeros(4)),
    "E-mse-target-dtype": lambda: MSELoss().forward(np.zeros((4, 1)), np.zeros((4, 1), dtype=np.int64)),
    "E-mse-target-mixed": lambda: MSELoss().forward(np.zeros((4, 1)), np.zeros((4, 1), dtype=np.float32)),
    "E-mse-target-nonfinite": lambda: MSELoss().forward(np.zeros((4, 1)), np.c_[[0, 0, np.nan, 0]]),
    "E-loss-scores-type": lambda: LOSS().forward([[1.0, 2.0]], [0]),
    "E-loss-scores-dtype": lambda: LOSS().forward(np.array([[1, 2]]), [0]),
    "E-loss-scores-ndim": lambda: LOSS().forward(np.zeros(3), [0, 1, 2]),
    "E-loss-scores-empty": lambda: LOSS().forward(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)),
    "E-loss-scores-nonfinite": lambda: LOSS().forward(NAN_AT_1_0, [0, 1, 1]),
    "E-loss-labels-ndim": lambda: LOSS().forward(np.zeros((3, 3)), np.zeros((3, 1), dtype=np.int64)),
    "E-loss-labels-onehot": lambda: LOSS().forward(np.zeros((3, 3)), np.eye(3)),
    "E-loss-labels-float": lambda: LOSS().forward(np.zeros((3, 3)), np.array([0.0, 1.0, 2.0])),
    "E-loss-labels-bool": lambda: LOSS().forward(np.zeros((3, 3)), np.array([True, False, True])),
    "E-loss-labels-length": lambda: LOSS().forward(np.zeros((3, 3)), np.array([0, 1])),
    "E-loss-label-range": lambda: LOSS().forward(np.zeros((3, 3)), np.array([0, 1, 5])),
    "E-loss-label-negative": lambda: LOSS().forward(np.zeros((3, 3)), np.array([0, 1, -1])),
    "E-loss-backward-first": lambda: LOSS().backward(),
    "E-loss-forward-missing": lambda: MyLoss().forward(np.zeros((3, 3)), [0, 1, 2]),
    "E-loss-backward-missing": lambda: MyLoss().backward(),
    # Sequential and model files
    "E-seq-list": lambda: Sequential([ReLU(), Tanh()]),
    "E-seq-empty": lambda: Sequential().forward(np.ones((4, 2))),
    "E-seq-not-a-layer": lambda: Sequential(linear(), 3),
    "E-seq-loss-inside": lambda: Sequential(linear(), LOSS()),
    "E-seq-loss-class": lambda: Sequential(linear(), LOSS),
    "E-seq-class": lambda: Sequential(Linear(2, 10), ReLU, Linear(10, 2)),
    "E-seq-nested": lambda: Sequential(Sequential(ReLU())),
    "E-seq-duplicate": lambda: (lambda relu: Sequential(linear(2, 4), relu, Linear(4, 4), relu))(ReLU()),
    "E-seq-layer-error": lambda: two_layer().forward(np.ones((5, 3))),
    "E-seq-index-type": lambda: two_layer()["0"],
    "E-seq-index-range": lambda: two_layer()[3],
    "E-seq-insert-type": lambda: two_layer().insert(1.5, Tanh()),
    "E-seq-insert-range": lambda: two_layer().insert(5, Tanh()),
    "E-seq-state-type": lambda: two_layer().load_state_dict(list(two_layer().state_dict().items())),
    "E-seq-state-fit": lambda: two_layer().load_state_dict({"0.W": np.zeros((2, 8)), "0.b": np.zeros(4)}),
    "E-file-missing": lambda: two_layer().load(M),
    "E-file-folder": lambda: two_layer().load(folder(M)),
    "E-file-unopenable": lambda: unreadable(M),
    "E-file-empty": lambda: two_layer().load(write_bytes(Path(M), b"")),
    "E-file-not-npz": lambda: two_layer().load(write_bytes(Path(M), b"hello, this is not numpy")),
    "E-file-truncated": lambda: two_layer().load(truncated(Path(M))),
    "E-file-single-npy": lambda: two_layer().load(single_npy(Path(M))),
    "E-file-pickled": lambda: two_layer().load(pickled_npz(Path(M))),
    "E-file-corrupted": lambda: two_layer().load(corrupted_member(Path(M))),
    "E-file-damaged-array": lambda: two_layer().load(short_member(Path(M))),
    "E-file-not-arrays": lambda: two_layer().load(zip_of_text(Path(M))),
    "E-file-foreign": lambda: two_layer().load(foreign_npz(Path(M))),
    "E-file-architecture": lambda: (two_layer().save(M),
                                    Sequential(linear(2, 4), Tanh(), linear(4, 3)).load(M)),
    "E-file-shape": lambda: (two_layer(hidden=4).save(M), two_layer(hidden=8).load(M)),
    "E-file-old-format": lambda: two_layer().load(earlier_format(Path(M))),
    "E-file-damaged-architecture": lambda: two_layer().load(damaged_architecture(Path(M))),
    "E-file-path-too-long": lambda: two_layer().load("x" * 300 + ".npz"),
    "E-save-no-folder": lambda: two_layer().save("nowhere/model.npz"),
    "E-save-onto-folder": lambda: two_layer().save(folder(M)),
    "E-save-path-too-long": lambda: two_layer().save("x" * 300 + ".npz"),
    "E-save-objects": lambda: Sequential(Scale(np.array([1.0, None]))).save(M),
    # PyTorch bridge
    "E-torch-missing": lambda: without_torch(lambda: to_torch(Sequential(linear()))),
    "E-to-torch-model": lambda: to_torch([linear()]),
    "E-to-torch-layer": lambda: to_torch(Sequential(linear(), Scale())),
    "E-to-torch-dtype": lambda: to_torch(Sequential(linear(dtype=np.longdouble))),
    "E-from-torch-type": lambda: from_torch_of(lambda nn: nn.Linear(2, 3)),
    "E-from-torch-module": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3), nn.GELU())),
    "E-from-torch-batchnorm": lambda: from_torch_of(
        lambda nn: nn.Sequential(nn.BatchNorm1d(3, momentum=None))),
    "E-from-torch-bias": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3, bias=False))),
    "E-from-torch-dtype": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3).bfloat16())),
    # Optimizers
    "E-opt-params-model": lambda: SGD(two_layer(), lr=0.1),
    "E-opt-params-empty": lambda: SGD(Sequential(ReLU()).parameters(), lr=0.1),
    "E-opt-param-twice": lambda: (lambda ps: SGD(ps + ps[:1], lr=0.1))(two_layer().parameters()),
    "E-opt-lr-type": lambda: SGD(two_layer().parameters(), lr="0.1"),
    "E-opt-lr-value": lambda: SGD(two_layer().parameters(), lr=-0.1),
    "E-opt-lr-nan": lambda: Adam(two_layer().parameters(), lr=float("nan")),
    "E-opt-momentum": lambda: SGD(two_layer().parameters(), lr=0.1, momentum=1.0),
    "E-opt-weight-decay": lambda: SGD(two_layer().parameters(), lr=0.1, weight_decay=-1e-4),
    "E-opt-nesterov-type": lambda: SGD(two_layer().parameters(), lr=0.1, momentum=0.9, nesterov="yes"),
    "E-opt-nesterov-momentum": lambda: SGD(two_layer().parameters(), lr=0.1, nesterov=True),
    "E-adam-betas-type": lambda: Adam(two_layer().parameters(), betas=0.9),
    "E-adam-beta-range": lambda: Adam(two_layer().parameters(), betas=(0.9, 1.0)),
    "E-adam-eps": lambda: Adam(two_layer().parameters(), eps=0),
    "E-opt-step-first": lambda: SGD(two_layer().parameters(), lr=0.1).step(),
    "E-opt-grad-shape": lambda: SGD(with_gradient(np.zeros(3)).parameters(), lr=0.1).step(),
    "E-opt-grad-nonfinite": lambda: SGD(with_gradient(np.where(np.eye(2, 3) > 0, 0.0, np.inf)).parameters(),
                                        lr=0.1).step(),
    "E-opt-update-missing": lambda: MyOptimizer(with_gradient().parameters()).step(),
    "E-opt-state-type": lambda: SGD(two_layer().parameters(), lr=0.1).load_state_dict(None),
    "E-opt-state-fit": lambda: SGD(two_layer().parameters(), lr=0.1).load_state_dict({"step": np.array(2.5)}),
    "E-opt-state-step-large": lambda: (lambda opt: opt.load_state_dict(
        dict(opt.state_dict(), step=np.array(2**64 - 1, dtype=np.uint64))))(Adam(two_layer().parameters())),
    # Data
    "E-spiral-count-type": lambda: make_spiral(n_per_class=100.0),
    "E-spiral-count-value": lambda: make_spiral(n_classes=0),
    "E-spiral-noise-type": lambda: make_spiral(noise="0.2"),
    "E-spiral-noise-value": lambda: make_spiral(noise=-0.1),
    "E-spiral-noise-overflow": lambda: make_spiral(noise=1e308, rng=0),
    "E-spiral-dtype-unknown": lambda: make_spiral(dtype="fp32"),
    "E-spiral-dtype-int": lambda: make_spiral(dtype=np.int32),
    "E-rng-type": lambda: make_spiral(rng=0.5),
    "E-spawn-seed-type": lambda: spawn_generators(seed=None, n=2),
    "E-spawn-seed-negative": lambda: spawn_generators(seed=-1, n=2),
    "E-spawn-n": lambda: spawn_generators(seed=0, n=0),
    "E-batch-not-arrays": lambda: minibatches([[0.0, 1.0], [2.0, 3.0]], [0, 1], 1),
    "E-batch-scalar": lambda: minibatches(np.array(1.0), np.array(0), 1),
    "E-batch-length": lambda: minibatches(np.ones((5, 2)), np.zeros(4, dtype=np.int64), 2),
    "E-split-fraction": lambda: train_val_split(*make_spiral(2, 2, rng=0), 1.0, rng=0),
    "E-split-sizes": lambda: train_val_split(*make_spiral(2, 2, rng=0), 0.1, rng=0),
    "E-batch-size-type": lambda: minibatches(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 2.0),
    "E-batch-size-value": lambda: BatchStream(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 0),
    "E-batch-shuffle": lambda: minibatches(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 2, shuffle="no"),
    "E-stream-state-damaged": lambda: load_into_a_stream(rng=np.array("not json")),
    "E-stream-state-order": lambda: load_into_a_stream(order=np.array([0, 0, 1])),
    "E-stream-state-position": lambda: load_into_a_stream(position=np.array(99)),
    "E-csv-missing": lambda: load_csv("points.csv"),
    "E-csv-empty": lambda: load_csv(a_csv("x1,x2,label\n")),
    "E-csv-cell": lambda: load_csv(a_csv("x1,x2,label\n0.5,1,0\n0.5,abc,1\n")),
    "E-csv-cells": lambda: load_csv(a_csv("0.5,1,0\n0.5,1\n")),
    "E-csv-label-column": lambda: load_csv(a_csv("x1,x2,class\n0.5,1,0\n")),
    "E-csv-label-whole": lambda: load_csv(a_csv("0.5,1,0\n0.5,1,0.5\n")),
    "E-csv-labels": lambda: load_csv(a_csv("0.5,1,1\n0.5,1,2\n")),
    "E-csv-label-mix": lambda: load_csv(a_csv("0.5,1,0\n0.5,1,l\n0.5,2,1\n")),
    "E-csv-header-twice": lambda: load_csv(a_csv("a,label,b,label\n1,0,2,1\n")),
    "E-csv-range": lambda: load_csv(a_csv("a,b,label\n1e39,2,0\n"), dtype=np.float32),
    "E-csv-unknown-label": lambda: load_csv(a_csv("x,y,label\n1,2,setosa\n3,4,virginica\n"),
                                            classes=["setosa", "versicolor"]),
    "E-csv-path-too-long": lambda: load_csv("x" * 300 + ".csv"),
    "E-csv-not-csv": lambda: load_csv(a_csv("x1,x2,label\n0.5," + "1" * 131_073 + ",0\n")),
    # Gradient checker
    "E-gradcheck-module": lambda: check_gradients(np.tanh, np.ones(3)),
    "E-gradcheck-x": lambda: check_gradients(Tanh(), [1.0, 2.0]),
    "E-gradcheck-dy": lambda: check_gradients(Tanh(), np.ones(3), dy=np.ones(2)),
    "E-gradcheck-labels": lambda: check_gradients(linear(), np.ones((4, 2)), loss=LOSS()),
    # Training and checkpoints
    "E-fit-steps-type": lambda: fit(*small_problem(), steps=2.5),
    "E-early-no-val": early_stopping_without_val,
    "E-schedule-optimizer": lambda: StepLR(two_layer(), 3),
    "E-fit-reg": lambda: fit(*small_problem(), steps=5, reg=-0.1),
    "E-fit-steps-value": lambda: fit(*small_problem(), steps=-1),
    "E-fit-log-every": lambda: fit(*small_problem(), steps=5, log_every=0),
    "E-fit-chunk-size-type": lambda: fit(*small_problem(), steps=5, state=TrainingState(chunk_size=1.5)),
    "E-fit-chunk-size-value": lambda: fit(*small_problem(), steps=5, state=TrainingState(chunk_size=0)),
    "E-fit-batchnorm-one-row": lambda: fit_with_batchnorm(9, batch_size=4),
    "E-fit-empty": lambda: fit_on(lambda X, y: (X[:0], y[:0])),
    "E-fit-data-nonfinite": lambda: fit_on(lambda X, y: (np.where(X == X[2, 1], np.nan, X), y)),
    "E-fit-val-type": lambda: fit(*small_problem(), steps=5, val=np.zeros((3, 2))),
    "E-fit-val-length": lambda: fit(*small_problem(), steps=5, val=(np.zeros((3, 2)), np.zeros(2, int))),
    "E-fit-backwards": lambda: fit_twice({}, {}, steps=(5, 3)),
    "E-fit-continue-batch-size": lambda: fit_twice({"batch_size": 4, "rng": 0}, {"batch_size": 8}),
    "E-fit-continue-data": lambda: fit_twice(
        {"batch_size": 4, "rng": 0}, {"batch_size": 4, "data": make_spiral(10, 3, rng=1)}),
    "E-fit-diverged": lambda: (lambda run: fit(*run, steps=5))(small_problem(lr=1e200, activation=ReLU)),
    "E-fit-diverged-stuck": lambda: fit(*small_problem(lr=1e10, activation=ReLU), steps=200, log_every=1),
    "E-fit-diverged-start": lambda: (lambda m, loss, opt, X, y: fit(m, loss, opt, X * 1e308, y, steps=2))(
        *small_problem(activation=ReLU)),
    "E-fit-diverged-early": lambda: fit_a_dead_network(),
    "E-fit-diverge-factor": lambda: fit(*small_problem(), steps=2, state=TrainingState(diverge_factor=0.5)),
    "E-history-column": lambda: History().column("accuracy"),
    "E-ckpt-weights-only": lambda: (two_layer().save(C), read_checkpoint(C)),
    "E-ckpt-missing-entry": lambda: read_checkpoint(checkpoint_with(Path(C), step=None)),
    "E-ckpt-config": lambda: read_checkpoint(checkpoint_with(Path(C), config=np.array("[8]"))),
    "E-ckpt-step": lambda: read_checkpoint(checkpoint_with(Path(C), step=np.array(7.9))),
    "E-ckpt-nested": lambda: read_checkpoint(checkpoint_with(Path(C), config=np.array("[" * 100_000))),
    "E-ckpt-history-columns": lambda: read_checkpoint(
        checkpoint_with(Path(C), **{"history/val_loss": None, "history/val_accuracy": None})),
    "E-ckpt-history-lengths": lambda: read_checkpoint(
        checkpoint_with(Path(C), **{"history/loss": np.zeros(7)})),
    "E-ckpt-architecture": lambda: resume_from(other_layers_checkpoint(Path(C))),
    "E-ckpt-shape": lambda: resume_from(wider_checkpoint(Path(C))),
    "E-ckpt-batches": lambda: resume_from(C, batches=True),
    "E-ckpt-random-layers": lambda: resume_without_the_dropout_generator(C),
    # train.py
    "E-cli-whole-number": Cli(["--hidden", "wide"]),
    "E-cli-minimum": Cli(["--points", "0"]),
    "E-cli-maximum": Cli(["--classes", "1001"]),
    "E-cli-number": Cli(["--lr", "fast"]),
    "E-cli-number-range": Cli(["--lr", "-1"]),
    "E-cli-negative-number": Cli(["--lr", "-inf"]),
    "E-cli-chunk-size": Cli(["--chunk-size", "-1"]),
    "E-cli-init": Cli(["--init", "kaiming"]),
    "E-cli-out-empty": Cli(["--out", ""]),
    "E-cli-choice": Cli(["--activation", "gelu"]),
    "E-cli-unknown-flag": Cli(["--bogus"]),
    "E-cli-typo": Cli(["--hiden", "64"]),
    "E-cli-adam-momentum": Cli(["--optimizer", "adam", "--momentum", "0.9"]),
    "E-cli-val-fraction": Cli(["--points", "2", "--val-fraction", "0.1"]),
    "E-cli-batchnorm-one-row": Cli(["--batchnorm", "--batch-size", "799"]),
    "E-cli-dataset": Cli(["--dataset", "blobs"]),
    "E-cli-dataset-classes": Cli(["--dataset", "moons", "--classes", "3"]),
    "E-cli-dataset-csv": Cli(["--dataset", "points.csv"], lambda mp: a_csv("x1,x2,label\n1,2,0\n1,two,1\n")),
    "E-cli-dataset-csv-classes": Cli(["--dataset", "points.csv"], lambda mp: a_csv("1,2,0\n3,4,0\n")),
    "E-cli-dataset-csv-flags": Cli(["--dataset", "points.csv", "--points", "10"],
                                   lambda mp: a_csv("1,2,0\n3,4,1\n")),
    "E-cli-label-column": Cli(["--label-column", "target"]),
    "E-cli-patience": Cli(["--patience", "5"]),
    "E-cli-lr-schedule": Cli(["--lr-schedule", "step"]),
    "E-cli-lr-step-size": Cli(["--lr-step-size", "5"]),
    "E-cli-test-features": Cli(["--dataset", "points.csv", "--test", "wide.csv"], lambda mp: (
        a_csv("1,2,0\n3,4,1\n"), Path("wide.csv").write_text("1,2,3,0\n"))),
    "E-cli-predict-alone": Cli(["--predict", "new.csv"]),
    "E-cli-predict-columns": Cli(["--resume", "run", "--predict", "wide.csv"], lambda mp: (
        a_finished_run(), Path("wide.csv").write_text("x1,x2,x3,x4\n1,2,3,4\n"))),
    "E-cli-animate": Cli(["--resume", "run", "--plot-only", "--animate"]),
    "E-cli-library-rule": Cli(["--init", "1e38", "--dtype", "float32"]),
    "E-cli-noise-overflow": Cli(["--dataset", "moons", "--dtype", "float32", "--noise", "1e39"]),
    "E-cli-decay": Cli(["--reg", "1e308"]),
    "E-cli-too-large": Cli(["--hidden", "1000000000000000000"]),
    "E-cli-resume-missing": Cli(["--resume", "nope.npz"]),
    "E-cli-resume-unsaved": Cli(["--resume", "run"], lambda mp: killed_before_its_first_checkpoint()),
    "E-cli-resume-folder": Cli(["--resume", "run"], lambda mp: folder("run")),
    "E-cli-resume-data-file": Cli(["--resume", "../run", "--steps", "10"], a_csv_run_seen_from_elsewhere),
    "E-cli-record-damaged": Cli(["--resume", "run", "--plot-only"], lambda mp: (
        a_finished_run(), Path("run/config.json").write_text('{"versions": {"backprop-parts": "0.1.0"}}'))),
    "E-cli-resume-damaged": Cli(RESUME, lambda mp: a_finished_run({"activation": "gelu"})),
    "E-cli-resume-step": Cli(RESUME, lambda mp: a_finished_run(step=np.array(-5))),
    "E-cli-resume-clash": Cli([*RESUME, "--hidden", "32"], lambda mp: a_finished_run()),
    "E-cli-resume-steps": Cli([*RESUME[:-1], "2"], lambda mp: a_finished_run()),
    "E-cli-resume-weights": Cli(RESUME, lambda mp: a_finished_run(**{"model/0.W": np.zeros((2, 8))})),
    "E-cli-out-file": Cli([*SMALL, "--out", "notes.txt"], lambda mp: Path("notes.txt").write_text("")),
    "E-cli-out-taken": Cli([*SMALL, "--out", "run"], lambda mp: a_finished_run()),
    "E-cli-out-claimed": Cli([*SMALL, "--out", "run"], claimed_while_starting),
    "E-cli-out-foreign": Cli([*SMALL, "--out", "mine"],
                             lambda mp: Path(folder("mine"), "history.csv").write_text("mine\n")),
    "E-cli-in-use": Cli(RESUME, held_by_another_run),
    "E-cli-resume-outside": Cli(["--resume", "backup/copy.npz", "--steps", "10"], a_copied_checkpoint),
    "E-cli-path-too-long": Cli([*SMALL, "--out", "x" * 300]),
    "E-cli-resume-path-too-long": Cli(["--resume", "x" * 300]),
    "E-cli-plot-only": Cli(["--plot-only"]),
    "E-cli-plot-only-in-use": Cli([*RESUME[:2], "--plot-only"], held_by_another_run),
    "E-cli-figure": Cli([*SMALL, "--steps", "2", "--out", "run"], lambda mp: mp.setattr(
        train.report, "plot_curves",
        Mock(side_effect=OverflowError("cannot convert float infinity to integer")))),
    "E-cli-chance": Cli([*SMALL, "--lr", "50", "--steps", "30", "--diverge-factor", "0", "--out", "run"]),
    "E-cli-unwritable": Cli([*SMALL, "--out", "notes.txt/run"], lambda mp: Path("notes.txt").write_text("")),
    "E-cli-memory": Cli(SMALL,
                        lambda mp: mp.setattr(settings, "build_model", Mock(side_effect=MemoryError))),
    "E-cli-diverged": Cli([*SMALL, "--lr", "1e200", "--steps", "50", "--checkpoint-every", "1",
                           "--out", "run"]),
    "E-cli-diverged-early": Cli([*SMALL, "--lr", "50", "--steps", "300", "--out", "run"]),
    "E-cli-diverged-scales": Cli(["--dataset", "points.csv", "--hidden", "8", "--steps", "50",
                                  "--out", "run"], lambda mp: a_csv(scales_apart())),
    "E-cli-diverged-stuck": Cli([*SMALL, "--lr", "1e10", "--steps", "600", "--log-every", "1",
                                 "--checkpoint-every", "10", "--out", "run"]),
    "E-cli-unexpected": Cli([*SMALL, "--steps", "2", "--out", "run"], lambda mp: mp.setattr(
        train.report, "draw_figures", Mock(side_effect=ZeroDivisionError("boom")))),
    "E-cli-figures-interrupted": Cli([*SMALL, "--steps", "2", "--out", "run"], lambda mp: mp.setattr(
        train.report, "plot_curves", Mock(side_effect=KeyboardInterrupt))),
    "E-cli-interrupted-early": Cli(SMALL, lambda mp: mp.setattr(settings, "build_data",
                                                              Mock(side_effect=KeyboardInterrupt))),
    "E-cli-abort": Cli([*SMALL, "--steps", "50", "--out", "run"], ctrl_c_twice),
}


# Rows also run as ``python train.py`` in a subprocess (about 1 s each): what the shell sees.
SUBPROCESS_ROWS = ["E-cli-minimum", "E-cli-resume-missing"]


def test_every_row_has_a_trigger_and_every_trigger_a_row():
    assert sorted(set(DOC) - set(TRIGGERS)) == [], "rows in docs/errors.md without a trigger here"
    assert sorted(set(TRIGGERS) - set(DOC)) == [], "triggers here without a row in docs/errors.md"


@pytest.mark.parametrize("row", sorted(DOC))
def test_the_example_raises_the_documented_type_with_its_key_word(row, tmp_path, monkeypatch):
    if row in TORCH_ROWS and not HAVE_TORCH:
        pytest.skip(f"{row} needs torch")
    monkeypatch.chdir(tmp_path)
    kind, message = outcome(TRIGGERS[row], monkeypatch)
    assert (kind, DOC[row][1] in message.replace(str(tmp_path) + os.sep, "")) == (DOC[row][0], True), message


def test_no_key_word_is_a_number_a_machine_may_round_differently():
    """A diverging run stops at its first non-finite score: nan, inf or -inf, as the CPU's BLAS rounds."""
    assert [row for row, (_, word) in DOC.items() if re.fullmatch(r"[-+\d.e]+|-?inf|nan", word)] == []


@pytest.mark.parametrize("row", SUBPROCESS_ROWS)
def test_train_py_in_a_subprocess_prints_the_documented_line(row, tmp_path):
    result = train_in_a_subprocess(*TRIGGERS[row].argv, cwd=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert f"exit {result.returncode}" == DOC[row][0] and len(lines) == 1, result.stderr
    assert DOC[row][1] in lines[0]


def test_the_resume_clash_row_lists_exactly_the_flags_a_resumed_run_may_change():
    free = ", ".join(f"--{name.replace('_', '-')}" for name in settings.FREE_ON_RESUME)
    [row] = [line for line in (ROOT / "docs" / "errors.md").read_text(encoding="utf-8").splitlines()
             if line.startswith("| `E-cli-resume-clash` |")]
    assert f"({free}, --out and --no-progress may change)" in row
    assert row.rstrip(" |").endswith(f"only {free}, --out and --no-progress may change.")
