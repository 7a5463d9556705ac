"""Exercise 3: the backward of the parts, Linear, ReLU and SoftmaxCrossEntropy, written by you.

    python exercises/layer_backward.py         from the repository root, after `pip install -e .`

Each class below is the project's part with its ``backward`` left for you: the forward pass and what
it keeps for the backward pass (its cache) are the parent's, in layers/linear.py, layers/activations.py
and layers/losses.py. Write each ``backward`` from the numbered formulas in its docstring, then run
the file: the checker runs each class on small inputs and compares what your backward gives with the
formulas; if one is wrong it names the mistake and why. Until you write them, it says what to do.

The answers are in exercises/solutions/layer_backward.py.
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
        # write (1), (2) and (3)
        return None


class MyReLU(ReLU):
    """y = max(0, x), elementwise. ReLU's forward keeps the switch 1[x > 0], a boolean array of
    x's shape, in ``self._mask``.

    Backward, given dy = ∂L/∂y [x's shape]:
      (1) ∂L/∂x = dy ⊙ 1[x > 0]                 return it   (loop: dhidden[hidden_layer <= 0] = 0)
    Leave dy as it is (the caller may still need it): build a new array.
    """

    def backward(self, dy):
        # write (1)
        return None


class MySoftmaxCrossEntropy(SoftmaxCrossEntropy):
    """L = (1/N) Σ_n −log P[n, y_n], P = softmax(S). The forward keeps P [N x K] in ``self._probs``
    and the labels y [N] in ``self._y``.

    Backward (a loss ends the chain: no dy):
      (1) ∂L/∂S = (P − onehot(y)) / N     [N x K]   return it   (loop: dscores)
    Leave self._probs as it is (backward may run twice): build a new array.
    """

    def backward(self):
        # write (1)
        return None


if __name__ == "__main__":
    sys.exit(max([main(layer) for layer in (MyLinear, MyReLU, MySoftmaxCrossEntropy)]))
