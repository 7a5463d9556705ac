"""explain.py on trained weights: --from a run of the course's network gives the loop view on the run's
data and weights, --step K explains the step after K updates (trained, or replayed from the run's seed
and settings), and every way a file or a flag can be unusable is one line with train.py's exit code."""

import json
import re

import numpy as np
import pytest

import explain
import train
from checks.files import read_npz
from training.course_loop import course_loop
from training.settings import build_data
from training.walkthrough import two_class

SMALL_RUN = ["--points", "40", "--hidden", "20", "--steps", "60", "--no-progress"]
ROW = re.compile(r"row +(\d+) \(class (\d)\)  \[ *(\S+) +(\S+)\]")


def run(argv, capsys) -> tuple[int, str, str]:
    code = explain.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs of the course's network (Linear, ReLU, Linear): 60 steps, the same for 30, and variants."""
    folder = tmp_path_factory.mktemp("runs")
    made = {"60": SMALL_RUN, "30": [*SMALL_RUN[:-2], "30", "--no-progress"],
            "adam": [*SMALL_RUN, "--optimizer", "adam", "--lr", "0.01", "--batch-size", "16"],
            "reg": [*SMALL_RUN, "--reg", "0.001"], "init": [*SMALL_RUN[:-2], "2", "--init", "1e150"]}
    for name, argv in made.items():
        assert train.main([*argv, "--out", str(folder / name)]) == 0
    return folder


