"""Time per training step: `fit` and the plain step against the course loop and PyTorch. Prints ratios.

Run from the repository root:  python -m benchmarks.bench_step [--quick]

1. The course's setup (N = 800 spiral points, h = 1000 hidden ReLU units, K = 2, full batch, SGD with
   step size 1, from the loop's 0.01·N(0, 1) weights). The variants:

     loop f64          training/course_loop.py, the course's loop statement for statement
     fit f64 / f32     training.fit's default step: the full batch in the chunks the "auto" rule
                       chooses on this CPU (training/machine.py's chunk_rows), gradients summed before
                       the update; logging every 10 steps, as train.py does
     fit unchunked     the same with chunk_size=None: one pass over the whole [N x h] arrays
     fit 512KB         the same in the earlier default's chunks, 512 KB arrays (65 and 131 rows)
     plain f64         the step as a user writes it: model.forward, loss_fn.forward, loss_fn.backward,
                       model.backward, optimizer.step, on Sequential(Linear, ReLU(), Linear)
     torch f64 / f32   torch.nn.Sequential, CrossEntropyLoss, torch.optim.SGD, denormals flushed
     formulas f64 / f32  the formulas of fit's layers written out inline, in the same chunks, with no
                       framework around them: fit / formulas is what the framework costs, formulas /
                       loop the least a step takes that computes them into new arrays, as the
                       layers do, pass by pass in these chunks

   Each round runs every variant once, for the same number of steps from the same weights, in an
   order that rotates from round to round, so that the noise of a shared machine falls on all of
   them alike. Ratios are taken within a round; the figures are their medians and quartiles.
   `fit`'s time per step is read from its ``on_step`` callback: steps 2 to K of one call, so the
   call's setup and its closing evaluation are left out.

2. Whole processes: ``python train.py`` at its defaults against benchmarks/course_loop_script.py
   (the course loop for the same 3000 steps on the same data), alternately, in fresh processes.

3. Scale, each in a fresh process whose peak resident memory is its own: one full-batch step
   through `fit` over 2,000,000 spiral points (h = 256, float32); one mini-batch epoch over
   10,000,000 points (float32, batch 256, h = 256); and the time per sample of `fit`'s mini-batch
   steps over batch sizes 64 to 4096, chunked against unchunked.

4. Threads: train.py on its default thread (1), on OPENBLAS_NUM_THREADS=1 and on NumPy's own threads,
   as whole processes, first while a process started here keeps one core busy (for 15 minutes at
   most), then on the quiet machine.

The first line names the CPU, its L2 cache, NumPy's BLAS and the kernel it runs: every figure depends
on them. fit runs on one BLAS thread (its default); the loop and PyTorch on their libraries' defaults,
one thread per core.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
from threadpoolctl import threadpool_info

from benchmarks.quiet import QUIET, CpuWatch
from data import make_spiral, minibatches
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from training import TrainingState, fit
from training.course_loop import course_initial_weights, course_loop
from training.machine import DEFAULT_CHUNK_SIZE, chunk_rows, keep_freed_memory, l2_cache_bytes

LOG_EVERY = 10                              # train.py's default: fit logs a history row every 10 steps
MEMORY_TARGET_MB = 400


def say(text: str) -> None:
    """Print ``text`` with its long lines folded to 100 columns, the width of a terminal it is read in."""
    for line in text.split("\n"):
        indent = " " * (len(line) - len(line.lstrip()) + 4)
        folded = textwrap.fill(line, width=100, subsequent_indent=indent, break_on_hyphens=False)
        print(folded if line else "")


# The variants: each trains `steps` steps from the given weights and returns seconds per step ---------

def time_loop(X, y, init, steps: int) -> float:
    start = time.perf_counter()
    course_loop(X, y, **init, iterations=steps)
    return (time.perf_counter() - start) / steps


def build_model(init, dtype, activation=ReLU, linear=Linear):
    """Sequential(Linear, activation(), Linear) holding the weights of ``init``, in ``dtype``."""
    n_in, hidden = init["W"].shape
    n_classes = init["W2"].shape[1]
    model = Sequential(linear(n_in, hidden, rng=0, dtype=dtype), activation(),
                       linear(hidden, n_classes, rng=0, dtype=dtype))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    return model


def formulas_step(X, y, weights: dict, rows: int) -> None:
    """One full-batch SGD step (step size 1) on the course's network, with the formulas of fit's layers
    written out inline in chunks of ``rows`` rows: no layers, no Sequential, no checks. Updates the
    arrays of ``weights`` ({"W", "b", "W2", "b2"}) in place.

    Each statement is the one the part named beside it runs, in the same order, each result in a new
    array as the layers make them; tests/test_chunks.py checks that it equals fit's step.
    """
    W, b, W2, b2 = (weights[name] for name in ("W", "b", "W2", "b2"))
    N = len(X)
    eye = np.eye(W2.shape[1], dtype=W2.dtype)
    dW, db, dW2, db2 = (np.zeros_like(a) for a in (W, b, W2, b2))
    for first in range(0, N, rows):
        x, labels = X[first:first + rows].copy(), y[first:first + rows]        # Linear keeps a copy of x
        n = len(x)
        Z = x @ W                                                              # Linear: xW + b
        Z += b
        switch = Z > 0                                                         # ReLU: max(0, Z)
        H = np.maximum(Z, 0)
        h = H.copy()                                                           # Linear keeps a copy of H
        S = H @ W2                                                             # Linear: HW2 + b2
        S += b2
        shifted = S - S.max(axis=1, keepdims=True)                             # SoftmaxCrossEntropy
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        probs = np.exp(log_probs)
        _loss = -log_probs[np.arange(n), labels].sum() / n
        dS = n / N * ((probs - eye[labels]) / n)                               # (n_c/N) ∂L_c/∂S
        dW2 += h.T @ dS                                                        # Linear's backward
        db2 += dS.sum(axis=0)
        dH = dS @ W2.T
        dZ = dH * switch                                                       # ReLU's backward
        dW += x.T @ dZ                                                         # Linear's backward
        db += dZ.sum(axis=0)
        _dx = dZ @ W.T                                                         # unread, as in fit
    for theta, grad in ((W, dW), (b, db), (W2, dW2), (b2, db2)):
        theta -= grad                                                          # SGD, step size 1


def formulas_timer(dtype):
    """``formulas_step`` in fit's chunks ("auto"), timed as fit is (steps 2 to K): fit's time over this
    one is what the framework costs (layer calls, checks, caches), and this one's time over the loop
    the least a step takes that computes these formulas into new arrays, pass by pass, in these chunks."""
    def time_formulas(X, y, init, steps: int) -> float:
        X = X.astype(dtype)
        weights = {name: value.astype(dtype) for name, value in init.items()}
        rows = chunk_rows(DEFAULT_CHUNK_SIZE, build_model(init, dtype), X)
        keep_freed_memory()                 # as fit does, for the same allocator
        formulas_step(X, y, weights, rows)
        start = time.perf_counter()
        for _ in range(steps):
            formulas_step(X, y, weights, rows)
        return (time.perf_counter() - start) / steps
    return time_formulas


def fit_timer(dtype, chunk_size=DEFAULT_CHUNK_SIZE, **model_options):
    def time_fit(X, y, init, steps: int) -> float:
        model = build_model(init, dtype, **model_options)
        ends = []                           # when each step ended
        fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X.astype(dtype), y,
            steps=steps + 1, log_every=LOG_EVERY,
            state=TrainingState(chunk_size=chunk_size,
                                on_step=lambda state: ends.append(time.perf_counter())))
        return (ends[-1] - ends[0]) / steps
    return time_fit


def plain_timer(dtype, **model_options):
    def time_plain(X, y, init, steps: int) -> float:
        X = X.astype(dtype)
        model = build_model(init, dtype, **model_options)
        loss_fn = SoftmaxCrossEntropy()
        optimizer = SGD(model.parameters(), lr=1.0)
        start = time.perf_counter()
        for _ in range(steps):
            scores = model.forward(X)
            loss_fn.forward(scores, y)
            model.backward(loss_fn.backward())
            optimizer.step()
        return (time.perf_counter() - start) / steps
    return time_plain


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


def import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_flush_denormal(True)      # float32 gradients decay into denormals, which are slow on x86
    return torch


# What runs: the CPU, NumPy's BLAS and its kernel ----------------------------------------------

def machine_description() -> str:
    """The CPU, one core's L2 cache, NumPy's BLAS, the kernel it runs and its threads: every figure here
    depends on them (threadpoolctl asks the library NumPy loaded; OPENBLAS_CORETYPE can swap the kernel)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            first_cpu = info.read().split("\n\n")[0].splitlines()
        fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first_cpu)}
        avx512 = "with" if "avx512f" in fields["flags"].split() else "without"
        cpu = (f"{fields['model name']} (family {fields['cpu family']}, model {fields['model']}, "
               f"{avx512} AVX-512)")
    except (OSError, KeyError):
        pass
    blas = [f"{lib['internal_api']} {lib['version']} running its {lib.get('architecture', '?')} kernel, "
            f"{lib['num_threads']} threads by default"
            for lib in threadpool_info() if lib["user_api"] == "blas"]
    variables = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    steering = [f"{v}={os.environ[v]}" for v in variables if v in os.environ]
    return (f"CPU: {cpu}, {os.cpu_count()} cores, L2 cache {l2_cache_bytes() // 2**10} KB a core. "
            f"NumPy {np.__version__} with {', '.join(blas) or 'a BLAS threadpoolctl does not know'} "
            f"(fit: 1 thread); {', '.join(steering) or 'no BLAS variables set'}")


