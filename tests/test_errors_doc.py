"""docs/errors.md is checked against the code: every row's example is raised, word for word.

Each row of the doc starts with an id such as ``E-loss-label-range``. ``TRIGGERS`` below holds,
for every id, the code that makes the error happen. The tests check that

- each documented row has a trigger, and each trigger a row;
- each trigger raises exactly the documented exception type with exactly the documented message
  (``train.py`` rows: ``train.main`` returns the documented exit code and prints the documented
  line on stderr; two of them also run ``python train.py`` in a subprocess);
- every ``raise`` statement in the library (layers/, models/, optim/, data/, training/, train.py)
  is reached by at least one row's example. Which statement raised is read from the traceback of
  the exception (and of the exceptions it was raised from, as Python prints them), so a new
  ``raise`` without a documented example fails ``test_every_raise_in_the_library_has_a_documented_example``.

Each trigger runs in its own empty scratch folder, which is the current directory, and names its
files relatively ("model.npz"), so the messages show the file names the doc shows. Should an
absolute path to the scratch folder still appear in a message, it is removed before comparing.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import models.savefile
import train
from data import BatchStream, make_spiral, minibatches, spawn_generators
from layers import (Layer, LeakyReLU, Linear, Loss, Parameter, ReLU, SoftmaxCrossEntropy, Tanh,
                    check_gradients)
from models import Sequential, from_torch, to_torch
from optim import SGD, Adam, Optimizer
from tests.test_faults import make_run, other_layers_checkpoint, save_run, wider_checkpoint
from tests.test_sequential import (corrupted_member, foreign_npz, pickled_npz, single_npy, truncated,
                                   two_layer, write_bytes, zip_of_text)
from tests.test_train_cli import SMALL
from tests.test_train_cli import train as train_in_a_subprocess
from training import History, TrainingState, fit, read_checkpoint, restore, save_checkpoint

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "errors.md"
LIBRARY = ["layers", "models", "optim", "data", "training", "train.py"]
# Rows whose example needs PyTorch, and the functions whose raises only they reach: without torch,
# these rows are skipped and those raises are not asked for.
HAVE_TORCH = importlib.util.find_spec("torch") is not None
TORCH_ROWS = {"E-from-torch-type", "E-from-torch-module", "E-from-torch-bias", "E-from-torch-dtype"}
TORCH_ONLY_SITES = {("models/torch_bridge.py", "from_torch"), ("models/torch_bridge.py", "_our_layer")}


# The doc's rows -----------------------------------------------------------------------------

ROW = re.compile(r"^\|\s*`(E-[a-z0-9-]+)`\s*\|")
CELL_BORDER = re.compile(r"(?<!\\)\|")
CODE_SPAN = re.compile(r"^(`+) ?(.*?) ?\1$")
LINE_BREAK = "↵"                # how the doc writes a line break inside a longer message


def doc_rows(text: str) -> dict[str, tuple[str, str]]:
    """Every row of the doc: id -> (what is raised, the example message as the user sees it)."""
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line)
        if not match:
            continue
        cells = [cell.strip() for cell in CELL_BORDER.split(line.strip())[1:-1]]
        assert len(cells) == 5, f"row {match[1]} should have 5 cells (id, type, message, meaning, fix): {line}"
        assert match[1] not in rows, f"row {match[1]} appears twice"
        span = CODE_SPAN.match(cells[2])
        assert span, f"row {match[1]}: the message should be a code span: {cells[2]}"
        message = span[2].replace("\\|", "|").replace(LINE_BREAK, "\n")
        rows[match[1]] = (cells[1].strip("`"), message)
    return rows


# Running a trigger --------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str                   # the exception's type name, or "exit N" for train.py
    message: str                # str(exception), or train.py's last line on stderr
    raised: list[BaseException] = field(default_factory=list)   # for the raise sites


@dataclass
class Cli:
    """A train.py row: ``python train.py *argv``, after ``prepared()`` prepared the folder."""

    argv: list[str]
    setup: object = None


def run_python(trigger) -> Outcome:
    try:
        trigger()
    except Exception as exc:
        return Outcome(type(exc).__name__, str(exc), [exc])
    return Outcome("nothing raised", "")


def run_cli(cli: Cli) -> Outcome:
    """``train.main(argv)`` in this process: its exit code, its last stderr line, and the exception
    behind it (caught on its way out of ``train.run``, or the SystemExit of a usage error)."""
    caught = []
    real_run = train.run

    def recording_run(args, parser):
        try:
            return real_run(args, parser)
        except BaseException as exc:
            caught.append(exc)
            raise

    stderr = io.StringIO()
    with contextlib.ExitStack() as stack:
        if cli.setup is not None:
            stack.enter_context(cli.setup())
        train.run = recording_run
        stack.callback(setattr, train, "run", real_run)
        stack.enter_context(contextlib.redirect_stderr(stderr))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            code = train.main([str(arg) for arg in cli.argv])
        except SystemExit as exc:             # argparse's usage errors
            code = exc.code
            caught.append(exc)
    lines = stderr.getvalue().strip().splitlines()
    return Outcome(f"exit {code}", lines[-1] if lines else "", caught)


def run_trigger(trigger, folder: Path) -> Outcome:
    folder.mkdir(parents=True)
    previous = os.getcwd()
    os.chdir(folder)
    try:
        outcome = run_cli(trigger) if isinstance(trigger, Cli) else run_python(trigger)
    finally:
        os.chdir(previous)
    outcome.message = outcome.message.replace(str(folder) + os.sep, "").replace(str(folder.resolve()) + os.sep, "")
    return outcome


# Raise sites --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    file: str                   # relative to the repository, e.g. "layers/losses.py"
    function: str               # qualified name, e.g. "Sequential._check_layer"
    error: str                  # the raised expression's type, e.g. "ValueError"
    first_line: int
    last_line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.first_line} {self.function} raises {self.error}"


def library_files() -> list[Path]:
    return sorted(path for name in LIBRARY for path in ((ROOT / name).glob("*.py") if (ROOT / name).is_dir()
                                                        else [ROOT / name]))


def raise_sites() -> list[Site]:
    """Every ``raise X(...)`` in the library; a bare ``raise`` (passing an exception on) is not a site."""
    sites = []
    for path in library_files():
        file = path.relative_to(ROOT).as_posix()

        def visit(node, names):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    visit(child, names + [child.name])
                    continue
                if isinstance(child, ast.Raise) and child.exc is not None:
                    raised = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                    sites.append(Site(file, ".".join(names) or "<module>", ast.unparse(raised),
                                      child.lineno, child.end_lineno))
                visit(child, names)

        visit(ast.parse(path.read_text(encoding="utf-8")), [])
    return sites


def raise_points(exc: BaseException) -> set[tuple[str, int]]:
    """(file, line) where ``exc`` and each exception it was raised from (as a traceback shows
    them: ``__cause__``, and ``__context__`` unless ``from None`` hid it) were raised."""
    points, todo, seen = set(), [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            points.add((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        todo.append(e.__cause__)
        if not e.__suppress_context__:
            todo.append(e.__context__)
    return points


def sites_reached(outcome: Outcome, sites: list[Site]) -> set[Site]:
    points = {point for exc in outcome.raised for point in raise_points(exc)}
    return {site for site in sites for file, line in points
            if Path(file).resolve() == ROOT / site.file and site.first_line <= line <= site.last_line}


# Sites no user can reach, each with the reason. A site listed here must still exist (so the list
# stays current) and must not be reached by any row (else it belongs in the doc, not here).
EXCLUDED: dict[tuple[str, str, str], str] = {}


# Helpers for the triggers -------------------------------------------------------------------

def rng():
    return np.random.default_rng(0)


def linear(d_in=2, d_out=3, **kwargs):
    return Linear(d_in, d_out, rng=rng(), **kwargs)


def relu_after_forward():
    layer = ReLU()
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


def trained_once(model=None):
    """A model after one forward and backward, so that every parameter has a gradient."""
    model = Sequential(linear()) if model is None else model
    model.forward(np.ones((4, 2)))
    model.backward(np.ones((4, 3)))
    return model


def set_gradient(value):
    model = trained_once()
    model[0].grads["W"] = value
    return model


def raise_if_called(error):
    def fake(*args, **kwargs):
        raise error
    return fake


@contextlib.contextmanager
def patched(owner, name, value):
    old = getattr(owner, name, None)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if old is None:
            delattr(owner, name)
        else:
            setattr(owner, name, old)


def short_member(path):
    """An .npz whose member claims 10 numbers but holds 1: NumPy's reader stops with a ValueError."""
    buffer = io.BytesIO()
    np.save(buffer, np.arange(10.0))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", buffer.getvalue()[:-72])
    return path


