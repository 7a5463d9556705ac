"""Watch a network learn: the decision boundary at steps spaced by log step, written as a GIF.

    recorder = BoundaryRecorder(model, X, y, steps=3000)          # snapshots step 0 at once
    fit(model, loss_fn, optimizer, X, y, steps=3000, state=TrainingState(on_step=recorder))
    recorder.write_gif("training.gif")

Each frame is the shaded boundary (training/plots.py's shading) beside the loss curve so far. The
frames are 0, 1, 2, ..., then further apart (``log_spaced``), as the boundary moves most early on: in
the default run 25 of the 39 frames after the first change the class of 1 % of the plane or more,
against 3 of 39 at frames every 77 steps (the boundary formed between the first two). The
recorder keeps only a coarse grid of probabilities per frame (``resolution``² x K numbers, 50 x 50
by default), so recording costs a few milliseconds per frame; the GIF is drawn once, at the end, by
renewing the same image and line for each frame, and written by Pillow (which comes with matplotlib).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from checks import check_count, check_floats
from checks.files import write_atomically
from models.architecture import describe
from training import plots


def log_spaced(start: int, end: int, count: int) -> list[int]:
    """``count`` steps from ``start`` to ``end`` (fewer if there are fewer), spaced evenly in
    log(1 + step - start), but at least 1 apart: 0, 1, 2, ..., 9, 11, 13, 16, 19, 23, ..., 2492, 3000."""
    chosen = [start]
    for left in range(min(count, end - start + 1) - 1, 0, -1):     # frames still to place
        done = chosen[-1] - start + 1
        chosen.append(start - 1 + max(done + 1, round(done * ((end - start + 1) / done) ** (1 / left))))
    return chosen


# why an untrained model is not at chance (1/K of the points right): its boundary is not a coin per point
UNTRAINED = "untrained: random weights split the plane\nat random, any accuracy (1/{} on average)"


class BoundaryRecorder:
    """An ``on_step`` for ``fit``: the model's probabilities over the plane, and its training accuracy,
    at ``frames`` steps from ``start`` (the updates already made) to ``steps``, spaced by ``log_spaced``.

    ``X``, ``y`` are the points drawn (2-D); the plane's grid covers them with a margin. The
    history shown beside the boundary is the run's own (``state.history``), cut at each frame's step.
    """

    def __init__(self, model, X: np.ndarray, y: np.ndarray, *, steps: int, start: int = 0,
                 frames: int = 40, resolution: int = 50):
        steps = check_count("steps", steps, minimum=0)
        start = check_count("start", start, minimum=0)
        frames = check_count("frames", frames, minimum=2)
        self.resolution = check_count("resolution", resolution, minimum=2)
        self.model, self.X, self.y = model, check_floats("BoundaryRecorder", X, what="X", features=2), y
        self.extent, self.grid = plots.plane_grid([X], self.resolution, X.dtype)
        self.planned = set(log_spaced(start, max(steps, start), frames))
        self.frames: list[tuple[int, np.ndarray, float]] = []   # (step, probabilities [resolution² x K],
        #                                                      the training accuracy at that step)
        self.history = None
        self._snapshot(start)

    def __call__(self, state) -> None:
        self.history = state.history
        if state.step in self.planned:
            self._snapshot(state.step)

    def _snapshot(self, step: int) -> None:
        accuracy = np.mean(plots.probabilities(self.model, self.X).argmax(axis=1) == self.y)
        self.frames.append((step, plots.probabilities(self.model, self.grid).astype(np.float32), accuracy))

    def write_gif(self, path, *, fps: int = 8, title: str | None = None, dpi: int = 72) -> int:
        """Write the frames as an animated GIF (atomically); returns the number of frames.

        The last frame is held for half a second more, so that the end result can be seen."""
        if self.history is None or len(self.history) == 0:
            raise RuntimeError("BoundaryRecorder has no history yet: pass it to fit as "
                               "state=TrainingState(on_step=recorder) and train before write_gif")
        fig = plots.new_figure((8.0, 3.7), dpi)
        board, curve = fig.subplots(1, 2, width_ratios=[1, 1.15])
        colours = plots.class_colours(max(self.frames[0][1].shape[1], int(self.y.max()) + 1))
        shape = (self.resolution, self.resolution)
        image = board.imshow(plots.shading(self.frames[-1][1], colours, shape), origin="lower",
                             extent=self.extent, interpolation="bilinear", aspect="equal")
        board.scatter(self.X[:, 0], self.X[:, 1], s=4, c=[colours[c] for c in self.y], linewidths=0)
        board.set(xticks=[], yticks=[], title=" \n \n ")                 # room for a three-line caption
        steps, losses = self.history.column("step"), plots.drawable(self.history.column("loss"))
        (line,) = curve.plot(steps, losses, color=colours[0])
        (now,) = curve.plot([], [], "o", color=colours[0], markersize=4)     # the frame's step
        # steps on a log scale (linear from 0 to 1), as the frames are spaced
        curve.set_xscale("symlog", linthresh=1)
        curve.set(xlabel="step (updates made)", ylabel="training loss", title="Loss so far",
                  yscale="log" if plots.log_axis(losses) else "linear")
        curve.grid(True, alpha=0.3)
        fig.suptitle(title or describe(self.model))
        fig.canvas.draw()                   # laid out once, with the whole curve: the axes stay put
        fig.set_layout_engine(None)
        pictures = []
        for step, probs, accuracy in self.frames:
            image.set_data(plots.shading(probs, colours, shape))
            shown = steps <= step
            line.set_data(steps[shown], losses[shown])
            now.set_data(steps[shown][-1:], losses[shown][-1:])
            caption = f"step {step}, training accuracy {accuracy:.1%}"
            board.set_title(f"{caption}\n{UNTRAINED.format(probs.shape[1]) if step == 0 else ''}", fontsize=9)
            fig.canvas.draw()
            pictures.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB"))
        # one palette, the last frame's (it holds every class and depth of shading): a frame then stores
        # only the pixels that changed, and no frame is given a median cut of its own
        palette = pictures[-1].quantize(255)
        gif = [picture.quantize(palette=palette, dither=Image.Dither.NONE) for picture in pictures]
        durations = [1000 // fps] * (len(gif) - 1) + [1000 // fps + 500]
        write_atomically(path, lambda file: gif[0].save(file, format="GIF", save_all=True,
                                                        append_images=gif[1:], duration=durations, loop=0))
        return len(self.frames)
