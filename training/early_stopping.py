"""Early stopping: end training once the validation loss stops improving, and keep the best weights."""

from __future__ import annotations

import numpy as np

from checks import check_count
from layers.state import checked_state


class EarlyStopping:
    """Stops ``fit`` when val_loss has not improved on its best for ``patience`` history rows in a row,
    and keeps the weights of the best row: ``best_step`` (that row's step) and ``best_weights``.

    It reads the run's ``TrainingState`` and is its ``should_stop``; give it fit's ``log_every``::

        state = TrainingState()
        stopper = EarlyStopping(model, state, patience=5, log_every=10)
        state.should_stop = stopper.should_stop      # with Ctrl-C: lambda: stop() or stopper.should_stop()
        fit(model, loss_fn, optimizer, X, y, steps=3000, val=(X_val, y_val), log_every=10, state=state)
        stopper.finish()                                # weigh fit's final row too
        model.load_state_dict(stopper.best_weights)     # the weights that row best_step measured

    The timing: the row at step s measures the weights after s updates, but fit appends it after step
    s's update. ``should_stop()`` is asked before every step, while the weights are the ones that step's
    row will measure, so it copies them there (when s is a multiple of ``log_every``) and adopts the
    copy once its row has arrived and is the best. The best row (the first lowest val_loss: equal is
    not better) and the rows since are read from ``state.history``, so a resumed run counts the same.
    fit stops one update after the row that used up the patience (that row is appended after its
    step's update), then measures a final row of the current weights, which ``finish()`` weighs.

    ``state_dict()`` holds the best row of fit's loop, never the final row (a resumed fit drops that row
    or measures it again). Loaded into a new stopper, with the model, optimizer and history of the
    checkpoint, it continues the run bit for bit; until fit or ``finish()`` runs, ``best_step`` and
    ``best_weights`` are then the loop's best.
    """

    def __init__(self, model, state, patience: int, log_every: int = 10):
        self.model, self.state = model, state
        self.patience = check_count("patience", patience)
        self.log_every = check_count("log_every", log_every)
        self.best_step, self.best_weights = -1, None    # the best row's step (-1: no row yet) and weights
        self._best = self._copy = (-1, None)    # (step, weights): the loop's best row; the next row's copy
        self._rows, self._since = -1, 0         # the history's length when last read, and rows since the best

    def should_stop(self) -> bool:
        """fit's ``should_stop``: True once ``patience`` rows in a row have not beaten the best."""
        if len(self.state.history) != self._rows:         # a row more (or fit's final one gone): read it
            self._rows, (self._since, _) = len(self.state.history), self._update()
        self.best_step, self.best_weights = self._best      # fit goes on: its last final row is gone
        if self.state.step % self.log_every == 0:
            self._copy = (self.state.step, self.model.state_dict())
        return self._since >= self.patience

    def finish(self) -> None:
        """After ``fit``: the best row, fit's final row (of the current weights) included."""
        _, best_loss = self._update()
        rows, step = self.state.history, self.state.step
        final = len(rows) and rows[-1]["step"] == step and rows[-1]["val_loss"] < best_loss
        self.best_step, self.best_weights = (step, self.model.state_dict()) if final else self._best

    def _update(self) -> tuple[int, float]:
        """Adopt the copy whose row became the best (as ``best_step``, ``best_weights`` too); return the
        rows since the best, and its val_loss."""
        steps, losses = self.state.history.column("step"), self.state.history.column("val_loss")
        if np.isnan(losses).any():
            raise ValueError("early stopping (--patience) needs a validation loss at every history row: "
                             "pass val=(X_val, y_val) to fit")
        loop = steps < self.state.step          # every row but fit's final one
        if not loop.any():
            return 0, np.inf
        best = int(np.argmin(losses[loop]))
        if steps[best] != self._best[0] and steps[best] == self._copy[0]:
            self._best = self._copy
            self.best_step, self.best_weights = self._best
        if steps[best] != self._best[0]:
            raise RuntimeError(f"EarlyStopping has no copy of the weights the row at step {steps[best]} "
                               "measured: make it fit's should_stop from the run's first step, with fit's "
                               "log_every, or load its state_dict() from the run's checkpoint")
        return int(loop.sum()) - 1 - best, float(losses[best])

    def state_dict(self) -> dict[str, np.ndarray]:
        """``best_step`` (negative: no row yet) and ``best_weights/<name>`` of the best row of fit's loop."""
        self._update()                  # a row logged since the last should_stop: a checkpoint in on_step
        step, weights = self._best
        weights = self.model.state_dict() if weights is None else weights     # no row yet: placeholders
        return {"best_step": np.array(step)} | {f"best_weights/{n}": w.copy() for n, w in weights.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore ``state_dict()`` output; strict, and checked before anything changes."""
        weights = {f"best_weights/{name}": value for name, value in self.model.state_dict().items()}
        converted = checked_state({"best_step": np.array(0)} | weights, state,
                                  "EarlyStopping state does not fit", whole_numbers=("best_step",))
        step = int(converted.pop("best_step"))
        steps = self.state.history.column("step") if len(self.state.history) else np.array([])
        loop = steps[steps < self.state.step]      # the rows of fit's loop: -1 only before the first
        if step not in loop if len(loop) else step >= 0:
            raise ValueError(f"EarlyStopping state does not fit: best_step {step} is not the step of a "
                             "history row of the run (load the run's history into its TrainingState first)")
        weights = {name.removeprefix("best_weights/"): value for name, value in converted.items()}
        self._best, self._copy = (step, weights if step >= 0 else None), (-1, None)
        self.best_step, self.best_weights = self._best