def fresh_stream():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=np.int64)
    stream = BatchStream(X, y, 3, rng=1)
    stream.next_batch()
    return stream


def load_into_fresh_stream(**change):
    BatchStream(np.zeros((10, 2)), np.zeros(10, dtype=np.int64), 3, rng=1).load_state_dict(
        dict(fresh_stream().state_dict(), **change))


def fit_small(**kwargs):
    model, loss_fn, optimizer, X, y = small_problem()
    return fit(model, loss_fn, optimizer, X, y, **kwargs)


def small_problem(lr=0.5, activation=Tanh):
    X, y = make_spiral(10, 3, seed=0)
    model = Sequential(linear(2, 8), activation(), Linear(8, 3, rng=rng()))
    return model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=lr), X, y


def continue_with(first, second):
    model, loss_fn, optimizer, X, y = small_problem()
    state = TrainingState()
    fit(model, loss_fn, optimizer, X, y, steps=2, state=state, **first)
    fit(model, loss_fn, optimizer, *second.pop("data", (X, y)), steps=4, state=state, **second)


def checkpoint_with(path, **changes):
    """A real training checkpoint (``save_run``) with entries replaced (or removed, for None)."""
    save_run(path)
    arrays = models.savefile.read_npz(path)
    for name, value in changes.items():
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)
    return path


