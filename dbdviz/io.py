"""Saving and loading of dbdviz files: ``.npz`` arrays plus a JSON ``meta`` string.

Every file carries ``meta`` = JSON with at least ``kind`` (``"ensemble"``,
``"model"``, ``"checkpoint"`` ...), ``dbdviz_version``, ``created`` (UTC ISO time) and
whatever the writer adds (config, seed). Loading checks ``kind`` and fails with a
clear message on a foreign, truncated or wrong-kind file. Writes are atomic: a
temporary file in the same folder, flushed and fsynced, then ``os.replace``; the
temporary file is removed on every failure, and the file gets the permissions of the
file it replaces (else those the umask gives a new file).
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

from ._paths import file_mode
from ._version import __version__

__all__ = [
    "atomic_write",
    "save_npz",
    "load_npz",
    "npz_meta",
    "FileFormatError",
    "write_text_atomic",
    "declared_nbytes",
    "load_meta",
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
            try:
                os.chmod(self.tmp, file_mode(self.path))
                with open(self.tmp, "rb+") as fh:
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(self.tmp, self.path)
            except BaseException:
                self._discard()
                raise
        else:
            self._discard()

    def _discard(self) -> None:
        try:
            os.unlink(self.tmp)
        except OSError:
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


def npz_meta(kind: str, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``meta`` record of a file of ``kind``: kind, format and dbdviz version,
    creation time, then ``meta``'s entries (made JSON-friendly)."""
    m = {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "dbdviz_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    m.update(_jsonable(meta or {}))
    return m


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
    m = npz_meta(kind, meta)
    writer = np.savez_compressed if compress else np.savez
    with atomic_write(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            writer(fh, meta=np.array(json.dumps(m)), **arrays)


def _declared_arrays(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an ``.npz``, read from the ``.npy`` headers
    of its zip members (a few hundred bytes each) without decompressing the data."""
    fmt = np.lib.format
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else None
            if name is None:
                raise FileFormatError(
                    f"{path}: member {info.filename!r} is not an array"
                )
            with zf.open(info) as fh:
                version = fmt.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(fh)
                else:
                    raise FileFormatError(
                        f"{path}: array {name!r} has .npy format {version}: allowed "
                        "(1, 0) or (2, 0)"
                    )
            if dtype.hasobject:
                raise FileFormatError(f"{path}: array {name!r} holds Python objects")
            out[name] = (tuple(int(n) for n in shape), dtype)
    return out


def declared_nbytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of an array of ``shape`` and ``dtype`` (Python integers: no overflow)."""
    n = int(dtype.itemsize)
    for d in shape:
        n *= int(d)
    return n


def load_meta(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Only the ``meta`` of a file written by :func:`save_npz` (no array is read);
    the errors of :func:`load_npz`."""
    found: dict = {}

    def keep(meta: dict, declared: dict) -> None:
        found.update(meta)
        raise _MetaOnly

    try:
        load_npz(path, kind, check=keep)
    except _MetaOnly:
        return found
    raise AssertionError("unreachable")  # pragma: no cover


class _MetaOnly(Exception):
    """Stops :func:`load_npz` once its meta is read (:func:`load_meta`)."""


def load_npz(
    path: str | os.PathLike,
    kind: str | None = None,
    *,
    skip: tuple[str, ...] = (),
    check=None,
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_npz`.

    Before any array is decompressed, the declared shapes and dtypes (the ``.npy``
    headers) are read, handed to ``check`` and their total size compared with the
    memory available (:func:`dbdviz._memory.require`), so a small crafted file
    cannot make the reader allocate gigabytes.

    Parameters
    ----------
    path : path-like
    kind : str, optional
        Expected ``meta["kind"]``.
    skip : tuple of str
        Arrays not to load (not counted either).
    check : callable(meta, declared), optional
        Called with the meta dict and ``{name: (shape, dtype)}`` before loading;
        raises :class:`FileFormatError` on inconsistent shapes.

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
    dbdviz._memory.MemoryLimitError
        Its arrays would not fit in the available memory.
    """
    from ._memory import require

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise FileFormatError(f"{path} is a folder, not a dbdviz .npz file")
    try:
        declared = _declared_arrays(path)
        if "meta" not in declared:
            raise FileFormatError(f"{path} is not a dbdviz file (no 'meta' entry)")
        shape, dtype = declared["meta"]
        if shape != () or dtype.kind != "U" or dtype.itemsize > 2**24:
            raise FileFormatError(f"{path}: its 'meta' entry is not a short string")
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if not isinstance(meta, dict) or "kind" not in meta:
                raise FileFormatError(
                    f"{path} is not a dbdviz file (meta has no 'kind')"
                )
            if kind is not None and meta["kind"] != kind:
                raise FileFormatError(
                    f"{path} holds a {meta['kind']!r}, expected a {kind!r} file"
                )
            wanted = {
                k: v for k, v in declared.items() if k != "meta" and k not in skip
            }
            if check is not None:
                check(meta, wanted)
            total = sum(declared_nbytes(*v) for v in wanted.values())
            require(total, f"reading {path} (its arrays)")
            arrays = {k: z[k] for k in wanted}
    except FileFormatError:
        raise
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        json.JSONDecodeError,
    ) as exc:
        from ._memory import MemoryLimitError

        if isinstance(exc, MemoryLimitError):
            raise
        raise FileFormatError(
            f"{path} is not a readable dbdviz .npz file ({exc})"
        ) from None
    return arrays, meta
