"""What do the composable parts cost against the monolithic loop? Prints ratios, not bare times.

Run from the repository root:  python -m benchmarks.overhead [--rounds 15] [--steps 20]

Both sides train the question's network (800 points, h = 1000, full batch) from the same
weights. Rounds alternate loop, parts, loop, parts, ... so that the noise of a shared machine
falls on both alike; the figure to quote is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from tests.reference_loop import loop_initial_weights, monolithic_loop


def time_parts(X, y, init, steps: int) -> float:
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, init["W"].shape[1], rng=rng), ReLU(), Linear(init["W"].shape[1], 2, rng=rng))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=1.0)
    start = time.perf_counter()
    for _ in range(steps):
        loss_fn.forward(model.forward(X), y)
        model.backward(loss_fn.backward())
        optimizer.step()
    return time.perf_counter() - start


def time_loop(X, y, init, steps: int) -> float:
    start = time.perf_counter()
    monolithic_loop(X, y, **init, iterations=steps)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed run")
    args = parser.parse_args()
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, seed=0)
    init = loop_initial_weights(2, 1000, 2, np.random.default_rng(1))
    time_loop(X, y, init, 2)                 # warm-up: first-touch allocation, BLAS threads
    time_parts(X, y, init, 2)
    ratios = []
    for _ in range(args.rounds):
        loop = time_loop(X, y, init, args.steps)
        parts = time_parts(X, y, init, args.steps)
        ratios.append(parts / loop)
    quartiles = statistics.quantiles(ratios, n=4)
    print(f"parts / monolithic loop, time per training step (question's setup, {args.rounds} interleaved rounds "
          f"of {args.steps} steps):")
    print(f"  median {statistics.median(ratios):.2f}   quartiles {quartiles[0]:.2f} to {quartiles[2]:.2f}   "
          f"range {min(ratios):.2f} to {max(ratios):.2f}")


if __name__ == "__main__":
    main()
