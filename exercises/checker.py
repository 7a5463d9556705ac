"""The checker: runs a learner's backward pass on small seeded inputs and names the formula it got wrong.

How it decides, for the loop (``check_backward``):

1. Run the learner's function on inputs built so that each mistake shows (N=5 examples, D=2, h=6 hidden
   units, K=3 classes, every class present, some units off, float64 and then float32), each call on
   fresh copies (the loop edits ``probs`` in place).
2. Compare each returned quantity with the course loop's backward (training/course_loop.py), within a
   tolerance suited to the dtype: the four gradients must agree; dscores and dhidden are looked at too.
3. If a gradient is wrong, compute every catalogue mistake (exercises/catalogue.py), alone and two at a
   time, on the same inputs, each flowing through the correct later formulas, and name the one whose
   gradients are the learner's. A missing /N changes all four gradients; the finding says dscores.
4. What matches nothing known is described by pattern: a constant factor, a transpose, a wrong shape
   (which axis was summed), wrong only where units are off, wrong only at the true class.

``check_layer`` does the same for a layer whose backward the learner wrote: the reference is the parent
class's backward (Linear, ReLU, SoftmaxCrossEntropy) or, for any other layer, central differences.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import traceback
import warnings
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from exercises.catalogue import (
    ALIAS,
    BEHAVIOUR,
    GRADIENTS,
    IN_PLACE,
    LAYER,
    LINES,
    LOOP,
    QUANTITIES,
    STAGES,
    Mistake,
    onehot,
)
from layers import Layer, Linear, ReLU, SoftmaxCrossEntropy
from training.course_loop import course_step

N, D, HIDDEN, K = 5, 2, 6, 3            # all different, so that a missing transpose cannot go unseen
LABELS = np.array([0, 2, 1, 1, 0])      # every class present
REG = 0.1                               # large enough that a wrong reg term shows next to the data term
SEED = 12
TOLERANCE = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 1e-4}    # relative to the quantity's size
WIDTH = 92                              # a message line; the report indents it by 6: ≤ 100 columns


@dataclass(frozen=True)
class Finding:
    """One wrong quantity: where (``quantity``), which mistake (a catalogue id or "unknown"), and the
    message; ``pattern`` names the generic pattern of an unknown one ("factor N", "transposed", ...)."""

    quantity: str
    mistake: str
    message: str
    pattern: str = ""

    def __str__(self) -> str:
        label = self.mistake if self.mistake != "unknown" else PROBLEMS.get(self.pattern, UNKNOWN)
        head = f"{self.quantity}: {label}" if self.quantity else label
        return head + "\n" + textwrap.indent(self.message, "    ")


UNKNOWN = "not a mistake in the catalogue"      # how an unknown mistake is headed when printed
PROBLEMS = {"raised": "your code raised an error", "missing": "missing", "not finite": "NaN or inf",
            "not numbers": "not numbers", "not a dict": "not a dict",
            "no known key": "no known key",
            "not a layer": "not a layer"}


@dataclass
class Report:
    """The verdict: ``passed``, the ``findings`` (earliest wrong quantity first) and ``notes``."""

    title: str
    passed: bool
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blank: bool = False                 # the exercise is untouched: nothing to check yet
    checked: tuple = ()                 # on a pass: the quantities found equal to the reference

    def __str__(self) -> str:
        if self.blank:
            head = f"{self.title}: nothing to check yet"
        elif self.passed:
            head = f"{self.title}: passed"
        else:
            count = len(self.findings)
            head = f"{self.title}: {count} mistake{'s' if count != 1 else ''} found"
        parts = [head] + [textwrap.indent(str(finding), "  ") for finding in self.findings]
        parts += [textwrap.indent(_wrap(note), "  ") for note in self.notes]
        return "\n".join(parts)


def _wrap(*paragraphs: str) -> str:
    """The paragraphs filled to WIDTH, each on its own lines; a paragraph of code (``_code``) as it
    is, and code in backticks within a paragraph kept on one line (the backticks dropped)."""
    return "\n".join(p if p.startswith(CODE) else _fill(p) for p in paragraphs if p)


def _fill(paragraph: str) -> str:
    kept = KEEP.sub(lambda m: (m[2] or m[1]).replace(" ", NBSP), paragraph)
    return textwrap.fill(kept, WIDTH, subsequent_indent="  ", break_on_hyphens=False).replace(NBSP, " ")


# kept on one line: code in backticks (the backticks dropped) and a shape such as [N x K]
KEEP, NBSP = re.compile(r"`([^`]*)`|(\[\w+ x \w+\])"), "\xa0"   # textwrap never breaks at NBSP


CODE = "    "                           # a quoted statement: indented, never wrapped


def _code(statements: str) -> str:
    """Statements joined by "; " as lines of code, one a line, without trailing comments."""
    lines = [s.split("  #")[0].split(" # ")[0].strip() for s in statements.split("; ")]
    return "\n".join(CODE + line for line in lines if line)


def _should(spec) -> list[str]:
    """The "It should be" paragraphs: ``spec`` is a formula, or (formula, the loop's statements)."""
    if isinstance(spec, tuple) and spec[1]:
        formula, line = spec
        return [f"It should be {formula}, in the loop:", _code(line)]
    spec = spec[0] if isinstance(spec, tuple) else spec
    return [f"It should be {spec}."] if spec else []


# Running the learner's code --------------------------------------------------------------------------

class _Raised(Exception):
    """The learner's code raised: the report that explains it."""

    def __init__(self, report: Report):
        super().__init__(report.title)
        self.report = report


def _call(code, args, kwargs, title, source, explain):
    """``code(*args, **kwargs)`` with NumPy's warnings off (a NaN is reported, not raised), the same
    under pytest as at the command line; an exception becomes a report (``explain`` says what it means)."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return code(*args, **kwargs)
    except NotImplementedError:
        raise _Raised(Report(title, False, blank=True, notes=[source.blank])) from None
    except Exception as error:              # the learner's error, whatever it is, becomes the verdict
        raise _Raised(Report(title, False, [explain(error)])) from None


def _where(error: BaseException, code) -> tuple[int, str]:
    """The line of the learner's code that raised (the last frame in their file): number and text."""
    frames = traceback.extract_tb(error.__traceback__)
    filename = getattr(getattr(code, "__code__", None), "co_filename", None)
    theirs = [frame for frame in frames if frame.filename == filename]
    return (theirs[-1].lineno or 0, (theirs[-1].line or "").strip()) if theirs else (0, "")


ASSIGNED = re.compile(r"^(?:self\.grads\[['\"](\w+)['\"]\]|(\w+))\s*(?:[-+*/@]|//)?=(?!=)")
SHAPES = re.compile(r"\((\d+),\s*(\d+)\)")


def _explain_error(error, code, mistakes, formulas, shapes, returns="x") -> Finding:
    """A Finding for the learner's exception: what raised, on which line, the shapes that did not
    line up, and the catalogue mistake it is when the line and the error say so (a missing .T, a
    transposed array, an integer array edited in place)."""
    lineno, line = _where(error, code)
    assigned = ASSIGNED.match(line)
    quantity = (assigned.group(1) or assigned.group(2)) if assigned else (
        returns if line.startswith("return") else "")
    quantity = quantity if quantity in formulas else ""
    text = str(error).split("\n")[0]
    mistake = None
    if quantity and isinstance(error, ValueError):
        aligned = "not aligned" in text or "matmul" in text
        pairs = SHAPES.findall(text)
        transposed = len(pairs) >= 2 and pairs[0] == pairs[1][::-1]
        for m in mistakes:
            swapped = transposed and "broadcast" in text and m.id.endswith("transposed")
            if m.quantity == quantity and ((aligned and m.id.endswith("missing-transpose")) or swapped):
                mistake = m
                break
    if lineno:
        parts = [f"Your code raised {type(error).__name__} at line {lineno}:", _code(line),
                 f"The error: {text}"]
    else:                               # raised before any line of theirs ran: the call itself
        parts = [f"Calling your code raised {type(error).__name__}: {text}.",
                 "The checker calls backward(X, y, W, b, W2, b2, hidden_layer, probs), with reg=λ "
                 "if it takes a keyword reg; a layer's backward(dy) (a loss's backward()) after its "
                 "forward."]
    if isinstance(error, ValueError) and ("align" in text or "broadcast" in text or "matmul" in text
                                          or "shape" in text):
        parts.append(f"The shapes you were given: {shapes}.")
    cast = CAST.search(text) if isinstance(error, TypeError) else None
    if cast and quantity and np.dtype(cast.group(2)).kind in "biu":
        return _integer_finding(quantity, cast.group(1), cast.group(2), code, parts, formulas)
    if mistake:
        parts += [f"Your {quantity} is {mistake.what}.", *_should((mistake.formula, mistake.line)),
                  f"Why: {mistake.why}."]
    elif quantity:
        parts += _should(formulas[quantity])
    return Finding(quantity, mistake.id if mistake else "unknown", _wrap(*parts),
                   "" if mistake else "raised")


CAST = re.compile(r"output from dtype\('(\w+)'\) to dtype\('(\w+)'\)")


def _integer_finding(quantity, frm, to, code, parts, formulas) -> Finding:
    """NumPy refused to store a float result in an integer array edited in place (a += on an array
    made with dtype=int): say where the integers came from, if a line of the learner's says so."""
    m = BEHAVIOUR["integer-array-in-place"]
    origin = [(n, text) for n, text in _source_lines(code) if "dtype=int" in text.replace(" ", "")
              or "astype(int" in text.replace(" ", "")]
    parts += [f"Your {quantity} is {m.what.format(to=to)}."]
    if origin:
        (n, text), *_ = origin
        parts += [f"It came from an integer array, made at line {n}:", _code(text)]
    else:
        parts += ["It came from an integer array (np.zeros(..., dtype=int), say, or its negative)."]
    parts += [f"Make it a float array: {quantity} = probs - onehot builds a new one, float because "
              "probs is (or leave out dtype=int).", *_should(formulas[quantity]),
              f"Why: {m.why.format(frm=frm, to=to)}."]
    return Finding(quantity, m.id, _wrap(*parts))


def _source_lines(code) -> list[tuple[int, str]]:
    """The learner's function as (line number, stripped text) pairs; [] without its source."""
    try:
        lines, first = inspect.getsourcelines(code)
    except (OSError, TypeError):
        return []
    return [(first + i, text.strip()) for i, text in enumerate(lines)]


# Comparing -------------------------------------------------------------------------------------------

def _as_array(value, expected: np.ndarray):
    """The learner's value as a float array, ``keepdims`` shapes ([1 x h] for [h]) taken as the same;
    None if it is not numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.shape != expected.shape and array.size == expected.size and array.squeeze().shape == \
            expected.squeeze().shape:
        array = array.reshape(expected.shape)
    return array


def _close(a, b, scale: float, tol: float) -> bool:
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    return bool(np.all(np.abs(np.asarray(a) - b) <= tol * scale))


FACTORS = {"N": N, "1/N": 1 / N, "K": K, "1/K": 1 / K, "2": 2, "1/2": 0.5, "N/K": N / K, "K/N": K / N,
           "N²": N * N, "1/N²": 1 / (N * N)}
HINTS = {"N": "A /N missing? L is the mean of N losses, so the 1/N belongs in dscores, once.",
         "1/N": "A /N too many? The 1/N of the mean belongs in dscores, once.",
         "-1": "The sign is flipped, so a step along it climbs the loss.",
         "2": "A factor 2 too many? The ½ of (λ/2)ΣW² cancels the 2 of the square.",
         "1/2": "A factor ½ too many?"}


def _hint(pattern: str) -> str:
    """The sentence that goes with a constant factor ("factor N" -> a /N missing?), if any."""
    return HINTS.get(pattern.removeprefix("factor ").replace("−", "-"), "") \
        if pattern.startswith("factor") else ""


def _factor_name(c: float) -> str:
    for name, value in FACTORS.items():
        for sign, signed in (("", value), ("−", -value)):
            if abs(c - signed) <= 1e-3 * abs(signed):
                return f"{sign}{name}"
    return "−1" if abs(c + 1) <= 1e-3 else f"{c:.3g}"


@dataclass(frozen=True)
class Shape:
    """What the generic patterns need to know about a quantity: how it should read, its sums and masks."""

    formula: str
    summed: str = ""                    # for a bias's gradient: what one entry is a sum for ("class")
    masks: tuple = ()                   # (boolean array, "where ..."), for "wrong only where ..."


def _pattern(quantity, got, want, shape: Shape, scale, tol) -> tuple[str, str]:
    """A name and a sentence for how ``got`` differs from ``want`` when no known mistake explains it."""
    if got.shape != want.shape:
        if got.shape == want.T.shape and _close(got, want.T, scale, tol):
            return "transposed", (f"the transpose of the right {quantity}: shape {got.shape}, where it "
                                  f"should have its weight's shape {want.shape}")
        if got.size == 1:
            return "wrong shape", (f"a single number: summed over every entry, where {quantity} has shape "
                                   f"{want.shape}, a sum over axis 0 only")
        if shape.summed and got.shape == (N,):
            return "wrong shape", (f"one number per example, shape {got.shape}: summed over axis 1, where "
                                   f"{quantity} sums over axis 0 (the N examples), one per {shape.summed}")
        return "wrong shape", f"of shape {got.shape}, where {quantity} has shape {want.shape}"
    if np.sum(want * want) > 0:
        c = float(np.sum(got * want) / np.sum(want * want))
        if _close(got, c * want, scale, tol):
            name = _factor_name(c)
            return f"factor {name}", f"{name} times the right {quantity}"
    wrong = np.abs(got - want) > tol * scale
    for mask, where in shape.masks:
        if np.any(wrong) and not np.any(wrong & ~mask):
            return where, f"wrong only {where}, right everywhere else"
    return "unknown", (f"wrong in {int(wrong.sum())} of {wrong.size} entries, by up to "
                       f"{np.abs(got - want).max():.2g} (its entries are up to {np.abs(want).max():.2g})")


LAYER_NAMES = {"x": "dx (what backward returns)", "W": "self.grads['W']", "b": "self.grads['b']"}


def _mistake_finding(m: Mistake, returned, shown, also=()) -> Finding:
    parts = [f"Your {LAYER_NAMES.get(m.quantity, m.quantity)} is {m.what}."]
    for other in also:
        parts.append(f"(and your {other.quantity} is {other.what})")
    if m.quantity not in returned and shown:
        parts.append(f"You did not return {m.quantity}: it shows in {', '.join(shown)}.")
    parts += _should((m.formula, m.line))
    parts.append(f"Why: {m.why}.")
    return Finding(m.quantity, m.id, _wrap(*parts))


def _generic_finding(quantity, sentence, pattern, formula) -> Finding:
    parts = [f"Your {quantity} matches no mistake the checker knows.", f"It is {sentence}.",
             _hint(pattern), *_should(formula)]
    return Finding(quantity, "unknown", _wrap(*parts), pattern)


# The loop --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blank:
    blank: str


LOOP_BLANK = Blank("Write the loop's backward, steps 6 to 10 (the README's table, training/course_loop.py), "
                   "and return {'dW': dW, 'db': db, 'dW2': dW2, 'db2': db2}; add 'dscores' and 'dhidden' "
                   "to have them checked too.")
FORMULAS = {q: (formula, line) for q, (line, formula) in LINES.items()}      # for _should
REG_FORMULAS = {"dW2": ("dW2 = Hᵀ dS + λ W2",
                        "dW2 = np.dot(hidden_layer.T, dscores); dW2 += reg * W2"),
                "dW": ("dW = Xᵀ dA + λ W", "dW = np.dot(X.T, dhidden); dW += reg * W")}


def loop_inputs(dtype=np.float64) -> dict:
    """The seeded inputs of every check, as the learner gets them (``dtype``) with the forward pass done."""
    rng = np.random.default_rng(SEED)
    X, W, b = rng.standard_normal((N, D)), rng.standard_normal((D, HIDDEN)), 0.5 * rng.standard_normal(HIDDEN)
    W2, b2 = rng.standard_normal((HIDDEN, K)), 0.5 * rng.standard_normal(K)
    X, W, b, W2, b2 = (a.astype(dtype) for a in (X, W, b, W2, b2))
    hidden_layer = np.maximum(0, np.dot(X, W) + b)
    exp_scores = np.exp(np.dot(hidden_layer, W2) + b2)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    return {"X": X, "y": LABELS.copy(), "W": W, "b": b, "W2": W2, "b2": b2, "hidden_layer": hidden_layer,
            "probs": probs}


def reference(inputs: dict, reg: float) -> dict:
    """The course loop's backward on the inputs (in float64): course_step with a step of 0."""
    weights = [np.array(inputs[k], dtype=np.float64) for k in ("W", "b", "W2", "b2")]
    X = np.array(inputs["X"], dtype=np.float64)
    record = course_step(X, inputs["y"], *weights, step_size=0.0, reg=reg)
    return {q: record[q] for q in QUANTITIES}


def predict(inputs: dict, reg: float, mistakes=()) -> dict | None:
    """The six quantities with ``mistakes`` made, each flowing through the correct later formulas; None if
    they cannot be computed (a missing transpose raises, as in the learner's code)."""
    f = {k: np.array(inputs[k], dtype=np.float64) for k in ("X", "W", "b", "W2", "b2")}
    v = SimpleNamespace(**f, y=inputs["y"], H=np.array(inputs["hidden_layer"], dtype=np.float64),
                        P=np.array(inputs["probs"], dtype=np.float64), N=N, K=K, reg=reg,
                        onehot=onehot(inputs["y"], K))
    changes = {stage: change for m in mistakes for stage, change in m.changes.items()}
    try:
        for stage, formula in STAGES.items():
            setattr(v, stage, changes.get(stage, formula)(v))
        return {"dscores": v.dscores, "dW2": v.dW2 + v.rW2, "db2": v.db2 + v.rb2, "dhidden": v.dhidden,
                "dW": v.dW + v.rW, "db": v.db + v.rb}
    except ValueError:
        return None


def check_backward(fn) -> Report:
    """Check a loop-style backward ``fn(X, y, W, b, W2, b2, hidden_layer, probs[, reg=λ]) -> dict``."""
    name = getattr(fn, "__name__", "backward")
    try:
        takes_reg = "reg" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        takes_reg = False
    reg = REG if takes_reg else 0.0
    title = f"check_backward({name})"
    agreed = set(QUANTITIES)
    for dtype in (np.float64, np.float32):
        inputs = loop_inputs(dtype)
        args = [inputs[k].copy() for k in LOOP_ARGS]
        shapes = ", ".join(f"{k} {tuple(inputs[k].shape)}" for k in inputs)
        mistakes = [m for m in LOOP if takes_reg or not m.needs_reg]
        formulas = FORMULAS | (REG_FORMULAS if takes_reg else {})
        def explain(error, mistakes=mistakes, formulas=formulas, shapes=shapes):
            return _explain_error(error, fn, mistakes, formulas, shapes)

        try:
            result = _call(fn, args, {"reg": reg} if takes_reg else {}, title, LOOP_BLANK, explain)
        except _Raised as raised:
            return raised.report
        report = _diagnose_loop(result, inputs, reg, mistakes, np.dtype(dtype), title)
        after = dict(zip(LOOP_ARGS, args, strict=True))
        changed = [k for k in LOOP_ARGS if k != "probs" and not np.array_equal(after[k], inputs[k])]
        if changed and not report.blank:            # the earliest cause: before any wrong gradient
            return _inputs_changed(report, changed, after, inputs, reg, fn, result)
        if not report.passed:
            return report
        agreed &= set(report.checked)
    checked = "the four gradients" + (" (reg terms included)" if takes_reg else "")
    also = [q for q in ("dscores", "dhidden") if q in agreed]
    checked += f", and {' and '.join(also)}," if also else ""
    report.title = title
    report.notes.insert(0, f"In float64 and float32 inputs, {checked} equal the course loop's.")
    return report


LOOP_ARGS = ("X", "y", "W", "b", "W2", "b2", "hidden_layer", "probs")
WEIGHTS = ("W", "b", "W2", "b2")
READS = {"X": "`dW = np.dot(X.T, dhidden)`", "y": "`dscores[range(num_examples), y] -= 1`",
         "W": "`dW += reg * W`", "b": "not backward, but the training loop",
         "W2": "`dhidden = np.dot(dscores, W2.T)`",
         "hidden_layer": "`dW2 = np.dot(hidden_layer.T, dscores)` and the ReLU's switch"}


def _inputs_changed(report, changed, after, inputs, reg, fn, result) -> Report:
    """The learner's backward edited an array it was given (``probs`` aside: the loop edits it on
    purpose): that is the finding, first, and the gradients it spoilt are only its knock-on."""
    name = changed[0]
    before, now = inputs[name], after[name]
    count = int(np.sum(before != now)) if before.shape == now.shape else before.size
    m = BEHAVIOUR["weights-updated-in-backward" if name in WEIGHTS else "input-changed-in-place"]
    binary = before.dtype.kind == "f" and set(np.unique(now)) <= {0, 1} \
        and not set(np.unique(before)) <= {0, 1}
    parts = [m.what.format(name=name, count=count, size=before.size)
             + (", and it now holds only 0s and 1s." if binary else ".")]
    if len(changed) > 1:
        parts.append(f"Your backward changed {', '.join(changed[1:])} too.")
    alias, edit = _edits(fn, name)
    if edit:
        parts += [f"Line {edit[0]} edits it in place:", _code(edit[1])]
    if alias or (name not in WEIGHTS and not edit):
        parts.append(ALIAS.format(alias=alias or "a", name=name, reads=READS[name]) + ".")
    elif name not in WEIGHTS:
        parts.append(f"An in-place edit changes the very array the caller handed in, and later "
                     f"formulas read {name} ({READS[name]}).")
    theirs = predict(inputs | {k: after[k] for k in changed}, reg)
    ref = reference(inputs, reg)
    returned = [q for q in GRADIENTS if isinstance(result, dict) and q in result]
    got = {q: _as_array(result[q], ref[q]) for q in returned}
    tol = TOLERANCE[np.dtype(inputs["X"].dtype)]
    close = {q: {which: _close(a, want[q], max(np.abs(want[q]).max(), 1e-12), tol)
                 for which, want in (("ref", ref), ("theirs", theirs))} for q, a in got.items()}
    spoilt = [q for q, c in close.items() if not c["ref"]]
    follows = spoilt and all(c["theirs"] or c["ref"] for c in close.values())
    if follows:
        verb = "is" if len(spoilt) == 1 else "are"
        parts.append(f"Your {', '.join(spoilt)} {verb} what the right formulas give from {name} as "
                     f"your backward left it. The formulas are right, {name} is not.")
    if name in WEIGHTS:
        parts.append(f"It should be left as it was given: backward returns d{name}, and the "
                     "training loop's step 11 applies it.")
    else:
        a = alias or "a"
        copy = f"`{a} = (hidden_layer > 0)` for a 0/1 mask, or " if name == "hidden_layer" else ""
        parts.append(f"It should be left as it was given. Build a new array: {copy}`{a} = "
                     f"{name}.copy()` before editing it.")
    parts.append(f"Why: {m.why.format(name=name)}.")
    finding = Finding(name, m.id, _wrap(*parts))
    if report.passed or report.blank or follows:
        return Report(report.title, False, [finding], report.notes)
    note = f"The findings after the first may follow from the changed {name}: fix it first."
    return Report(report.title, False, [finding, *report.findings], [*report.notes, note])


def _edits(fn, name) -> tuple[str, tuple[int, str] | None]:
    """From the learner's source, if at hand: a name that aliases ``name`` (``mask = hidden_layer``)
    and the first line that edits either in place (``mask[mask > 0] = 1``, ``W2 -= dW2``)."""
    lines = [(n, text.split("#")[0].strip()) for n, text in _source_lines(fn)]
    alias = next((m.group(1) for _, text in lines
                  if (m := re.fullmatch(rf"(\w+)\s*=\s*{name}", text))), "")
    names = "|".join(re.escape(n) for n in (name, alias) if n)
    edit = re.compile(rf"({names})\s*(\[.*\]\s*(?:[-+*/@]|//)?|(?:[-+*/@]|//))=(?!=)")
    return alias, next(((n, text) for n, text in lines if edit.match(text)), None)


def _diagnose_loop(result, inputs, reg, mistakes, dtype, title) -> Report:
    tol = TOLERANCE[dtype]
    if result is None or (isinstance(result, dict) and not result):
        return Report(title, False, blank=True, notes=[
            f"Your backward returns nothing yet. {LOOP_BLANK.blank}"])
    if not isinstance(result, dict):
        size = f" of {len(result)}" if isinstance(result, (tuple, list)) else ""
        return _problem(title, "", f"Your backward returned a {type(result).__name__}{size}, not a dict. "
                        "Return {'dW': dW, 'db': db, 'dW2': dW2, 'db2': db2}, keyed by the loop's names.",
                        "not a dict")
    title = f"{title}, {dtype} inputs"
    ref = reference(inputs, reg)
    returned = [q for q in QUANTITIES if q in result]
    ignored = [repr(k) for k in result if k not in QUANTITIES]
    if not returned:
        return _problem(title, "", f"Your dict has none of the loop's names ({', '.join(QUANTITIES)}): it "
                        f"has {', '.join(ignored)}. Return {{'dW': dW, 'db': db, 'dW2': dW2, 'db2': db2}}.",
                        "no known key")
    got = {q: _as_array(result[q], ref[q]) for q in returned}
    for q in returned:
        if got[q] is None:
            what = f"Your {q} is {type(result[q]).__name__} {result[q]!r:.60}, not an array of numbers."
            return _problem(title, q, (what, *_should(FORMULAS[q])), "not numbers")
    bad = [q for q in returned if not np.all(np.isfinite(got[q]))]
    if bad:
        q = bad[0]
        count = int(np.sum(~np.isfinite(got[q])))
        what = (f"Your {' and '.join(bad)} hold{'s' if len(bad) == 1 else ''} NaN or inf ({count} "
                f"of {got[q].size} entries of {q}). A division by 0 or the log of 0?")
        return _problem(title, q, (what, *_should(FORMULAS[q])), "not finite")
    scale = {q: max(np.abs(ref[q]).max(), 1e-12) for q in QUANTITIES}
    notes = [f"The checker reads the keys {', '.join(QUANTITIES)}; it ignored {', '.join(ignored)}."
             ] if ignored else []
    right = {q: _close(got[q], ref[q], scale[q], tol) for q in returned}
    gradients = [q for q in GRADIENTS if q in returned]
    key = gradients or returned
    if all(right[q] for q in key):
        for q in returned:
            if not right[q]:
                notes.append(_intermediate_note(q, got, ref, inputs, scale[q], tol))
        missing = [q for q in GRADIENTS if q not in returned]
        if missing:
            return _problem(title, missing[0], f"{', '.join(returned)} right so far; now return "
                            f"{' and '.join(missing)} too.", "missing", notes)
        return Report(title, True, notes=notes, checked=tuple(q for q in returned if right[q]))

    def matches(prediction, quantities):
        return prediction is not None and all(_close(got[q], prediction[q], scale[q], tol)
                                              for q in quantities)

    def cancels(group):                 # a pair where one undoes the other (N too many, N too few)
        alone = [predict(inputs, reg, (m,)) for m in group]
        both = predict(inputs, reg, group)
        return len(group) > 1 and both is not None and None not in alone and any(
            _close(both[q], ref[q], scale[q], tol) and not all(_close(a[q], ref[q], scale[q], tol)
                                                                for a in alone) for q in key)

    explained = ()
    singles = [(m,) for m in mistakes]
    pairs = [(a, b) for i, a in enumerate(mistakes) for b in mistakes[i + 1:]
             if not set(a.changes) & set(b.changes)]
    for group in (singles, pairs):
        found = [g for g in group if matches(predict(inputs, reg, g), key) and not cancels(g)]
        found.sort(key=lambda g: not matches(predict(inputs, reg, g), returned))   # intermediates agree too
        if found:
            explained = found[0]
            break
    lost = None if explained else _precision(got, ref, result, key, right, scale, tol, dtype)
    if lost:
        return Report(title, False, [lost], notes)
    if not explained:                   # the known mistakes that explain the most, the rest by pattern
        count = sum(right[q] for q in key)
        for group in singles + pairs:
            prediction = predict(inputs, reg, group)
            n = prediction is not None and sum(_close(got[q], prediction[q], scale[q], tol) for q in key)
            own = [m.quantity for m in group if m.quantity in returned]
            if n > count and all(q in key and not right[q]
                                 and _close(got[q], prediction[q], scale[q], tol) for q in own) \
                    and not cancels(group):
                explained, count = group, n
    expected = predict(inputs, reg, explained) if explained else ref
    findings = []
    for ids in dict.fromkeys(m.id for m in explained):
        same = [m for m in explained if m.id == ids]
        alone = predict(inputs, reg, same) or expected
        shown = [q for q in key if not _close(alone[q], ref[q], scale[q], tol) and q != same[0].quantity]
        findings.append(_mistake_finding(same[0], returned, shown, same[1:]))
    findings += _generic_loop(got, expected, returned, key, inputs, scale, tol, reg)
    order = {q: i for i, q in enumerate(QUANTITIES)}
    findings.sort(key=lambda f: order.get(f.quantity, -1))
    return Report(title, False, findings, notes)


def _precision(got, ref, result, key, right, scale, tol, dtype) -> Finding | None:
    """Every wrong gradient off by a similar small relative error (about 1e-3 for float16), or one
    of lower precision than the inputs: lost precision, not a wrong formula."""
    wrong = [q for q in key if not right[q]]
    if not wrong or any(got[q].shape != ref[q].shape for q in wrong):
        return None
    errors = [float(np.abs(got[q] - ref[q]).max() / scale[q]) for q in wrong]
    low = [q for q in result if q in QUANTITIES and np.asarray(result[q]).dtype.kind == "f"
           and np.asarray(result[q]).dtype.itemsize < dtype.itemsize]
    if max(errors) > 1e-2 or (len(wrong) < 2 and not low) or max(errors) > 30 * min(errors):
        return None
    m = BEHAVIOUR["precision-lost"]
    half = max(errors) > 1e-5 or dtype == np.float32
    lower, digits = ("float16", "float16 keeps about 3 significant digits") if half else \
        ("float32", "float32 keeps about 7 significant digits")
    names = ", ".join(wrong[:-1]) + f" and {wrong[-1]}" if len(wrong) > 1 else wrong[0]
    parts = [f"Your {names} {'are' if len(wrong) > 1 else 'is'} "
             + m.what.format(error=_sci(max(errors)), tol=_sci(tol), dtype=dtype.name) + ".",
             f"Your {' and '.join(low)} {'is' if len(low) == 1 else 'are'} "
             f"{np.asarray(result[low[0]]).dtype.name}." if low else "",
             "Off by a similar small amount everywhere looks like lost precision, not a wrong "
             "formula.",
             f"Did an array become {lower} (astype(np.{lower}), dtype=np.{lower})?",
             f"It should be {dtype.name}, the inputs' dtype, throughout: dscores = probs (or "
             "probs.copy()) keeps it.", f"Why: {m.why.format(digits=digits)}."]
    quantity = ("dscores" if {"dW2", "db2"} & set(wrong) else
                "dhidden" if len(wrong) > 1 else wrong[0])
    return Finding(quantity, m.id, _wrap(*parts))


def _sci(x: float) -> str:
    return f"{x:.0e}".replace("e-0", "e-")


def _intermediate_note(q, got, ref, inputs, scale, tol) -> str:
    if q == "dhidden" and _close(got[q], np.dot(ref["dscores"], inputs["W2"].T.astype(float)), scale, tol):
        return ("Your dhidden is dscores W2ᵀ before the ReLU's switch (the loop's dhidden is after it, "
                "edited in place); your dW and db use the switch, so they are right.")
    _, sentence = _pattern(q, got[q], ref[q], _loop_shape(q, inputs), scale, tol)
    return (f"Your {q} is {sentence}; the loop's {q} is {LINES[q][1]}. Your gradients are "
            "right: you fold the difference in later.")


def _loop_shape(q, inputs) -> Shape:
    H, y = inputs["hidden_layer"], inputs["y"]
    true = onehot(y, K).astype(bool)
    masks = {"dscores": ((true, "in the true-class entries (n, y_n), where − onehot(y) acts"),
                         (~true, "outside the true-class entries (n, y_n)")),
             "dhidden": ((H <= 0, "where units are off (hidden_layer ≤ 0): the ReLU's switch"),
                         (H > 0, "where units are on (hidden_layer > 0)"))}
    return Shape(FORMULAS[q], {"db2": "class", "db": "hidden unit"}.get(q, ""), masks.get(q, ()))


# how a quantity follows from the one before it, to tell a quantity wrong on its own from one that is
# only passing on the learner's own wrong upstream
LOCAL = {"dW2": ("dscores", lambda v, up: v["hidden_layer"].T @ up + v["reg"] * v["W2"]),
         "db2": ("dscores", lambda v, up: up.sum(axis=0)),
         "dhidden": ("dscores", lambda v, up: (up @ v["W2"].T) * (v["hidden_layer"] > 0)),
         "dW": ("dhidden", lambda v, up: v["X"].T @ up + v["reg"] * v["W"]),
         "db": ("dhidden", lambda v, up: up.sum(axis=0))}


def _from_their_upstream(q, got, returned, expected, v):
    """q by the correct formulas from the nearest quantity before it that the learner returned, or None."""
    if q not in LOCAL:
        return None
    upstream, formula = LOCAL[q]
    if upstream not in returned and upstream == "dhidden" and "dscores" in returned:
        up = _from_their_upstream("dhidden", got, returned, expected, v)
    elif upstream in returned and got[upstream].shape == expected[upstream].shape:
        up = got[upstream]
    else:
        return None
    return None if up is None else formula(v, up)


def _generic_loop(got, expected, returned, key, inputs, scale, tol, reg) -> list[Finding]:
    """Findings by pattern for the quantities the explanation so far leaves wrong."""
    v = {k: np.array(a, dtype=np.float64) for k, a in inputs.items() if k != "y"} | {"reg": reg}
    wrong = [q for q in returned if (q in key or q in ("dscores", "dhidden")) and
             not _close(got[q], expected[q], scale[q], tol)]
    patterns = {}
    for q in wrong:
        follows = _from_their_upstream(q, got, returned, expected, v)
        if follows is not None and _close(got[q], follows, scale[q], tol):
            continue                        # right from the learner's own upstream: the finding is upstream's
        patterns[q] = _pattern(q, got[q], expected[q], _loop_shape(q, inputs), scale[q], tol)
    inferred = _infer_dscores(got, returned, patterns, v, inputs, scale, tol)
    if inferred:
        return [inferred]
    factors = {p for p, _ in patterns.values()}
    if len(factors) == 1 and next(iter(factors)).startswith("factor"):     # one factor: one place
        (pattern,) = factors
        c = pattern.split()[1]
        for upstream, below in (("dscores", GRADIENTS), ("dhidden", ("dW", "db"))):
            if upstream not in returned and set(patterns) == set(below) & set(key) and len(patterns) > 1:
                right = "(P − onehot(y)) / N" if upstream == "dscores" else "dA"
                names = ", ".join(patterns)
                parts = [f"You did not return {upstream}, but {names} are all {c} times the right "
                         f"ones, so your {upstream} is {c} times {right}.",
                         f"That matches no mistake the checker knows. {_hint(pattern)}",
                         *_should(FORMULAS[upstream])]
                return [Finding(upstream, "unknown", _wrap(*parts), pattern)]
    formulas = FORMULAS | (REG_FORMULAS if reg else {})
    return [_generic_finding(q, sentence, pattern, formulas[q])
            for q, (pattern, sentence) in patterns.items()]


def _infer_dscores(got, returned, patterns, v, inputs, scale, tol) -> Finding | None:
    """When dscores is not returned and the four gradients are wrong in a way no known mistake explains:
    the gradients are linear in dscores, and on these inputs that map has full rank, so the one dscores
    that gives them (if any does) is found by least squares, and described by pattern."""
    if "dscores" in returned or not set(GRADIENTS) <= set(returned) or len(patterns) < 2:
        return None
    H, X, W2 = v["hidden_layer"], v["X"], v["W2"]

    def gradients(dS):
        dA = (dS @ W2.T) * (H > 0)
        return np.concatenate([(H.T @ dS).ravel(), dS.sum(axis=0), (X.T @ dA).ravel(), dA.sum(axis=0)])

    columns = np.array([gradients(e.reshape(N, K)) for e in np.eye(N * K)]).T
    data = {"dW2": got["dW2"] - v["reg"] * v["W2"], "db2": got["db2"], "dW": got["dW"] - v["reg"] * v["W"],
            "db": got["db"]}
    if any(data[q].shape != shape for q, shape in (("dW2", (HIDDEN, K)), ("db2", (K,)), ("dW", (D, HIDDEN)),
                                                    ("db", (HIDDEN,)))):
        return None
    target = np.concatenate([data[q].ravel() for q in GRADIENTS])
    solution = np.linalg.lstsq(columns, target, rcond=None)[0]
    if np.abs(columns @ solution - target).max() > 10 * tol * np.abs(target).max():
        return None                     # no dscores gives these four gradients: each is wrong its own way
    want = reference(inputs, v["reg"])["dscores"]
    pattern, sentence = _pattern("dscores", solution.reshape(N, K), want, _loop_shape("dscores", inputs),
                                 scale["dscores"], 1e3 * tol)
    parts = ["You did not return dscores, but your dW2, db2, dW and db are what the correct "
             "formulas give from one dscores, and that dscores matches no mistake the checker knows.",
             f"It is {sentence}.", _hint(pattern), *_should(FORMULAS["dscores"])]
    return Finding("dscores", "unknown", _wrap(*parts), pattern)


def _problem(title, quantity, message, pattern, notes=None) -> Report:
    """A report of one problem; ``message`` is a paragraph or a tuple of them."""
    message = message if isinstance(message, tuple) else (message,)
    finding = Finding(quantity, "unknown", _wrap(*message), pattern)
    return Report(title, False, [finding], notes or [])


# Layers ----------------------------------------------------------------------------------------------

PARENTS = {Linear: "Linear", ReLU: "ReLU", SoftmaxCrossEntropy: "SoftmaxCrossEntropy"}
D_IN, D_OUT = 4, 3


def _layer_blank(kind) -> Blank:
    what = {"Linear": "set self.grads['W'] (1) and self.grads['b'] (2) and return dx (3)",
            "ReLU": "return dx (1)", "SoftmaxCrossEntropy": "return ∂L/∂scores (1)"}.get(kind, "return dx")
    return Blank(f"Write backward from the numbered formulas in the class's docstring: {what}.")


def check_layer(layer) -> Report:
    """Check a layer's backward (a class, or an instance for a layer whose constructor takes arguments)."""
    cls = layer if isinstance(layer, type) else type(layer)
    kind = next((name for parent, name in PARENTS.items() if issubclass(cls, parent)), None)
    title = f"check_layer({cls.__name__})"
    if kind is None:
        return _check_numerically(layer, cls, title)
    report = None
    for dtype in (np.float64, np.float32):
        try:
            report = _check_subclass(cls, kind, np.dtype(dtype), title)
        except _Raised as raised:
            return raised.report
        if not report.passed:
            return report
    report.title = title
    report.notes.insert(0, f"Your backward agrees with {kind}'s own, in float64 and float32.")
    return report


def _layer_inputs(kind, dtype):
    rng = np.random.default_rng(SEED)
    if kind == "Linear":
        return rng.standard_normal((N, D_IN)).astype(dtype), rng.standard_normal((N, D_OUT)).astype(dtype)
    if kind == "ReLU":
        x = rng.standard_normal((N, D_IN))
        return np.where(x >= 0, x + 0.1, x - 0.1).astype(dtype), rng.standard_normal((N, D_IN)).astype(dtype)
    return rng.standard_normal((N, K)).astype(dtype), LABELS.copy()


def _build(cls, kind, dtype, title):
    try:
        if kind == "Linear":
            return cls(D_IN, D_OUT, rng=SEED, dtype=dtype)
        return cls()
    except Exception as error:
        raise _Raised(_problem(title, "", f"check_layer could not build {cls.__name__} as its parent is "
                               f"built ({type(error).__name__}: {error}). Keep the parent's __init__.",
                               "raised")) from None


def _run_layer(layer, parent, x, other, title, explain):
    """Forward, then backward: (dx or ∂L/∂scores, {param: grad})."""
    kind = PARENTS[parent]
    if parent is SoftmaxCrossEntropy:
        _call(layer.forward, [x, other], {}, title, _layer_blank(kind), explain)
        out = _call(layer.backward, [], {}, title, _layer_blank(kind), explain)
    else:
        _call(layer.forward, [x.copy()], {}, title, _layer_blank(kind), explain)
        out = _call(layer.backward, [other], {}, title, _layer_blank(kind), explain)
    return out, {k: layer.grads.get(k) for k in getattr(layer, "params", {})}


def _check_subclass(cls, kind, dtype, title) -> Report:
    parent = next(p for p, name in PARENTS.items() if name == kind)
    x, other = _layer_inputs(kind, dtype)
    layer = _build(cls, kind, dtype, title)
    mistakes = LAYER[kind]
    formulas = {m.quantity: m.formula for m in mistakes}
    shapes = f"x {x.shape}" + (f", dy {other.shape}, W {layer.params['W'].shape}" if kind == "Linear" else
                               f", dy {other.shape}" if kind == "ReLU" else f", y {other.shape}")
    explain = lambda error: _explain_error(error, cls.backward, mistakes, formulas, shapes)  # noqa: E731
    given = other.copy()
    out, grads = _run_layer(layer, parent, x, other, title, explain)
    ref_layer = _build(parent, kind, dtype, title)
    if kind == "Linear":
        ref_layer.params.update({k: layer.params[k].copy() for k in layer.params})
    ref_out, ref_grads = _run_layer(ref_layer, parent, x, given.copy(), title, explain)
    ref = {k: np.asarray(g, dtype=float) for k, g in ref_grads.items()} | {"x": np.asarray(ref_out, float)}
    got_raw = {**grads, "x": out}
    order = list(ref_grads) + ["x"]
    if out is None and all(g is None for g in grads.values()):
        return Report(title, False, blank=True, notes=["Your backward returns nothing yet. "
                                                       + _layer_blank(kind).blank])
    title = f"{title}, {dtype} inputs"
    c = SimpleNamespace(x=x.astype(float), dy=given.astype(float), N=N,
                        W=np.asarray(getattr(layer, "params", {}).get("W", 0.0), dtype=float),
                        mask=x > 0, y_out=np.maximum(x, 0).astype(float))
    if kind == "SoftmaxCrossEntropy":
        c.P, c.onehot = ref_layer.probs.astype(float), onehot(other, K)
    true = onehot(other, K).astype(bool) if kind == "SoftmaxCrossEntropy" else None
    masks = ((x <= 0, "where x ≤ 0 (the units that are off)"), (x > 0, "where x > 0")) \
        if kind == "ReLU" else \
        ((true, "in the true-class entries (n, y_n)"), (~true, "outside the true-class entries")) \
        if kind == "SoftmaxCrossEntropy" else ()
    findings = []
    for q in order:
        name = "backward's return value" if q == "x" else f"self.grads[{q!r}]"
        if got_raw[q] is None:
            must = f"{name} is None: backward must {'return' if q == 'x' else 'set'} it."
            message = _wrap(must, *_should(formulas.get(q)))
            findings.append(Finding(q, "unknown", message, "missing"))
            continue
        got = _as_array(got_raw[q], ref[q])
        if got is None or not np.all(np.isfinite(got)):
            what = "not numbers" if got is None else "NaN or inf"
            message = _wrap(f"{name} is {what}.", *_should(formulas.get(q)))
            findings.append(Finding(q, "unknown", message, "not numbers" if got is None else
                                    "not finite"))
            continue
        tol, scale = TOLERANCE[dtype], max(np.abs(ref[q]).max(), 1e-12)
        if _close(got, ref[q], scale, tol):
            continue
        known = [m for m in mistakes if m.quantity == q and _close(got, _safe(m.changes[q], c), scale, tol)]
        if known:
            findings.append(_mistake_finding(known[0], [q], []))
        else:
            shape = Shape(formulas.get(q, ""), "output" if q == "b" else "", masks if q == "x" else ())
            pattern, sentence = _pattern(q, got, ref[q], shape, scale, tol)
            findings.append(_generic_finding(q, sentence, pattern, formulas.get(q, "")))
    if not findings and kind in IN_PLACE:
        edited = kind == "ReLU" and not np.array_equal(other, given)
        if kind == "SoftmaxCrossEntropy":
            again = _call(layer.backward, [], {}, title, _layer_blank(kind), explain)
            edited = not _close(_as_array(again, ref["x"]), ref["x"], np.abs(ref["x"]).max(),
                                TOLERANCE[dtype])
        if edited:
            findings.append(_mistake_finding(IN_PLACE[kind], ["x"], []))
    return Report(title, not findings, findings)


def _safe(change, c):
    try:
        return change(c)
    except ValueError:
        return None


def _check_numerically(layer, cls, title) -> Report:
    """Any other layer: its backward against central differences of its forward, in float64."""
    if not issubclass(cls, Layer):
        return _problem(title, "", f"check_layer checks a Layer subclass; {cls.__name__} is not one.",
                        "not a layer")
    if isinstance(layer, type):
        try:
            layer = cls()
        except Exception as error:
            return _problem(title, "", f"check_layer could not build {cls.__name__}() ({error}): pass an "
                            f"instance instead, check_layer({cls.__name__}(...)).", "raised")
    rng = np.random.default_rng(SEED)
    n_in = getattr(layer, "in_features", D_IN)
    x = rng.standard_normal((N, n_in))
    x = np.where(x >= 0, x + 0.1, x - 0.1)                # away from kinks at 0
    explain = lambda error: _explain_error(error, cls.backward, [], {}, f"x {x.shape}")  # noqa: E731
    try:
        y = _call(layer.forward, [x.copy()], {}, title, _layer_blank(None), explain)
        dy = rng.standard_normal(np.shape(y))
        dx = _call(layer.backward, [dy.copy()], {}, title, _layer_blank(None), explain)
        grads = {k: None if g is None else np.array(g, dtype=float) for k, g in layer.grads.items()}

        def loss():
            out = _call(layer.forward, [x.copy()], {}, title, _layer_blank(None), explain)
            return float(np.sum(out * dy))

        numeric = {k: _central(loss, layer.params[k]) for k in layer.params} | {"x": _central(loss, x)}
    except _Raised as raised:
        return raised.report
    findings = []
    for q in [*layer.params, "x"]:
        got = dx if q == "x" else grads.get(q)
        if got is None:
            left = "no return value" if q == "x" else f"self.grads[{q!r}] as None"
            findings.append(Finding(q, "unknown", _wrap(f"backward left {left}: nothing to compare with."),
                                    "missing"))
            continue
        got = _as_array(got, numeric[q])
        scale = max(np.abs(numeric[q]).max(), 1e-12)
        if got is not None and _close(got, numeric[q], scale, 1e-5):
            continue
        if got is None or not np.all(np.isfinite(got)):
            findings.append(Finding(q, "unknown", _wrap(f"{q}'s gradient is not finite numbers."),
                                    "not finite"))
            continue
        pattern, sentence = _pattern(q, got, numeric[q], Shape("the central differences"), scale, 1e-5)
        findings.append(_generic_finding(q, sentence, pattern, "what central differences of forward give"))
    return Report(title + ", against central differences", not findings, findings)


def _central(loss, array, eps=1e-6) -> np.ndarray:
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        up = loss()
        array[index] = original - eps
        down = loss()
        array[index] = original
        grad[index] = (up - down) / (2 * eps)
    return grad


def main(code) -> int:
    """Check a loop backward (a function) or a layer (a class), print the verdict, and return the exit code:
    0 when it passes or is still blank, 1 when a mistake is found."""
    report = check_layer(code) if isinstance(code, type) or isinstance(code, Layer) else check_backward(code)
    print(report)
    return 0 if report.passed or report.blank else 1
