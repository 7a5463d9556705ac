"""Files: every file the project writes is written atomically, and ``.npz`` files are read without unpickling.

``write_atomically`` never leaves a half-written file: it writes a temporary file
``.<name>.backprop-<16 hex digits>.tmp`` beside the target, flushes and fsyncs it, then renames it
over the target in one step (``os.replace``). If anything fails on the way, the temporary file is
removed and the old target is untouched. A new file gets the permissions any new file gets (0666
less the umask); a replaced file keeps its own.

``write_npz`` writes arrays as an uncompressed ``.npz`` and refuses Python objects (they would need
pickling). ``read_npz`` never unpickles (``allow_pickle=False``) and turns every way a file can be
unusable (missing, truncated, not an ``.npz``, holding pickled objects) into a ``ValueError`` that
names the file and the problem.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path

import numpy as np


def write_atomically(path, write) -> None:
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    Readers see either the old file or the complete new one, never a partial write; on any
    failure the temporary file is removed and the old file is left as it was. A path too long for
    the file system is a ``ValueError`` naming it.
    """
    path = Path(path)
    folder = path.parent
    temporary = folder / f".{path.name}.backprop-{secrets.token_hex(8)}.tmp"     # see is_temporary
    try:
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot save {path}: the folder {folder} does not exist")
        if path.is_dir():
            raise IsADirectoryError(
                f"cannot save {path}: it is a folder; give a file name such as {path / 'model.npz'}")
        # O_EXCL: never another file of that name; 0o666: the kernel takes the umask's bits away
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        # a bad value, as for read_npz: no file system takes such a name
        raise ValueError(f"cannot save {path}: {unusable_path(path, exc)}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)   # a replaced file keeps its permissions
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):      # the rename made durable too, where a folder opens (POSIX)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def is_temporary(name: str, target: str) -> bool:
    """Whether the file ``name`` is a temporary file of ``write_atomically`` for a file named ``target``
    (one that a hard kill left behind, say). The name is exact, so a user's ``.<target>.mine.tmp`` is not."""
    return re.fullmatch(rf"\.{re.escape(target)}\.backprop-[0-9a-f]{{16}}\.tmp", name) is not None


def write_npz(path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically."""
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind == "O":
            raise TypeError(f"cannot save {path}: entry {name!r} holds Python objects, "
                            "which would need pickling")
    write_atomically(path, lambda file: np.savez(file, **arrays))


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` at ``path``, or a ``ValueError`` naming the file and the problem."""
    path = Path(path)
    try:
        with open(path, "rb") as file:      # opened here, so that it is closed whatever np.load does
            arrays = _arrays(file)
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "it is a folder, not an .npz file"
    except OSError as exc:                  # no permission, a name too long, ...
        problem = unusable_path(path, exc)
    except ValueError as exc:               # said by _arrays
        problem = str(exc)
    except Exception as exc:                # zipfile.BadZipFile, zlib.error, ...: the zip archive is damaged
        problem = f"not a readable .npz file, damaged or truncated ({type(exc).__name__}: {exc})"
    else:
        return arrays
    raise ValueError(f"cannot load {path}: {problem}")


def _arrays(file) -> dict[str, np.ndarray]:
    """The arrays of the open ``.npz`` ``file``, never unpickled; a ``ValueError`` says what else it holds."""
    try:
        loaded = np.load(file, allow_pickle=False)
    except EOFError:
        raise ValueError("the file is empty") from None
    except ValueError:                      # NumPy's way of saying "this would need unpickling"
        raise ValueError("not an .npz file (and never unpickled)") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("it holds a single .npy array, not an .npz archive")
    with loaded:
        try:
            arrays = {name: loaded[name] for name in loaded.files}
        except ValueError as exc:
            pickled = "pickle" in str(exc)
            raise ValueError("it holds pickled Python objects, which are never loaded" if pickled else
                             f"damaged .npz file ({exc})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):   # a zip member that is not a .npy array comes back as bytes
            raise ValueError(f"its entry {name!r} is not a NumPy array (not an .npz file)")
    return arrays


def unusable_path(path: Path, exc: OSError) -> str:
    """Why the operating system refused ``path``, in words: a name too long, or its own reason."""
    if exc.errno == errno.ENAMETOOLONG:
        longest = max(len(part) for part in path.parts)
        return (f"the path is too long for the file system ({len(str(path))} characters, the longest "
                f"name in it {longest}; names may have at most 255)")
    return exc.strerror or str(exc)
