"""Which code is which formula: one training step, explained line by line, for any model.

    python explain.py            the two-class network: 800 points, 1000 hidden units, 2 classes
    python explain.py --small    4 hand-picked points, 3 hidden units: every number, checkable by hand
    python explain.py --step 100                                  the step after 100 training steps
    python explain.py --depth 3 --hidden 16 --activation tanh     any network train.py builds
    python explain.py --from runs/<run> [--step K]                a run (its step K), or a model file

The course's network (Linear, ReLU, Linear: the two-class network with no model flags, or a run of
it with --from) takes one step twice from the same weights: as the course's loop (``course_step``
in training/course_loop.py, printed first as a numbered listing) and through the parts ``Linear``,
``ReLU``, ``Linear``, ``SoftmaxCrossEntropy`` and ``SGD``, one call at a time, in the order backprop
runs them. For every quantity it prints the formula, the loop's statements and their line numbers,
the parts' call and the part's numbered formula that computes it (read from the part's class), the
shape, the values and max |loop − parts|; for the update, old − η·g = new for a few entries. A run is
explained on its own training data (rebuilt from its settings) and weights: those it saved, or with
--step K below its saved step those after K updates, trained again from its seed and settings.
Without --from, --step K trains the network K steps first.

Any other model (--depth, --hidden, --activation, --batchnorm, --dropout, or --from a file written
by train.py or ``model.save``) has no loop to compare with: it is explained part by part, forward
then backward, with each part's formula, and every gradient is checked against float64 central
differences (layers/gradcheck.py): the model's backward on L = Σ model(X) ⊙ G for a random G, the
loss's backward on L = loss(S, y) at the model's scores S. By the chain rule the two together check
the whole step; apart, each has gradients of a size the check can resolve.

Exit code 0 when every check passes: loop against parts at rounding level (≤ 1e-12, and ≤ 1e-10
relative to the quantity's largest entry), or central differences within 1e-7 relative. 1 when one
fails or a file cannot be used (one line on stderr names it), 2 for a bad flag, as for train.py.
The loop against the parts, and the step part by part, are in training/walkthrough.py.
"""

import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from checks.files import read_npz, unusable_path
from data import BatchStream, make_spiral
from layers import SoftmaxCrossEntropy, Standardize, check_gradients, check_loss_gradient
from models import Sequential
from models.architecture import describe
from models.savefile import MODEL, check_format, entries_under, load_into, read_architecture
from optim import SGD
from training import Diverged, TrainingState, blas_threads, fit, walkthrough
from training.runs import EXIT_USAGE, ArgumentParser, Failure
from training.settings import (
    CHOICES,
    DEFAULTS,
    PARSE,
    build_data,
    build_model,
    build_optimizer,
    build_schedule,
    complete,
    generators,
    problems,
    resume,
)
from training.walkthrough import EPS, HAND, NAMES, WIDTH, Course, cite, run_step, shape, values, verdict

CHECK_ALL = 6000        # up to this many weights, every entry is checked; beyond, a window of each
WINDOW = 12             # the window: the first WINDOW entries along each axis of each weight
OVERFLOW = 700          # the course loop's softmax overflows for scores above about 709 (course_loop.py)
# Plain ASCII for the math symbols, for consoles that cannot encode them (cp1252, ascii).
PLAIN = str.maketrans({"η": "eta", "∂": "d", "Σ": "sum", "⊙": "*", "−": "-", "≤": "<=", "←": "<-", "ᵀ": "^T",
                       "ε": "eps", "ℓ": "l", "·": "*", "λ": "lambda", "θ": "theta", "α": "alpha", "μ": "mu",
                       "σ": "sigma", "²": "^2", "√": "sqrt", "≈": "~", "\u0302": "^", "½": "1/2"})


