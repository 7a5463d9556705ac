"""Which code is which formula: one training step, explained line by line, for any model.

    python explain.py            the two-class network: 800 points, 1000 hidden units, 2 classes
    python explain.py --small    4 hand-picked points, 3 hidden units: every number, checkable by hand
    python explain.py --depth 3 --hidden 16 --activation tanh     any network train.py builds
    python explain.py --from runs/<run>/checkpoint.npz            a saved model or checkpoint

The two-class network (no model flags) takes one step twice from the same weights: as the course's
loop (``course_step`` in training/course_loop.py, printed first as a numbered listing) and through
the parts ``Linear``, ``ReLU``, ``Linear``, ``SoftmaxCrossEntropy`` and ``SGD``, one call at a time,
in the order backprop runs them. For every quantity it prints the formula, the loop's statements and
their line numbers, the parts' call and the part's numbered formula that computes it (read from the
part's class), the shape, the values and max |loop − parts|.

Any other model (--depth, --hidden, --activation, --batchnorm, --dropout, or --from a file written
by train.py or ``model.save``) has no loop to compare with: it is explained part by part, forward
then backward, with each part's formula, and every gradient is checked against float64 central
differences (layers/gradcheck.py): the model's backward on L = Σ model(X) ⊙ G for a random G, the
loss's backward on L = loss(S, y) at the model's scores S. By the chain rule the two together check
the whole step; apart, each has gradients of a size the check can resolve.

Exit code 0 when every check passes: loop against parts at rounding level (≤ 1e-12, and ≤ 1e-10
relative to the quantity's largest entry), or central differences within 1e-7 relative. 1 when one
fails or a file cannot be read (one line on stderr names it), 2 for a bad flag. The loop against the
parts, and the step part by part, are in training/walkthrough.py.
"""

import json
import sys
from pathlib import Path

import numpy as np

from checks.files import read_npz
from data import make_spiral
from layers import SoftmaxCrossEntropy, check_gradients, check_loss_gradient
from models import Sequential
from models.architecture import build
from models.savefile import MODEL, check_format, entries_under, read_architecture
from training import walkthrough
from training.runs import ArgumentParser
from training.settings import CHOICES, DEFAULTS, PARSE, build_model, complete
from training.walkthrough import EPS, HAND, WIDTH, cite, emit, run_step, shape, values, verdict

CHECK_ALL = 6000        # up to this many weights, every entry is checked; beyond, a window of each
WINDOW = 12             # the window: the first WINDOW entries along each axis of each weight


def model_from_file(path) -> tuple[Sequential, list[str], dict]:
    """The model in a file written by ``model.save`` or train.py (a run's folder stands for its
    checkpoint.npz), rebuilt from the file's architecture with its weights widened to float64 for the
    check. Returns the model, lines saying where it comes from, and the run's settings ({} if none)."""
    path = Path(path) / "checkpoint.npz" if Path(path).is_dir() else Path(path)
    arrays = read_npz(path)
    check_format(path, arrays)
    saved = read_architecture(path, arrays)
    try:
        model = Sequential(*build([dict(layer, dtype="float64") if "dtype" in layer else layer
                                   for layer in saved]))
        model.load_state_dict(entries_under(arrays, MODEL))
        config = json.loads(str(arrays["config"])) if "config" in arrays else {}
    except ValueError as exc:           # json's errors are ValueErrors too
        raise ValueError(f"cannot load {path}: {exc}") from exc
    config = config if isinstance(config, dict) else {}
    run = [key if config[key] is True else f"{key} {config[key]}"       # a setting that is off is not said
           for key in ("depth", "hidden", "activation", "optimizer", "lr", "batchnorm", "dropout", "reg")
           if config.get(key) not in (None, False)]
    narrow = sorted({layer["dtype"] for layer in saved if layer.get("dtype", "float64") != "float64"})
    source = [f"model  {path}: {'a training checkpoint' if config else 'a model file'}, rebuilt from its "
              "architecture"]
    source += [f"       its {', '.join(narrow)} weights widened to float64"] * bool(narrow)
    return model, source + [f"       the run's config: {', '.join(run)}"] * bool(run), config