def resume_from(path):
    model, optimizer, state = make_run()
    restore(read_checkpoint(path), model, optimizer, state)


def minibatch_checkpoint_into_a_full_batch_run():
    model, optimizer, state = make_run()
    X, y = make_spiral(10, 3, seed=0)
    state.batches = BatchStream(X, y, 4, rng=0)
    save_checkpoint("checkpoint.npz", model, optimizer, state, {"hidden": 8})
    resume_from("checkpoint.npz")


_good_run: list[Path] = []


def a_finished_run(folder="run"):
    """Copy of one small finished run of train.py (made once), as ``folder``/checkpoint.npz."""
    if not _good_run:
        made = Path(os.getcwd()).parent / "_finished_run"
        with contextlib.redirect_stdout(io.StringIO()):
            assert train.main([*SMALL, "--steps", "2", "--out", str(made)]) == 0
        _good_run.append(made / "checkpoint.npz")
    Path(folder).mkdir(exist_ok=True)
    shutil.copy(_good_run[0], Path(folder) / "checkpoint.npz")
    return Path(folder) / "checkpoint.npz"


def edited_finished_run(config_changes=None, **entries):
    path = a_finished_run()
    arrays = models.savefile.read_npz(path)
    config = json.loads(str(arrays["config"]))
    config.update(config_changes or {})
    arrays["config"] = np.array(json.dumps(config))
    arrays.update(entries)
    np.savez(path, **arrays)


@contextlib.contextmanager
def prepared(action, *patches):
    """Run ``action()`` in the scratch folder, then keep ``patches`` (owner, name, value) in place."""
    if action is not None:
        action()
    with contextlib.ExitStack() as stack:
        for owner, name, value in patches:
            stack.enter_context(patched(owner, name, value))
        yield


