"""Divergence without a NaN: a loss that stays far above where the run started.

A learning rate that is too large does not always overflow. With ``--lr 10`` the course's network
jumps to a loss of 2.47 from 0.92 and stays there, predicting one class for every point; with
``--lr 1e10`` the loss sits near 2.5e9. NaN checks never see these. The rule:

    the run has diverged when the training loss of each of the last PATIENCE logged history rows
    is above factor × the loss of the run's first row (step 0, before any update).

With the default factor 2 and PATIENCE 50 rows (500 steps at ``log_every=10``), a run whose loss
merely wobbles, or climbs for a while before it falls (Adam's first steps), is left alone: a
normal run's loss is below its starting value within a few rows and stays there. The rule reads
only the history, so a resumed run (whose history continues) decides exactly as an uninterrupted one.
"""

from __future__ import annotations

from checks import check_real

DEFAULT_FACTOR = 2.0
PATIENCE = 50                   # consecutive logged rows


def check_factor(factor) -> float:
    """``factor`` as a float: a number > 1, or 0 (the rule is off)."""
    if factor == 0 and not isinstance(factor, bool):
        return 0.0
    return check_real("diverge_factor", factor, low=1.0, low_open=True,
                      why="; or 0 to turn the divergence rule off")


def stuck_loss(history, factor: float) -> str | None:
    """Why the run in ``history`` has diverged by the rule above, or None (also when ``factor`` is 0)."""
    if not factor or len(history) <= PATIENCE:
        return None
    first = history[0]["loss"]
    recent = [history[i]["loss"] for i in range(len(history) - PATIENCE, len(history))]
    if all(loss > factor * first for loss in recent):
        return (f"the training loss has stayed above {factor:g} x its first value {first:.4g} for "
                f"{PATIENCE} logged rows (now {recent[-1]:.4g})")
    return None
