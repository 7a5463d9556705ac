"""training/runs.py in this process: flag types, resuming (saved settings, clashes, free settings),
the run's folder, its config.json record, the last good checkpoint, Ctrl-C and exit codes."""

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

try:
    import fcntl
except ImportError:                         # Windows: runs are not locked there
    fcntl = None

import numpy as np
import pytest

from checks import check_count, check_real
from checks.files import read_npz
from layers import Linear, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from tests.helpers import edited_checkpoint, raises
from training import Diverged, History, TrainingState, files, fit, read_checkpoint, runs, save_checkpoint


# A small set of settings, as a script declares them: how each is read and checked.
def count(name, minimum=1):
    return runs.flag_type(name, lambda v: check_count(name, v, minimum=minimum), int,
                          kind="a whole number")


CHECKS = {
    "hidden": count("hidden"),
    "lr": runs.flag_type("lr", lambda v: check_real("lr", v, low=0), float, kind="a number"),
    "steps": count("steps", minimum=0),
    "batch_size": count("batch_size"),
    "init": runs.flag_type("init", lambda v: check_real("init", v, low=0), float, kind="he or a std",
                           names=("auto", "he")),
}
CHOICES = {"optimizer": ("sgd", "adam")}
SAVED = {"hidden": 4, "lr": 0.5, "steps": 3, "batch_size": None, "init": "he", "optimizer": "sgd"}
FREE = ("steps",)


def complete(config: dict) -> dict:
    return dict(config, init="he" if config["init"] == "auto" else config["init"])


def no_combination_problems(config: dict) -> list[str]:
    return []


def resumed(path, given: dict, combined=no_combination_problems):
    return runs.resumed_config(path, given, checks=CHECKS, choices=CHOICES, optional=("batch_size",),
                               combined=combined, complete=complete, free=FREE)


def small_problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 2))
    y = np.arange(12) % 3
    model = Sequential(Linear(2, 4, rng=rng), Linear(4, 3, rng=rng))
    return model, SGD(model.parameters(), lr=0.5), X, y


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A checkpoint after 3 steps, with the settings SAVED; ``checkpoint.with_config(**changes)``."""
    model, optimizer, X, y = small_problem()
    state = TrainingState()
    fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=3, state=state)
    path = tmp_path / "run" / "checkpoint.npz"
    path.parent.mkdir()
    save_checkpoint(path, model, optimizer, state, SAVED)
    a_run_record(path.parent)
    return path


def a_run_record(folder: Path) -> Path:
    """The folder's config.json, as a run writes it (its "versions" name this project)."""
    record = {"config": SAVED, "versions": {"backprop-parts": "0.1.0"}, "status": "completed"}
    runs.write_record(folder, record)
    return folder / "config.json"


def edited(path: Path, **changes) -> Path:
    return edited_checkpoint(path, path.with_name("edited.npz"), **changes)


# Flag types -------------------------------------------------------------------------------

def test_a_flag_type_converts_text_and_applies_the_shared_rule():
    assert CHECKS["hidden"]("16") == 16 and CHECKS["lr"]("1e-3") == 0.001 and CHECKS["init"]("he") == "he"
    with raises(argparse.ArgumentTypeError, "hidden", "a whole number", "'1.5'"):
        CHECKS["hidden"]("1.5")
    with raises(argparse.ArgumentTypeError, "hidden", "positive int", "got 0"):
        CHECKS["hidden"]("0")
    with raises(argparse.ArgumentTypeError, "lr", "-0.5", "finite number", "lr >= 0"):
        CHECKS["lr"]("-0.5")
    with raises(argparse.ArgumentTypeError, "init", "he or a std", "'kaiming'"):
        CHECKS["init"]("kaiming")


def test_in_argparse_a_flag_type_error_is_one_line_with_exit_2(capsys):
    parser = runs.ArgumentParser(prog="script.py")
    parser.add_argument("--hidden", type=CHECKS["hidden"])
    assert parser.parse_args(["--hidden", "8"]).hidden == 8
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(["--hidden", "0"])
    assert exit.value.code == runs.EXIT_USAGE == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("script.py: error: argument --hidden: ") and line.endswith(" (see --help)")
    assert "positive int" in line and "got 0" in line
    with raises(argparse.ArgumentTypeError, "empty name", "not a folder"):
        runs.folder_name("  ")


