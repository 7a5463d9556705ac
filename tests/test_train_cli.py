"""train.py: what it writes, how flags shape the model, resuming, and failures.

Most tests call ``train.main(argv)`` in this process (its exit code, and stdout/stderr through
capsys); a few run ``python train.py`` in a subprocess, where the process itself is the point:
a real start from the shell and Ctrl-C.
"""

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

import train as train_module
from checks.files import read_npz
from layers import Linear
from models import Sequential
from tests.helpers import ROOT, SMALL, assert_same_files, edited_checkpoint, train
from training import settings


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


# Drawing a figure takes about a second; in-process runs write empty files instead. The real figures
# are checked in test_a_small_run_from_the_shell_writes_valid_outputs and by tests/test_readme.py.
def empty_curves(history, path, **kwargs):
    Path(path).touch()


def empty_boundary(model, X, y, path, **kwargs):
    Path(path).touch()


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*args)``: ``train.main(args)`` in this process, run in tmp_path, as a Result.
    The figures are empty files (see empty_curves): drawing them is tested on its own, and costs time."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_module.report, "plot_curves", empty_curves)
    monkeypatch.setattr(train_module.report, "plot_decision_boundary", empty_boundary)
    monkeypatch.setattr(train_module.report, "plot_hidden_units", empty_boundary)

    def call(*args) -> Result:
        capsys.readouterr()
        try:
            code = train_module.main([str(arg) for arg in args])
        except SystemExit as exc:                # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return call


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """The checkpoint of one small finished run (3 steps), made once; copy it before changing it."""
    out = tmp_path_factory.mktemp("finished") / "run"
    with contextlib.redirect_stdout(io.StringIO()), pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module.report, "plot_curves", empty_curves)
        patch.setattr(train_module.report, "plot_decision_boundary", empty_boundary)
        patch.setattr(train_module.report, "plot_hidden_units", empty_boundary)
        assert train_module.main([*SMALL, "--steps", "3", "--out", str(out)]) == 0
    return out / "checkpoint.npz"


def assert_one_clean_error_line(result, code, *fragments):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train.py: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_small_run_from_the_shell_writes_valid_outputs(tmp_path):
    """The one full ``python train.py`` run: what the shell sees, and every file the run writes."""
    out = tmp_path / "run"
    result = train(*SMALL, "--steps", 45, "--log-every", 10, "--val-fraction", 0.25, "--out", out,
                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert "train accuracy" in summary and "val accuracy" in summary and "step 45" in summary
    assert sorted(os.listdir(out)) == [".lock", "boundary.png", "checkpoint.npz", "config.json",
                                       "hidden.png", "history.csv", "loss.png"]

    for figure in ("loss.png", "boundary.png", "hidden.png"):
        pixels = matplotlib.image.imread(out / figure)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 300 and pixels.std() > 0.05

    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "step,loss,train_accuracy,val_loss,val_accuracy"
    assert [int(row.split(",")[0]) for row in rows[1:]] == [0, 10, 20, 30, 40, 45]

    record = json.loads((out / "config.json").read_text())
    assert record["status"] == "completed" and record["steps_done"] == 45
    assert record["config"]["val_fraction"] == 0.25 and record["samples"] == {"train": 90, "validation": 30}
    assert set(record["versions"]) >= {"python", "numpy", "matplotlib", "tqdm"}
    assert record["command"].startswith("train.py --points 40")

    # the checkpoint loads into the model the configuration describes, and reproduces the last row
    model = settings.build_model(record["config"])
    model.load(out / "checkpoint.npz")
    X, y, _ = settings.build_data(record["config"])
    assert np.mean(model.predict(X) == y) == pytest.approx(float(rows[-1].split(",")[2]))


def test_flags_shape_the_model_and_reach_the_record(cli, tmp_path):
    out = tmp_path / "run"
    result = cli(*SMALL, "--depth", 3, "--hidden", 8, "--activation", "tanh", "--optimizer", "adam",
                 "--lr", 0.01, "--dtype", "float32", "--batch-size", 32, "--steps", 6, "--out", out)
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "config.json").read_text())
    model_repr = record["model"]
    assert model_repr.count("Tanh()") == 3 and model_repr.count("Linear(") == 4
    assert "in_features=8, out_features=8, dtype=float32" in model_repr
    assert "out_features=3, dtype=float32" in model_repr
    assert record["optimizer"].startswith("Adam(lr=0.01,")
    assert "init xavier" in result.stdout and "mini-batches of 32" in result.stdout
    assert "(5): Tanh()" in result.stdout                     # the repr is printed too
    arrays = read_npz(out / "checkpoint.npz")
    assert arrays["model/0.W"].dtype == np.float32 and arrays["optim/exp_avg/0.W"].dtype == np.float32


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid"])
def test_each_activation_and_depth_zero(cli, tmp_path, activation):
    result = cli(*SMALL, "--depth", 2, "--activation", activation, "--steps", 3, "--out", tmp_path / "a")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "a" / "config.json").read_text())["model"].count(
        {"relu": "ReLU()", "leaky_relu": "LeakyReLU(negative_slope=0.01)",
         "sigmoid": "Sigmoid()"}[activation]) == 2
    linear = cli(*SMALL, "--depth", 0, "--steps", 3, "--out", tmp_path / "b")
    assert "Linear(in_features=2, out_features=3" in linear.stdout and "ReLU" not in linear.stdout


