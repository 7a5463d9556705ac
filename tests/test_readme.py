"""The README's and docs' commands and examples are true: every Python block runs as written, in order,
and prints what the page shows."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
# Pages whose blocks train for thousands of steps (seconds each): run with the slow checks.
SLOW_PAGES = {"README.md", "course_loop.md"}
SEPARATOR = "----- next block -----"


def text_of(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def blocks_after(heading: str, text: str = README) -> list[tuple[str, str]]:
    """The fenced code blocks (language, text) in the section that starts with ``heading``."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S)


def run(command: list[str], cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result


def run_blocks(text: str, cwd) -> list[str]:
    """Every Python block of a page, run in order in one interpreter (later blocks may use what
    earlier ones made), as a reader who pastes them one after the other; the output of each."""
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    program = f"\nprint({SEPARATOR!r})\n".join(blocks)
    return run([sys.executable, "-c", program], cwd).stdout.split(SEPARATOR + "\n")


def assert_same_output(actual: str, expected: str, tolerance: float):
    """Same words and layout; numbers equal within ``tolerance`` (BLAS may round differently)."""
    actual_lines, expected_lines = actual.strip().splitlines(), expected.strip().splitlines()
    assert len(actual_lines) == len(expected_lines), actual
    number = r"(-?\d+\.?\d*(?:e[-+]\d+)?)"
    for got, want in zip(actual_lines, expected_lines, strict=True):
        assert re.sub(number, "#", got) == re.sub(number, "#", want), f"{got!r} != {want!r}"
        for a, b in zip(re.findall(number, got), re.findall(number, want), strict=True):
            assert abs(float(a) - float(b)) <= tolerance * max(1.0, abs(float(b))), f"{got!r} != {want!r}"


def test_quick_start_is_two_commands_that_ci_runs_verbatim():
    [(language, text)] = blocks_after("## Quick start")
    commands = text.strip().splitlines()
    assert language == "sh" and len(commands) == 2
    assert commands[0].endswith("python train.py") and commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for command in commands:
        assert command.startswith("python3 -m venv .venv") and f"{command} || exit 1" in ci


def test_the_readme_is_a_learners_path_of_at_most_2000_words_with_the_course_loop_and_its_link():
    assert len(README.split()) <= 2000
    assert "https://cs231n.github.io/neural-networks-case-study/" in README
    course = blocks_after("## The course loop")[0][1]
    for statement in ("dscores = probs", "dscores[range(num_examples), y] -= 1", "dscores /= num_examples",
                      "dhidden[hidden_layer <= 0] = 0", "W += -step_size * dW", "b2 += -step_size * db2"):
        assert statement in course
    for link in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / link).exists(), link


FOLDERS = "|".join(re.escape(folder.name) for folder in ROOT.iterdir()
                   if folder.is_dir() and not folder.name.startswith((".", "runs")))
REPOSITORY_PATH = re.compile(rf"(?<![\w/.-])((?:{FOLDERS}|\.ci)/[\w/.-]*\w|test_\w+\.py)\b")


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda page: page.name)
def test_every_file_a_page_names_or_links_to_exists(page):
    """Links resolve from the page's folder; a path such as `layers/linear.py` from the repository's
    root (or the page's folder), a bare `test_x.py` in tests/."""
    text = page.read_text(encoding="utf-8")
    links = [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text)
             if not target.startswith(("http:", "https:", "#"))]
    missing = [link for link in links if not (page.parent / link).exists()]
    missing += [path for path in REPOSITORY_PATH.findall(text)
                if not any((folder / path).exists() for folder in (ROOT, page.parent, ROOT / "tests"))]
    assert missing == []


@pytest.mark.parametrize("page", [pytest.param(page, marks=pytest.mark.slow) if page.name in SLOW_PAGES
                                  else page for page in DOCS if "```python" in page.read_text()],
                         ids=lambda page: page.name)
