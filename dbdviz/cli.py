"""Command line interface (CONTRACTS.md, "Command line").

Every subcommand exits 0 on success and 2 on bad input with a one-line message naming
the offending option and its allowed range. Long work shows progress on stderr unless
``--quiet``. Model options override the preset's values. Options are generated from
the ``param`` configs in :mod:`dbdviz.config`, so the CLI, the API and the dashboard
share one definition of every parameter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from ._cliopts import (  # noqa: F401 - UsageError and the codes are cli's API
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    _add_common,
    _add_param_options,
    _bounded_int,
    _check_paths,
    _cli_message,
    _exact_int,
    _memory_error,
    _opt,
    _Parser,
    _sigint_cancels,
)
from ._version import __version__
from .config import PRESETS, LatticeLV

__all__ = ["main", "build_parser"]

# ---------------------------------------------------------------------------------
# Progress on stderr
# ---------------------------------------------------------------------------------


class Progress:
    """A minimal stderr progress bar; silent when ``quiet``.

    Redraws at most 10 times a second; a non-terminal stderr gets plain lines at
    every 10 % instead of carriage returns.
    """

    def __init__(self, label: str, quiet: bool = False, stream=None) -> None:
        self.label = label
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or total <= 0:
            return
        now = time.perf_counter()
        frac = min(max(done / total, 0.0), 1.0)
        if self.tty:
            if now - self._last < 0.1 and done < total:
                return
            self._last = now
            width = 30
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            self.stream.write(
                f"\r{self.label} [{bar}] {done}/{total} {now - self.t0:6.1f}s"
            )
            if done >= total:
                self.stream.write("\n")
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(
                    f"{self.label}: {done}/{total} ({100 * frac:.0f}%) "
                    f"{now - self.t0:.1f}s\n"
                )
        self.stream.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            self.stream.write(text.rstrip() + "\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------
# Options generated from configs
# ---------------------------------------------------------------------------------

#: LatticeLV parameters exposed as model options (the CONTRACTS.md names first).
MODEL_OPTIONS = (
    "size",
    "birth",
    "death",
    "predation",
    "init_x",
    "init_y",
    "steps",
    "replicates",
    "seed",
    "dt",
    "pick_mode",
    "birth_mode",
)


def _model_from_args(args: argparse.Namespace) -> LatticeLV:
    from .config import preset

    overrides = {n: getattr(args, n, None) for n in MODEL_OPTIONS}
    if getattr(args, "no_snapshots", False):
        overrides["snapshots"] = False
    try:
        return preset(args.preset, **overrides)
    except ValueError as exc:
        raise UsageError(_cli_message(exc, list(MODEL_OPTIONS) + ["preset"])) from None


def _cmd_simulate(args: argparse.Namespace) -> int:
    cfg = _model_from_args(args)
    _check_paths({"--out": args.out})
    from ._memory import MemoryLimitError
    from .simulate import check_memory, simulate, warmup

    try:
        check_memory(cfg)
    except MemoryLimitError as exc:
        raise _memory_error("--replicates/--steps/--size", exc) from None

    prog = Progress("simulate", args.quiet)
    prog.note(
        f"dbdviz simulate: {cfg.replicates} replicates of a "
        f"{cfg.size}x{cfg.size} lattice, "
        f"{cfg.steps} steps (seed {cfg.seed})"
    )
    from .errors import Cancelled

    warmup()
    with _sigint_cancels() as cancel:
        try:
            ens = simulate(cfg, progress=prog, threads=args.threads, cancel=cancel)
        except Cancelled:
            raise KeyboardInterrupt from None
    ens.save(args.out)
    prog.note(f"wrote {args.out} ({ens.elapsed:.2f} s simulating)")
    return EXIT_OK


def _cmd_moments(args: argparse.Namespace) -> int:
    _check_paths({"--out": args.out}, {"ENSEMBLE": args.ensemble})
    ens = _load_ensemble(args.ensemble, "ENSEMBLE", snapshots=False)
    from ._memory import MemoryLimitError

    try:
        table = ens.moments()
    except MemoryLimitError as exc:
        raise UsageError(f"ENSEMBLE: {exc}") from None
    table.to_csv(args.out)
    if not args.quiet:
        sys.stderr.write(f"wrote {args.out} ({len(table.t)} rows, n = {table.n})\n")
    return EXIT_OK


def _cmd_closure(args: argparse.Namespace) -> int:
    cfg = _model_from_args(args)
    _check_paths({"--out": args.out})
    from .closures import ClosureError, solve

    try:
        table = solve(args.method, cfg)
    except ClosureError as exc:
        raise UsageError(f"closure {args.method}: {exc}") from None
    table.to_csv(args.out)
    if not args.quiet:
        sys.stderr.write(f"wrote {args.out} ({args.method}, {len(table.t)} rows)\n")
    return EXIT_OK


# DBM / training options generated from the configs (``--depth`` first, per CONTRACTS).
DBM_OPTIONS = (
    "depth",
    "conn",
    "cross_channel",
    "visible_couplings",
    "visible_nnn_couplings",
    "chains",
    "sweeps_awake",
    "sweeps_asleep",
    "persistent_asleep",
    "rungs",
    "sliding_factor",
)


def _train_option_names() -> list[str]:
    from .config import TrainConfig

    # refine: the --refine / --no-refine switch (_add_train_commands)
    return [n for n in TrainConfig.public_names() if n not in ("seed", "refine")]


def _configs_from_args(args: argparse.Namespace):
    """The measured training defaults for the depth (``depth_configs``: the param
    defaults, then ``DEPTH_DEFAULTS``) with the options given, checked for
    combinations that cannot train (``training_error``), before any work."""
    from .config import depth_configs

    dbm_kw = {
        n: getattr(args, n) for n in DBM_OPTIONS if getattr(args, n, None) is not None
    }
    tr_kw = {
        n: getattr(args, n)
        for n in _train_option_names()
        if getattr(args, n, None) is not None
    }
    if args.seed is not None:
        tr_kw["seed"] = args.seed
    if getattr(args, "refine", None) is not None:
        tr_kw["refine"] = _refine_setting(args)
    names = list(DBM_OPTIONS) + _train_option_names() + ["seed"]
    name = getattr(args, "protocol", None)
    try:
        if name in (None, "default"):
            return depth_configs(None, dbm_kw, tr_kw, name=_opt)
        # a named protocol keeps its own settings (no depth defaults, as in the
        # dashboard's Protocol selector); the options given override them
        from .config import PROTOCOLS, DBMConfig, TrainConfig, check_training

        dbm_p, train_p = PROTOCOLS[name]
        dbm = DBMConfig(**{**dbm_p, **dbm_kw})
        train = TrainConfig(**{**train_p, **tr_kw})
        check_training(dbm, train, _opt)
        return dbm, train
    except ValueError as exc:
        raise UsageError(_cli_message(exc, names)) from None


def _refine_setting(args: argparse.Namespace) -> str | None:
    """``TrainConfig.refine`` of ``--refine`` / ``--no-refine`` (None: absent)."""
    if args.refine is None:
        return None
    return "on" if args.refine else "off"


def _load_ensemble(path: str, option: str, snapshots: bool = True):
    from ._memory import MemoryLimitError
    from .io import FileFormatError
    from .simulate import Ensemble

    try:
        return Ensemble.load(path, snapshots=snapshots)
    except (FileNotFoundError, FileFormatError, MemoryLimitError) as exc:
        raise UsageError(f"{option}: {exc}") from None


def _check_resume(args: argparse.Namespace) -> None:
    """``--resume``: an existing checkpoint, and no option given that differs from
    its settings (they would be ignored)."""
    from .dbd.checkpoint import conflicts
    from .io import FileFormatError

    if not os.path.isfile(args.resume):
        raise UsageError(f"--resume: no such file: {args.resume}")
    if getattr(args, "protocol", None) is not None:
        raise UsageError(
            f"--resume: --protocol = {args.protocol}: a resumed run keeps the "
            "checkpoint's settings; leave --protocol out"
        )
    given = {
        n: getattr(args, n)
        for n in list(DBM_OPTIONS) + _train_option_names() + ["seed"]
        if getattr(args, n, None) is not None
    }
    try:
        bad = conflicts(args.resume, **given)
    except (FileNotFoundError, FileFormatError) as exc:
        raise UsageError(f"--resume: {exc}") from None
    if bad:
        listed = "; ".join(f"{_opt(n)} = {v} (checkpoint: {c})" for n, v, c in bad)
        raise UsageError(
            f"--resume: {listed}: a resumed run keeps the checkpoint's settings; "
            "leave these options out or give its values"
        )


def _cmd_train(args: argparse.Namespace) -> int:
    if len(args.data) > 1:  # one model from several ensembles
        return _cli_predict("cmd_train_multi")(args, sys.modules[__name__])
    args.data = args.data[0]
    dbm_cfg, tr_cfg = _configs_from_args(args)
    if not args.resume:  # --refine against --depth, before the data are read
        try:
            tr_cfg.refines(dbm_cfg.depth)
        except ValueError as exc:
            raise UsageError(_cli_message(exc, ["refine"])) from None
    # --checkpoint may be the --resume file (training goes on checkpointing there)
    _check_paths(
        {"--out": args.out, "--checkpoint": args.checkpoint},
        {"--data": args.data},
    )
    _check_paths({"--out": args.out}, {"--resume": args.resume})
    if args.resume:
        _check_resume(args)
    data = _load_ensemble(args.data, "--data")
    if data.snapshots is None:
        raise UsageError(
            "--data: the ensemble has no snapshots (simulated with --no-snapshots); "
            "training needs the lattices"
        )
    from .dbd import Trainer, TrainingDiverged

    try:
        if args.resume:
            trainer = Trainer.resume(args.resume, data, refine=_refine_setting(args))
        else:
            trainer = Trainer(data, dbm_config=dbm_cfg, train_config=tr_cfg)
    except ValueError as exc:  # with --resume: other data, --refine against it
        msg = _cli_message(exc, list(DBM_OPTIONS) + _train_option_names() + ["refine"])
        raise UsageError(("--resume: " if args.resume else "") + msg) from None
    prog = Progress("train", args.quiet)
    rprog: list[Progress] = []  # its clock starts with the refinement
    refining = f" + {trainer.refine_steps} refinement steps" if trainer.refining else ""
    prog.note(
        f"dbdviz train: depth {trainer.dbm_config.depth}, "
        f"{trainer.opt_steps} optimisation steps{refining} on "
        f"{data.observables.shape[0]} replicates of {args.data}"
    )
    every = max(int(args.checkpoint_every), 1)

    def callback(rec) -> None:
        if rec.phase == "refine":
            if not rprog:
                rprog.append(Progress("refine", args.quiet))
            rprog[0](rec.step - rec.opt_steps, rec.total_steps - rec.opt_steps)
        else:
            prog(rec.step, rec.opt_steps)
        if args.checkpoint and rec.step % every == 0:
            trainer.save_checkpoint(args.checkpoint)

    try:
        # Ctrl-C stops at the end of the current step: the checkpoint taken then
        # resumes bit for bit (a second Ctrl-C stops at once, without one)
        with _sigint_cancels() as cancel:
            model = trainer.run(callback=callback, cancel=cancel)
    except TrainingDiverged as exc:
        sys.stderr.write(f"dbdviz train: training diverged: {exc}\n")
        if args.checkpoint:
            sys.stderr.write(f"last checkpoint: {args.checkpoint}\n")
        return EXIT_ERROR
    if model.meta.get("cancelled"):
        where = f"after step {trainer.step_index} of {trainer.total_steps}"
        if args.checkpoint:
            trainer.save_checkpoint(args.checkpoint)
            sys.stderr.write(
                f"\ninterrupted {where}; checkpoint saved to {args.checkpoint} "
                "(--resume it)\n"
            )
        else:
            sys.stderr.write(
                f"\ninterrupted {where}; nothing saved (no --checkpoint)\n"
            )
        raise KeyboardInterrupt
    if "refine" in model.meta:
        rm = model.meta["refine"]
        err = (
            f"fit error {rm['error_before']:.3f} -> {rm['error_after']:.3f}"
            if rm.get("error_before") is not None
            else "fit error not checked"
        )
        if rm.get("accepted", True):
            prog.note(
                f"refined in {rm['seconds']:.0f} s (velocity fit residual "
                f"{rm['residual']:.3f}; {err})"
            )
        else:
            prog.note(
                f"refinement rejected after {rm['seconds']:.0f} s: its closure is "
                f"further from the data ({err}); the adjoint-trained closure is kept"
            )
    _report_fit(model.meta.get("fit"), prog)
    model.save(args.out)
    prog.note(f"wrote {args.out}")
    return EXIT_OK


def _report_fit(fit: dict | None, prog: Progress) -> None:
    """The fit check's line (dbd.fit); a poor fit is a warning even with --quiet."""
    if not fit:
        return
    per = ", ".join(f"{k} {100 * v:.0f} %" for k, v in fit["per_observable"].items())
    line = f"fit to the data: {100 * fit['error']:.1f} % ({per})"
    if fit["poor"]:
        sys.stderr.write(
            f"dbdviz train: warning: poor fit: the learned closure is "
            f"{100 * fit['error']:.0f} % from the data on average, above "
            f"--fit-warning {fit['threshold']:g} ({per}); check the data (does a "
            "species die out?) and --lr / --opt-steps\n"
        )
    else:
        prog.note(line)