@pytest.mark.parametrize("flags, stops", [
    (["--optimizer", "sgd", "--lr", 0.5, "--momentum", 0.9, "--weight-decay", 1e-3], [11]),
    (["--optimizer", "adam", "--lr", 0.02, "--batch-size", 13, "--val-fraction", 0.2,
      "--weight-decay", 1e-4], [12]),
    (["--momentum", 0.9, "--lr", 0.3, "--batch-size", 16, "--dtype", "float32", "--val-fraction", 0.1],
     [8, 21]),
], ids=["sgd-full-batch-off-grid", "adam-minibatch-on-a-log-row", "float32-resumed-twice"])
def test_resume_is_bit_identical_to_an_uninterrupted_run(cli, tmp_path, flags, stops):
    common = [*SMALL, *flags, "--log-every", 4, "--checkpoint-every", 5]
    assert cli(*common, "--steps", 30, "--out", tmp_path / "straight").returncode == 0
    first = cli(*common, "--steps", stops[0], "--out", tmp_path / "split")
    assert first.returncode == 0, first.stderr
    for stop in stops[1:] + [30]:
        resumed = cli("--resume", tmp_path / "split" / "checkpoint.npz", "--steps", stop, "--no-progress")
        assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at step {stops[-1]}" in resumed.stdout
    assert_same_files(tmp_path / "straight", tmp_path / "split")


def test_divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint(cli, tmp_path):
    out = tmp_path / "run"
    result = cli(*SMALL, "--lr", 1e200, "--steps", 50, "--checkpoint-every", 1, "--out", out)
    assert_one_clean_error_line(result, 1, "training diverged at step 1:", "last good checkpoint")
    arrays = read_npz(out / "checkpoint.npz")
    assert int(arrays["step"]) == 1
    assert all(np.isfinite(value).all() for name, value in arrays.items() if name.startswith("model/"))
    record = json.loads((out / "config.json").read_text())
    assert record["status"] == "diverged" and "step 1" in record["message"]
    assert not (out / "loss.png").exists()


@pytest.mark.parametrize("args, fragments", [
    (["--lr", "-1"], ("argument --lr", "-1.0", "finite number", "lr >= 0")),
    (["--lr", "nan"], ("argument --lr", "nan", "finite number")),
    (["--lr", "fast"], ("argument --lr", "a number", "'fast'")),
    (["--points", "0"], ("argument --points", "positive int", "got 0")),
    (["--classes", "1"], ("argument --classes", "int >= 2", "got 1")),
    (["--classes", "1001"], ("argument --classes", "at most 1000", "got 1001")),
    (["--hidden", "wide"], ("argument --hidden", "whole number", "'wide'")),
    (["--activation", "gelu"], ("argument --activation", "one of relu, leaky_relu", "'gelu'")),
    (["--dtype", "float16"], ("argument --dtype", "one of float64, float32", "'float16'")),
    (["--val-fraction", "1"], ("argument --val-fraction", "1.0", "0 <= val_fraction < 1")),
    (["--batch-size", "0"], ("argument --batch-size", "positive int", "got 0")),
    (["--init", "kaiming"], ("argument --init", "'auto', 'he', 'xavier' or a standard deviation",
                             "'kaiming'")),
    (["--init", "-1"], ("argument --init", "-1.0", "init >= 0")),
    (["--optimizer", "adam", "--momentum", "0.9"], ("argument --momentum", "--optimizer sgd only")),
    (["--points", "2", "--val-fraction", "0.1"], ("argument --val-fraction", "leaves 0 for validation",
                                                  "4 for training")),
    (["--bogus"], ("unrecognized arguments", "--bogus", "(see --help)")),
    (["--hiden", "3"], ("unrecognized arguments", "--hiden", "did you mean --hidden?")),
    (["--lr", "-1e-3"], ("argument --lr", "-0.001", "lr >= 0")),     # a negative number, as argparse won't
    (["--lr", "-inf"], ("argument --lr", "-inf", "finite number")),
    (["--out", "-x"], ("argument --out", "expected one argument", "--out=-name")),
])
def test_bad_flags_give_one_line_and_exit_2(cli, tmp_path, args, fragments):
    result = cli(*args)
    assert_one_clean_error_line(result, 2, *fragments)
    assert not (tmp_path / "runs").exists()                  # nothing written


