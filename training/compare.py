"""Compare training runs: one row per run, the settings that differ between them, and how each ended.

    python -m training.compare                      # every run in runs/
    python -m training.compare runs/a runs/b old    # these two runs, and the runs inside old/

A run is a folder holding the config.json that train.py writes. Settings equal in all the runs that
have them are left out (a run from before a setting existed shows "-" for it), and so are
checkpoint_every, threads and chunk_size (how fast a run went, not what it learned) and a CSV file's
class and column names (its name is the dataset); so is a result that no run has. "done" is the steps
done (status "stopped early": by --patience); "best val" and "at step", the lowest validation loss of
a run that kept its best weights (--patience) and its step. The best run is marked with *: the lowest
validation loss (the best one where recorded, else the final one) or, if no run held out points for
validation, the lowest final training loss. Settings too many for 100 columns go under each row.
"""

import argparse
import sys
import textwrap
from pathlib import Path

from training.runs import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_record

IGNORED = ("checkpoint_every", "threads", "chunk_size", "labels", "features")     # the last two: the data's
RESULTS = [("done", "steps_done", ""), ("status", "status", ""), ("val loss", "final.val_loss", ".4g"),
           ("val acc", "final.val_accuracy", ".1%"), ("best val", "best.val_loss", ".4g"),
           ("at step", "best.step", ""), ("test acc", "test.accuracy", ".1%"), ("seconds", "seconds", ".2f")]
WIDTH = 100                                 # a terminal's


def runs_in(folder: Path) -> dict[Path, dict]:
    """``folder`` if it is a run, else the runs directly inside it: {path: record}."""
    inside = [folder] if run_record(folder) is not None else folder.iterdir()
    return {path.resolve(): record for path in inside if (record := run_record(path)) is not None}


def field(record: dict, name: str):
    """``record["final"]["val_loss"]`` for "final.val_loss"; None if an old run has no such field."""
    for key in name.split("."):
        record = record.get(key) if isinstance(record, dict) else None
    return record


def show(value, spec: str = "") -> str:
    """A value in the table; null (a NaN, or a field the run lacks) is "-"; an edited one as it is."""
    try:
        return "-" if value is None else format(value, spec)
    except (TypeError, ValueError):         # "fast" where seconds belong: a record edited by hand
        return str(value)


def table(columns: list[tuple[str, list[str]]]) -> list[str]:
    """The lines of a table given as (header, cells) columns, aligned."""
    widths = [max(len(cell) for cell in [head, *cells]) for head, cells in columns]
    rows = zip(*([head, *cells] for head, cells in columns), strict=True)
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", default=["runs"], metavar="FOLDER",
                        help="a run's folder, or a folder of runs (default: runs)")
    folders = parser.parse_args(argv).folders
    try:
        found = {path: record for name in folders for path, record in runs_in(Path(name)).items()}
    except OSError as exc:                  # no such folder, a file, or one we may not read
        print(f"training.compare: error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    if not found:
        print(f"training.compare: error: no runs in {', '.join(folders)} (no folder there holds the "
              "config.json of a train.py run)", file=sys.stderr)
        return EXIT_FAILED

    # The columns, a row per run by folder name: the settings that differ, the results some run has --
    paths = sorted(found, key=lambda path: (path.name, path))
    records = [dict(found[path], status="stopped early") if field(found[path], "best.stopped_early")
               else found[path] for path in paths]
    configs = [config if isinstance(config := field(record, "config"), dict) else {} for record in records]
    keys = [key for key in dict.fromkeys(key for config in configs for key in config) if key not in IGNORED
            and len({repr(config[key]) for config in configs if key in config}) > 1]   # runs lacking it aside
    settings = [(key, [show(config.get(key)) for config in configs]) for key in keys]
    done = [(head, [show(field(record, name), spec) for record in records]) for head, name, spec in RESULTS]
    done = [(head, cells) for head, cells in done if set(cells) != {"-"}]

    # The best run: the lowest validation loss or, if no run has one, the lowest final training loss --
    scores = [field(record, "best.val_loss" if "best" in record else "final.val_loss") for record in records]
    meaning = "validation loss"
    if not any(isinstance(score, (int, float)) for score in scores):
        scores, meaning = [field(record, "final.loss") for record in records], "final training loss"
    numbers = [n for n, score in enumerate(scores) if isinstance(score, (int, float))]   # not edited to text
    best = min(numbers, key=scores.__getitem__, default=None)
    run = ("  run", [("* " if n == best else "  ") + path.name for n, path in enumerate(paths)])

    lines = table([run, *settings, *done])
    if max(map(len, lines)) > WIDTH:        # too wide: each run's settings, as key=value, under its row
        lines = table([run, *done])
        for n in reversed(range(len(paths))):
            pairs = "  ".join(f"{key}={cells[n]}" for key, cells in settings)
            lines.insert(n + 2, textwrap.indent(textwrap.fill(pairs, WIDTH - 4), " " * 4))
    print("\n".join(lines))
    if best is not None:
        print(f"* best: {paths[best].name}, the lowest {meaning}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
