"""The divergence rules: when a run whose numbers all stay finite has diverged all the same.

A learning rate too large does not always overflow: --lr 10 takes the course's loss from 0.92 to 2.47,
and there it stays. So ``fit`` applies two rules at each history row, with ``factor`` its state's
``diverge_factor`` (0 turns both off). They read only the history: a resumed run decides as an
uninterrupted one.

- Stuck: the training loss of each of the last PATIENCE rows is above factor x the first row's. A run
  whose loss wobbles, or climbs before it falls (Adam's first steps), is below its start within a few rows.
- Early, at the EARLY_ROWS-th row: each row after the first is above factor x the first, and the last is
  no new low (not 5 % below the lowest before it): the loss jumped and is not coming down (--lr 50: 0.92,
  then 6.669, 6.670, 6.670, 6.671). The size of a jump alone does not tell: the default moons run is at
  16 x its start at step 30 and 0.02 x at step 300; --activation sigmoid falls from 117 x at step 10 to
  50 x at step 40, and reaches 95 % accuracy.
"""

from __future__ import annotations

from checks import check_real
from training.history import History

DEFAULT_FACTOR = 2.0
PATIENCE = 50                   # consecutive history rows (500 steps at log_every=10)
EARLY_ROWS = 5                  # the early rule's rows: the first and four more (steps 0-40 at log_every=10)


def check_factor(factor) -> float:
    """The divergence rules' ``factor`` as a float: a number > 1, or 0 (the rules are off)."""
    if factor == 0 and not isinstance(factor, bool):
        return 0.0
    return check_real("diverge_factor", factor, low=1.0, low_open=True,
                      why="; or 0 to turn the divergence rule off")


def stuck_loss(history: History, factor: float) -> str | None:
    """Why the run has diverged by a rule (above), or None (also when ``factor`` is 0)."""
    if not factor or len(history) < EARLY_ROWS:
        return None
    first = history[0]["loss"]
    early = [row["loss"] for row in history.rows[1:EARLY_ROWS]]
    if len(history) == EARLY_ROWS and min(early) > factor * first and early[-1] >= 0.95 * min(early[:-1]):
        return (f"the training loss jumped above {factor:g} x its first value {first:.4g} and is not "
                f"coming down ({', '.join(f'{loss:.4g}' for loss in early)} in the next logged rows)")
    recent = [row["loss"] for row in history.rows[-PATIENCE:]]
    if len(history) > PATIENCE and all(loss > factor * first for loss in recent):
        return (f"the training loss has stayed above {factor:g} x its first value {first:.4g} for {PATIENCE} "
                f"logged rows (now {recent[-1]:.4g})")
    return None
