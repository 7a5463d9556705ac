"""The framework computes exactly what the course's monolithic loop computes, step by step.

The loop is training/course_loop.py (docs/course_loop.md shows it whole); it imports NumPy only,
so that it is a reference independent of the parts it is compared with.
"""

import ast
from pathlib import Path

import numpy as np
import pytest

from data import make_spiral
from layers import Linear, ReLU, SoftmaxCrossEntropy
from models import Sequential
from optim import SGD
from training.course_loop import course_initial_weights, course_loop, course_step

COURSE_LOOP = Path(__file__).resolve().parent.parent / "training" / "course_loop.py"


def framework_run(X, y, init, *, hidden, n_classes, iterations, step_size=1.0, reg=0.0):
    """The same training with the parts; weight decay on W and W2 only, as the loop's reg term."""
    rng = np.random.default_rng(99)          # overwritten by load_state_dict below
    model = Sequential(Linear(2, hidden, rng=rng), ReLU(), Linear(hidden, n_classes, rng=rng))
    model.load_state_dict({"0.W": init["W"], "0.b": init["b"], "2.W": init["W2"], "2.b": init["b2"]})
    params = model.parameters()
    optimizers = [
        SGD([p for p in params if p.name.endswith("W")], lr=step_size, weight_decay=reg),
        SGD([p for p in params if p.name.endswith("b")], lr=step_size),
    ]
    loss_fn = SoftmaxCrossEntropy()
    losses, first_grads = [], None
    for step in range(iterations):
        data_loss = loss_fn.forward(model.forward(X), y)
        reg_loss = 0.5 * reg * sum(np.sum(p.value * p.value) for p in params if p.name.endswith("W"))
        losses.append(data_loss + reg_loss)
        model.backward(loss_fn.backward())
        if step == 0:
            first_grads = {"W": model[0].grads["W"].copy(), "b": model[0].grads["b"].copy(),
                           "W2": model[2].grads["W"].copy(), "b2": model[2].grads["b"].copy()}
            for name in ("W", "W2"):        # the loop's gradients include reg·W
                first_grads[name] += reg * init[name]
        for optimizer in optimizers:
            optimizer.step()
    final = {"W": model[0].params["W"], "b": model[0].params["b"],
             "W2": model[2].params["W"], "b2": model[2].params["b"]}
    return np.array(losses), first_grads, final


def relative(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("setup", [
    dict(n_per_class=400, n_classes=2, noise=0.5, hidden=1000, reg=0.0, iterations=300),   # the question
    dict(n_per_class=100, n_classes=3, noise=0.2, hidden=100, reg=1e-3, iterations=300),   # the course page
], ids=["question", "course"])
def test_parts_match_the_course_loop(setup):
    X, y = make_spiral(setup["n_per_class"], setup["n_classes"], setup["noise"], rng=0)
    init = course_initial_weights(2, setup["hidden"], setup["n_classes"], np.random.default_rng(1))
    ref_losses, ref_grads, ref_final = course_loop(X, y, **init, reg=setup["reg"],
                                                   iterations=setup["iterations"])
    losses, grads, final = framework_run(X, y, init, hidden=setup["hidden"], n_classes=setup["n_classes"],
                                         iterations=setup["iterations"], reg=setup["reg"])
    # every iteration's loss
    assert np.abs(losses - np.array(ref_losses)).max() <= 1e-10
    # the gradients of step 0, entry by entry
    for name in ("W", "b", "W2", "b2"):
        assert relative(grads[name], ref_grads[name]) <= 1e-12, name
    # and where both end up
    for name in ("W", "b", "W2", "b2"):
        assert relative(final[name], ref_final[name]) <= 1e-9, name
    # the runs trained: the loss fell by more than 40 %
    assert losses[-1] < 0.6 * losses[0]


def test_first_loss_is_ln_k_with_small_weights():
    for n_classes in (2, 3, 5):
        X, y = make_spiral(50, n_classes, rng=0)
        init = course_initial_weights(2, 100, n_classes, np.random.default_rng(2))
        losses, _, _ = framework_run(X, y, init, hidden=100, n_classes=n_classes, iterations=1)
        assert abs(losses[0] / np.log(n_classes) - 1) < 0.02


def test_the_loops_softmax_overflows_where_the_loss_does_not():
    scores = np.array([[800.0, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        exp_scores = np.exp(scores)
        loop_probs = exp_scores / exp_scores.sum(axis=1, keepdims=True)
    assert np.isnan(loop_probs).any()                        # inf / inf
    loss_fn = SoftmaxCrossEntropy()
    assert loss_fn.forward(scores, np.array([1])) == pytest.approx(800.0)
    np.testing.assert_allclose(loss_fn.backward(), [[1.0, -1.0]])


def test_the_course_loop_imports_numpy_and_nothing_else():
    """An independent reference: built from none of the parts it is compared with."""
    tree = ast.parse(COURSE_LOOP.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    assert imported == {"__future__", "numpy"}


def test_course_step_updates_in_place_and_aliases_probs_as_the_course_does():
    X, y = make_spiral(5, 2, rng=0)
    init = course_initial_weights(2, 4, 2, np.random.default_rng(0))
    W, b, W2, b2 = (init[k].copy() for k in ("W", "b", "W2", "b2"))
    record = course_step(X, y, W, b, W2, b2, step_size=0.5, reg=0.1)
    assert record["dscores"] is record["probs"]              # dscores = probs copies nothing
    onehot = np.eye(2)[y]
    probs = record["exp_scores"] / record["exp_scores"].sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(record["dscores"], (probs - onehot) / 10)
    assert record["loss"] == record["data_loss"] + record["reg_loss"]
    assert record["reg_loss"] == pytest.approx(0.05 * (np.sum(init["W"] ** 2) + np.sum(init["W2"] ** 2)))
    np.testing.assert_array_equal(W, init["W"] - 0.5 * record["dW"])     # the step, in the caller's array
    np.testing.assert_array_equal(b2, init["b2"] - 0.5 * record["db2"])
