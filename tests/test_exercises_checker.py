"""The exercises' checker (exercises/checker.py): every catalogue mistake, planted in the course loop's
backward, is named with its quantity; correct spellings pass in float64 and float32; errors, wrong
shapes, NaN and empty answers get one clear message; unknown mistakes are described by pattern."""

import re

import numpy as np
import pytest

from exercises import check_backward, check_layer, main
from exercises.catalogue import BEHAVIOUR, LOOP, all_ids
from exercises.checker import GRADIENTS, REG, loop_inputs, predict, reference
from layers import Linear, ReLU, SoftmaxCrossEntropy, Tanh
from tests.helpers import ROOT

LOOP_SOURCE = '''\
import numpy as np


def backward(X, y, W, b, W2, b2, hidden_layer, probs{signature}):
    num_examples = X.shape[0]
    dscores = probs
    dscores[range(num_examples), y] -= 1
    dscores /= num_examples
    dW2 = np.dot(hidden_layer.T, dscores)
    db2 = np.sum(dscores, axis=0)
    dhidden = np.dot(dscores, W2.T)
    dhidden[hidden_layer <= 0] = 0
    dW = np.dot(X.T, dhidden)
    db = np.sum(dhidden, axis=0)
{reg}    return {{"dW": dW, "db": db, "dW2": dW2, "db2": db2{extra}}}
'''
REG_LINES = "    dW2 += reg * W2\n    dW += reg * W\n"


def planted(tmp_path, *edits, reg=False, extra=""):
    """The loop's backward with each (line, replacement) edit made, as a module file (so that a traceback
    has its lines); ``extra``: more entries of the returned dict, such as ', "dscores": dscores'."""
    source = LOOP_SOURCE.format(signature=", *, reg" if reg else "", reg=REG_LINES if reg else "",
                                extra=extra)
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new, 1)
    path = tmp_path / f"learner_{abs(hash(source))}.py"
    path.write_text(source)
    namespace = {}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace["backward"]


MASK = "    dhidden[hidden_layer <= 0] = 0\n"
DW = "    dW = np.dot(X.T, dhidden)\n"
DB = "    db = np.sum(dhidden, axis=0)\n"
DIVIDE = "    dscores /= num_examples\n"
DB2 = "    db2 = np.sum(dscores, axis=0)\n"
DHIDDEN = "    dhidden = np.dot(dscores, W2.T)\n"
PLANTS = {       # id: the edits that make the mistake, and whether it is the reg exercise
    "dscores-missing-minus-one": [("    dscores[range(num_examples), y] -= 1\n", "")],
    "dscores-missing-divide-by-N": [("    dscores /= num_examples\n", "")],
    "dscores-divided-twice": [("    dscores /= num_examples\n", "    dscores /= num_examples\n" * 2)],
    "dscores-minus-one-everywhere": [("dscores[range(num_examples), y] -= 1", "dscores[:, y] -= 1")],
    "dscores-divided-by-K": [("dscores /= num_examples", "dscores /= probs.shape[1]")],
    "sign-flipped": [("dscores = probs", "dscores = -probs"), ("y] -= 1", "y] += 1")],
    "dW2-transposed": [("np.dot(hidden_layer.T, dscores)", "np.dot(dscores.T, hidden_layer)")],
    "dW2-missing-transpose": [("np.dot(hidden_layer.T, dscores)", "np.dot(hidden_layer, dscores)")],
    "db2-wrong-axis": [("np.sum(dscores, axis=0)", "np.sum(dscores, axis=1)")],
    "db2-mean-not-sum": [("np.sum(dscores, axis=0)", "np.mean(dscores, axis=0)")],
    "dhidden-missing-transpose": [("np.dot(dscores, W2.T)", "np.dot(dscores, W2)")],
    "dhidden-before-divide-by-N": [(DB2 + DHIDDEN + MASK, DB2), (DIVIDE, DHIDDEN + MASK + DIVIDE)],
    "relu-mask-from-gradient": [("dhidden[hidden_layer <= 0]", "dhidden[dhidden <= 0]")],
    "relu-mask-inverted": [("dhidden[hidden_layer <= 0]", "dhidden[hidden_layer > 0]")],
    "relu-mask-missing": [("dhidden[hidden_layer <= 0]", "dhidden[hidden_layer < 0]")],
    "relu-mask-times-activation": [(MASK, "    dhidden = dhidden * hidden_layer\n")],
    "dW-transposed": [("np.dot(X.T, dhidden)", "np.dot(dhidden.T, X)")],
    "dW-missing-transpose": [("np.dot(X.T, dhidden)", "np.dot(X, dhidden)")],
    "dW-from-hidden-layer": [("np.dot(X.T, dhidden)", "np.dot(hidden_layer.T, dhidden)")],
    "dW-before-mask": [(MASK + DW, DW + MASK)],
    "db-wrong-axis": [("np.sum(dhidden, axis=0)", "np.sum(dhidden, axis=1)")],
    "db-mean-not-sum": [("np.sum(dhidden, axis=0)", "np.mean(dhidden, axis=0)")],
    "db-before-mask": [(MASK + DW + DB, DB + MASK + DW)],
    "reg-missing": [("    dW2 += reg * W2\n", "")],
    "reg-factor": [("dW += reg * W", "dW += 2 * reg * W")],
    "reg-sign-flipped": [("dW2 += reg * W2", "dW2 -= reg * W2")],
    "reg-divided-by-N": [("dW += reg * W", "dW += reg * W / num_examples")],
    "reg-on-bias": [("dW += reg * W\n", "dW += reg * W\n    db += reg * b\n")],
}
QUANTITY = {m.id: m.quantity for m in LOOP} | {"reg-missing": "dW2", "reg-factor": "dW",     # as planted
                                               "reg-sign-flipped": "dW2", "reg-divided-by-N": "dW",
                                               "reg-on-bias": "db"}


