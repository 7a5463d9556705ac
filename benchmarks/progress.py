"""What does train.py's progress bar cost? Prints ratios (bar on / bar off), not bare times.

Run from the repository root:  python -m benchmarks.progress [--rounds 11]

The issue allows the bar at most 5 % of the training time. Two workloads: the default run's
network (800 points, h = 1000: slow steps) and a tiny one (120 points, h = 16: steps of tens of
microseconds, where a bar's fixed cost per step shows most). Rounds alternate off, on, off, on,
..., and the figure to quote is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

import numpy as np

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from training import TrainingState, fit

WORKLOADS = {
    "default network (h = 1000, 800 points)": dict(points=400, classes=2, hidden=1000, steps=150),
    "tiny network (h = 16, 120 points)": dict(points=40, classes=3, hidden=16, steps=6000),
}


def time_fit(points: int, classes: int, hidden: int, steps: int, progress: bool) -> float:
    X, y = make_spiral(points, classes, noise=0.5, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, hidden, rng=rng), ReLU(), Linear(hidden, classes, rng=rng))
    optimizer = SGD(model.parameters(), lr=1.0)
    with contextlib.redirect_stderr(io.StringIO()):     # the bar draws into a buffer, as into a terminal
        start = time.perf_counter()
        fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=steps,
            state=TrainingState(progress=progress))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    for name, workload in WORKLOADS.items():
        time_fit(**workload, progress=True)             # warm-up
        ratios = []
        for _ in range(args.rounds):
            off = time_fit(**workload, progress=False)
            on = time_fit(**workload, progress=True)
            ratios.append(on / off)
        quartiles = statistics.quantiles(ratios, n=4)
        print(f"{name}, {workload['steps']} steps: bar on / bar off  median {statistics.median(ratios):.3f}"
              f"   quartiles {quartiles[0]:.3f} to {quartiles[2]:.3f}   ({args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