#: Evaluation options, generated from :class:`~dbdviz.config.EvalConfig`.
EVAL_OPTIONS = (
    "chains",
    "sweeps",
    "seed",
    "init",
    "burn_in",
    "cov_from",
    "lowpass_taps",
    "cutoff",
    "lowpass_padding",
    "t_max",
)


def _eval_config_from_args(args: argparse.Namespace):
    """:class:`~dbdviz.config.EvalConfig` of the options given (its defaults else)."""
    from .config import EvalConfig

    kw = {n: getattr(args, n) for n in EVAL_OPTIONS if getattr(args, n) is not None}
    try:
        return EvalConfig(**kw)
    except ValueError as exc:
        raise UsageError(_cli_message(exc, EVAL_OPTIONS)) from None


def _cmd_evaluate(args: argparse.Namespace) -> int:
    cfg = _eval_config_from_args(args)
    _check_paths({"--out": args.out}, {"MODEL": args.model})
    from ._memory import MemoryLimitError
    from .dbd import DBDModel, evaluate
    from .io import FileFormatError

    try:
        model = DBDModel.load(args.model)
    except (FileNotFoundError, FileFormatError, MemoryLimitError) as exc:
        raise UsageError(f"MODEL: {exc}") from None
    from .errors import Cancelled

    prog = Progress("evaluate", args.quiet)
    try:
        with _sigint_cancels() as cancel:
            ev = evaluate(model, **cfg.to_dict(), progress=prog, cancel=cancel)
    except Cancelled:
        raise KeyboardInterrupt from None
    except MemoryLimitError as exc:
        raise _memory_error("--t-max/--chains", exc) from None
    except ValueError as exc:
        raise UsageError(_cli_message(exc, EVAL_OPTIONS)) from None
    ev.table.to_csv(args.out)
    prog.note(f"wrote {args.out} ({len(ev.table.t)} rows, {cfg.chains} chains)")
    return EXIT_OK


