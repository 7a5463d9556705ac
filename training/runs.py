"""A training run's machinery: its folder, its config.json record, resuming, Ctrl-C and exit codes.

A script such as train.py builds the data, the model and the optimizer and calls ``fit``; what
this module does around that is the same for any run:

- ``resumed_config`` and ``restore_run``: a checkpoint's saved settings (the file, or the run's
  folder), checked as their flags would be, reconciled with the flags given to the resumed run;
  its state restored;
- ``choose_folder`` and ``claim``: the run's folder (new, empty, or the resumed run's own), locked
  for the whole run, which never receives a second run's files nor touches a user's;
- ``RunRecord``: config.json, every setting and the outcome, rewritten as the run goes;
- ``save_good_checkpoint``: a checkpoint that a diverged state never replaces;
- ``StopFlag``: the first Ctrl-C finishes the step, saves and exits 130; a second aborts;
- ``ArgumentParser``, ``flag_type``, ``count_flag``, ``number_flag`` and ``folder_name``: flags read
  and checked, a usage error as one line (exit 2), a mistyped flag with the nearest real one; a
  flag's type also checks the setting saved in a checkpoint; ``warn``: a warning as one line;
- ``draw_figures`` and ``figures_interrupted``: figures that never end a run (a Ctrl-C while they
  are drawn leaves the run saved, the figures for ``--plot-only``); ``summary``: the run's last line;
- ``Failure`` and ``exit_code``: an expected failure as one line on stderr and its exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import difflib
import json
import math
import os
import platform
import re
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

from checks import check_count, check_real
from checks.files import unusable_path, write_atomically
from training import files
from training.checkpoint import Checkpoint, read_checkpoint, restore, save_checkpoint
from training.loop import Diverged, TrainingState, require_finite_state

EXIT_OK = 0
EXIT_FAILED = 1            # diverged, unreadable checkpoint, unwritable output
EXIT_USAGE = 2             # bad flags (argparse's convention)
EXIT_INTERRUPTED = 130     # Ctrl-C (128 + SIGINT)
NOT_DRAWN_INTERRUPTED = "not drawn (interrupted)"      # a figure's outcome in config.json after a Ctrl-C


class Failure(Exception):
    """An expected failure: reported as one line on stderr, never as a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def exit_code(work: Callable[[], int], *, prog: str, memory_hint: str, debug: bool = False,
              folder: Callable[[], Path | None] = lambda: None) -> int:
    """``work()``'s exit code; an expected failure becomes one line on stderr and its code.

    Any other exception is a bug: one line naming it and the run's ``folder()`` (exit 1), with the
    traceback first if ``debug`` or the environment variable BACKPROP_DEBUG is set (to anything but 0).
    """
    try:
        return work()
    except Failure as exc:
        message, code = str(exc), exc.code
    except OSError as exc:
        message, code = f"cannot write the run's files: {exc}", EXIT_FAILED
    except MemoryError:
        message, code = f"out of memory: the model or data is too large ({memory_hint})", EXIT_FAILED
    except KeyboardInterrupt:
        if folder() is None:                # still reading the settings, building the data or model
            message = "interrupted before the run started; nothing was written"
        else:
            message = "aborted; the last checkpoint on disk is unchanged"
        message, code = message, EXIT_INTERRUPTED
    except Exception as exc:                # noqa: BLE001 -- a bug: told in one line, the traceback on demand
        if debug or os.environ.get("BACKPROP_DEBUG", "0") not in ("", "0"):
            traceback.print_exc()
        saved = folder()
        where = "no run folder was made" if saved is None else f"the run's files so far are in {saved}"
        message = (f"unexpected {type(exc).__name__}: {exc} ({where}; "
                   f"--debug or BACKPROP_DEBUG=1 shows the traceback)")
        code = EXIT_FAILED
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def memory_problems(needs: dict[str, int]) -> list[str]:
    """The flags in ``needs`` whose arrays alone (``needs[flag]`` bytes, a lower bound of what the run
    needs) exceed this machine's memory: refused at once rather than failing after minutes of swapping."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):      # no sysconf (Windows): NumPy's limit on an array
        total = 2**63 - 1
    return [f"argument {flag}: the run needs at least {nbytes / 1e9:.3g} GB for it, more than this "
            f"machine's memory ({total / 1e9:.3g} GB)" for flag, nbytes in needs.items() if nbytes > total]


def warn(prog: str, message: str) -> None:
    """A warning about the run's settings: one line on stderr; the run goes on."""
    print(f"{prog}: warning: {message}", file=sys.stderr)