# 1. The course's setup, interleaved ----------------------------------------------------------

def interleaved(variants: dict, X, y, init, *, rounds: int, steps: int) -> dict:
    """Seconds per step of every variant, one list entry per kept round, in an order that rotates.

    Rounds go on until ``rounds`` of them were quiet (other processes used less than a tenth of a
    core, benchmarks/quiet.py), or 4 x ``rounds`` have run. Only the quiet rounds are kept if there
    are at least 5 of them; otherwise all are, and the noise shows in the quartiles.
    """
    names = list(variants)
    for name in names:                              # warm-up: first-touch memory, BLAS threads
        variants[name](X, y, init, 2)
    times = {name: [] for name in names}
    quiet, loads = [], []
    while sum(quiet) < rounds and len(quiet) < 4 * rounds:
        r = len(quiet)
        with CpuWatch() as watch:
            for name in names[r % len(names):] + names[:r % len(names)]:
                times[name].append(variants[name](X, y, init, steps))
        quiet.append(watch.quiet)
        loads.append(watch.others)
    kept = quiet if sum(quiet) >= 5 else [True] * len(quiet)
    say(f"  {sum(quiet)} of {len(quiet)} rounds were quiet (other processes < {QUIET:.0%} of a core; "
          f"their median use {_median_or_none(loads)} cores): figures over "
          + ("the quiet rounds" if sum(quiet) >= 5 else "all rounds, NOT a quiet machine"))
    return {name: [t for t, keep in zip(values, kept, strict=True) if keep] for name, values in times.items()}


