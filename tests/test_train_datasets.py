"""train.py on other data sets and a learner's CSV file, and --animate."""

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

import checks.files
import train
from tests.helpers import SMALL
from tests.helpers import train as train_in_a_subprocess

TINY = ["--points", "30", "--hidden", "8", "--no-progress", "--log-every", "5"]


def main(*argv) -> tuple[int, str, str]:
    """train.main(argv): its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = train.main([str(arg) for arg in argv])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def no_figures(*args, **kwargs) -> dict:
    """train.draw_figures for tests about the data: the figures take most of a small run's time."""
    return {}


def test_animate_writes_a_gif_of_40_frames_beside_the_figures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = main(*TINY, "--dataset", "moons", "--steps", "60", "--animate", "--out", "run")
    assert code == 0, err
    assert "moons, 2 classes x 30 points, noise 0.15" in out and "training.gif" in out
    with Image.open(tmp_path / "run" / "training.gif") as gif:
        assert gif.n_frames >= 30 and gif.size[0] >= 500
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["config"]["dataset"] == "moons" and record["figures"]["training.gif"] == "drawn"
    assert {"loss.png", "boundary.png", "hidden.png"} <= {p.name for p in (tmp_path / "run").iterdir()}


def test_the_animation_snapshots_leave_the_training_as_it_was(tmp_path, monkeypatch):
    """Frames are taken in evaluation mode: no dropout mask drawn, no running statistic moved."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "draw_figures", no_figures)
    flags = [*TINY, "--steps", "20", "--dropout", "0.2", "--batchnorm", "--batch-size", "20"]
    assert main(*flags, "--out", "plain")[0] == 0
    assert main(*flags, "--animate", "--out", "animated")[0] == 0
    plain, animated = (np.load(tmp_path / run / "checkpoint.npz") for run in ("plain", "animated"))
    assert sorted(plain.files) == sorted(animated.files)
    assert all(np.array_equal(plain[name], animated[name], equal_nan=plain[name].dtype.kind == "f")
               for name in plain.files if name != "config")


@pytest.mark.parametrize("dataset, classes", [("circles", 3), ("xor", 2), ("spiral", 4)])
def test_each_data_set_trains_and_is_recorded(tmp_path, monkeypatch, dataset, classes):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "draw_figures", no_figures)
    code, out, err = main(*TINY, "--dataset", dataset, "--classes", classes, "--steps", "5", "--out", "run")
    assert code == 0, err
    saved = json.loads(str(checks.files.read_npz(tmp_path / "run" / "checkpoint.npz")["config"]))
    assert saved["dataset"] == dataset and saved["classes"] == classes


def test_a_csv_file_of_3_coordinates_trains_without_a_boundary_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] + X[:, 2] > 0).astype(int) + (X[:, 1] > 1)
    rows = "\n".join(f"{a},{b},{c},{label}" for (a, b, c), label in zip(X, y, strict=True))
    (tmp_path / "my.csv").write_text(f"a,b,c,label\n{rows}\n")
    code, out, err = main("--dataset", "my.csv", "--hidden", "16", "--steps", "200", "--no-progress",
                          "--out", "run")
    assert code == 0, err
    assert "my.csv, 3 classes, 60 rows of 3 features" in out
    assert float(out.split("train accuracy ")[1].split("%")[0]) > 90
    assert sorted(p.name for p in (tmp_path / "run").glob("*.png")) == ["loss.png"]
    code, _, err = main("--resume", "run", "--steps", "210", "--no-progress")   # read again on resume
    assert code == 0, err


@pytest.mark.parametrize("text, words", [
    (None, ["no such file"]),
    ("", ["empty"]),
    ("x,y,label\n1,2,0\n1,two,1\n", ["line 3", "column 2", "'two'"]),
    ("x,y,kind\n1,2,0\n", ["no column named 'label'"]),
    ("1,2,1\n3,4,2\n", ["labels are 1, 2", "0 … K−1"]),
])
def test_a_bad_csv_file_is_one_line_and_exit_2(tmp_path, monkeypatch, text, words):
    monkeypatch.chdir(tmp_path)
    if text is not None:
        (tmp_path / "my.csv").write_text(text)
    code, _, err = main("--dataset", "my.csv", "--no-progress")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("train.py: error: argument --dataset:")
    assert all(word in lines[0] for word in ["my.csv", *words]), lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, words", [
    (["--dataset", "blobs"], ["--dataset", "spiral, moons, circles, xor", "'blobs'"]),
    (["--dataset", "moons", "--classes", "3"], ["--classes", "moons has 2 classes"]),
    (["--dataset", "my.csv", "--points", "10"], ["--points", "leave out --points"]),
    (["--animate", "--plot-only"], ["--animate", "--plot-only"]),
])
def test_flags_that_do_not_fit_the_data_set_are_usage_errors(tmp_path, monkeypatch, argv, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.csv").write_text("1,2,0\n3,4,1\n")
    code, _, err = main(*argv)
    assert code == 2 and all(word in err for word in words), err


@pytest.mark.parametrize("labels, classes", [([0, 0], 1), (range(1001), 1001)])
def test_a_csv_file_of_1_class_or_over_1000_is_refused_at_the_start_not_at_its_resume(
        tmp_path, monkeypatch, labels, classes):
    """The rule of --classes (2 to 1000), which a resume applies to the saved settings, applies to a
    CSV file's classes when the run starts: a run that trains can be resumed."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.csv").write_text("x1,x2,label\n" + "".join(f".1,.2,{k}\n" for k in labels))
    code, out, err = main("--dataset", "one.csv", "--steps", "2", "--hidden", "4", "--out", "r1")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", err
    assert all(word in lines[0] for word in ["--dataset", "one.csv", f"{classes} classes", "2 to 1000"])
    assert not (tmp_path / "r1").exists()


