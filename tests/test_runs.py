"""training/settings.py and training/runs.py in this process: flags read and checked, resuming (saved
settings, clashes, free settings), the run's folder and its lock, the config.json record, Ctrl-C and
exit codes."""

import argparse
import datetime
import fcntl
import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from checks.files import read_npz
from layers import Linear
from models import Sequential
from optim import SGD
from tests.helpers import edited_checkpoint, raises
from training import Diverged, History, TrainingState, runs, save_checkpoint, settings

# The settings of a small run, as train.py saves them in its checkpoint.
SAVED = settings.complete(dict(settings.DEFAULTS, points=10, classes=3, hidden=4, steps=3))


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A run folder: a checkpoint after 3 steps, with the settings SAVED, and the run's config.json."""
    model = settings.build_model(SAVED)
    state = TrainingState(step=3)
    state.history.append(3, 0.5, 0.75)
    path = tmp_path / "run" / "checkpoint.npz"
    path.parent.mkdir()
    save_checkpoint(path, model, settings.build_optimizer(SAVED, model), state, SAVED)
    a_run_record(path.parent)
    return path


def a_run_record(folder: Path, status="completed") -> Path:
    """The folder's config.json, as a run writes it (its "versions" name this project)."""
    record = {"config": SAVED, "versions": {"backprop-parts": "0.1.0"}}
    runs.write_record(folder, record, status, TrainingState())
    return folder / "config.json"


def edited(path: Path, **changes) -> Path:
    return edited_checkpoint(path, path.with_name("edited.npz"), **changes)