def explain_file(name: str, step: int | None, small: bool, seed: int) -> tuple[list[str], str | None]:
    """The step after ``step`` updates (None: the saved step) of the run whose checkpoint is at ``name``
    (a run's folder stands for its checkpoint.npz), or of the model in a file written by ``model.save``:
    the loop view for the course's network, else part by part."""
    path = Path(name)
    try:
        path = path / "checkpoint.npz" if path.is_dir() else path
    except OSError as exc:              # a name no file system takes: a usage error, as for train.py
        raise Failure(f"argument --from: {path}: {unusable_path(path, exc)}", EXIT_USAGE) from None
    arrays = read_npz(path)
    check_format(path, arrays)
    if "config" not in arrays:
        if step is not None:
            raise Failure(f"argument --step: {path} holds a model, not a run to train again", EXIT_USAGE)
        return explain_model(*model_from_file(path, arrays), small=small, seed=seed)
    config, model, X, y, step, source = load_run(path, arrays, step)
    plane = X.shape[1] == 2
    X, y = own_rows(X, y, 1) if small and not plane else (HAND["X"], HAND["y"]) if small else \
        (X.astype(np.float64), y)
    course = [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear"]
    largest = float(np.max(np.abs(model.forward(X)), initial=0.0)) if course else 0.0
    if not (course and largest < OVERFLOW):         # (NaN scores too)
        why = [f"       the course loop's softmax overflows on scores up to {largest:.3g}: part by part"]
        rows = (X, y) if small and not plane else own_rows(X, y, 8) if not small else None
        about = rows and f"the run's own rows, the first {1 if small else 8} of each class,"
        return explain_model(model, source + why * course, small=small, seed=seed, noise=config["noise"],
                             rows=rows, about=about)
    data = "HAND's 4 points" if small else "the run's training points (training.settings.build_data)"
    notes = [f"data   {data}: X {shape(X)}, y {shape(y)}", *source]
    if config["optimizer"] != "sgd" or config["momentum"] or config["weight_decay"]:
        notes += [f"update the run's optimizer: {build_optimizer(config, model)!r}",
                  "       shown below is the course loop's plain SGD step, θ − η·g with η = its lr"]
    if config["batch_size"]:
        notes.append(f"batch  the run's steps took mini-batches of {config['batch_size']}; this one all")
    weights = {name: model.state_dict()[key] for name, key in NAMES.items()}
    schedule = run_schedule(config, SimpleNamespace(lr=config["lr"]), arrays)   # the lr of the next update
    lr = config["lr"] if schedule is None else schedule.lr_at(step)
    return loop_view(Course(X, y, weights, notes, step, lr, config["reg"]), small)


def load_run(path: Path, arrays: dict, step: int | None):
    """The run's settings (checked as ``train.py --resume`` checks them), its model after ``step``
    updates (None: its saved step) widened to float64 for the checks, its training data, the step,
    and lines saying where the weights come from."""
    config, checkpoint = resume(str(path), {}, to_train=False)
    step = checkpoint.step if step is None else step
    if step > checkpoint.step:
        raise Failure(f"argument --step: {path} has made {checkpoint.step} updates; give at most "
                      f"{checkpoint.step} (train.py --resume trains it further)", EXIT_USAGE)
    X, y, _ = build_data(config)
    if step < checkpoint.step:
        model, how = replay(config, step, X, y, arrays), f"replayed to step {step} from its seed and settings"
    else:
        model, how = build_model(config, X.shape[1], X), f"its weights after step {step}"
        try:
            load_into(model, checkpoint.architecture, entries_under(arrays, MODEL))
        except ValueError as exc:
            raise ValueError(f"cannot load {path}: {exc}") from exc
    wide = build_model(dict(config, dtype="float64"), X.shape[1])
    wide.load_state_dict(model.state_dict())
    return config, wide, X, y, step, [
        f"run    {path}", f"       {how}: a {describe(model)} ({config['dataset']}, seed {config['seed']})",
        f"       the run's config: {config_line(config)}"]


def replay(config: dict, steps: int, X, y, arrays=None) -> Sequential:
    """The run's model after ``steps`` updates, trained again from its seed and settings as train.py
    trains it (the same data, initial weights, batches, dropout masks and learning rates: the same
    weights)."""
    model = build_model(config, X.shape[1], X)
    optimizer = build_optimizer(config, model)
    schedule = run_schedule(config, optimizer, arrays)
    state = TrainingState(chunk_size=config["chunk_size"] or None, diverge_factor=config["diverge_factor"],
                          on_step=None if schedule is None else lambda state: schedule.step())
    if config["batch_size"] is not None:
        state.batches = BatchStream(X, y, config["batch_size"], rng=generators(config)["shuffle"])
    with blas_threads(config["threads"] or None):
        fit(model, SoftmaxCrossEntropy(), optimizer, X, y, steps=steps, state=state,
            batch_size=config["batch_size"], log_every=config["log_every"], reg=config["reg"])
    return model


def run_schedule(config: dict, optimizer, arrays=None):
    """The run's learning-rate schedule (None: none) at its start, as long as the checkpoint ``arrays``
    say (a cosine resumed past its length keeps it), checked as train.py checks it."""
    schedule = build_schedule(config, optimizer)
    if schedule is not None and arrays is not None:
        try:
            schedule.load_state_dict(entries_under(arrays, "schedule/"))
        except ValueError as exc:
            raise ValueError(f"damaged checkpoint ({exc})") from None
        schedule.last_epoch = -1                # back to step 0, its length kept
        schedule.step()
    return schedule


def trained(course: Course, steps: int) -> Course:
    """The two-class network's ``course`` after ``steps`` updates of ``fit`` with SGD at lr 1."""
    model = walkthrough.course_model(course.weights)
    fit(model, SoftmaxCrossEntropy(), SGD(model.parameters(), lr=1.0), course.X, course.y, steps=steps)
    weights = {name: model.state_dict()[key] for name, key in NAMES.items()}
    about = [*course.about, f"weights after {steps} updates: fit(model, loss_fn, optimizer, X, y, "
             f"steps={steps})"]
    return course._replace(weights=weights, about=about, step=steps)


def loop_view(course: Course, small: bool) -> tuple[list[str], str | None]:
    """The course loop against the parts, and the first quantity where they differ (None if none)."""
    rows, lines = walkthrough.walk_through(small, course=course)
    wrong = [f"{row.quantity.name} (step {row.quantity.step})" for row in rows if not row.ok]
    return lines, wrong and f"the parts differ from the loop in {len(wrong)} quantities, first {wrong[0]}"


def own_rows(X, y, per_class: int):
    """The first ``per_class`` rows of each class, in float64."""
    picked = np.concatenate([np.flatnonzero(y == k)[:per_class] for k in np.unique(y)])
    return X[picked].astype(np.float64), y[picked]


def config_line(config: dict) -> str:
    """What a run trained, a setting that is off left out."""
    return ", ".join(key if config[key] is True else f"{key} {config[key]}" for key in (
        "standardize", "depth", "hidden", "activation", "optimizer", "lr", "lr_schedule", "batchnorm",
        "dropout", "reg") if config[key] not in (None, False, "none"))


def model_from_file(path, arrays) -> tuple[Sequential, list[str]]:
    """The model in a file written by ``model.save``, rebuilt from its architecture with its weights
    widened to float64 for the check, and lines saying where it comes from."""
    saved, model = read_architecture(path, arrays), Sequential.from_file(path, dtype=np.float64)
    narrow = sorted({layer["dtype"] for layer in saved if layer.get("dtype", "float64") != "float64"})
    return model, [f"model  {path}: a model file, rebuilt from its architecture"] + [
        f"       its {', '.join(narrow)} weights widened to float64"] * bool(narrow)


def explain_model(model: Sequential, source: list[str], *, small: bool = False, seed: int = 0,
                  noise: float = 0.5, rows=None, about: str = "") -> tuple[list[str], str | None]:
    """One step of ``model``, part by part with each part's formula, every gradient checked by central
    differences, on ``rows`` (X, y: a run's own, said by ``about``), HAND's points (``small``, every
    value printed) or a spiral of 8 points per class, without points at the origin (where a ReLU unit
    with bias 0 sits on its kink); a model of other than 2 features without rows gets rows drawn from
    N(0, 1) (at a first Standardize's μ and σ). Returns the lines and the first failure (None when
    every gradient passes)."""
    K, first = model[len(model) - 1].out_features, model[0]
    features = getattr(first, "in_features", getattr(first, "num_features", 2))
    if rows is None and features != 2:  # a model file of other points: rows at the scale it expects
        scaled = isinstance(first, Standardize)
        mean, var = (first.buffers["mean"], first.buffers["var"]) if scaled else (0, 1)
        X = mean + var ** 0.5 * np.random.default_rng(seed).standard_normal((8 * K, features))
        rows = X, np.arange(8 * K) % K
        about = f"{8 * K} rows {'μ + σ·' * scaled}N(0, 1), seed {seed}{' (the Standardize μ, σ)' * scaled},"
    X, y = rows or ((HAND["X"], HAND["y"]) if small else
                    make_spiral(n_per_class=8, n_classes=K, noise=noise, rng=seed))
    X, y = X[np.any(X != 0, axis=1)], y[np.any(X != 0, axis=1)]
    seen = run_step(model, X, y)
    total = sum(p.value.size for p in model.parameters())
    window = None if total <= CHECK_ALL else WINDOW
    report = check_gradients(model, X, eps=EPS, rng=0, window=window)
    checks = {"dS": (check_loss_gradient(SoftmaxCrossEntropy(), seen[f"{len(model) - 1}.y"], y, eps=EPS),
                     "scores"), "0.x": (report, "x")}
    checks.update({name: (report, name) for name in report.errors if name != "x"})
    checked = sum(np.prod(np.minimum(p.value.shape, window or total)) for p in model.parameters())
    data = about or ("HAND's" if small else f"make_spiral(n_per_class=8, n_classes={K}, noise={noise}, "
                                             f"rng={seed})")
    lines = [f"One training step, part by part, of a {describe(model)}, with SoftmaxCrossEntropy:",
             *(f"  ({i}): {layer!r}   {cite(f'{i}.y', model)[2]}" for i, layer in enumerate(model)),
             *source,
             f"data   {data} without the origin's points: N = {len(X)}",
             f"Each gradient is checked against float64 central differences (layers/gradcheck.py, eps {EPS})",
             "of L = Σ model(X) ⊙ G for a random G (seed 0), and of the loss at the scores S: on x and",
             f"{checked:,} of the {total:,} weights (past {CHECK_ALL:,}, the first {WINDOW} along each axis)",
             "", "inputs", "=" * WIDTH,
             *walkthrough.inputs({"X": X, "y": y, **{p.name: p.value for p in model.parameters()}}, small),
             "", "forward, the loss, and backward from the last layer (each dx the dy of the layer before)",
             "=" * WIDTH]
    for key, value in seen.items():
        report, name = checks.get(key, (None, None))
        check = report and f"check {'S (the loss)' if key == 'dS' else name}: {verdict(report, name)}"
        note = f"becomes model[{int(key[:-2]) - 1}]'s dy" if key.endswith(".x") and key != "0.x" else check
        lines.append(f"{key.split('.')[0]:>2}  {cite(key, model)[1]}")
        lines.append(f"    {shape(value):<14}{note or ''}".rstrip())
        if check and report.kinks.get(name):
            lines.append(f"    ({report.kinks[name]} entries left out: on a kink)")
        if check and name in report.notes:
            lines.append(f"    ({report.notes[name].split(':')[0]})")
        lines += values(value, small, 8)
    wrong = [f"{key}, {verdict(report, name)}" for key, (report, name) in checks.items()
             if not report.passes(name)]
    if wrong:
        lines += ["", f"FAILED: {len(wrong)} of {len(checks)} gradients disagree with central differences"]
        return lines, f"gradient check failed: {wrong[0]}"
    return lines + ["", f"all {len(checks)} gradients agree with central differences"], None


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="explain.py", description="One training step, explained line by line.")
    parser.add_argument("--small", action="store_true", help="4 hand-picked points, every number printed")
    parser.add_argument("--seed", type=PARSE["seed"], default=0, help="of the data and weights (default 0)")
    parser.add_argument("--step", type=PARSE["steps"], metavar="K",
                        help="the step after K training steps (--from: at most the run's, default its last)")
    model = parser.add_argument_group("any model: as train.py builds it, or from a file")
    model.add_argument("--depth", type=PARSE["depth"], help="hidden layers (default 1)")
    model.add_argument("--hidden", type=PARSE["hidden"], help="units per layer (default 1000; --small 3)")
    model.add_argument("--activation", choices=CHOICES["activation"], help="default relu")
    model.add_argument("--batchnorm", action="store_const", const=True,
                       help="BatchNorm1d after each hidden Linear")
    model.add_argument("--dropout", type=PARSE["dropout"], metavar="P", help="Dropout(P) after activations")
    model.add_argument("--from", dest="path", metavar="PATH", help="a run folder, checkpoint or model file")
    args = parser.parse_args(argv)
    given = {flag: getattr(args, flag) for flag in ("depth", "hidden", "activation", "batchnorm", "dropout")
             if getattr(args, flag) is not None}
    if args.path is not None and given:
        parser.error(f"argument --from: the file says what the model is; leave out --{next(iter(given))}")
    code = 0
    try:        # numbers too large for float64 (a run trained with --init 1e150) show in the values
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            lines, failure = explain(args, given)
    except Failure as exc:              # train.py's own words and exit code
        lines, failure, code = [], str(exc), exc.code
    except (ValueError, Diverged) as exc:   # an unusable file, or a model the step cannot run
        lines, failure = [], str(exc)
    except MemoryError:
        lines, failure = [], "out of memory: the model or its data is too large for this machine"
    emit(lines)
    if failure:
        emit([f"explain.py: error: {failure}"], sys.stderr)
    return code or (1 if failure else 0)


