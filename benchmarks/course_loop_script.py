"""The course's loop as a whole program: the reference `python train.py` is timed against.

Run from the repository root:  python -m benchmarks.course_loop_script [--steps 3000]

It trains on train.py's default data (the very points train.py makes) with train.py's default width
and step count, from the course's 0.01·N(0, 1) weights, by training/course_loop.py statement for
statement, and prints the last loss. It imports the same packages as train.py, so both processes
pay the same start-up; it saves nothing (train.py's checkpoints and plots are part of its cost).
"""

from __future__ import annotations

import argparse

import numpy as np

import train  # noqa: F401  (the same start-up as train.py)
from training import settings
from training.course_loop import course_initial_weights, course_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=settings.DEFAULTS["steps"])
    args = parser.parse_args()
    config = settings.DEFAULTS
    X, y, _ = settings.build_data(config)
    rng = np.random.default_rng(config["seed"])
    init = course_initial_weights(2, config["hidden"], config["classes"], rng)
    losses, _, _ = course_loop(X, y, **init, iterations=args.steps)
    print(f"loss after {args.steps} steps: {losses[-1]:.4f}")


if __name__ == "__main__":
    main()
