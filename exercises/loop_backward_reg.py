"""Exercise 2: the course loop's backward pass with its L2 regularisation, written by you.

    python exercises/loop_backward_reg.py      from the repository root, after `pip install -e .`

Exercise 1 (exercises/loop_backward.py) first: this is the same backward pass, for the loop's whole
loss, the data loss plus the reg loss of step 5:

    reg_loss = 0.5 * reg * np.sum(W * W) + 0.5 * reg * np.sum(W2 * W2)   # R = (λ/2)(Σ W² + Σ W2²)
    loss = data_loss + reg_loss

The checker passes λ as the keyword ``reg`` and also checks the reg terms: it says so if they are
missing, or scaled by 2λ or λ/2 instead of λ. The forward pass is given, as in exercise 1.
The answer is exercises/solutions/loop_backward_reg.py; the loop is training/course_loop.py.
"""

import sys

import numpy as np

from exercises import main


def backward(X, y, W, b, W2, b2, hidden_layer, probs, *, reg):
    """The gradients of L + R with respect to W, b, W2 and b2: L the mean cross-entropy,
    R = (λ/2)(Σ W² + Σ W2²) with λ = reg.

    Shapes: X [N x D], y [N] (labels 0 … K−1), W [D x h], b [h], W2 [h x K], b2 [K],
    hidden_layer H [N x h], probs P [N x K].
    """
    num_examples = X.shape[0]
    # Write steps 6 to 10 as in exercise 1:
    #   6   dscores  = (P − onehot(y)) / N      [N x K]
    #   7   dW2      = Hᵀ dscores,  db2 = Σ_n dscores[n]
    #   8   dhidden  = dscores W2ᵀ
    #   9   dhidden ⊙ 1[H > 0]
    #   10  dW       = Xᵀ dhidden,  db = Σ_n dhidden[n]
    # then add the gradient of R to each weight's (not to the biases: R has no b):
    #       ∂R/∂W2   = λ W2,   ∂R/∂W = λ W
    # Then return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}; add "dscores" and "dhidden"
    # if you like, and the checker looks at them too.
    return {}


if __name__ == "__main__":
    sys.exit(main(backward))