def another_run_claims(folder):
    """build_data, which runs between choosing the folder and claiming it, lets another run claim it."""
    real = train.build_data

    def build_data(config):
        Path(folder).mkdir()
        Path(folder, "config.json").write_text("{}")
        return real(config)
    return (train, "build_data", build_data)


def ctrl_c_twice():
    """fit, as train.py calls it, after two Ctrl-Cs: the second aborts."""
    def fit_after_two_interrupts(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        return fit(*args, **kwargs)
    return (train, "fit", fit_after_two_interrupts)


def without_torch(call):
    """``call()`` as it runs where PyTorch is not installed (``import torch`` fails)."""
    with patched_dict(sys.modules, "torch", None):
        return call()


@contextlib.contextmanager
def patched_dict(mapping, key, value):
    missing = object()
    old = mapping.get(key, missing)
    mapping[key] = value
    try:
        yield
    finally:
        if old is missing:
            del mapping[key]
        else:
            mapping[key] = old


def from_torch_of(make):
    """``from_torch`` of a ``torch.nn.Sequential`` built from ``make(nn)``, without touching
    torch's global generator (``nn.Linear`` draws its first weights from it)."""
    import torch
    with torch.random.fork_rng():
        modules = make(torch.nn)
    return from_torch(modules)


LOSS = SoftmaxCrossEntropy
SCORES = np.zeros((3, 3))
NAN_AT_1_0 = np.where(np.arange(6).reshape(3, 2) == 2, np.nan, 0.0)


# The triggers, one per documented row ---------------------------------------------------------

TRIGGERS = {
    # Layers
    "E-layer-input-type": lambda: ReLU().forward([1.0, -2.0]),
    "E-layer-input-dtype": lambda: ReLU().forward(np.array([1, -2])),
    "E-layer-backward-first": lambda: Tanh().backward(np.ones(2)),
    "E-layer-dy-type": lambda: relu_after_forward().backward([1.0, 1.0]),
    "E-layer-dy-shape": lambda: relu_after_forward().backward(np.ones(3)),
    "E-layer-dy-dtype": lambda: relu_after_forward().backward(np.ones(2, dtype=np.float32)),
    "E-layer-flag": lambda: ReLU(inplace=1),
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
    "E-linear-rng": lambda: Linear(2, 3, rng=0),
    "E-linear-input-shape": lambda: linear().forward(np.ones((4, 3))),
    "E-linear-input-dtype": lambda: linear().forward(np.ones((4, 2), dtype=np.float32)),
    # Loss
    "E-loss-scores-type": lambda: LOSS().forward([[1.0, 2.0]], [0]),
    "E-loss-scores-dtype": lambda: LOSS().forward(np.array([[1, 2]]), [0]),
    "E-loss-scores-ndim": lambda: LOSS().forward(np.zeros(3), [0, 1, 2]),
    "E-loss-scores-empty": lambda: LOSS().forward(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)),
    "E-loss-scores-nonfinite": lambda: LOSS().forward(NAN_AT_1_0, [0, 1, 1]),
    "E-loss-labels-ndim": lambda: LOSS().forward(SCORES, np.zeros((3, 1), dtype=np.int64)),
    "E-loss-labels-float": lambda: LOSS().forward(SCORES, np.array([0.0, 1.0, 2.0])),
    "E-loss-labels-bool": lambda: LOSS().forward(SCORES, np.array([True, False, True])),
    "E-loss-labels-length": lambda: LOSS().forward(SCORES, np.array([0, 1])),
    "E-loss-label-range": lambda: LOSS().forward(SCORES, np.array([0, 1, 5])),
    "E-loss-label-negative": lambda: LOSS().forward(SCORES, np.array([0, 1, -1])),
    "E-loss-backward-first": lambda: LOSS().backward(),
    "E-loss-forward-missing": lambda: MyLoss().forward(SCORES, [0, 1, 2]),
    "E-loss-backward-missing": lambda: MyLoss().backward(),
    # Sequential and model files
    "E-seq-list": lambda: Sequential([ReLU(), Tanh()]),
    "E-seq-empty": lambda: Sequential().forward(np.ones((4, 2))),
    "E-seq-not-a-layer": lambda: Sequential(linear(), 3),
    "E-seq-loss-inside": lambda: Sequential(linear(), LOSS()),
    "E-seq-nested": lambda: Sequential(Sequential(ReLU())),
    "E-seq-duplicate": lambda: (lambda relu: Sequential(linear(2, 4), relu, Linear(4, 4), relu))(ReLU()),
    "E-seq-layer-error": lambda: two_layer().forward(np.ones((5, 3))),
    "E-seq-index-type": lambda: two_layer()["0"],
    "E-seq-index-range": lambda: two_layer()[3],
    "E-seq-insert-type": lambda: two_layer().insert(1.5, Tanh()),
    "E-seq-insert-range": lambda: two_layer().insert(5, Tanh()),
    "E-seq-state-type": lambda: two_layer().load_state_dict(list(two_layer().state_dict().items())),
    "E-seq-state-fit": lambda: two_layer().load_state_dict({"0.W": np.zeros((2, 8)), "0.b": np.zeros(4)}),
    "E-file-missing": lambda: two_layer().load("model.npz"),
    "E-file-folder": lambda: (Path("model.npz").mkdir(), two_layer().load("model.npz")),
    "E-file-unopenable": lambda: (two_layer().save("model.npz"), _load_without_permission("model.npz")),
    "E-file-empty": lambda: two_layer().load(write_bytes(Path("model.npz"), b"")),
    "E-file-not-npz": lambda: two_layer().load(write_bytes(Path("model.npz"), b"hello, this is not numpy")),
    "E-file-truncated": lambda: two_layer().load(truncated(Path("model.npz"))),
    "E-file-single-npy": lambda: two_layer().load(single_npy(Path("model.npz"))),
    "E-file-pickled": lambda: two_layer().load(pickled_npz(Path("model.npz"))),
    "E-file-corrupted": lambda: two_layer().load(corrupted_member(Path("model.npz"))),
    "E-file-damaged-array": lambda: two_layer().load(short_member(Path("model.npz"))),
    "E-file-not-arrays": lambda: two_layer().load(zip_of_text(Path("model.npz"))),
    "E-file-foreign": lambda: two_layer().load(foreign_npz(Path("model.npz"))),
    "E-file-architecture": lambda: (two_layer().save("model.npz"),
                                    Sequential(linear(2, 4), Tanh(), linear(4, 3)).load("model.npz")),
    "E-file-shape": lambda: (two_layer(hidden=4).save("model.npz"), two_layer(hidden=8).load("model.npz")),
    "E-save-no-folder": lambda: two_layer().save("nowhere/model.npz"),
    "E-save-onto-folder": lambda: (Path("model.npz").mkdir(), two_layer().save("model.npz")),
    "E-save-objects": lambda: Sequential(Scale(np.array([1.0, None]))).save("model.npz"),
    # PyTorch bridge
    "E-torch-missing": lambda: without_torch(lambda: to_torch(Sequential(linear()))),
    "E-to-torch-model": lambda: to_torch([linear()]),
    "E-to-torch-layer": lambda: to_torch(Sequential(linear(), Scale())),
    "E-to-torch-dtype": lambda: to_torch(Sequential(linear(dtype=np.longdouble))),
    "E-from-torch-type": lambda: from_torch_of(lambda nn: nn.Linear(2, 3)),
    "E-from-torch-module": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5))),
    "E-from-torch-bias": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3, bias=False))),
    "E-from-torch-dtype": lambda: from_torch_of(lambda nn: nn.Sequential(nn.Linear(2, 3).bfloat16())),
    # Optimizers
    "E-opt-params-model": lambda: SGD(two_layer(), lr=0.1),
    "E-opt-params-empty": lambda: SGD(Sequential(ReLU()).parameters(), lr=0.1),
    "E-opt-param-item": lambda: SGD([np.ones(2)], lr=0.1),
    "E-opt-param-dtype": lambda: SGD([Parameter("w", {"w": np.arange(3)}, {}, "w")], lr=0.1),
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
    "E-opt-grad-shape": lambda: SGD(set_gradient(np.zeros(3)).parameters(), lr=0.1).step(),
    "E-opt-grad-nonfinite": lambda: SGD(set_gradient(np.where(np.eye(2, 3) > 0, 0.0, np.inf)).parameters(),
                                        lr=0.1).step(),
    "E-opt-update-missing": lambda: MyOptimizer(trained_once().parameters()).step(),
    "E-opt-state-type": lambda: SGD(two_layer().parameters(), lr=0.1).load_state_dict(None),
    "E-opt-state-fit": lambda: SGD(two_layer().parameters(), lr=0.1).load_state_dict({"step": np.array(2.5)}),
    # Data
    "E-spiral-count-type": lambda: make_spiral(n_per_class=100.0),
    "E-spiral-count-value": lambda: make_spiral(n_classes=0),
    "E-spiral-noise-type": lambda: make_spiral(noise="0.2"),
    "E-spiral-noise-value": lambda: make_spiral(noise=-0.1),
    "E-spiral-noise-overflow": lambda: make_spiral(noise=1e308, seed=0),
    "E-spiral-dtype-unknown": lambda: make_spiral(dtype="fp32"),
    "E-spiral-dtype-int": lambda: make_spiral(dtype=np.int32),
    "E-seed-type": lambda: make_spiral(seed=0.5),
    "E-spawn-seed-type": lambda: spawn_generators(seed=None, n=2),
    "E-spawn-seed-negative": lambda: spawn_generators(seed=-1, n=2),
    "E-spawn-n": lambda: spawn_generators(seed=0, n=0),
    "E-batch-not-arrays": lambda: minibatches([[0.0, 1.0], [2.0, 3.0]], [0, 1], 1),
    "E-batch-scalar": lambda: minibatches(np.array(1.0), np.array(0), 1),
    "E-batch-length": lambda: minibatches(np.ones((5, 2)), np.zeros(4, dtype=np.int64), 2),
    "E-batch-size-type": lambda: minibatches(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 2.0),
    "E-batch-size-value": lambda: BatchStream(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 0),
    "E-batch-shuffle": lambda: minibatches(np.ones((5, 2)), np.zeros(5, dtype=np.int64), 2, shuffle="no"),
    "E-stream-state-damaged": lambda: load_into_fresh_stream(rng=np.array("not json")),
    "E-stream-state-order": lambda: load_into_fresh_stream(order=np.array([0, 0, 1])),
    "E-stream-state-position": lambda: load_into_fresh_stream(position=np.array(99)),
    "E-stream-state-generator": lambda: load_into_fresh_stream(
        rng=np.array(json.dumps({"bit_generator": "MT19937", "state": {}}))),
    # Gradient checker
    "E-gradcheck-module": lambda: check_gradients(np.tanh, np.ones(3)),
    "E-gradcheck-x": lambda: check_gradients(Tanh(), [1.0, 2.0]),
    "E-gradcheck-dy": lambda: check_gradients(Tanh(), np.ones(3), dy=np.ones(2)),
    "E-gradcheck-labels": lambda: check_gradients(linear(), np.ones((4, 2)), loss=LOSS()),
    # Training and checkpoints
    "E-fit-steps-type": lambda: fit_small(steps=2.5),
    "E-fit-steps-value": lambda: fit_small(steps=-1),
    "E-fit-log-every": lambda: fit_small(steps=5, log_every=0),
    "E-fit-val-type": lambda: fit_small(steps=5, val=np.zeros((3, 2))),
    "E-fit-val-length": lambda: fit_small(steps=5, val=(np.zeros((3, 2)), np.zeros(2, dtype=np.int64))),
    "E-fit-backwards": lambda: _steps_backwards(),
    "E-fit-continue-batch-size": lambda: continue_with({"batch_size": 4, "rng": 0}, {"batch_size": 8}),
    "E-fit-continue-data": lambda: continue_with(
        {"batch_size": 4, "rng": 0}, {"batch_size": 4, "data": make_spiral(10, 3, seed=1)}),
    "E-fit-diverged": lambda: (lambda run: fit(*run, steps=5))(small_problem(lr=1e200, activation=ReLU)),
    "E-history-column": lambda: History().column("accuracy"),
    "E-ckpt-weights-only": lambda: (two_layer().save("checkpoint.npz"), read_checkpoint("checkpoint.npz")),
    "E-ckpt-missing-entry": lambda: read_checkpoint(checkpoint_with(Path("checkpoint.npz"), step=None)),
    "E-ckpt-config": lambda: read_checkpoint(checkpoint_with(Path("checkpoint.npz"), config=np.array("[8]"))),
    "E-ckpt-history-columns": lambda: read_checkpoint(
        checkpoint_with(Path("checkpoint.npz"), **{"history/val_loss": None, "history/val_accuracy": None})),
    "E-ckpt-history-lengths": lambda: read_checkpoint(
        checkpoint_with(Path("checkpoint.npz"), **{"history/loss": np.zeros(7)})),
    "E-ckpt-architecture": lambda: resume_from(other_layers_checkpoint(Path("checkpoint.npz"))),
    "E-ckpt-shape": lambda: resume_from(wider_checkpoint(Path("checkpoint.npz"))),
    "E-ckpt-batches": minibatch_checkpoint_into_a_full_batch_run,
    # train.py
    "E-cli-whole-number": Cli(["--hidden", "wide"]),
    "E-cli-minimum": Cli(["--points", "0"]),
    "E-cli-maximum": Cli(["--classes", "1001"]),
    "E-cli-number": Cli(["--lr", "fast"]),
    "E-cli-number-range": Cli(["--lr", "-1"]),
    "E-cli-init": Cli(["--init", "kaiming"]),
    "E-cli-out-empty": Cli(["--out", ""]),
    "E-cli-choice": Cli(["--activation", "gelu"]),
    "E-cli-unknown-flag": Cli(["--bogus"]),
    "E-cli-adam-momentum": Cli(["--optimizer", "adam", "--momentum", "0.9"]),
    "E-cli-val-fraction": Cli(["--points", "2", "--val-fraction", "0.1"]),
    "E-cli-resume-missing": Cli(["--resume", "nope.npz"]),
    "E-cli-resume-damaged": Cli(["--resume", "run/checkpoint.npz", "--steps", "10"],
                                lambda: prepared(lambda: edited_finished_run({"activation": "gelu"}))),
    "E-cli-resume-step": Cli(["--resume", "run/checkpoint.npz", "--steps", "10"],
                             lambda: prepared(lambda: edited_finished_run(step=np.array(-5)))),
    "E-cli-resume-clash": Cli(["--resume", "run/checkpoint.npz", "--hidden", "32", "--steps", "10"],
                              lambda: prepared(a_finished_run)),
    "E-cli-resume-steps": Cli(["--resume", "run/checkpoint.npz", "--steps", "2"], lambda: prepared(a_finished_run)),
    "E-cli-resume-weights": Cli(["--resume", "run/checkpoint.npz", "--steps", "10"],
                                lambda: prepared(lambda: edited_finished_run(**{"model/0.W": np.zeros((2, 8))}))),
    "E-cli-out-file": Cli([*SMALL, "--out", "notes.txt"], lambda: prepared(lambda: Path("notes.txt").write_text(""))),
    "E-cli-out-taken": Cli([*SMALL, "--out", "run"], lambda: prepared(a_finished_run)),
    "E-cli-out-claimed": Cli([*SMALL, "--out", "run"], lambda: prepared(None, another_run_claims("run"))),
    "E-cli-unwritable": Cli([*SMALL, "--out", "notes.txt/run"],
                            lambda: prepared(lambda: Path("notes.txt").write_text(""))),
    "E-cli-memory": Cli([*SMALL, "--hidden", "100000000000"],
                        lambda: prepared(None, (train, "build_model", raise_if_called(MemoryError())))),
    "E-cli-diverged": Cli([*SMALL, "--lr", "1e200", "--steps", "50", "--checkpoint-every", "1", "--out", "run"]),
    "E-cli-abort": Cli([*SMALL, "--steps", "50", "--out", "run"], lambda: prepared(None, ctrl_c_twice())),
}

