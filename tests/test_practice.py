"""The practitioner's path through train.py: a tabular CSV file with text labels on very different
scales, standardised; a test file; predictions for new rows; early stopping that keeps the best
weights; learning-rate schedules; resuming all of it bit for bit; explain.py and the comparison of runs
on such a run."""

import contextlib
import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import explain
import train
from checks.files import read_npz
from examples import table_files
from models import Sequential
from tests.helpers import ROOT, assert_same_files, edited_checkpoint
from training import compare


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The engineer's kind of file (examples/table_files.py: 3 classes of 200 rows, 8 features on scales
    0.1 … 1000, a `target` column of text labels), a test file from the same classes and a file of new
    rows without labels, in tmp_path, the working folder; figures are not drawn (they have their own
    tests)."""
    table_files.write_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "draw_figures", lambda *args, **kwargs: {})
    return tmp_path


ENGINEER = ["--dataset", "blobs.csv", "--label-column", "target", "--val-fraction", "0.2", "--steps", "300",
            "--no-progress"]


def rows_of(path) -> list[list[str]]:
    return list(csv.reader(Path(path).read_text().splitlines()))


def run(capsys, *args):
    capsys.readouterr()
    code = train.main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def record(folder) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def documented_example() -> tuple[list[str], list[str]]:
    """docs/train.md's command on such a file (its arguments) and the lines it shows the command print."""
    text = (ROOT / "docs" / "train.md").read_text(encoding="utf-8")
    block = text.split("## Your own table")[1].split("```sh\n")[1].split("```")[0].replace("\\\n", "")
    command = next(line for line in block.splitlines() if line.startswith("python train.py"))
    return command.split()[2:], [line[2:] for line in block.splitlines() if line.startswith("# ")]


def same_but_rounding(printed: str, shown: str) -> bool:
    """The same words, and numbers equal to the digits shown (another CPU may round the last one)."""
    number = r"[-+]?\d[\d.,]*(?:e[-+]?\d+)?"
    numbers = [[float(n.replace(",", "")) for n in re.findall(number, line)] for line in (printed, shown)]
    return re.sub(number, "#", printed) == re.sub(number, "#", shown) and np.allclose(*numbers, rtol=2e-3)


def test_the_documented_example_standardizes_reaches_85_percent_and_tests(files, capsys):
    args, shown = documented_example()
    assert {"--standardize", "--label-column", "--val-fraction", "--test"} <= set(args)
    code, out, err = run(capsys, *args, "--no-progress", "--out", "run")
    assert code == 0, err
    for line in shown:
        printed = next(p for p in out.splitlines() if p.split()[0] == line.split()[0])
        assert same_but_rounding(printed.split("  (")[0] if line.startswith("done") else printed, line), \
            (printed, line)
    final, test = record("run")["final"], record("run")["test"]
    assert final["val_accuracy"] >= 0.85 and record("run")["config"]["hidden"] == 1000      # the defaults
    assert record("run")["config"]["optimizer"] == "sgd" and record("run")["config"]["lr"] == 1.0
    assert test["rows"] == 120 and test["weights"] == "the final weights"
    assert record("run")["config"]["labels"] == ["alder", "birch", "cedar"]


def test_unscaled_features_diverge_with_the_hint_to_standardize(files, capsys):
    code, out, err = run(capsys, *ENGINEER, "--hidden", "64", "--out", "run")
    assert code == 1
    assert "training diverged" in err and "try --standardize" in err