def test_the_catalogue_and_the_plants_cover_every_loop_id_and_no_two_mistakes_give_the_same_gradients():
    assert set(PLANTS) == {m.id for m in LOOP}
    for reg in (0.0, REG):
        inputs = loop_inputs()
        ref = reference(inputs, reg)
        assert all(np.allclose(ref[q], predict(inputs, reg)[q]) for q in ref)   # the stages are the loop
        seen = [tuple(ref[q] for q in GRADIENTS)]
        for m in LOOP:
            prediction = predict(inputs, reg, (m,))
            if prediction is None or (m.needs_reg and not reg):
                continue
            mine = tuple(prediction[q] for q in GRADIENTS)
            for other in seen:
                same = [a.shape == b.shape and np.allclose(a, b, rtol=1e-3)
                        for a, b in zip(mine, other, strict=True)]
                assert not all(same), m.id
            seen.append(mine)


@pytest.mark.parametrize("mistake", PLANTS)
def test_a_planted_mistake_is_named_with_its_quantity_first(mistake, tmp_path):
    fn = planted(tmp_path, *PLANTS[mistake], reg=mistake.startswith("reg"))
    report = check_backward(fn)
    assert not report.passed and not report.blank
    first = report.findings[0]
    assert (first.mistake, first.quantity) == (mistake, QUANTITY[mistake]), str(report)
    assert "Why: " in first.message and "Traceback" not in str(report)
    assert max(len(line) for line in str(report).splitlines()) <= 100


# found by what the code does (an input edited, a crash, the precision), not by a wrong formula: the
# planted edits and the quantity named first (the array's name for an input)
BEHAVIOUR_PLANTS = {
    "input-changed-in-place": ([(DIVIDE, DIVIDE + "    mask = hidden_layer\n"
                                            "    mask[mask > 0] = 1\n"),
                                (MASK, "    dhidden = dhidden * mask\n")], "hidden_layer"),
    "weights-updated-in-backward": ([(DB, DB + "    W2 -= dW2\n")], "W2"),
    "integer-array-in-place": ([("    dscores = probs\n    dscores[range(num_examples), y] -= 1\n",
                                 "    onehot = np.zeros(probs.shape, dtype=int)\n"
                                 "    onehot[range(num_examples), y] = 1\n"
                                 "    dscores = -onehot\n"
                                 "    dscores += probs   # P − onehot(y)\n")], "dscores"),
    "precision-lost": ([("dscores = probs", "dscores = probs.astype(np.float16)")], "dscores"),
}


