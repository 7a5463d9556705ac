"""The README's commands and examples are true: they run, and print what the README shows."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks_after(heading: str) -> list[tuple[str, str]]:
    """The fenced code blocks (language, text) in the README section that starts with ``heading``."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)


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
    for got, want in zip(actual_lines, expected_lines):
        assert re.sub(number, "#", got) == re.sub(number, "#", want), f"{got!r} != {want!r}"
        for a, b in zip(re.findall(number, got), re.findall(number, want)):
            assert abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b))), f"{got!r} != {want!r}"


def test_quick_start_is_two_commands_and_ci_runs_the_test_command():
    [(language, text)] = blocks_after("## Quick start")
    commands = text.strip().splitlines()
    assert language == "sh" and len(commands) == 2
    assert commands[0].endswith("python train.py")
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_the_explicit_loop_prints_what_the_readme_shows(tmp_path):
    (_, code), (language, output) = blocks_after("## The loop, in parts")[:2]
    assert language == "text"
    assert_same_output(run_python(code, tmp_path), output, tolerance=2e-4)


def test_the_gradient_check_example_prints_what_the_readme_shows(tmp_path):
    (_, code), (_, output) = blocks_after("## Checking your own layer")[:2]
    actual = run_python(code, tmp_path)
    assert [line.split()[0] for line in actual.splitlines()] == [line.split()[0] for line in output.splitlines()]
    assert all(line.endswith("ok") for line in actual.splitlines()[1:])