def flag_type(name: str, check: Callable, convert: Callable[[str], object], *, kind: str,
              names: tuple = ()) -> Callable:
    """An argparse ``type=`` for the setting ``name``: text -> ``convert`` -> ``check`` (a shared
    rule from checks/), whose ValueError or TypeError becomes argparse's one-line usage
    error; one of ``names`` is taken as it is. A value that is not text (a setting saved in a
    checkpoint) goes to ``check`` as it is."""
    def parse(value):
        if value in names:
            return value
        if isinstance(value, str):
            try:
                value = convert(value)
            except ValueError:
                raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {value!r}") from None
        try:
            return check(value)
        except (ValueError, TypeError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc
    return parse


def count_flag(name: str, minimum: int, maximum: int | None = None, *, names=()) -> Callable:
    """A flag's type: a whole number >= minimum (the shared rule) and <= maximum, or one of names."""
    def check(value) -> int:
        value = check_count(name, value, minimum=minimum)
        if maximum is not None and value > maximum:
            raise ValueError(f"{name} must be at most {maximum}, got {value}")
        return value
    kind = "a whole number" + "".join(f" or {n!r}" for n in names)
    return flag_type(name, check, int, kind=kind, names=names)


def number_flag(name: str, low: float = 0, high: float | None = None, *, names=(),
                kind="a number") -> Callable:
    """A flag's type: a finite number with low <= value (< high), by the shared rule, or one of names."""
    def check(value) -> float:
        return check_real(name, value, low=low, high=high)
    return flag_type(name, check, float, kind=kind, names=names)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, with "(see --help)" after its one-line usage error (exit code 2), or for a
    mistyped flag the nearest real one: "unrecognized arguments: --hiden (did you mean --hidden?)"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # -1e-3 is a negative number, not an option: argparse reads only -1 and -0.5 as numbers
        # (Python 3.13 reads -1e-3 so too).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message):
        hint = "see --help"
        if message.startswith("unrecognized arguments: "):
            # compared without the dashes, which every flag shares
            names = [option.lstrip("-") for action in self._actions for option in action.option_strings]
            guesses = [difflib.get_close_matches(word.split("=")[0].lstrip("-"), names, n=1)
                       for word in message.split()[2:] if word.startswith("-")]
            nearest = [f"--{matches[0]}" for matches in guesses if matches]
            hint = f"did you mean {', '.join(nearest)}?" if nearest else hint
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} ({hint})\n")


def folder_name(text: str) -> str:
    """The argparse type of --out: any name but an empty one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder")
    return text


def restore_run(checkpoint: Checkpoint, model, optimizer, state: TrainingState) -> None:
    """``restore``, with a checkpoint that does not fit the run as a Failure (one line, exit 1)."""
    try:
        restore(checkpoint, model, optimizer, state)
    except ValueError as exc:
        raise Failure(str(exc)) from None


# Resuming ---------------------------------------------------------------------------------

def saved_setting_problems(config: dict, checks: dict[str, Callable], choices: dict[str, tuple],
                           optional: tuple[str, ...] = ()) -> list[str]:
    """Each saved setting checked as its flag would be: a checkpoint's JSON may have been edited.

    ``checks[name]`` is the flag's converter (text -> value, raising on a bad value); a saved
    value must be what the converter gives, so a number saved as text is damage too. A name in
    ``optional`` may be None (not given).
    """
    problems = []
    for name in [*checks, *choices]:
        if name not in config:
            problems.append(f"{name} is missing")
            continue
        value = config[name]
        if name in choices:
            if value not in choices[name]:
                problems.append(f"{name} {value!r} is not one of {', '.join(choices[name])}")
            continue
        if value is None and name in optional:
            continue
        try:
            checked = checks[name](value)
        except argparse.ArgumentTypeError as exc:   # the message names the setting and the value
            problems.append(str(exc))
            continue
        if checked != value:
            problems.append(f"{name} {value!r} is text, not a number")
    return problems


def checkpoint_in(path) -> Path:
    """What ``--resume path`` names: a checkpoint file, or a run's folder and so its checkpoint.npz."""
    path = Path(path)
    try:
        is_dir = path.is_dir()
    except OSError as exc:                  # a path no file system takes: a usage error, as for --out
        raise Failure(f"cannot resume from {path}: {unusable_path(path, exc)}", EXIT_USAGE) from None
    if is_dir:
        if files.kind_of_folder(path) == "unsaved":
            raise Failure(f"cannot resume from {path}: its run saved no checkpoint.npz (config.json says "
                          "running: it was killed before its first checkpoint, or still runs); start it "
                          f"again with --out {path}, which reuses the folder once no train.py runs there")
        if not (path / "checkpoint.npz").is_file():
            raise Failure(f"cannot resume from {path}: the folder holds no checkpoint.npz (a run writes it "
                          "at its first checkpoint, see --checkpoint-every)")
        return path / "checkpoint.npz"
    return path