def test_an_overflowing_optimizer_state_is_divergence_too(cli, tmp_path):
    """Adam's squared gradients overflow float32 here while weights and scores stay finite."""
    out = tmp_path / "run"
    result = cli(*SMALL, "--depth", 0, "--dtype", "float32", "--optimizer", "adam", "--init", 1e10,
                 "--weight-decay", 1e10, "--steps", 10, "--checkpoint-every", 1, "--out", out)
    assert_one_clean_error_line(result, 1, "training diverged at step 1", "exp_avg_sq/0.W", "inf")
    assert not (out / "checkpoint.npz").exists()


def damaged_checkpoint(finished_run, tmp_path, **changes):
    """A real checkpoint whose config JSON was edited: valid JSON, wrong settings."""
    return edited_checkpoint(finished_run, tmp_path / "damaged.npz", **changes)


@pytest.mark.parametrize("changes, fragments", [
    (dict(hidden=None), ("hidden is missing",)),
    (dict(activation="gelu"), ("activation", "'gelu'", "relu, leaky_relu, tanh, sigmoid")),
    (dict(hidden="16"), ("hidden '16'", "text, not a number")),
    (dict(hidden=16.0), ("hidden", "positive int", "16.0 (float)")),
    (dict(checkpoint_every=0), ("checkpoint_every", "positive int", "got 0")),
    (dict(optimizer="rmsprop"), ("optimizer", "'rmsprop'", "sgd, adam")),
    (dict(lr=float("inf")), ("lr: inf", "finite number")),
    (dict(step=-5), ("step count", "-5")),
])
def test_a_checkpoint_with_damaged_settings_gives_one_line(cli, finished_run, tmp_path, changes, fragments):
    path = damaged_checkpoint(finished_run, tmp_path, **changes)
    result = cli("--resume", path, "--steps", 10, "--out", tmp_path / "next")
    assert_one_clean_error_line(result, 1, "damaged checkpoint", *fragments)
    assert not (tmp_path / "next").exists()


def test_unwritable_output_folders_give_one_line(cli, tmp_path):
    (tmp_path / "a-file").write_text("")
    result = cli(*SMALL, "--steps", 2, "--out", tmp_path / "a-file" / "run")
    assert_one_clean_error_line(result, 1, "cannot write the run's files")
    assert_one_clean_error_line(cli(*SMALL, "--out", tmp_path / "a-file"), 2, "is a file, not a folder")
    assert_one_clean_error_line(cli(*SMALL, "--out", ""), 2, "argument --out", "empty name")
    if Path("/proc/self").is_dir():          # a folder nobody can create folders in, even root
        assert_one_clean_error_line(cli(*SMALL, "--steps", 2, "--out", "/proc/self/run"), 1,
                                    "cannot write the run's files")
        assert_one_clean_error_line(cli(*SMALL, "--steps", 2, "--out", "/proc/self"), 2,
                                    "/proc/self is not empty", "nothing in it was changed")


def test_unusable_checkpoints_give_one_line(cli, finished_run, tmp_path):
    assert_one_clean_error_line(cli("--resume", tmp_path / "nope.npz"), 1, "nope.npz: no such file")
    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    assert_one_clean_error_line(cli("--resume", tmp_path / "junk.npz"), 1, "junk.npz: not an .npz file")
    rng = np.random.default_rng(0)
    Sequential(Linear(2, 2, rng=rng)).save(tmp_path / "weights.npz")
    assert_one_clean_error_line(cli("--resume", tmp_path / "weights.npz"), 1,
                                "weights.npz: it holds model weights only")
    data = finished_run.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    assert_one_clean_error_line(cli("--resume", tmp_path / "cut.npz"), 1,
                                "cut.npz", "not a readable .npz file")


