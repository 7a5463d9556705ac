"""The house's weight: code lines, file sizes, import circles, what `import` loads, fit's size and calls.

Run from the repository root:  python -m benchmarks.house

Code lines are lines that hold code: not blank, not a comment, not a docstring. They are counted in
every .py file outside tests/, benchmarks/, docs/, examples/, notebooks/ and exercises/. The limits
printed beside each figure are the small house's (2,400 code lines, issue 27's budget after issue 24's
2,100; no such file over 300 lines except explain.py, at most 450; train.py at most 250,
layers/gradcheck.py at most 200; fit at most 12 parameters; fit's unchunked full-batch step at most
twice the Python calls of the same step written by hand with the parts).
"""

from __future__ import annotations

import ast
import cProfile
import inspect
import io
import pstats
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = {"tests", "benchmarks", "docs", "examples", "notebooks", "exercises", "build", "dist"}
PACKAGES = ("checks", "layers", "models", "optim", "data", "training", "exercises")


def counted_files() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py")
                  if not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
                  and path.relative_to(ROOT).parts[0] not in OUTSIDE)


def code_lines(path: Path) -> int:
    """Lines holding a token that is neither a comment nor part of a docstring."""
    source = path.read_text(encoding="utf-8")
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skip:
            lines.update(line for line in range(token.start[0], token.end[0] + 1) if line not in docstrings)
    return len(lines)


def imports_of(path: Path) -> set[str]:
    """The project's packages a file imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
        found.update(name for name in names if name.split(".")[0] in PACKAGES)
    return found


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_circles(files: list[Path]) -> list[list[str]]:
    """Circles among the project's modules (a module importing a package imports its __init__)."""
    graph = {module_name(path): imports_of(path) for path in files if path.parts[-2] != ROOT.name}
    circles, done = [], set()

    def visit(module, trail):
        if module in trail:
            circle = trail[trail.index(module):]
            first = circle.index(min(circle))               # each circle once, from its first name
            circle = circle[first:] + circle[:first]
            if circle + [circle[0]] not in circles:
                circles.append(circle + [circle[0]])
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, trail + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return circles


def calls_per_step(function, steps: int) -> float:
    profile = cProfile.Profile()
    profile.runcall(function, steps)
    return pstats.Stats(profile).total_calls / steps


def step_calls() -> tuple[float, float]:
    """Python-level calls per unchunked full-batch step: fit's, and the four lines written by hand."""
    import numpy as np

    from data import make_spiral
    from layers import Linear, ReLU, SoftmaxCrossEntropy
    from models import Sequential
    from optim import SGD
    from training import TrainingState, fit

    X, y = make_spiral(n_per_class=400, n_classes=2, noise=0.5, rng=0)
    rng = np.random.default_rng(0)
    model = Sequential(Linear(2, 1000, rng=rng), ReLU(), Linear(1000, 2, rng=rng))
    loss_fn, optimizer = SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0)

    def by_hand(steps):
        for _ in range(steps):
            loss_fn.forward(model.forward(X), y)
            model.backward(loss_fn.backward())
            optimizer.step()

    def with_fit(steps):
        fit(model, loss_fn, optimizer, X, y, steps=steps, log_every=10**9,
            state=TrainingState(chunk_size=None))

    with_fit(1)                                                 # first calls: caches filled, imports done
    by_hand(1)
    one_call = calls_per_step(with_fit, 1)                      # a call's setup and closing row, and 1 step
    per_step = (calls_per_step(with_fit, 41) * 41 - one_call) / 40
    return per_step, calls_per_step(by_hand, 40)


def line(label: str, value, limit=None) -> None:
    verdict = "" if limit is None else f"   limit {limit}: {'met' if value <= limit else 'MISSED'}"
    print(f"  {label:<58s} {value!s:>8}{verdict}")


def main() -> None:
    files = counted_files()
    sizes = {path: len(path.read_text(encoding="utf-8").splitlines()) for path in files}
    print("The house, outside tests/, benchmarks/, docs/, examples/, notebooks/ and exercises/:")
    line("code lines (not blank, comment or docstring)", sum(map(code_lines, files)), 2400)
    for name, limit in (("train.py", 250), ("explain.py", 450), ("layers/gradcheck.py", 200)):
        line(f"{name} (wc -l)", sizes.get(ROOT / name, 0), limit)
    big = [f"{path.relative_to(ROOT)} ({n})" for path, n in sizes.items()
           if n > 300 and path.name not in ("explain.py", "train.py")]
    line("other files over 300 lines", len(big), 0)
    for name in big:
        print(f"    {name}")
    circles = import_circles(files)
    line("import circles", len(circles), 0)
    for circle in circles:
        print("    " + " -> ".join(circle))
    loaded = subprocess.run([sys.executable, "-c", "import layers, models, optim, data; import sys; "
                             "print('matplotlib' in sys.modules)"], capture_output=True, text=True, cwd=ROOT)
    print(f"  {'import layers, models, optim, data loads matplotlib':<58s} {loaded.stdout.strip():>8}"
          "   expected False")
    installed = "py-modules" in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    print(f"  {'scripts installed as modules (pyproject.toml: py-modules)':<58s} {installed!s:>8}"
          "   expected False")
    from training import fit
    line("fit's parameters", len(inspect.signature(fit).parameters), 12)
    fit_calls, hand_calls = step_calls()
    line("Python calls per unchunked step: fit", round(fit_calls))
    line("Python calls per step: the four lines by hand", round(hand_calls))
    line("fit / by hand", round(fit_calls / hand_calls, 2), 2)


if __name__ == "__main__":
    main()
