"""Time per training step: the framework against the literal loop and PyTorch. Prints ratios.

Run from the repository root:  python -m benchmarks.bench_step [--quick]

The setup is the question's: N = 800 spiral points, h = 1000 hidden ReLU units, K = 2 classes,
full batch, SGD with step size 1, from the loop's 0.01·N(0, 1) weights. The variants:

  loop f64        training/course_loop.py, the course's loop statement for statement
                  (softmax without the max shift, probs[range(N), y], dhidden[hidden_layer <= 0] = 0)
  framework f64   model.forward, loss_fn.forward, loss_fn.backward, model.backward, optimizer.step
                  on Sequential(Linear, ReLU(inplace=True), Linear), the model train.py builds
  framework f32   the same with float32 layers and data
  f64, ReLU()     the float64 framework with the default ReLU(), which allocates new arrays
  torch f64/f32   torch.nn.Sequential, CrossEntropyLoss, torch.optim.SGD (when torch is installed)

Each round runs every variant once, for the same number of steps from the same weights, in an
order that rotates from round to round, so that the noise of a shared machine falls on all of
them alike. The ratios are taken within a round; the figures quoted are their medians.
Threads are left to the defaults: NumPy's BLAS and PyTorch each use one thread per core.

Then: where a framework step spends its time, call by call; for mini-batches, the time per sample
over batch sizes and widths (median of repeats); and one epoch over 1 000 000 spiral points in a
fresh process, whose peak memory is measured for the whole process (``peak_rss_mb``) and for
the arrays NumPy allocates (``tracemalloc``).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from data import make_spiral, minibatches
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from training.course_loop import course_initial_weights, course_loop

MEMORY_LIMIT_MB = 300
EPOCH_POINTS = 1_000_000


# The variants: each trains `steps` steps from the given weights and returns seconds per step ---------

def time_loop(X, y, init, steps: int) -> float:
    start = time.perf_counter()
    course_loop(X, y, **init, iterations=steps)
    return (time.perf_counter() - start) / steps


def build_framework(init, dtype, inplace: bool):
    """The question's network holding the weights of ``init``, in ``dtype``."""
    n_in, hidden = init["W"].shape
    n_classes = init["W2"].shape[1]
    rng = np.random.default_rng(0)                  # overwritten just below
    model = Sequential(Linear(n_in, hidden, rng=rng, dtype=dtype), ReLU(inplace=inplace),
                       Linear(hidden, n_classes, rng=rng, dtype=dtype))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    return model


def framework_timer(dtype, inplace: bool = True):
    def time_framework(X, y, init, steps: int) -> float:
        X = X.astype(dtype)
        model = build_framework(init, dtype, inplace)
        loss_fn = SoftmaxCrossEntropy()
        optimizer = SGD(model.parameters(), lr=1.0)
        start = time.perf_counter()
        for _ in range(steps):
            scores = model.forward(X)
            loss_fn.forward(scores, y)
            model.backward(loss_fn.backward())
            optimizer.step()
        return (time.perf_counter() - start) / steps
    return time_framework


def torch_timer(torch, dtype):
    def time_torch(X, y, init, steps: int) -> float:
        n_in, hidden = init["W"].shape
        n_classes = init["W2"].shape[1]
        model = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
                                    torch.nn.Linear(hidden, n_classes)).to(dtype)
        with torch.no_grad():                       # torch keeps weight = Wᵀ
            model[0].weight.copy_(torch.from_numpy(init["W"].T))
            model[0].bias.copy_(torch.from_numpy(init["b"]))
            model[2].weight.copy_(torch.from_numpy(init["W2"].T))
            model[2].bias.copy_(torch.from_numpy(init["b2"]))
        X_t = torch.from_numpy(X).to(dtype)
        y_t = torch.from_numpy(y).long()
        loss_fn = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        start = time.perf_counter()
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_fn(model(X_t), y_t)
            loss.backward()
            optimizer.step()
        return (time.perf_counter() - start) / steps
    return time_torch


def blas_description() -> str:
    """NumPy's BLAS and its thread count: what the environment sets, or the library's default."""
    name = "its BLAS"
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]       # NumPy >= 1.26
        name = f"{blas['name']} {blas.get('version', '')}".strip()
    except (TypeError, KeyError):
        pass
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(variable):
            return f"{name}, {variable}={os.environ[variable]}"
    return f"{name} on its default threads (one per core)"


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# Interleaved rounds --------------------------------------------------------------------------

