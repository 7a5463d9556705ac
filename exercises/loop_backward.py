"""Exercise 1: the course loop's backward pass (steps 6 to 10), written by you.

    python exercises/loop_backward.py          from the repository root, after `pip install -e .`

Write the body of ``backward`` below, then run the file. The checker runs your function on small
inputs and compares each quantity with the loop's; if one is wrong it names the formula it misses,
the loop line that computes it, and why. Until you write it, it says what to do.

The forward pass is given, steps 1 to 5 of the loop (the README's table, "Which line is which
formula"); the checker runs it and passes you ``hidden_layer`` and ``probs``:

    hidden_layer = np.maximum(0, np.dot(X, W) + b)                        # 1, 2: H = max(0, X W + b)
    scores = np.dot(hidden_layer, W2) + b2                                # 3:    S = H W2 + b2
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)        # 4:    P = softmax(S)
    correct_logprobs = -np.log(probs[range(num_examples), y])
    data_loss = np.sum(correct_logprobs) / num_examples                   # 5:    L = mean −log P[n, y_n]

``probs`` is your own copy: edit it in place, as the loop does, or copy it first; both pass.
The answer is exercises/solutions/loop_backward.py; the loop is training/course_loop.py.
"""

import sys

import numpy as np

from exercises import main


def backward(X, y, W, b, W2, b2, hidden_layer, probs):
    """The gradients of L = (1/N) Σ_n −log P[n, y_n] with respect to W, b, W2 and b2.

    Shapes: X [N x D], y [N] (labels 0 … K−1), W [D x h], b [h], W2 [h x K], b2 [K],
    hidden_layer H [N x h], probs P [N x K].
    """
    num_examples = X.shape[0]
    # Write steps 6 to 10 with the loop's names, one quantity at a time:
    #   6   dscores  = (P − onehot(y)) / N      [N x K]   ∂L/∂S
    #   7   dW2      = Hᵀ dscores               [h x K]
    #       db2      = Σ_n dscores[n]           [K]
    #   8   dhidden  = dscores W2ᵀ              [N x h]   ∂L/∂H
    #   9   dhidden ⊙ 1[H > 0]                            ∂L/∂A, through the ReLU's switch
    #   10  dW       = Xᵀ dhidden               [D x h]
    #       db       = Σ_n dhidden[n]           [h]
    # Then return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}; add "dscores" and "dhidden"
    # if you like, and the checker looks at them too.
    return {}


if __name__ == "__main__":
    sys.exit(main(backward))