# Rows also run as ``python train.py`` in a subprocess (about 1 s each), proving that main()'s
# return value and stderr line are what the shell sees.
SUBPROCESS_ROWS = ["E-cli-minimum", "E-cli-resume-missing"]


def _load_without_permission(path):
    """What ``load`` says when the file cannot be opened. Tests often run as root, who may open
    any file, so the refusal is simulated: ``open`` fails as it does for a file without read permission."""
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    with patched(models.savefile, "open", raise_if_called(denied)):
        two_layer().load(path)


def _steps_backwards():
    model, loss_fn, optimizer, X, y = small_problem()
    state = TrainingState()
    fit(model, loss_fn, optimizer, X, y, steps=5, state=state)
    fit(model, loss_fn, optimizer, X, y, steps=3, state=state)


# The tests ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, Outcome]:
    base = tmp_path_factory.mktemp("errors")
    return {row: run_trigger(trigger, base / row) for row, trigger in TRIGGERS.items()
            if HAVE_TORCH or row not in TORCH_ROWS}


@pytest.fixture(scope="module")
def documented() -> dict[str, tuple[str, str]]:
    return doc_rows(DOC.read_text(encoding="utf-8"))


def test_every_row_has_a_trigger_and_every_trigger_a_row(documented):
    assert sorted(set(documented) - set(TRIGGERS)) == [], "rows in docs/errors.md without a trigger here"
    assert sorted(set(TRIGGERS) - set(documented)) == [], "triggers here without a row in docs/errors.md"


