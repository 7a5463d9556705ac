"""Was the machine ours during a round? The CPU time other processes took meanwhile, from /proc/stat.

A shared machine's noise is not random: another process's burst slows every variant timed while it
runs, and a BLAS call on all cores suffers most (its threads wait for the core the other process
holds). Interleaving spreads such bursts over all the variants; counting them lets a benchmark keep
only the rounds in which the machine was quiet, and say how many those were.

    with CpuWatch() as watch:
        ...                                     # one round
    watch.others                                # cores other processes used, on average (0 = quiet)

Linux only: elsewhere ``others`` is None and every round counts as quiet.
"""

from __future__ import annotations

import os
import time

QUIET = 0.10        # a round is quiet if other processes used less than a tenth of one core during it


def _busy_seconds() -> float | None:
    """CPU seconds all processes have used since boot (all cores), or None without /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(word) for word in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)        # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")       # user … steal, in clock ticks


def _own_seconds(children: bool) -> float:
    times = os.times()
    own = times.user + times.system                                  # this process, all its threads
    return own + (times.children_user + times.children_system if children else 0.0)   # ended children


class CpuWatch:
    """``others``: the average number of cores that other processes kept busy during the block.

    With ``children=True`` the CPU time of the child processes that ended during the block counts as
    this process's own (a block that runs whole processes and waits for them)."""

    def __init__(self, *, children: bool = False):
        self.children = children

    def __enter__(self) -> CpuWatch:
        self._start = (time.perf_counter(), _busy_seconds(), _own_seconds(self.children))
        return self

    def __exit__(self, *exc) -> None:
        wall, busy, own = time.perf_counter(), _busy_seconds(), _own_seconds(self.children)
        wall0, busy0, own0 = self._start
        if busy is None or busy0 is None:
            self.others = None
        else:
            self.others = max(0.0, (busy - busy0) - (own - own0)) / max(wall - wall0, 1e-9)

    @property
    def quiet(self) -> bool:
        return self.others is None or self.others < QUIET


def load_average() -> str:
    """The 1-minute load average, as text (empty where the OS does not give one)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return ""
