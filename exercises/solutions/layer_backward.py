"""Exercise 3 solved: the backward of Linear, ReLU and SoftmaxCrossEntropy, as the loop writes them.

    python exercises/solutions/layer_backward.py

The parts in layers/ write the same formulas in their own way (``x.T @ dy``, ``dy * mask``, one
expression for (P − onehot(y)) / N); both are right, and the tests check that both agree.
"""

import sys

import numpy as np

from exercises import main
from layers import Linear, ReLU, SoftmaxCrossEntropy


class MyLinear(Linear):
    """y = x W + b. Linear's forward keeps a copy of its input x in ``self._x``;
    the weights are ``self.params["W"]`` [D_in x D_out] and ``self.params["b"]`` [D_out].

    Backward, given dy = ∂L/∂y [N x D_out]:
      (1) ∂L/∂W = xᵀ dy        [D_in x D_out]   store it in self.grads["W"]   (loop: dW2)
      (2) ∂L/∂b = Σ_n dy[n]    [D_out]          store it in self.grads["b"]   (loop: db2)
      (3) ∂L/∂x = dy Wᵀ        [N x D_in]       return it                     (loop: dhidden)
    """

    def backward(self, dy):
        self.grads["W"] = np.dot(self._x.T, dy)                  # (1)
        self.grads["b"] = np.sum(dy, axis=0)                     # (2)
        return np.dot(dy, self.params["W"].T)                    # (3)


class MyReLU(ReLU):
    """y = max(0, x), elementwise. ReLU's forward keeps the switch 1[x > 0], a boolean array of
    x's shape, in ``self._mask``.

    Backward, given dy = ∂L/∂y [x's shape]:
      (1) ∂L/∂x = dy ⊙ 1[x > 0]                 return it   (loop: dhidden[hidden_layer <= 0] = 0)
    Leave dy as it is (the caller may still need it): build a new array.
    """

    def backward(self, dy):
        dx = dy.copy()
        dx[~self._mask] = 0                                      # (1): 0 where x <= 0
        return dx


class MySoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """L = (1/N) Σ_n −log P[n, y_n], P = softmax(S). The forward keeps P [N x K] in ``self._probs``
    and the labels y [N] in ``self._y``.

    Backward (a loss ends the chain: no dy):
      (1) ∂L/∂S = (P − onehot(y)) / N     [N x K]   return it   (loop: dscores)
    Leave self._probs as it is (backward may run twice): build a new array.
    """

    def backward(self):
        num_examples = len(self._y)
        dscores = self._probs.copy()                             # (1): P
        dscores[range(num_examples), self._y] -= 1               #      − onehot(y)
        dscores /= num_examples                                  #      / N
        return dscores


if __name__ == "__main__":
    sys.exit(max([main(layer) for layer in (MyLinear, MyReLU, MySoftmaxCrossEntropy)]))
