"""The training loop, as a function you can call with your own model, loss, optimizer and data."""

from __future__ import annotations

import contextvars
import functools
import math
import os
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController
from tqdm import tqdm

from checks import NonFiniteError, check_count, check_finite
from data import BatchStream
from training.divergence import DEFAULT_FACTOR, check_factor, stuck_loss
from training.history import History
from training.penalty import L2

# fit's default chunk size, "auto" (``chunk_rows``): where one core's L2 cache holds at least 1 MB, chunks
# whose widest [rows x width] array is the L2's size (131 rows for the course's network in float64 on a
# 1 MB L2); elsewhere, chunks only for memory, of MEMORY_BYTES arrays. docs/performance.md has the
# measurements behind the rule.
DEFAULT_CHUNK_SIZE = "auto"
CHUNKS_NEED_L2 = 2**20          # with less L2 a core, chunks lost to the whole batch
MEMORY_BYTES = 2**23            # 8 MB: no [rows x width] array of a step larger, whatever N


class Diverged(RuntimeError):
    """A loss, score or gradient became NaN or infinite, or the loss stayed far above its start
    (``reason``, training/divergence.py): the run cannot go on.

    The learning rate is blamed only once updates have been made; at step 0 nothing but the
    inputs and the initial weights produced the numbers.
    """

    def __init__(self, step: int, what: str, value: float, *, reason: str | None = None):
        self.step = step
        self.what = what
        self.value = value
        hint = ("try a smaller learning rate" if step > 0 else
                "before any update: the inputs or the initial weights are too large; "
                "scale the inputs down or use a smaller init")
        super().__init__(f"training diverged at step {step}: {reason or f'{what} is {value}'} ({hint})")


class blas_threads:
    """``with blas_threads(n):`` NumPy's BLAS runs on ``n`` threads in the block, ``fit`` included (None: as
    many as it chose at start, one a core, or what OPENBLAS_NUM_THREADS said). ``fit`` outside such a
    block runs its steps on one.

    One, because a training step's matrix products are thin ([N x h] by [h x K]): a second thread
    saves little on a quiet machine and, on a busy one, waits for a core another process holds, which
    made runs 1.6 to 11 times slower (docs/performance.md). The thread count can change a result's last
    digits (a product's sums are split between threads), so a run and its resumption use the same count.
    """

    def __init__(self, n: int | None):
        self.n = None if n is None else check_count("threads", n)
        self._token = self._limit = None

    def __enter__(self) -> None:
        self._token = _THREADS.set(self.n)
        self._limit = _blas().limit(limits=self.n, user_api="blas")

    def __exit__(self, kind, exc, traceback) -> bool:
        self._limit.restore_original_limits()
        _THREADS.reset(self._token)
        return False


_THREADS = contextvars.ContextVar("blas_threads", default=1)


@functools.cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()           # finds NumPy's BLAS once: 0.5 ms


@dataclass
class TrainingState:
    """Where a run stands: updates made, the batch stream's position, and the history so far.

    ``fit`` advances it in place, so a run can be saved at any step and continued later.
    """

    step: int = 0
    history: History = field(default_factory=History)
    batches: BatchStream | None = None


