"""The run's figures for any finite numbers: losses near the largest float, a thousand classes."""

import logging
import time
import warnings
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
from PIL import Image

from data import make_spiral
from layers import Linear
from models import Sequential
from tests.helpers import raises
from training import History, plot_curves, plot_decision_boundary, plots
from training.animation import UNTRAINED, BoundaryRecorder, log_spaced


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


def test_fifty_classes_are_drawn_without_matplotlib_clipping_the_shading(tmp_path, caplog):
    """`--classes 50 --animate` logged "Clipping input data" for every frame: shading the recorder's
    float32 probabilities rounded 1 − depth + depth·1 (a colour channel of 1) to 1 + 3e-8."""
    X, y = make_spiral(4, 50, rng=0)
    model = Sequential(Linear(2, 50, rng=0))
    model[0].params["W"][:, 3] += 3.0         # class 3 (orange, red channel 1) at every confidence
    recorder = BoundaryRecorder(model, X, y, steps=1, frames=2, resolution=20)
    recorder(SimpleNamespace(step=1, history=history_of([3.9, 3.9])))
    with caplog.at_level(logging.WARNING):          # matplotlib logs it: no Python warning to catch
        recorder.write_gif(tmp_path / "training.gif")
        plot_decision_boundary(model, X, y, tmp_path / "boundary.png", resolution=40)
    assert "Clipping" not in caplog.text
    confidence = np.linspace(1 / 50, 1, 1001)
    probs = np.column_stack([np.tile((1 - confidence[:, None]) / 49, 3), confidence,
                             np.tile((1 - confidence[:, None]) / 49, 46)]).astype(np.float32)
    assert 0 <= plots.shading(probs, plots.class_colours(50), (1, 1001)).min()
    assert plots.shading(probs, plots.class_colours(50), (1, 1001)).max() <= 1


@pytest.mark.parametrize("losses", [[0.7, 0.3, 0.1], [0.69, 5e292, 1.7e308]])
def test_the_gif_shows_the_boundary_beside_the_loss_so_far_for_any_finite_losses(tmp_path, losses):
    X, y = make_spiral(10, 2, rng=0)
    recorder = BoundaryRecorder(Sequential(Linear(2, 2, rng=0)), X, y, steps=2, frames=3, resolution=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for step in (1, 2):
            recorder(SimpleNamespace(step=step, history=history_of(losses)))
        assert recorder.write_gif(tmp_path / "training.gif") == 3
    with Image.open(tmp_path / "training.gif") as gif:
        assert gif.n_frames == 3


def test_gif_frames_are_spaced_by_log_step_and_hold_the_accuracy_at_their_own_step():
    assert log_spaced(0, 3000, 40)[:10] == [0, 1, 2, 3, 4, 5, 6, 7, 9, 11]
    assert log_spaced(0, 3000, 40)[-3:] == [2070, 2492, 3000]
    for start, end in [(0, 60), (1000, 3000), (0, 1), (5, 5), (0, 10**9)]:       # a resumed run too
        chosen = log_spaced(start, end, 40)
        assert chosen[0] == start and chosen[-1] == end and len(chosen) == min(40, end - start + 1)
        assert np.all(np.diff(chosen) > 0)
    X, y = make_spiral(10, 2, rng=0)
    model = Sequential(Linear(2, 2, rng=0))
    recorder = BoundaryRecorder(model, X, y, steps=3000)
    for step in range(1, 3001):
        recorder(SimpleNamespace(step=step, history=history_of([0.7, 0.6])))
    assert [step for step, _, _ in recorder.frames] == log_spaced(0, 3000, 40)
    assert recorder.frames[0][2] == np.mean(model.predict(X) == y)       # not the history's last row
    assert UNTRAINED.format(2).endswith("(1/2 on average)")


def test_the_recorder_names_its_slips():
    X, y = make_spiral(10, 2, rng=0)
    with raises(ValueError, "BoundaryRecorder", "[N x 2]", "(20, 3)"):
        BoundaryRecorder(Sequential(Linear(3, 2, rng=0)), np.zeros((20, 3)), y, steps=2)
    with raises(RuntimeError, "no history yet", "on_step=recorder"):
        BoundaryRecorder(Sequential(Linear(2, 2, rng=0)), X, y, steps=2).write_gif("never.gif")
