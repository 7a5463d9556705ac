"""How a step uses this machine: its batch in chunks sized to the CPU's L2 cache, and its BLAS threads.

A step's batch in chunks of rows, the gradients summed before the one update (gradient accumulation).

The loss is a mean, L = Σ_c (n_c/N)·L_c, so its gradient is Σ_c (n_c/N)·∂L_c/∂θ: every row's gradient
is independent until the sums over n. Only the order of the additions differs from the whole batch,
so a chunked step equals the plain one to rounding. Chunks can be faster, because each [chunk x h]
array stays in the cache where an [N x h] one (6.4 MB for the course's network) is read from memory
at every pass over it; and memory is O(chunk x h) whatever N is. By hand, with
``params = model.parameters()``:

    totals = [np.zeros_like(p.value) for p in params]
    for start in range(0, N, 100):                          # chunks of 100 rows
        rows = slice(start, start + 100)
        loss_fn.forward(model.forward(X[rows]), y[rows])    # L_c, the chunk's mean
        model.backward(len(X[rows]) / N * loss_fn.backward())   # ∂(n_c/N · L_c)/∂θ
        for p, total in zip(params, totals):
            total += p.grad
    for p, total in zip(params, totals):
        p.grad = total
    optimizer.step()
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os

import numpy as np
from threadpoolctl import ThreadpoolController

from checks import check_count
from training.penalty import L2

# "auto": where one core's L2 cache holds at least 1 MB, chunks whose widest [rows x width] array is the
# L2's size (131 rows for the course's network in float64 on a 1 MB L2); elsewhere, chunks only for
# memory, of MEMORY_BYTES arrays. docs/performance.md has the measurements behind the rule.
DEFAULT_CHUNK_SIZE = "auto"
CHUNKS_NEED_L2 = 2**20          # with less L2 a core, chunks lost to the whole batch
MEMORY_BYTES = 2**23            # 8 MB: no [rows x width] array of a step larger, whatever N


_THREADS = contextvars.ContextVar("blas_threads", default=1)


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()           # finds NumPy's BLAS once: 0.5 ms


def blas_limit():
    """The thread limit ``fit`` runs its steps under: one, or what ``blas_threads`` set."""
    return _blas().limit(limits=_THREADS.get(), user_api="blas")


def blas_threads(n: int | None):
    """``with blas_threads(n):`` NumPy's BLAS runs on ``n`` threads in the block, ``fit`` included (None:
    as many as it chose at start). ``fit`` outside such a block runs its steps on one: a step's products
    are thin, so a second thread saves little on a quiet machine and, on a busy one, waits for a core
    another process holds (1.6 to 11 times slower, docs/performance.md). The count can change a result's
    last digits (a product's sums are split between threads), so a run and its resumption use the same."""
    return _threads(None if n is None else check_count("threads", n))


@contextlib.contextmanager
def _threads(n: int | None):
    token = _THREADS.set(n)
    try:
        with _blas().limit(limits=n, user_api="blas"):
            yield
    finally:
        _THREADS.reset(token)


def chunk_rows(chunk_size, model, X: np.ndarray) -> int | None:
    """Rows per chunk: ``chunk_size`` if it is a number of rows (None: no chunks), or for "auto" as many
    rows as make the widest [rows x width] array (the input's width, or a parameter's largest dimension)
    the size of one core's L2 cache where that holds at least CHUNKS_NEED_L2, else MEMORY_BYTES. None
    when a layer ``needs_whole_batch`` (BatchNorm1d in training mode: its μ and σ² are the batch's).
    The choice depends on the machine, never on a timing: a run's numbers are the same run after run."""
    if chunk_size is None or any(getattr(layer, "needs_whole_batch", False) for layer in layers_of(model)):
        return None
    if isinstance(chunk_size, str) and chunk_size == "auto":
        if not isinstance(X, np.ndarray):
            return None                     # the model's forward names what X should be
        widths = [int(np.prod(X.shape[1:]))] + [max(p.value.shape, default=1) for p in model.parameters()]
        cache = l2_cache_bytes()
        budget = cache if cache >= CHUNKS_NEED_L2 else MEMORY_BYTES
        return max(1, budget // (max(widths) * X.dtype.itemsize))
    try:
        return check_count("chunk_size", chunk_size)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc} (or \"auto\", or None: no chunks)") from None


@functools.cache
def l2_cache_bytes() -> int:
    """One core's L2 cache in bytes, as Linux reports it (/sys/devices/system/cpu); 0 if it can't be read."""
    folder = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for index in sorted(os.listdir(folder)):
            with open(os.path.join(folder, index, "level")) as level, \
                    open(os.path.join(folder, index, "size")) as size:
                if level.read().strip() == "2":
                    text = size.read().strip()                  # e.g. "1024K"
                    return int(text.rstrip("KM")) * {"K": 2**10, "M": 2**20}.get(text[-1], 1)
    except (OSError, ValueError):
        pass
    return 0


def keep_freed_memory() -> None:
    """Let the C allocator keep the memory of one chunk's freed arrays for the next chunk.

    glibc's malloc gives freed memory back to the system once more than twice its threshold is free at
    the top of the heap, and every page given back costs a page fault when the next chunk writes it
    (36 % of the course's step in 131-row chunks, benchmarks/speed_devices.py). glibc raises its
    threshold to the size of any larger block freed, so one block of MEMORY_BYTES, made and freed
    untouched, raises it once for the process. With another allocator this costs nothing and does nothing.
    """
    np.empty(MEMORY_BYTES, dtype=np.uint8)


def chunks(n: int, rows: int | None) -> list[slice]:
    """Consecutive row slices of at most ``rows`` rows covering rows 0 … n−1."""
    size = n if rows is None else rows
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def chunked_step(model, loss_fn, optimizer, X, y, rows: int, totals: list, reg: float = 0.0,
                 labels: list | None = None) -> float:
    """``train_step`` with the batch in chunks of ``rows``, the gradients summed in ``totals`` (arrays made
    once per fit) before the update; the loss (with R) of the weights before it. Each chunk's predicted
    labels are appended to ``labels`` if given."""
    N = len(X)
    params = model.parameters()
    for p in params:
        p.grad = None                       # a layer that writes its gradient in place gets its own array
    loss = 0.0
    for c, part in enumerate(chunks(N, rows)):
        weight = (part.stop - part.start) / N                                    # n_c / N
        scores = model.forward(X[part])
        loss += weight * loss_fn.forward(scores, y[part])
        model.backward(weight * loss_fn.backward())                              # ∂(n_c/N · L_c)/∂S
        for p, total in zip(params, totals, strict=True):
            if c == 0:
                np.copyto(total, p.grad)
            else:
                total += p.grad
        if labels is not None:
            labels.append(scores.argmax(axis=1))
    for p, total in zip(params, totals, strict=True):
        p.grad = total
    if reg:
        penalty = L2(reg)
        loss += penalty.value(params)
        penalty.add_gradient(params)
    optimizer.step()
    return loss


def layers_of(model) -> list:
    """The layers of a ``Sequential`` (or of any iterable model); none for another kind of model."""
    return list(model) if hasattr(model, "__iter__") else []