@pytest.mark.parametrize("mistake", BEHAVIOUR_PLANTS)
def test_a_mistake_found_by_behaviour_is_named_first_and_alone(mistake, tmp_path):
    edits, quantity = BEHAVIOUR_PLANTS[mistake]
    report = check_backward(planted(tmp_path, *edits))
    finding = one_message(report)
    assert (finding.mistake, finding.quantity) == (mistake, quantity), str(report)
    assert "Why: " in finding.message
    assert max(len(line) for line in str(report).splitlines()) <= 100


def test_an_alias_that_overwrites_hidden_layer_is_named_not_the_right_dW2_line(tmp_path):
    edits, _ = BEHAVIOUR_PLANTS["input-changed-in-place"]
    message = check_backward(planted(tmp_path, *edits)).findings[0].message
    assert "mask = hidden_layer does not copy" in message and "mask[mask > 0] = 1" in message
    assert "only 0s and 1s" in message and "Your dW2 is what the right formulas give" in message
    hidden = planted(tmp_path, (DIVIDE, DIVIDE + "    hidden_layer[hidden_layer > 0] = 1\n"))
    message = check_backward(hidden).findings[0].message       # edited directly: no alias to blame
    assert "does not copy" not in message and "the very array the caller handed in" in message


def test_an_input_changed_comes_first_and_a_stray_weight_update_fails(tmp_path):
    report = check_backward(planted(tmp_path, *BEHAVIOUR_PLANTS["weights-updated-in-backward"][0]))
    assert not report.passed and "must not update the weights" in report.findings[0].message
    both = planted(tmp_path, (DIVIDE, DIVIDE + "    y[:] = 0\n"), *PLANTS["dW-transposed"])
    report = check_backward(both)          # the edit does not explain dW: both named, the edit first
    assert [(f.quantity, f.mistake) for f in report.findings] == [("y", "input-changed-in-place"),
                                                                  ("dW", "dW-transposed")]
    assert "fix it first" in str(report)


def test_dhidden_before_the_divide_is_named_as_statement_order_with_dscores_returned(tmp_path):
    fn = planted(tmp_path, *PLANTS["dhidden-before-divide-by-N"], extra=', "dscores": dscores')
    finding = one_message(check_backward(fn))
    assert (finding.quantity, finding.mistake) == ("dhidden", "dhidden-before-divide-by-N")
    assert "statement order" in finding.message and "/N missing" not in finding.message


def test_an_integer_array_edited_in_place_is_explained_and_its_line_quoted_whole(tmp_path):
    edits, _ = BEHAVIOUR_PLANTS["integer-array-in-place"]
    finding = check_backward(planted(tmp_path, *edits)).findings[0]
    assert "int64" in finding.message and "dtype=int" in finding.message
    assert "probs - onehot" in finding.message
    assert "\n    dscores += probs\n" in finding.message and "# P" not in finding.message


def test_precision_lost_is_one_finding_not_four_unknowns(tmp_path):
    finding = one_message(check_backward(planted(tmp_path, *BEHAVIOUR_PLANTS["precision-lost"][0])))
    assert finding.mistake == "precision-lost" and "float16" in finding.message


def paragraphs(message):
    """A finding's prose, one string a paragraph (wrapped lines joined), quoted code left out."""
    out = []
    for line in message.splitlines():
        if line.startswith("  ") and not line.startswith("    ") and out:
            out[-1] += " " + line.strip()
        elif not line.startswith("    "):
            out.append(line)
    return out


def test_every_verdict_ends_alike_and_no_sentence_chains_three_colons(tmp_path):
    cases = [(edits, mistake.startswith("reg")) for mistake, edits in PLANTS.items()]
    cases += [(edits, False) for edits, _ in BEHAVIOUR_PLANTS.values()]
    cases += [(edits, False) for edits, _, _ in GENERIC.values()]
    for edits, reg in cases:
        report = check_backward(planted(tmp_path, *edits, reg=reg))
        assert ": unknown" not in str(report)
        for finding in report.findings:
            prose = paragraphs(finding.message)
            last = "Why: " if finding.mistake != "unknown" else "It should be "
            assert prose[-1].startswith(last), str(report)
            for sentence in (s for p in prose for s in re.split(r"(?<=[.?])\s", p)):
                assert sentence.count(":") < 3, sentence