def _median_or_none(values) -> str:
    values = [v for v in values if v is not None]
    return f"{statistics.median(values):.2f}" if values else "unknown"


def ratio_line(times: dict, numerator: str, denominator: str, target: float | None = None) -> str:
    """``numerator / denominator``: the median of the per-round ratios, quartiles, and the target."""
    if numerator not in times or denominator not in times:
        return f"  {numerator} / {denominator}: not measured (torch is not installed)"
    ratios = [a / b for a, b in zip(times[numerator], times[denominator], strict=True)]
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    met = "met" if target is not None and median <= target else "MISSED"
    verdict = "" if target is None else f"   target <= {target:.2f}: {met}"
    return f"  {numerator:17s} / {denominator:17s} {median:5.2f}  [{q1:.2f} to {q3:.2f}]{verdict}"


OLD_AUTO_BYTES = 2**19          # the chunks of the earlier default: 512 KB per [rows x widest] array


def report_course_setup(torch, rounds: int, steps: int) -> None:
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    init = course_initial_weights(2, 1000, 2, np.random.default_rng(1))
    variants = {"loop f64": time_loop}
    for dtype in (np.float64, np.float32):
        bits = f"f{8 * np.dtype(dtype).itemsize}"
        variants[f"fit {bits}"] = fit_timer(dtype)
        variants[f"fit unchunked {bits}"] = fit_timer(dtype, chunk_size=None)
        old_rows = OLD_AUTO_BYTES // (1000 * np.dtype(dtype).itemsize)            # 65 and 131 rows
        variants[f"fit 512KB {bits}"] = fit_timer(dtype, chunk_size=old_rows)
        variants[f"formulas {bits}"] = formulas_timer(dtype)
    variants["plain f64"] = plain_timer(np.float64)
    if torch is not None:
        variants["torch f64"] = torch_timer(torch, torch.float64)
        variants["torch f32"] = torch_timer(torch, torch.float32)
    say(f"\n1. The course's setup: N = 800, h = 1000, K = 2, full batch; {rounds} interleaved rounds "
          f"of {steps} steps")
    times = interleaved(variants, X, y, init, rounds=rounds, steps=steps)
    say("  ms per step (medians):")
    cells = [f"{name:18s}{1e3 * statistics.median(t):6.2f}" for name, t in times.items()]
    for first in range(0, len(cells), 3):
        say("    " + "    ".join(cells[first:first + 3]))
    say("  Ratios: median of the per-round ratios [quartiles]")
    for numerator, denominator, target in [
            ("fit f64", "loop f64", 0.65), ("fit f32", "loop f64", 0.40),
            ("fit f64", "torch f64", None), ("fit f32", "torch f32", None),
            ("fit f64", "fit unchunked f64", None), ("fit f64", "fit 512KB f64", None),
            ("fit f32", "fit unchunked f32", None), ("fit f32", "fit 512KB f32", None),
            ("plain f64", "loop f64", None), ("torch f64", "loop f64", None),
            ("formulas f64", "loop f64", None), ("fit f64", "formulas f64", None),
            ("fit f32", "formulas f32", None)]:
        say(ratio_line(times, numerator, denominator, target))
    say("  The chunk rule's choice against both alternatives: its median no slower than the upper "
        "quartile of the faster alternative")
    for bits, dtype in (("f64", np.float64), ("f32", np.float32)):
        rows = chunk_rows(DEFAULT_CHUNK_SIZE, build_model(init, dtype), X.astype(dtype))
        choice = f"chunks of {rows} rows" if rows < len(X) else "one chunk (no chunks)"
        alternatives = (f"fit unchunked {bits}", f"fit 512KB {bits}")
        best = min(alternatives, key=lambda name: statistics.median(times[name]))
        limit = statistics.quantiles(times[best], n=4)[2]
        mine = statistics.median(times[f"fit {bits}"])
        say(f"    {bits}: {choice}, {1e3 * mine:.2f} ms; faster alternative {best}, upper quartile "
            f"{1e3 * limit:.2f} ms: {'met' if mine <= limit else 'MISSED'}")


