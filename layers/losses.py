"""Softmax cross-entropy: steps 4, 5 (forward) and 6 (backward) of the monolithic loop."""

from __future__ import annotations

import numpy as np

from layers.base import Loss


class SoftmaxCrossEntropy(Loss):
    """Mean cross-entropy of the row-wise softmax: L = (1/N) Σ_n −log P[n, y_n].

    P = softmax(S): P[n, k] = e^S[n, k] / Σ_j e^S[n, j]        (loop: probs)

    Shapes: scores S [N x K], labels y [N] (integers in [0, K)) -> L a Python float.

    Computed stably, with the log-sum-exp and m_n = max_k S[n, k]:
      log P[n, k] = (S[n, k] − m_n) − log Σ_j e^(S[n, j] − m_n)
    Every exponent is ≤ 0, so nothing overflows (the loop's exp(scores) does for scores above
    about 709), and the largest term of each sum is e^0 = 1, so log P is never log(0).

    Backward (a loss ends the chain, so there is no upstream gradient to pass in):
      (1) ∂L/∂S = (P − onehot(y)) / N     [N x K]
    The loop writes (1) as three statements: ``dscores = probs`` (P), ``dscores[range(N), y] -= 1``
    (− onehot(y)) and ``dscores /= N`` (the 1/N of the mean).
    """

    def __init__(self):
        self._probs = None                  # cache: P, needed by (1)
        self._y = None                      # cache: the labels, needed by (1)

    def forward(self, scores: np.ndarray, y) -> float:
        scores = _check_scores(scores)
        n, k = scores.shape
        y = _check_labels(y, n, k)
        with np.errstate(over="ignore"):    # only scores beyond ±1e308 overflow, to the true −log P = inf
            shifted = scores - scores.max(axis=1, keepdims=True)                  # S − m    [N x K]
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log P    [N x K]
        self._probs = np.exp(log_probs)                                           # P        [N x K]
        self._y = y.copy()
        loss = -log_probs[np.arange(n), y].mean()                                 # L
        return float(loss) + 0.0            # + 0.0 turns a perfect fit's −0.0 into 0.0

    def backward(self) -> np.ndarray:
        probs = self._require_cache(self._probs)
        n, k = probs.shape
        onehot = np.eye(k, dtype=probs.dtype)[self._y]                            # [N x K]
        return (probs - onehot) / n                                               # (1)

    @property
    def probs(self) -> np.ndarray | None:
        """P = softmax(scores) from the last forward (a copy), or None before the first."""
        return None if self._probs is None else self._probs.copy()


def _check_scores(scores) -> np.ndarray:
    if not isinstance(scores, np.ndarray):
        raise TypeError(f"scores must be a NumPy array [N x K], got {type(scores).__name__}")
    if not np.issubdtype(scores.dtype, np.floating):
        raise TypeError(f"scores must be a floating-point array, got dtype {scores.dtype}")
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [N x K], got shape {scores.shape}")
    if scores.size == 0:
        raise ValueError(f"scores must be non-empty, got shape {scores.shape}")
    finite = np.isfinite(scores)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise ValueError(
            f"scores must be finite, got {scores[row, col]} at row {row}, column {col} "
            "(a diverging model produces these: try a smaller learning rate)"
        )
    return scores


def _check_labels(y, n: int, k: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array with one label per row of scores, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers (class indices), got dtype {y.dtype}")
    if y.shape[0] != n:
        raise ValueError(f"got {y.shape[0]} labels for {n} rows of scores; expected one label per row")
    bad = np.flatnonzero((y < 0) | (y >= k))
    if bad.size:
        i = bad[0]
        hint = "; NumPy would silently read a negative label as counting from the last class" if y[i] < 0 else ""
        raise ValueError(
            f"label {y[i]} at index {i} is out of range for {k} classes "
            f"(expected 0 <= label < {k}{hint})"
        )
    return y
