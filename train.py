"""Train a classifier on the spiral (or moons, circles, XOR, your CSV file): the project's main job.

    python train.py                      # the course's two-class spiral: 2 x 400 points, h = 1000
    python train.py --dataset moons --animate                  # also training.gif: watch it learn
    python train.py --depth 3 --activation tanh --optimizer adam --lr 0.01 --batch-size 64
    python train.py --resume runs/<run> --steps 6000         # or --plot-only: draw its figures (again)
    python train.py --dataset rows.csv --label-column target --standardize --val-fraction 0.2 --test t.csv
    python train.py --resume runs/<run> --predict new.csv    # runs/<run>/predictions.csv

A run's files go to one folder (--out, by default runs/<date>-<time>): checkpoint.npz (what --resume
needs), history.csv, config.json (every setting, library versions, the outcome), loss.png, boundary.png,
hidden.png, with --patience best.npz, with --animate training.gif; ``python -m training.compare``.
Settings: training/settings.py; the run's folder, lock and record, Ctrl-C, exit codes: training/runs.py.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

CTRL_C: list = []   # a Ctrl-C while NumPy and matplotlib load (about a second): one line, exit 130
try:                # noted, never raised there: a library's import could swallow a KeyboardInterrupt
    previous = signal.signal(signal.SIGINT, lambda signum, frame: CTRL_C.append(signum))
    import numpy as np

    from checks.files import write_atomically
    from data import BatchStream
    from layers import SoftmaxCrossEntropy
    from training import Diverged, TrainingState, blas_threads, fit, report, runs, settings
    from training.animation import BoundaryRecorder
    from training.checkpoint import restore, save_checkpoint
    from training.early_stopping import EarlyStopping
    from training.loop import PATIENCE, require_finite_state
    from training.settings import CHOICES, DEFAULTS, PARSE
finally:
    signal.signal(signal.SIGINT, previous)
if CTRL_C:
    print("train.py: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)


def build_parser() -> runs.ArgumentParser:
    parser = runs.ArgumentParser(prog="train.py", description="Train a classifier on the 2-D spiral (or "
                                 "another data set) and save the run. docs/train.md tells more of each flag.")
    groups = {name: parser.add_argument_group(name) for name in ("data", "model", "optimizer", "run")}

    def flag(group: str, name: str, help: str, **kwargs):
        """--val-fraction sets val_fraction, read and checked by PARSE["val_fraction"]."""
        setting = name[2:].replace("-", "_")
        kwargs = kwargs or dict(type=PARSE.get(setting), choices=CHOICES.get(setting))
        default = f" (default {DEFAULTS[setting]})" if setting in DEFAULTS and "default" not in help else ""
        groups[group].add_argument(name, help=help + default, **kwargs)

    flag("data", "--dataset", "spiral, moons, circles, xor, or a CSV file of your points and labels")
    flag("data", "--points", "points per class (not for a CSV file)")
    flag("data", "--classes", "number of classes: spiral arms or circles' rings (moons and xor have 2)")
    flag("data", "--noise", "the data's noise (default: each data set's own)")
    flag("data", "--val-fraction", "share of the points held out for validation")
    flag("data", "--seed", "seed for data, split, weights, shuffling and dropout")
    flag("data", "--label-column", "a CSV file's column of labels (numbers 0 … K−1 or texts)")
    flag("data", "--test", "a CSV file of held-out rows, tested after training", metavar="FILE")
    flag("model", "--hidden", "units per hidden layer")
    flag("model", "--depth", "number of hidden layers; 0 is a linear classifier")
    flag("model", "--activation", "hidden activation")
    flag("model", "--init", "weight init: he, xavier, a std such as 0.01, or auto (he for relu-like)")
    flag("model", "--dtype", "floating-point precision")
    flag("model", "--batchnorm", "BatchNorm1d before each activation", action="store_const", const=True)
    flag("model", "--dropout", "Dropout with this p after each hidden activation")
    flag("model", "--standardize", "first a Standardize layer: (x − μ)/σ with the training rows' μ and σ",
         action="store_const", const=True)
    flag("optimizer", "--optimizer", "update rule")
    flag("optimizer", "--lr", "learning rate (default 1.0 for sgd, 0.001 for adam)")
    flag("optimizer", "--momentum", "SGD momentum")
    flag("optimizer", "--weight-decay", "L2 weight decay λ: adds λ·θ to every gradient")
    flag("optimizer", "--reg", "the course's L2 regularisation λ: ½·λ·ΣW² added to the loss")
    flag("optimizer", "--lr-schedule", "step: lr x --lr-gamma every --lr-step-size steps; cosine: lr to 0 "
                                       "over --steps")
    flag("optimizer", "--lr-step-size", "steps between the step schedule's decays (no default)")
    flag("optimizer", "--lr-gamma", "the step schedule's factor")
    flag("run", "--steps", "total number of updates")
    flag("run", "--batch-size", "mini-batch size (default: the full batch)")
    flag("run", "--log-every", "steps between history rows")
    flag("run", "--checkpoint-every", "steps between checkpoints")
    flag("run", "--chunk-size", "rows per chunk of a step's batch; auto: where chunks pay; 0: none")
    flag("run", "--threads", "BLAS threads; 0: NumPy's own choice")
    flag("run", "--diverge-factor", f"diverged if the loss stays above this x the first: in rows 1-4 and "
                                    f"not coming down at row 5, or for {PATIENCE} rows; 0: never")
    flag("run", "--patience", "stop when the validation loss has not improved for this many history rows "
                            "(and keep the best weights in best.npz); 0: never")
    flag("run", "--out", "folder for the run's files (default runs/<date>-<time>)", type=runs.folder_name)
    flag("run", "--resume", "continue the run saved in this folder or checkpoint.npz", metavar="RUN")
    flag("run", "--plot-only", "with --resume RUN: draw its figures, without training", action="store_true")
    flag("run", "--predict", "with --resume RUN: RUN/predictions.csv for the rows of this CSV file",
         metavar="FILE")
    flag("run", "--animate", "also write training.gif: the boundary as it learns", action="store_true")
    flag("run", "--no-progress", "no progress bar", action="store_true")
    flag("run", "--debug", "the traceback of an unexpected error (or BACKPROP_DEBUG=1)", action="store_true")
    return parser


def run(args) -> int:
    # Settings: the flags over the defaults, or over the resumed checkpoint's ----------------------
    given = {name: value for name, value in vars(args).items() if name in DEFAULTS and value is not None}
    if args.predict is not None:
        if args.resume is None or given or args.plot_only or args.animate or args.test:
            raise runs.Failure("argument --predict: predicts with the run named by --resume RUN alone",
                               runs.EXIT_USAGE)
        return report.predict(args.resume, args.predict, args.out)
    if args.plot_only and (args.animate or args.test or args.resume is None):
        raise runs.Failure("argument --plot-only: draws the figures of the run named by --resume RUN, "
                           "without training (so without --animate or --test)", runs.EXIT_USAGE)
    if args.resume is None:
        config, checkpoint = settings.configure(given), None
    else:
        config, checkpoint = settings.resume(args.resume, given, to_train=not args.plot_only)
    if config["init"] == 0 and config["depth"]:
        runs.warn("--init 0: identical weights never break symmetry; try --init 0.01")

    # Data, model, optimizer ------------------------------------------------------------------------
    X, y, val = settings.build_data(config)
    if args.animate and X.shape[1] != 2:
        raise runs.Failure(f"argument --animate: draws points in the plane; {config['dataset']} has "
                           f"{X.shape[1]} coordinates", runs.EXIT_USAGE)
    test = args.test and report.read_test(config, args.test, X)
    model = settings.build_model(config, X.shape[1], X)
    loss_fn = SoftmaxCrossEntropy()
    optimizer = settings.build_optimizer(config, model)
    schedule = settings.build_schedule(config, optimizer)
    state = TrainingState(progress=not args.no_progress, chunk_size=config["chunk_size"] or None,
                          diverge_factor=config["diverge_factor"])
    if config["batch_size"] is not None:
        state.batches = BatchStream(X, y, config["batch_size"], rng=settings.generators(config)["shuffle"])
    patience, every = config["patience"], config["log_every"]
    stopper = EarlyStopping(model, state, patience, every) if patience else None
    extras = {key: part for key, part in (("schedule/", schedule), ("early/", stopper)) if part is not None}
    resumed = None if checkpoint is None else {"path": checkpoint.path, "step": checkpoint.step}
    if checkpoint is not None:
        try:
            restore(checkpoint, model, optimizer, state, extras)
        except ValueError as exc:
            raise runs.Failure(str(exc)) from None
        if getattr(schedule, "T_max", config["steps"]) < config["steps"] and not args.plot_only:
            runs.warn(f"--lr-schedule cosine keeps its first {schedule.T_max} steps: past them the learning "
                      "rate climbs back along the cosine")

    # The run's folder: locked, this process its only writer, until the end -----------------------
    with runs.run_folder(args.out, checkpoint and Path(checkpoint.path)) as out:
        args.folder = out               # named if an unexpected error ends the run
        n_val = 0 if val is None else len(val[0])
        parameters = sum(p.value.size for p in model.parameters())
        record = runs.new_record(config, model=repr(model), optimizer=repr(optimizer), parameters=parameters,
                                 samples={"train": len(X), "validation": n_val}, resumed_from=resumed)
        if args.plot_only and (out / "checkpoint.npz").exists():       # the figures of the run in ``out``
            record = runs.run_record(out)
        elif args.plot_only:            # a new folder (or a killed --plot-only's own leftovers): a copy
            runs.write_record(out, record, "running", state)
            kept = Path(checkpoint.path).read_bytes()
            write_atomically(out / "checkpoint.npz", lambda file: file.write(kept))
        else:
            batches = f"mini-batches of {config['batch_size']}" if config["batch_size"] else "full batch"
            where = f"resuming at step {state.step} from {checkpoint.path}\n{' ' * 11}" if resumed else ""
            print(f"data       {report.describe_data(config, X)}: {len(X)} for training, {n_val} for "
                  "validation")
            print("model      " + repr(model).replace("\n", "\n           "))
            print(f"           {parameters:,} parameters, {config['dtype']}, init {config['init']}")
            print(f"optimizer  {optimizer!r}, {batches}" + f"\n           then {schedule!r}" * bool(schedule))
            print(f"run        {config['steps']} steps, {where}files in {out}", flush=True)
            runs.write_record(out, record, "running", state)
        recorder = BoundaryRecorder(model, X, y, steps=config["steps"], start=state.step) if args.animate \
            else None

        def save():                     # a diverged state never replaces a good checkpoint
            require_finite_state(state.step, model, optimizer)
            save_checkpoint(out / "checkpoint.npz", model, optimizer, state, config,
                            extra={prefix: part.state_dict() for prefix, part in extras.items()})
            if stopper is not None and stopper.best_weights is not None:    # after: a kill leaves a run
                report.save_best(out / "best.npz", model, stopper.best_weights)

        def on_step(state: TrainingState) -> None:
            if schedule is not None:
                schedule.step()         # after optimizer.step(), as in PyTorch: the next step's lr
            if state.step % config["checkpoint_every"] == 0:
                save()
            if recorder is not None:
                recorder(state)

        # The loop: fit, a checkpoint every checkpoint_every steps; the first Ctrl-C stops it ----------
        started = time.perf_counter()
        with blas_threads(config["threads"] or None), runs.stop_flag() as stop:
            state.on_step = on_step
            state.should_stop = lambda: stop() or (stopper is not None and stopper.should_stop())
            try:
                if not args.plot_only:
                    fit(model, loss_fn, optimizer, X, y, steps=config["steps"], val=val, state=state,
                        batch_size=config["batch_size"], log_every=config["log_every"], reg=config["reg"])
                    if stopper is not None:
                        stopper.finish()
                    save()
                    record["seconds"] = time.perf_counter() - started
            except Diverged as exc:
                raise runs.diverged(out, record, state, exc, hint=report.scales_hint(X, config)) from None
            except Exception as exc:    # a full disk, say: the record says so, if it still can
                runs.write_record(out, record, "failed", state, message=f"{type(exc).__name__}: {exc}")
                raise
        state.history.to_csv(out / "history.csv")
        stopped = stopper is not None and state.step < config["steps"] and not stop() \
            and (not args.plot_only or stopper.should_stop())         # --plot-only: as the run ended
        status = "completed" if state.step >= config["steps"] or stopped else "interrupted"
        status = status if record["status"] == "running" else record["status"]     # --plot-only: the run's
        if not args.plot_only:
            best = stopper.best_step if stopper is not None and stopper.best_step >= 0 else None
            report.outcome(record, state, out, best, stopped, model, args.test, test)
        runs.write_record(out, record, status, state)
        if status == "interrupted" and not args.plot_only:
            print(f"interrupted at step {state.step}: saved; continue with python train.py --resume "
                  f"{out / 'checkpoint.npz'}", file=sys.stderr)
            return runs.EXIT_INTERRUPTED

        # Figures: after a Ctrl-C in the last step, left to --plot-only --------------------------------
        figures = report.draw_figures(config, model, X, y, val, out, status, state.history, recorder,
                                      skip=stop(), record=record)
        runs.write_record(out, record, status, state, figures=figures)
    if runs.NOT_DRAWN in figures.values():
        return runs.EXIT_INTERRUPTED
    drawn = [name for name, outcome in figures.items() if outcome == "drawn"]
    files = ["checkpoint.npz", *["best.npz"] * ("best" in record), "history.csv", "config.json", *drawn]
    print(f"saved in   {out}: {', '.join(files)}")
    last = state.history[-1]
    val_row = f"  val loss {last['val_loss']:.4g}  val accuracy {last['val_accuracy']:.1%}" if val else ""
    seconds = "" if args.plot_only else f"  ({record['seconds']:.1f} s of training)"
    print(f"done       step {state.step}  loss {last['loss']:.4g}  train accuracy "
          f"{last['train_accuracy']:.1%}{val_row}{seconds}")
    chance = np.bincount(y).max() / len(y)      # always answering the largest class: 1/K for K even classes
    risen = last["loss"] > 1.01 * state.history[0]["loss"]        # not by rounding: --init 0 stays at ln K
    if not args.plot_only and last["train_accuracy"] <= chance and risen:
        runs.warn(f"chance accuracy ({chance:.1%}) and a loss above its start: --lr is likely too large")
    return runs.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):     # a name the terminal's encoding lacks: \xe9, not an error
        getattr(stream, "reconfigure", lambda **kwargs: None)(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    return runs.exit_code(lambda: run(args), debug=args.debug, folder=lambda: getattr(args, "folder", None))


if __name__ == "__main__":
    sys.exit(main())
