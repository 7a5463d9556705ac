"""A learner's own points from a CSV file: D numbers per row and an integer class label."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from checks import check_float_dtype
from checks.files import unusable_path

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

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that cannot be opened
    or read as CSV, an empty file, a cell that is not a finite number, a line with too few or too many
    cells, a header without ``label``, or labels that are not 0 … K−1; each message names the file,
    the line and column, and what was expected.
    """
    dtype = check_float_dtype("dtype", dtype)
    cannot = f"cannot load {Path(path)}"
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:     # -sig: a spreadsheet's BOM
            reader = csv.reader(file)
            lines = [(reader.line_num, row) for row in reader if "".join(row).strip()]
    except FileNotFoundError:
        raise FileNotFoundError(f"{cannot}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ValueError(f"{cannot}: it is not a text file ({exc})") from None
    except csv.Error as exc:                # a cell over csv's field limit (131,072 characters), ...
        raise ValueError(f"{cannot}: line {reader.line_num} is not a line of CSV cells ({exc})") from None
    except OSError as exc:                  # a name too long, no permission, ...
        raise ValueError(f"{cannot}: {unusable_path(Path(path), exc)}") from None
    header = None
    if lines and not any(_is_number(cell) for cell in lines[0][1]):
        header = [cell.strip() for cell in lines.pop(0)[1]]
    if not lines:
        raise ValueError(f"{cannot}: the file is empty (expected lines of numbers such as '0.5,1.0,0': the "
                         "coordinates, then the label)")
    names = header or [f"x{i + 1}" for i in range(len(lines[0][1]) - 1)] + [LABEL]
    if LABEL not in names:
        raise ValueError(f"{cannot}: the header ({', '.join(names)}) has no column named '{LABEL}'; name the "
                         f"class column '{LABEL}', or leave the header out to use the last column")
    if len(names) < 2:
        raise ValueError(f"{cannot}: it has only the label column; expected at least one coordinate column")
    for number, cells in lines:
        if len(cells) != len(names):
            raise ValueError(f"{cannot}: line {number} has {len(cells)} cells, expected {len(names)} "
                             f"({', '.join(names)})")
        for column, cell in enumerate(cells):
            if not _is_number(cell):
                raise ValueError(f"{cannot}: line {number}, column {column + 1} ({names[column]}): "
                                 f"{cell.strip()!r} is not a finite number")
    values = np.array([[float(cell) for cell in cells] for _, cells in lines])
    labels = values[:, names.index(LABEL)]
    if (labels != np.round(labels)).any():
        row = int(np.flatnonzero(labels != np.round(labels))[0])
        raise ValueError(f"{cannot}: line {lines[row][0]}: label {labels[row]:g} is not a whole number "
                         "(expected class labels 0 … K−1)")
    found = np.unique(labels)               # floats: a label of 1e30 is not cast, nor allocated for
    if found[0] != 0 or found[-1] != len(found) - 1:
        shown = ", ".join(f"{c:g}" for c in found[:10]) + (", …" if len(found) > 10 else "")
        hint = "; they look numbered from 1: subtract 1" if found[0] == 1 and found[-1] == len(found) else ""
        raise ValueError(f"{cannot}: the labels are {shown}; expected the classes 0 … K−1, each at least "
                         f"once{hint}")
    return np.delete(values, names.index(LABEL), axis=1).astype(dtype), labels.astype(np.int64)


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False
