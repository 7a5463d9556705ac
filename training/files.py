"""A run's folder and its files: which folders a run may write to, one writer at a time, no leftovers.

- A run writes only into a folder that is new, empty, or a run of this project: one whose
  config.json is a run's record (``kind_of_folder``). A user's own folder is never touched. A run
  killed before its first checkpoint leaves only its record ("running"): a new run may reuse it.
- ``Lock``: one writer per run folder. An advisory ``fcntl.flock`` on the folder's ``.lock`` file,
  held for the whole run; the operating system releases it when the process ends, however it ends,
  so a killed run never leaves a stale lock. The file holds the writer's process id, for the message.
- Every file a run writes goes through ``checks.files.write_atomically`` (a temporary
  ``.<name>.<random>.tmp`` beside the target, then a rename). A hard kill can leave such a temporary
  file behind; ``remove_stale_temporaries`` removes the run's own, and only while holding the lock,
  so it never deletes the file of a live writer.
"""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import checks.files

try:
    import fcntl
except ImportError:                         # Windows: no advisory locks here, runs are not locked
    fcntl = None

RUN_FILES = ("config.json", "history.csv", "checkpoint.npz", "loss.png", "boundary.png")
LOCK = ".lock"
PROJECT = "backprop-parts"              # every record's "versions" names it: the mark of a run's config.json


WAIT_OR_MOVE = "wait for it to end, or choose another --out"    # what to do when a folder is in use


class FolderInUse(Exception):
    """Another live process holds the folder's lock."""

    def __init__(self, folder: Path, pid: int | None):
        self.folder = folder
        self.pid = pid
        super().__init__(self.explained(WAIT_OR_MOVE))

    def explained(self, advice: str) -> str:
        """The one-line message, with ``advice`` (what the user can do) at its end."""
        pid = "" if self.pid is None else f" (pid {self.pid})"
        return f"run folder {self.folder} is in use by another train.py{pid}; {advice}"


def kind_of_folder(folder: Path) -> str:
    """What ``folder`` is to a run: "new" (absent), "empty" (nothing but a lock and stale temporary
    files), "claim" (only an empty config.json, left by an earlier version's run killed as it
    started), "unsaved" (only a run's record saying "running": its run was killed before its first
    checkpoint, or runs now and has not saved yet; the lock tells), "run" (its config.json is a
    run's record), "file" or "foreign" (anything else)."""
    if not folder.exists():
        return "new"
    if not folder.is_dir():
        return "file"
    names = [name for name in os.listdir(folder) if name != LOCK and not is_temporary(name)]
    if not names:
        return "empty"
    record = folder / "config.json"
    if not record.is_file():
        return "foreign"
    if record.stat().st_size == 0:
        return "claim" if names == ["config.json"] else "foreign"
    record = run_record(record)
    if record is None:
        return "foreign"
    return "unsaved" if names == ["config.json"] and record.get("status") == "running" else "run"


def run_record(path: Path) -> dict | None:
    """The config.json at ``path`` if this project's runs wrote it, else None."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("versions"), dict):
        return None
    return record if PROJECT in record["versions"] else None


def is_temporary(name: str) -> bool:
    """A temporary file of ``write_atomically`` for one of a run's files: ``.<name>.<random>.tmp``."""
    return any(checks.files.is_temporary(name, run_file) for run_file in RUN_FILES)


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Remove the run's temporary files left by a hard kill; only call this holding the lock."""
    removed = sorted(name for name in os.listdir(folder) if is_temporary(name))
    for name in removed:
        (folder / name).unlink(missing_ok=True)
    return removed


class Lock:
    """The folder's advisory lock: ``acquire()`` takes it or raises FolderInUse at once; ``release()``."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._fd = None

    def acquire(self) -> None:
        if fcntl is None:
            return
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                os.close(fd)
                raise
            pid = holder(fd)
            os.close(fd)
            raise FolderInUse(self.folder, pid) from None
        # The pid first, then the file cut to its length: a reader never finds the file empty, and
        # its first line is always a whole pid (the winner's, or for an instant the last holder's).
        line = f"{os.getpid()}\n".encode("ascii")
        os.pwrite(fd, line, 0)
        os.ftruncate(fd, len(line))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)              # closing releases the lock; the file stays, for the next run
            self._fd = None


def check_not_in_use(folder: Path) -> None:
    """Raise FolderInUse if a live process holds ``folder``'s lock (a peek: the lock is let go at once,
    and no lock file is made where there is none)."""
    if fcntl is None or not (folder / LOCK).is_file():
        return
    fd = os.open(folder / LOCK, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
            raise
        raise FolderInUse(folder, holder(fd)) from None
    finally:
        os.close(fd)                        # closing lets go of the shared lock, if it was taken


def holder(fd: int, wait: float = 0.5) -> int | None:
    """The pid in the lock file ``fd`` (its first line). A new lock file stays empty for an instant
    after its holder took the lock, until it writes its pid: read again for up to ``wait`` seconds;
    None if no pid appears."""
    deadline = time.monotonic() + wait
    while True:
        first = os.pread(fd, 32, 0).decode("ascii", "replace").split("\n")[0].strip()
        if first.isdigit():
            return int(first)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)
