"""The exercises a learner works in (exercises/*.py, notebooks/exercises.ipynb) and their solutions.

Untouched, each exercise file runs from the repository root, says what to do and exits 0. Each
solution passes the checker, runs the same way, and computes what the course loop computes
(training/course_loop.py) and what the parts compute (layers/). The notebook's blanks are the files'
blanks; run with the solutions filled in, every check cell passes (slow, like tests/test_notebook.py).
"""

import ast
import importlib
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from exercises import check_backward, check_layer
from exercises.solutions import layer_backward, loop_backward, loop_backward_reg
from layers import Linear, ReLU, SoftmaxCrossEntropy
from tests.helpers import ROOT
from training.course_loop import course_step

FILES = ["loop_backward", "loop_backward_reg", "layer_backward"]
LAYERS = {"MyLinear": Linear, "MyReLU": ReLU, "MySoftmaxCrossEntropy": SoftmaxCrossEntropy}
NOTEBOOK = ROOT / "notebooks" / "exercises.ipynb"
NOTHING_YET = "nothing to check yet"      # the checker's answer to a blank (docs/exercises.md)


def run_file(path) -> subprocess.CompletedProcess:
    """``python <path>`` from the repository root, as the README says, with this checkout importable."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def definitions(path) -> dict[str, ast.AST]:
    """The top-level functions and classes of a file, by name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}


def source_of(path, name) -> str:
    return ast.get_source_segment(path.read_text(encoding="utf-8"), definitions(path)[name])


# The files ------------------------------------------------------------------------------------

def test_no_exercise_file_hides_a_package_when_run_as_a_script():
    """`python exercises/x.py` puts exercises/ first on sys.path: a file there named like a package
    (layers.py, say) would be imported in its place, by the file itself and by the checker."""
    packages = {init.parent.name for init in ROOT.glob("*/__init__.py")}
    files = {path.stem for path in (ROOT / "exercises").rglob("*.py")}
    assert packages and files & packages == set()


@pytest.mark.parametrize("name", FILES)
def test_an_untouched_exercise_file_says_what_to_do_and_exits_0(name):
    result = run_file(ROOT / "exercises" / f"{name}.py")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert NOTHING_YET in result.stdout
    assert all(len(line) <= 100 for line in result.stdout.splitlines()), result.stdout