def resumed_config(path, given: dict, *, checks: dict[str, Callable], choices: dict[str, tuple],
                   optional: tuple[str, ...], combined: Callable[[dict], list[str]],
                   complete: Callable[[dict], dict], free: tuple[str, ...],
                   added: dict | None = None, to_train: bool = True) -> tuple[dict, Checkpoint]:
    """The checkpoint at ``path`` and the resumed run's configuration: its saved settings, with the
    ``given`` flags that are ``free`` to change applied; any other given flag must agree with them.

    The saved settings must pass ``saved_setting_problems`` and then ``combined`` (which lists the
    problems of a combination of settings). ``complete`` fills in the settings that follow from
    others (such as init "auto"), so that a given flag is compared as the run would use it.
    ``added`` holds the settings introduced after older checkpoints were written, with the value
    their runs used: such a checkpoint resumes as it was made. ``to_train``: the run is to train
    further, so ``steps`` must exceed the updates made (not so for drawing its figures).
    """
    path = checkpoint_in(path)
    try:
        checkpoint = read_checkpoint(path)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    saved = dict(checkpoint.config)
    for name, value in (added or {}).items():
        saved.setdefault(name, value)
    found = saved_setting_problems(saved, checks, choices, optional) or combined(saved)
    if found:
        raise Failure(f"cannot resume from {path}: damaged checkpoint ({'; '.join(found)})")
    asked = complete(dict(saved, **given))
    clashes = [f"--{name.replace('_', '-')} {asked[name]} (the checkpoint has {saved[name]})"
               for name in given if name not in free and asked[name] != saved[name]]
    if clashes:
        changeable = ", ".join(f"--{name.replace('_', '-')}" for name in free)
        raise Failure(f"cannot resume {path} with {', '.join(clashes)}: a resumed run keeps its "
                      f"data, model and optimizer; leave those flags out ({changeable}, --out and "
                      f"--no-progress may change)", EXIT_USAGE)
    config = dict(saved, **{name: given[name] for name in free if name in given})
    if to_train and config["steps"] <= checkpoint.step:
        raise Failure(f"{path} has already made {checkpoint.step} updates; pass a larger --steps "
                      f"(the total) to train further, or --plot-only to draw its figures", EXIT_USAGE)
    return config, checkpoint


# The run's folder -------------------------------------------------------------------------