# 2. Whole processes --------------------------------------------------------------------------

def report_processes(repeats: int, steps: int) -> None:
    """train.py at its defaults against the course-loop script, alternately, until ``repeats`` pairs
    ran on a quiet machine (benchmarks/quiet.py: the children's CPU counts as ours), at most 3 x
    ``repeats`` pairs; the medians are over the quiet pairs if there are 3 or more, else over all."""
    commands = {
        "train.py": [sys.executable, "train.py", "--no-progress", "--steps", str(steps), "--out"],
        "loop script": [sys.executable, "-m", "benchmarks.course_loop_script", "--steps", str(steps)],
    }
    times = {name: [] for name in commands}
    quiet = []
    with tempfile.TemporaryDirectory() as scratch:
        while sum(quiet) < repeats and len(quiet) < 3 * repeats:
            r = len(quiet)
            order = list(commands) if r % 2 == 0 else list(commands)[::-1]
            with CpuWatch(children=True) as watch:
                for name in order:
                    out = [os.path.join(scratch, f"run{r}")] if name == "train.py" else []
                    command = commands[name] + out
                    start = time.perf_counter()
                    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                    times[name].append(time.perf_counter() - start)
            quiet.append(watch.quiet)
    kept = quiet if sum(quiet) >= 3 else [True] * len(quiet)
    times = {name: [t for t, keep in zip(values, kept, strict=True) if keep]
             for name, values in times.items()}
    say(f"\n2. Whole processes, {steps} steps, alternately; {sum(quiet)} of {len(quiet)} pairs quiet, "
          f"figures over {'those' if sum(quiet) >= 3 else 'all, NOT a quiet machine'}: "
          + ", ".join(f"{name} {statistics.median(t):.1f} s" for name, t in times.items()) + " (medians)")
    say(ratio_line(times, "train.py", "loop script", 0.50 if steps == 3000 else None))


