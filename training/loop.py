"""The training loop, as a function you can call with your own model, loss, optimizer and data."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from checks import NonFiniteError, check_count, check_finite, check_samples
from data import BatchStream
from training.divergence import DEFAULT_FACTOR, PATIENCE, check_factor, stuck_loss  # noqa: F401 (train.py)
from training.history import History
from training.machine import (
    DEFAULT_CHUNK_SIZE,
    blas_limit,
    chunk_rows,
    chunked_step,
    chunks,
    keep_freed_memory,
    layers_of,
)
from training.penalty import L2

MOVED_TO_STATE = ("on_step", "should_stop", "progress", "chunk_size", "diverge_factor")


class Diverged(RuntimeError):
    """A score or gradient is not finite, or the loss is far above its start (training/divergence.py);
    ``step`` names when."""

    def __init__(self, step: int, what: str, value: float, *, reason: str | None = None):
        self.step, self.what, self.value = step, what, value
        hint = ("try a smaller learning rate" if step > 0 else
                "before any update: the inputs or the initial weights are too large; "
                "scale the inputs down or use a smaller init")
        super().__init__(f"training diverged at step {step}: {reason or f'{what} is {value}'} ({hint})")


@dataclass
class TrainingState:
    """A run: where it stands, which a checkpoint saves (``step``: updates made; ``history``; ``batches``:
    the mini-batch stream's position), and how ``fit`` runs its steps:

    - ``on_step(state)``: called after every update (checkpoints, a BoundaryRecorder);
    - ``should_stop()``: asked before every step, True stops cleanly between steps (Ctrl-C);
    - ``progress``: a progress bar;
    - ``chunk_size``: rows per chunk of a step's batch, training/machine.py ("auto"; an int; None: none);
    - ``diverge_factor``: the divergence rules' factor (training/divergence.py; 0 turns them off).
    """

    step: int = 0
    history: History = field(default_factory=History)
    batches: BatchStream | None = None
    on_step: Callable | None = None
    should_stop: Callable | None = None
    progress: bool = False
    chunk_size: int | str | None = DEFAULT_CHUNK_SIZE
    diverge_factor: float = DEFAULT_FACTOR


def train_step(model, loss_fn, optimizer, X, y, *, reg: float = 0.0):
    """One update, the README's four lines; ``reg`` adds the course's regularisation (training/penalty.py).
    Returns the loss and the scores, both of the weights before the update."""
    scores = model.forward(X)                           # steps 1-3: [N x K]
    loss = loss_fn.forward(scores, y)                   # steps 4-5: the mean loss
    model.backward(loss_fn.backward())                  # steps 6-10: every layer's grads
    if reg:
        penalty = L2(reg)
        loss += penalty.value(model.parameters())       # R = ½·λ·Σ W²
        penalty.add_gradient(model.parameters())        # dW += λ·W
    optimizer.step()                                    # step 11: θ ← θ − η·∂L/∂θ
    return loss, scores


def _moved_keywords_answered(fit):
    @functools.wraps(fit)
    def checked(*args, **kwargs):
        for name in MOVED_TO_STATE:
            if name in kwargs:
                raise TypeError(f"fit() takes {name}= no more: write "
                                f"fit(..., state=TrainingState({name}=...))")
        return fit(*args, **kwargs)
    return checked


@_moved_keywords_answered
def fit(model, loss_fn, optimizer, X: np.ndarray, y: np.ndarray, *, steps: int,
        batch_size: int | None = None, rng: np.random.Generator | int | None = None,
        val: tuple[np.ndarray, np.ndarray] | None = None, log_every: int = 10, reg: float = 0.0,
        state: TrainingState | None = None) -> History:
    """Train until ``steps`` updates have been made, and return the history.

    Each step is ``train_step`` on all of (X, y), or with ``batch_size`` on mini-batches that cover the
    data once per pass, shuffled by ``rng``. Every ``log_every`` steps, and once at the end, a history row
    measures the weights before that step's update: loss and accuracy on all of (X, y) and on
    ``val = (X_val, y_val)``, in evaluation mode (``model.eval()``: no dropout, BatchNorm1d's running
    statistics); a full-batch run of a model without such layers reuses its step's forward pass. Accuracy
    is NaN for float targets (``MSELoss``). The model ends in training mode.

    ``reg = λ`` adds the course's L2 regularisation R = ½·λ·Σ W² over the weight matrices (not biases):
    λ·W is added to their gradients before the update, and R is part of every loss the history reports.

    ``state`` (a ``TrainingState``) continues an earlier run, called with the same data and batch size
    (``steps`` counts all updates), and holds fit's hooks: ``on_step``, ``should_stop``, ``progress``,
    ``chunk_size`` (training/machine.py: the batch in chunks, gradients summed, the same step to
    rounding) and ``diverge_factor``. Steps run on one BLAS thread unless ``blas_threads`` says otherwise.

    Raises ``Diverged`` naming the step when a score or gradient is not finite, before that step's update
    touches the weights; at each history row also when a weight or an optimizer buffer is not finite, or
    when a divergence rule (training/divergence.py) holds. Raises ``ValueError`` at once for empty
    data, or data (X, float targets, val) that is not finite, naming the first bad entry.
    """
    steps = check_count("steps", steps, minimum=0)
    log_every = check_count("log_every", log_every)
    penalty = L2(reg)
    state = TrainingState() if state is None else state
    factor = check_factor(state.diverge_factor)
    check_samples("fit", X, y)
    _check_val(val)
    for name, data in [("X", X), ("y", y)] + ([] if val is None else [("X_val", val[0]), ("y_val", val[1])]):
        if np.asarray(data).dtype.kind == "f":      # ints are finite; the layers refuse other kinds
            check_finite(name, data, data=True)
    _set_training(model, True)
    rows = chunk_rows(state.chunk_size, model, X)
    if steps < state.step:
        raise ValueError(f"the run has already made {state.step} updates; steps={steps} would go backwards")
    if state.batches is None and batch_size is not None:
        state.batches = BatchStream(X, y, batch_size, rng=rng)
    elif state.batches is not None:
        _check_continuation(state.batches, X, y, batch_size)
    if state.history and state.history[-1]["step"] == state.step:
        state.history.rows.pop()            # the last run's end row: this run measures it again
    reuse = state.batches is None and not any(getattr(layer, "depends_on_mode", False)
                                              for layer in layers_of(model))
    totals = None if rows is None else [np.empty_like(p.value) for p in model.parameters()]
    if rows is not None:
        keep_freed_memory()
    bar = tqdm(total=steps, initial=state.step, disable=not state.progress, unit="step", mininterval=0.25,
               dynamic_ncols=True)
    with bar, blas_limit(), np.errstate(all="ignore"):
        while state.step < steps and not (state.should_stop is not None and state.should_stop()):
            step = state.step
            X_batch, y_batch = (X, y) if state.batches is None else state.batches.next_batch()
            logging = step % log_every == 0
            measure = logging and reuse
            try:
                if logging:
                    row = _measure(step, model, loss_fn, optimizer, X, y, val, rows, penalty,
                                   training=not measure)
                if rows is None or len(X_batch) <= rows:
                    loss, scores = train_step(model, loss_fn, optimizer, X_batch, y_batch, reg=penalty.reg)
                    labels = [scores.argmax(axis=1)] if measure else None
                else:
                    labels = [] if measure else None
                    loss = chunked_step(model, loss_fn, optimizer, X_batch, y_batch, rows, totals,
                                        penalty.reg, labels)
            except NonFiniteError as exc:   # the loss's scores or the optimizer's gradients
                raise Diverged(step, exc.what, exc.value) from None
            except ValueError as exc:       # BatchNorm1d's refusal of one row: say where the row came from
                if state.batches is None or len(X_batch) != 1:
                    raise
                raise ValueError(f"step {step}: {_one_row(state.batches)}; {exc}") from None
            if logging:
                if measure:
                    row[:2] = loss, _accuracy(np.concatenate(labels), y)
                _append(state, step, row, factor, bar)
            state.step += 1
            bar.update(1)
            if state.on_step is not None:
                state.on_step(state)
        if not state.history or state.history[-1]["step"] != state.step:
            row = _measure(state.step, model, loss_fn, optimizer, X, y, val, rows, penalty)
            _append(state, state.step, row, 0.0, bar)
    return state.history


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on (X, y), in evaluation mode (the model's mode is put back),
    without touching the weights or the running statistics. Accuracy is NaN for float targets."""
    with evaluation_mode(model):
        scores = model.forward(X)
    return loss_fn.forward(scores, y), _accuracy(scores.argmax(axis=1), y)


@contextlib.contextmanager
def evaluation_mode(model):
    """``with evaluation_mode(model):`` the block in ``model.eval()``, then the model's mode put back."""
    was = getattr(model, "training", None)
    _set_training(model, False)
    try:
        yield
    finally:
        if was is not None:
            _set_training(model, was)


def require_finite_state(step: int, model, optimizer) -> None:
    """Raise ``Diverged`` unless every weight and every optimizer buffer is finite (checked at every
    history row, and by a checkpoint writer before saving: a diverged state never replaces a good one)."""
    arrays = [(f"a weight of {p.name}", p.value) for p in model.parameters()]
    if hasattr(optimizer, "state_dict"):
        arrays += [(f"the optimizer's {name}", value) for name, value in optimizer.state_dict().items()]
    for what, values in arrays:
        _require_finite(step, what, values)


def _measure(step, model, loss_fn, optimizer, X, y, val, rows, penalty, *, training=True) -> list[float]:
    """A history row of the weights as they are: [loss, accuracy, val_loss, val_accuracy], losses with R,
    chunk by chunk as the step (memory stays O(chunk x h)); ``training=False`` leaves the first two NaN."""
    require_finite_state(step, model, optimizer)
    R = penalty.value(model.parameters()) if penalty.reg else 0.0
    row = [math.nan] * 4
    with evaluation_mode(model):
        for at, which, data in ((0, "training", (X, y) if training else None), (2, "validation", val)):
            if data is None:
                continue
            loss, labels = 0.0, []
            for part in chunks(len(data[0]), rows):
                scores = model.forward(data[0][part])
                _require_finite(step, f"a {which} score", scores)
                loss += (len(scores) / len(data[0])) * loss_fn.forward(scores, data[1][part])
                labels.append(scores.argmax(axis=1))
            row[at:at + 2] = loss + R, _accuracy(np.concatenate(labels), data[1])
    return row


def _append(state: TrainingState, step: int, row: list[float], factor: float, bar) -> None:
    """Add the row to the history, show it on the bar, and apply the divergence rule."""
    state.history.append(step, *row)
    shown = {"loss": f"{row[0]:.4f}", "acc": f"{row[1]:.1%}"}
    bar.set_postfix(shown if math.isnan(row[3]) else dict(shown, val_acc=f"{row[3]:.1%}"), refresh=False)
    reason = stuck_loss(state.history, factor)
    if reason is not None:
        raise Diverged(step, "the training loss", row[0], reason=reason)


def _accuracy(labels: np.ndarray, y: np.ndarray) -> float:
    """The share of rows classified right; NaN for float targets (a regression has no accuracy)."""
    return math.nan if np.asarray(y).dtype.kind == "f" else float(np.count_nonzero(labels == y) / len(y))


def _one_row(batches: BatchStream) -> str:
    """Why a mini-batch has a single row: every batch has, or the last one of each pass."""
    n, size = len(batches.X), batches.batch_size
    if size == 1:
        return "every mini-batch has 1 row (batch_size=1)"
    return f"the last mini-batch of each pass has 1 row ({n} rows in batches of {size} leave {n % size})"


def _set_training(model, mode: bool) -> None:
    if hasattr(model, "train"):             # a model of your own may have no modes
        model.train(mode)


def _require_finite(step: int, what: str, values) -> None:
    try:
        check_finite(what, values)
    except NonFiniteError as exc:
        raise Diverged(step, what, exc.value) from None


def _check_val(val) -> None:
    if val is not None and not (isinstance(val, (tuple, list)) and len(val) == 2):
        raise TypeError(f"val must be a pair (X_val, y_val), got {type(val).__name__}")
    if val is not None and len(val[0]) != len(val[1]):
        raise ValueError(f"val has {len(val[0])} samples but {len(val[1])} labels; they must match")


def _check_continuation(batches: BatchStream, X, y, batch_size) -> None:
    """A continued mini-batch run must be called with the data and batch size it started with."""
    if batch_size != batches.batch_size:
        raise ValueError(f"the state continues a run with batch_size={batches.batch_size}, "
                         f"got batch_size={batch_size}")
    if not ((batches.X is X and batches.y is y) or (np.shape(batches.X) == np.shape(X)
                                                    and np.array_equal(batches.X, X)
                                                    and np.array_equal(batches.y, y))):
        raise ValueError("the state continues a run on other data: pass the X and y it started with")
