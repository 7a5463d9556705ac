"""Mini-batches: every sample exactly once per pass, in a shuffled or fixed order."""

from __future__ import annotations

import json

import numpy as np

from checks import as_generator, check_count, check_flag, check_samples


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = True,
                rng: np.random.Generator | int | None = None):
    """Yield ``(X_batch, y_batch)`` pairs that cover every sample exactly once: one pass of a
    ``BatchStream``.

    Batches hold ``batch_size`` samples; the last one holds what is left (it may be short).
    With ``shuffle`` the order is a fresh permutation drawn from ``rng`` (a Generator is
    advanced, so successive passes differ); without it, the samples come in order.
    The arguments are checked at once, not when the first batch is drawn.
    """
    stream = BatchStream(X, y, batch_size, shuffle=shuffle, rng=rng)
    return (stream.next_batch() for _ in range(0, len(X), stream.batch_size))


class BatchStream:
    """Mini-batches without end: pass after pass, each covering every sample once.

    It draws the same batches as calling ``minibatches`` once per pass with the same generator,
    but it remembers where it is, so a training run can save it (``state_dict``) and later
    continue with exactly the batches it would have drawn (``load_state_dict``).
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = True,
                 rng: np.random.Generator | int | None = None):
        check_samples("minibatches", X, y)
        self.X, self.y = X, y
        self.batch_size = check_count("batch_size", batch_size)
        self.shuffle = check_flag("shuffle", shuffle)
        self.rng = as_generator("rng", rng)
        self._order = np.arange(0)          # this pass's order of samples; empty before the first
        self._position = 0                  # how many of them have been handed out

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self._position >= len(self._order):
            n = len(self.X)
            self._order = self.rng.permutation(n) if self.shuffle else np.arange(n)
            self._position = 0
        rows = self._order[self._position:self._position + self.batch_size]
        self._position += len(rows)
        return self.X[rows], self.y[rows]

    def state_dict(self) -> dict[str, np.ndarray]:
        """The pass's order, the position in it, and the generator's state (as JSON text)."""
        return {"order": self._order.copy(), "position": np.array(self._position),
                "rng": np.array(json.dumps(self.rng.bit_generator.state))}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()`` output; checked in full before anything changes."""
        order, self._position, self.rng.bit_generator.state = self.check_state_dict(state)
        self._order = order.astype(np.int64)

    def check_state_dict(self, state: dict) -> tuple[np.ndarray, int, dict]:
        """The ``ValueError`` ``load_state_dict(state)`` would raise, if any; nothing changes.
        Returns the order, the position and the generator's state."""
        try:
            order, position = np.asarray(state["order"]), np.asarray(state["position"])
            rng_state = json.loads(str(state["rng"]))
            type(self.rng.bit_generator)().state = rng_state     # a fresh generator: ours is untouched
        except Exception as exc:            # NumPy raises TypeError, ValueError, KeyError, OverflowError, ...
            raise ValueError(f"batch state is incomplete or damaged, or its generator state is another "
                             f"generator's ({type(exc).__name__}: {exc})") from exc
        if order.size and (order.ndim != 1 or order.dtype.kind not in "iu"
                           or not np.array_equal(np.sort(order), np.arange(len(self.X)))):
            raise ValueError(f"batch state does not fit: its order is not a permutation of {len(self.X)} "
                             "samples")
        if position.size != 1 or position.dtype.kind not in "iu" or not 0 <= position.item() <= len(order):
            raise ValueError(f"batch state does not fit: position {position} is outside its pass of "
                             f"{len(order)} or not a whole number")
        return order, int(position.item()), rng_state
