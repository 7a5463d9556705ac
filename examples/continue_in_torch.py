"""Train a network here, then keep training it in PyTorch: the same losses, step for step.

    python examples/continue_in_torch.py        # needs PyTorch: pip install -e '.[torch]'

1. Trains the course's spiral network (3 classes, 100 hidden ReLU units) with plain SGD for
   300 full-batch steps, with this project's parts.
2. Exports it with ``to_torch``: a ``torch.nn.Sequential`` holding the same weights.
3. Continues for 200 more steps twice, from the same weights: here with ``SGD``, and in PyTorch
   with ``torch.optim.SGD`` and autograd's gradients.
4. Prints the two loss traces side by side and their largest difference, and exits with code 1
   if that exceeds 1e-9: the hand-written backward and autograd train the same network.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from data import make_spiral, spawn_generators
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential, to_torch
from optim import SGD

TOLERANCE = 1e-9                    # the largest loss difference the traces may show


class Traces(NamedTuple):
    before: list[float]             # the losses of the steps taken here before the export
    here: list[float]               # after the export, continuing here
    torch: list[float]              # after the export, continuing in PyTorch


def continue_in_torch(*, steps_here: int = 300, steps_after: int = 200, hidden: int = 100,
                      lr: float = 1.0, seed: int = 0) -> Traces:
    """Train ``steps_here`` SGD steps here, export, then ``steps_after`` more here and in torch."""
    import torch  # only this example needs it; the library itself never does

    # -- data and model: every random number comes from the one seed ------------------------
    data_rng, init_rng = spawn_generators(seed=seed, n=2)
    X, y = make_spiral(n_per_class=100, n_classes=3, noise=0.2, rng=data_rng)   # X [300 x 2]
    model = Sequential(Linear(2, hidden, rng=init_rng), ReLU(), Linear(hidden, 3, rng=init_rng))
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=lr)

    def step_here() -> float:
        loss = loss_fn.forward(model.forward(X), y)
        model.backward(loss_fn.backward())
        optimizer.step()
        return loss

    # -- 1. train here ----------------------------------------------------------------------
    before = [step_here() for _ in range(steps_here)]

    # -- 2. export: a torch.nn.Sequential with copies of the weights, in float64 -------------
    torch_model = to_torch(model)
    torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=lr)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def step_in_torch() -> float:
        torch_optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(torch_model(X_t), y_t)
        loss.backward()             # autograd's gradients, where step_here uses model.backward
        torch_optimizer.step()
        return loss.item()

    # -- 3. continue in both, from the same weights -----------------------------------------
    here = [step_here() for _ in range(steps_after)]
    there = [step_in_torch() for _ in range(steps_after)]
    return Traces(before, here, there)


def main() -> int:
    traces = continue_in_torch()
    print(f"trained here: loss {traces.before[0]:.6f} -> {traces.before[-1]:.6f} "
          f"in {len(traces.before)} steps; exported with to_torch")

    # -- 4. the two traces, side by side ----------------------------------------------------
    print(f"{'step':>5}  {'here':>18}  {'PyTorch':>18}  {'|difference|':>12}")
    first = len(traces.before)
    for i, (ours, theirs) in enumerate(zip(traces.here, traces.torch, strict=True)):
        if i % 20 == 0 or i == len(traces.here) - 1:
            print(f"{first + i:5d}  {ours:18.15f}  {theirs:18.15f}  {abs(ours - theirs):12.3e}")
    difference = float(np.max(np.abs(np.subtract(traces.here, traces.torch))))
    print(f"largest difference over {len(traces.here)} steps: {difference:.3e} "
          f"(allowed: {TOLERANCE:.0e})")
    if not difference <= TOLERANCE:
        print("the traces differ: the bridge or a backward pass is wrong")
        return 1

    # -- next: more data, a GPU, several machines -------------------------------------------
    print("From here the model is an ordinary torch.nn.Sequential: .to('cuda') puts it on a GPU,")
    print("and torch.nn.parallel.DistributedDataParallel trains it on several GPUs or machines:")
    print("torchrun --nproc_per_node=2 examples/distributed.py does it on 2 processes (docs/scaling.md).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