# Saved settings ---------------------------------------------------------------------------

def test_intact_saved_settings_have_no_problems():
    assert runs.saved_setting_problems(SAVED, CHECKS, CHOICES, optional=("batch_size",)) == []
    assert runs.saved_setting_problems(dict(SAVED, lr=1, batch_size=8), CHECKS, CHOICES) == []


@pytest.mark.parametrize("changes, words", [
    (dict(hidden=None), ("hidden", "missing")),
    (dict(optimizer=None), ("optimizer", "missing")),
    (dict(hidden="4"), ("hidden '4'", "text, not a number")),
    (dict(lr="0.5"), ("lr '0.5'", "text, not a number")),
    (dict(hidden=4.0), ("hidden", "positive int", "4.0 (float)")),
    (dict(hidden=True), ("hidden", "positive int", "True (bool)")),
    (dict(hidden=0), ("hidden", "positive int", "got 0")),
    (dict(lr=float("nan")), ("lr", "nan", "finite number", "lr >= 0")),
    (dict(init="xavier"), ("init", "he or a std", "'xavier'")),
    (dict(optimizer="rmsprop"), ("optimizer 'rmsprop'", "sgd, adam")),
])
def test_each_damaged_saved_setting_is_named(changes, words):
    config = {name: value for name, value in dict(SAVED, **changes).items() if value is not None or
              name == "batch_size"}
    [problem] = runs.saved_setting_problems(config, CHECKS, CHOICES, optional=("batch_size",))
    assert all(word in problem for word in words), problem


def test_none_is_a_problem_unless_the_setting_is_optional():
    [problem] = runs.saved_setting_problems(SAVED, CHECKS, CHOICES)
    assert "batch_size" in problem and "positive int" in problem and "None" in problem


# Resuming ---------------------------------------------------------------------------------

def test_a_resumed_run_keeps_the_saved_settings_and_takes_the_free_ones(checkpoint):
    config, read = resumed(checkpoint, {"steps": 10})
    assert config == dict(SAVED, steps=10) and read.step == 3 and read.path == str(checkpoint)
    # flags equal to the saved settings are no clash; "auto" is compared as complete() fills it in
    config, _ = resumed(checkpoint, {"steps": 10, "hidden": 4, "lr": 0.5, "init": "auto"})
    assert config == dict(SAVED, steps=10)


def test_flags_that_clash_with_the_checkpoint_are_a_usage_error_naming_each(checkpoint):
    with raises(runs.Failure, "cannot resume", str(checkpoint),
                "--hidden 8 (the checkpoint has 4)", "--optimizer adam (the checkpoint has sgd)",
                "--init 0.01 (the checkpoint has he)",
                "leave those flags out", "--steps, --out and --no-progress") as caught:
        resumed(checkpoint, {"steps": 10, "hidden": 8, "optimizer": "adam", "init": 0.01})
    assert caught.value.code == runs.EXIT_USAGE


def test_steps_must_exceed_the_updates_already_made(checkpoint):
    with raises(runs.Failure, "already made 3 updates", "pass a larger --steps") as caught:
        resumed(checkpoint, {"steps": 3})
    assert caught.value.code == runs.EXIT_USAGE
    with raises(runs.Failure, "already made 3 updates"):
        resumed(checkpoint, {})                  # the saved total, 3, is reached


def test_a_checkpoint_with_damaged_settings_fails_with_every_problem(checkpoint):
    with raises(runs.Failure, "cannot resume from", str(checkpoint.with_name("edited.npz")),
                "damaged checkpoint", "hidden '4'", "text, not a number", "lr: -1.0", "lr >= 0") as caught:
        resumed(edited(checkpoint, hidden="4", lr=-1.0), {"steps": 10})
    assert caught.value.code == runs.EXIT_FAILED


