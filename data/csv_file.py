"""A learner's own points from a CSV file: D numbers per row and an integer class label."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from checks import check_float_dtype

LABEL = "label"


def load_csv(path, *, dtype=np.float64):
    """Read points and their labels from a CSV file: X [N x D] (``dtype``) and y [N] int64.

    The file holds one point per line, its D coordinates and its class, separated by commas:

        x1,x2,label          an optional header: the first line, if none of its cells is a number
        0.5,1.0,0
        -0.3,0.2,1

    With a header the labels are the column named ``label`` (anywhere in the line) and every other
    column is a coordinate; without one, the last column holds the labels. Labels are whole numbers
    0 … K−1, each class at least once (the classes a model's K outputs stand for).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for an empty file, a cell that
    is not a finite number, a line with too few or too many cells, a header without ``label``, or
    labels that are not 0 … K−1; each message names the file, the line and column, and what was
    expected.
    """
    dtype = check_float_dtype("dtype", dtype)
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:     # -sig: a spreadsheet's BOM
            lines = [(number, row) for number, row in enumerate(csv.reader(file), start=1)
                     if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise FileNotFoundError(f"cannot load {path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"cannot load {path}: it is a folder, not a CSV file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"cannot load {path}: not a text file ({exc.reason} at byte {exc.start})") from None
    header = None
    if lines and not any(_is_number(cell) for cell in lines[0][1]):
        header = [cell.strip() for cell in lines[0][1]]
        lines = lines[1:]
    if not lines:
        raise ValueError(f"cannot load {path}: the file is empty (expected lines of numbers such as "
                         f"'0.5,1.0,0': the coordinates, then the label)")
    names, label_column = _columns(path, header, len(lines[0][1]))
    values = np.empty((len(lines), len(names)), dtype=np.float64)
    for row, (number, cells) in enumerate(lines):
        if len(cells) != len(names):
            raise ValueError(f"cannot load {path}: line {number} has {len(cells)} cells, expected "
                             f"{len(names)} ({', '.join(names)})")
        for column, cell in enumerate(cells):
            if not _is_number(cell):
                raise ValueError(f"cannot load {path}: line {number}, column {column + 1} "
                                 f"({names[column]}): {cell.strip()!r} is not a finite number")
            values[row, column] = float(cell)
    features = [column for column in range(len(names)) if column != label_column]
    labels = values[:, label_column]
    return values[:, features].astype(dtype), _class_labels(path, labels, [n for n, _ in lines])


def _columns(path: Path, header: list[str] | None, width: int) -> tuple[list[str], int]:
    """Each column's name, and which one holds the labels."""
    if header is None:
        names = [f"x{i + 1}" for i in range(width - 1)] + [LABEL]
    elif LABEL not in header:
        raise ValueError(f"cannot load {path}: the header ({', '.join(header)}) has no column named "
                         f"'{LABEL}'; name the class column '{LABEL}', or leave the header out to use "
                         f"the last column")
    else:
        names = header
    if len(names) < 2:
        raise ValueError(f"cannot load {path}: it has only the label column; expected at least one "
                         f"coordinate column before it")
    return names, names.index(LABEL)


def _class_labels(path: Path, labels: np.ndarray, line_numbers: list[int]) -> np.ndarray:
    """The labels as int64, if they are the whole numbers 0 … K−1, each class at least once."""
    whole = labels == np.round(labels)
    if not whole.all():
        row = int(np.flatnonzero(~whole)[0])
        raise ValueError(f"cannot load {path}: line {line_numbers[row]}: label {labels[row]:g} is not a "
                         f"whole number (expected class labels 0 … K−1)")
    found = np.unique(labels).astype(np.int64)
    k = int(found.max()) + 1
    if found.min() < 0 or len(found) != k:
        shown = ", ".join(str(c) for c in found[:10]) + (", …" if len(found) > 10 else "")
        hint = "; they look numbered from 1: subtract 1" if np.array_equal(found, np.arange(1, k)) else ""
        raise ValueError(f"cannot load {path}: the labels are {shown}; expected the classes 0 … K−1, "
                         f"each at least once{hint}")
    return labels.astype(np.int64)


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False
