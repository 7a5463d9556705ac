"""The monolithic training loop of CONTEXT.md, written out from its equations, as an independent
reference: no part of the framework is imported here.

It keeps the loop's own names and statements (``hidden_layer``, ``dscores = probs`` editing
``probs`` in place, ``dhidden[hidden_layer <= 0] = 0``, ``W += -step_size * dW``) and its
softmax without the max shift, which is exact for the small scores of these runs.
"""

from __future__ import annotations

import numpy as np


def monolithic_loop(X, y, W, b, W2, b2, *, step_size=1.0, reg=0.0, iterations=1):
    """Train the two-layer network from copies of (W, b, W2, b2); return losses, step-0 gradients, weights.

    Biases are 1-D ([h] and [K]) so that they line up with ``Linear``'s ``b``.
    """
    W, b, W2, b2 = (np.array(a, dtype=np.float64, copy=True) for a in (W, b, W2, b2))
    num_examples = X.shape[0]
    losses = []
    first_grads = None
    for i in range(iterations):
        # forward: steps 1 to 5
        hidden_layer = np.maximum(0, np.dot(X, W) + b)                   # 1, 2: H = max(0, X W + b)
        scores = np.dot(hidden_layer, W2) + b2                           # 3: S = H W2 + b2
        exp_scores = np.exp(scores)
        probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)   # 4: P = softmax(S)
        correct_logprobs = -np.log(probs[range(num_examples), y])
        data_loss = np.sum(correct_logprobs) / num_examples              # 5: L = mean −log P[n, y_n]
        reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)
        losses.append(data_loss + reg_loss)

        # backward: steps 6 to 10
        dscores = probs                                                  # 6: dS = (P − onehot(y)) / N
        dscores[range(num_examples), y] -= 1
        dscores /= num_examples
        dW2 = np.dot(hidden_layer.T, dscores)                            # 7: dW2 = Hᵀ dS
        db2 = np.sum(dscores, axis=0)                                    #    db2 = Σ_n dS[n]
        dhidden = np.dot(dscores, W2.T)                                  # 8: dH = dS W2ᵀ
        dhidden[hidden_layer <= 0] = 0                                   # 9: dA = dH ⊙ 1[A > 0]
        dW = np.dot(X.T, dhidden)                                        # 10: dW = Xᵀ dA
        db = np.sum(dhidden, axis=0)                                     #     db = Σ_n dA[n]
        dW2 += reg * W2
        dW += reg * W
        if i == 0:
            first_grads = {"W": dW.copy(), "b": db.copy(), "W2": dW2.copy(), "b2": db2.copy()}

        # update: step 11
        W += -step_size * dW
        b += -step_size * db
        W2 += -step_size * dW2
        b2 += -step_size * db2
    return losses, first_grads, {"W": W, "b": b, "W2": W2, "b2": b2}


def loop_initial_weights(n_inputs, hidden, n_classes, rng):
    """The loop's initialisation: 0.01 · N(0, 1) weights, zero biases."""
    return {
        "W": 0.01 * rng.standard_normal((n_inputs, hidden)),
        "b": np.zeros(hidden),
        "W2": 0.01 * rng.standard_normal((hidden, n_classes)),
        "b2": np.zeros(n_classes),
    }