def test_from_a_run_of_the_course_network_is_the_loop_view_on_its_data_and_trained_weights(runs, capsys):
    code, out, err = run(["--from", str(runs / "60")], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("One training step of the course's network, run twice from the same weights:")
    assert "data   the run's training points (training.settings.build_data): X [80 x 2], y [80]" in out
    assert "its weights after step 60: a 2-layer MLP, 20 ReLU units" in out
    assert "all 17 differences ≤ 1e-12" in out and "There is no course loop" not in out
    probs = ROW.findall(out[out.index("(a) probs"):out.index("(b) onehot")])
    assert {k for _, k, *_ in probs} == {"0", "1"} and {p for *_, a, b in probs for p in (a, b)} - {"0.5000"}
    path = runs / "60" / "checkpoint.npz"
    arrays = read_npz(path)
    config, model, X, y, step, _ = explain.load_run(path, arrays, None)
    assert step == 60
    for name, value in model.state_dict().items():         # the run's weights, not fresh ones
        np.testing.assert_array_equal(value, arrays[f"model/{name}"])
    np.testing.assert_array_equal(X, build_data(config)[0])


def test_step_k_below_the_saved_step_replays_the_run_to_k(runs, capsys):
    path = runs / "60" / "checkpoint.npz"
    _, model, _, _, step, source = explain.load_run(path, read_npz(path), 30)
    after_30 = read_npz(runs / "30" / "checkpoint.npz")    # the same settings, stopped at 30
    for name, value in model.state_dict().items():
        np.testing.assert_allclose(value, after_30[f"model/{name}"], rtol=0, atol=1e-12)
    assert step == 30 and "replayed to step 30" in source[1]
    code, out, err = run(["--from", str(runs / "60"), "--step", "30"], capsys)
    assert (code, err) == (0, "") and "all 17 differences" in out


def test_step_k_above_the_saved_step_is_refused_in_one_line(runs, capsys):
    code, out, err = run(["--from", str(runs / "60"), "--step", "61"], capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("explain.py: error: argument --step:") and "has made 60 updates" in err


def test_step_k_without_from_trains_the_course_network_k_steps_first(capsys):
    course = explain.trained(two_class(small=True), 50)
    start = two_class(small=True)
    _, _, by_the_loop = course_loop(start.X, start.y, *start.weights.values(), iterations=50)
    for name, value in by_the_loop.items():                # fit's 50 steps are the course loop's 50
        np.testing.assert_allclose(course.weights[name], value, rtol=0, atol=1e-12)
    code, out, err = run(["--small", "--step", "50"], capsys)
    assert (code, err) == (0, "")
    assert "weights after 50 updates: fit(model, loss_fn, optimizer, X, y, steps=50)" in out
    assert "At the initial weights" not in out


def test_step_100_shows_the_update_as_old_minus_lr_times_g_equals_new(capsys):
    code, out, err = run(["--step", "100"], capsys)
    assert (code, err) == (0, "")
    updates = re.findall(r"(W2?|b2?)\[[\d, ]+\]:  (\S+) − 1\.0 · \(?([^ )]+)\)? = (\S+)", out)
    assert {name for name, *_ in updates} == {"W", "b", "W2", "b2"}
    for _, old, g, new in updates:
        assert float(old) - float(g) == pytest.approx(float(new), rel=1e-5, abs=1e-9)
    probs = ROW.findall(out[out.index("(a) probs"):out.index("(b) onehot")])
    assert all(abs(float(p) - 0.5) > 0.02 for _, _, p, _ in probs)         # P has moved from 0.5


def test_other_optimizers_mini_batches_and_reg_are_said(runs, capsys):
    code, out, err = run(["--from", str(runs / "adam")], capsys)
    assert (code, err) == (0, "")
    assert "update the run's optimizer: Adam(" in out and "the course loop's plain SGD step" in out
    assert "mini-batches of 16; this one all" in out
    assert max(len(line) for line in out.splitlines() if str(runs) not in line) <= 100
    code, out, err = run(["--from", str(runs / "reg")], capsys)
    assert (code, err) == (0, "") and "reg = λ = 0.001: lines 8, 9, 19 and 20 add" in out
    assert "all 17 differences" in out          # the loop's dW += reg * W against the parts' L2
    assert max(len(line) for line in out.splitlines() if str(runs) not in line) <= 100


def test_a_run_with_huge_weights_is_explained_part_by_part_within_100_columns(runs, capsys):
    code, out, err = run(["--from", str(runs / "init")], capsys)     # --init 1e150: scores near 1e300
    assert (code, err) == (0, "")
    assert "the course loop's softmax overflows on scores up to" in out
    assert max(len(line) for line in out.splitlines() if str(runs) not in line) <= 100


def edit(source, target, config=None, layer=None) -> str:
    """A copy of the file ``source`` with its config text, or its layer 2's settings, replaced."""
    arrays = read_npz(source)
    if config is not None:
        arrays["config"] = np.array(config)
    if layer is not None:
        architecture = json.loads(str(arrays["architecture"]))
        architecture[2].update(layer)
        arrays["architecture"] = np.array(json.dumps(architecture))
    np.savez(target, **arrays)
    return str(target)


@pytest.mark.parametrize("damage, expected", [
    ({"config": "[1, 2]"}, "its config is not a JSON object"),
    ({"config": "[" * 100_000 + "]" * 100_000}, "damaged checkpoint (RecursionError"),
    ({"noise": "abc"}, "noise must be a number, got 'abc'"),
    ({"layer": {"out_features": 10**10}}, "layer 2 differs in out_features"),
])
def test_a_hand_edited_checkpoint_is_one_line_and_exit_1(runs, tmp_path, capsys, damage, expected):
    config = json.loads(str(read_npz(runs / "60" / "checkpoint.npz")["config"]))
    text = json.dumps(dict(config, noise=damage["noise"])) if "noise" in damage else damage.get("config")
    path = edit(runs / "60" / "checkpoint.npz", tmp_path / "edited.npz", text, damage.get("layer"))
    code, out, err = run(["--from", path], capsys)
    assert (code, out) == (1, "") and err.count("\n") == 1 and expected in err


def test_a_model_file_too_large_to_build_is_one_line(runs, tmp_path, capsys):
    arrays = {k: v for k, v in read_npz(runs / "60" / "checkpoint.npz").items()
              if k in ("format", "architecture") or k.startswith("model/")}       # what model.save writes
    np.savez(tmp_path / "model.npz", **arrays)
    path = edit(tmp_path / "model.npz", tmp_path / "huge.npz", layer={"out_features": 10**12})
    code, out, err = run(["--from", path], capsys)
    assert (code, out, err) == (1, "", "explain.py: error: out of memory: the model or its data is too large "
                                       "for this machine\n")


@pytest.mark.parametrize("argv, expected", [
    (["--from", "a" * 300], "argument --from: " + "a" * 300 + ": the path is too long"),
    (["--hidden", "100000000000"], "argument --hidden: the run needs at least"),
])
def test_unusable_flags_are_one_line_and_exit_2(argv, expected, capsys):
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith(f"explain.py: error: {expected}")