def test_combination_problems_are_asked_only_of_intact_settings(checkpoint):
    asked = []

    def combined(config):
        asked.append(config)
        return ["lr 0.5 with hidden 4 is not allowed"]
    with raises(runs.Failure, "damaged checkpoint", "lr 0.5 with hidden 4 is not allowed"):
        resumed(checkpoint, {"steps": 10}, combined)
    with raises(runs.Failure, "damaged checkpoint", "hidden is missing"):
        resumed(edited(checkpoint, hidden=None), {"steps": 10}, combined)
    assert len(asked) == 1


def test_a_negative_step_count_and_an_unreadable_file_fail_with_one_line(checkpoint, tmp_path):
    arrays = read_npz(checkpoint)
    arrays["step"] = np.array(-5)
    np.savez(tmp_path / "negative.npz", **arrays)
    with raises(runs.Failure, "damaged checkpoint", "step count", "-5"):
        resumed(tmp_path / "negative.npz", {"steps": 10})
    with raises(runs.Failure, str(tmp_path / "nope.npz"), "no such file") as caught:
        resumed(tmp_path / "nope.npz", {"steps": 10})
    assert caught.value.code == runs.EXIT_FAILED


def test_restore_run_turns_a_checkpoint_that_does_not_fit_into_a_failure(checkpoint):
    model = Sequential(Linear(2, 5, rng=np.random.default_rng(0)),
                       Linear(5, 3, rng=np.random.default_rng(0)))
    before = model[0].params["W"].copy()
    with raises(runs.Failure, "cannot resume from", str(checkpoint), "out_features") as caught:
        runs.restore_run(read_checkpoint(checkpoint), model, SGD(model.parameters(), lr=0.5),
                         TrainingState())
    assert caught.value.code == runs.EXIT_FAILED
    np.testing.assert_array_equal(model[0].params["W"], before)


# The run's folder -------------------------------------------------------------------------

def test_claiming_a_new_folder_creates_and_locks_it_for_the_whole_block(tmp_path):
    folder, own = runs.choose_folder(str(tmp_path / "a" / "b"), None)
    assert (folder, own) == (tmp_path / "a" / "b", False) and not folder.exists()   # nothing created yet
    with runs.claim(folder, own, default_name=False) as claimed:
        assert claimed == folder and os.listdir(folder) == [".lock"]
        assert (folder / ".lock").read_text() == f"{os.getpid()}\n"
        with raises(runs.Failure, f"run folder {folder} is in use by another train.py (pid {os.getpid()})",
                    "choose another --out") as caught:
            with runs.claim(folder, own, default_name=False):
                pass
        assert caught.value.code == runs.EXIT_USAGE
    with runs.claim(folder, own, default_name=False):            # released at the end of the block
        pass


def test_plot_only_on_a_folder_in_use_advises_to_wait_not_to_choose_another_out(tmp_path):
    folder = tmp_path / "run"
    with runs.claim(folder, False, default_name=False):
        with raises(runs.Failure, f"run folder {folder} is in use by another train.py (pid {os.getpid()})",
                    "wait for it to end, then draw the figures") as caught:
            with runs.claim(folder, True, default_name=False, plot_only=True):
                pass
    assert caught.value.code == runs.EXIT_USAGE and "--out" not in str(caught.value)


