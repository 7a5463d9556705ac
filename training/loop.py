"""The training loop, as a function you can call with your own model, loss, optimizer and data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from checks import NonFiniteError, check_count, check_finite
from data import BatchStream
from training.history import History


class Diverged(RuntimeError):
    """A loss, score or gradient became NaN or infinite: the run cannot go on."""

    def __init__(self, step: int, what: str, value: float):
        self.step = step
        self.what = what
        self.value = value
        super().__init__(f"training diverged at step {step}: {what} is {value} (try a smaller learning rate)")


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
        on_step=None, should_stop=None) -> History:
    """Train until ``steps`` updates have been made, and return the history.

    Each step is the course loop's iteration: forward, loss, backward, optimizer step. Without
    ``batch_size`` every step uses all of (X, y); with it, steps take mini-batches that cover
    the data once per pass, shuffled by ``rng``.

    Every ``log_every`` steps, and once at the end, a history row measures the loss and
    accuracy on all of (X, y) and on ``val = (X_val, y_val)``. Full-batch runs reuse the
    training forward pass for this, so logging costs them only the validation pass.

    ``state`` continues an earlier run, called with the same data and batch size: ``steps``
    counts all updates, those already made included, and the batches continue where they
    stopped. ``on_step(state)`` is called after every update (for checkpoints), and
    ``should_stop()`` before every step (to stop cleanly between steps).

    Raises ``Diverged`` naming the step as soon as a score or a gradient is not finite, before
    that step's update touches the weights (the loss checks its scores and the optimizer its
    gradients, once each per step); at every history row it also checks the weights and the
    optimizer's state (an overflowing Adam buffer freezes a run without ever producing a NaN score).
    """
    steps = check_count("steps", steps, minimum=0)
    log_every = check_count("log_every", log_every)
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

    bar = tqdm(total=steps, initial=state.step, disable=not progress, unit="step", mininterval=0.25,
               dynamic_ncols=True)
    with bar, np.errstate(over="ignore", invalid="ignore", divide="ignore"):   # caught as Diverged instead
        while state.step < steps and not (should_stop is not None and should_stop()):
            step = state.step
            full_batch = state.batches is None
            X_batch, y_batch = (X, y) if full_batch else state.batches.next_batch()
            try:
                scores = model.forward(X_batch)
                loss = loss_fn.forward(scores, y_batch)
                model.backward(loss_fn.backward())
                if step % log_every == 0:
                    measured = (loss, _accuracy(scores, y)) if full_batch else None
                    _log(state.history, step, model, loss_fn, X, y, val, bar, measured, optimizer)
                optimizer.step()
            except NonFiniteError as exc:   # the loss's scores or the optimizer's gradients
                raise Diverged(step, exc.what, exc.value) from None
            state.step += 1
            bar.update(1)
            if on_step is not None:
                on_step(state)
        if not state.history or state.history[-1]["step"] != state.step:
            _log(state.history, state.step, model, loss_fn, X, y, val, bar, None, optimizer)
    return state.history


def evaluate(model, loss_fn, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on (X, y), without touching the weights."""
    scores = model.forward(X)
    return loss_fn.forward(scores, y), _accuracy(scores, y)


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


def _log(history, step, model, loss_fn, X, y, val, bar, measured, optimizer) -> None:
    require_finite_state(step, model, optimizer)
    if measured is None:
        measured = _finite_evaluation(step, model, loss_fn, X, y, "training")
    loss, accuracy = measured
    val_loss, val_accuracy = math.nan, math.nan
    if val is not None:
        val_loss, val_accuracy = _finite_evaluation(step, model, loss_fn, *val, "validation")
    history.append(step, loss, accuracy, val_loss, val_accuracy)
    postfix = {"loss": f"{loss:.4f}", "acc": f"{accuracy:.1%}"}
    if val is not None:
        postfix["val_acc"] = f"{val_accuracy:.1%}"
    bar.set_postfix(postfix, refresh=False)


def _finite_evaluation(step, model, loss_fn, X, y, which) -> tuple[float, float]:
    scores = model.forward(X)
    _require_finite(step, f"a {which} score", scores)
    return loss_fn.forward(scores, y), _accuracy(scores, y)


def _accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(scores.argmax(axis=1) == y))


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