# 3. Scale, in fresh processes ----------------------------------------------------------------

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


def spiral32(points: int):
    """``points`` two-class spiral points as float32 X and int64 y, made without a float64 copy of X."""
    return make_spiral(n_per_class=points // 2, n_classes=2, noise=0.5, rng=0, dtype=np.float32)


def full_batch_child(points: int, hidden: int) -> None:
    """Prints: peak MB, data MB, seconds per step, and the peak MB after the imports and after the data's
    making: full-batch steps through fit over ``points`` points, so that the peak is placed."""
    after_imports = peak_rss_mb()
    X, y = spiral32(points)
    after_data = peak_rss_mb()
    model = Sequential(Linear(2, hidden, rng=0, dtype=np.float32), ReLU(),
                       Linear(hidden, 2, rng=0, dtype=np.float32))
    ends = [time.perf_counter()]
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), X, y, steps=2,
        state=TrainingState(on_step=lambda state: ends.append(time.perf_counter())))
    print(peak_rss_mb(), (X.nbytes + y.nbytes) / 2**20, ends[2] - ends[1], after_imports, after_data)


def epoch_child(points: int, hidden: int, batch: int) -> None:
    """Prints: peak MB, data MB, seconds, and the peak MB before the epoch (the data's making):
    one mini-batch epoch over ``points`` points, the plain step."""
    X, y = spiral32(points)
    peak_before = peak_rss_mb()
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, hidden, rng=rng, dtype=np.float32), ReLU(),
                       Linear(hidden, 2, rng=rng, dtype=np.float32))
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=0.1)
    start = time.perf_counter()
    for X_batch, y_batch in minibatches(X, y, batch, rng=rng):
        loss_fn.forward(model.forward(X_batch), y_batch)
        model.backward(loss_fn.backward())
        optimizer.step()
    print(peak_rss_mb(), (X.nbytes + y.nbytes) / 2**20, time.perf_counter() - start, peak_before)


