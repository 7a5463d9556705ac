"""Training: the loop as a reusable function, checkpoints that resume exactly, and figures.

training.runs holds a script's run machinery (its folder and record, resuming, Ctrl-C, exit codes).
The figures (training.plots) load matplotlib when first used, not with ``import training``.
"""

from training.checkpoint import Checkpoint, read_checkpoint, restore, save_checkpoint  # noqa: F401
from training.early_stopping import EarlyStopping  # noqa: F401
from training.history import History  # noqa: F401
from training.loop import Diverged, TrainingState, evaluate, fit, train_step  # noqa: F401
from training.machine import blas_threads  # noqa: F401


def __getattr__(name: str):
    if name in ("plot_curves", "plot_decision_boundary"):
        import training.plots
        return getattr(training.plots, name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