def interleaved(variants: dict, X, y, init, *, rounds: int, steps: int):
    """Seconds per step and page faults per step of every variant, one list entry per round.

    The order rotates from round to round. A page fault is the kernel handing the process fresh
    memory, which is what a new large array costs beyond writing it.
    """
    names = list(variants)
    for name in names:                              # warm-up: first-touch memory, BLAS threads
        variants[name](X, y, init, 2)
    times = {name: [] for name in names}
    faults = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            times[name].append(variants[name](X, y, init, steps))
            faults[name].append((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps)
    return times, faults


def median_ratio(times, numerator: str, denominator: str) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratios numerator / denominator."""
    ratios = [a / b for a, b in zip(times[numerator], times[denominator], strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), q1, q3


def report_step(times: dict, faults: dict, rounds: int, steps: int) -> None:
    print(f"Question's setup: N = 800, h = 1000, K = 2, full batch; {rounds} interleaved rounds "
          f"of {steps} steps")
    print(f"  {'variant':15s} {'ms/step':>8s} {'page faults/step':>17s}   (medians)")
    for name, values in times.items():
        print(f"  {name:15s} {1e3 * statistics.median(values):8.2f} {statistics.median(faults[name]):17.0f}")
    print("  Ratios (median of the per-round ratios, quartiles in brackets):")
    targets = [("framework f64", "loop f64", 0.60), ("framework f32", "loop f64", 0.35),
               ("framework f64", "torch f64", 1.00), ("framework f32", "torch f32", None),
               ("f64, ReLU()", "loop f64", None)]
    for numerator, denominator, target in targets:
        if numerator not in times or denominator not in times:
            print(f"    {numerator} / {denominator}: not measured (torch is not installed)")
            continue
        median, q1, q3 = median_ratio(times, numerator, denominator)
        met = "met" if target is not None and median <= target else "MISSED"
        verdict = "" if target is None else f"   target <= {target:.2f}: {met}"
        print(f"    {numerator:13s} / {denominator:9s} {median:5.2f}  [{q1:.2f} to {q3:.2f}]{verdict}")


# Where a framework step spends its time -------------------------------------------------------

def report_parts(X, y, init, steps: int) -> None:
    """The median time of each call of a float64 framework step, as a share of the whole step."""
    model = build_framework(init, np.float64, inplace=True)
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=1.0)
    times: dict[str, list[float]] = {}

    def timed(label, call, *args):
        start = time.perf_counter()
        result = call(*args)
        times.setdefault(label, []).append(time.perf_counter() - start)
        return result

    for _ in range(steps):
        a = timed("Linear(2, 1000).forward", model[0].forward, X)        # A = X W + b
        h = timed("ReLU.forward", model[1].forward, a)                     # H = max(0, A)
        s = timed("Linear(1000, 2).forward", model[2].forward, h)        # S = H W2 + b2
        timed("SoftmaxCrossEntropy.forward", loss_fn.forward, s, y)
        ds = timed("SoftmaxCrossEntropy.backward", loss_fn.backward)
        dh = timed("Linear(1000, 2).backward", model[2].backward, ds)    # dW2, db2, dH
        da = timed("ReLU.backward", model[1].backward, dh)               # dA
        timed("Linear(2, 1000).backward", model[0].backward, da)         # dW, db, dX
        timed("SGD.step", optimizer.step)
    medians = {label: statistics.median(values) for label, values in times.items()}
    total = sum(medians.values())
    print(f"\nWhere a float64 framework step goes (median of {steps} steps, question's setup):")
    for label, seconds in medians.items():
        print(f"  {label:30s} {1e3 * seconds:6.2f} ms  {seconds / total:4.0%}")


# Mini-batches: time per sample, and memory over a large epoch ---------------------------------

def time_per_sample(batch: int, hidden: int, repeats: int, steps: int) -> float:
    """Median seconds per sample of framework steps on one [batch x 2] batch, width ``hidden``."""
    X, y = make_spiral(n_per_class=(batch + 1) // 2, n_classes=2, noise=0.5, rng=0)
    X, y = X[:batch], y[:batch]
    init = course_initial_weights(2, hidden, 2, np.random.default_rng(1))
    timer = framework_timer(np.float64)
    timer(X, y, init, 1)
    return statistics.median(timer(X, y, init, steps) for _ in range(repeats)) / batch


def report_scaling(batches, widths, repeats: int, steps: int) -> None:
    print("\nMini-batch steps, float64 framework: microseconds per sample")
    print("(in brackets: nanoseconds per sample per hidden unit)")
    print(f"  {'batch':>6s} " + " ".join(f"{'h = ' + str(h):>20s}" for h in widths))
    per_unit = []
    for batch in batches:
        cells = []
        for hidden in widths:
            seconds = time_per_sample(batch, hidden, repeats, steps)
            per_unit.append(seconds / hidden)
            cells.append(f"{1e6 * seconds:9.3f} ({1e9 * seconds / hidden:6.3f})")
        print(f"  {batch:6d} " + " ".join(f"{cell:>20s}" for cell in cells))
    print(f"  Time per sample per hidden unit varies by a factor of {max(per_unit) / min(per_unit):.1f} "
          "over the table:")
    print("  tiny steps pay Python's fixed cost per call, and the largest arrays")
    print("  (4096 x 4000 floats, 131 MB each) run at the speed of main memory.")


def epoch_memory(hidden: int, batch: int) -> None:
    """Two epochs over EPOCH_POINTS points, the first timed, the second traced; prints the peak
    memory and the time. Runs in its own process, so that its peak is its own."""
    X, y = make_spiral(n_per_class=EPOCH_POINTS // 2, n_classes=2, noise=0.5, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, hidden, rng=rng), ReLU(inplace=True), Linear(hidden, 2, rng=rng))
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=0.1)

    def epoch() -> float:
        start = time.perf_counter()
        for X_batch, y_batch in minibatches(X, y, batch, rng=rng):
            loss_fn.forward(model.forward(X_batch), y_batch)
            model.backward(loss_fn.backward())
            optimizer.step()
        return time.perf_counter() - start

    seconds = epoch()                       # timed without tracemalloc, which slows every allocation
    tracemalloc.start()
    epoch()
    _, traced_peak = tracemalloc.get_traced_memory()
    data_mb = (X.nbytes + y.nbytes) / 2**20
    print(f"{peak_rss_mb():.0f} {data_mb:.0f} {traced_peak / 2**20:.0f} {seconds:.2f}")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's getrusage carries the parent's peak over into a child it starts, so where
    /proc/self/status exists its VmHWM (this process's own peak) is read instead.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024                      # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024           # bytes on macOS, else KiB


def report_memory(hidden: int, batch: int) -> None:
    child = subprocess.run([sys.executable, "-m", "benchmarks.bench_step", "--epoch-memory",
                            str(hidden), str(batch)], capture_output=True, text=True, check=True)
    rss_peak, data_mb, traced_peak, seconds = child.stdout.split()
    verdict = "met" if float(rss_peak) < MEMORY_LIMIT_MB else "MISSED"
    print(f"\nOne epoch over {EPOCH_POINTS:,} spiral points (h = {hidden}, batch {batch}), "
          f"in a fresh process: {seconds} s")
    print(f"  peak memory {rss_peak} MB for the whole process: the data take {data_mb} MB, and the")
    print(f"  arrays made during an epoch at most {traced_peak} MB at a time (tracemalloc)")
    print(f"  target < {MEMORY_LIMIT_MB} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and a smaller table (< 30 s)")
    parser.add_argument("--epoch-memory", nargs=2, type=int, metavar=("HIDDEN", "BATCH"),
                        help=argparse.SUPPRESS)     # the child process of report_memory
    args = parser.parse_args()
    if args.epoch_memory:
        epoch_memory(*args.epoch_memory)
        return
    rounds, steps = (9, 5) if args.quick else (31, 10)
    torch = import_torch()
    print(f"NumPy {np.__version__} with {blas_description()}, {os.cpu_count()} cores")
    print(f"PyTorch {torch.__version__} with {torch.get_num_threads()} threads" if torch else
          "PyTorch is not installed: its rows are skipped")
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    init = course_initial_weights(2, 1000, 2, np.random.default_rng(1))
    variants = {"loop f64": time_loop, "framework f64": framework_timer(np.float64),
                "framework f32": framework_timer(np.float32),
                "f64, ReLU()": framework_timer(np.float64, inplace=False)}
    if torch is not None:
        variants["torch f64"] = torch_timer(torch, torch.float64)
        variants["torch f32"] = torch_timer(torch, torch.float32)
    report_step(*interleaved(variants, X, y, init, rounds=rounds, steps=steps), rounds, steps)
    report_parts(X, y, init, steps=60 if args.quick else 300)
    if args.quick:
        report_scaling([64, 4096], [100, 4000], repeats=3, steps=5)
    else:
        report_scaling([64, 256, 1024, 4096], [100, 300, 1000, 4000], repeats=5, steps=10)
    report_memory(hidden=256, batch=256)


if __name__ == "__main__":
    main()