def test_a_csv_run_resumed_from_another_folder_names_its_data_file_not_the_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "draw_figures", no_figures)
    (tmp_path / "my.csv").write_text("1,2,0\n3,4,1\n5,6,0\n")
    assert main("--dataset", "my.csv", "--steps", 2, "--hidden", 4, "--out", "run", "--no-progress")[0] == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    code, _, err = main("--resume", "../run", "--steps", "4", "--no-progress")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "--dataset" not in lines[0] and "my.csv" in lines[0] and "no such file" in lines[0]
    assert "the run's data file" in lines[0] and "from the folder it began in" in lines[0]
    monkeypatch.chdir(tmp_path)
    assert main("--resume", "run", "--steps", "4", "--no-progress")[0] == 0


def test_a_checkpoint_from_before_data_sets_resumes_as_the_spiral(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train.report, "draw_figures", no_figures)
    assert main(*SMALL, "--steps", "4", "--out", "run")[0] == 0
    path = tmp_path / "run" / "checkpoint.npz"
    arrays = checks.files.read_npz(path)
    config = json.loads(str(arrays["config"]))
    del config["dataset"]
    np.savez(path, **dict(arrays, config=np.array(json.dumps(config))))
    code, out, err = main("--resume", "run", "--steps", "8", "--no-progress")
    assert code == 0, err
    assert "spiral, 3 classes x 40 points, noise 0.5" in out


@pytest.mark.slow
def test_the_acceptance_command_writes_a_gif_of_at_least_30_frames_and_the_figures(tmp_path):
    """`python train.py --dataset moons --steps 500 --animate`, as the issue states it."""
    result = train_in_a_subprocess("--dataset", "moons", "--steps", "500", "--animate", "--out", "run",
                                   cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "run" / "training.gif") as gif:
        assert gif.n_frames >= 30
    assert {"boundary.png", "loss.png", "hidden.png"} <= {p.name for p in (tmp_path / "run").iterdir()}
