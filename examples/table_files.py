"""Write a small table like a practitioner's own: blobs.csv, test.csv and new.csv in the current folder.

    python examples/table_files.py
    python train.py --dataset blobs.csv --label-column target --val-fraction 0.2 --standardize --test test.csv
    python train.py --resume runs/<run> --predict new.csv

Three classes (alder, birch, cedar), each a centre drawn from N(0, 1.6²) in each of 8 features, rows
around it with unit noise; then feature j is multiplied by SCALES[j], from 0.1 to 1,000, as measured
quantities in different units are. blobs.csv has 200 rows of each class (its class in the `target`
column), test.csv 40 more of each, new.csv 5 of each without labels. Seeded: the same files every time.
"""

import csv
from pathlib import Path

import numpy as np

SCALES = (0.1, 1, 10, 100, 1000, 0.5, 5, 50)
NAMES = ("cedar", "alder", "birch")         # not in sorted order: the classes are the sorted names


def rows(rng, centres, per_class):
    """``per_class`` rows of each class, shuffled: X [3·per_class x 8] and the label texts."""
    X = np.concatenate([centre + rng.standard_normal((per_class, len(SCALES))) for centre in centres])
    labels = np.repeat(NAMES, per_class)
    order = rng.permutation(len(X))
    return X[order] * np.array(SCALES), labels[order]


def write(path: Path, X, labels=None) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([f"f{j + 1}" for j in range(X.shape[1])] + ["target"] * (labels is not None))
        for i, row in enumerate(X):
            writer.writerow([repr(float(v)) for v in row] + ([labels[i]] if labels is not None else []))


def write_files(folder=".", seed: int = 27) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.6, size=(len(NAMES), len(SCALES)))
    write(Path(folder, "blobs.csv"), *rows(rng, centres, 200))
    write(Path(folder, "test.csv"), *rows(rng, centres, 40))
    write(Path(folder, "new.csv"), rows(rng, centres, 5)[0])


if __name__ == "__main__":
    write_files()
    print("wrote blobs.csv (600 rows), test.csv (120 rows) and new.csv (15 rows, no labels)")
