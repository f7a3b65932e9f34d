"""``dbdviz serve``: the dashboard on this machine (:mod:`dbdviz.ui.guard`), with
the resource limits of :class:`dbdviz.config.ServeLimits`."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from ._cliopts import (
    EXIT_ERROR,
    EXIT_OK,
    UsageError,
    _add_common,
    _add_param_options,
    _cli_message,
)

__all__ = ["add_serve_command"]


def _port(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(
            f"--port = {text!r} is invalid: allowed [1, 65535]"
        )
    return v


def _limits_from_args(args: argparse.Namespace):
    from .config import ServeLimits

    given = {
        n: getattr(args, n)
        for n in ServeLimits.public_names()
        if getattr(args, n, None) is not None
    }
    try:
        return ServeLimits.from_environment().copy(**given)
    except ValueError as exc:
        raise UsageError(_cli_message(exc, ServeLimits.public_names())) from None


def _cmd_serve(args: argparse.Namespace) -> int:
    limits = _limits_from_args(args)
    try:
        import panel as pn

        from .ui.app import create_app
    except ImportError as exc:  # pragma: no cover - depends on the install
        sys.stderr.write(
            f"dbdviz serve needs the UI extra: pip install 'dbdviz[ui]' ({exc})\n"
        )
        return EXIT_ERROR
    from ._warmup import PARTS, warmup
    from .ui import guard

    origins = list(args.allow_websocket_origin or [])
    pol = guard.Policy.build(args.address, origins)
    try:
        server = pn.serve(
            {"dashboard": create_app},
            port=args.port,
            address=args.address,
            show=False,
            start=False,
            title="dbdviz",
            websocket_origin=[f"localhost:{args.port}", f"127.0.0.1:{args.port}"]
            + origins,
        )
    except OSError as exc:  # port in use, an address not of this machine
        raise UsageError(
            f"--port/--address: cannot listen on {args.address}:{args.port} "
            f"({exc.strerror or exc})"
        ) from None
    guard.install(pol)
    from .ui.app import set_serve_limits

    set_serve_limits(limits)
    # the app's session/job lines and the guard's refusals, as panel serve logs them
    ui_log = logging.getLogger("dbdviz.ui")
    if not ui_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        ui_log.addHandler(handler)
        ui_log.setLevel(logging.INFO)
        ui_log.propagate = False
    # every kernel before the server answers: the dashboard simulates, trains and
    # evaluates, and a first Train must not wait for a compilation
    t0 = time.perf_counter()
    for k, part in enumerate(PARTS, start=1):
        if not args.quiet:
            sys.stderr.write(f"preparing kernels: {part} ({k}/{len(PARTS)}) ...\n")
            sys.stderr.flush()
        warmup(part)
    if not args.quiet:
        sys.stderr.write(
            f"kernels ready in {time.perf_counter() - t0:.1f} s; serving the "
            f"dashboard at http://localhost:{args.port}/dashboard\n"
        )
    server.start()
    if args.show:
        server.io_loop.add_callback(server.show, "/dashboard")
    try:
        server.io_loop.start()
    finally:
        server.stop()
    return EXIT_OK


def add_serve_command(sub) -> None:
    """Register ``serve`` on the subparsers ``sub``."""
    p = sub.add_parser(
        "serve",
        help="Serve the dashboard.",
        description="Serve the Panel dashboard at /dashboard.",
    )
    p.add_argument("--port", type=_port, default=5006)
    p.add_argument(
        "--address",
        default="127.0.0.1",
        help="Address to listen on. Default 127.0.0.1: this machine only; another "
        "address (e.g. 0.0.0.0) also accepts clients on other machines.",
    )
    p.add_argument("--show", action="store_true", help="Open a browser tab.")
    p.add_argument(
        "--allow-websocket-origin",
        action="append",
        metavar="HOST[:PORT]",
        help="Also answer requests for this host name (Host and Origin headers); "
        "'*' any. Without it only this machine's own names are answered.",
    )
    from .config import ServeLimits

    _add_param_options(p, ServeLimits, ServeLimits.public_names())
    _add_common(p)
    p.set_defaults(func=_cmd_serve)
