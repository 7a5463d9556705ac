"""Outgrowing one machine: train here, continue on PyTorch's DistributedDataParallel, come back.

    torchrun --nproc_per_node=2 examples/distributed.py     # 2 processes on this machine, CPU (gloo)

On two machines, each with this repository and the same package versions, one command on each
(``--master_addr`` is the address of the machine with ``--node_rank=0``, reachable from the other):

    torchrun --nnodes=2 --node_rank=0 --nproc_per_node=2 \\
             --master_addr=10.0.0.1 --master_port=29500 examples/distributed.py    # on 10.0.0.1
    torchrun --nnodes=2 --node_rank=1 --nproc_per_node=2 \\
             --master_addr=10.0.0.1 --master_port=29500 examples/distributed.py    # on the other

1. Every process makes the course's spiral (300 points, 3 classes) and network (100 hidden ReLU
   units) from the one seed, in float64; rank 0 trains it here for 200 full-batch SGD steps.
2. Every process exports it with ``to_torch`` and wraps it in ``DistributedDataParallel`` over the
   gloo backend (PyTorch's CPU backend). DDP's constructor copies rank 0's weights to all of them.
3. Each process takes its shard of the points, rows r, r + W, r + 2W, … for rank r of W, and makes
   100 more full-batch SGD steps on it; in ``backward`` DDP averages the gradients of all processes,
   so every process makes the same update.
4. Rank 0 brings the weights back with ``from_torch``, and makes the same 100 steps here, in one
   process, on all the points: the reference. The two loss traces and the final weights must agree
   within 1e-9 (exit code 1 otherwise); it prints the largest difference and the accuracy of this
   library's model with the weights the processes trained.

Why the two runs are one computation. The loss is the mean over the N points, so with L_r the mean
over rank r's n_r points, L = Σ_r (n_r / N)·L_r and ∂L/∂θ = Σ_r (n_r / N)·∂L_r/∂θ. DDP gives every
process the average (1/W)·Σ_r g_r of the processes' gradients g_r, so each process backpropagates
w_r·L_r with w_r = W·n_r / N, and the average is ∂L/∂θ. When W divides N every shard has N / W
points and w_r = 1: the mean of the shard means is the full mean, DDP's usual setting. When it does
not (W = 7 here: six shards of 43 points and one of 42), the weights keep the equality, so any world
size up to N works. The shards are taken by hand, not with ``DistributedSampler``: given
shuffle=False it picks the same rows, but it makes uneven shards even by repeating points (or, with
drop_last=True, dropping some), which would change the mean being minimised.

Where a difference comes from: rounding only. The processes sum their gradients in a different order
((g_1 + g_2) / 2 against one sum over all rows), and torch's kernels and NumPy's matrix products add
in their own orders; each step differs by about 1e-16, and 100 steps keep it far below 1e-9.

Nothing here draws a torch random number (``to_torch`` copies the weights, the shards are fixed), so
the NumPy seed is the only one. A bad setup ends with one line and exit code 2: PyTorch missing, the
script started without torchrun (no RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in the environment),
or more processes than points.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from data import make_spiral, spawn_generators
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential, from_torch, to_torch
from models.torch_bridge import INSTALL_HINT
from optim import SGD

TOLERANCE = 1e-9                    # the largest difference allowed in the losses and the weights
SETUP_ERROR = 2                     # the exit code of a bad setup; 1 is a failed check
LAUNCHER = "torchrun --nproc_per_node=2 examples/distributed.py"
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")   # what torchrun sets


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train here, continue with DistributedDataParallel, "
                                                 "come back; proven equal to one process.")
    parser.add_argument("--steps-here", type=int, default=200, help="SGD steps here before the export")
    parser.add_argument("--steps", type=int, default=100, help="SGD steps with DistributedDataParallel")
    parser.add_argument("--per-class", type=int, default=100, help="spiral points per class (3 classes)")
    parser.add_argument("--hidden", type=int, default=100, help="hidden ReLU units")
    parser.add_argument("--lr", type=float, default=1.0, help="SGD step size")
    parser.add_argument("--seed", type=int, default=0, help="the seed of the data and the weights")
    args = parser.parse_args(argv)
    for name in ("steps_here", "steps", "per_class", "hidden"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive int, got {getattr(args, name)}")
    return args


def setup_problem(n_points: int) -> str | None:
    """The one line that says why this process cannot take part, or None."""
    missing = [name for name in LAUNCH_VARIABLES if name not in os.environ]
    if missing:
        return (f"examples/distributed.py: {', '.join(missing)} not set: start it with torchrun, "
                f"e.g. {LAUNCHER}")
    world = int(os.environ["WORLD_SIZE"])
    if world > n_points:
        return f"examples/distributed.py: {world} processes for {n_points} points: each needs at least one"
    return None


def train_here(model, X, y, *, steps: int, lr: float) -> list[float]:
    """``steps`` full-batch SGD steps with this library; the loss before each update."""
    loss_fn = SoftmaxCrossEntropy()
    optimizer = SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        losses.append(loss_fn.forward(model.forward(X), y))
        model.backward(loss_fn.backward())
        optimizer.step()
    return losses


def train_distributed(torch, dist, ddp_model, X_shard, y_shard, *, n_points: int, steps: int,
                      lr: float) -> list[float]:
    """``steps`` SGD steps on this process's shard, DDP averaging the gradients; the full loss
    L = Σ_r (n_r / N)·L_r before each update, the same on every process."""
    optimizer = torch.optim.SGD(ddp_model.parameters(), lr=lr)
    share = len(X_shard) / n_points                         # n_r / N
    weight = dist.get_world_size() * len(X_shard) / n_points  # w_r = W·n_r / N, exactly 1 for equal shards
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        shard_loss = torch.nn.functional.cross_entropy(ddp_model(X_shard), y_shard)   # L_r
        (weight * shard_loss).backward()        # DDP all-reduces: every .grad = (1/W)·Σ_r w_r·∂L_r/∂θ
        optimizer.step()
        full_loss = share * shard_loss.detach()
        dist.all_reduce(full_loss)              # Σ_r (n_r / N)·L_r
        losses.append(full_loss.item())
    return losses


def largest_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The largest |a - b| over every array of two state dicts with the same names."""
    if a.keys() != b.keys():
        raise ValueError(f"the state dicts name different weights: {sorted(a)} and {sorted(b)}")
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def compare_with_one_process(model, torch_model, X, y, distributed: list[float], *, world: int,
                             lr: float) -> int:
    """Step 4, on rank 0: the same steps here on all the data, against the distributed run; the exit code."""
    back = from_torch(torch_model)
    reference = train_here(model, X, y, steps=len(distributed), lr=lr)
    n_points = len(X)
    shards = [len(range(r, n_points, world)) for r in range(world)]
    print(f"shards of {shards} points; {len(distributed)} steps; "
          f"loss {distributed[0]:.6f} -> {distributed[-1]:.6f}")
    loss_difference = float(np.max(np.abs(np.subtract(distributed, reference))))
    weight_difference = largest_difference(back.state_dict(), model.state_dict())
    difference = max(loss_difference, weight_difference)
    print(f"largest difference from one process: {difference:.3e} (losses {loss_difference:.3e}, "
          f"weights {weight_difference:.3e}; allowed {TOLERANCE:.0e})")
    if not difference <= TOLERANCE:
        print("the distributed run differs from one process: the shards or their weights are wrong")
        return 1
    accuracy = float(np.mean(back.predict(X) == y))
    print(f"accuracy of this library's model with the distributed weights: {accuracy:.2%} "
          f"on {n_points} points")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print(f"examples/distributed.py needs PyTorch: {INSTALL_HINT}", file=sys.stderr)
        return SETUP_ERROR

    n_points = 3 * args.per_class
    problem = setup_problem(n_points)
    if problem is not None:
        if os.environ.get("RANK", "0") == "0":          # one line, not one per process
            print(problem, file=sys.stderr)
        return SETUP_ERROR

    # -- the process group: rank, world size and the rendezvous address all come from torchrun --
    dist.init_process_group(backend="gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()

        # -- 1. data and model from the one seed; rank 0 trains here ------------------------
        data_rng, init_rng = spawn_generators(seed=args.seed, n=2)
        X, y = make_spiral(n_per_class=args.per_class, n_classes=3, noise=0.2, rng=data_rng)   # X [N x 2]
        model = Sequential(Linear(2, args.hidden, rng=init_rng), ReLU(), Linear(args.hidden, 3, rng=init_rng))
        if rank == 0:
            before = train_here(model, X, y, steps=args.steps_here, lr=args.lr)
            print(f"trained here: loss {before[0]:.6f} -> {before[-1]:.6f} in {args.steps_here} steps; "
                  f"continuing on {world} processes (gloo)")

        # -- 2. export; DDP's constructor broadcasts rank 0's weights to every process --------
        ddp_model = DistributedDataParallel(to_torch(model))

        # -- 3. each process trains on its shard: rows rank, rank + W, rank + 2W, … -----------
        rows = slice(rank, n_points, world)
        X_shard = torch.from_numpy(np.ascontiguousarray(X[rows]))     # [n_r x 2], float64
        y_shard = torch.from_numpy(np.ascontiguousarray(y[rows]))
        distributed = train_distributed(torch, dist, ddp_model, X_shard, y_shard, n_points=n_points,
                                        steps=args.steps, lr=args.lr)

        # -- 4. back here on rank 0, against one process on all the data ----------------------
        status = 0
        if rank == 0:
            status = compare_with_one_process(model, ddp_model.module, X, y, distributed, world=world,
                                              lr=args.lr)
        # Leave together: while rank 0 checks, the others would close their gloo connections, and a
        # process whose peer has gone can abort (SIGABRT) instead of returning its status.
        dist.barrier()
        return status
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