def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, *, steps: int,
        batch_size: int | None = None, rng: np.random.Generator | int | None = None,
        val: tuple[np.ndarray, np.ndarray] | None = None, log_every: int = 10,
        progress: bool = False, state: TrainingState | None = None,
        on_step=None, should_stop=None, chunk_size: int | str | None = DEFAULT_CHUNK_SIZE,
        diverge_factor: float = DEFAULT_FACTOR, reg: float = 0.0) -> History:
    """Train until ``steps`` updates have been made, and return the history.

    Each step is the course loop's iteration: forward, loss, backward, optimizer step. Without
    ``batch_size`` every step uses all of (X, y); with it, steps take mini-batches that cover
    the data once per pass, shuffled by ``rng``.

    Every ``log_every`` steps, and once at the end, a history row measures the loss and
    accuracy on all of (X, y) and on ``val = (X_val, y_val)``. Full-batch runs reuse the
    training forward pass for this, so logging costs them only the validation pass. With float
    targets (a regression loss such as ``MSELoss``) accuracy is not defined and is NaN.

    Modes: ``fit`` puts the model in training mode (``model.train()``) for its steps, and runs each
    history row's passes in evaluation mode (``model.eval()``: no dropout, BatchNorm1d's running
    statistics, which these passes leave unchanged), then back in training mode, as a PyTorch user
    does around an evaluation; the model ends in training mode. A model with such layers
    (Dropout, BatchNorm1d) is therefore never measured by its training forward pass.

    ``reg = λ`` adds the course's L2 regularisation (training/penalty.py): R = ½·λ·Σ W² over the
    weight matrices only (not biases), whose gradient λ·W is added to each matrix's gradient before
    the update, and whose value is part of every loss the history reports (validation included).

    ``state`` continues an earlier run, called with the same data and batch size: ``steps``
    counts all updates, those already made included, and the batches continue where they
    stopped. ``on_step(state)`` is called after every update (for checkpoints), and
    ``should_stop()`` before every step (to stop cleanly between steps).

    A batch (the full batch, or a mini-batch) of more than ``chunk_size`` rows is computed in
    chunks of consecutive rows (gradient accumulation): forward and backward chunk by chunk, the
    gradients summed, then the optimizer's single update. ``chunk_size="auto"`` (the default) sizes
    chunks from this CPU's L2 cache where it is large enough for chunks to pay, and otherwise only
    for memory (``chunk_rows``); an int fixes the rows, None turns chunks off.
    A model with a layer that mixes the rows of a batch in training mode (``needs_whole_batch``:
    BatchNorm1d, whose μ and σ² are the batch's) is never chunked: its math would change. Dropout
    may be: its mask is drawn row after row, so the chunks draw exactly the whole batch's mask.
    The math is unchanged: the loss is a mean, L = Σ_c (n_c/N)·L_c, so its gradient is
    Σ_c (n_c/N)·∂L_c/∂θ, because every row's gradient is independent until the sums over n.
    Only the order of the additions differs, so results equal the unchunked step to rounding.
    Chunks can be faster, because each [chunk x h] array stays in the cache where an [N x h] one
    (6.4 MB for the course's network) is read from memory at every pass over it; and memory is
    O(chunk x h) whatever N is. The steps run on one BLAS thread unless ``blas_threads`` says otherwise.
    By hand, with ``params = model.parameters()``, one step reads:

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

    Raises ``Diverged`` naming the step as soon as a score or a gradient is not finite, before
    that step's update touches the weights (the loss checks its scores and the optimizer its
    gradients, once each per step); at every history row it also checks the weights and the
    optimizer's state (an overflowing Adam buffer freezes a run without ever producing a NaN score).
    It also raises ``Diverged`` when the training loss of the last 50 history rows stayed above
    ``diverge_factor`` × the first row's loss (training/divergence.py); ``diverge_factor=0`` turns
    that rule off.
    """
    steps = check_count("steps", steps, minimum=0)
    log_every = check_count("log_every", log_every)
    penalty = L2(reg)
    _set_training(model, True)
    chunk_size = chunk_rows(chunk_size, model, X)
    diverge_factor = check_factor(diverge_factor)
    _check_val(val)
    state = TrainingState() if state is None else state
    if steps < state.step:
        raise ValueError(f"the run has already made {state.step} updates; steps={steps} would go backwards")
    if state.batches is None:
        if batch_size is not None:
            state.batches = BatchStream(X, y, batch_size, rng=rng)
    else:
        _check_continuation(state.batches, X, y, batch_size)
    if state.history and state.history[-1]["step"] == state.step:
        state.history.rows.pop()            # the last run's end row: this run measures it again

    batch_step = _ChunkedStep(model, loss_fn, chunk_size)
    params = model.parameters()
    reuse = not any(getattr(layer, "depends_on_mode", False) for layer in _layers_of(model))
    bar = tqdm(total=steps, initial=state.step, disable=not progress, unit="step", mininterval=0.25,
               dynamic_ncols=True)
    threads = _blas().limit(limits=_THREADS.get(), user_api="blas")      # see blas_threads
    with bar, threads, np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # caught as Diverged
        while state.step < steps and not (should_stop is not None and should_stop()):
            step = state.step
            full_batch = state.batches is None
            X_batch, y_batch = (X, y) if full_batch else state.batches.next_batch()
            logging = step % log_every == 0
            try:
                measured = batch_step.step(X_batch, y_batch, measure=logging and full_batch and reuse)
                if penalty.reg:
                    penalty.add_gradient(params)
                if logging:
                    _log(state.history, step, model, loss_fn, X, y, val, bar, measured, optimizer, chunk_size,
                         penalty)
                    _require_loss_not_stuck(state.history, step, diverge_factor)
                optimizer.step()
            except NonFiniteError as exc:   # the loss's scores or the optimizer's gradients
                raise Diverged(step, exc.what, exc.value) from None
            except ValueError as exc:       # BatchNorm1d's refusal of one row: say where the row came from
                if full_batch or len(X_batch) != 1:
                    raise
                raise ValueError(f"step {step}: {_one_row(state.batches)}; {exc}") from None
            state.step += 1
            bar.update(1)
            if on_step is not None:
                on_step(state)
        if not state.history or state.history[-1]["step"] != state.step:
            _log(state.history, state.step, model, loss_fn, X, y, val, bar, None, optimizer, chunk_size,
                 penalty)
    return state.history


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on (X, y), in evaluation mode (the model's mode is put back),
    without touching the weights or the running statistics. Accuracy is NaN for float targets."""
    with evaluation_mode(model):
        scores = model.forward(X)
    return loss_fn.forward(scores, y), _correct(scores, y) / len(y)


class evaluation_mode:
    """``with evaluation_mode(model):`` runs the block with ``model.eval()``, then puts back the mode the
    model had (a model without modes is left alone). A class: cheaper than a generator-based one."""

    def __init__(self, model):
        self.model = model
        self.was = None

    def __enter__(self) -> None:
        self.was = getattr(self.model, "training", None)
        _set_training(self.model, False)

    def __exit__(self, kind, exc, traceback) -> bool:
        if self.was is not None:
            _set_training(self.model, self.was)
        return False


def require_finite_state(step: int, model, optimizer) -> None:
    """Raise ``Diverged`` unless every weight and every optimizer buffer is finite.

    ``fit`` checks this at every history row; a checkpoint writer checks it before saving, so
    that a diverged state never replaces a good checkpoint.
    """
    for p in model.parameters():
        _require_finite(step, f"a weight of {p.name}", p.value)
    if hasattr(optimizer, "state_dict"):
        for name, value in optimizer.state_dict().items():
            _require_finite(step, f"the optimizer's {name}", value)


def _log(history, step, model, loss_fn, X, y, val, bar, measured, optimizer, chunk_size, penalty) -> None:
    require_finite_state(step, model, optimizer)
    with evaluation_mode(model):
        if measured is None:
            measured = _finite_evaluation(step, model, loss_fn, X, y, "training", chunk_size)
        val_loss, val_accuracy = math.nan, math.nan
        if val is not None:
            val_loss, val_accuracy = _finite_evaluation(step, model, loss_fn, *val, "validation", chunk_size)
    loss, accuracy = measured
    if penalty.reg:
        R = penalty.value(model.parameters())
        loss, val_loss = loss + R, val_loss + R
    history.append(step, loss, accuracy, val_loss, val_accuracy)
    postfix = {"loss": f"{loss:.4f}", "acc": f"{accuracy:.1%}"}
    if val is not None:
        postfix["val_acc"] = f"{val_accuracy:.1%}"
    bar.set_postfix(postfix, refresh=False)


def _finite_evaluation(step, model, loss_fn, X, y, which, chunk_size) -> tuple[float, float]:
    """Loss and accuracy on (X, y), chunk by chunk as the training step, so memory stays O(chunk x h)."""
    N = len(X)
    loss, correct = 0.0, 0
    for rows in _chunks(N, chunk_size):
        scores = model.forward(X[rows])
        _require_finite(step, f"a {which} score", scores)
        loss += (len(scores) / N) * loss_fn.forward(scores, y[rows])
        correct += _correct(scores, y[rows])
    return loss, correct / N


class _ChunkedStep:
    """One step's forward and backward over a batch, in chunks of at most ``chunk_size`` rows.

    With more than one chunk, each chunk's backward starts from (n_c/N)·∂L_c/∂S, as a PyTorch user
    writes ``(loss * n_c / N).backward()``, so that the chunks' gradients add up to the batch's:
    Σ_c grad_c, summed in arrays made once per ``fit`` call. With one chunk (or ``chunk_size=None``),
    the plain step.
    """

    def __init__(self, model, loss_fn, chunk_size: int | None):
        self.model, self.loss_fn, self.chunk_size = model, loss_fn, chunk_size
        self.params = None
        self.totals = None                  # Σ_c grad_c per parameter, made at the first use
        if chunk_size is not None:
            keep_freed_memory()

    def step(self, X, y, *, measure: bool) -> tuple[float, float] | None:
        """Forward and backward over (X, y), leaving the batch's gradients in the parameters; the
        batch's loss and accuracy if ``measure``."""
        N = len(X)
        chunks = _chunks(N, self.chunk_size)
        if len(chunks) == 1:
            scores = self.model.forward(X)
            loss = self.loss_fn.forward(scores, y)
            self.model.backward(self.loss_fn.backward())
            return (loss, _correct(scores, y) / N) if measure else None
        if self.totals is None:
            self.params = self.model.parameters()
            self.totals = [np.empty_like(p.value) for p in self.params]
        for p in self.params:
            p.grad = None                   # a layer that writes its gradient in place gets its own array
        loss, correct = 0.0, 0
        for c, rows in enumerate(chunks):
            weight = (rows.stop - rows.start) / N                                    # n_c / N
            scores = self.model.forward(X[rows])
            loss += weight * self.loss_fn.forward(scores, y[rows])
            self.model.backward(weight * self.loss_fn.backward())                    # ∂(n_c/N · L_c)/∂S
            for p, total in zip(self.params, self.totals, strict=True):
                if c == 0:
                    np.copyto(total, p.grad)
                else:
                    total += p.grad
            if measure:
                correct += _correct(scores, y[rows])
        for p, total in zip(self.params, self.totals, strict=True):
            p.grad = total
        return (loss, correct / N) if measure else None


def keep_freed_memory() -> None:
    """Let the C allocator keep the memory of one chunk's freed arrays for the next chunk.

    A chunk's arrays (up to an L2 cache's size each) are freed and made again at every chunk. glibc's
    malloc gives freed memory back to the system once more than twice its threshold is free at the
    top of the heap, and every page given back costs a page fault (the kernel zeroes it) when the next
    chunk writes it: about 750 faults per step of the course's network in 131-row chunks, 36 % of the
    step's time (benchmarks/speed_devices.py, in fresh processes). glibc raises
    its threshold to the size of any larger block freed, so one block of 8 MB (MEMORY_BYTES), made and
    freed untouched, raises it once for the process; what the process then keeps is at most twice
    that (16 MB). With another allocator this costs nothing and does nothing.
    """
    np.empty(MEMORY_BYTES, dtype=np.uint8)


def _chunks(n: int, chunk_size: int | None) -> list[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows covering rows 0 … n−1."""
    size = n if chunk_size is None else chunk_size
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def chunk_rows(chunk_size, model, X: np.ndarray) -> int | None:
    """Rows per chunk: ``chunk_size`` if it is a number of rows (None: no chunks), or for "auto" as many
    rows as make the widest [rows x width] array (the input's width, or a parameter's largest dimension:
    a Linear's [D_in x D_out] W makes [rows x D_out] arrays) the size of one core's L2 cache, where that
    cache holds at least CHUNKS_NEED_L2, else MEMORY_BYTES (chunks for memory only, which a batch
    of the course's size does not need). None as well when a layer ``needs_whole_batch`` (BatchNorm1d
    in training mode). The choice depends on the machine, never on a timing: a run's numbers are the
    same run after run."""
    if chunk_size is None or any(getattr(layer, "needs_whole_batch", False) for layer in _layers_of(model)):
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


def _correct(scores: np.ndarray, y: np.ndarray) -> float:
    """How many rows are classified right; NaN for float targets (a regression has no accuracy)."""
    if np.asarray(y).dtype.kind == "f":
        return math.nan
    return int(np.count_nonzero(scores.argmax(axis=1) == y))


def _layers_of(model) -> list:
    """The layers of a ``Sequential`` (or of any iterable model); none for another kind of model."""
    return list(model) if hasattr(model, "__iter__") else []


def _one_row(batches: BatchStream) -> str:
    """Why a mini-batch has a single row: every batch has, or the last one of each pass."""
    n, size = len(batches.X), batches.batch_size
    if size == 1:
        return "every mini-batch has 1 row (batch_size=1)"
    return f"the last mini-batch of each pass has 1 row ({n} rows in batches of {size} leave {n % size})"


def _set_training(model, mode: bool) -> None:
    if hasattr(model, "train"):             # a model of your own may have no modes
        model.train(mode)


def _require_loss_not_stuck(history: History, step: int, factor: float) -> None:
    reason = stuck_loss(history, factor)
    if reason is not None:
        raise Diverged(step, "the training loss", history[-1]["loss"], reason=reason)


def _require_finite(step: int, what: str, values) -> None:
    try:
        check_finite(what, values)
    except NonFiniteError as exc:
        raise Diverged(step, what, exc.value) from None


def _check_val(val) -> None:
    if val is None:
        return
    if not (isinstance(val, (tuple, list)) and len(val) == 2):
        raise TypeError(f"val must be a pair (X_val, y_val), got {type(val).__name__}")
    if len(val[0]) != len(val[1]):
        raise ValueError(f"val has {len(val[0])} samples but {len(val[1])} labels; they must match")


def _check_continuation(batches: BatchStream, X, y, batch_size) -> None:
    """A continued mini-batch run must be called with the data and batch size it started with."""
    if batch_size != batches.batch_size:
        raise ValueError(f"the state continues a run with batch_size={batches.batch_size}, "
                         f"got batch_size={batch_size}")
    same_data = (batches.X is X and batches.y is y) or (
        np.shape(batches.X) == np.shape(X) and np.array_equal(batches.X, X) and np.array_equal(batches.y, y))
    if not same_data:
        raise ValueError("the state continues a run on other data: pass the X and y it started with")