def _add_train_commands(sub) -> None:
    from .config import PROTOCOLS, DBMConfig, EvalConfig, TrainConfig

    p = sub.add_parser(
        "train",
        help="Learn a DBD closure from an ensemble.",
        description="Learn a dynamic Boltzmann distribution from simulated lattices. "
        "With only --data and --out the defaults give the project's best closure.",
    )
    p.add_argument(
        "--data",
        required=True,
        action="append",
        metavar="ENSEMBLE.npz",
        help="Training ensemble; repeat it for one depth-0 model from several (same "
        "size, dt, steps; no other training options): see dbdviz predict.",
    )
    _add_param_options(p, DBMConfig, DBM_OPTIONS)
    _add_param_options(
        p, TrainConfig, [n for n in TrainConfig.public_names() if n != "refine"]
    )
    p.add_argument(
        "--checkpoint",
        metavar="CKPT.npz",
        help="Save a resumable checkpoint here (atomically) while training.",
    )
    p.add_argument(
        "--checkpoint-every",
        type=_bounded_int("checkpoint-every", 1),
        default=50,
        help="Steps between checkpoints. Default 50.",
    )
    p.add_argument("--resume", metavar="CKPT.npz", help="Resume from a checkpoint.")
    p.add_argument(
        "--protocol",
        choices=list(PROTOCOLS),
        default=None,
        help="A named training protocol (dbdviz.config.PROTOCOLS): 'default' the "
        "measured defaults (which follow --depth); 'equilibrium' a Boltzmann "
        "distribution whose moments do not depend on the sampling length (less "
        "accurate; docs/training.md, 'Equilibrium'); 'reference' the paper's "
        "protocol. The options given override its settings. Default 'default'.",
    )
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="After the adjoint steps, refine the closure on the data "
        "(TrainConfig.refine, the static-path refinement of dbdviz.dbd.refine: "
        "theta fitted per time point, F refitted to that path; --refine-iterations "
        "+ 1 steps, about 30 s on the paper data on 2 cores). Default: on for fully "
        "visible machines (depth 0), off otherwise; --refine also refines depth 1 "
        "(more accurate, about 4 times the training time), with depth > 1 it is an "
        "error. "
        "With --resume: replaces the checkpoint's setting before its refinement "
        "began.",
    )
    p.add_argument("--out", required=True, metavar="MODEL.npz")
    _add_common(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="Sample a learned model along its trajectory.",
        description="Sample the learned model at every time point of its trajectory "
        "and "
        "write its moment table.",
    )
    p.add_argument("model", metavar="MODEL.npz")
    _add_param_options(p, EvalConfig, EVAL_OPTIONS)
    p.add_argument("--out", required=True, metavar="LEARNED.csv")
    _add_common(p)
    p.set_defaults(func=_cmd_evaluate)


