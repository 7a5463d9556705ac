"""explain.py: every quantity of one step, loop against parts, equal to rounding; a planted bug fails it."""

import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import explain
from layers import Linear, ReLU, SoftmaxCrossEntropy
from tests.helpers import ROOT
from training.course_loop import course_step

DIFFERENCE = re.compile(r"max \|loop − framework\| = (\S+)")
# the quantities the learner named, as explain.py's block titles name them (the loop's names)
NAMED = ("dscores", "dW2", "db2", "dhidden", "mask", "dhidden, masked", "dW", "db", "W", "b", "W2", "b2")


def run_explain(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "explain.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


@pytest.fixture(scope="module", params=[(), ("--small",)], ids=["question", "small"])
def result(request) -> subprocess.CompletedProcess:
    return run_explain(*request.param)


def block_titles(stdout: str) -> list[str]:
    """The loop name of every quantity block, in printed order: ' 7  dW2    dW2 = Hᵀ dS   [1000 x 2]'."""
    return [match.group(1).strip() for match in re.finditer(r"^[ \d]\d  (\S.{15}) \S.*[\]r]$", stdout, re.M)]


def test_exits_0_without_stderr(result):
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_every_difference_is_at_rounding_level(result):
    differences = [float(text) for text in DIFFERENCE.findall(result.stdout)]
    assert len(differences) == len(explain.FORWARD + explain.BACKWARD + explain.UPDATE) == 17
    assert all(d <= 1e-12 for d in differences), differences
    assert result.stdout.rstrip().splitlines()[-2].startswith(
        "all 17 differences ≤ 1e-12, and ≤ 1e-10 relative")


def test_every_named_quantity_appears_in_backprop_order(result):
    titles = block_titles(result.stdout)
    assert titles[titles.index("dscores"):] == list(NAMED)
    for statement in ("dscores = probs", "dscores[range(num_examples), y] -= 1", "dscores /= num_examples",
                      "dhidden[hidden_layer <= 0] = 0", "W += -step_size * dW", "b2 += -step_size * db2"):
        assert statement in result.stdout


def test_each_block_shows_formula_shape_and_framework_location(result):
    shapes = {"dscores": "[N x K]", "dW2": "[h x K]", "dhidden": "[N x h]", "db": "[h]", "W": "[2 x h]"}
    n, h = (800, 1000) if "n_per_class=400" in result.stdout else (4, 3)
    for name, shape in shapes.items():
        title = next(line for line in result.stdout.splitlines()
                     if re.match(rf"^[ \d]\d  {re.escape(name)} ", line))
        expected = shape.replace("N", str(n)).replace("h", str(h)).replace("K", "2")
        assert title.endswith(expected), title
    for where in ("SoftmaxCrossEntropy.backward (1)", "Linear.backward (1)", "Linear.backward (2)",
                  "Linear.backward (3)", "ReLU.backward (1)", "SGD.update (4)"):
        assert where in result.stdout


def test_lines_fit_a_100_column_terminal(result):
    too_long = [line for line in result.stdout.splitlines() if len(line) > 100]
    assert not too_long


def test_small_shows_the_numbers_the_aliasing_and_the_minus_one_over_n():
    stdout = run_explain("--small").stdout
    assert "dscores is probs  ->  True" in stdout
    assert "probs before" in stdout and "probs after" in stdout
    assert "∂L/∂S[n, k]   = (P[n, k] − 1[k = y_n]) / N" in stdout
    relative_error = float(re.search(r"relative error (\S+)", stdout).group(1))
    assert relative_error < 1e-7
    # every quantity's value is printed: 17 blocks, plus X, y and the four starting weights
    assert stdout.count("\n    max |loop") == 17
    assert len(re.findall(r"^ +\[", stdout, re.M)) >= 17 + 6 + 2


def test_the_loop_side_aliases_probs_as_the_loop_does():
    walk = explain.walk_through(explain.SMALL)
    assert walk.loop["dscores is probs"] is True
    np.testing.assert_array_equal(walk.loop["probs after step 6"], walk.loop["dS"])
    n = walk.X.shape[0]
    onehot = np.eye(2)[walk.y]
    np.testing.assert_allclose(walk.loop["dS"], (walk.loop["P"] - onehot) / n, rtol=0, atol=1e-15)


def test_a_missing_relu_switch_fails_and_is_named(monkeypatch, capsys):
    monkeypatch.setattr(ReLU, "backward", lambda self, dy: dy * 1.0)
    assert explain.main(["--small"]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAILED")]
    assert failures[0].startswith("FAILED: mask ") and "step 9" in failures[0] and "1.0e+00" in failures[0]
    assert any(line.startswith("FAILED: dhidden, masked") for line in failures)


def test_a_forgotten_division_by_n_fails_and_is_named(monkeypatch, capsys):
    backward = SoftmaxCrossEntropy.backward
    monkeypatch.setattr(SoftmaxCrossEntropy, "backward", lambda self: backward(self) * len(self.probs))
    assert explain.main(["--small"]) == 1
    out = capsys.readouterr().out
    assert "TOO LARGE" in out
    assert next(line for line in out.splitlines() if line.startswith("FAILED")).startswith("FAILED: dscores")


def test_an_error_of_float32_size_fails_although_it_is_below_1e_12(monkeypatch):
    """dH = dS W2ᵀ is about 1e-5 in the question's network, so rounding it through float32 changes it
    by less than 1e-12: only the relative bound sees that this is 1e-8 of it, not float64 rounding."""
    backward = Linear.backward
    monkeypatch.setattr(Linear, "backward",
                        lambda self, dy: backward(self, dy).astype(np.float32).astype(np.float64))
    rows = {row.quantity.name: row for row in explain.walk_through().rows}
    assert rows["dhidden"].difference < 1e-12
    assert rows["dhidden"].relative > 1e-9 and not rows["dhidden"].ok
    assert explain.main([]) == 1


def test_a_shape_mismatch_is_a_failure_not_a_broadcast():
    quantity = explain.BACKWARD[2]
    row = explain.Row(quantity, np.zeros(3), np.zeros((1, 3)))
    assert row.difference == float("inf") and not row.ok
    assert not explain.Row(quantity, np.array([np.nan]), np.array([np.nan])).ok


def test_the_walkthrough_quotes_the_loop_it_runs():
    source = inspect.getsource(course_step)
    for quantity in explain.FORWARD + explain.BACKWARD + explain.UPDATE:
        for statement in quantity.loop:
            code = statement.split("   ")[0].strip()       # what follows three spaces is a remark
            assert code in source, (quantity.name, code)


def test_other_seeds_agree_too_and_the_global_random_state_is_untouched(capsys):
    before = np.random.get_state()[1].copy()
    assert explain.main(["--seed", "7"]) == 0          # --small is picked by hand: no seed
    assert "rng=7" in capsys.readouterr().out
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--seed", "x"], ["--big"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        explain.main(argv)
    assert exit_info.value.code == 2
    assert "explain.py: error:" in capsys.readouterr().err
