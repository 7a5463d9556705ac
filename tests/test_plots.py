"""The run's figures for any finite numbers: losses near the largest float, a thousand classes."""

import time
import warnings

import matplotlib.image
import numpy as np
import pytest

from data import make_spiral
from layers import Linear
from models import Sequential
from training import History, plot_curves, plot_decision_boundary


def history_of(losses) -> History:
    history = History()
    for step, loss in enumerate(losses):
        history.append(step, loss, 0.5, loss, 0.5)
    return history


@pytest.mark.parametrize("losses", [
    [0.69, 5e292, 4.9e292, 5.1e292],            # after --lr 1e50: matplotlib's log axis overflowed here
    [1.7e308, np.finfo(np.float64).max],
    [np.finfo(np.float64).max, 5e-324],
    [0.7, 0.3, 0.1],
    [0.7, 0.0],                                 # a perfect fit: a linear axis
])
def test_the_loss_curve_is_drawn_for_any_finite_losses(tmp_path, losses):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_curves(history_of(losses), tmp_path / "loss.png")
    assert matplotlib.image.imread(tmp_path / "loss.png").std() > 0.05


def test_a_thousand_classes_are_drawn_quickly_without_a_legend_or_a_warning(tmp_path):
    X, y = make_spiral(1, 1000, rng=0)
    model = Sequential(Linear(2, 1000, rng=np.random.default_rng(0)))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the legend's 1000 entries made a layout warning
        plot_decision_boundary(model, X, y, tmp_path / "boundary.png", val=(X[:5], y[:5]), resolution=60)
    assert time.perf_counter() - started < 10   # it took 30 s with the legend
    assert matplotlib.image.imread(tmp_path / "boundary.png").std() > 0.05