# ---------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        default="paper",
        choices=list(PRESETS),
        help="Model preset; the options below override its values. Default paper.",
    )
    _add_param_options(p, LatticeLV, MODEL_OPTIONS)


def _threads(text: str) -> int:
    from ._numba import max_threads

    try:
        v = int(text)
    except ValueError:
        v = 0
    hi = max_threads()
    if not 1 <= v <= hi:
        raise argparse.ArgumentTypeError(
            f"{text!r} is invalid: allowed [1, {hi}] (the cores numba can use)"
        )
    return v


#: Subcommand registry: name -> (adder, handler). Later subsystems register here.
def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbdviz",
        description="Lattice Lotka-Volterra simulation, moment closures and dynamic "
        "Boltzmann distributions.",
    )
    parser.add_argument("--version", action="version", version=f"dbdviz {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "simulate",
        help="Simulate an ensemble of replicates.",
        description="Simulate an ensemble of lattice Lotka-Volterra replicates.",
    )
    _add_model_options(p)
    p.add_argument(
        "--no-snapshots",
        action="store_true",
        help="Keep per-replicate observables but not the lattices.",
    )
    p.add_argument(
        "--threads",
        type=_threads,
        default=None,
        help="Threads for the replicates (default: all cores).",
    )
    p.add_argument("--out", required=True, metavar="ENSEMBLE.npz", help="Output file.")
    _add_common(p)
    p.set_defaults(func=_cmd_simulate)

    p = sub.add_parser(
        "moments",
        help="Moment table of an ensemble.",
        description="Write the moment table (CSV) of a simulated ensemble.",
    )
    p.add_argument("ensemble", metavar="ENSEMBLE.npz")
    p.add_argument("--out", required=True, metavar="MOMENTS.csv")
    _add_common(p)
    p.set_defaults(func=_cmd_moments)

    p = sub.add_parser(
        "closure",
        help="Classical moment closure.",
        description="Integrate a classical moment closure.",
    )
    p.add_argument("--method", required=True, choices=["mean-field", "pair"])
    _add_model_options(p)
    p.add_argument("--out", required=True, metavar="CLOSURE.csv")
    _add_common(p)
    p.set_defaults(func=_cmd_closure)

    from ._cliserve import add_serve_command

    add_serve_command(sub)
    for adder in _EXTRA_COMMANDS:
        adder(sub)
    return parser