def in_fresh_process(*arguments, module: str = "benchmarks.bench_step") -> list[float]:
    """The numbers a child of ``module`` (``python -m module --child arguments``) prints."""
    child = subprocess.run([sys.executable, "-m", module, "--child", *map(str, arguments)],
                           capture_output=True, text=True, check=True)
    return [float(word) for word in child.stdout.split()]


def per_sample(batch: int, hidden: int, chunk_size, steps: int) -> float:
    """Seconds per sample of fit's mini-batch steps (float64): steps 2 to ``steps`` of one call."""
    X, y = make_spiral(n_per_class=4 * batch, n_classes=2, noise=0.5, rng=0)
    model = Sequential(Linear(2, hidden, rng=0), ReLU(), Linear(hidden, 2, rng=0))
    ends = []
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=0.1), X, y, steps=steps + 1,
        batch_size=batch, rng=0, log_every=10**9,
        state=TrainingState(chunk_size=chunk_size, on_step=lambda state: ends.append(time.perf_counter())))
    return (ends[-1] - ends[0]) / steps / batch


def report_scale(full_points: int, epoch_points: int, batches, widths, rounds: int, steps: int) -> None:
    peak, data, seconds, after_imports, after_data = in_fresh_process("full", full_points, 256)
    verdict = "met" if peak <= MEMORY_TARGET_MB else "MISSED"
    say("\n3. Scale, each in a fresh process (peak = VmHWM, the whole process's peak resident memory)")
    say(f"  full batch, {full_points:,} points, h = 256, float32, through fit: {seconds:.2f} s per step, "
        f"peak {peak:.0f} MB (data {data:.0f} MB; the peak was {after_imports:.0f} MB after the imports, "
        f"{after_data:.0f} MB once the data were made)   target <= {MEMORY_TARGET_MB} MB: {verdict}")
    peak, data, seconds, peak_before = in_fresh_process("epoch", epoch_points, 256, 256)
    say(f"  one mini-batch epoch, {epoch_points:,} points, batch 256, h = 256, float32, plain step: "
          f"{seconds:.1f} s ({1e9 * seconds / epoch_points:.0f} ns per sample), "
          f"peak {peak:.0f} MB (data {data:.0f} MB; peak {peak_before:.0f} MB once they were made)")
    say(f"  fit's mini-batch steps, float64: µs per sample, median of {rounds} interleaved rounds; "
          "in brackets, chunked / unchunked")
    say(f"  {'batch':>6s} " + " ".join(f"{'h = ' + str(h):>18s}" for h in widths))
    per_unit = []
    for batch in batches:
        cells = []
        for hidden in widths:
            chunked, unchunked = [], []
            for r in range(rounds):
                pair = [(chunked, DEFAULT_CHUNK_SIZE), (unchunked, None)]
                for times, chunk_size in pair if r % 2 == 0 else pair[::-1]:
                    times.append(per_sample(batch, hidden, chunk_size, steps))
            seconds = statistics.median(chunked)
            per_unit.append(seconds / hidden)
            ratio = statistics.median(a / b for a, b in zip(chunked, unchunked, strict=True))
            cells.append(f"{1e6 * seconds:9.3f} ({ratio:4.2f})")
        say(f"  {batch:6d} " + " ".join(f"{cell:>18s}" for cell in cells))
    spread = max(per_unit) / min(per_unit)
    say(f"  Per sample and hidden unit, fit's time varies by a factor of {spread:.1f} over the table")


# 4. Threads, on a busy machine and a quiet one -----------------------------------------------

# Keeps one core busy until its deadline (argv[1] seconds), whatever happens to the benchmark.
BUSY = "import sys, time\nend = time.time() + float(sys.argv[1])\nwhile time.time() < end:\n    pass\n"


THREAD_VARIANTS = {"default": ({}, []), "OPENBLAS_NUM_THREADS=1": ({"OPENBLAS_NUM_THREADS": "1"}, []),
                   "NumPy's threads": ({}, ["--threads", "0"])}


