"""Check the whole default network's gradients against central differences, then catch a planted bug.

    python examples/check_default_network.py        # about a minute on 2 cores

The data and network are train.py's defaults: the two-class spiral (800 points, two at the origin,
right on the ReLU's kink, and more so close to it that a ±eps step moves a hidden unit across 0) and
Linear(2, 1000), ReLU(), Linear(1000, 2), in float64. An entry whose step crosses a kink is checked
with a one-sided slope or half the step where the forward pass allows; the few it cannot check are
left out (and counted), and the check passes. Then Linear.backward is made to return the bias
gradient as a mean instead of a sum, and the same check fails. Exit code 0 when both verdicts come
out as they should, 1 otherwise.
"""

import sys
import time

from data import make_spiral, spawn_generators
from layers import Linear, ReLU, SoftmaxCrossEntropy, check_gradients
from models import Sequential

data_rng, init_rng = spawn_generators(seed=0, n=2)
X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=data_rng)
model = Sequential(Linear(2, 1000, rng=init_rng), ReLU(), Linear(1000, 2, rng=init_rng))

start = time.perf_counter()
correct = check_gradients(model, X, loss=SoftmaxCrossEntropy(), y=y)
print(correct)
print(f"passed: {correct.passed}   ({time.perf_counter() - start:.0f} s)\n")

sum_of_rows = Linear.backward


def bias_gradient_as_a_mean(self, dy):
    dx = sum_of_rows(self, dy)
    self.grads["b"] = dy.mean(axis=0)       # the bug: formula (2) is a sum over the batch
    return dx


Linear.backward = bias_gradient_as_a_mean
buggy = check_gradients(model, X, loss=SoftmaxCrossEntropy(), y=y)
Linear.backward = sum_of_rows
print("with the bias gradient as a mean:")
print(buggy)
print(f"passed: {buggy.passed}")
sys.exit(0 if correct.passed and not buggy.passed else 1)
