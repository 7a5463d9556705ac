"""A run's folder and its files: which folders a run may write to, one writer at a time, no leftovers.

- A run writes only into a folder that is new, empty, or a run of this project: one whose
  config.json is a run's record (``kind_of_folder``). A user's own folder is never touched.
- ``Lock``: one writer per run folder. An advisory ``fcntl.flock`` on the folder's ``.lock`` file,
  held for the whole run; the operating system releases it when the process ends, however it ends,
  so a killed run never leaves a stale lock. The file holds the writer's process id, for the message.
- Every file a run writes goes through ``models.savefile.write_atomically`` (a temporary
  ``.<name>.<random>.tmp`` beside the target, then a rename). A hard kill can leave such a temporary
  file behind; ``remove_stale_temporaries`` removes the run's own, and only while holding the lock,
  so it never deletes the file of a live writer.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

try:
    import fcntl
except ImportError:                         # Windows: no advisory locks here, runs are not locked
    fcntl = None

RUN_FILES = ("config.json", "history.csv", "checkpoint.npz", "loss.png", "boundary.png")
LOCK = ".lock"
PROJECT = "backprop-parts"              # every record's "versions" names it: the mark of a run's config.json


class FolderInUse(Exception):
    """Another live process holds the folder's lock."""

    def __init__(self, folder: Path, pid: str):
        super().__init__(f"run folder {folder} is in use by another train.py (pid {pid}); wait for it to "
                         "end, or choose another --out")


def kind_of_folder(folder: Path) -> str:
    """What ``folder`` is to a run: "new" (absent), "empty" (nothing but a lock and stale temporary
    files), "claim" (only an empty config.json, left by an earlier version's run killed as it
    started), "run" (its config.json is a run's record), "file" or "foreign" (anything else)."""
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
    return "run" if is_run_record(record) else "foreign"


def is_run_record(path: Path) -> bool:
    """Whether the file at ``path`` is a config.json written by this project's runs."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and isinstance(record.get("versions"), dict) \
        and PROJECT in record["versions"]


def is_temporary(name: str) -> bool:
    """A temporary file of ``write_atomically`` for one of a run's files: ``.<name>.<random>.tmp``."""
    return name.endswith(".tmp") and any(name.startswith(f".{run_file}.") for run_file in RUN_FILES)


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
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                raise FolderInUse(self.folder, pid) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)              # closing releases the lock; the file stays, for the next run
            self._fd = None