def test_a_missing_divide_by_N_is_placed_at_dscores_and_says_it_shows_in_all_four(tmp_path):
    report = check_backward(planted(tmp_path, *PLANTS["dscores-missing-divide-by-N"]))
    assert [(f.quantity, f.mistake) for f in report.findings] == [("dscores", "dscores-missing-divide-by-N")]
    assert "without the 1/N" in report.findings[0].message
    assert "dW2, db2, dW, db" in report.findings[0].message
    assert "mean of N losses" in report.findings[0].message


def test_the_missing_transposes_are_explained_from_the_error_with_the_shapes(tmp_path):
    report = check_backward(planted(tmp_path, *PLANTS["dhidden-missing-transpose"]))
    message = report.findings[0].message
    assert len(report.findings) == 1
    assert "ValueError" in message and "np.dot(dscores, W2)" in message and "W2 (6, 3)" in message


def test_two_mistakes_are_both_named_earliest_first(tmp_path):
    fn = planted(tmp_path, *PLANTS["dscores-missing-divide-by-N"], *PLANTS["relu-mask-from-gradient"])
    assert [f.mistake for f in check_backward(fn).findings] == ["dscores-missing-divide-by-N",
                                                                "relu-mask-from-gradient"]
    fn = planted(tmp_path, ("    dW2 += reg * W2\n", ""), ("    dW += reg * W\n", ""), reg=True)
    assert [(f.quantity, f.mistake) for f in check_backward(fn).findings] == [("dW2", "reg-missing")]


def test_gradient_ascent_is_named_also_when_every_gradient_is_negated_at_the_end(tmp_path):
    fn = planted(tmp_path, ('return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}',
                            'return {"dW": -dW, "db": -db, "dW2": -dW2, "db2": -db2}'), reg=True)
    assert check_backward(fn).findings[0].mistake == "sign-flipped"


CORRECT = {     # spellings of the right backward: each must pass in float64 and in float32
    "the loop, in place": [],
    "probs copied": [("dscores = probs", "dscores = probs.copy()")],
    "@": [("np.dot(hidden_layer.T, dscores)", "hidden_layer.T @ dscores"),
          ("np.dot(dscores, W2.T)", "dscores @ W2.T"), ("np.dot(X.T, dhidden)", "X.T @ dhidden")],
    "the .dot method and .sum": [("np.dot(hidden_layer.T, dscores)", "hidden_layer.T.dot(dscores)"),
                                 ("np.sum(dscores, axis=0)", "dscores.sum(axis=0)"),
                                 ("np.sum(dhidden, axis=0)", "dhidden.sum(0)")],
    "keepdims": [("np.sum(dscores, axis=0)", "np.sum(dscores, axis=0, keepdims=True)"),
                 ("np.sum(dhidden, axis=0)", "np.sum(dhidden, axis=0, keepdims=True)")],
    "np.where": [(MASK, "    dhidden = np.where(hidden_layer > 0, dhidden, 0)\n")],
    "multiplied by the mask": [(MASK, "    dhidden = dhidden * (hidden_layer > 0)\n")],
    "np.heaviside": [(MASK, "    dhidden *= np.heaviside(hidden_layer, 0)\n")],
    "a one-hot matrix": [("dscores[range(num_examples), y] -= 1\n    dscores /= num_examples",
                          "dscores = (probs - np.eye(probs.shape[1])[y]) / num_examples")],
    "np.arange and len": [("num_examples = X.shape[0]", "num_examples = len(y)"),
                          ("range(num_examples)", "np.arange(num_examples)")],
    "einsum": [("np.dot(hidden_layer.T, dscores)", "np.einsum('nh,nk->hk', hidden_layer, dscores)")],
    "a boolean mask negated": [("dhidden[hidden_layer <= 0] = 0", "dhidden[~(hidden_layer > 0)] = 0.0")],
}


@pytest.mark.parametrize("spelling", CORRECT)
@pytest.mark.parametrize("reg", [False, True], ids=["loop", "reg"])
def test_every_correct_spelling_passes_in_float64_and_float32(spelling, reg, tmp_path):
    report = check_backward(planted(tmp_path, *CORRECT[spelling], reg=reg, extra=', "dscores": dscores'))
    assert report.passed and report.findings == [], str(report)
    assert "float64 and float32" in str(report) and "and dscores, equal" in str(report)


