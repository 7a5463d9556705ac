"""The README's commands and examples are true: they run, and print what the README shows."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks_after(heading: str) -> list[tuple[str, str]]:
    """The fenced code blocks (language, text) in the README section that starts with ``heading``."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def run_python(code: str, cwd: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_same_output(actual: str, expected: str, tolerance: float):
    """Same words and layout; numbers equal within ``tolerance`` (BLAS may round differently)."""
    actual_lines, expected_lines = actual.strip().splitlines(), expected.strip().splitlines()
    assert len(actual_lines) == len(expected_lines), actual
    number = r"(-?\d+\.?\d*(?:e[-+]\d+)?)"
    for got, want in zip(actual_lines, expected_lines, strict=True):
        assert re.sub(number, "#", got) == re.sub(number, "#", want), f"{got!r} != {want!r}"
        for a, b in zip(re.findall(number, got), re.findall(number, want), strict=True):
            assert abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b))), f"{got!r} != {want!r}"


def test_quick_start_is_two_commands_and_ci_runs_the_test_command():
    [(language, text)] = blocks_after("## Quick start")
    commands = text.strip().splitlines()
    assert language == "sh" and len(commands) == 2
    assert commands[0].endswith("python train.py") and commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert all(command.startswith("python3 -m venv .venv") and command in ci for command in commands)


@pytest.mark.slow
def test_the_explicit_loop_prints_what_the_readme_shows(tmp_path):
    (_, code), (language, output) = blocks_after("## The loop, in parts")[:2]
    assert language == "text"
    assert_same_output(run_python(code, tmp_path), output, tolerance=2e-4)


def test_the_gradient_check_example_prints_what_the_readme_shows(tmp_path):
    (_, code), (_, output) = blocks_after("## Checking your own layer")[:2]
    actual = run_python(code, tmp_path)
    assert [line.split()[0] for line in actual.splitlines()] == [line.split()[0] for line in output.splitlines()]
    assert all(line.endswith("ok") for line in actual.splitlines()[1:])


def test_the_label_error_quoted_in_the_readme_is_the_real_one():
    from layers import SoftmaxCrossEntropy
    quoted = re.search(r"`ValueError: (label -1 .*?)`", README).group(1)
    with pytest.raises(ValueError) as caught:
        SoftmaxCrossEntropy().forward(np.zeros((3, 3)), np.array([0, 1, -1]))
    assert str(caught.value) == quoted


def normalise_run(text: str) -> str:
    """Hide what differs between runs of the same computation: the folder's date and the time taken."""
    text = re.sub(r"runs/\d{8}-\d{6}", "runs/<date>-<time>", text)
    return re.sub(r"\(\d+\.\d s of training\)", "(<seconds> s of training)", text)


@pytest.mark.slow
def test_the_default_train_py_run_prints_what_the_readme_shows_and_reaches_97_percent(tmp_path):
    """`python train.py` exactly as in the quick start: the question's setup, with its progress bar."""
    result = run([sys.executable, str(ROOT / "train.py")], tmp_path)
    (_, shown), = [block for block in blocks_after("## The main job") if block[1].startswith("data ")]
    assert_same_output(normalise_run(result.stdout), normalise_run(shown), tolerance=2e-4)
    summary = result.stdout.strip().splitlines()[-1]
    assert float(summary.split("train accuracy ")[1].split("%")[0]) >= 97.0
    assert "3000/3000" in result.stderr                      # the progress bar ran to the end
    [folder] = (tmp_path / "runs").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["boundary.png", "checkpoint.npz", "config.json",
                                                        "history.csv", "loss.png"]


@pytest.mark.slow
def test_the_three_worked_examples_print_the_summaries_the_readme_shows(tmp_path):
    (_, examples), = [block for block in blocks_after("## The main job") if block[1].startswith("# a deeper")]
    commands = [line for line in examples.splitlines() if line.startswith("python train.py")]
    summaries = [line[2:] for line in examples.splitlines() if line.startswith("# done")]
    assert len(commands) == len(summaries) == 3
    for number, (command, summary) in enumerate(zip(commands, summaries, strict=True)):
        args = command.split()[2:] + ["--no-progress", "--out", f"example{number}"]
        printed = run([sys.executable, str(ROOT / "train.py"), *args], tmp_path).stdout.strip().splitlines()[-1]
        assert_same_output(normalise_run(printed), normalise_run(summary), tolerance=2e-4)
