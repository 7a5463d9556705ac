"""Which chunk size makes fit's full-batch step fastest? Prints ratios to the unchunked step.

Run from the repository root:  python -m benchmarks.chunk_size [--rounds 7] [--steps 30]

The setup is the course's: N = 800 spiral points, h = 1000 hidden units, K = 2 classes, full
batch, SGD with step size 1, Sequential(Linear, ReLU(), Linear) as a user writes it. For each
dtype, every round trains one fresh copy of the model per chunk size, in an order that rotates
from round to round (so that the noise of a shared machine falls on all of them alike), and
times each step of ``fit`` from one ``on_step`` call to the next. A round's figure for a chunk
size is its median step time divided by the median step time of the unchunked step
(``chunk_size=None``) in the same round; the table shows the median of these ratios over the
rounds, and their quartiles. fit's default, "auto", follows a rule (training/machine.py's chunk_rows):
such tables, on CPUs with different caches and BLAS kernels, are its evidence (docs/performance.md).
Last, what a chunk costs whatever its size: the step of a 4-unit network, whose arrays cost
nothing, in 65-row chunks and in one.

fit runs on one BLAS thread (training.blas_threads), as every step here does.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.bench_step import machine_description, say
from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from training import TrainingState, fit
from training.machine import DEFAULT_CHUNK_SIZE, chunk_rows

CHUNK_SIZES = (32, 65, 131, 262, 400, "auto", None)     # None: no chunks, the [800 x 1000] step


def step_time(X, y, dtype, chunk_size, steps: int, hidden: int = 1000) -> float:
    """Median seconds per step of ``fit`` over ``steps`` full-batch steps of a fresh model."""
    rng = np.random.default_rng(1)
    model = Sequential(Linear(2, hidden, rng=rng, dtype=dtype), ReLU(),
                       Linear(hidden, 2, rng=rng, dtype=dtype))
    optimizer = SGD(model.parameters(), lr=1.0)
    stamps = []
    fit(model, SoftmaxCrossEntropy(), optimizer, X.astype(dtype), y, steps=steps, log_every=10 * steps,
        state=TrainingState(chunk_size=chunk_size, on_step=lambda state: stamps.append(time.perf_counter())))
    return statistics.median(np.diff(stamps))


def fixed_cost_per_chunk(X, y, rounds: int, steps: int) -> tuple[float, float, float]:
    """With 4 hidden units, where the arrays cost nothing: seconds per step in 65-row chunks and in one
    chunk (medians over interleaved rounds), and what one chunk costs beyond the first."""
    chunks = -(-len(X) // 65)
    times = {65: [], None: []}
    for r in range(rounds):
        for size in (65, None) if r % 2 == 0 else (None, 65):
            times[size].append(step_time(X, y, np.float64, size, steps, hidden=4))
    chunked, whole = statistics.median(times[65]), statistics.median(times[None])
    return chunked, whole, (chunked - whole) / (chunks - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30, help="steps timed per chunk size and round")
    args = parser.parse_args()
    X, y = make_spiral(400, 2, 0.5, rng=0)
    print(f"fit's full-batch step, N = {len(X)}, h = 1000, K = 2, {args.rounds} rounds of {args.steps} "
          f"steps; default chunk_size = {DEFAULT_CHUNK_SIZE}")
    say(machine_description())
    print("time relative to the unchunked step in the same round: median [quartiles]")
    for dtype in (np.float64, np.float32):
        ratios = {size: [] for size in CHUNK_SIZES}
        for r in range(args.rounds):
            order = CHUNK_SIZES[r % len(CHUNK_SIZES):] + CHUNK_SIZES[:r % len(CHUNK_SIZES)]
            times = {size: step_time(X, y, dtype, size, args.steps) for size in order}
            for size in CHUNK_SIZES:
                ratios[size].append(times[size] / times[None])
        print(f"\n{np.dtype(dtype).name}")
        for size in CHUNK_SIZES:
            q1, median, q3 = np.percentile(ratios[size], [25, 50, 75])
            label = "800 (off)" if size is None else str(size)
            if size == "auto":
                model = Sequential(Linear(2, 1000, rng=0), ReLU(), Linear(1000, 2, rng=0))
                label = f"auto ({chunk_rows(size, model, X.astype(dtype))})"
            print(f"  chunk {label:>10}   {median:.2f}  [{q1:.2f} .. {q3:.2f}]")
    chunked, whole, per_chunk = fixed_cost_per_chunk(X, y, args.rounds, args.steps)
    print(f"\nfixed cost per chunk, h = 4 (the arrays cost nothing): {1e3 * chunked:.2f} ms per step "
          f"in 65-row chunks,\n  {1e3 * whole:.2f} ms in one: {1e3 * per_chunk:.3f} ms per chunk beyond "
          "the first")


if __name__ == "__main__":
    main()