def test_intermediates_spelt_otherwise_pass_with_a_note(tmp_path):
    later = planted(tmp_path, ("    dscores /= num_examples\n", ""),
                    ("np.dot(hidden_layer.T, dscores)", "np.dot(hidden_layer.T, dscores) / num_examples"),
                    ("np.sum(dscores, axis=0)", "np.sum(dscores, axis=0) / num_examples"),
                    ("np.dot(dscores, W2.T)", "np.dot(dscores, W2.T) / num_examples"),
                    extra=', "dscores": dscores')
    report = check_backward(later)
    assert report.passed and "Your dscores is N times" in str(report)
    unmasked = planted(tmp_path, (MASK + DW + DB, "    dA = dhidden * (hidden_layer > 0)\n    dW = X.T @ dA\n"
                                  "    db = dA.sum(axis=0)\n"), extra=', "dhidden": dhidden')
    report = check_backward(unmasked)
    assert report.passed and "before the ReLU's switch" in str(report)
    assert "gradients, and dhidden" not in str(report)      # only what agrees is claimed
    both = planted(tmp_path, extra=', "dscores": dscores, "dhidden": dhidden')
    printed = " ".join(str(check_backward(both)).split())
    assert "the four gradients, and dscores and dhidden, equal" in printed


# What is not an answer: one clear message, never a traceback -----------------------------------------

def one_message(report):
    assert not report.passed and len(report.findings) == 1 and "Traceback" not in str(report)
    return report.findings[0]


def test_a_raising_function_is_explained_with_its_line(tmp_path):
    typo = ("dW = np.dot(X.T, dhidden)", "dW = np.dot(X.T, dhiden)")
    finding = one_message(check_backward(planted(tmp_path, typo)))
    assert finding.quantity == "dW" and "NameError" in finding.message and "dhiden" in finding.message
    finding = one_message(check_backward(planted(tmp_path, *PLANTS["dW2-missing-transpose"])))
    assert finding.mistake == "dW2-missing-transpose" and "hidden_layer (5, 6)" in finding.message
    finding = one_message(check_backward(planted(tmp_path, *PLANTS["dW2-transposed"], reg=True)))
    assert (finding.quantity, finding.mistake) == ("dW2", "dW2-transposed")      # raised at dW2 += reg * W2


def test_a_wrong_shape_nan_and_a_tuple_each_get_one_message(tmp_path):
    finding = one_message(check_backward(planted(tmp_path, (DW, "    dW = np.dot(X.T, dhidden)[:, :4]\n"))))
    assert (finding.quantity, finding.pattern) == ("dW", "wrong shape") and "(2, 4)" in finding.message
    by_zero = ("dscores /= num_examples", "dscores /= 0 * num_examples")
    finding = one_message(check_backward(planted(tmp_path, by_zero)))
    assert finding.pattern == "not finite" and "NaN or inf" in finding.message
    a_tuple = ('return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}', "return dW, db, dW2, db2")
    finding = one_message(check_backward(planted(tmp_path, a_tuple)))
    assert "not a dict" in finding.message and "tuple of 4" in finding.message


@pytest.mark.parametrize("answer", ["{}", "None"])
def test_an_untouched_blank_says_what_to_write_and_exits_0(answer, tmp_path, capsys):
    fn = planted(tmp_path, ('return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}', f"return {answer}"))
    report = check_backward(fn)
    assert report.blank and not report.passed and report.findings == []
    assert main(fn) == 0
    printed = capsys.readouterr().out
    assert "nothing to check yet" in printed and "'dW2': dW2" in printed


def test_main_exits_1_on_a_mistake_and_0_on_a_pass(tmp_path, capsys):
    assert main(planted(tmp_path, *PLANTS["db-wrong-axis"])) == 1
    assert main(planted(tmp_path)) == 0
    assert "db-wrong-axis" in capsys.readouterr().out


def test_a_partial_answer_is_checked_as_far_as_it_goes(tmp_path):
    fn = planted(tmp_path, ('return {"dW": dW, "db": db, "dW2": dW2, "db2": db2}', 'return {"dW2": dW2}'))
    finding = one_message(check_backward(fn))
    assert finding.pattern == "missing" and "right so far" in finding.message


