"""The command line of predictions (issue 18, docs/predict.md): ``dbdviz predict`` and
``dbdviz train`` with several ``--data``.

:mod:`dbdviz.cli` registers these and passes itself in as ``cli`` (its errors,
progress bar and option builders), so this module does not import it (no import
circle).
"""

from __future__ import annotations

import argparse
import math
import warnings
from typing import Any

__all__ = ["add_predict_command", "cmd_train_multi", "PREDICT_OPTIONS"]

#: LatticeLV options of ``predict`` (as for simulate; the rest are the model's).
PREDICT_OPTIONS = ("size", "birth", "death", "predation", "init_x", "init_y", "steps")


def add_predict_command(sub, cli: Any) -> None:
    """The ``predict`` subcommand."""
    from .config import PRESETS, LatticeLV

    p = sub.add_parser(
        "predict",
        help="Predict the moments of initial counts or rates with a learned model.",
        description="Integrate a learned model's dynamics from the random placement "
        "of the given initial counts and sample it: the moment table of a prediction "
        "(n = chains). Options left out are those of the model's first training "
        "ensemble (with --preset: the preset's). A warning says when the prediction "
        "leaves the region the training visited.",
    )
    p.add_argument("model", metavar="MODEL.npz")
    p.add_argument(
        "--preset",
        default=None,
        choices=list(PRESETS),
        help="Start from this preset instead of the model's first training ensemble.",
    )
    cli._add_param_options(p, LatticeLV, PREDICT_OPTIONS)
    p.add_argument(
        "--chains",
        type=cli._bounded_int("chains", 1, 100_000),
        default=100,
        help="Chains per time point. Allowed [1, 100000]; default 100.",
    )
    p.add_argument(
        "--seed",
        type=cli._bounded_int("seed", 0, 2**63 - 1),
        default=0,
        help=f"Sampler seed. Allowed [0, {2**63 - 1}]; default 0.",
    )
    p.add_argument(
        "--form",
        default=None,
        choices=["two-phase", "one-path"],
        help="two-phase: lattices with and without predators (the default for a "
        "model that has the two-phase fit); one-path: the ensemble follows one "
        "parameter path (the default otherwise).",
    )
    p.add_argument("--out", required=True, metavar="PREDICTED.csv")
    cli._add_common(p)
    p.set_defaults(func=lambda args: cmd_predict(args, cli))


def _load_model(path: str, cli: Any):
    from ._memory import MemoryLimitError
    from .dbd import DBDModel
    from .io import FileFormatError

    try:
        return DBDModel.load(path)
    except (FileNotFoundError, FileFormatError, MemoryLimitError) as exc:
        raise cli.UsageError(f"MODEL: {exc}") from None


def _prediction_config(args: argparse.Namespace, model, cli: Any):
    from .config import LatticeLV, preset

    overrides = {n: getattr(args, n) for n in PREDICT_OPTIONS}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    names = list(PREDICT_OPTIONS) + ["preset"]
    try:
        if args.preset is not None:
            return preset(args.preset, **overrides)
        if model.data_config is None:
            raise cli.UsageError(
                "--preset: the model records no training configuration; allowed "
                "--preset with the options of the prediction"
            )
        base = model.data_config.to_dict()
        base.update(overrides)
        return LatticeLV(**base)
    except ValueError as exc:
        raise cli.UsageError(cli._cli_message(exc, names)) from None


def _option_message(exc: ValueError, cli: Any) -> str:
    """A predict() refusal as a message naming the CLI option."""
    msg = str(exc).splitlines()[0]
    if msg.startswith("rates "):
        return "--birth/--death/--predation: " + msg
    if msg.startswith("model:"):
        return "MODEL" + msg[len("model") :]
    if msg.startswith("form = "):
        return "--" + msg
    return cli._cli_message(exc, list(PREDICT_OPTIONS) + ["chains", "dt"])


def cmd_predict(args: argparse.Namespace, cli: Any) -> int:
    cli._check_paths({"--out": args.out}, {"MODEL": args.model})
    model = _load_model(args.model, cli)
    cfg = _prediction_config(args, model, cli)
    from .dbd.predict import check_prediction, predict, resolve_form

    try:
        check_prediction(model, cfg)
        resolve_form(model, args.form)
    except ValueError as exc:
        raise cli.UsageError(_option_message(exc, cli)) from None
    prog = cli.Progress("predict", args.quiet)
    prog.note(
        f"dbdviz predict: {cfg.init_x} X + {cfg.init_y} Y on {cfg.size}x{cfg.size}, "
        f"{cfg.steps} steps, {args.chains} chains"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p = predict(
                model,
                cfg,
                chains=args.chains,
                seed=args.seed,
                form=args.form,
                progress=prog,
            )
        except ValueError as exc:
            raise cli.UsageError(_option_message(exc, cli)) from None
    p.to_csv(args.out)
    if p.warning:
        import sys

        sys.stderr.write(f"dbdviz predict: warning: {p.warning}\n")
    prog.note(f"wrote {args.out} ({len(p.t)} rows, {args.chains} chains, {p.form})")
    return 0


def cmd_train_multi(args: argparse.Namespace, cli: Any) -> int:
    """``dbdviz train --data A --data B ...``: :func:`dbdviz.dbd.train_multi`."""
    given = [
        n
        for n in list(cli.DBM_OPTIONS) + cli._train_option_names()
        if getattr(args, n, None) is not None
    ]
    for extra in ("resume", "checkpoint", "refine", "protocol"):
        if getattr(args, extra, None) is not None:
            given.append(extra)
    if given:
        raise cli.UsageError(
            f"{cli._opt(given[0])}: does not apply to training on several --data "
            "(allowed with several --data: --seed, --out, --quiet)"
        )
    for d in args.data:
        cli._check_paths({"--out": args.out}, {"--data": d})
    ens = [cli._load_ensemble(d, "--data", snapshots=False) for d in args.data]
    from .dbd.predict import check_ensembles, train_multi

    try:
        check_ensembles(ens)
    except ValueError as exc:
        raise cli.UsageError("--" + str(exc)) from None
    prog = cli.Progress("train", args.quiet)
    prog.note(
        f"dbdviz train: one depth-0 model from {len(ens)} ensembles "
        f"({', '.join(f'{e.config.init_x}+{e.config.init_y}' for e in ens)})"
    )
    seed = 0 if args.seed is None else int(args.seed)
    model = train_multi(ens, seed=seed, progress=prog)
    m = model.meta["multi"]
    res = ", ".join(f"{v:.3f}" for v in m["fit_residual"])
    if not all(math.isfinite(v) for v in m["fit_residual"]):
        res = "not finite"
    prog.note(f"trained in {m['seconds']:.0f} s (path fit residual {res})")
    model.save(args.out)
    prog.note(f"wrote {args.out}")
    return 0
