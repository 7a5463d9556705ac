"""examples/distributed.py: two processes on PyTorch's DistributedDataParallel train what one process
trains here, within 1e-9, and a bad setup ends with one line and exit code 2.

The two-process runs are marked slow (CI runs them): each starts three Python processes that import
torch (2.5 s each) on this 2-core machine, and DDP's constructor imports some 800 more modules
(3.5 s), so one run takes 11 to 18 s. The bad setups are checked in this process, in milliseconds.

torchrun starts each worker in a session of its own, so killing the launcher's process group would
leave the workers behind. Every process of a run therefore carries a marker in its environment, and
after the run (passed, failed or timed out) any process that still carries it is killed by its pid;
a run that passes must have left none.
"""

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "distributed.py"
MARKER = "BACKPROP_PARTS_DISTRIBUTED_RUN"
TIMEOUT = 300           # seconds; a run takes 11 to 18 s on a busy 2-core machine


def load_example():
    spec = importlib.util.spec_from_file_location("distributed", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def free_port() -> int:
    """A TCP port no one listens on now (the system picks it), for torchrun's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_marked(token: str) -> list[int]:
    """The pids of the live processes whose environment holds MARKER=token (Linux's /proc; a zombie's
    environment reads empty, so finished processes are not counted)."""
    entry = f"{MARKER}={token}".encode()
    pids = []
    for process in Path("/proc").glob("[0-9]*"):
        try:
            environ = (process / "environ").read_bytes()
        except OSError:                     # gone meanwhile, or not ours
            continue
        if entry in environ.split(b"\0"):
            pids.append(int(process.name))
    return pids


def stop(launcher: subprocess.Popen, token: str) -> list[int]:
    """End every process of the run; the pids that were still alive when it was called."""
    left = processes_marked(token)
    if launcher.poll() is None:
        os.killpg(launcher.pid, signal.SIGTERM)         # torchrun stops its workers on SIGTERM
        try:
            launcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    for pid in processes_marked(token):                 # workers in sessions of their own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def torchrun(*args: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    """``torchrun --nproc_per_node=2 examples/distributed.py *args`` with this interpreter's torch,
    and the pids of the processes it left behind (killed since)."""
    token = uuid.uuid4().hex
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", **{MARKER: token})
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(EXAMPLE), *args]
    launcher = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    try:
        stdout, stderr = launcher.communicate(timeout=TIMEOUT)
    finally:
        left = stop(launcher, token)
    return subprocess.CompletedProcess(command, launcher.returncode, stdout, stderr), left


@pytest.mark.slow
@pytest.mark.parametrize("args, shards", [
    ((), "[150, 150]"),                                 # the acceptance command: equal shards
    (("--per-class", "33", "--steps-here", "50"), "[50, 49]"),   # 99 points: shards weighted 100/99, 98/99
])
def test_two_processes_train_what_one_process_trains_here(args, shards):
    pytest.importorskip("torch", reason="the distributed example needs torch")
    result, left = torchrun(*args)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not left, f"processes left behind: {left}"
    assert f"shards of {shards} points" in result.stdout
    difference = float(re.search(r"largest difference from one process: (\S+)", result.stdout)[1])
    assert difference <= 1e-9
    accuracy = float(re.search(r"distributed weights: ([\d.]+)%", result.stdout)[1])
    assert accuracy >= 90


def test_without_torch_the_example_says_how_to_install_it(monkeypatch, capsys):
    example = load_example()
    monkeypatch.setitem(sys.modules, "torch", None)     # `import torch` fails, as without torch

    assert example.main([]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "PyTorch" in line and "pip install -e '.[torch]'" in line


@pytest.mark.parametrize("environment, words", [
    ({}, ["RANK", "WORLD_SIZE", "torchrun --nproc_per_node=2 examples/distributed.py"]),
    ({"RANK": "0", "WORLD_SIZE": "301"}, ["301 processes", "300 points"]),
    ({"RANK": "1", "WORLD_SIZE": "301"}, []),           # said once, by rank 0
])
def test_a_bad_setup_ends_with_one_line_and_exit_code_2(monkeypatch, capsys, environment, words):
    pytest.importorskip("torch", reason="the setup checks after the import need torch")
    example = load_example()
    for name in example.LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    if environment:
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", "29500")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert example.main([]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == (1 if words else 0), lines
    for word in words:
        assert word in lines[0]
