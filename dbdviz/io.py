"""Saving and loading of dbdviz files: ``.npz`` arrays plus a JSON ``meta`` string.

Every file carries ``meta`` = JSON with at least ``kind`` (``"ensemble"``,
``"model"``, ``"checkpoint"`` ...), ``dbdviz_version``, ``created`` (UTC ISO time) and
whatever the writer adds (config, seed). Loading checks ``kind`` and fails with a
clear message on a foreign, truncated or wrong-kind file. Writes are atomic: a
temporary file in the same folder, flushed and fsynced, then ``os.replace``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__

__all__ = [
    "atomic_write",
    "save_npz",
    "load_npz",
    "FileFormatError",
    "write_text_atomic",
]

FORMAT_VERSION = 1


class FileFormatError(ValueError):
    """A file is not a dbdviz file of the expected kind, or is damaged."""


class atomic_write:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    >>> with atomic_write("out.csv") as tmp:
    ...     Path(tmp).write_text("a,b\\n")
    """

    def __init__(self, path: str | os.PathLike, suffix: str | None = None) -> None:
        self.path = Path(path)
        self.suffix = suffix if suffix is not None else "".join(self.path.suffixes)

    def __enter__(self) -> str:
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.exists():
            raise FileNotFoundError(f"output folder does not exist: {folder}")
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp" + self.suffix, dir=folder
        )
        os.close(fd)
        self.tmp = tmp
        return tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            with open(self.tmp, "rb+") as fh:
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        else:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def save_npz(
    path: str | os.PathLike,
    arrays: dict[str, np.ndarray],
    kind: str,
    meta: dict[str, Any] | None = None,
    compress: bool = False,
) -> None:
    """Atomically write ``arrays`` and a JSON ``meta`` string to ``path``.

    Parameters
    ----------
    path : path-like
        Destination (``.npz``).
    arrays : dict of str -> ndarray
        Arrays to store; the key ``meta`` is reserved.
    kind : str
        File kind, checked by :func:`load_npz`.
    meta : dict, optional
        Extra JSON-serialisable metadata (config, seed ...).
    compress : bool
        Use ``np.savez_compressed`` (smaller, slower).
    """
    if "meta" in arrays:
        raise ValueError("array name 'meta' is reserved")
    m = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "dbdviz_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    m.update(_jsonable(meta or {}))
    writer = np.savez_compressed if compress else np.savez
    with atomic_write(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            writer(fh, meta=np.array(json.dumps(m)), **arrays)


def load_npz(
    path: str | os.PathLike, kind: str | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_npz`.

    Returns
    -------
    arrays : dict of str -> ndarray
    meta : dict

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    FileFormatError
        Not an ``.npz`` file, truncated, without dbdviz ``meta``, or of another kind.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise FileFormatError(f"{path} is not a dbdviz file (no 'meta' entry)")
            meta = json.loads(str(z["meta"]))
            arrays = {k: z[k] for k in z.files if k != "meta"}
    except FileFormatError:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        json.JSONDecodeError,
    ) as exc:
        raise FileFormatError(
            f"{path} is not a readable dbdviz .npz file ({exc})"
        ) from None
    if not isinstance(meta, dict) or "kind" not in meta:
        raise FileFormatError(f"{path} is not a dbdviz file (meta has no 'kind')")
    if kind is not None and meta["kind"] != kind:
        raise FileFormatError(
            f"{path} holds a {meta['kind']!r}, expected a {kind!r} file"
        )
    return arrays, meta
