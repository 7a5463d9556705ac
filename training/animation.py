"""Watch a network learn: the decision boundary at evenly spaced steps, written as a GIF.

    recorder = BoundaryRecorder(model, X, y, steps=3000)          # snapshots step 0 at once
    fit(model, loss_fn, optimizer, X, y, steps=3000, on_step=recorder)
    recorder.write_gif("training.gif")

Each frame is the shaded boundary (training/plots.py's shading) beside the loss curve so far. The
recorder keeps only a coarse grid of probabilities per frame (``resolution``² x K numbers, 50 x 50
by default), so recording costs a few milliseconds per frame; the GIF is drawn once, at the end, by
renewing the same image and line for each frame (matplotlib's PillowWriter; pillow comes with
matplotlib).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from matplotlib.animation import PillowWriter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from checks import check_count
from checks.files import write_atomically
from training.plots import class_colours, describe_model, plane_grid, probabilities, shading

DEFAULT_FRAMES = 40


class BoundaryRecorder:
    """An ``on_step`` for ``fit``: the model's probabilities over the plane at ``frames`` evenly spaced
    steps from ``start`` (the updates already made) to ``steps``, both included.

    ``X``, ``y`` are the points drawn (2-D); the plane's grid covers them with a margin. The
    history shown beside the boundary is the run's own (``state.history``), cut at each frame's step.
    """

    def __init__(self, model, X: np.ndarray, y: np.ndarray, *, steps: int, start: int = 0,
                 frames: int = DEFAULT_FRAMES, resolution: int = 50):
        steps = check_count("steps", steps, minimum=0)
        start = check_count("start", start, minimum=0)
        frames = check_count("frames", frames, minimum=2)
        self.resolution = check_count("resolution", resolution, minimum=2)
        if X.ndim != 2 or X.shape[1] != 2:
            raise ValueError(f"BoundaryRecorder draws points in the plane, X [N x 2]; got shape {X.shape}")
        self.model, self.X, self.y = model, X, y
        self.extent, self.grid = plane_grid([X], self.resolution, X.dtype)
        self.planned = set(np.linspace(start, max(steps, start), frames).round().astype(int).tolist())
        self.frames: list[tuple[int, np.ndarray]] = []      # (step, probabilities [resolution² x K])
        self.history = None
        self._snapshot(start)

    def __call__(self, state) -> None:
        self.history = state.history
        if state.step in self.planned:
            self._snapshot(state.step)

    def _snapshot(self, step: int) -> None:
        self.frames.append((step, probabilities(self.model, self.grid).astype(np.float32)))

    def write_gif(self, path, *, fps: int = 8, title: str | None = None, dpi: int = 72) -> int:
        """Write the frames as an animated GIF (atomically); returns the number of frames.

        The last frame is held for half a second so that the end result can be seen."""
        if self.history is None or len(self.history) == 0:
            raise RuntimeError("BoundaryRecorder has no history yet: pass it to fit as on_step=recorder "
                               "and train before write_gif")
        fig = Figure(figsize=(8.0, 3.7), dpi=dpi, layout="constrained")
        FigureCanvasAgg(fig)
        board, curve = fig.subplots(1, 2, width_ratios=[1, 1.15])
        k = self.frames[0][1].shape[1]
        colours = class_colours(max(k, int(self.y.max()) + 1))
        shape = (self.resolution, self.resolution)
        image = board.imshow(shading(self.frames[0][1], colours, shape), origin="lower", extent=self.extent,
                             interpolation="bilinear", aspect="equal")
        board.set_title(f"step {self.frames[-1][0]}: training accuracy 100.0%", fontsize=10)
        points = board.scatter(self.X[:, 0], self.X[:, 1], s=4, c=[colours[c] for c in self.y], linewidths=0)
        board.set(xticks=[], yticks=[])
        steps = self.history.column("step")
        losses = self.history.column("loss")
        accuracies = self.history.column("train_accuracy")
        (line,) = curve.plot([], [], color="#1f77b4")
        (dot,) = curve.plot([], [], "o", color="#1f77b4")
        finite = losses[np.isfinite(losses) & (losses > 0)]
        curve.set(xlim=(0, max(steps[-1], 1)), xlabel="step (updates made)", ylabel="training loss",
                  yscale="log" if finite.size == len(losses) else "linear", title="Loss so far")
        if finite.size:
            curve.set_ylim(finite.min() / 1.3, finite.max() * 1.3)
        curve.grid(True, alpha=0.3)
        fig.suptitle(title or describe_model(self.model))
        fig.canvas.draw()                   # lay the figure out once, with the longest title, ...
        fig.set_layout_engine(None)         # ... keep that layout, and keep what never changes as pixels:
        board.set_title(" ", fontsize=10)
        for artist in (image, points, line, dot):
            artist.set_visible(False)
        fig.canvas.draw()
        background = np.asarray(fig.canvas.buffer_rgba()).copy()
        fig.suptitle("")
        curve.set_axis_off()                # its axes, ticks, labels and grid are in the background
        board.set_axis_off()
        fig.figimage(background, origin="upper", zorder=-1)
        for artist in (image, points, line, dot):
            artist.set_visible(True)
        # each frame now draws the background image, the shading, the points, the curve and a title

        def draw(step: int, probs: np.ndarray) -> None:
            image.set_data(shading(probs, colours, shape))
            shown = steps <= step
            line.set_data(steps[shown], losses[shown])
            if shown.any():
                dot.set_data(steps[shown][-1:], losses[shown][-1:])
                board.set_title(f"step {step}: training accuracy {accuracies[shown][-1]:.1%}", fontsize=10)

        held = [*self.frames, *[self.frames[-1]] * (fps // 2)]     # the end result stays half a second
        write_atomically(path, lambda file: _save_gif(fig, draw, held, file, fps, dpi))
        return len(self.frames)


def _save_gif(fig: Figure, draw, frames: list, file, fps: int, dpi: int) -> None:
    """Each frame drawn into ``fig`` and grabbed by PillowWriter, in the colours of the last frame (which
    holds them all: every class, every depth of shading). It writes to a path whose name ends in .gif
    (Pillow picks the format by it): a scratch folder's, whose bytes then go to ``file``, the temporary
    file ``write_atomically`` renames."""
    draw(*frames[-1])
    fig.canvas.draw()
    last = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    writer = _OnePaletteWriter(last.quantize(colors=255), fps=fps)
    with tempfile.TemporaryDirectory() as scratch:
        gif = Path(scratch) / "training.gif"
        with writer.saving(fig, gif, dpi):
            for step, probs in frames:
                draw(step, probs)
                writer.grab_frame()
        file.write(gif.read_bytes())


class _OnePaletteWriter(PillowWriter):
    """PillowWriter, with every frame mapped to one palette as it is grabbed. Left to itself, Pillow
    picks each frame's own 256 colours (a median cut, the slowest part of writing the GIF), so no two
    frames share a colour index and each is stored whole; with one palette, a frame stores only the
    pixels that changed, and a GIF of 40 frames takes a third of the bytes."""

    def __init__(self, palette: Image.Image, **kwargs):
        super().__init__(**kwargs)
        self.palette = palette

    def grab_frame(self, **savefig_kwargs):
        super().grab_frame(**savefig_kwargs)
        frame = self._frames[-1].convert("RGB")
        self._frames[-1] = frame.quantize(palette=self.palette, dither=Image.Dither.NONE)
