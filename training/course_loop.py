"""The course's training loop, written once: the independent reference the parts are compared against.

This is the loop of the CS231n "minimal neural network case study"
(https://cs231n.github.io/neural-networks-case-study/): a two-layer ReLU network trained by full-batch
gradient descent on a 2-D spiral. It is written statement for statement as the course writes it, with
the course's names, so that a learner can lay it next to the parts (docs/course_loop.md maps each line
to its formula and to the part that computes it).

It imports NumPy and nothing else: it is what the parts are proven equal to (tests, explain.py), so
it must not be built from them.

Two places where this copy differs from the course page, neither of which changes a number:

- The biases are 1-D, b [h] and b2 [K], to line up with ``Linear``'s ``b``; the course's [1 x h]
  and [1 x K] broadcast over the rows the same way. So db and db2 are summed without ``keepdims``.
- There is no ``print`` in the loop: ``course_step`` returns the loss instead.

Like the course, the softmax is taken without subtracting the row maximum. That is exact for the
small scores of these runs but overflows for scores above about 709 (``SoftmaxCrossEntropy`` does not).
"""

from __future__ import annotations

import numpy as np


def course_step(X, y, W, b, W2, b2, *, step_size=1.0, reg=0.0) -> dict:
    """One iteration of the course's loop; updates W, b, W2, b2 in place.

    Shapes: X [N x D], y [N] integer labels; W [D x h], b [h], W2 [h x K], b2 [K].
    η = step_size, λ = reg. The step numbers in the comments are those of explain.py and docs/.

    Returns every name the iteration computed, under the course's names. Two of them were edited
    in place after they were computed, as in the course: ``probs`` is the same array as ``dscores``
    (``dscores = probs`` copies nothing), and ``dhidden`` holds the gradient after the ReLU mask.
    """
    num_examples = X.shape[0]

    # forward: steps 1 to 5
    hidden_layer = np.maximum(0, np.dot(X, W) + b)                      # 1, 2: H = max(0, X W + b)
    scores = np.dot(hidden_layer, W2) + b2                              # 3: S = H W2 + b2
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)      # 4: P = softmax(S)
    correct_logprobs = -np.log(probs[range(num_examples), y])
    data_loss = np.sum(correct_logprobs) / num_examples                 # 5: L = mean −log P[n, y_n]
    reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)  #    + (λ/2)(ΣW² + ΣW2²)
    loss = data_loss + reg_loss

    # backward: steps 6 to 10
    dscores = probs                                                     # 6: dS = (P − onehot(y)) / N
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)                               # 7: dW2 = Hᵀ dS
    db2 = np.sum(dscores, axis=0)                                       #    db2 = Σ_n dS[n]
    dhidden = np.dot(dscores, W2.T)                                     # 8: dH = dS W2ᵀ
    dhidden[hidden_layer <= 0] = 0                                      # 9: dA = dH ⊙ 1[A > 0]
    dW = np.dot(X.T, dhidden)                                           # 10: dW = Xᵀ dA
    db = np.sum(dhidden, axis=0)                                        #     db = Σ_n dA[n]
    dW2 += reg * W2                                                     # the reg term's gradient, λ W2
    dW += reg * W                                                       #                          λ W

    # update: step 11, θ ← θ − η dθ
    W += -step_size * dW
    b += -step_size * db
    W2 += -step_size * dW2
    b2 += -step_size * db2

    return {
        "num_examples": num_examples, "hidden_layer": hidden_layer, "scores": scores,
        "exp_scores": exp_scores, "probs": probs, "correct_logprobs": correct_logprobs,
        "data_loss": data_loss, "reg_loss": reg_loss, "loss": loss, "dscores": dscores,
        "dW2": dW2, "db2": db2, "dhidden": dhidden, "dW": dW, "db": db,
    }


def course_loop(X, y, W, b, W2, b2, *, step_size=1.0, reg=0.0, iterations):
    """Train from float64 copies of (W, b, W2, b2) for ``iterations`` iterations of ``course_step``.

    Returns (losses, first_gradients, weights):
      losses           the ``loss`` of every iteration (data loss + reg loss), a list of floats
      first_gradients  {"W": dW, "b": db, "W2": dW2, "b2": db2} of iteration 0, reg term included
      weights          {"W": W, "b": b, "W2": W2, "b2": b2} after the last update
    The arrays passed in are left unchanged.
    """
    W, b, W2, b2 = (np.array(a, dtype=np.float64) for a in (W, b, W2, b2))     # np.array copies
    losses = []
    first_gradients = None
    for i in range(iterations):
        record = course_step(X, y, W, b, W2, b2, step_size=step_size, reg=reg)
        losses.append(record["loss"])
        if i == 0:
            # no copies needed: each iteration makes new gradient arrays and never edits old ones
            first_gradients = {"W": record["dW"], "b": record["db"], "W2": record["dW2"], "b2": record["db2"]}
    return losses, first_gradients, {"W": W, "b": b, "W2": W2, "b2": b2}


def course_initial_weights(n_inputs, hidden, n_classes, rng):
    """The course's initialisation: weights 0.01 · N(0, 1), biases 0 (1-D, see the module docstring).

    ``rng`` is a ``np.random.Generator``; W is drawn before W2.
    """
    return {"W": 0.01 * rng.standard_normal((n_inputs, hidden)), "b": np.zeros(hidden),
            "W2": 0.01 * rng.standard_normal((hidden, n_classes)), "b2": np.zeros(n_classes)}
