"""Train the question's network on the spiral and print the loss and training accuracy.

    python train.py

The setup of the learner's question (CONTEXT.md): 400 points per class, 2 classes, noise 0.5,
one hidden ReLU layer of 1000 units, full-batch SGD with step size 1.0 for 3000 steps.
"""

import numpy as np

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD


def main() -> None:
    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, seed=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 1000, rng=rng), ReLU(), Linear(1000, 2, rng=rng))
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=1.0)
    for step in range(3000):
        loss = loss_fn.forward(model.forward(X), y)
        model.backward(loss_fn.backward())
        optimizer.step()
        if step % 500 == 0:
            print(f"step {step:4d}  loss {loss:.4f}")
    accuracy = (model.predict(X) == y).mean()
    print(f"final loss {loss:.4f}  train accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
