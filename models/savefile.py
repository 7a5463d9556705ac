"""Model files: what they hold, writing them atomically, reading them without unpickling.

A model file (format ``backprop-parts/2``) is an uncompressed ``.npz``, a zip of ``.npy`` arrays:
  format         "backprop-parts/2"
  architecture   JSON text, one object per layer: {"kind": its type name, **layer.config()}, e.g.
                 [{"kind": "Linear", "in_features": 2, "out_features": 100, "dtype": "float64"},
                  {"kind": "ReLU", "inplace": false}, ...]
  model/<name>   each weight under its ``state_dict`` name, e.g. model/0.W
A training checkpoint (training/checkpoint.py) holds the same entries, and more.

``write_atomically`` (and ``write_npz_atomically`` on top of it) never leaves a half-written
file: it writes a temporary file in the same folder, flushes and fsyncs it, then renames it over
the target in one step (``os.replace``). If anything fails on the way, the temporary file is
removed and the old target is untouched.

``read_npz`` never unpickles (``allow_pickle=False``) and turns every way a file can be unusable
(missing, truncated, not an ``.npz``, holding pickled objects) into a ``ValueError`` that names
the file and the problem. Loading checks the format marker and the architecture, field by field,
before a single weight changes.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from models.architecture import architecture, architecture_difference

FORMAT = "backprop-parts/2"       # the "format" entry of every file this project writes
EARLIER_FORMATS = ("backprop-parts/1",)     # 1: the architecture was the model's repr, a string
MODEL = "model/"                  # the prefix of the weights' entries


def save_model(path, model) -> None:
    """Write ``model``'s architecture and weights to ``path`` (``Sequential.save``), all or nothing."""
    write_npz_atomically(path, model_entries(model))


def load_model(path, model) -> None:
    """Load the file at ``path`` into ``model`` (``Sequential.load``); any problem is a ``ValueError``
    naming the file, and nothing changes unless everything fits."""
    arrays = read_npz(path)
    check_format(path, arrays)
    saved = read_architecture(path, arrays)
    try:
        load_into(model, saved, entries_under(arrays, MODEL))
    except ValueError as exc:
        raise ValueError(f"cannot load {path}: {exc}") from exc


def model_entries(model) -> dict[str, np.ndarray]:
    """The entries a file needs for ``model``: format, architecture and ``model/<name>`` weights."""
    arrays = {"format": np.array(FORMAT), "architecture": np.array(json.dumps(architecture(model)))}
    arrays.update({MODEL + name: value for name, value in model.state_dict().items()})
    return arrays


def read_architecture(path, arrays: dict[str, np.ndarray]) -> list[dict]:
    """The architecture entry of a file read from ``path``, or a ``ValueError`` if it is damaged."""
    try:
        layers = json.loads(str(arrays["architecture"]))
    except (KeyError, ValueError, RecursionError):      # missing, not JSON, or nested beyond parsing
        layers = None
    if not isinstance(layers, list) or not all(isinstance(one, dict) and "kind" in one for one in layers):
        raise ValueError(f"cannot load {path}: damaged file (its architecture is not a JSON list of layers)")
    return layers


def load_into(model, saved: list[dict], weights: dict) -> None:
    """Copy ``weights`` into ``model`` if its architecture is ``saved``, all or nothing.

    A ``ValueError`` names the first difference, or the weights that do not fit; the caller adds
    the file's name.
    """
    different = architecture_difference(saved, model)
    if different:
        raise ValueError(f"it was saved from another architecture: {different}")
    model.load_state_dict(weights)