def test_predict_writes_one_row_per_input_row_with_the_class_names(files, capsys):
    assert run(capsys, *ENGINEER, "--standardize", "--hidden", "16", "--out", "run")[0] == 0
    code, out, err = run(capsys, "--resume", "run", "--predict", "new.csv")
    assert code == 0, err
    rows = rows_of("run/predictions.csv")
    assert rows[0] == ["row", "predicted", "p(alder)", "p(birch)", "p(cedar)"]
    assert len(rows) == 1 + 15 and [row[0] for row in rows[1:]] == [str(i) for i in range(1, 16)]
    p = np.array([[float(v) for v in row[2:]] for row in rows[1:]])
    assert np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert [row[1] for row in rows[1:]] == [("alder", "birch", "cedar")[k] for k in p.argmax(axis=1)]
    model = Sequential.from_file("run/checkpoint.npz")          # the same predictions from the file alone
    X = np.array([[float(v) for v in row] for row in rows_of("new.csv")[1:]])
    assert (model.eval().forward(X).argmax(axis=1) == p.argmax(axis=1)).all()
    # a file with its label column predicts the same way; a file of the wrong width is refused
    assert run(capsys, "--resume", "run", "--predict", "test.csv")[0] == 0
    assert len(rows_of("run/predictions.csv")) == 1 + 120
    table_files.write(Path("narrow.csv"), X[:, :3])
    code, out, err = run(capsys, "--resume", "run", "--predict", "narrow.csv")
    assert code == 2 and "narrow.csv has 3 columns" in err and "8 features" in err
    # columns in another order than the training file's are refused, never read silently
    rows = rows_of("test.csv")
    swapped = [",".join([row[4], *row[1:4], row[0], *row[5:]]) for row in rows]     # f5 and f1
    Path("swapped.csv").write_text("\n".join(swapped))
    for flag in ("--test", "--predict"):
        args = ["--resume", "run", "--predict", "swapped.csv"] if flag == "--predict" else \
            [*ENGINEER, "--standardize", "--test", "swapped.csv", "--out", "other"]
        code, out, err = run(capsys, *args)
        assert code == 2 and f"argument {flag}" in err
        assert "f5, f2, f3, f4, f1" in err and "in this order" in err


def test_patience_stops_early_keeps_the_best_weights_and_tests_them(files, capsys):
    args = [*ENGINEER, "--standardize", "--hidden", "16", "--lr", "3", "--patience", "5", "--steps", "2000",
            "--test", "test.csv"]
    code, out, err = run(capsys, *args, "--out", "run")
    assert code == 0, err
    history = np.genfromtxt("run/history.csv", delimiter=",", names=True)
    best = record("run")["best"]
    assert best["step"] == history["step"][np.argmin(history["val_loss"])]
    assert best["stopped_early"] and record("run")["steps_done"] < 2000
    assert record("run")["status"] == "completed"
    assert len(history) == np.argmin(history["val_loss"]) + 1 + 5 + 1      # 5 rows without a better one
    assert record("run")["test"]["weights"] == f"the best weights, step {best['step']}"
    capsys.readouterr()
    assert compare.main(["run"]) == 0 and "stopped early" in capsys.readouterr().out
    # the best weights are those of a run trained to the best step
    to_best = [a if a != "2000" else str(int(best["step"])) for a in args]
    assert run(capsys, *to_best, "--patience", "0", "--out", "to_best")[0] == 0
    kept, again = read_npz("run/best.npz"), read_npz("to_best/checkpoint.npz")
    for name in (name for name in kept if name.startswith("model/")):
        assert kept[name].tobytes() == again[name].tobytes(), name


@contextlib.contextmanager
def ctrl_c_before_step(step: int):
    """train.py's Ctrl-C flag, set before update ``step`` (it is asked once before each update)."""
    asked = []
    yield lambda: asked.append(1) or len(asked) > step


@pytest.mark.parametrize("schedule", [["--lr-schedule", "step", "--lr-step-size", "7", "--lr-gamma", "0.5"],
                                      ["--lr-schedule", "cosine"]])