def folder_bytes(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def enter(out, checkpoint=None):
    """Enter and leave ``run_folder(out, checkpoint)``: the folder a run would write to."""
    with runs.run_folder(out if out is None else str(out), checkpoint) as folder:
        return folder


# Flags ------------------------------------------------------------------------------------

def test_a_flag_converts_text_and_applies_the_shared_rule_to_text_and_saved_values_alike():
    parse = settings.PARSE
    assert parse["hidden"]("16") == 16 and parse["lr"]("1e-3") == 0.001 and parse["init"]("he") == "he"
    assert parse["chunk_size"]("auto") == "auto" and parse["hidden"](16) == 16
    for name, text, words in [("hidden", "1.5", ("hidden", "a whole number", "'1.5'")),
                              ("hidden", "0", ("hidden", "positive int", "got 0")),
                              ("classes", "1001", ("classes", "at most 1000")),
                              ("lr", "-0.5", ("lr", "-0.5", "finite number", "lr >= 0")),
                              ("init", "kaiming", ("init", "'auto', 'he', 'xavier'", "'kaiming'")),
                              ("hidden", 4.0, ("hidden", "positive int", "4.0 (float)"))]:
        with raises(argparse.ArgumentTypeError, *words):
            parse[name](text)


def test_a_usage_error_is_one_line_with_exit_2_and_a_hint(capsys):
    parser = runs.ArgumentParser(prog="train.py")
    parser.add_argument("--hidden", type=settings.PARSE["hidden"])
    parser.add_argument("--lr", type=settings.PARSE["lr"])
    assert parser.parse_args(["--hidden", "8", "--lr=-0"]).hidden == 8
    for argv, words in [(["--hidden", "0"], ("argument --hidden: ", "positive int", "(see --help)")),
                        (["--hiden", "3"], ("unrecognized arguments: --hiden 3", "did you mean --hidden?")),
                        (["--lr", "-1e-3"], ("argument --lr: ", "-0.001", "lr >= 0")),  # read as --lr=-1e-3
                        (["--lr", "-inf"], ("argument --lr: ", "-inf", "finite number")),
                        (["--lr", "--hidden", "3"], ("--lr: expected one argument", "--out=-name"))]:
        with pytest.raises(SystemExit) as exit:
            parser.parse_args(argv)
        assert exit.value.code == runs.EXIT_USAGE == 2
        [line] = capsys.readouterr().err.splitlines()[-1:]
        assert line.startswith("train.py: error: ") and all(word in line for word in words), line
    with raises(argparse.ArgumentTypeError, "empty name", "not a folder"):
        runs.folder_name("  ")


def test_settings_the_library_would_refuse_together_are_found_before_the_run():
    assert settings.problems(SAVED) == []
    assert settings.problems(dict(SAVED, batchnorm=True, batch_size=28)) == []      # 30 rows: 28 and 2
    for changes, words in [(dict(batchnorm=True, batch_size=1), ("--batch-size 1 makes every batch 1 row",)),
                           (dict(batchnorm=True, batch_size=29), ("last batch of 1 row of the 30",)),
                           (dict(optimizer="adam", momentum=0.9), ("--momentum", "sgd only")),
                           (dict(dataset="moons", classes=3), ("--classes", "moons has 2 classes")),
                           (dict(hidden=10**18), ("--hidden", "memory")),
                           (dict(init=1e308), ("--init", "1e+308"))]:
        [problem] = settings.problems(dict(SAVED, **changes))
        assert all(word in problem for word in words), problem


# Resuming ---------------------------------------------------------------------------------

def test_a_resumed_run_keeps_the_saved_settings_and_takes_the_free_ones(checkpoint):
    config, read = settings.resume(str(checkpoint), {"steps": 10}, to_train=True)
    assert config == dict(SAVED, steps=10) and read.step == 3 and read.path == str(checkpoint)
    # the run's folder names its checkpoint; flags equal to the saved settings are no clash
    given = {"steps": 10, "hidden": 4, "init": "auto"}
    config, _ = settings.resume(str(checkpoint.parent), given, to_train=True)
    assert config == dict(SAVED, steps=10)


def test_flags_that_clash_with_the_checkpoint_are_a_usage_error_naming_each(checkpoint):
    with raises(runs.Failure, "cannot resume", str(checkpoint), "--hidden 8 (the checkpoint has 4)",
                "--optimizer adam (the checkpoint has sgd)", "leave those flags out", "--steps") as caught:
        settings.resume(str(checkpoint), {"steps": 10, "hidden": 8, "optimizer": "adam"}, to_train=True)
    assert caught.value.code == runs.EXIT_USAGE


def test_steps_must_exceed_the_updates_already_made_unless_only_drawing(checkpoint):
    with raises(runs.Failure, "already made 3 updates", "pass a larger --steps") as caught:
        settings.resume(str(checkpoint), {"steps": 3}, to_train=True)
    assert caught.value.code == runs.EXIT_USAGE
    assert settings.resume(str(checkpoint), {}, to_train=False)[0] == SAVED


@pytest.mark.parametrize("changes, words", [
    (dict(hidden=None), ("hidden is missing",)),
    (dict(optimizer="rmsprop"), ("optimizer", "'rmsprop'", "sgd, adam")),
    (dict(hidden="4"), ("hidden '4'", "text, not a number")),
    (dict(hidden=4.0), ("hidden", "positive int", "4.0 (float)")),
    (dict(lr=float("nan")), ("lr", "nan", "finite number")),
    (dict(momentum=1.5), ("momentum", "1.5")),
    (dict(batch_size=29, batchnorm=True), ("last batch of 1 row",)),
    (dict(step=-5), ("step count", "-5")),
])
def test_a_checkpoint_with_damaged_settings_is_one_failure_naming_the_problem(checkpoint, changes, words):
    path = edited(checkpoint, **changes)
    with raises(runs.Failure, "cannot resume from", str(path), "damaged checkpoint", *words) as caught:
        settings.resume(str(path), {"steps": 10}, to_train=True)
    assert caught.value.code == runs.EXIT_FAILED


def test_an_older_checkpoint_resumes_as_it_was_made(checkpoint):
    path = edited(checkpoint, chunk_size=None, diverge_factor=None, dataset=None, threads=None)
    config, _ = settings.resume(str(path), {"steps": 10}, to_train=True)
    assert (config["chunk_size"], config["diverge_factor"], config["dataset"], config["threads"]) == \
        (0, 0, "spiral", 0)


def test_what_resume_cannot_read_is_one_failure(checkpoint, tmp_path):
    with raises(runs.Failure, str(tmp_path / "nope.npz"), "no such file") as caught:
        settings.resume(str(tmp_path / "nope.npz"), {}, to_train=True)
    assert caught.value.code == runs.EXIT_FAILED
    (tmp_path / "empty").mkdir()
    with raises(runs.Failure, "holds no checkpoint.npz", "--checkpoint-every"):
        settings.resume(str(tmp_path / "empty"), {}, to_train=True)
    long = tmp_path / ("x" * 300)
    with raises(runs.Failure, "cannot resume from", "the path is too long") as caught:
        settings.resume(str(long / "checkpoint.npz"), {}, to_train=True)
    assert caught.value.code == runs.EXIT_USAGE                   # a usage error, as for --out


# The run's folder -------------------------------------------------------------------------

def test_a_new_folder_is_made_and_locked_for_the_whole_block(tmp_path):
    folder = tmp_path / "a" / "b"
    with runs.run_folder(str(folder), None) as claimed:
        assert claimed == folder and os.listdir(folder) == [runs.LOCK]
        with raises(runs.Failure, f"{folder} is in use by another train.py", "wait for it to end") as caught:
            enter(folder)
        assert caught.value.code == runs.EXIT_USAGE
    assert enter(folder) == folder                               # let go at the end of the block


def test_a_lock_held_elsewhere_refuses_even_a_folder_that_holds_its_run(checkpoint):
    fd = os.open(checkpoint.parent / runs.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)                 # a live train.py writes there
    try:
        for out, resumed in ((checkpoint.parent, None), (None, checkpoint)):
            with raises(runs.Failure, "is in use by another train.py") as caught:
                enter(out, resumed)
            assert "--resume" not in str(caught.value)
    finally:
        os.close(fd)


@pytest.mark.parametrize("files_there", [
    {"history.csv": "mine\n"},
    {"config.json": "{}"},                                  # a config.json, but not a run's record
    {"config.json": '{"config": {"hidden": 4}, "vers'},     # cut short
    {"config.json": "", "notes.txt": "mine"},
    {".lock": "", ".other.tmp": "mine"},                    # a temporary file, but not of a run's file
    {".history.csv.mydata.tmp": "data\n"},                 # shaped like a run's temporary file: a user's
    {"checkpoint.npz": "x", "a": "1", "b": "2", "c": "3"},
])
def test_a_users_folder_is_refused_and_left_as_it_was(tmp_path, files_there):
    folder = tmp_path / "P"
    folder.mkdir()
    for name, text in files_there.items():
        (folder / name).write_text(text)
    before = folder_bytes(folder)
    with raises(runs.Failure, f"{folder} is not empty", "nothing in it was changed",
                "choose a new or empty folder with --out") as caught:
        enter(folder)
    assert caught.value.code == runs.EXIT_USAGE and "--resume" not in str(caught.value)
    assert folder_bytes(folder) == before


@pytest.mark.parametrize("status", ["running", "failed", ""])
def test_a_killed_runs_leftovers_count_as_empty_and_its_temporary_files_go(tmp_path, status):
    folder = tmp_path / "run"
    folder.mkdir()
    if status:
        a_run_record(folder, status)
    else:
        (folder / "config.json").write_text("")                    # killed as it began
    stale = [".checkpoint.npz.backprop-0123456789abcdef.tmp", ".config.json.backprop-00000000ffffffff.tmp",
             ".loss.png.backprop-abcdefabcdefabcd.tmp", runs.LOCK]
    for name in stale:
        (folder / name).write_text("left")
    with runs.run_folder(str(folder), None):
        assert sorted(os.listdir(folder)) == [runs.LOCK, "config.json"]
    for status, extra in (("running", "history.csv"), ("completed", None), ("diverged", None)):
        a_run_record(folder, status)                               # a run that ended is a run's, refused
        if extra:
            (folder / extra).write_text("step,loss\n")
        with raises(runs.Failure, "is not empty"):
            enter(folder)


def test_a_folder_that_holds_a_run_is_refused_with_the_way_to_continue_it(checkpoint):
    before = folder_bytes(checkpoint.parent)
    with raises(runs.Failure, f"{checkpoint.parent} is not empty", f"--resume {checkpoint.parent}"):
        enter(checkpoint.parent)
    assert folder_bytes(checkpoint.parent) == before


def test_a_resumed_run_continues_in_its_own_run_folder_or_a_new_one(checkpoint, tmp_path):
    assert enter(None, checkpoint) == checkpoint.parent
    assert enter(checkpoint.parent, checkpoint) == checkpoint.parent
    assert enter(tmp_path / "next", checkpoint) == tmp_path / "next"
    with raises(runs.Failure, "is not empty"):                     # another run's folder
        enter(checkpoint.parent, tmp_path / "elsewhere" / "checkpoint.npz")


@pytest.mark.parametrize("where", ["backup/copy.npz", "backup/checkpoint.npz", "run/copy.npz"])
def test_a_checkpoint_outside_its_run_folder_resumes_only_into_a_new_folder(checkpoint, tmp_path, where):
    path = tmp_path / where
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(checkpoint.read_bytes())
    with raises(runs.Failure, f"cannot resume into {path.parent}", "pass --out NEWFOLDER") as caught:
        enter(None, path)
    assert caught.value.code == runs.EXIT_USAGE
    assert enter(tmp_path / "new", path) == tmp_path / "new"


def test_a_file_and_a_path_too_long_are_one_clear_failure(tmp_path):
    (tmp_path / "a-file").write_text("")
    with raises(runs.Failure, "--out", "is a file, not a folder"):
        enter(tmp_path / "a-file")
    with raises(runs.Failure, "--out", "the path is too long for the file system", "at most 255"):
        enter(tmp_path / ("x" * 300))
    assert os.listdir(tmp_path) == ["a-file"]


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    class Noon(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 28, 12, 0, 0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datetime, "datetime", Noon)
    with runs.run_folder(None, None) as first:
        a_run_record(first)
    with runs.run_folder(None, None) as second:
        pass
    assert (first, second) == (Path("runs/20261128-120000"), Path("runs/20261128-120000-2"))


# The record, divergence, figures ----------------------------------------------------------

def test_the_record_says_what_ran_and_how_it_stands(tmp_path):
    record = runs.new_record(SAVED, model="Sequential()", samples={"train": 12, "validation": 0})
    state = TrainingState(step=3)
    runs.write_record(tmp_path, record, "running", state)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["status"] == "running" and written["finished"] is None and written["final"] is None
    assert written["config"] == SAVED and written["samples"] == {"train": 12, "validation": 0}
    assert set(written["versions"]) >= {"python", "numpy", "matplotlib", "tqdm", "backprop-parts"}
    assert runs.run_record(tmp_path) == written
    state.step = 5
    state.history.append(5, 0.25, 0.5)
    runs.write_record(tmp_path, record, "completed", state, seconds=1.5)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["status"] == "completed" and written["steps_done"] == 5 and written["finished"]
    assert written["final"]["loss"] == 0.25 and written["final"]["val_loss"] is None     # NaN is null
    assert os.listdir(tmp_path) == ["config.json"]                  # no temporary file left


def test_a_divergence_is_recorded_with_the_history_and_becomes_a_failure(tmp_path):
    record = runs.new_record(SAVED)
    state = TrainingState(step=7, history=History())
    diverged = Diverged(7, "a score", float("nan"))
    failure = runs.diverged(tmp_path, record, state, diverged)
    assert isinstance(failure, runs.Failure) and failure.code == runs.EXIT_FAILED
    assert str(diverged) in str(failure) and "no checkpoint was written" in str(failure)
    assert str(tmp_path / "history.csv") in str(failure) and (tmp_path / "history.csv").exists()
    written = json.loads((tmp_path / "config.json").read_text())
    assert (written["status"], written["message"]) == ("diverged", str(diverged))


def test_figures_that_cannot_be_drawn_are_one_line_each_and_a_ctrl_c_leaves_the_rest(tmp_path, capsys):
    def overflow(path):
        raise OverflowError("cannot convert float infinity to integer")

    def ctrl_c(path):
        raise KeyboardInterrupt
    figures = {"loss.png": overflow, "boundary.png": lambda path: path.touch(), "hidden.png": ctrl_c,
               "training.gif": lambda path: path.touch()}
    drawn = runs.draw_figures(tmp_path, figures, "completed")
    assert drawn == {"loss.png": "not drawn (OverflowError: cannot convert float infinity to integer)",
                     "boundary.png": "drawn", "hidden.png": runs.NOT_DRAWN, "training.gif": runs.NOT_DRAWN}
    warning, interrupted = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("train.py: warning: cannot draw loss.png (OverflowError")
    assert f"python train.py --resume {tmp_path} --plot-only" in warning
    assert interrupted.startswith("interrupted: the run is saved (completed), hidden.png, training.gif not")
    assert os.listdir(tmp_path) == ["boundary.png"]


# Ctrl-C and exit codes ----------------------------------------------------------------------

def test_the_first_ctrl_c_asks_to_stop_and_the_second_aborts(capsys):
    before = signal.getsignal(signal.SIGINT)
    with runs.stop_flag() as stop:
        assert not stop()
        signal.raise_signal(signal.SIGINT)
        assert stop()
        assert "stopping after this step" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before                     # put back on the way out


@pytest.mark.parametrize("error, code, words", [
    (runs.Failure("the run failed"), 1, ("the run failed",)),
    (runs.Failure("bad flags", runs.EXIT_USAGE), 2, ("bad flags",)),
    (PermissionError(13, "Permission denied"), 1, ("cannot write the run's files", "Permission denied")),
    (MemoryError(), 1, ("out of memory", "--hidden")),
    (KeyboardInterrupt(), 130, ("interrupted before the run started", "nothing was written")),
])
def test_an_expected_failure_is_one_line_and_its_exit_code(capsys, error, code, words):
    def work():
        raise error
    assert runs.exit_code(work) == code
    err = capsys.readouterr().err
    assert err.startswith("train.py: error: ") and err.count("\n") == 1, err
    assert all(word in err for word in words), err
    assert runs.exit_code(lambda: 0) == runs.EXIT_OK == 0
    if code == 130:                     # once the run's folder is taken
        assert runs.exit_code(work, folder=lambda: Path("run")) == 130
        assert "aborted; the last checkpoint on disk is unchanged" in capsys.readouterr().err


def test_an_unexpected_error_is_named_in_one_line_with_the_traceback_on_demand(capsys, monkeypatch):
    def work():
        raise ZeroDivisionError("a bug")
    monkeypatch.delenv("BACKPROP_DEBUG", raising=False)
    assert runs.exit_code(work, folder=lambda: Path("runs/x")) == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "unexpected ZeroDivisionError: a bug" in line and "runs/x" in line
    assert runs.exit_code(work, debug=True) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise ZeroDivisionError("a bug")' in err and "no run folder" in err


def test_a_checkpoint_that_does_not_fit_the_model_changes_nothing(checkpoint):
    from training import read_checkpoint, restore
    model = Sequential(Linear(2, 5, rng=np.random.default_rng(0)), Linear(5, 3, rng=np.random.default_rng(0)))
    before = model[0].params["W"].copy()
    with raises(ValueError, "cannot resume from", str(checkpoint), "another architecture"):
        restore(read_checkpoint(checkpoint), model, SGD(model.parameters(), lr=0.5), TrainingState())
    np.testing.assert_array_equal(model[0].params["W"], before)
    assert read_npz(checkpoint)["step"] == 3