def entries_under(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries whose names start with ``prefix``, without it: ``model/0.W`` -> ``0.W``."""
    return {name[len(prefix):]: value for name, value in arrays.items() if name.startswith(prefix)}


def write_npz_atomically(path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, all or nothing."""
    for name, array in arrays.items():
        if np.asarray(array).dtype.kind == "O":
            raise TypeError(f"cannot save {path}: entry {name!r} holds Python objects, "
                            "which would need pickling")
    write_atomically(path, lambda file: np.savez(file, **arrays))


def write_atomically(path, write) -> None:
    """Call ``write(file)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    Readers see either the old file or the complete new one, never a partial write; on any
    failure the temporary file is removed and the old file is left as it was. A path too long for
    the file system is a ``ValueError`` naming it.
    """
    path = Path(path)
    folder = path.parent
    try:
        if not folder.is_dir():
            raise FileNotFoundError(f"cannot save {path}: the folder {folder} does not exist")
        if path.is_dir():
            raise IsADirectoryError(
                f"cannot save {path}: it is a folder; give a file name such as {path / 'model.npz'}")
        mode = _mode_for(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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
        os.chmod(tmp, mode)                 # mkstemp makes it private (0600); give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_folder(folder)


def read_npz(path) -> dict[str, np.ndarray]:
    """Every array in the ``.npz`` at ``path``, or a ``ValueError`` naming the file and the problem."""
    path = Path(path)
    try:
        exists = path.exists()
    except OSError as exc:                  # a name longer than the file system allows, say
        raise ValueError(f"cannot load {path}: {unusable_path(path, exc)}") from None
    if not exists:
        raise ValueError(f"cannot load {path}: no such file")
    if path.is_dir():
        raise ValueError(f"cannot load {path}: it is a folder, not an .npz file")
    if path.stat().st_size == 0:
        raise ValueError(f"cannot load {path}: the file is empty")
    try:
        file = open(path, "rb")             # opened here, so that it is closed whatever np.load does
    except OSError as exc:
        raise ValueError(f"cannot load {path}: {exc.strerror}") from exc
    with file:
        try:
            loaded = np.load(file, allow_pickle=False)
        except ValueError as exc:           # NumPy's way of saying "this would need unpickling"
            raise ValueError(f"cannot load {path}: not an .npz file (and never unpickled)") from exc
        except Exception as exc:
            raise ValueError(
                f"cannot load {path}: not a readable .npz file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"cannot load {path}: it holds a single .npy array, not an .npz archive")
        try:
            with loaded:
                arrays = {name: loaded[name] for name in loaded.files}
        except ValueError as exc:
            if "pickle" in str(exc):
                raise ValueError(
                    f"cannot load {path}: it holds pickled Python objects, which are never loaded") from exc
            raise ValueError(f"cannot load {path}: damaged .npz file ({exc})") from exc
        except Exception as exc:
            raise ValueError(
                f"cannot load {path}: damaged or truncated .npz file ({type(exc).__name__}: {exc})") from exc
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):   # a zip member that is not a .npy array comes back as bytes
            raise ValueError(
                f"cannot load {path}: its entry {name!r} is not a NumPy array (not an .npz file)")
    return arrays


def unusable_path(path: Path, exc: OSError) -> str:
    """Why the operating system refused ``path``, in words: a name too long, or its own reason."""
    if exc.errno == errno.ENAMETOOLONG:
        longest = max(len(part) for part in path.parts)
        return (f"the path is too long for the file system ({len(str(path))} characters, the longest "
                f"name in it {longest}; names may have at most 255)")
    return exc.strerror or str(exc)


def check_format(path, arrays: dict[str, np.ndarray]) -> None:
    """Raise unless ``arrays`` (read from ``path``) carry this version's format marker."""
    marker = arrays.get("format")
    marker = str(marker) if marker is not None and marker.shape == () else None
    if marker == FORMAT:
        return
    if marker is not None and marker.startswith("backprop-parts/"):
        version = "an earlier" if marker in EARLIER_FORMATS else "another"
        raise ValueError(
            f"cannot load {path}: it was written in format {marker} by {version} version of this project; "
            f"this version reads {FORMAT} (retrain, or load it with that version and save its state_dict)"
        )
    names = ", ".join(sorted(arrays)[:6]) or "nothing"
    raise ValueError(
        f"cannot load {path}: not a file saved by this project (no format entry {FORMAT!r}; it holds {names})"
    )


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 minus the umask."""
    if path.exists():
        return path.stat().st_mode & 0o7777
    try:
        status = Path("/proc/self/status").read_text()
        umask = int(status.split("Umask:")[1].split()[0], 8)
    except (OSError, IndexError, ValueError):
        umask = 0o022                       # not Linux: the most common umask
    return 0o666 & ~umask


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