def test_schedules_and_patience_resume_bit_for_bit(files, capsys, monkeypatch, schedule):
    args = [*ENGINEER, "--standardize", "--hidden", "16", "--patience", "50", "--checkpoint-every", "10",
            "--steps", "60", *schedule]
    code, out, err = run(capsys, *args, "--out", "whole")
    assert code == 0 and ("StepLR(step_size=7, gamma=0.5)" in out or "CosineAnnealingLR(T_max=60" in out)
    with monkeypatch.context() as patch:
        patch.setattr(train.runs, "stop_flag", lambda: ctrl_c_before_step(30))
        assert run(capsys, *args, "--out", "split")[0] == 130
    assert read_npz("split/checkpoint.npz")["step"] == 30
    code, out, err = run(capsys, "--resume", "split", "--no-progress")
    assert code == 0, err
    assert_same_files(Path("whole"), Path("split"))


def test_explain_from_an_eight_feature_run_uses_its_own_rows(files, capsys):
    assert run(capsys, *ENGINEER, "--standardize", "--hidden", "6", "--steps", "20", "--out", "run")[0] == 0
    capsys.readouterr()
    assert explain.main(["--from", "run"]) == 0
    out = capsys.readouterr().out
    assert "Standardize" in out and "the run's own rows" in out and "all" in out.splitlines()[-1]
    Sequential.from_file("run/checkpoint.npz").save("model.npz")      # a model file: no data of its own
    assert explain.main(["--from", "model.npz"]) == 0
    out = capsys.readouterr().out
    assert "rows μ + σ·N(0, 1)" in out and out.splitlines()[-1].startswith("all")


def test_compare_marks_the_best_run(files, capsys):
    for name, lr in (("slow", "0.01"), ("fast", "1")):
        assert run(capsys, *ENGINEER, "--standardize", "--hidden", "8", "--steps", "40", "--lr", lr,
                   "--out", f"runs/{name}")[0] == 0
    capsys.readouterr()
    assert compare.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "fast" in out and "slow" in out and "*" in out


def test_the_python_example_of_the_manual_runs_and_keeps_the_class_names(files, capsys):
    text = (ROOT / "docs" / "train.md").read_text(encoding="utf-8")
    block = text.split("from Python: the test file read")[1].split("```python\n")[1].split("```")[0]
    exec(compile(block, "docs/train.md", "exec"), {})
    best, names = capsys.readouterr().out.splitlines()
    assert float(best.split("test accuracy ")[1].rstrip("%")) >= 85
    assert set(eval(names)) <= {"alder", "birch", "cedar"}


def test_the_hand_over_to_a_pytorch_colleague_works_without_this_project(files, capsys):
    """docs/pytorch.md's two blocks: the state_dict saved here, loaded by plain PyTorch in a process that
    cannot import this project, computes the run's scores (to 1e-12)."""
    pytest.importorskip("torch")
    args = [*ENGINEER, "--standardize", "--hidden", "64", "--steps", "50", "--patience", "5"]
    assert run(capsys, *args, "--out", "run")[0] == 0
    blocks = (ROOT / "docs" / "pytorch.md").read_text().split("## Handing a model on")[1].split("```python\n")
    here, there = (block.split("```")[0] for block in blocks[1:3])
    exec(here.replace("module = to_torch(model)", "model = Sequential.from_file('run/best.npz')\n"
                      "module = to_torch(model)"), {})
    X = np.array([[float(v) for v in row] for row in rows_of("new.csv")[1:]])
    np.save("new.npy", X)
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    check = there + textwrap.dedent("""
        import sys
        import numpy as np
        assert not [m for m in sys.modules if m.split(".")[0] in ("layers", "models", "training")]
        np.save("torch_scores.npy", module(torch.from_numpy(np.load("new.npy"))).detach().numpy())
        """)
    subprocess.run([sys.executable, "-c", check], check=True, env=env, cwd=files)
    ours = Sequential.from_file("run/best.npz").eval().forward(X)
    assert np.allclose(np.load("torch_scores.npy"), ours, rtol=0, atol=1e-12 * np.abs(ours).max())


# What a review found: each a clear refusal, never a silent wrong result ---------------------------

