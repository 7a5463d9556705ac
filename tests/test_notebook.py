"""notebooks/from_loop_to_parts.ipynb runs from scratch without an error, in under a minute, and its
committed outputs are the ones a fresh run makes (apart from rounding-level differences).

After changing the notebook (or what it shows), commit it with fresh outputs:
``jupyter execute --inplace notebooks/from_loop_to_parts.ipynb`` (the notebook extra installs it).
"""

import importlib.util
import json
import re
import time

import pytest

from tests.helpers import ROOT

NOTEBOOK = ROOT / "notebooks" / "from_loop_to_parts.ipynb"
MISSING = [name for name in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(name) is None]
# Differences at rounding level (1e-16, a gradient check's 1e-9) depend on the BLAS build: hidden.
ROUNDING = re.compile(r"\d\.\de[-+]\d\d")


def outputs_of(cell) -> list[tuple[str, str]]:
    """Each output as (kind, what it shows): its text, or for pictures their kinds only. Consecutive
    stream outputs are one text: how the kernel cuts what a cell prints into messages depends on
    timing (a busy machine can split one print into two)."""
    shown = []
    for output in cell.get("outputs", []):
        text = "".join(output.get("text", ""))          # raw JSON may hold it as a list of lines
        if output["output_type"] == "stream" and shown and shown[-1][0] == f"stream {output['name']}":
            shown[-1] = (shown[-1][0], shown[-1][1] + text)
        elif output["output_type"] == "stream":
            shown.append((f"stream {output['name']}", text))
        elif output["output_type"] == "error":
            shown.append(("error", f"{output['ename']}: {output['evalue']}"))
        else:
            shown.append((output["output_type"], " ".join(sorted(output.get("data", {})))))
    return [(kind, ROUNDING.sub("#", text) if kind.startswith("stream") else text) for kind, text in shown]


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"needs the notebook extra (pip install -e '.[notebook]'): "
                                          f"{', '.join(MISSING)} not installed")
def test_the_notebook_runs_from_scratch_and_shows_its_committed_outputs(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", str(ROOT))         # the kernel imports this checkout's packages
    committed = nbformat.read(NOTEBOOK, as_version=4)
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(fresh, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()   # raises on an error
    assert time.perf_counter() - started < 60
    code = [(old, new) for old, new in zip(committed.cells, fresh.cells, strict=True)
            if old.cell_type == "code"]
    assert any(old.get("outputs") for old, _ in code), "the notebook is committed without its outputs"
    for number, (old, new) in enumerate(code):
        assert outputs_of(new) == outputs_of(old), f"code cell {number} shows other outputs than committed"
    pictures = [kind for old, _ in code for _, kind in outputs_of(old) if "image/" in kind]
    assert any("image/gif" in kind for kind in pictures) and any("image/png" in kind for kind in pictures)


def test_the_notebook_is_committed_small():
    assert NOTEBOOK.stat().st_size < 400_000


def test_the_mapping_cells_show_whole_formulas_and_both_compared_values():
    """Cell 11 cut formulas at 24 characters (`5  L = (1/N) Σ_n −log P[n,`); cell 13 stopped before the
    parts' dS, the value the loop's step 6 by hand is compared with."""
    from training.walkthrough import walk_through

    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]     # read as JSON: no extra needed
    shown = {"".join(cell["source"]).split("\n")[0]: "".join(text for _, text in outputs_of(cell))
             for cell in cells if cell["cell_type"] == "code"}
    mapping = shown["from training import walkthrough"]
    assert all(f" {row.quantity.formula} " in mapping for row in walk_through(small=True)[0])
    step6 = shown['first = next(i for i, line in enumerate(lines) if "step 6 by hand" in line)']
    assert "(d) probs after line 12" in step6 and "parts loss_fn: SoftmaxCrossEntropy.backward (1)" in step6
    assert max(len(line) for line in (mapping + step6).splitlines()) <= 100
