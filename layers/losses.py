"""Losses: softmax cross-entropy (steps 4, 5 and 6 of the monolithic loop) and mean squared error."""

from __future__ import annotations

import numpy as np

from checks import check_finite, check_targets
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

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "L = (1/N) Σ_n −log P[n, y_n]"
    FORMULAS = {1: "∂L/∂S = (P − onehot(y)) / N"}

    def __init__(self):
        self._probs = None                  # cache: P, needed by (1)
        self._y = None                      # cache: the labels, needed by (1)

    def forward(self, scores: np.ndarray, y) -> float:
        scores, y = self._check_input(scores, y)
        with np.errstate(over="ignore"):    # only scores beyond ±1e308 overflow, to the true −log P = inf
            shifted = scores - scores.max(axis=1, keepdims=True)                  # S − m    [N x K]
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log P    [N x K]
        self._probs = np.exp(log_probs)                                           # P        [N x K]
        self._y = y.copy()
        loss = -log_probs[np.arange(len(y)), y].sum() / len(y)                    # L
        return float(loss) + 0.0            # + 0.0 turns a perfect fit's −0.0 into 0.0

    def backward(self) -> np.ndarray:
        probs = self._require_cache(self._probs)
        onehot = np.eye(probs.shape[1], dtype=probs.dtype)[self._y]               # [N x K]
        return (probs - onehot) / len(probs)                                      # (1)

    @property
    def probs(self) -> np.ndarray | None:
        """P = softmax(scores) from the last forward (a copy), or None before the first."""
        return None if self._probs is None else self._probs.copy()


class MSELoss(Loss):
    """Mean squared error: L = (1/(N·K)) Σ_n Σ_k (S[n, k] − T[n, k])², for regression.

    Shapes: scores S [N x K], targets T [N x K] (floats, of the scores' dtype) -> L a Python float.

    Backward (a loss ends the chain, so there is no upstream gradient to pass in):
      (1) ∂L/∂S = 2 (S − T) / (N·K)     [N x K]

    As PyTorch's ``nn.MSELoss()`` (reduction="mean": the mean over every entry). PyTorch
    broadcasts targets of another shape, with a warning; here they must have the scores' shape,
    so targets [N] for scores [N x 1] are an error that says to pass y[:, None].
    """

    # the docstring's formulas as data, for explain.py (tests/test_backprop_doc.py keeps them equal)
    FORWARD = "L = (1/(N·K)) Σ_n Σ_k (S[n, k] − T[n, k])²"
    FORMULAS = {1: "∂L/∂S = 2 (S − T) / (N·K)"}

    def __init__(self):
        self._diff = None                   # cache: S − T, needed by (1)

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        scores = self._check_scores(scores)
        y = check_finite("a target", check_targets(self, y, scores), data=True)
        self._diff = scores - y                                           # S − T    [N x K]
        return float(np.mean(self._diff * self._diff))                    # L

    def backward(self) -> np.ndarray:
        diff = self._require_cache(self._diff)
        return (2 / diff.size) * diff                                     # (1)