def choose_folder(out: str | None, checkpoint: Checkpoint | None) -> tuple[Path, bool]:
    """The run's folder (``out``, else the resumed run's, else runs/<date>-<time>), and whether it
    is the resumed run's own folder. Nothing is created yet.

    A new run takes a new or empty folder; a resumed run may also continue in its own run folder
    (whose checkpoint.npz it resumes and whose config.json is a run's record). Any other folder is
    refused, untouched (see training/files.py).
    """
    if out is not None:
        folder = Path(out)
    elif checkpoint is not None:
        folder = Path(checkpoint.path).parent
    else:
        return Path("runs") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S"), False
    try:
        kind = files.kind_of_folder(folder)
        kept = folder / "checkpoint.npz"
        own = checkpoint is not None and kept.exists() and kept.resolve() == Path(checkpoint.path).resolve()
    except OSError as exc:
        raise Failure(f"--out {folder}: {unusable_path(folder, exc)}", EXIT_USAGE) from None
    if kind == "file":
        raise Failure(f"--out {folder} is a file, not a folder", EXIT_USAGE)
    if out is None and not (own and kind == "run"):
        raise Failure(f"cannot resume into {folder}: it is not the run folder of {checkpoint.path} (a "
                      "folder whose config.json is a run's record and whose checkpoint.npz this is); "
                      "pass --out NEWFOLDER to continue the run (or, with --plot-only, draw its figures) "
                      "in a new folder", EXIT_USAGE)
    if kind == "run" and not own:
        try:
            files.check_not_in_use(folder)  # a live run there: say so, rather than offer to resume it
        except files.FolderInUse as exc:
            raise Failure(str(exc), EXIT_USAGE) from None
    refuse_folder(folder, kind, own)
    return folder, own


def refuse_folder(folder: Path, kind: str, own: bool, *, hint: bool = True) -> None:
    """A Failure (exit 2) unless a run may write into ``folder`` of this ``kind`` (files.kind_of_folder):
    a new or empty one, or its own run folder when resuming."""
    if kind in ("new", "empty", "claim", "unsaved") or (own and kind == "run"):
        return
    if kind == "run":
        kept = folder / "checkpoint.npz"
        more = f", or continue it with --resume {kept}" if hint and kept.exists() else ""
        raise Failure(f"{folder} already holds a run; choose another --out{more}", EXIT_USAGE)
    names = sorted(name for name in os.listdir(folder) if name != files.LOCK)
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    # a config.json that is not a run's record (another tool's, or damaged) is never overwritten either
    record = "; its config.json is not a run's record" if "config.json" in names else ""
    raise Failure(f"{folder} is not a run folder of train.py (it holds {shown}{record}); nothing in it "
                  "was changed: choose a new or empty folder with --out", EXIT_USAGE)


