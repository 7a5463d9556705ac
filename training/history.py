"""The record of a training run: one row per logged step."""

from __future__ import annotations

import math

import numpy as np

from checks.files import write_atomically

COLUMNS = ("step", "loss", "train_accuracy", "val_loss", "val_accuracy")


class History:
    """Rows of (step, loss, train_accuracy, val_loss, val_accuracy).

    ``step`` counts the updates made before the row was measured, so row 0 is the untrained
    model. ``loss`` and ``train_accuracy`` are measured on the whole training set,
    ``val_loss`` and ``val_accuracy`` on the validation set (NaN when there is none).
    """

    def __init__(self):
        self.rows: list[dict[str, float]] = []

    def append(self, step: int, loss: float, train_accuracy: float,
               val_loss: float = math.nan, val_accuracy: float = math.nan) -> None:
        self.rows.append({"step": int(step), "loss": float(loss), "train_accuracy": float(train_accuracy),
                          "val_loss": float(val_loss), "val_accuracy": float(val_accuracy)})

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, float]:
        return self.rows[index]

    def column(self, name: str) -> np.ndarray:
        if name not in COLUMNS:
            raise KeyError(f"no column {name!r}; the columns are {', '.join(COLUMNS)}")
        return np.array([row[name] for row in self.rows], dtype=np.int64 if name == "step" else np.float64)

    @property
    def has_validation(self) -> bool:
        return any(not math.isnan(row["val_loss"]) for row in self.rows)   # a regression has no accuracy

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: self.column(name) for name in COLUMNS}

    @classmethod
    def from_arrays(cls, arrays: dict) -> History:
        history = cls()
        missing = [name for name in COLUMNS if name not in arrays]
        if missing:
            raise ValueError(f"history lacks the columns {', '.join(missing)}")
        lengths = {len(np.asarray(arrays[name])) for name in COLUMNS}
        if len(lengths) != 1:
            raise ValueError("history columns have different lengths")
        for values in zip(*(np.asarray(arrays[name]).tolist() for name in COLUMNS), strict=True):
            history.append(*values)
        return history

    def to_csv(self, path) -> None:
        """Write the rows as CSV, atomically; floats keep every digit, missing values are empty."""
        lines = [",".join(COLUMNS)]
        for row in self.rows:
            cells = ["" if math.isnan(row[name]) else repr(row[name]) for name in COLUMNS[1:]]
            lines.append(",".join([str(row["step"]), *cells]))
        write_atomically(path, lambda file: file.write(("\n".join(lines) + "\n").encode("utf-8")))