@pytest.mark.parametrize("row", list(TRIGGERS))
def test_the_example_raises_exactly_what_the_row_says(row, outcomes, documented):
    if row not in documented:
        pytest.fail(f"{row} is not in docs/errors.md")
    if row in TORCH_ROWS and not HAVE_TORCH:
        pytest.skip(f"{row} needs torch")
    outcome = outcomes[row]
    assert (outcome.kind, outcome.message) == documented[row]


@pytest.mark.parametrize("row", SUBPROCESS_ROWS)
def test_train_py_in_a_subprocess_prints_the_documented_line(row, documented, tmp_path):
    result = train_in_a_subprocess(*TRIGGERS[row].argv, cwd=tmp_path)
    assert (f"exit {result.returncode}", result.stderr.strip()) == documented[row]


def test_every_raise_in_the_library_has_a_documented_example(outcomes):
    sites = raise_sites()
    reached = set().union(*(sites_reached(outcome, sites) for outcome in outcomes.values()))
    excluded = {site for site in sites if (site.file, site.function, site.error) in EXCLUDED}
    if not HAVE_TORCH:
        excluded |= {site for site in sites if (site.file, site.function) in TORCH_ONLY_SITES}
    missing = [str(site) for site in sites if site not in reached and site not in excluded]
    assert missing == [], "raise statements that no row of docs/errors.md reaches"
    gone = [key for key in EXCLUDED if not any((s.file, s.function, s.error) == key for s in sites)]
    assert gone == [], "EXCLUDED names sites that no longer exist: remove them"
    assert sorted(map(str, excluded & reached)) == [], "EXCLUDED sites that a row reaches: remove them"


def test_the_site_finder_sees_every_kind_of_raise():
    sites = raise_sites()
    assert len(sites) > 100
    kinds = {site.error for site in sites}
    assert {"ValueError", "TypeError", "RuntimeError", "NotImplementedError", "Failure",
            "argparse.ArgumentTypeError", "KeyboardInterrupt"} <= kinds


def test_the_doc_parser_reads_escaped_pipes_and_line_breaks():
    text = "| `E-x` | ValueError | `` a \\| b ↵c `` | m | f |\n| not a row |"
    assert doc_rows(text) == {"E-x": ("ValueError", "a | b \nc")}