def test_every_python_block_of_a_doc_page_runs_as_written(page, tmp_path):
    run_blocks(page.read_text(encoding="utf-8"), tmp_path)


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs_and_prints_what_the_readme_shows(tmp_path):
    course, parts, own, data_sets = run_blocks(README, tmp_path)
    assert course.strip() == re.search(r"It prints `(training accuracy: [\d.]+)`", README)[1]
    (_, shown), = [block for block in blocks_after("## The same loop, as parts") if block[0] == "text"]
    assert_same_output(parts, shown, tolerance=2e-4)
    checked, accuracy = own.strip().splitlines()
    assert checked == "True" and float(accuracy.split()[-1].rstrip("%")) >= 90
    assert data_sets.splitlines() == ["make_moons   X (200, 2)  classes [0, 1]",
                                      "make_circles X (200, 2)  classes [0, 1]",
                                      "make_xor     X (200, 2)  classes [0, 1]", "(2, 2) [0 1]"]


def test_the_gradient_check_example_prints_what_the_page_shows(tmp_path):
    page = text_of("docs/layers.md")
    (_, code), (_, output) = blocks_after("## Checking your own layer", page)[:2]
    actual = run([sys.executable, "-c", code], tmp_path).stdout
    first_words = [line.split()[0] for line in actual.splitlines()]
    assert first_words == [line.split()[0] for line in output.splitlines()]
    assert all(line.endswith("ok") for line in actual.splitlines()[1:])


def test_the_label_error_quoted_in_the_docs_is_the_real_one():
    from layers import SoftmaxCrossEntropy
    quoted = re.search(r"`ValueError: (label -1 .*?)`", text_of("docs/layers.md")).group(1)
    with pytest.raises(ValueError) as caught:
        SoftmaxCrossEntropy().forward(np.zeros((3, 3)), np.array([0, 1, -1]))
    assert str(caught.value) == quoted


def normalise_run(text: str) -> str:
    """Hide what differs between runs of the same computation: the folder's date and the time taken."""
    text = re.sub(r"runs/\d{8}-\d{6}", "runs/<date>-<time>", text)
    return re.sub(r"\(\d+\.\d s of training\)", "(<seconds> s of training)", text)


@pytest.mark.slow
def test_the_default_train_py_run_prints_what_the_manual_shows_and_reaches_97_percent(tmp_path):
    """`python train.py` exactly as in the quick start: the question's setup, with its progress bar."""
    result = run([sys.executable, str(ROOT / "train.py")], tmp_path)
    manual = text_of("docs/train.md")
    (_, shown), = [block for block in blocks_after("# `train.py`", manual)
                   if block[1].startswith("data ")]
    assert_same_output(normalise_run(result.stdout), normalise_run(shown), tolerance=2e-4)
    summary = result.stdout.strip().splitlines()[-1]
    assert float(summary.split("train accuracy ")[1].split("%")[0]) >= 97.0
    assert "3000/3000" in result.stderr                      # the progress bar ran to the end
    [folder] = (tmp_path / "runs").iterdir()
    files = [".lock", "boundary.png", "checkpoint.npz", "config.json", "hidden.png", "history.csv",
             "loss.png"]
    assert sorted(p.name for p in folder.iterdir()) == files


@pytest.mark.slow
def test_the_three_worked_examples_print_the_summaries_the_manual_shows(tmp_path):
    manual = text_of("docs/train.md")
    (_, examples), = [block for block in blocks_after("## Flags", manual)
                      if block[1].startswith("# a deeper")]
    commands = [line for line in examples.splitlines() if line.startswith("python train.py")]
    summaries = [line[2:] for line in examples.splitlines() if line.startswith("# done")]
    assert len(commands) == len(summaries) == 3
    for number, (command, summary) in enumerate(zip(commands, summaries, strict=True)):
        args = command.split()[2:] + ["--no-progress", "--out", f"example{number}"]
        printed = run([sys.executable, str(ROOT / "train.py"), *args], tmp_path).stdout
        printed = printed.strip().splitlines()[-1]
        assert_same_output(normalise_run(printed), normalise_run(summary), tolerance=2e-4)
