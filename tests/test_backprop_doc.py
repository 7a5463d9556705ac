"""docs/backprop.md and docs/course_loop.md cannot drift from the code: every citation resolves, every
formula number exists, every loop statement quoted is one the course loop runs.

A citation is a link whose text is a backticked symbol, optionally followed by a formula number:
[`Linear.backward` (1)](../layers/linear.py). The module comes from the link's file, the symbol is a
qualified name in it, and the number must appear both in a docstring, as a listed "(n) ..." formula
(the method's or its class's), and as a "# (n)" comment in the method's source.
"""

import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from layers import (
    BatchNorm1d,
    Dropout,
    LeakyReLU,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Standardize,
    Tanh,
)
from layers.base import Layer, Loss
from training.course_loop import course_step

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC = (DOCS / "backprop.md").read_text(encoding="utf-8")
COURSE_DOC = (DOCS / "course_loop.md").read_text(encoding="utf-8")
PAGES = {"backprop.md": DOC, "course_loop.md": COURSE_DOC}
CITATION = re.compile(r"\[`([A-Za-z_][\w.]*)(?<!\.py)`(?: \((\d+)\))?\]\(([^)\s]+\.py)\)")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w/.])((?:[\w-]+/)*[\w-]+\.(?:py|png|md))\b")
FORMULA_CLASSES = (Linear, ReLU, LeakyReLU, Tanh, Sigmoid, Dropout, BatchNorm1d, Standardize,
                   SoftmaxCrossEntropy, MSELoss)
REQUIRED = {
    ("SoftmaxCrossEntropy.backward", "1"),      # p − onehot(y), and the 1/N
    ("Linear.backward", "1"),                   # dW = xᵀ dy
    ("Linear.backward", "2"),                   # the bias gradient, a sum over the batch
    ("Linear.backward", "3"),                   # dx = dy Wᵀ
    ("ReLU.backward", "1"),                     # the switch
    ("SGD.update", "4"),                        # the update
    ("Sequential.backward", None),              # the chain rule
}


def citations(text: str) -> list[tuple[str, str | None, str]]:
    """(qualname, formula number or None, module) for every citation in ``text``."""
    found = []
    for qualname, number, target in CITATION.findall(text):
        relative = (DOCS / target).resolve().relative_to(ROOT).with_suffix("")
        found.append((qualname, number or None, ".".join(relative.parts)))
    return found


def citation_problems(qualname: str, number: str | None, module_name: str) -> list[str]:
    """What is wrong with one citation; empty when it holds."""
    try:
        symbol = importlib.import_module(module_name)
    except ImportError:
        return [f"no module {module_name}"]
    owners = []
    for part in qualname.split("."):
        owners.append(symbol)
        symbol = getattr(symbol, part, None)
        if symbol is None:
            return [f"{module_name} has no {qualname}"]
    if number is None:
        return []
    problems = []
    docstrings = [inspect.getdoc(symbol) or ""] + [inspect.getdoc(owner) or "" for owner in owners[1:]]
    if not any(re.search(rf"^\s*\({number}\) ", doc, re.M) for doc in docstrings):
        problems.append(f"no formula ({number}) listed in the docstring of {qualname} or its class")
    if not re.search(rf"#\s*\({number}\)", inspect.getsource(symbol)):
        problems.append(f"no '# ({number})' comment in the source of {qualname}")
    return problems


@pytest.mark.parametrize("page", PAGES)
def test_every_citation_resolves_to_a_numbered_formula_in_the_code(page):
    found = citations(PAGES[page])
    assert len(found) >= (len(REQUIRED) if page == "backprop.md" else 1)
    problems = [f"{qualname} ({number}): {problem}" for qualname, number, module in found
                for problem in citation_problems(qualname, number, module)]
    assert not problems


def test_the_citations_cover_every_step_of_the_derivation():
    cited = {(qualname, number) for qualname, number, _ in citations(DOC)}
    assert REQUIRED <= cited, REQUIRED - cited