# Patterns, for mistakes the catalogue does not know -------------------------------------------------

GENERIC = {     # edits, the finding's quantity, its pattern
    "dW times N": ([(DW, "    dW = np.dot(X.T, dhidden) * num_examples\n")], "dW", "factor N"),
    "db2 doubled": ([("np.sum(dscores, axis=0)", "2 * np.sum(dscores, axis=0)")], "db2", "factor 2"),
    "db negated": ([("np.sum(dhidden, axis=0)", "-np.sum(dhidden, axis=0)")], "db", "factor −1"),
    "dscores times K": ([("dscores /= num_examples", "dscores *= 3 / num_examples")], "dscores", "factor K"),
    "db2 summed over everything": ([("np.sum(dscores, axis=0)", "np.sum(dscores)")], "db2", "wrong shape"),
    "-3 at the true class": ([("y] -= 1", "y] -= 3")], "dscores",
                             "in the true-class entries (n, y_n), where − onehot(y) acts"),
}


@pytest.mark.parametrize("case", GENERIC)
def test_an_unknown_mistake_is_described_by_its_pattern(case, tmp_path):
    edits, quantity, pattern = GENERIC[case]
    report = check_backward(planted(tmp_path, *edits))
    found = [(f.quantity, f.mistake, f.pattern) for f in report.findings]
    assert found == [(quantity, "unknown", pattern)], str(report)


def test_wrong_only_where_units_are_off_and_at_the_true_class_when_the_intermediates_are_returned(tmp_path):
    fn = planted(tmp_path, (MASK, "    dhidden[hidden_layer <= 0] = 0.5\n"), extra=', "dhidden": dhidden')
    finding = one_message(check_backward(fn))
    assert finding.quantity == "dhidden" and finding.pattern.startswith("where units are off")
    fn = planted(tmp_path, ("y] -= 1", "y] -= 2"), extra=', "dscores": dscores')
    finding = one_message(check_backward(fn))
    assert finding.quantity == "dscores" and finding.pattern.startswith("in the true-class entries")


# Layers ---------------------------------------------------------------------------------------------

class LoopLinear(Linear):
    def backward(self, dy):
        self.grads["W"] = np.dot(self._x.T, dy)
        self.grads["b"] = np.sum(dy, axis=0, keepdims=True)
        return np.dot(dy, self.params["W"].T)


class MaskedReLU(ReLU):
    def backward(self, dy):
        return np.where(self._mask, dy, 0)


class OneExpressionSoftmax(SoftmaxCrossEntropy):
    def backward(self):
        dscores = self._probs.copy()
        dscores[np.arange(len(self._y)), self._y] -= 1
        return dscores / len(self._y)


class RightTanh(Tanh):
    def backward(self, dy):
        return dy * (1 - self._y ** 2)


@pytest.mark.parametrize("layer", [LoopLinear, MaskedReLU, OneExpressionSoftmax, RightTanh, Linear, ReLU,
                                   SoftmaxCrossEntropy])
def test_correct_layers_pass(layer):
    report = check_layer(layer)
    assert report.passed, str(report)


def linear(W=None, b=None, x=None):
    """A Linear whose backward computes each of (1), (2), (3) by the given function (default: right)."""
    class Planted(Linear):
        def backward(self, dy):
            x_, W_ = self._x, self.params["W"]
            self.grads["W"] = x_.T @ dy if W is None else W(x_, W_, dy)
            self.grads["b"] = dy.sum(axis=0) if b is None else b(x_, W_, dy)
            return dy @ W_.T if x is None else x(x_, W_, dy)
    return Planted


def relu(dx):
    class Planted(ReLU):
        def backward(self, dy):
            return dx(self._mask, dy)
    return Planted


def softmax(ds):
    class Planted(SoftmaxCrossEntropy):
        def backward(self):
            return ds(self._probs, np.eye(self._probs.shape[1])[self._y], len(self._y))
    return Planted


def relu_in_place(mask, dy):
    dy[~mask] = 0
    return dy


def softmax_in_place(P, onehot, N):
    P -= onehot
    return P / N