@contextlib.contextmanager
def claim(folder: Path, own: bool, default_name: bool, *, plot_only: bool = False) -> Iterator[Path]:
    """``with claim(...) as folder:`` the run's folder, created if new and locked for the whole block:
    a second train.py on it stops with one line (exit 2). Under the lock the folder is checked
    again (another run may have taken it since ``choose_folder``) and its stale temporary files,
    left by a hard kill, are removed. ``plot_only``: the figures of the run there are to be drawn,
    so the advice when another process writes it is to wait."""
    if default_name:                        # runs/<date>-<time>, or -2, -3, … when that second is taken
        folder.parent.mkdir(parents=True, exist_ok=True)
        base = folder
        for suffix in range(2, 1000):
            try:
                folder.mkdir()
                break
            except FileExistsError:
                folder = base.with_name(f"{base.name}-{suffix}")
    else:
        folder.mkdir(parents=True, exist_ok=True)
    lock = files.Lock(folder)
    try:
        lock.acquire()
    except files.FolderInUse as exc:
        advice = "wait for it to end, then draw the figures" if plot_only else files.WAIT_OR_MOVE
        raise Failure(exc.explained(advice), EXIT_USAGE) from None
    try:
        kind = files.kind_of_folder(folder)
        refuse_folder(folder, kind, own, hint=False)
        if kind == "claim":
            warn("train.py", f"{folder / 'config.json'} is empty (left by a run killed as it started); "
                             "the folder is reused")
        if kind == "unsaved":
            warn("train.py", f"{folder} holds a run killed before its first checkpoint (config.json says "
                             "running, no checkpoint.npz); the folder is reused")
        files.remove_stale_temporaries(folder)
        yield folder
    finally:
        lock.release()


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in ("numpy", "matplotlib", "tqdm", "backprop-parts"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


class RunRecord:
    """The run's config.json: the configuration, the model, the optimizer, the samples, library
    versions and the outcome; rewritten atomically at the start (status "running") and at the end."""

    def __init__(self, folder: Path, config: dict, model, optimizer, samples: dict,
                 resumed_from: Checkpoint | None = None):
        self.folder = folder
        self.started = time.perf_counter()
        self.record = {
            "config": config,
            "model": repr(model),
            "optimizer": repr(optimizer),
            "parameters": sum(p.value.size for p in model.parameters()),
            "samples": samples,
            "versions": versions(),
            "command": " ".join(["train.py"] + sys.argv[1:]),
            "resumed_from": None if resumed_from is None else {"path": resumed_from.path,
                                                               "step": resumed_from.step},
            "started": now(),
        }

    def begin(self, state: TrainingState) -> None:
        """Print what is about to run (the model, its size, the optimizer, the steps, the folder)
        and write config.json with the status "running"."""
        config, resumed = self.record["config"], self.record["resumed_from"]
        batch_size = config["batch_size"]
        print("model      " + self.record["model"].replace("\n", "\n           "))
        print(f"           {self.record['parameters']:,} parameters, {config['dtype']}, "
              f"init {config['init']}")
        print(f"optimizer  {self.record['optimizer']}, "
              f"{'full batch' if batch_size is None else f'mini-batches of {batch_size}'}")
        steps = f"{config['steps']} step{'' if config['steps'] == 1 else 's'}"
        if resumed:
            print(f"run        {steps}, resuming at step {state.step} from {resumed['path']}")
            print(f"           files in {self.folder}", flush=True)
        else:
            print(f"run        {steps}, files in {self.folder}", flush=True)
        self.write(state, "running")

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def write(self, state: TrainingState, status: str, *, final: dict | None = None,
              message: str | None = None) -> None:
        self.record.update({
            "status": status,
            "message": message,
            "finished": None if status == "running" else now(),
            "seconds": round(self.seconds(), 3),
            "steps_done": state.step,
            # NaN (no validation set) is written as null
            "final": None if final is None else {k: None if v != v else v for k, v in final.items()},
        })
        write_record(self.folder, self.record)

    def drew(self, figures: dict[str, str]) -> None:
        """Add what became of each figure ("drawn", or why not) to the record."""
        self.record["figures"] = figures
        write_record(self.folder, self.record)

    @contextlib.contextmanager
    def failed_if_raised(self, state: TrainingState):
        """An unexpected exception in the block (a full disk, say) leaves config.json with the status
        "failed" and its message, if config.json can still be written; the exception goes on."""
        try:
            yield
        except Failure:                     # already recorded (diverged)
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.write(state, "failed", message=f"{type(exc).__name__}: {exc}")
            raise

    def diverged(self, exc: Diverged, state: TrainingState) -> Failure:
        """Record the divergence and keep the history up to it; the Failure to raise.

        A NaN or inf never reaches a checkpoint (``save_good_checkpoint``), so the one on disk is
        the last good state. A loss stuck high (the divergence rule, a finite value) may be in the
        checkpoint already, so that is only "the last checkpoint"."""
        self.write(state, "diverged", message=str(exc))
        state.history.to_csv(self.folder / "history.csv")
        kept = self.folder / "checkpoint.npz"
        last = "the last checkpoint" if math.isfinite(exc.value) else "the last good checkpoint"
        kept_note = f"{last} is {kept}" if kept.exists() else "no checkpoint was written"
        history = self.folder / "history.csv"
        return Failure(f"{exc}; {kept_note}; the history up to the failure is in {history}")


def write_record(folder: Path, record: dict) -> None:
    text = json.dumps(record, indent=2, allow_nan=False, default=str) + "\n"
    write_atomically(folder / "config.json", lambda file: file.write(text.encode("utf-8")))


def update_record(folder: Path, state: TrainingState, *, figures: dict[str, str],
                  checkpoint: Checkpoint) -> str:
    """Add the figures drawn later (``--plot-only``) to the run's config.json; the run's status. A
    record still saying "running" lost its writer to a kill (this process holds the lock): it now
    says where the run stands, as its checkpoint does. A new folder (``--plot-only --out NEW``, for
    a checkpoint kept outside its run folder) becomes a run folder: a copy of the checkpoint and a
    record made from it."""
    path = folder / "config.json"
    if path.exists():
        record = json.loads(path.read_text(encoding="utf-8"))
        message = ("the run's process ended without a word (killed); its files were completed from its "
                   f"checkpoint at step {state.step}")
    else:
        record = {"config": checkpoint.config, "versions": versions(),
                  "command": " ".join(["train.py"] + sys.argv[1:]),
                  "resumed_from": {"path": checkpoint.path, "step": checkpoint.step}, "status": "running"}
        message = f"the figures of the checkpoint {checkpoint.path} at step {state.step} (--plot-only)"
        saved = Path(checkpoint.path).read_bytes()
        write_atomically(folder / "checkpoint.npz", lambda file: file.write(saved))
    record["figures"] = figures
    if record.get("status") == "running":
        done = state.step >= record.get("config", {}).get("steps", math.inf)
        record.update(status="completed" if done else "interrupted", steps_done=state.step, message=message,
                      final={k: None if v != v else v for k, v in state.history[-1].items()})
    write_record(folder, record)
    return record["status"]


def draw_figures(folder: Path, figures: dict[str, Callable[[Path], None]], *,
                 skip: bool = False) -> dict[str, str]:
    """``draw(folder / name)`` for each figure: what became of it, "drawn" or why not. A figure that
    cannot be drawn never ends the run: one line on stderr says so and how to draw it again. A
    Ctrl-C while drawing, or ``skip`` (one came before), leaves the rest "not drawn (interrupted)"."""
    if skip:
        return dict.fromkeys(figures, NOT_DRAWN_INTERRUPTED)
    outcome = {}
    for name, draw in figures.items():
        try:
            draw(folder / name)
            outcome[name] = "drawn"
        except KeyboardInterrupt:           # Ctrl-C: the run is saved; the figures left wait for --plot-only
            outcome.update({left: NOT_DRAWN_INTERRUPTED for left in figures if left not in outcome})
            break
        except Exception as exc:
            outcome[name] = f"not drawn ({type(exc).__name__}: {exc})"
            warn("train.py", f"cannot draw {name} ({type(exc).__name__}: {exc}); the run is saved: draw "
                             f"it again with python train.py --resume {folder} --plot-only")
    return outcome


def figures_interrupted(folder: Path, figures: dict[str, str], status: str) -> int | None:
    """If a Ctrl-C stopped the drawing of ``figures`` (``draw_figures``' outcome): one line saying the
    run is saved (its ``status``) and how to draw them, and the exit code 130; else None."""
    left = [name for name, outcome in figures.items() if outcome == NOT_DRAWN_INTERRUPTED]
    if not left:
        return None
    names = left[0] if len(left) == 1 else f"{', '.join(left[:-1])} and {left[-1]}"     # a, b and c
    print(f"interrupted: the run is saved ({status}), {names} "
          f"not drawn; draw them with python train.py --resume {folder} --plot-only", file=sys.stderr)
    return EXIT_INTERRUPTED


def save_good_checkpoint(path: Path, model, optimizer, state: TrainingState, config: dict) -> None:
    """Save, unless a weight or optimizer buffer is no longer finite: a diverged state never
    replaces a good checkpoint."""
    require_finite_state(state.step, model, optimizer)
    save_checkpoint(path, model, optimizer, state, config)


def summary(final: dict, seconds: float) -> str:
    """The run's last line: the final history row (``final``) and the time spent training."""
    def loss(value: float) -> str:
        return f"{value:.4f}" if value < 1e4 else f"{value:.4g}"

    line = f"done       step {final['step']}  loss {loss(final['loss'])}  "
    line += f"train accuracy {final['train_accuracy']:.1%}"
    if not math.isnan(final["val_accuracy"]):
        line += f"  val loss {loss(final['val_loss'])}  val accuracy {final['val_accuracy']:.1%}"
    return line + f"  ({seconds:.1f} s of training)"


# Ctrl-C -----------------------------------------------------------------------------------

class StopFlag:
    """First Ctrl-C: finish the current step, save, exit 130. A second one aborts at once.

    Use as ``with StopFlag() as stop: fit(..., should_stop=stop)``; outside the block Ctrl-C
    behaves as before.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __call__(self) -> bool:
        return self.requested

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():    # only there can signals be caught
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def saved_and_stopped(self, step: int, checkpoint: Path) -> int:
        """Tell how to continue the run stopped (and saved) at ``step``; the exit code."""
        print(f"interrupted at step {step}: saved; continue with python train.py --resume {checkpoint}",
              file=sys.stderr)
        return EXIT_INTERRUPTED

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr)
