"""A learner's own points from a CSV file: D numbers per row and a class label, a number or a text."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from checks import check_float_dtype
from checks.files import unusable_path


def load_csv(path, *, label_column="label", classes=None, return_classes=False, dtype=np.float64):
    """Read points and their labels from a CSV file: X [N x D] (``dtype``) and y [N] int64.

    The file holds one point per line, its D coordinates and its class, separated by commas:

        x1,x2,label          an optional header: the first line, if none of its cells is a number
        0.5,1.0,0
        -0.3,0.2,1

    With a header the labels are the column named ``label_column`` (anywhere in the line) and every
    other column is a coordinate; without one, the last column holds the labels. Labels that are all
    whole numbers must be 0 … K−1, each class at least once (the classes a model's K outputs stand
    for); class k is named "k". Otherwise the labels are texts (such as "setosa") and class k is
    ``sorted(set(texts))[k]``. Cells are stripped of spaces; "2.0" is the label "2".

    ``classes=[...]``: the class names in class order (as ``return_classes`` gives them, to read a
    test file or a file to predict): each label is its position in the list, and a class may be
    missing. ``label_column=None``: the file holds no labels; every column is a coordinate and X
    alone is returned. ``return_classes=True`` returns (X, y, classes), classes a list of str, so
    ``classes[y[i]]`` is point i's label and ``dict(enumerate(classes))`` the whole mapping.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that cannot be opened
    or read as CSV, an empty file, a coordinate that is not a finite number, an empty label, a line
    with too few or too many cells, a header without ``label_column``, numbers that are not 0 … K−1,
    or a label not in ``classes``; each message names the file, the line and column, and what was
    expected.
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
        twice = [name for k, name in enumerate(header) if name in header[:k]]
        if twice:
            first = header.index(twice[0])
            raise ValueError(f"{cannot}: the header names {twice[0]!r} twice (columns {first + 1} and "
                             f"{header.index(twice[0], first + 1) + 1}); give each column its own name")
    if not lines:
        raise ValueError(f"{cannot}: the file is empty (expected lines of numbers such as '0.5,1.0,0': the "
                         "coordinates, then the label)")
    target = None if label_column is None else len(lines[0][1]) - 1      # without a header: the last
    names = header or [f"x{i + 1}" if i != target else "label" for i in range(len(lines[0][1]))]
    if header and target is not None:
        if label_column not in header:
            raise ValueError(f"{cannot}: the header ({', '.join(header)}) has no column named "
                             f"{label_column!r}; pass label_column= the name of the class column (train.py: "
                             "--label-column), label_column=None for a file without labels, or leave the "
                             "header out to use the last column")
        target = header.index(label_column)
    if target is not None and len(names) < 2:
        raise ValueError(f"{cannot}: it has only the label column; expected at least one coordinate column")
    for number, cells in lines:
        if len(cells) != len(names):
            raise ValueError(f"{cannot}: line {number} has {len(cells)} cells, expected {len(names)} "
                             f"({', '.join(names)})")
        for column, cell in enumerate(cells):
            if not (_is_number(cell) or column == target and cell.strip()):     # a label may be a text
                expected = "a class label" if column == target else "a finite number"
                raise ValueError(f"{cannot}: line {number}, column {column + 1} ({names[column]}): "
                                 f"{cell.strip()!r} is not {expected}")
    with np.errstate(over="ignore"):        # a number beyond the dtype's range: said next
        X = np.array([[float(c) for k, c in enumerate(cells) if k != target] for _, cells in lines], dtype)
    if not np.isfinite(X).all():            # finite as text, beyond the dtype's range (1e39 in float32)
        row, column = np.argwhere(~np.isfinite(X))[0]
        column += target is not None and column >= target
        raise ValueError(f"{cannot}: line {lines[row][0]}, column {column + 1} ({names[column]}): "
                         f"{lines[row][1][column].strip()} does not fit {dtype}")
    if target is None:
        return X
    texts = [_label_text(cells[target]) for _, cells in lines]
    numbers = [_is_number(text) for text in texts]
    if classes is None and any(numbers) and not all(numbers):     # a typo among class numbers, or a mix
        row = numbers.index(not numbers[0])
        kinds = ("a number", "a text") if numbers[row] else ("a text", "a number")
        raise ValueError(f"{cannot}: line {lines[row][0]}: label {texts[row]!r} is {kinds[0]}, the first "
                         f"label {texts[0]!r} {kinds[1]}; give every class a number, or every class a name")
    if classes is None and all(numbers):
        labels = np.array([float(text) for text in texts])
        if (labels != np.round(labels)).any():
            row = int(np.flatnonzero(labels != np.round(labels))[0])
            raise ValueError(f"{cannot}: line {lines[row][0]}: label {labels[row]:g} is not a whole number "
                             "(expected class labels 0 … K−1, or names such as 'cat')")
        found = np.unique(labels)           # floats: a label of 1e30 is not cast, nor allocated for
        if found[0] != 0 or found[-1] != len(found) - 1:
            from_1 = found[0] == 1 and found[-1] == len(found)
            hint = "; they look numbered from 1: subtract 1" if from_1 else ""
            raise ValueError(f"{cannot}: the labels are {_listed([f'{c:g}' for c in found])}; expected the "
                             f"classes 0 … K−1, each at least once{hint}")
        classes = [str(k) for k in range(len(found))]
    classes = sorted(set(texts)) if classes is None else [_label_text(str(name)) for name in classes]
    position = {name: k for k, name in enumerate(classes)}
    if len(position) < len(classes):
        raise ValueError(f"Invalid classes: {classes!r} (expected distinct class names)")
    for (number, _), text in zip(lines, texts, strict=True):
        if text not in position:
            raise ValueError(f"{cannot}: line {number}: label {text!r} is not one of the classes given "
                             f"({_listed(classes)})")
    y = np.array([position[text] for text in texts], dtype=np.int64)
    return (X, y, classes) if return_classes else (X, y)


def csv_header(path) -> list[str] | None:
    """The names in the first line of the CSV file at ``path`` if it is a header (none of its cells is a
    number, as ``load_csv`` decides), else None. The file is ``load_csv``'s to refuse; this reads a line."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        first = next((row for row in csv.reader(file) if "".join(row).strip()), [])
    return [cell.strip() for cell in first] if first and not any(map(_is_number, first)) else None


def _label_text(cell: str) -> str:
    """A label as its class name: stripped, and a whole number as an integer ("2.0" and " 2" are "2")."""
    text = cell.strip()
    return str(int(float(text))) if _is_number(text) and float(text).is_integer() else text


def _listed(names: list[str]) -> str:
    return ", ".join(names[:10]) + (", …" if len(names) > 10 else "")


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False
