"""Output paths checked before any work: writable, not a folder, not an input.

Every subcommand hands all its output paths and all its input files to
:func:`check_outputs` before it reads data or computes anything, so a bad ``--out``
costs no time and never overwrites an input (an ensemble, a model, a checkpoint).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["OutputPathError", "check_outputs", "same_file", "file_mode"]


class OutputPathError(ValueError):
    """An output path cannot be written, or would overwrite an input or another
    output. The message starts with the option's name."""


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (hard links and symbolic links
    included; for paths that do not exist yet, the same resolved path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_one(option: str, path: str | os.PathLike | None) -> Path:
    text = "" if path is None else os.fspath(path)
    if not text.strip():
        raise OutputPathError(f"{option}: empty path: allowed a file name")
    p = Path(text)
    if p.is_dir() or text.endswith(("/", os.sep)):
        raise OutputPathError(f"{option}: {text} is a folder: allowed a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputPathError(f"{option}: folder does not exist: {folder}")
    # the real test (root ignores permission bits, read-only file systems do not):
    # create and remove a temporary file where the atomic write will put its own
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"{option}: cannot write in folder {folder} ({reason})"
        ) from None
    os.close(fd)
    os.unlink(probe)
    if p.exists() and not p.is_file():
        raise OutputPathError(f"{option}: {text} exists and is not a regular file")
    return p


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, str | os.PathLike | None] | None = None,
) -> dict[str, Path]:
    """Check every output path before any work.

    Parameters
    ----------
    outputs : mapping of option name -> path
        The files a command will write (``{"--out": ..., "--checkpoint": ...}``);
        None values are skipped only for options other than ``--out``.
    inputs : mapping of option name -> path, optional
        The files the command reads; no output may name one of them (compared with
        :func:`same_file`, so links are caught too).

    Returns
    -------
    dict of option name -> Path

    Raises
    ------
    OutputPathError
        Empty, a folder, an unwritable or missing folder, an input, or the same
        file as another output. The message names the option.
    """
    checked: dict[str, Path] = {}
    for option, path in outputs.items():
        if path is None and option != "--out":
            continue
        p = _check_one(option, path)
        for in_opt, in_path in (inputs or {}).items():
            if in_path is not None and same_file(p, in_path):
                raise OutputPathError(
                    f"{option}: {path} is the input {in_opt}: allowed a file that "
                    "is not an input (inputs are never overwritten)"
                )
        for other, q in checked.items():
            if same_file(p, q):
                raise OutputPathError(
                    f"{option}: {path} is also {other}: allowed a different file"
                )
        checked[option] = p
    return checked


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # not thread-safe; only where /proc is missing
    os.umask(mask)
    return mask


def file_mode(path: str | os.PathLike) -> int:
    """Permission bits for a file written to ``path``: those of the file it
    replaces, else ``0o666`` less the process umask (as ``open`` would create it)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()
