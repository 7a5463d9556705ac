"""Training: the loop as a reusable function, checkpoints that resume exactly, and figures.

training.runs (imported as ``from training import runs``) holds a script's run machinery: the run's
folder and config.json record, resuming from a checkpoint, Ctrl-C, one-line errors and exit codes;
training.files: which folders a run may write to, its lock, and its temporary files.
"""

from training.checkpoint import Checkpoint, read_checkpoint, restore, save_checkpoint
from training.history import History
from training.loop import Diverged, TrainingState, blas_threads, evaluate, fit, require_finite_state
from training.plots import plot_curves, plot_decision_boundary

__all__ = [
    "fit",
    "blas_threads",
    "evaluate",
    "Diverged",
    "require_finite_state",
    "TrainingState",
    "History",
    "Checkpoint",
    "save_checkpoint",
    "read_checkpoint",
    "restore",
    "plot_curves",
    "plot_decision_boundary",
]