def _cli_predict(name: str) -> Callable:  # it gets this module: no import circle
    from . import cli_predict

    return getattr(cli_predict, name)


def _add_dask_options(sub) -> None:  # sweep; simulate, serve --scheduler
    from ._cli_dask import add_dask_options

    add_dask_options(sys.modules[__name__], sub)


#: Functions ``adder(subparsers)`` registering further subcommands and options.
_EXTRA_COMMANDS: list[Callable] = [
    _add_train_commands,
    _add_dask_options,
    lambda sub: _cli_predict("add_predict_command")(sub, sys.modules[__name__]),
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 failure, 2 bad input)."""
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except UsageError as exc:
        msg = str(exc)
        if args is not None and not msg.startswith("dbdviz"):
            msg = f"dbdviz {args.command}: {msg}"
        sys.stderr.write(msg + "\n")
        return EXIT_USAGE
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0)
    except KeyboardInterrupt:
        sys.stderr.write("dbdviz: interrupted\n")
        if argv is None:  # the program itself (not a caller): leave now
            _exit_now(130)
        return 130


def _exit_now(code: int) -> None:
    """Exit without the interpreter's teardown (numba's and llvmlite's take 0.6 -
    0.9 s): Ctrl-C acts within a second. Every file is written atomically and
    closed by then; the standard streams and log handlers are flushed here."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
