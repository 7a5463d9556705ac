"""Exercise 1 solved: the course loop's backward pass, steps 6 to 10, as the loop writes it.

    python exercises/solutions/loop_backward.py
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
    dscores = probs                                                     # 6: dS = (P − onehot(y)) / N
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)                               # 7: dW2 = Hᵀ dS
    db2 = np.sum(dscores, axis=0)                                       #    db2 = Σ_n dS[n]
    dhidden = np.dot(dscores, W2.T)                                     # 8: dH = dS W2ᵀ
    dhidden[hidden_layer <= 0] = 0                                      # 9: dA = dH ⊙ 1[A > 0]
    dW = np.dot(X.T, dhidden)                                           # 10: dW = Xᵀ dA
    db = np.sum(dhidden, axis=0)                                        #     db = Σ_n dA[n]
    return {"dW": dW, "db": db, "dW2": dW2, "db2": db2, "dscores": dscores, "dhidden": dhidden}


if __name__ == "__main__":
    sys.exit(main(backward))