LAYER_PLANTS = {
    "linear-dW-transposed": (linear(W=lambda x, W, dy: dy.T @ x), "W"),
    "linear-db-mean-not-sum": (linear(b=lambda x, W, dy: dy.mean(axis=0)), "b"),
    "linear-db-wrong-axis": (linear(b=lambda x, W, dy: dy.sum(axis=1)), "b"),
    "linear-dx-from-dW": (linear(x=lambda x, W, dy: dy @ (x.T @ dy).T), "x"),
    "relu-mask-from-gradient": (relu(lambda mask, dy: dy * (dy > 0)), "x"),
    "relu-mask-inverted": (relu(lambda mask, dy: dy * ~mask), "x"),
    "relu-mask-missing": (relu(lambda mask, dy: dy.copy()), "x"),
    "relu-edits-dy-in-place": (relu(relu_in_place), "x"),
    "softmax-missing-divide-by-N": (softmax(lambda P, onehot, N: P - onehot), "x"),
    "softmax-missing-minus-one": (softmax(lambda P, onehot, N: P / N), "x"),
    "softmax-minus-one-everywhere": (softmax(lambda P, onehot, N: (P - 1) / N), "x"),
    "softmax-divided-twice": (softmax(lambda P, onehot, N: (P - onehot) / N / N), "x"),
    "softmax-sign-flipped": (softmax(lambda P, onehot, N: (onehot - P) / N), "x"),
    "softmax-edits-cache-in-place": (softmax(softmax_in_place), "x"),
}


class NoTransposeForW(Linear):
    def backward(self, dy):
        self.grads["W"] = self._x @ dy
        self.grads["b"] = dy.sum(axis=0)
        return dy @ self.params["W"].T


class NoTransposeForX(Linear):
    def backward(self, dy):
        self.grads["W"] = self._x.T @ dy
        self.grads["b"] = dy.sum(axis=0)
        return np.dot(dy, self.params["W"])


class TimesActivation(ReLU):
    def forward(self, x):
        self._out = np.maximum(x, 0)         # the output kept, and used where the switch belongs
        return super().forward(x)

    def backward(self, dy):
        return dy * self._out


LAYER_PLANTS["relu-mask-times-activation"] = (TimesActivation, "x")
LAYER_PLANTS["linear-dW-missing-transpose"] = (NoTransposeForW, "W")
LAYER_PLANTS["linear-dx-missing-transpose"] = (NoTransposeForX, "x")


@pytest.mark.parametrize("mistake", LAYER_PLANTS)
def test_a_planted_layer_mistake_is_named(mistake):
    layer, quantity = LAYER_PLANTS[mistake]
    report = check_layer(layer)
    first = report.findings[0]
    assert not report.passed and (first.mistake, first.quantity) == (mistake, quantity), str(report)
    assert "Traceback" not in str(report) and paragraphs(first.message)[-1].startswith("Why: ")
    assert "in the loop:" not in first.message              # a layer has no loop line to quote


def test_layer_patterns_the_blank_and_central_differences():
    report = check_layer(linear(x=lambda x, W, dy: (dy @ W.T).T))
    assert (report.findings[0].quantity, report.findings[0].pattern) == ("x", "transposed")

    class Blank(Linear):
        def backward(self, dy):
            return None
    assert check_layer(Blank).blank and main(Blank) == 0

    class HalfTanh(Tanh):
        def backward(self, dy):
            return 0.5 * dy * (1 - self._y ** 2)
    report = check_layer(HalfTanh)
    assert "central differences" in report.title and report.findings[0].pattern == "factor 1/2"


# The docs ------------------------------------------------------------------------------------------

def test_the_docs_list_every_catalogue_id_once_with_its_lesson():
    page = (ROOT / "docs" / "exercises.md").read_text(encoding="utf-8").split("## The catalogue")[1]
    listed = re.findall(r"^\| `([\w-]+)` \|", page, flags=re.M)
    assert sorted(listed) == sorted(all_ids()) and len(listed) == len(set(listed))
    assert set(PLANTS) | set(LAYER_PLANTS) | set(BEHAVIOUR_PLANTS) == set(all_ids())
    assert set(BEHAVIOUR_PLANTS) == set(BEHAVIOUR)