def test_a_test_file_is_read_against_the_runs_classes(files, capsys):
    Path("text.csv").write_text("x1,x2,label\n0.1,0.2,cat\n0.3,0.1,dog\n")
    code, out, err = run(capsys, "--hidden", "4", "--steps", "5", "--test", "text.csv", "--out", "a")
    assert code == 2 and "'cat' is not one of the classes given (0, 1)" in err and not Path("a").exists()
    Path("one.csv").write_text("x1,x2,label\n0.1,0.2,1\n0.3,0.1,1\n")      # one class of two: fine
    code, out, err = run(capsys, "--hidden", "4", "--steps", "5", "--test", "one.csv", "--out", "b")
    assert code == 0 and "test       one.csv, 2 rows" in out


def test_numbers_beyond_float32_and_their_variance_are_refused_by_name(files, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2)) * [1e20, 1]
    Path("big.csv").write_text("a,b,label\n" + "".join(f"{a},{b},{int(a > 0)}\n" for a, b in X))
    code, out, err = run(capsys, "--dataset", "big.csv", "--standardize", "--dtype", "float32", "--out", "r")
    assert code == 2 and "argument --standardize" in err and "feature 0" in err and "use float64" in err
    Path("huge.csv").write_text("a,b,label\n1e39,0,0\n1,2,1\n")
    code, out, err = run(capsys, "--dataset", "huge.csv", "--dtype", "float32", "--out", "r")
    said = "argument --dataset: cannot load huge.csv: line 2, column 1 (a): 1e39 does not fit float32"
    assert code == 2 and said in err and "resume" not in err


def test_a_header_naming_a_column_twice_is_refused(files, capsys):
    Path("dup.csv").write_text("a,label,b,label\n1,0,2,1\n3,1,4,0\n")
    code, out, err = run(capsys, "--dataset", "dup.csv", "--out", "r")
    assert code == 2 and "names 'label' twice (columns 2 and 4)" in err


