"""training/compare.py: the table of runs, its columns, the best run, and its one-line errors."""

from pathlib import Path

import pytest

from training import TrainingState, runs, settings
from training.compare import WIDTH, main

CONFIG = settings.complete(dict(settings.DEFAULTS, steps=50, hidden=20, val_fraction=0.2))


def a_run(folder: Path, *, val_loss=0.3, loss=0.25, status="completed", **changes) -> Path:
    """A run's folder with the config.json train.py writes: CONFIG with ``changes``, 50 steps done, the last
    history row with these losses (None: NaN, written as null)."""
    config, fields = dict(CONFIG), {}
    for name, value in changes.items():
        (config if name in config else fields)[name] = value
    state = TrainingState(step=50)
    nan = float("nan")
    val = (nan, nan) if val_loss is None else (val_loss, 0.875)
    state.history.append(50, nan if loss is None else loss, 0.9, *val)
    folder.mkdir(parents=True)
    record = runs.new_record(config, seconds=1.25)
    runs.write_record(folder, record, status, state, **fields)
    return folder


def table(capsys, *folders) -> list[str]:
    assert main([str(folder) for folder in folders]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out.splitlines()


def test_only_the_settings_that_differ_are_columns_and_the_rows_are_sorted(tmp_path, capsys):
    a_run(tmp_path / "b", lr=0.5, val_loss=0.31)
    a_run(tmp_path / "a", val_loss=0.26, threads=4, checkpoint_every=10, chunk_size=0)
    a_run(tmp_path / "c", depth=2, val_loss=0.27)
    (tmp_path / "notes").mkdir()                        # not a run: no row
    head, *rows, footer = table(capsys, tmp_path)
    assert head.split() == ["run", "depth", "lr", "done", "status", "val", "loss", "val", "acc", "seconds"]
    assert [row.split()[:4] for row in rows] == [["*", "a", "1", "1.0"], ["b", "1", "0.5", "50"],
                                                 ["c", "2", "1.0", "50"]]
    assert rows[0].split()[-4:] == ["completed", "0.26", "87.5%", "1.25"]
    assert footer.startswith("* best: a,") and "validation loss" in footer


def test_best_is_the_lowest_best_validation_loss_and_best_and_test_are_columns_if_recorded(tmp_path, capsys):
    a_run(tmp_path / "a", val_loss=0.30, seed=1)
    a_run(tmp_path / "b", val_loss=0.40, seed=2, best={"step": 20, "val_loss": 0.2, "val_accuracy": 0.9},
          test={"loss": 0.35, "accuracy": 0.8125})
    head, a, b, footer = table(capsys, tmp_path)
    assert "best val" in head and "at step" in head and "test acc" in head
    assert b.split() == ["*", "b", "2", "50", "completed", "0.4", "87.5%", "0.2", "20", "81.2%", "1.25"]
    assert a.split() == ["a", "1", "50", "completed", "0.3", "87.5%", "-", "-", "-", "1.25"]
    assert "best val" not in table(capsys, tmp_path / "a")[0]


def test_without_validation_the_best_has_the_lowest_training_loss(tmp_path, capsys):
    a_run(tmp_path / "a", val_fraction=0.0, val_loss=None, loss=0.5)
    a_run(tmp_path / "b", val_fraction=0.0, val_loss=None, loss=0.4, lr=0.5)
    head, a, b, footer = table(capsys, tmp_path / "a", tmp_path / "b")       # several FOLDERs, each a run
    assert head.split() == ["run", "lr", "done", "status", "seconds"]     # no validation columns
    assert b.startswith("* b") and "training loss" in footer


def test_an_old_record_without_fields_and_a_diverged_one_print_dashes(tmp_path, capsys):
    old = a_run(tmp_path / "old", val_loss=0.2)
    text = (old / "config.json").read_text().replace('"seconds": 1.25', '"elapsed": 1')
    text = text.replace('"steps_done": 50', '"ran": 50').replace('"reg": 0.0,', "").replace('"seed": 0,', "")
    (old / "config.json").write_text(text)
    a_run(tmp_path / "new", status="diverged", val_loss=None, loss=None, reg=0.01)
    a_run(tmp_path / "newer", val_loss=0.3)
    head, new, newer, old, footer = table(capsys, tmp_path)
    assert head.split()[:2] == ["run", "reg"]           # seed: 0 where known, so no column
    assert new.split() == ["new", "0.01", "50", "diverged", "-", "-", "1.25"]
    assert old.split() == ["*", "old", "-", "-", "completed", "0.2", "87.5%", "-"]


def test_too_many_settings_for_the_terminal_go_under_each_row(tmp_path, capsys):
    for n, name in enumerate(["20260101-120000", "20260101-130000"]):
        a_run(tmp_path / name, lr=0.1 * n, momentum=0.5 * n, weight_decay=n * 1e-4, batch_size=32 + n,
              val_fraction=0.1 + n / 10, activation=["relu", "tanh"][n], dropout=0.1 * n)
    head, *lines, footer = table(capsys, tmp_path)
    assert max(len(line) for line in [head, *lines]) <= WIDTH
    assert head.split() == ["run", "done", "status", "val", "loss", "val", "acc", "seconds"]
    second = lines.index(next(line for line in lines if line.startswith("  20260101-130000")))
    assert lines[0].startswith("* 20260101-120000")
    assert all(line.startswith("    ") for line in lines[1:second])
    first_settings, second_settings = " ".join(lines[1:second]), " ".join(lines[second + 1:])
    assert "activation=relu" in first_settings and "batch_size=32" in first_settings
    assert "activation=tanh" in second_settings and "momentum=0.5" in second_settings


@pytest.mark.parametrize("make, code, words", [(lambda path: path / "missing", 2, ["missing", "No such"]),
                                                (lambda path: path, 1, ["no runs in"])])
def test_no_folder_or_no_runs_is_one_line_on_stderr(tmp_path, capsys, make, code, words):
    folder = make(tmp_path)
    assert main([str(folder)]) == code
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and str(folder) in err
    assert all(word in err for word in words)


def test_help(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0 and "FOLDER" in capsys.readouterr().out


def test_a_record_edited_by_hand_still_prints(tmp_path, capsys):
    import json

    from training import compare
    for name, loss in (("a", 0.3), ("b", 0.2)):
        folder = tmp_path / name
        folder.mkdir()
        record = {"status": "completed", "versions": {"backprop-parts": "x"}, "config": {"lr": loss},
                  "steps_done": 10, "final": {"loss": loss, "val_loss": loss}, "seconds": 1.0}
        if name == "b":
            record.update(config=[1], seconds="fast", final={"loss": 0.1, "val_loss": "x"})
        (folder / "config.json").write_text(json.dumps(record))
    assert compare.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fast" in out and "x" in out and "* best: a" in out
