"""Writing and reading ``.npz`` files safely: atomic writes, no pickles, clear errors.

``write_npz_atomically`` never leaves a half-written file: it writes a temporary file in the
same folder, flushes and fsyncs it, then renames it over the target in one step (``os.replace``).
If anything fails on the way, the temporary file is removed and the old target is untouched.

``read_npz`` never unpickles (``allow_pickle=False``) and turns every way a file can be unusable
(missing, truncated, not an ``.npz``, holding pickled objects) into a ``ValueError`` that names
the file and the problem.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "backprop-parts/1"       # the "format" entry of every file this project writes


def write_npz_atomically(path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, all or nothing."""
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save {path}: the folder {folder} does not exist")
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind == "O":
            raise TypeError(f"cannot save {path}: entry {name!r} holds Python objects, which would need pickling")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)                # mkstemp makes it private (0600); a saved model is not
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` at ``path``, or a ``ValueError`` naming the file and the problem."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"cannot load {path}: no such file")
    if path.is_dir():
        raise ValueError(f"cannot load {path}: it is a folder, not an .npz file")
    try:
        file = open(path, "rb")             # opened here, so that it is closed whatever np.load does
    except OSError as exc:
        raise ValueError(f"cannot load {path}: {exc.strerror}") from exc
    with file:
        try:
            loaded = np.load(file, allow_pickle=False)
        except ValueError as exc:
            raise ValueError(f"cannot load {path}: not an .npz file (refusing to unpickle it)") from exc
        except Exception as exc:
            raise ValueError(f"cannot load {path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"cannot load {path}: it holds a single .npy array, not an .npz archive")
        try:
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        except ValueError as exc:
            if "pickle" in str(exc):
                raise ValueError(f"cannot load {path}: it holds pickled Python objects, which are never loaded") from exc
            raise ValueError(f"cannot load {path}: damaged .npz file ({exc})") from exc
        except Exception as exc:
            raise ValueError(f"cannot load {path}: damaged or truncated .npz file ({type(exc).__name__}: {exc})") from exc


def check_format(path, arrays: dict[str, np.ndarray]) -> None:
    """Raise unless ``arrays`` (read from ``path``) carry this project's format marker."""
    marker = arrays.get("format")
    if marker is None or marker.shape != () or str(marker) != FORMAT:
        names = ", ".join(sorted(arrays)[:6]) or "nothing"
        raise ValueError(
            f"cannot load {path}: not a file saved by this project (no format entry {FORMAT!r}; "
            f"it holds {names})"
        )


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
