"""Shared pieces of the command line (:mod:`dbdviz.cli`, :mod:`dbdviz._cliserve`):
one-line usage errors, options generated from configs, exact integers, output paths
checked before any work, Ctrl-C at a boundary of the work."""

from __future__ import annotations

import argparse
import contextlib
import decimal
import re
import signal
import threading
from collections.abc import Callable, Sequence

import param

from .config import format_range

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise UsageError(f"{self.prog}: {message}")


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def _cli_message(exc: Exception, names: Sequence[str]) -> str:
    """Turn a config ValueError ("birth = -1 is ...") into "--birth = -1 is ..."."""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    head, sep, tail = msg.partition(" = ")
    if not sep:
        head, tail = msg, ""
    for n in sorted(names, key=len, reverse=True):
        head = re.sub(rf"(?<![\w-]){n}\b", _opt(n), head)
    return head + sep + tail


def _add_param_options(
    parser: argparse.ArgumentParser,
    cls: type[param.Parameterized],
    names: Sequence[str],
) -> None:
    """One ``--option`` per config parameter, typed, help from its doc and range
    (and, for the settings that follow the depth, the default per depth)."""
    from .config import DEPTH_DEFAULTS, depth_defaults

    by_depth: dict[str, dict] = {}
    for d in DEPTH_DEFAULTS:
        dbm, train = depth_defaults(d)
        for name, v in {**dbm, **train}.items():
            by_depth.setdefault(name, {}).setdefault(v, []).append(d)
    for n in names:
        p = cls.param[n]
        kw: dict = {"dest": n, "default": None, "metavar": n.upper().replace("_", "-")}
        rng = format_range(p)
        if isinstance(p, param.Selector):
            kw["choices"] = list(p.objects)
            kw["type"] = type(p.objects[0]) if p.objects else str
            kw.pop("metavar")
        elif isinstance(p, param.Boolean):
            kw["type"] = _boolean(rng)
            kw["metavar"] = "{true,false}"
        elif isinstance(p, param.Integer):
            kw["type"] = _typed(int, n, rng)
        elif isinstance(p, param.Number):
            kw["type"] = _typed(float, n, rng)
        # None stands for a rule the doc states ("None: the model's ...")
        dflt = "" if p.default is None else f"; default {p.default}"
        if n in by_depth:  # the settings that follow --depth (DEPTH_DEFAULTS)
            dflt = "; default by depth: " + ", ".join(
                f"{v} (depth {', '.join(map(str, ds))})"
                for v, ds in by_depth[n].items()
            )
        kw["help"] = f"{p.doc} Allowed {rng}{dflt}."
        parser.add_argument(_opt(n), **kw)


def _boolean(rng: str) -> Callable:
    def parse(text: str) -> bool:
        t = text.strip().lower()
        if t in ("1", "true", "yes", "on"):
            return True
        if t in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a boolean: allowed {{true, false}}"
        )

    parse.__name__ = "bool"
    return parse


def _exact_int(text: str) -> int:
    """``text`` as an exact integer: ``12``, ``1_000``, also ``1e3`` (never through a
    float: ``2**53 + 1`` stays itself); ValueError otherwise."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        d = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        raise ValueError(text) from None
    if not d.is_finite() or d != d.to_integral_value() or abs(d.adjusted()) > 100:
        raise ValueError(text)
    return int(d)


def _typed(conv: Callable, name: str, rng: str) -> Callable:
    def parse(text: str):
        try:
            if conv is int:
                return _exact_int(text)
            return conv(text)
        except (TypeError, ValueError):
            kind = "an integer" if conv is int else "a number"
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {kind}: allowed {rng}"
            ) from None

    parse.__name__ = conv.__name__
    return parse


def _check_paths(outputs: dict, inputs: dict | None = None) -> None:
    """All output paths of a subcommand, checked before any work (dbdviz._paths)."""
    from ._paths import OutputPathError, check_outputs

    try:
        check_outputs(outputs, inputs)
    except OutputPathError as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def _sigint_cancels():
    """Ctrl-C sets the yielded event instead of raising mid-computation: the work
    stops at its next boundary (a batch of replicates or time points, a training
    step), so a checkpoint taken then is exact. A second Ctrl-C raises at once."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


def _memory_error(options: str, exc: Exception) -> UsageError:
    """A MemoryLimitError as a one-line usage error naming the options to change."""
    return UsageError(f"{options}: {str(exc).splitlines()[0]}")


# ---------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------


def _bounded_int(name: str, lo: int, hi: int | None = None) -> Callable:
    def parse(text: str) -> int:
        try:
            v = _exact_int(text)
        except ValueError:
            v = None
        if v is None or v < lo or (hi is not None and v > hi):
            rng = f"[{lo}, {hi if hi is not None else 'inf'}" + ("]" if hi else ")")
            raise argparse.ArgumentTypeError(f"{text!r} is invalid: allowed {rng}")
        return v

    return parse


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="No progress on stderr.")
