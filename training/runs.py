"""A training run's machinery: its folder and lock, its config.json record, Ctrl-C, figures, exit codes.

The rules for the run's folder:

- a new run writes only into a folder that does not exist or is empty;
- ``--resume`` writes only into the run it resumes (the folder of its checkpoint.npz, or an ``--out``
  holding a copy of it byte for byte, whose config.json is a run's record), or into a new or empty
  ``--out``;
- one writer: the run holds an ``fcntl.flock`` lock on the folder's ``.lock`` file for as long as it
  runs (the system lets go of it when the process ends, however it ends); a second train.py stops;
- what a killed run leaves (its lock, its own temporary files, a config.json saying "running" or
  "failed", or an empty one) counts as empty: the folder can be reused;
- any other content is a user's: refused, untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import difflib
import fcntl
import filecmp
import json
import math
import os
import platform
import signal
import sys
import traceback
from importlib import metadata
from pathlib import Path

from checks.files import is_temporary, unusable_path, write_atomically

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130     # 2: argparse's; 130: 128 + SIGINT
LOCK = ".lock"
RUN_FILES = ("config.json", "checkpoint.npz", "history.csv", "loss.png", "boundary.png", "hidden.png",
             "training.gif", "best.npz", "predictions.csv")
STATUSES = ("running", "completed", "interrupted", "diverged", "failed")     # a record's, in config.json
NOT_DRAWN = "not drawn (interrupted)"         # a figure's outcome in config.json after a Ctrl-C


class Failure(Exception):
    """An expected failure: one line on stderr, never a traceback, and its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def exit_code(work, *, debug: bool = False, folder=lambda: None) -> int:
    """``work()``'s exit code; a failure is one line on stderr. Any other exception is a bug: one line
    naming it and the run's ``folder()``, the traceback first with ``debug`` or BACKPROP_DEBUG=1."""
    try:
        return work()
    except Failure as exc:
        message, code = str(exc), exc.code
    except OSError as exc:
        message, code = f"cannot write the run's files: {exc}", EXIT_FAILED
    except MemoryError:
        message, code = "out of memory: try a smaller --hidden, --depth or --points", EXIT_FAILED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        message = ("interrupted before the run started; nothing was written" if folder() is None
                   else "aborted; the last checkpoint on disk is unchanged")
    except Exception as exc:                # noqa: BLE001 -- a bug: one line, the traceback on demand
        if debug or os.environ.get("BACKPROP_DEBUG", "0") not in ("", "0"):
            traceback.print_exc()
        where = "no run folder was made" if folder() is None else f"the run's files so far are in {folder()}"
        message, code = f"unexpected {type(exc).__name__}: {exc} ({where}; --debug shows the traceback)", 1
    print(f"train.py: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"train.py: warning: {message}", file=sys.stderr)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser; its one-line usage error (exit 2) ends with a hint: the nearest real flag for
    a mistyped one, how to write a value that starts with '-', or "see --help"."""

    def parse_args(self, args=None, namespace=None):
        """``--lr -inf`` read as ``--lr=-inf`` (argparse takes only -1 or -.5 for a value): a flag's value
        that starts with '-' but is a number, so that the flag's own check says what is wrong with it."""
        args = list(sys.argv[1:] if args is None else args)
        valued = {option for action in self._actions if action.nargs != 0 for option in action.option_strings}
        for i in range(len(args) - 1, 0, -1):
            if args[i - 1] in valued and args[i].startswith("-") and is_number(args[i]):
                args[i - 1:i + 1] = [f"{args[i - 1]}={args[i]}"]
        return super().parse_args(args, namespace)

    def error(self, message):
        hint = "see --help"
        if message.startswith("unrecognized arguments: "):
            names = [option.lstrip("-") for action in self._actions for option in action.option_strings]
            nearest = [difflib.get_close_matches(word.split("=")[0].lstrip("-"), names, n=1)   # dashes aside
                       for word in message.split()[2:] if word.startswith("-")]
            hint = f"did you mean {', '.join('--' + m[0] for m in nearest if m)}?" if any(nearest) else hint
        if message.endswith("expected one argument"):
            hint = "a value that starts with '-' is written with '=', such as --out=-name; see --help"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} ({hint})\n")


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def folder_name(text: str) -> str:
    """The argparse type of --out: any name but an empty one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder")
    return text


# The run's folder -------------------------------------------------------------------------

def run_record(folder: Path) -> dict | None:
    """The folder's config.json if it is a record of this project's runs, as a run writes it (a status
    of STATUSES, no NaN) and so can write it again, else None."""
    try:
        record = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        json.dumps(record, allow_nan=False)
    except (OSError, ValueError, RecursionError):
        return None
    ours = isinstance(record, dict) and record.get("status") in STATUSES
    return record if ours and "backprop-parts" in str(record.get("versions")) else None


def ours(name: str) -> bool:
    """The lock file, or a temporary file that a kill left of one of a run's files."""
    return name == LOCK or any(is_temporary(name, file) for file in RUN_FILES)


