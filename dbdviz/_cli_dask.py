"""The Dask parts of the command line: ``simulate --scheduler`` and ``sweep``.

Kept apart from :mod:`dbdviz.cli` (at its 800-line limit), which registers them and
passes itself in as ``cli`` for its shared helpers (Progress, UsageError, the model
options), so that imports run one way. Nothing here imports :mod:`distributed`
before a scheduler is used.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from types import ModuleType

__all__ = [
    "serve_with_scheduler",
    "add_dask_options",
    "add_scheduler_option",
    "add_sweep_command",
    "simulate_distributed",
]


def _scheduler(text: str) -> str:
    from .distributed import SchedulerError, check_address

    try:
        return check_address(text)
    except SchedulerError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("scheduler = ", "")) from None


def add_scheduler_option(p: argparse.ArgumentParser, what: str, note: str = "") -> None:
    p.add_argument(
        "--scheduler",
        type=_scheduler,
        default=None,
        metavar="ADDRESS",
        help=f"Run {what} on Dask: 'local' (a LocalCluster of one worker process "
        "per core on this machine) or a running scheduler's address "
        "(tcp://HOST:PORT, from 'dask scheduler'). Same seed, same results as "
        f"without.{note} Needs the distributed extra.",
    )


def _scheduler_error(cli: ModuleType, exc: Exception):
    return cli.UsageError("--" + str(exc))


def simulate_distributed(
    cli: ModuleType, in_process: Callable, args: argparse.Namespace
) -> int:
    """``dbdviz simulate --scheduler``: chunks go straight into the output file, so
    no process holds all replicates (with ``--no-snapshots`` 10^5 paper replicates
    stay far below 2 GB). Without ``--scheduler``: ``in_process(args)``."""
    if not args.scheduler:
        return in_process(args)
    from .distributed import SchedulerError, connect, simulate_to_file, total_threads
    from .simulate.lattice import simulate_chunk

    cfg = cli._model_from_args(args)
    cli._check_paths({"--out": args.out})

    prog = cli.Progress("simulate", args.quiet)
    t0 = time.perf_counter()
    try:
        with connect(args.scheduler) as client:
            prog.note(
                f"dbdviz simulate: {cfg.replicates} replicates of a "
                f"{cfg.size}x{cfg.size} lattice, {cfg.steps} steps (seed {cfg.seed}) "
                f"on {args.scheduler} ({total_threads(client)} worker threads)"
            )
            elapsed = simulate_to_file(
                client, cfg, args.out, simulate_chunk, prog, threads=args.threads
            )
    except SchedulerError as exc:
        raise _scheduler_error(cli, exc) from None
    prog.note(
        f"wrote {args.out} ({time.perf_counter() - t0:.2f} s, {elapsed:.2f} s "
        "simulating in the workers)"
    )
    return cli.EXIT_OK


def _cmd_sweep(cli: ModuleType, args: argparse.Namespace) -> int:
    from .distributed import SchedulerError
    from .sweeps import sweep

    for text in args.vary:
        name = text.partition("=")[0].strip().replace("-", "_")
        if name in cli.MODEL_OPTIONS and getattr(args, name, None) is not None:
            raise cli.UsageError(
                f"--vary {name}: also given as {cli._opt(name)}; leave one of them out"
            )
    cfg = cli._model_from_args(args)
    cli._check_paths({"--out": args.out})
    prog = cli.Progress("sweep", args.quiet)
    t0 = time.perf_counter()
    started = []

    def progress(done: int, total: int) -> None:
        if not started:
            started.append(True)
            resumed = f" (resuming: {done} done)" if done else ""
            where = f" on {args.scheduler}" if args.scheduler else ""
            prog.note(
                f"dbdviz sweep: {total} cells x {cfg.replicates} replicates "
                f"(seed {cfg.seed}){resumed}{where}"
            )
        prog(done, total)

    try:
        ds = sweep(
            cfg,
            args.vary,
            preset_name=args.preset,
            scheduler=args.scheduler,
            out=args.out,
            force=args.force,
            progress=progress,
            threads=args.threads,
        )
    except SchedulerError as exc:
        raise _scheduler_error(cli, exc) from None
    except ValueError as exc:
        msg = str(exc).splitlines()[0]
        raise cli.UsageError(
            "--" + msg if msg.startswith(("vary", "out")) else msg
        ) from None
    except KeyboardInterrupt:
        prog.note(f"\ninterrupted; finished cells saved to {args.out} (re-run: resume)")
        raise
    cells = int(ds["done"].size)
    prog.note(f"wrote {args.out} ({cells} cells, {time.perf_counter() - t0:.1f} s)")
    return cli.EXIT_OK


def add_dask_options(cli: ModuleType, sub) -> None:
    """``--scheduler`` for ``dbdviz simulate`` and ``dbdviz serve`` (registered
    before), and ``dbdviz sweep``."""
    p = sub.choices["simulate"]
    add_scheduler_option(
        p, "the replicates", " --threads is then numba threads per task (default 1)."
    )
    p.set_defaults(func=partial(simulate_distributed, cli, p.get_default("func")))
    p = sub.choices["serve"]
    add_scheduler_option(
        p,
        "the dashboard's regime maps",
        " Default: a LocalCluster started with the server.",
    )
    p.set_defaults(func=partial(serve_with_scheduler, cli, p.get_default("func")))
    add_sweep_command(cli, sub)


def serve_with_scheduler(
    cli: ModuleType, serve: Callable, args: argparse.Namespace
) -> int:
    """``dbdviz serve --scheduler``: check that the scheduler answers, then hand
    its address to the app (``$DBDVIZ_SCHEDULER``, read by dbdviz.ui.cluster)."""
    import os

    if args.scheduler and args.scheduler != "local":
        from .distributed import SchedulerError, connect

        try:
            with connect(args.scheduler):
                pass
        except SchedulerError as exc:
            raise _scheduler_error(cli, exc) from None
    if args.scheduler:
        os.environ["DBDVIZ_SCHEDULER"] = args.scheduler
    return serve(args)


def add_sweep_command(cli: ModuleType, sub) -> None:
    """Register ``dbdviz sweep``."""
    from .sweeps import MAX_CELLS, SWEEPABLE

    p = sub.add_parser(
        "sweep",
        help="Run an ensemble on every cell of a parameter grid.",
        description="Run an ensemble on every cell of a grid of model parameters and "
        "write per-cell summaries (extinction fractions, time-averaged X and Y, "
        "oscillation period, NRMSE of the mean-field and pair closures) as an "
        "xarray Dataset in netCDF, one dimension per --vary. Every cell uses the "
        "same --seed. Re-running with the same --out resumes.",
    )
    cli._add_model_options(p)
    p.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="NAME=START:STOP:N",
        help=f"Vary NAME over N evenly spaced values from START to STOP (N in [1, "
        f"{MAX_CELLS}]); repeat for more dimensions. NAME in "
        f"{{{', '.join(SWEEPABLE)}}}.",
    )
    add_scheduler_option(p, "the cells' replicates")
    p.add_argument(
        "--threads",
        type=cli._threads,
        default=None,
        help="numba threads per task (default: all cores in-process, 1 on Dask).",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help=f"Allow a grid of more than {MAX_CELLS} cells.",
    )
    p.add_argument("--out", required=True, metavar="SWEEP.nc", help="Output file.")
    cli._add_common(p)
    p.set_defaults(func=partial(_cmd_sweep, cli))