@pytest.mark.parametrize("qualname, number, module", [
    ("Linear.backward", "4", "layers.linear"),          # no such formula
    ("Linear.backwards", "1", "layers.linear"),         # no such method
    ("ReLU.backward", "1", "layers.linear"),            # the wrong file
    ("SGD.step", "4", "optim.sgd"),                     # (4) is listed, but computed in update
])
def test_the_checker_catches_a_drifted_citation(qualname, number, module):
    assert citation_problems(qualname, number, module)


@pytest.mark.parametrize("page", PAGES)
def test_every_file_the_doc_mentions_exists_inside_the_repository(page):
    text = PAGES[page]
    targets = [t for t in LINK_TARGET.findall(text) if not t.startswith(("http:", "https:", "#"))]
    missing = [t for t in targets if not (DOCS / t.split("#")[0]).exists()]
    outside = [t for t in targets if not (DOCS / t.split("#")[0]).resolve().is_relative_to(ROOT)]
    missing += [p for p in PATH.findall(text) if not ((ROOT / p).exists() or (DOCS / p).exists())]
    assert not missing
    assert not outside


@pytest.mark.parametrize("page", PAGES)
def test_the_loop_statements_quoted_are_the_ones_the_course_loop_runs(page):
    source = inspect.getsource(course_step)
    prose = re.sub(r"```.*?```", "", PAGES[page], flags=re.S)
    assignments = [span for span in re.findall(r"`([^`\n]+)`", prose)
                   if re.match(r"^[\w\[\], ()<=]+ (?:=|\+=|-=|/=) \S", span)]
    assert len(assignments) >= (10 if page == "backprop.md" else 0)
    assert [span for span in assignments if span not in source] == []


def test_the_course_loop_page_shows_the_loop_course_step_runs():
    """Every line of course_step's body, comments included, in the page's program and in order."""
    body = inspect.getsource(course_step).split('"""')[2].split("    return {")[0]
    statements = [line.strip() for line in body.splitlines() if line.strip()]
    program = re.search(r"```python\n(.*?)```", COURSE_DOC, re.S).group(1)
    program = [line.strip() for line in program.splitlines()]
    positions = [program.index(statement) if statement in program else -1 for statement in statements]
    assert len(statements) >= 25
    assert -1 not in positions, statements[positions.index(-1)]
    assert positions == sorted(positions)


def test_backprop_links_the_course_loop_page():
    assert "](course_loop.md)" in DOC
    assert "https://cs231n.github.io/neural-networks-case-study/" in COURSE_DOC


def test_the_doc_points_to_the_walkthrough_and_embeds_the_figure():
    assert "python explain.py" in DOC and "python explain.py --small" in DOC
    assert "](backprop_graph.png)" in DOC
    assert "python docs/backprop_graph.py" in DOC


def test_the_figure_script_draws_the_committed_figure(tmp_path):
    out = tmp_path / "graph.png"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(DOCS / "backprop_graph.py"), str(out)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    drawn, committed = matplotlib.image.imread(out), matplotlib.image.imread(DOCS / "backprop_graph.png")
    assert drawn.shape == committed.shape
    assert drawn.std() > 0.05
    # stacked, not a strip: a page shows it 900 px wide, so a 4:1 strip's labels would shrink to ~5 px
    height, width = committed.shape[:2]
    assert width < 1.5 * height


@pytest.mark.parametrize("part", FORMULA_CLASSES, ids=lambda part: part.__name__)
def test_each_parts_formulas_as_data_are_its_docstrings(part):
    """FORWARD and FORMULAS, which explain.py prints, say what the docstring says: one source."""
    doc = part.__doc__
    assert f": {part.FORWARD}" in doc.splitlines()[0]
    for number, formula in part.FORMULAS.items():
        assert f"      ({number}) {formula}" in doc
        assert re.search(rf"#\s*\({number}\)", inspect.getsource(part.backward))


def test_every_layer_with_numbered_formulas_has_them_as_data():
    parts = Layer.__subclasses__() + Loss.__subclasses__()
    assert {part for part in parts if "(1) ∂L/∂" in (part.__doc__ or "")} <= set(FORMULA_CLASSES)