def check_folder(folder: Path, own: bool) -> None:
    """A Failure (exit 2) unless the run may write into ``folder`` by the rules above; ``own``: it is the
    run folder of the checkpoint the run resumes."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise Failure(f"argument --out: {folder} is a file, not a folder", EXIT_USAGE)
    record = run_record(folder)
    names = sorted(name for name in os.listdir(folder) if not ours(name))
    if own or not names or names == ["predictions.csv"]:    # --predict --out DIR, again
        return
    if names == ["config.json"]:            # a killed run's record, or an empty one (killed as it began)
        status = "running" if (folder / "config.json").stat().st_size == 0 else (record or {}).get("status")
        if status in ("running", "failed"):
            return
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    resume = f", or continue its run with --resume {folder}" if record and "checkpoint.npz" in names else ""
    raise Failure(f"{folder} is not empty (it holds {shown}); nothing in it was changed: choose a new or "
                  f"empty folder with --out{resume}", EXIT_USAGE)


@contextlib.contextmanager
def run_folder(out: str | None, checkpoint: Path | None):
    """``with run_folder(args.out, checkpoint) as folder:`` the run's folder (``out``, else the run folder
    of the resumed ``checkpoint``, else runs/<date>-<time>), checked, created and locked for the block."""
    if out is None and checkpoint is None:
        stamp = Path("runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        folder = next(name for name in [stamp, *(Path(f"{stamp}-{n}") for n in range(2, 100))]
                      if not name.exists())
    else:
        folder = Path(out) if out is not None else checkpoint.parent
    mine = checkpoint is not None and checkpoint.name == "checkpoint.npz" \
        and os.path.abspath(folder) == os.path.abspath(checkpoint.parent)
    kept = folder / "checkpoint.npz"        # --out holds a copy of it: what a killed --plot-only --out leaves
    copy = out is not None and checkpoint is not None and not mine and kept.is_file() \
        and checkpoint.is_file() and filecmp.cmp(checkpoint, kept, shallow=False)
    own = (mine or copy) and run_record(folder) is not None
    if out is None and checkpoint is not None and not own:
        why = "its config.json is not a run's record (edited or damaged)" if mine else \
            f"it is not the run folder of {checkpoint}"
        raise Failure(f"cannot resume into {folder}: {why}; pass --out NEWFOLDER to continue the run (or, "
                      "with --plot-only, draw its figures) there", EXIT_USAGE)
    try:
        locked = (folder / LOCK).exists()
    except OSError as exc:                  # a name no file system takes
        raise Failure(f"argument --out: {unusable_path(folder, exc)}", EXIT_USAGE) from None
    if not locked:
        check_folder(folder, own)           # before the lock file is made: a user's folder stays untouched
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Failure(f"{folder} is in use by another train.py; wait for it to end, or choose another "
                          "--out", EXIT_USAGE) from None
        check_folder(folder, own)
        for name in os.listdir(folder):     # a killed run's temporary files: no writer is left to finish them
            if ours(name) and name != LOCK:
                (folder / name).unlink()
        yield folder                        # closing the file lets go of the lock


# The record: config.json ------------------------------------------------------------------

def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("numpy", "matplotlib", "tqdm", "backprop-parts"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def new_record(config: dict, **fields) -> dict:
    """What ran: the settings, the library versions, the command, and ``fields``."""
    return dict(config=config, versions=versions(), command=" ".join(["train.py", *sys.argv[1:]]),
                started=datetime.datetime.now().isoformat(timespec="seconds"), **fields)


def write_record(folder: Path, record: dict, status: str, state, **fields) -> None:
    """config.json, atomically: the ``record`` with how the run stands (``status``, the ``state``'s step
    and last history row, NaN written as null) and ``fields``."""
    final = {k: None if v != v else v for k, v in state.history[-1].items()} if len(state.history) else None
    finished = None if status == "running" else datetime.datetime.now().isoformat(timespec="seconds")
    record.update(fields, status=status, finished=finished, steps_done=state.step, final=final)
    text = json.dumps(record, indent=2, allow_nan=False, default=str) + "\n"
    write_atomically(folder / "config.json", lambda file: file.write(text.encode("utf-8")))


# Ctrl-C and figures -----------------------------------------------------------------------

@contextlib.contextmanager
def stop_flag():
    """``with stop_flag() as stop:`` the first Ctrl-C makes ``stop()`` True (finish the step, save, exit
    130); a second one aborts at once. Outside the block Ctrl-C behaves as before."""
    requested = []

    def handle(signum, frame):
        if requested:
            raise KeyboardInterrupt
        requested.append(signum)
        print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield lambda: bool(requested)
    finally:
        signal.signal(signal.SIGINT, previous)


def draw_figures(folder: Path, figures: dict, status: str, *, skip: bool = False) -> dict[str, str]:
    """``draw(folder / name)`` for each figure; what became of each, "drawn" or why not. A figure that
    cannot be drawn is one warning, never the end of the run. A Ctrl-C (or ``skip``: one came before)
    leaves the rest to --plot-only, saying so, the run's ``status`` with it."""
    outcome = dict.fromkeys(figures, NOT_DRAWN)
    for name, draw in [] if skip else figures.items():
        try:
            draw(folder / name)
            outcome[name] = "drawn"
        except KeyboardInterrupt:
            break
        except Exception as exc:            # noqa: BLE001 -- a figure never ends a run
            outcome[name] = f"not drawn ({type(exc).__name__}: {exc})"
            warn(f"cannot draw {name} ({type(exc).__name__}: {exc}); the run is saved: draw it again with "
                 f"python train.py --resume {folder} --plot-only")
    left = [name for name, drawn in outcome.items() if drawn == NOT_DRAWN]
    if left:
        print(f"interrupted: the run is saved ({status}), {', '.join(left)} not drawn; draw them with "
              f"python train.py --resume {folder} --plot-only", file=sys.stderr)
    return outcome


def diverged(folder: Path, record: dict, state, exc, hint: str = "") -> Failure:
    """Record the divergence ``exc`` and the history up to it; the Failure to raise, ending with ``hint``.
    A NaN never reaches a checkpoint, so the one on disk is the last good state; a loss stuck high
    (finite) may be in it."""
    write_record(folder, record, "diverged", state, message=str(exc))
    state.history.to_csv(folder / "history.csv")
    last = "the last checkpoint" if math.isfinite(exc.value) else "the last good checkpoint"
    kept = f"{last} is {folder / 'checkpoint.npz'}" if (folder / "checkpoint.npz").exists() else \
        "no checkpoint was written"
    return Failure(f"{exc}{hint}; {kept}; the history up to the failure is in {folder / 'history.csv'}")
