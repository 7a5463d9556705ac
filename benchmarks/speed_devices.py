"""Does fit's one speed device, keeping a chunk's freed memory for the next, still pay? Prints its effect.

Run from the repository root:  python -m benchmarks.speed_devices [--pairs 6]

``keep_freed_memory`` (training/machine.py) raises glibc's trim threshold once, so that the memory one
chunk frees is taken again by the next instead of going back to the system and being faulted in
anew. Its effect is on the whole process, so it is measured in fresh processes: fit's chunked step
with it and with it made a no-op, alternately, printing page faults per step (from getrusage) and ms
per step.

Until 2026-12-06 this file also timed the layers' own speed devices (``ReLU(inplace=True)``,
``LeakyReLU(inplace=True)``, and a ``Linear`` keeping a read-only input without copying it) against
the same step without them; they saved too little of fit's step to keep, and went
(docs/performance.md, "What no longer pays").
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

import training.loop
from benchmarks.bench_step import build_model, in_fresh_process, say
from data import make_spiral
from layers import SoftmaxCrossEntropy
from optim import SGD
from training import TrainingState, fit
from training.course_loop import course_initial_weights


def fault_child(keep: str) -> None:
    """Prints page faults and ms per step of fit's step in 131-row chunks (the "auto" rule's on a 1 MB L2,
    fixed here so that every machine runs the same chunks) in this fresh process, with
    ``keep_freed_memory`` as fit calls it (``keep == "on"``) or made a no-op (``"off"``)."""
    if keep == "off":
        training.loop.keep_freed_memory = lambda: None    # the name fit calls
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    model = build_model(course_initial_weights(2, 1000, 2, np.random.default_rng(1)), np.float64)
    stamps = []
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X, y, steps=60,
        state=TrainingState(chunk_size=131,
                            on_step=lambda state: stamps.append((time.perf_counter(), faults()))))
    times, counts = zip(*stamps[10:], strict=True)                  # steps 11 to 60: past the start
    print((counts[-1] - counts[0]) / (len(counts) - 1), 1e3 * statistics.median(np.diff(times)))


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def report_faults(pairs: int) -> None:
    """keep_freed_memory on and off, in fresh processes, alternately: its effect is on the whole process."""
    results = {"on": [], "off": []}
    for r in range(pairs):
        for keep in ("on", "off") if r % 2 == 0 else ("off", "on"):
            results[keep].append(in_fresh_process(keep, module="benchmarks.speed_devices"))
    say(f"fit's chunked step in fresh processes, {pairs} of each, alternately (medians): page faults "
        "per step and ms per step")
    for keep, rows in results.items():
        say(f"  keep_freed_memory {keep:3s}  {statistics.median(r[0] for r in rows):8.1f} faults  "
            f"{statistics.median(r[1] for r in rows):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6, help="fresh-process pairs for keep_freed_memory")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return fault_child(args.child)
    report_faults(args.pairs)


if __name__ == "__main__":
    main()