def explain_model(model: Sequential, source: list[str], *, small: bool = False, seed: int = 0,
                  noise: float = 0.5) -> tuple[list[str], str | None]:
    """One step of ``model``, part by part with each part's formula, every gradient checked by central
    differences, on HAND's points (``small``, every value printed) or a spiral of 8 points per class
    without those at the origin (where a ReLU unit with bias 0 sits on its kink). Returns the lines
    and the first failure (None when every gradient passes). A model that cannot take the points
    fails in its first layer's forward, with that layer's ValueError."""
    K = model[len(model) - 1].out_features
    X, y = (HAND["X"], HAND["y"]) if small else make_spiral(n_per_class=8, n_classes=K, noise=noise, rng=seed)
    X, y = X[np.any(X != 0, axis=1)], y[np.any(X != 0, axis=1)]
    seen = run_step(model, X, y)
    total = sum(p.value.size for p in model.parameters())
    window = None if total <= CHECK_ALL else WINDOW
    report = check_gradients(model, X, eps=EPS, rng=0, window=window)
    checks = {"dS": (check_loss_gradient(SoftmaxCrossEntropy(), seen[f"{len(model) - 1}.y"], y, eps=EPS),
                     "scores"), "0.x": (report, "x")}
    checks.update({name: (report, name) for name in report.errors if name != "x"})
    checked = sum(np.prod(np.minimum(p.value.shape, window or total)) for p in model.parameters())
    data = "HAND's" if small else f"make_spiral(n_per_class=8, n_classes={K}, noise={noise}, rng={seed})"
    lines = [f"One training step of this {len(model)}-layer model with SoftmaxCrossEntropy, part by part:",
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
    model = parser.add_argument_group("any model: as train.py builds it, or from a file")
    model.add_argument("--depth", type=PARSE["depth"], help="hidden layers (default 1)")
    model.add_argument("--hidden", type=PARSE["hidden"], help="units per layer (default 1000; --small 3)")
    model.add_argument("--activation", choices=CHOICES["activation"], help="default relu")
    model.add_argument("--batchnorm", action="store_const", const=True, help="BatchNorm1d after each Linear")
    model.add_argument("--dropout", type=PARSE["dropout"], metavar="P", help="Dropout(P) after activations")
    model.add_argument("--from", dest="path", metavar="PATH", help="a run folder, checkpoint or model file")
    args = parser.parse_args(argv)
    given = {flag: getattr(args, flag) for flag in ("depth", "hidden", "activation", "batchnorm", "dropout")
             if getattr(args, flag) is not None}
    if args.path is not None and given:
        parser.error(f"argument --from: the file says what the model is; leave out --{next(iter(given))}")
    try:
        if args.path is None and not given:            # the two-class network: the loop against the parts
            rows, lines = walkthrough.walk_through(args.small, args.seed)
            wrong = [f"{row.quantity.name} (step {row.quantity.step})" for row in rows if not row.ok]
            failure = wrong and f"the parts differ from the loop in {len(wrong)} quantities, first {wrong[0]}"
        elif args.path is not None:
            model, source, config = model_from_file(args.path)
            lines, failure = explain_model(model, source, small=args.small, seed=args.seed,
                                           noise=config.get("noise", 0.5))
        else:                                           # the network train.py builds with these flags
            config = complete(dict(DEFAULTS, seed=args.seed, hidden=3 if args.small else 1000) | given)
            source = [f"model  as train.py builds it: init {config['init']}, seed {config['seed']}"]
            lines, failure = explain_model(build_model(config), source, small=args.small, seed=args.seed)
    except ValueError as exc:       # an unreadable file, or a model the step cannot run: said in one line
        lines, failure = [], str(exc)
    emit(lines)
    if failure:
        emit([f"explain.py: error: {failure}"], sys.stderr)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