def time_trainings(flags: list[str], repeats: int, scratch: str) -> dict[str, float]:
    """Median wall seconds of ``train.py flags`` under each of THREAD_VARIANTS, in rotating order."""
    times = {name: [] for name in THREAD_VARIANTS}
    for r in range(repeats * len(THREAD_VARIANTS)):
        name = list(THREAD_VARIANTS)[r % len(THREAD_VARIANTS)]
        environment, extra = THREAD_VARIANTS[name]
        out = tempfile.mkdtemp(dir=scratch)
        start = time.perf_counter()
        subprocess.run([sys.executable, "train.py", "--no-progress", *flags, *extra, "--out", out],
                       check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, **environment))
        times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def report_threads(repeats: int, steps: int) -> None:
    """Two train.py runs on the default thread count (1), on OPENBLAS_NUM_THREADS=1 and on NumPy's own
    threads (--threads 0): whole processes, in an order that rotates, first while another process keeps
    one core busy, then on the quiet machine. Medians of ``repeats`` rounds."""
    trainings = {"tanh run": ["--depth", "3", "--activation", "tanh", "--hidden", "64", "--lr", "0.5"],
                 "default run": []}
    say(f"\n4. Threads: train.py --steps {steps}, whole processes, {repeats} rounds each; wall seconds "
        "(medians) and the default's ratios")
    with tempfile.TemporaryDirectory() as scratch:
        for machine in ("busy", "quiet"):
            busy = subprocess.Popen([sys.executable, "-c", BUSY, "900"]) if machine == "busy" else None
            try:
                for training, flags in trainings.items():
                    with CpuWatch(children=True) as watch:
                        t = time_trainings([*flags, "--steps", str(steps)], repeats, scratch)
                    one = t["default"] / t["OPENBLAS_NUM_THREADS=1"]
                    numpy_threads = t["default"] / t["NumPy's threads"]
                    others = "unknown" if watch.others is None else f"{watch.others:.2f}"
                    say(f"  {machine:5s} {training:11s} " + ", ".join(f"{n} {v:.1f} s" for n, v in t.items())
                        + f" (other processes: {others} cores)")
                    say(f"        default / OPENBLAS_NUM_THREADS=1 {one:.2f}"
                        + ("   target <= 1.30" if machine == "busy" else
                           f", default / NumPy's threads {numpy_threads:.2f}   target <= 1.05"))
            finally:
                if busy is not None:
                    busy.kill()
                    busy.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds, 100-step processes, smaller scale runs (under 30 s)")
    parser.add_argument("--process-repeats", type=int, default=5,
                        help="whole processes of each kind (default 5)")
    parser.add_argument("--process-steps", type=int, default=3000,
                        help="their steps (default 3000, train.py's default)")
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 1 or 14 (default 1234)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)     # a scale run, in its own process
    args = parser.parse_args()
    if args.child:
        kind, *numbers = args.child
        (full_batch_child if kind == "full" else epoch_child)(*map(int, numbers))
        return
    torch = import_torch()
    say(machine_description())
    say(f"PyTorch {torch.__version__} on {torch.get_num_threads()} threads, denormals flushed" if torch else
          "PyTorch is not installed: its rows are skipped")
    if "1" in args.parts:
        report_course_setup(torch, rounds=9 if args.quick else 31, steps=10)
    if "2" in args.parts:
        report_processes(repeats=2 if args.quick else args.process_repeats,
                         steps=100 if args.quick else args.process_steps)
    if "3" in args.parts and args.quick:
        report_scale(200_000, 1_000_000, [64, 4096], [256], rounds=3, steps=10)
    elif "3" in args.parts:
        report_scale(2_000_000, 10_000_000, [64, 256, 1024, 4096], [100, 256, 1000], rounds=5, steps=10)
    if "4" in args.parts:
        report_threads(repeats=1 if args.quick else 3, steps=50 if args.quick else 300)


if __name__ == "__main__":
    main()