def test_resume_refuses_flags_that_contradict_the_checkpoint(cli, finished_run, tmp_path):
    (tmp_path / "run").mkdir()
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    shutil.copy(finished_run, checkpoint)
    agreeing = cli("--resume", checkpoint, "--init", "auto", "--hidden", 16, "--steps", 5, "--no-progress",
                   "--out", tmp_path / "agreeing")
    assert agreeing.returncode == 0, agreeing.stderr         # flags equal to the checkpoint's are fine
    before = checkpoint.read_bytes()
    result = cli("--resume", checkpoint, "--hidden", 32, "--activation", "tanh", "--steps", 8)
    assert_one_clean_error_line(result, 2, "--hidden 32 (the checkpoint has 16)",
                                "--activation tanh (the checkpoint has relu)", "leave those flags out")
    too_few = cli("--resume", checkpoint, "--steps", 3)
    assert_one_clean_error_line(too_few, 2, "has already made 3 updates", "pass a larger --steps")
    assert checkpoint.read_bytes() == before


def test_an_existing_run_is_never_overwritten(cli, tmp_path):
    assert cli(*SMALL, "--steps", 2, "--out", tmp_path / "run").returncode == 0
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()
    result = cli(*SMALL, "--steps", 2, "--out", tmp_path / "run")
    assert_one_clean_error_line(result, 2, "is not empty", f"--resume {tmp_path / 'run'}")
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before