def held_elsewhere(folder: Path) -> int:
    """A descriptor holding the lock of ``folder``'s .lock file, as another process would (flock locks
    of two opens of one file exclude each other, even in one process)."""
    fd = os.open(folder / files.LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.mark.skipif(fcntl is None, reason="no advisory locks on this platform")
def test_the_lock_message_waits_for_the_winners_pid_and_never_says_unknown(tmp_path):
    fd = held_elsewhere(tmp_path)           # the winner has the lock but has not written its pid yet
    try:
        timer = threading.Timer(0.1, lambda: os.pwrite(fd, b"4242\n", 0))
        timer.start()
        with raises(files.FolderInUse, "in use by another train.py (pid 4242); wait for it to end"):
            files.Lock(tmp_path).acquire()
        timer.join()
        os.ftruncate(fd, 0)                 # a pid that never comes: no parenthesis at all
        started = time.monotonic()
        with raises(files.FolderInUse, f"{tmp_path} is in use by another train.py; wait") as caught:
            files.Lock(tmp_path).acquire()
        assert "pid" not in str(caught.value) and "unknown" not in str(caught.value)
        assert time.monotonic() - started < 2
    finally:
        os.close(fd)


@pytest.mark.skipif(fcntl is None, reason="no advisory locks on this platform")
def test_the_lock_file_holds_exactly_the_winners_pid_over_a_longer_old_one(tmp_path):
    (tmp_path / files.LOCK).write_text("123456789012\n")
    lock = files.Lock(tmp_path)
    lock.acquire()
    try:
        assert (tmp_path / files.LOCK).read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_ctrl_c_once_the_run_folder_is_claimed_aborts_with_the_checkpoint_unchanged(capsys):
    def work():
        raise KeyboardInterrupt
    assert runs.exit_code(work, prog="script.py", memory_hint="", folder=lambda: Path("run")) == 130
    assert capsys.readouterr().err == "script.py: error: aborted; the last checkpoint on disk is unchanged\n"


def test_a_run_killed_before_its_first_checkpoint_leaves_a_folder_a_new_run_reuses(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    runs.write_record(folder, {"config": SAVED, "versions": {"backprop-parts": "0.1.0"}, "status": "running"})
    (folder / ".checkpoint.npz.k1ll3d.tmp").write_bytes(b"PK half")
    assert files.kind_of_folder(folder) == "unsaved"
    with raises(runs.Failure, f"cannot resume from {folder}", "saved no checkpoint.npz",
                "killed before its first checkpoint", f"--out {folder}") as caught:
        runs.checkpoint_in(folder)
    assert caught.value.code == runs.EXIT_FAILED
    assert runs.choose_folder(str(folder), None) == (folder, False)
    with runs.claim(folder, False, default_name=False):
        assert sorted(os.listdir(folder)) == [".lock", "config.json"]       # the stale temporary file gone
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"train.py: warning: {folder} holds a run killed before its first checkpoint "
                    "(config.json says running, no checkpoint.npz); the folder is reused")
    # any other file, or a record that says the run ended, keeps the folder a run's, refused
    for status, extra in (("running", "history.csv"), ("diverged", None), ("failed", None)):
        runs.write_record(folder, {"versions": {"backprop-parts": "0.1.0"}, "status": status})
        if extra:
            (folder / extra).write_text("step,loss\n")
        assert files.kind_of_folder(folder) == "run"
        with raises(runs.Failure, "already holds a run"):
            runs.choose_folder(str(folder), None)
        if extra:
            (folder / extra).unlink()


def test_a_claim_removes_the_runs_stale_temporary_files_and_nothing_else(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    a_run_record(folder)
    stale = [".checkpoint.npz.x1y2z3.tmp", ".history.csv.abc.tmp", ".loss.png.q.tmp", ".config.json.k.tmp"]
    kept = ["notes.txt", ".other.tmp", ".checkpoint.npz.keep"]
    for name in stale + kept:
        (folder / name).write_text("left")
    assert files.kind_of_folder(folder) == "run"
    with runs.claim(folder, own=True, default_name=False):
        assert sorted(os.listdir(folder)) == sorted([".lock", "config.json", *kept])


def test_a_folder_that_holds_a_run_is_refused(tmp_path, checkpoint):
    with raises(runs.Failure, str(checkpoint.parent), "already holds a run", "choose another --out",
                f"--resume {checkpoint}") as caught:
        runs.choose_folder(str(checkpoint.parent), None)
    assert caught.value.code == runs.EXIT_USAGE
    (tmp_path / "claimed").mkdir()
    a_run_record(tmp_path / "claimed")
    with raises(runs.Failure, str(tmp_path / "claimed"), "already holds a run",
                "choose another --out") as caught:
        runs.choose_folder(str(tmp_path / "claimed"), None)
    assert "--resume" not in str(caught.value)          # no checkpoint there: nothing to continue
    # claimed by another run between the check and the claim
    (tmp_path / "late").mkdir()
    folder, own = runs.choose_folder(str(tmp_path / "late"), None)
    a_run_record(tmp_path / "late")
    with raises(runs.Failure, str(folder), "already holds a run"):
        with runs.claim(folder, own, default_name=False):
            pass
    (tmp_path / "a-file").write_text("")
    with raises(runs.Failure, "--out", str(tmp_path / "a-file"), "is a file, not a folder"):
        runs.choose_folder(str(tmp_path / "a-file"), None)


@pytest.mark.parametrize("files_there", [
    {"history.csv": "mine\n"},
    {"config.json": "{}"},                                  # a config.json, but not a run's record
    {"config.json": '{"config": {"hidden": 4}, "vers'},     # cut short
    {"config.json": "", "notes.txt": "mine"},
    {"checkpoint.npz": "x", "a": "1", "b": "2", "c": "3"},
])
def test_a_folder_that_is_not_a_run_is_refused_and_left_as_it_was(tmp_path, files_there):
    folder = tmp_path / "P"
    folder.mkdir()
    for name, text in files_there.items():
        (folder / name).write_text(text)
    before = folder_bytes(folder)
    shown = ", ".join(sorted(files_there)[:3])
    for attempt in (lambda: runs.choose_folder(str(folder), None),
                    lambda: runs.claim(folder, False, default_name=False).__enter__()):
        with raises(runs.Failure, f"{folder} is not a run folder of train.py (it holds {shown}",
                    "nothing in it was changed", "choose a new or empty folder with --out") as caught:
            attempt()
        assert caught.value.code == runs.EXIT_USAGE
        named = "its config.json is not a run's record" in str(caught.value)
        assert named == ("config.json" in files_there)
    assert folder_bytes(folder) == before


def folder_bytes(folder: Path) -> dict:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.name != ".lock"}


def test_an_empty_claim_left_by_an_earlier_version_is_reused(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text("")
    assert files.kind_of_folder(folder) == "claim"
    assert runs.choose_folder(str(folder), None) == (folder, False)
    with runs.claim(folder, False, default_name=False):
        pass
    assert "config.json is empty (left by a run killed as it started); the folder is reused" in \
        capsys.readouterr().err


def test_a_resumed_run_continues_in_its_own_run_folder_or_a_new_one(checkpoint, tmp_path):
    read = read_checkpoint(checkpoint)
    assert runs.choose_folder(None, read) == (checkpoint.parent, True)
    assert runs.choose_folder(str(checkpoint.parent), read) == (checkpoint.parent, True)
    with runs.claim(checkpoint.parent, True, default_name=False) as folder:
        assert folder == checkpoint.parent
    assert runs.choose_folder(str(tmp_path / "next"), read) == (tmp_path / "next", False)


@pytest.mark.parametrize("where", ["backup/copy.npz", "backup/checkpoint.npz", "run/copy.npz"])
def test_a_checkpoint_outside_its_run_folder_resumes_only_into_a_new_folder(checkpoint, tmp_path, where):
    path = tmp_path / where
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(checkpoint.read_bytes())
    read = read_checkpoint(path)
    with raises(runs.Failure, f"cannot resume into {path.parent}: it is not the run folder of {path}",
                "pass --out NEWFOLDER") as caught:
        runs.choose_folder(None, read)
    assert caught.value.code == runs.EXIT_USAGE
    assert runs.choose_folder(str(tmp_path / "new"), read) == (tmp_path / "new", False)


def test_a_path_too_long_for_the_file_system_is_one_clear_failure(tmp_path):
    long = tmp_path / ("x" * 300)
    with raises(runs.Failure, "--out", "the path is too long for the file system",
                "names may have at most 255"):
        runs.choose_folder(str(long), None)
    for path in (long, long / "checkpoint.npz"):
        with raises(runs.Failure, "cannot resume from", "the path is too long") as caught:
            runs.checkpoint_in(path)
        assert caught.value.code == runs.EXIT_USAGE               # a usage error, as for --out
    model = Sequential(Linear(2, 2, rng=np.random.default_rng(0)))
    with raises(ValueError, f"cannot load {long}", "the path is too long"):
        model.load(long)
    with raises(ValueError, f"cannot save {long}", "the path is too long for the file system",
                "names may have at most 255"):
        model.save(long)                                          # the same type and words as load
    assert os.listdir(tmp_path) == []


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder, own = runs.choose_folder(None, None)
    assert folder.parent == Path("runs") and len(folder.name) == len("20261128-120000") and not own
    with runs.claim(Path("runs/20261128-120000"), own=False, default_name=True) as first:
        a_run_record(first)
    with runs.claim(Path("runs/20261128-120000"), own=False, default_name=True) as second:
        pass
    assert (first.name, second.name) == ("20261128-120000", "20261128-120000-2")
    with raises(runs.Failure, str(first), "already holds a run"):
        with runs.claim(first, own=False, default_name=False):
            pass


def test_figures_that_cannot_be_drawn_are_one_line_each_and_recorded(tmp_path, capsys):
    def overflow(path):
        raise OverflowError("cannot convert float infinity to integer")
    drawn = runs.draw_figures(tmp_path, {"loss.png": overflow, "boundary.png": lambda path: path.touch()})
    assert drawn == {"loss.png": "not drawn (OverflowError: cannot convert float infinity to integer)",
                     "boundary.png": "drawn"}
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("train.py: warning: cannot draw loss.png (OverflowError")
    assert f"python train.py --resume {tmp_path} --plot-only" in line
    assert os.listdir(tmp_path) == ["boundary.png"]


# The record and the checkpoint --------------------------------------------------------------

def test_the_record_says_what_ran_and_how_it_ended(tmp_path, checkpoint, capsys):
    model, optimizer, X, y = small_problem()
    tmp_path = tmp_path / "record"
    tmp_path.mkdir()
    config = dict(SAVED, dtype="float64", steps=5)
    record = runs.RunRecord(tmp_path, config, model, optimizer, {"train": 12, "validation": 0},
                            read_checkpoint(checkpoint))
    state = TrainingState(step=3)
    record.begin(state)
    printed = capsys.readouterr().out
    assert "27 parameters, float64, init he" in printed
    assert "SGD(lr=0.5" in printed and "full batch" in printed
    assert f"run        5 steps, resuming at step 3 from {checkpoint}\n" in printed
    assert f"\n           files in {tmp_path}" in printed
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["status"] == "running" and written["finished"] is None and written["final"] is None
    assert written["parameters"] == 27 and written["config"] == config
    assert written["resumed_from"] == {"path": str(checkpoint), "step": 3}
    assert set(written["versions"]) >= {"python", "numpy", "matplotlib", "tqdm"}

    state.step = 5
    record.write(state, "completed", final={"step": 5, "loss": 0.25, "val_loss": float("nan")})
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["status"] == "completed" and written["steps_done"] == 5 and written["finished"]
    assert written["final"] == {"step": 5, "loss": 0.25, "val_loss": None}     # NaN is written as null
    assert list(tmp_path.iterdir()) == [tmp_path / "config.json"]               # no temporary file left


def test_a_divergence_is_recorded_with_the_history_and_becomes_a_failure(tmp_path):
    model, optimizer, X, y = small_problem()
    record = runs.RunRecord(tmp_path, dict(SAVED), model, optimizer, {"train": 12, "validation": 0})
    state = TrainingState(step=7, history=History())
    diverged = Diverged(7, "a score", float("nan"))
    failure = record.diverged(diverged, state)
    assert isinstance(failure, runs.Failure) and failure.code == runs.EXIT_FAILED
    assert str(diverged) in str(failure) and "no checkpoint was written" in str(failure)
    assert str(tmp_path / "history.csv") in str(failure)
    written = json.loads((tmp_path / "config.json").read_text())
    assert (written["status"], written["message"]) == ("diverged", str(diverged))
    assert (tmp_path / "history.csv").exists()


def test_a_diverged_state_never_replaces_the_last_good_checkpoint(tmp_path):
    model, optimizer, X, y = small_problem()
    state = TrainingState(step=2)
    path = tmp_path / "checkpoint.npz"
    runs.save_good_checkpoint(path, model, optimizer, state, SAVED)
    before = path.read_bytes()
    model[0].params["W"][0, 0] = np.inf
    state.step = 3
    with pytest.raises(Diverged, match="step 3"):
        runs.save_good_checkpoint(path, model, optimizer, state, SAVED)
    assert path.read_bytes() == before


# Ctrl-C and exit codes ----------------------------------------------------------------------

def test_the_first_ctrl_c_asks_to_stop_and_the_second_aborts(capsys):
    before = signal.getsignal(signal.SIGINT)
    with runs.StopFlag() as stop:
        assert not stop()
        signal.raise_signal(signal.SIGINT)
        assert stop() and stop.requested
        assert "stopping after this step" in capsys.readouterr().err
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert stop.saved_and_stopped(4, Path("run/checkpoint.npz")) == runs.EXIT_INTERRUPTED == 130
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "interrupted at step 4" in line and "saved" in line
    assert "python train.py --resume run/checkpoint.npz" in line
    assert signal.getsignal(signal.SIGINT) is before                     # put back on the way out


@pytest.mark.parametrize("error, code, words", [
    (runs.Failure("the run failed"), 1, ("the run failed",)),
    (runs.Failure("bad flags", runs.EXIT_USAGE), 2, ("bad flags",)),
    (PermissionError(13, "Permission denied", "run"), 1, ("cannot write the run's files", "Permission denied",
                                                          "'run'")),
    (MemoryError(), 1, ("out of memory", "too large", "try less")),
    (KeyboardInterrupt(), 130, ("interrupted before the run started", "nothing was written")),
])
def test_an_expected_failure_is_one_line_and_its_exit_code(capsys, error, code, words):
    def work():
        raise error
    assert runs.exit_code(work, prog="script.py", memory_hint="try less") == code
    err = capsys.readouterr().err
    assert err.startswith("script.py: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert all(word in err for word in words), err
    assert runs.exit_code(lambda: 0, prog="script.py", memory_hint="") == runs.EXIT_OK == 0


def test_an_unexpected_error_is_not_hidden_it_is_named_in_one_line_with_the_traceback_on_demand(
        capsys, monkeypatch):
    def work():
        raise ZeroDivisionError("a bug")
    monkeypatch.delenv("BACKPROP_DEBUG", raising=False)
    assert runs.exit_code(work, prog="script.py", memory_hint="", folder=lambda: Path("runs/x")) == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "unexpected ZeroDivisionError: a bug" in line and "runs/x" in line
    assert runs.exit_code(work, prog="script.py", memory_hint="", debug=True) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise ZeroDivisionError("a bug")' in err and "no run folder" in err


def test_the_summary_line_reads_the_final_history_row():
    row = {"step": 30, "loss": 0.123456, "train_accuracy": 0.9, "val_loss": float("nan"),
           "val_accuracy": float("nan")}
    assert runs.summary(row, 1.26) == \
        "done       step 30  loss 0.1235  train accuracy 90.0%  (1.3 s of training)"
    row.update(loss=123456.0, val_loss=0.5, val_accuracy=0.75)
    assert runs.summary(row, 0.0) == ("done       step 30  loss 1.235e+05  train accuracy 90.0%  "
                                      "val loss 0.5000  val accuracy 75.0%  (0.0 s of training)")


@pytest.mark.skipif(fcntl is None, reason="no advisory locks on this platform")
def test_a_folder_whose_run_is_live_is_refused_as_in_use_not_offered_for_resume(checkpoint):
    fd = held_elsewhere(checkpoint.parent)          # a live train.py holds the run's lock
    try:
        os.pwrite(fd, b"4242\n", 0)
        with raises(runs.Failure, f"run folder {checkpoint.parent} is in use by another train.py (pid 4242)",
                    "wait for it to end, or choose another --out") as caught:
            runs.choose_folder(str(checkpoint.parent), None)
        assert caught.value.code == runs.EXIT_USAGE and "--resume" not in str(caught.value)
    finally:
        os.close(fd)
    assert sorted(os.listdir(checkpoint.parent)).count(files.LOCK) == 1     # peeking made no second file
