"""Do the layers' speed devices still pay, now that fit's step runs in cache-sized chunks? Prints ratios.

Run from the repository root:  python -m benchmarks.speed_devices [--rounds 15] [--pairs 6]

The devices: ``ReLU(inplace=True)`` and ``LeakyReLU(inplace=True)`` (no new [N x h] array in forward
or backward), and ``keep_for_backward`` with the activations' read-only outputs (the Linear after an
activation keeps its [N x h] input without copying it). Each is measured by the ratio of the step
with the device to the step without it, in the same interleaved rounds, on the course's setup
(N = 800, h = 1000, K = 2, full batch), for fit's chunked step and for the plain step
(model.forward / loss_fn.forward / loss_fn.backward / model.backward / optimizer.step). Without
``keep_for_backward``, Linear would copy its input, as it does for any writable array: that is
``CopyingLinear`` below. A ratio below 1 is time saved.

First, ``keep_freed_memory`` (training/loop.py), whose effect is on the whole process: fit's chunked
step in fresh processes with it and with it made a no-op, alternately, printing page faults per step
(from getrusage) and ms per step.
"""

from __future__ import annotations

import argparse
import functools
import resource
import statistics
import time

import numpy as np

import training.loop
from benchmarks.bench_step import build_model, fit_timer, in_fresh_process, interleaved, plain_timer, say
from data import make_spiral
from layers import LeakyReLU, Linear, ReLU, SoftmaxCrossEntropy
from optim import SGD
from training import fit
from training.course_loop import course_initial_weights


class CopyingLinear(Linear):
    """Linear without ``keep_for_backward``: it always keeps a copy of its input for backward."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self._check_input(x, features=self.in_features, dtype=self.dtype)
        self._x = x.copy()
        y = x @ self.params["W"]
        y += self.params["b"]
        return y


# (device, on, off): the model options of the step with the device and without it
DEVICES = [
    ("ReLU(inplace=True)", {"activation": functools.partial(ReLU, inplace=True)}, {"activation": ReLU}),
    ("LeakyReLU(inplace=True)", {"activation": functools.partial(LeakyReLU, inplace=True)},
     {"activation": LeakyReLU}),
    ("keep_for_backward", {"linear": Linear}, {"linear": CopyingLinear}),
]


def fault_child(keep: str) -> None:
    """Prints page faults and ms per step of fit's step in 131-row chunks (the "auto" rule's on a 1 MB L2,
    fixed here so that every machine runs the same chunks) in this fresh process, with
    ``keep_freed_memory`` as fit calls it (``keep == "on"``) or made a no-op (``"off"``)."""
    if keep == "off":
        training.loop.keep_freed_memory = lambda: None
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    model = build_model(course_initial_weights(2, 1000, 2, np.random.default_rng(1)), np.float64)
    stamps = []
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X, y, steps=60, chunk_size=131,
        on_step=lambda state: stamps.append((time.perf_counter(), faults())))
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
    say(f"\nfit's chunked step in fresh processes, {pairs} of each, alternately (medians): page faults "
        "per step and ms per step")
    for keep, rows in results.items():
        say(f"  keep_freed_memory {keep:3s}  {statistics.median(r[0] for r in rows):8.1f} faults  "
            f"{statistics.median(r[1] for r in rows):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=6, help="fresh-process pairs for keep_freed_memory")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return fault_child(args.child)
    report_faults(args.pairs)
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    init = course_initial_weights(2, 1000, 2, np.random.default_rng(1))
    variants = {}
    for device, on, off in DEVICES:
        for step, timer in (("fit", fit_timer), ("plain", plain_timer)):
            for dtype in (np.float64, np.float32):
                key = (device, step, np.dtype(dtype).name)
                variants[key + ("on",)] = timer(dtype, **on)
                variants[key + ("off",)] = timer(dtype, **off)
    times = interleaved(variants, X, y, init, rounds=args.rounds, steps=args.steps)
    say(f"Course's setup, {args.rounds} interleaved rounds of {args.steps} steps: time with the device / "
          "without it, median [quartiles]; ms per step with and without (medians)")
    for key in dict.fromkeys(name[:3] for name in variants):
        on, off = times[key + ("on",)], times[key + ("off",)]
        q1, median, q3 = statistics.quantiles([a / b for a, b in zip(on, off, strict=True)], n=4)
        device, step, dtype = key
        say(f"  {device:24s} {step:5s} {dtype:7s} {median:5.2f}  [{q1:.2f} to {q3:.2f}]   "
              f"{1e3 * statistics.median(on):6.2f} / {1e3 * statistics.median(off):6.2f} ms")


if __name__ == "__main__":
    main()