@pytest.mark.parametrize("name", FILES)
def test_a_solution_file_runs_passes_and_exits_0(name):
    result = run_file(ROOT / "exercises" / "solutions" / f"{name}.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "" and result.stdout.strip() and NOTHING_YET not in result.stdout
    assert all(len(line) <= 100 for line in result.stdout.splitlines()), result.stdout


def filled_in(name: str, *, drop: str | None = None) -> str:
    """The loop exercise file ``name`` with the solution's statements pasted under its given first
    line, as a learner would, less any line containing ``drop`` (a planted slip)."""
    blank = (ROOT / "exercises" / f"{name}.py").read_text(encoding="utf-8")
    solved = source_of(ROOT / "exercises" / "solutions" / f"{name}.py", "backward")
    body = solved.split("num_examples = X.shape[0]\n", 1)[1].splitlines(keepends=True)
    return blank.replace("    return {}\n", "".join(line for line in body if not drop or drop not in line))


@pytest.mark.parametrize(("name", "drop", "named"), [
    ("loop_backward", None, None),
    ("loop_backward", "dscores /= num_examples", "dscores-missing-divide-by-N"),
    ("loop_backward_reg", "dW += reg * W", "reg-missing"),
])
def test_an_exercise_file_filled_in_runs_its_check_exit_1_naming_a_slip(name, drop, named, tmp_path):
    path = tmp_path / f"{name}.py"
    path.write_text(filled_in(name, drop=drop), encoding="utf-8")
    result = run_file(path)
    assert result.stderr == "" and NOTHING_YET not in result.stdout
    assert result.returncode == (1 if drop else 0), result.stdout
    assert named is None or named in result.stdout


@pytest.mark.parametrize("name", FILES)
def test_a_solution_is_its_exercise_with_the_blank_filled_in(name):
    """Same functions and classes, same signatures and docstrings: only the bodies differ."""
    blank = definitions(ROOT / "exercises" / f"{name}.py")
    solved = definitions(ROOT / "exercises" / "solutions" / f"{name}.py")
    assert blank.keys() == solved.keys()
    for key, node in blank.items():
        assert ast.get_docstring(node) == ast.get_docstring(solved[key]), key
        if isinstance(node, ast.FunctionDef):
            assert ast.dump(node.args) == ast.dump(solved[key].args), key


def test_the_loop_exercises_start_with_the_loops_first_line_and_return_nothing_yet():
    for name in FILES[:2]:
        backward = importlib.import_module(f"exercises.{name}").backward
        body = definitions(ROOT / "exercises" / f"{name}.py")["backward"].body
        assert ast.unparse(body[1]) == "num_examples = X.shape[0]"          # body[0]: the docstring
        X, y, weights, hidden_layer, probs = course_inputs(np.random.default_rng(0))
        reg = {"reg": 1e-3} if name.endswith("reg") else {}
        assert backward(X, y, *weights.values(), hidden_layer, probs, **reg) == {}


@pytest.mark.parametrize("folder", ["exercises", "exercises/solutions"])
def test_each_layer_exercise_shows_its_parts_numbered_formulas(folder):
    module = layer_exercises(folder)
    for name, part in LAYERS.items():
        doc = getattr(module, name).__doc__
        assert getattr(module, name).__mro__[1] is part
        for number, formula in part.FORMULAS.items():
            assert f"({number}) {formula}" in doc, (name, number)


def layer_exercises(folder):
    return importlib.import_module(folder.replace("/", ".") + ".layer_backward")


# The solutions against the checker, the loop and the parts --------------------------------------

@pytest.mark.parametrize("backward", [loop_backward.backward, loop_backward_reg.backward],
                         ids=["loop_backward", "loop_backward_reg"])
def test_the_loop_solutions_pass_the_checker(backward):
    report = check_backward(backward)
    assert report.passed and report.findings == [], str(report)


@pytest.mark.parametrize("name", LAYERS)
def test_the_layer_solutions_pass_the_checker(name):
    report = check_layer(getattr(layer_backward, name))
    assert report.passed and report.findings == [], str(report)


def course_inputs(rng, n=12, d=3, h=6, k=4):
    """X, y, the weights (biases not zero, so that some units are off), and the loop's forward:
    hidden_layer and probs, computed by the loop's statements."""
    X, y = rng.standard_normal((n, d)), rng.permutation(np.arange(n) % k)
    weights = {"W": rng.standard_normal((d, h)), "b": 0.5 * rng.standard_normal(h),
               "W2": rng.standard_normal((h, k)), "b2": 0.5 * rng.standard_normal(k)}
    hidden_layer = np.maximum(0, np.dot(X, weights["W"]) + weights["b"])
    scores = np.dot(hidden_layer, weights["W2"]) + weights["b2"]
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    return X, y, weights, hidden_layer, probs


@pytest.mark.parametrize(("backward", "reg"), [(loop_backward.backward, 0.0),
                                               (loop_backward_reg.backward, 1e-3),
                                               (loop_backward_reg.backward, 0.7)])
def test_the_loop_solutions_compute_every_quantity_the_course_loop_computes(backward, reg):
    X, y, weights, hidden_layer, probs = course_inputs(np.random.default_rng(3))
    assert 0 < np.mean(hidden_layer > 0) < 1
    loop = course_step(X, y, *(w.copy() for w in weights.values()), step_size=0.0, reg=reg)
    given = {"reg": reg} if reg else {}
    solved = backward(X, y, *weights.values(), hidden_layer, probs, **given)
    assert set(solved) == {"dscores", "dW2", "db2", "dhidden", "dW", "db"}
    for name, value in solved.items():
        np.testing.assert_allclose(value, loop[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", LAYERS)
def test_the_layer_solutions_compute_what_the_parts_compute_and_change_no_input(name):
    rng = np.random.default_rng(5)
    x, y, dy = rng.standard_normal((7, 4)), np.arange(7) % 3, rng.standard_normal((7, 3))
    if name == "MySoftmaxCrossEntropy":
        parts, mine = SoftmaxCrossEntropy(), layer_backward.MySoftmaxCrossEntropy()
        for loss in (parts, mine):
            loss.forward(x[:, :3], y)
        first, twice = mine.backward(), mine.backward()      # its cache P is left as it was
        np.testing.assert_allclose(first, parts.backward(), rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(first, twice)
        return
    if name == "MyLinear":
        parts, mine = Linear(4, 3, rng=1), layer_backward.MyLinear(4, 3, rng=1)
        for layer in (parts, mine):
            layer.params["b"][...] = [0.3, -0.2, 0.1]
    else:
        parts, mine, dy = ReLU(), layer_backward.MyReLU(), dy @ rng.standard_normal((3, 4))
    before = dy.copy()
    np.testing.assert_allclose(mine(x), parts(x))
    np.testing.assert_allclose(mine.backward(dy), parts.backward(dy), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(dy, before)
    for key in parts.grads:
        np.testing.assert_allclose(mine.grads[key], parts.grads[key], rtol=1e-12, atol=1e-15, err_msg=key)


# The notebook ------------------------------------------------------------------------------------

def notebook_cells():
    import json
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def exercise_cells(cells) -> list[tuple[int, str, str]]:
    """(index, file, name) of each exercise cell: metadata "exercise" is "<file>.<name>"."""
    return [(number, *cell["metadata"]["exercise"].split("."))
            for number, cell in enumerate(cells) if "exercise" in cell.get("metadata", {})]


def test_the_notebook_holds_the_files_blanks_each_with_a_check_cell_and_is_committed_blank():
    cells = notebook_cells()
    exercises = exercise_cells(cells)
    assert [(file, name) for _, file, name in exercises] == [
        ("loop_backward", "backward"), ("loop_backward_reg", "backward"),
        *(("layer_backward", name) for name in LAYERS)]
    for number, file, name in exercises:
        assert "".join(cells[number]["source"]) == source_of(ROOT / "exercises" / f"{file}.py", name)
        check = "".join(cells[number + 1]["source"])
        assert f"check_backward({name})" in check or f"check_layer({name})" in check
    assert all(not cell.get("outputs") for cell in cells if cell["cell_type"] == "code")


MISSING = [name for name in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(name) is None]


def run_notebook(tmp_path, monkeypatch, fill: bool) -> list[str]:
    """Execute a copy of the notebook (its exercise cells filled with the solutions if ``fill``);
    return what each check cell printed, with a line "passed: True/False" added after it."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))         # the kernel imports this checkout's packages
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    checks = []
    for number, file, name in exercise_cells(notebook.cells):
        if fill:
            notebook.cells[number].source = source_of(ROOT / "exercises" / "solutions" / f"{file}.py", name)
        check = notebook.cells[number + 1]
        check.source += "\nprint('passed:', report.passed)" if "report =" in check.source else ""
        checks.append(check)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()   # raises on an error
    return ["".join(output.get("text", "") for output in cell.outputs) for cell in checks]


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"needs the notebook extra (pip install -e '.[notebook]'): "
                                          f"{', '.join(MISSING)} not installed")
def test_the_notebook_with_the_solutions_filled_in_passes_every_check(tmp_path, monkeypatch):
    printed = run_notebook(tmp_path, monkeypatch, fill=True)
    assert len(printed) == 5
    for text in printed:
        assert text.rstrip().endswith("passed: True") and NOTHING_YET not in text, text


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"needs the notebook extra (pip install -e '.[notebook]'): "
                                          f"{', '.join(MISSING)} not installed")
def test_the_blank_notebook_runs_and_each_check_says_what_to_do(tmp_path, monkeypatch):
    printed = run_notebook(tmp_path, monkeypatch, fill=False)
    assert len(printed) == 5
    for text in printed:
        assert NOTHING_YET in text and text.rstrip().endswith("passed: False"), text
        assert all(len(line) <= 100 for line in text.splitlines()), text