def explain(args, given: dict) -> tuple[list[str], str | None]:
    """The lines explain.py prints, and the first failure (None if none)."""
    if args.path is not None:
        return explain_file(args.path, args.step, args.small, args.seed)
    if not given:                                   # the two-class network: the loop against the parts
        course = walkthrough.two_class(args.small, args.seed)
        return loop_view(trained(course, args.step) if args.step else course, args.small)
    config = complete(dict(DEFAULTS, seed=args.seed, hidden=3 if args.small else 1000) | given)
    found = problems(config)
    if found:
        raise Failure(found[0], EXIT_USAGE)
    X, y, _ = build_data(config) if args.step else (None, None, None)
    model = replay(config, args.step, X, y) if args.step else build_model(config)
    after = f", after {args.step} steps of train.py's run with these flags" if args.step else ""
    source = [f"model  as train.py builds it: init {config['init']}, seed {config['seed']}{after}"]
    return explain_model(model, source, small=args.small, seed=args.seed)


def emit(lines: list[str], stream=None) -> None:
    """Write ``lines`` to ``stream`` (stdout), in plain ASCII if its encoding cannot show them."""
    stream = sys.stdout if stream is None else stream
    text = "".join(line + "\n" for line in lines)
    try:
        text.encode(stream.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = text.translate(PLAIN).encode("ascii", errors="replace").decode("ascii")
    stream.write(text)


if __name__ == "__main__":
    sys.exit(main())