def test_a_run_without_out_gets_a_dated_folder_and_resumes_into_it(cli, tmp_path):
    assert cli(*SMALL, "--steps", 2).returncode == 0
    [folder] = (tmp_path / "runs").iterdir()
    assert len(folder.name) == len("20261128-120000")
    resumed = cli("--resume", Path("runs", folder.name, "checkpoint.npz"), "--steps", 4, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"files in {Path('runs', folder.name)}" in resumed.stdout.splitlines()[-3]
    assert read_npz(folder / "checkpoint.npz")["step"] == 4
    assert json.loads((folder / "config.json").read_text())["resumed_from"]["step"] == 2


def test_ctrl_c_saves_and_the_run_resumes(cli, tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *SMALL, "--steps", "10000000",
                                "--checkpoint-every", "10000000", "--out", str(out)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:               # the header ends with the "run" line, just before training
        if line.startswith("run "):
            break
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    step = int(read_npz(out / "checkpoint.npz")["step"])
    assert step > 0
    assert json.loads((out / "config.json").read_text())["status"] == "interrupted"
    resumed = cli("--resume", out / "checkpoint.npz", "--steps", step + 5, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert f"step {step + 5}" in resumed.stdout.splitlines()[-1]


def test_ctrl_c_while_starting_up_stops_before_anything_is_written(tmp_path):
    """Ctrl-C while NumPy and matplotlib load: one line and exit 130, as later, and no run folder yet."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [sys.executable, str(ROOT / "train.py"), *SMALL, "--out", str(tmp_path / "run")]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    time.sleep(0.3)                           # Python is up; NumPy and matplotlib are still loading
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr == "train.py: interrupted while starting; nothing was written\n"
    assert not (tmp_path / "run").exists()


# Settings the library would refuse, unexpected errors, divergence beyond NaN -------------------

@pytest.mark.parametrize("flags, words", [
    (["--momentum", "1"], ("--momentum", "0 <= momentum < 1")),
    (["--momentum", "2.5"], ("--momentum", "2.5")),
    (["--init", "1e308"], ("--init", "1e+308", "overflow float64")),
    (["--init", "1e38", "--dtype", "float32"], ("--init", "1e+38", "overflow float32")),
    (["--noise", "1e308"], ("--noise", "1e+308", "too large")),
    (["--hidden", "1000000000000000000"], ("--hidden", "memory")),
    (["--points", "1e31"], ("--points", "whole number")),
    (["--points", "1" + "0" * 31], ("--points", "memory")),
    (["--lr=-1e-3"], ("--lr", "-0.001", "lr >= 0")),       # a negative number after '='
    (["--lr", "-1"], ("--lr", "-1.0", "lr >= 0")),          # or as it is, when argparse reads it so
    (["--diverge-factor", "0.5"], ("--diverge-factor", "0.5", "> 1")),
])
def test_a_setting_the_library_would_refuse_is_one_line_and_exit_2(cli, flags, words):
    result = cli(*SMALL, *flags, "--steps", "2", "--out", "run")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert [word for word in words if word not in lines[0]] == [], lines[0]
    assert not Path("run").exists()


@pytest.mark.parametrize("flags, words", [
    (["--dataset", "moons", "--dtype", "float32", "--noise", "1e39"], ("--noise", "1e+39", "float32")),
    (["--dataset", "moons", "--noise", "1e300"], ("--noise", "1e+300", "overflows float64")),
    (["--reg", "1e308"], ("argument --reg", "--lr x --reg = 1e+308", "grow without end", "--reg <= 2")),
    (["--weight-decay", "1e308"], ("argument --weight-decay", "1e+308", "grow without end")),
    (["--reg", "10", "--momentum", "0.5"], ("argument --reg", "= 10 > 2·(1 + momentum) = 3", "<= 3")),
])
def test_a_flag_whose_product_overflows_or_outgrows_sgd_is_named_exit_2(cli, flags, words):
    """Not "a smaller learning rate" or "the initial weights" after the run started: the flag, before."""
    result = cli("--points", "40", "--hidden", "16", *flags, "--steps", "20", "--out", "run")
    assert_one_clean_error_line(result, 2, *words)
    assert not Path("run").exists()


def test_a_run_that_ends_at_chance_with_its_loss_above_its_start_says_so(cli):
    """With the divergence rules off (the early one stops --lr 50 at step 1), --lr 50 ends at 33.3 %."""
    result = cli(*SMALL, "--lr", "50", "--steps", "30", "--diverge-factor", "0", "--out", "run")
    [line] = result.stderr.strip().splitlines()
    assert result.returncode == 0 and "done       step 30" in result.stdout
    assert line.startswith("train.py: warning: chance accuracy (33.3%)") and "--lr" in line
    assert len(line) <= 100
    fine = cli(*SMALL, "--steps", "30", "--out", "fine")
    assert fine.returncode == 0 and fine.stderr == "", fine.stderr


@pytest.mark.parametrize("changes, words", [
    ({"momentum": 1.5}, ("damaged checkpoint", "momentum", "1.5")),
    ({"init": 1e308}, ("damaged checkpoint", "--init", "1e+308")),
    ({"hidden": 10**18}, ("damaged checkpoint", "--hidden", "memory")),
    ({"diverge_factor": 0.5}, ("damaged checkpoint", "diverge_factor", "0.5")),
])
def test_a_checkpoint_whose_config_holds_such_a_value_is_one_line(cli, changes, words):
    assert cli(*SMALL, "--steps", "2", "--out", "run").returncode == 0
    edited_checkpoint(Path("run/checkpoint.npz"), Path("edited.npz"), **changes)
    result = cli("--resume", "edited.npz", "--steps", "4", "--out", "again")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert [word for word in words if word not in lines[0]] == [], lines[0]


def test_a_checkpoint_step_of_7_9_is_refused_not_read_as_7(cli):
    assert cli(*SMALL, "--steps", "2", "--out", "run").returncode == 0
    edited_checkpoint(Path("run/checkpoint.npz"), Path("edited.npz"), step=7.9)
    result = cli("--resume", "edited.npz", "--steps", "10", "--out", "again")
    assert result.returncode == 1 and "step count" in result.stderr and "7.9" in result.stderr


def test_an_unexpected_error_is_one_line_naming_it_and_the_folder_and_debug_shows_the_traceback(
        cli, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(train_module.report, "draw_figures", broken)     # after the run, outside any guard
    result = cli(*SMALL, "--steps", "2", "--out", "run")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "unexpected ZeroDivisionError: boom" in lines[0] and "in run" in lines[0] and "--debug" in lines[0]
    result = cli(*SMALL, "--steps", "2", "--out", "run2", "--debug")
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("train.py: error: unexpected")
    monkeypatch.setenv("BACKPROP_DEBUG", "1")
    assert "Traceback" in cli(*SMALL, "--steps", "2", "--out", "run3").stderr


def test_a_loss_stuck_far_above_its_start_stops_the_run_as_diverged(cli):
    # lr·reg = 1.99 < 2: a run that may start, whose loss climbs (never 10 x in one step: the early rule)
    result = cli(*SMALL, "--reg", "1.99", "--steps", "600", "--log-every", "1", "--checkpoint-every", "20",
                 "--out", "run")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "stayed above 2 x its first value" in lines[0] and "for 50 logged rows" in lines[0]
    # the rule's loss is finite: the checkpoint may hold the stuck model, so it is not called "good"
    assert "the last checkpoint is run/checkpoint.npz" in lines[0] and "good" not in lines[0]
    assert json.loads(Path("run/config.json").read_text())["status"] == "diverged"
    assert cli(*SMALL, "--lr", "1e10", "--steps", "60", "--log-every", "1", "--diverge-factor", "0",
               "--out", "off").returncode == 0
# Whose files a run may write, figures, and the record after a failure ------------------------

def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_a_users_folder_is_refused_and_left_byte_for_byte(cli, tmp_path):
    mine = tmp_path / "P"
    mine.mkdir()
    (mine / "history.csv").write_text("mine\n")
    (mine / "loss.png").write_bytes(b"my figure")
    before = folder_bytes(mine)
    result = cli(*SMALL, "--steps", 3, "--out", mine)
    assert_one_clean_error_line(result, 2, f"{mine} is not empty", "it holds history.csv, loss.png",
                                "nothing in it was changed")
    assert folder_bytes(mine) == before and sorted(os.listdir(mine)) == ["history.csv", "loss.png"]


def test_a_users_file_shaped_like_a_temporary_file_is_kept_and_its_folder_refused(cli, tmp_path):
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / ".history.csv.mydata.tmp").write_text("data\n")
    result = cli(*SMALL, "--steps", 3, "--out", mine)
    assert_one_clean_error_line(result, 2, f"{mine} is not empty", ".history.csv.mydata.tmp",
                                "nothing in it was changed")
    assert os.listdir(mine) == [".history.csv.mydata.tmp"]
    assert (mine / ".history.csv.mydata.tmp").read_text() == "data\n"


@pytest.mark.parametrize("record", [
    '{"config": [], "versions": {"backprop-parts": "0.1.0"}}',        # no status: not as a run writes it
    '{"steps": "abc", "versions": {"backprop-parts": "0.1.0"}}',
    None,                                                             # the run's own record, with a NaN
])
def test_plot_only_on_a_damaged_record_is_one_line_and_rewrites_nothing(cli, finished_run, tmp_path, record):
    run = tmp_path / "run"
    shutil.copytree(finished_run.parent, run)
    saved = json.loads((run / "config.json").read_text())
    text = record or json.dumps(dict(saved, seconds=float("nan")))
    (run / "config.json").write_text(text)
    before = folder_bytes(run)
    result = cli("--resume", run, "--plot-only")
    assert_one_clean_error_line(result, 2, f"cannot resume into {run}", "config.json is not a run's record",
                                "--out NEWFOLDER")
    assert folder_bytes(run) == before and (run / "config.json").read_text() == text


def test_a_saved_init_of_auto_resumes_as_a_new_run_would_have_it(cli, finished_run, tmp_path):
    path = edited_checkpoint(finished_run, tmp_path / "auto.npz", init="auto")
    for args in (["--plot-only"], ["--steps", 5]):
        result = cli("--resume", path, *args, "--out", tmp_path / f"out{len(args)}", "--no-progress")
        assert result.returncode == 0 and result.stderr == "", result.stderr
    assert json.loads((tmp_path / "out2" / "config.json").read_text())["config"]["init"] == "he"


def test_a_non_ascii_out_on_an_ascii_terminal_is_written_escaped_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONIOENCODING", "ascii")
    result = train(*SMALL, "--steps", 2, "--out", "résumé", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "files in r\\xe9sum\\xe9" in result.stdout and (tmp_path / "résumé" / "checkpoint.npz").exists()


def test_a_copied_checkpoint_resumes_only_into_a_new_folder(cli, finished_run, tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy(finished_run, backup / "copy.npz")
    (backup / "history.csv").write_text("mine\n")
    before = folder_bytes(backup)
    result = cli("--resume", backup / "copy.npz", "--steps", 5, "--no-progress")
    assert_one_clean_error_line(result, 2, f"cannot resume into {backup}", "pass --out NEWFOLDER")
    assert folder_bytes(backup) == before
    moved = cli("--resume", backup / "copy.npz", "--steps", 5, "--no-progress", "--out", tmp_path / "new")
    assert moved.returncode == 0, moved.stderr
    assert folder_bytes(backup) == before and read_npz(tmp_path / "new" / "checkpoint.npz")["step"] == 5


def test_a_long_path_is_one_clear_line(cli, tmp_path):
    long = "x" * 300
    for args in (["--out", long], ["--resume", long], ["--resume", Path(long, "checkpoint.npz")]):
        result = cli(*SMALL, *args)
        assert_one_clean_error_line(result, 2, "the path is too long")      # a usage error, both flags
        assert "Errno" not in result.stderr


def test_plot_only_draws_the_figures_of_a_run_again(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*SMALL, "--steps", 4, "--log-every", 2, "--out", out).returncode == 0
    history = (out / "history.csv").read_bytes()
    for name in ("loss.png", "boundary.png", "history.csv"):
        (out / name).unlink()
    checkpoint = (out / "checkpoint.npz").read_bytes()
    drawn = cli("--resume", out, "--plot-only")
    assert drawn.returncode == 0, drawn.stderr
    assert drawn.stdout.splitlines()[0] == (f"saved in   {out}: checkpoint.npz, history.csv, config.json, "
                                            "loss.png, boundary.png, hidden.png")
    assert drawn.stdout.splitlines()[1].startswith("done       step 4  loss")
    assert (out / "loss.png").exists() and (out / "boundary.png").exists()
    assert (out / "history.csv").read_bytes() == history
    assert (out / "checkpoint.npz").read_bytes() == checkpoint          # nothing trained, nothing saved
    record = json.loads((out / "config.json").read_text())
    assert record["status"] == "completed" and record["figures"] == {"loss.png": "drawn",
                                                                     "boundary.png": "drawn",
                                                                     "hidden.png": "drawn"}
    assert_one_clean_error_line(cli("--plot-only"), 2, "argument --plot-only", "--resume RUN")


RUN_FOLDER = [".lock", "boundary.png", "checkpoint.npz", "config.json", "hidden.png", "history.csv",
              "loss.png"]


def test_plot_only_for_a_copied_checkpoint_follows_its_advice_into_a_new_folder(cli, finished_run, tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    shutil.copy(finished_run, backup / "copy.npz")
    before = folder_bytes(backup)
    refused = cli("--resume", backup / "copy.npz", "--plot-only")
    assert_one_clean_error_line(refused, 2, f"cannot resume into {backup}", "pass --out NEWFOLDER",
                                "with --plot-only, draw its figures")
    drawn = cli("--resume", backup / "copy.npz", "--plot-only", "--out", tmp_path / "new")
    assert drawn.returncode == 0 and drawn.stderr == "", drawn.stderr
    new = tmp_path / "new"
    assert folder_bytes(backup) == before
    assert sorted(os.listdir(new)) == RUN_FOLDER
    assert (new / "checkpoint.npz").read_bytes() == finished_run.read_bytes()
    record = json.loads((new / "config.json").read_text())
    assert record["status"] == "completed" and record["steps_done"] == 3
    assert record["figures"] == {"loss.png": "drawn", "boundary.png": "drawn", "hidden.png": "drawn"}
    assert record["resumed_from"] == {"path": str(backup / "copy.npz"), "step": 3}
    again = cli("--resume", new, "--plot-only")                 # the new folder is a run folder now
    assert again.returncode == 0, again.stderr


def test_ctrl_c_while_the_figures_are_drawn_leaves_the_run_completed_and_says_how_to_draw_them(
        cli, tmp_path, monkeypatch):
    drawn = []

    def boundary_then_ctrl_c(model, X, y, path, **kwargs):
        drawn.append(path.name)
        raise KeyboardInterrupt
    monkeypatch.setattr(train_module.report, "plot_decision_boundary", boundary_then_ctrl_c)
    out = tmp_path / "run"
    result = cli(*SMALL, "--steps", 3, "--out", out)
    assert result.returncode == 130 and drawn == ["boundary.png"]
    assert result.stderr == (f"interrupted: the run is saved (completed), "
                             f"boundary.png, hidden.png not drawn; draw them with python train.py "
                             f"--resume {out} "
                             "--plot-only\n")
    record = json.loads((out / "config.json").read_text())
    assert record["status"] == "completed"
    assert record["figures"] == {"loss.png": "drawn", "boundary.png": "not drawn (interrupted)",
                                 "hidden.png": "not drawn (interrupted)"}
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]
    monkeypatch.setattr(train_module.report, "plot_decision_boundary", empty_boundary)
    assert cli("--resume", out, "--plot-only").returncode == 0          # the advice works
    assert json.loads((out / "config.json").read_text())["figures"]["boundary.png"] == "drawn"


def test_ctrl_c_in_the_last_step_completes_the_run_and_leaves_the_figures_to_plot_only(
        cli, tmp_path, monkeypatch):
    real_fit = train_module.fit

    def fit_then_ctrl_c(*args, **kwargs):
        history = real_fit(*args, **kwargs)
        signal.raise_signal(signal.SIGINT)     # during the last step, as StopFlag sees it
        return history
    monkeypatch.setattr(train_module, "fit", fit_then_ctrl_c)
    out = tmp_path / "run"
    result = cli(*SMALL, "--steps", 3, "--out", out)
    assert result.returncode == 130
    assert result.stderr.strip().splitlines()[-1] == (
        f"interrupted: the run is saved (completed), loss.png, boundary.png, hidden.png not drawn; "
        f"draw them with "
        f"python train.py --resume {out} --plot-only")
    record = json.loads((out / "config.json").read_text())
    assert record["status"] == "completed" and record["steps_done"] == 3
    assert record["figures"] == dict.fromkeys(["loss.png", "boundary.png", "hidden.png"],
                                              "not drawn (interrupted)")
    assert not (out / "loss.png").exists() and read_npz(out / "checkpoint.npz")["step"] == 3


def test_ctrl_c_before_the_run_started_says_nothing_was_written(cli, tmp_path, monkeypatch):
    def ctrl_c(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_module.settings, "build_model", ctrl_c)
    result = cli(*SMALL, "--out", tmp_path / "run")
    assert_one_clean_error_line(result, 130, "interrupted before the run started", "nothing was written")
    assert "aborted" not in result.stderr and not (tmp_path / "run").exists()


def test_a_folder_killed_in_its_first_checkpoint_is_explained_and_reused(cli, tmp_path, monkeypatch):
    out = tmp_path / "run"

    def killed_in_the_first_checkpoint(*args, **kwargs):
        Path(out, ".checkpoint.npz.backprop-0123456789abcdef.tmp").write_bytes(b"PK half")
        raise SystemExit("killed")                  # as kill -9: no record of the end is written
    monkeypatch.setattr(train_module, "save_checkpoint", killed_in_the_first_checkpoint)
    assert cli(*SMALL, "--steps", 3, "--checkpoint-every", 1, "--out", out).returncode == "killed"
    assert json.loads((out / "config.json").read_text())["status"] == "running"
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_module.report, "plot_curves", empty_curves)
    monkeypatch.setattr(train_module.report, "plot_decision_boundary", empty_boundary)
    resumed = cli("--resume", out, "--steps", 5)
    assert_one_clean_error_line(resumed, 1, f"cannot resume from {out}", "no checkpoint.npz",
                                "killed before its first checkpoint", f"--out {out}")
    again = cli(*SMALL, "--steps", 3, "--out", out)     # the killed run's folder is reused
    assert again.returncode == 0 and again.stderr == "", again.stderr
    assert sorted(os.listdir(out)) == RUN_FOLDER
    assert json.loads((out / "config.json").read_text())["status"] == "completed"


def test_a_folder_whose_run_ended_without_a_checkpoint_is_still_refused(cli, tmp_path):
    out = tmp_path / "run"
    assert cli(*SMALL, "--lr", "1e200", "--steps", 5, "--out", out).returncode == 1      # diverged at once
    assert not (out / "checkpoint.npz").exists()
    before = folder_bytes(out)
    assert_one_clean_error_line(cli(*SMALL, "--steps", 3, "--out", out), 2, "is not empty", "history.csv")
    assert folder_bytes(out) == before


def test_a_figure_that_cannot_be_drawn_is_one_warning_and_the_run_completes(cli, tmp_path, monkeypatch):
    def overflow(*args, **kwargs):
        raise OverflowError("cannot convert float infinity to integer")
    monkeypatch.setattr(train_module.report, "plot_curves", overflow)
    result = cli(*SMALL, "--steps", 3, "--out", tmp_path / "run")
    assert result.returncode == 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("train.py: warning: cannot draw loss.png (OverflowError")
    assert result.stdout.splitlines()[-2] == f"saved in   {tmp_path / 'run'}: checkpoint.npz, history.csv, " \
                                             "config.json, boundary.png, hidden.png"
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["status"] == "completed" and record["figures"]["loss.png"].startswith("not drawn")
    assert record["figures"]["boundary.png"] == "drawn"


def test_a_full_disk_leaves_the_record_saying_failed(cli, tmp_path, monkeypatch):
    real = train_module.save_checkpoint

    def disk_full_at_step_4(path, model, optimizer, state, config, **kwargs):
        if state.step == 4:
            raise OSError(28, "No space left on device")
        real(path, model, optimizer, state, config, **kwargs)
    monkeypatch.setattr(train_module, "save_checkpoint", disk_full_at_step_4)
    result = cli(*SMALL, "--steps", 6, "--checkpoint-every", 2, "--out", tmp_path / "run")
    assert_one_clean_error_line(result, 1, "No space left on device")
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["status"] == "failed" and "No space left on device" in record["message"]
    assert read_npz(tmp_path / "run" / "checkpoint.npz")["step"] == 2        # the last good one stays