def test_predictions_are_quoted_csv_and_unknown_labels_are_named(files, capsys):
    names = ["Iris setosa, wild", 'the "other" one']
    with open("commas.csv", "w", newline="") as file:
        csv.writer(file).writerows([["a", "b", "label"], *([i, -i, names[i % 2]] for i in range(10))])
    assert run(capsys, "--dataset", "commas.csv", "--hidden", "4", "--steps", "5", "--out", "r")[0] == 0
    Path("new2.csv").write_text("a,b\n1,2\n")
    assert run(capsys, "--resume", "r", "--predict", "new2.csv")[0] == 0
    rows = rows_of("r/predictions.csv")
    assert rows[0] == ["row", "predicted", "p(Iris setosa, wild)", 'p(the "other" one)'] and len(rows[1]) == 4
    Path("lion.csv").write_text('a,b,label\n1,2,lion\n')
    code, out, err = run(capsys, "--resume", "r", "--predict", "lion.csv")
    assert code == 2 and "argument --predict" in err and "'lion' is not one of the classes given" in err
    for _ in range(2):                      # --out is honoured, and may be used again
        assert run(capsys, "--resume", "r", "--predict", "new2.csv", "--out", "elsewhere")[0] == 0
    assert Path("elsewhere/predictions.csv").is_file()
    Path("binary.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    code, out, err = run(capsys, "--resume", "r", "--predict", "binary.csv")
    assert code == 2 and "argument --predict: cannot load binary.csv: it is not a text file" in err


def test_damaged_schedule_and_early_stopping_entries_are_a_damaged_checkpoint(files, capsys):
    args = [*ENGINEER, "--standardize", "--hidden", "8", "--steps", "30", "--lr-schedule", "cosine",
            "--patience", "50"]
    assert run(capsys, *args, "--out", "r")[0] == 0
    for name, value, words in (("schedule/T_max", 0, "T_max must be at least 1"),
                               ("schedule/last_epoch", 7, "its schedule is at step 7, the run at 30"),
                               ("early/best_step", 33, "best_step 33 is not the step of a history row"),
                               ("early/best_step", -1, "best_step -1 is not the step of a history row")):
        arrays = dict(read_npz("r/checkpoint.npz"), **{name: np.array(value)})
        Path("d").mkdir(exist_ok=True)
        np.savez("d/checkpoint.npz", **arrays)
        code, out, err = run(capsys, "--resume", "d/checkpoint.npz", "--steps", "40", "--out", f"d/{value}")
        assert code == 1 and "damaged checkpoint" in err and words in err, err
        if name == "schedule/T_max":        # explain.py checks it as train.py does: one line, no traceback
            capsys.readouterr()
            assert explain.main(["--from", "d/checkpoint.npz", "--step", "5"]) == 1
            assert "damaged checkpoint" in capsys.readouterr().err
    code, out, err = run(capsys, "--resume", "r", "--steps", "40", "--no-progress")
    assert code == 0 and "--lr-schedule cosine keeps its first 30 steps" in err


def test_flags_that_would_do_nothing_are_refused(files, capsys):
    for args, words in ((["--lr-gamma", "0.5"], "--lr-gamma: they apply to --lr-schedule step only"),
                        (["--resume", "r", "--plot-only", "--test", "x.csv"], "without --animate or --test")):
        code, out, err = run(capsys, *args)
        assert code == 2 and words in err, err
    assert run(capsys, "--steps", "0", "--hidden", "4", "--lr-schedule", "cosine", "--out", "zero")[0] == 0


def test_plot_only_of_a_killed_patience_run_does_not_call_it_completed(files, capsys, monkeypatch):
    args = [*ENGINEER, "--standardize", "--hidden", "8", "--patience", "50", "--checkpoint-every", "10"]
    with monkeypatch.context() as patch:
        patch.setattr(train.runs, "stop_flag", lambda: ctrl_c_before_step(20))
        assert run(capsys, *args, "--out", "r")[0] == 130
    kept = record("r")
    Path("r/config.json").write_text(json.dumps(dict(kept, status="running")))    # as a kill leaves it
    assert run(capsys, "--resume", "r", "--plot-only")[0] == 0
    assert record("r")["status"] == "interrupted"
    stopping = [*ENGINEER, "--standardize", "--hidden", "16", "--lr", "3", "--patience", "5",
                "--steps", "2000"]
    assert run(capsys, *stopping, "--out", "stopped")[0] == 0                   # stopped early: completed
    assert run(capsys, "--resume", "stopped", "--plot-only", "--out", "copy")[0] == 0
    assert record("copy")["status"] == record("stopped")["status"] == "completed"


def test_a_run_started_with_lr_gamma_alone_still_resumes(files, capsys):
    """Before it was refused, --lr-gamma without the step schedule was taken and not used."""
    assert run(capsys, "--hidden", "4", "--steps", "5", "--out", "r")[0] == 0
    Path("old").mkdir()
    edited_checkpoint(Path("r/checkpoint.npz"), Path("old/checkpoint.npz"), lr_gamma=0.5)
    Path("old/config.json").write_bytes(Path("r/config.json").read_bytes())
    code, out, err = run(capsys, "--resume", "old", "--steps", "10", "--no-progress")
    assert code == 0, err


def test_explain_replays_a_run_with_its_schedule(files, capsys):
    schedule = ["--hidden", "12", "--lr-schedule", "step", "--lr-step-size", "5", "--lr-gamma", "0.1"]
    assert run(capsys, *schedule, "--steps", "20", "--out", "long")[0] == 0
    assert run(capsys, *schedule, "--steps", "10", "--out", "short")[0] == 0
    capsys.readouterr()
    outputs = []
    for argv in (["--from", "long", "--step", "10"], ["--from", "short"]):
        assert explain.main(argv) == 0
        outputs.append([line for line in capsys.readouterr().out.splitlines()
                        if not line.startswith(("run ", "       its weights", "       replayed"))])
    assert outputs[0] == outputs[1] and any("lr = 0.0100" in line for line in outputs[0])
