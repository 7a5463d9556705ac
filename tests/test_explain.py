"""explain.py's walkthrough: every quantity of one step, loop against parts, equal to rounding; each shown
with the loop's lines and the part's formula (read from its class); a planted bug fails it."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import explain
from layers import Linear, ReLU, SoftmaxCrossEntropy
from tests.helpers import ROOT
from training import walkthrough
from training.walkthrough import LISTING, QUANTITIES, compare, line_of, walk_through

# the quantities the learner named, as the walkthrough's rows name them (the loop's names), in order
NAMED = ("dscores", "dW2", "db2", "dhidden", "mask", "dhidden, masked", "dW", "db", "W", "b", "W2", "b2")
TITLE = re.compile(r"^ ?(\d+)    (\S.{16})(.{40})\s*(\[[\d x]+\]|scalar)  (\S+)", re.M)


def run_explain(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "explain.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, encoding="utf-8", timeout=120)


@pytest.fixture(scope="module", params=[False, True], ids=["question", "small"])
def walk(request):
    return walk_through(request.param)


def test_the_script_runs_both_modes_and_exits_0():
    for args in ((), ("--small",)):
        result = run_explain(*args)
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        assert "all 17 differences ≤ 1e-12, and ≤ 1e-10 relative" in result.stdout


def test_every_difference_is_at_rounding_level(walk):
    rows, lines = walk
    assert len(rows) == len(QUANTITIES) == 17
    assert all(row.ok and row.difference <= 1e-12 for row in rows), [(r.quantity.name, r.difference)
                                                                      for r in rows]
    printed = [float(match[4]) for match in TITLE.findall("\n".join(lines))]
    assert printed == pytest.approx([row.difference for row in rows], rel=0.06, abs=0)


def test_every_named_quantity_appears_in_backprop_order_with_its_shape(walk):
    rows, lines = walk
    titles = [(name.strip(), shape) for _, name, _, shape, _ in TITLE.findall("\n".join(lines))]
    names = [name for name, _ in titles]
    assert names[names.index("dscores"):] == list(NAMED)
    n, h = (4, 3) if len(rows[0].loop) == 4 else (800, 1000)
    shapes = dict(titles)
    assert (shapes["dscores"], shapes["dW2"], shapes["dhidden"], shapes["db"], shapes["W"]) == (
        f"[{n} x 2]", f"[{h} x 2]", f"[{n} x {h}]", f"[{h}]", f"[2 x {h}]")


def test_each_quantity_names_the_loops_lines_and_the_parts_formula_from_its_class(walk):
    text = "\n".join(walk[1])
    for statement in ("dscores = probs", "dscores[range(num_examples), y] -= 1", "dscores /= num_examples",
                      "dhidden[hidden_layer <= 0] = 0", "W += -step_size * dW", "b2 += -step_size * db2"):
        assert f"{line_of(statement):>2} | {statement}" in text
    for cited in (f"loss_fn: SoftmaxCrossEntropy.backward (1) {SoftmaxCrossEntropy.FORMULAS[1]}",
                  f"model[2]: Linear.backward (1) {Linear.FORMULAS[1]}",
                  f"Linear.backward (2) {Linear.FORMULAS[2]}", f"Linear.backward (3) {Linear.FORMULAS[3]}",
                  f"model[1]: ReLU.backward (1) {ReLU.FORMULAS[1]}", f"Linear.forward {Linear.FORWARD}",
                  "SGD.update (4) θ = θ − η·g"):
        assert cited in text


def test_lines_fit_a_100_column_terminal(walk):
    assert max(len(line) for line in walk[1]) <= 100


def test_the_loop_it_quotes_is_the_loop_it_runs():
    """Each quantity's statements are found in course_step's listing, and the listing is its body."""
    assert len(LISTING) == 24 and LISTING[9] == "dscores = probs"
    for q in QUANTITIES:                # the last statement of each computes the quantity, by its name
        statement = LISTING[line_of(q.loop[-1]) - 1]
        assert q.name.split(",")[0] in statement or q.key in ("0.y", "mask"), (q.name, statement)


def test_small_shows_the_aliasing_and_the_four_states_of_step_6_with_hand_checkable_numbers():
    text = "\n".join(walk_through(small=True)[1])
    step_6 = text[text.index("step 6 by hand"):text.index("\n 6    dscores")]
    assert "dscores is probs  ->  True" in step_6
    # P[0] = softmax(0.385, -0.175): P[0, 0] = 1 / (1 + e^-0.56) = 0.63645
    assert "(a) probs before line 11" in step_6 and "[[ 0.6365  0.3635]" in step_6
    assert "(b) onehot(y)" in step_6
    assert "[[1 0]\n           [1 0]\n           [0 1]\n           [0 1]]" in step_6
    after_minus = step_6[step_6.index("(c) probs after line 11"):step_6.index("(d)")]
    assert "[[-0.3635  0.3635]" in after_minus                      # 0.6365 − 1
    after_divide = step_6[step_6.index("(d) probs after line 12"):]
    assert "[[-0.0909  0.0909]" in after_divide                     # −0.3635 / 4
    assert "∂L/∂S[n, k] = (P[n, k] − 1[k = y_n]) / N" in step_6
    assert float(re.search(r"agree: relative error (\S+)  ok", step_6).group(1)) < 1e-7


def test_small_prints_every_hand_picked_number():
    text = "\n".join(walk_through(small=True)[1])
    assert "picked by hand (HAND in training/walkthrough.py)" in text
    assert "[[ 0.5000  1.0000]\n     [ 1.0000 -0.5000]" in text        # X
    assert "[[ 1.1000  0.5500 -0.2000]" in text                    # A[0] = 0.5·W[0] + 1.0·W[1] + b
    assert "..." not in text                                       # no value cut short
    assert not np.any(np.all(walkthrough.HAND["X"] == 0, axis=1))  # no point at the origin


ROW = re.compile(r"row +(\d+) \(class (\d)\)  \[ *(\S+) +(\S+)\]")


def test_the_question_shows_rows_of_both_classes_so_the_minus_one_lands_in_both_columns():
    text = "\n".join(walk_through()[1])
    step_6 = text[text.index("step 6 by hand"):text.index("\n 6    dscores")]
    probs = ROW.findall(step_6[step_6.index("(a)"):step_6.index("(b)")])
    minus = ROW.findall(step_6[step_6.index("(c)"):step_6.index("(d)")])
    assert [(n, k) for n, k, *_ in minus] == [("1", "0"), ("399", "0"), ("401", "1"), ("799", "1")]
    negative = [0 if float(a) < float(b) else 1 for _, _, a, b in minus]     # the column the −1 went to
    assert negative == [int(k) for _, k, _, _ in minus] == [0, 0, 1, 1]
    assert {p for _, _, *row in probs for p in row} - {"0.5000"}          # P is not 0.5 everywhere shown
    assert "[ 6.25e-04 -6.25e-04]" in text and "[-6.25e-04  6.25e-04]" in text    # dS = (0.5 − 1) / 800
    assert text.count("          ...\n") >= 2                  # the [1000 x 2] values cut short
    assert "reg = λ = 0: lines 8, 9, 19 and 20 add nothing here" in text


def test_the_update_is_shown_as_old_minus_lr_times_g_equals_new():
    text = "\n".join(walk_through()[1])
    updates = re.findall(r"(W2?|b2?)\[[\d, ]+\]:  (\S+) − 1\.0 · \(?([^ )]+)\)? = (\S+)", text)
    assert {name for name, *_ in updates} == {"W", "b", "W2", "b2"} and len(updates) >= 5
    for _, old, g, new in updates:
        assert float(old) - float(g) == pytest.approx(float(new), rel=1e-5, abs=1e-9)


def test_a_missing_relu_switch_fails_and_is_named(monkeypatch, capsys):
    monkeypatch.setattr(ReLU, "backward", lambda self, dy: dy * 1.0)
    assert explain.main(["--small"]) == 1
    captured = capsys.readouterr()
    failures = [line for line in captured.out.splitlines() if line.startswith("FAILED")]
    assert failures[0] == "FAILED: mask (step 9)" and "FAILED: dhidden, masked (step 9)" in failures
    assert captured.err.count("\n") == 1 and "first mask (step 9)" in captured.err


def test_a_forgotten_division_by_n_fails_and_is_named(monkeypatch, capsys):
    backward = SoftmaxCrossEntropy.backward
    monkeypatch.setattr(SoftmaxCrossEntropy, "backward", lambda self: backward(self) * len(self.probs))
    assert explain.main(["--small"]) == 1
    out = capsys.readouterr().out
    assert "TOO LARGE" in out
    assert next(line for line in out.splitlines() if line.startswith("FAILED")) == "FAILED: dscores (step 6)"


def test_an_error_of_float32_size_fails_although_it_is_below_1e_12(monkeypatch):
    """dH = dS W2ᵀ is about 1e-5 in the question's network, so rounding it through float32 changes it
    by less than 1e-12: only the relative bound sees that this is 1e-8 of it, not float64 rounding."""
    backward = Linear.backward
    monkeypatch.setattr(Linear, "backward",
                        lambda self, dy: backward(self, dy).astype(np.float32).astype(np.float64))
    row = {row.quantity.name: row for row in walk_through()[0]}["dhidden"]
    assert row.difference < 1e-12 and not row.ok


def test_a_shape_mismatch_or_a_nan_is_a_failure_not_a_pass():
    assert compare(np.zeros(3), np.zeros((1, 3))) == (float("inf"), False)
    assert not compare(np.array([np.nan]), np.array([np.nan]))[1]


def test_other_seeds_agree_too_and_the_global_random_state_is_untouched(capsys):
    before = np.random.get_state()[1].copy()
    assert explain.main(["--seed", "7"]) == 0          # --small is picked by hand: no seed
    assert "rng=7" in capsys.readouterr().out
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("argv", [["--seed", "-1"], ["--seed", "x"], ["--big"]])
def test_bad_flags_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        explain.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("explain.py: error:") and err.count("\n") == 1
