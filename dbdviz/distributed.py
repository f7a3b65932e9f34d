"""Ensembles and sweeps on Dask: a LocalCluster here, or a cluster's scheduler.

The replicates of an ensemble go out as chunks, each a task that runs the simulator
kernel on the chunk's random streams (:func:`dbdviz._rng.seed_states` of the whole
run, sliced), so the result is bit for bit the in-process one whatever the chunking,
the workers or the order in which chunks finish. Dask reschedules the chunk of a
lost worker; Ctrl-C (or the ``cancel`` event) cancels the pending futures.

>>> from dbdviz.simulate import simulate
>>> ens = simulate(replicates=1000, seed=1, scheduler="local")  # doctest: +SKIP

``scheduler`` is ``"local"`` (start a LocalCluster of one single-threaded worker
process per core, closed afterwards), a running scheduler's address
(``"tcp://host:port"``) or a ``distributed.Client``. Needs the ``distributed`` extra
(``pip install 'dbdviz[distributed]'``); :mod:`distributed` is imported only here
and only when a scheduler is used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ._rng import seed_states
from .config import LatticeLV
from .errors import Cancelled
from .io import atomic_write, npz_meta
from .moments import OBSERVABLES

__all__ = [
    "SchedulerError",
    "check_address",
    "connect",
    "open_client",
    "close_client",
    "local_client",
    "run_tasks",
    "gather_ensemble",
    "simulate_to_file",
    "chunk_size_for",
    "total_threads",
]

#: Seconds a scheduler address has to answer.
CONNECT_TIMEOUT = 10.0
#: Upper bound on one chunk's result (observables + lattices), bytes.
CHUNK_BYTES = 64 * 2**20
#: Chunks per worker thread (load balance and progress granularity vs overhead).
CHUNKS_PER_THREAD = 8

_ADDRESS = re.compile(r"^(?:tcp://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


class SchedulerError(ValueError):
    """A scheduler address is malformed or no scheduler answered there."""


def check_address(scheduler: str) -> str:
    """``"local"`` or a normalised ``tcp://host:port`` address.

    Raises
    ------
    SchedulerError
        Neither ``local`` nor ``[tcp://]HOST:PORT``.
    """
    text = str(scheduler).strip()
    if text == "local":
        return text
    m = _ADDRESS.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise SchedulerError(
            f"scheduler = {scheduler!r} is invalid: allowed 'local' or a Dask "
            "scheduler address tcp://HOST:PORT"
        )
    return f"tcp://{m.group(1)}:{int(m.group(2))}"


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SchedulerError(
            "a Dask scheduler needs the distributed extra: "
            f"pip install 'dbdviz[distributed]' ({exc})"
        ) from None
    return distributed


def local_client(n_workers: int | None = None):
    """A Client of a new LocalCluster: ``n_workers`` (default: cores) worker
    processes of one thread each, no Dask dashboard. Close with
    :func:`close_client`."""
    distributed = _require_distributed()
    n = int(n_workers) if n_workers else (os.cpu_count() or 1)
    cluster = distributed.LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        # no Dask dashboard (and no bokeh), its HTTP server on any free port
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
        silence_logs=logging.ERROR,
    )
    return distributed.Client(cluster, set_as_default=False)


def close_client(client) -> None:
    """Close ``client`` and, when it owns one (:func:`local_client`), its cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


async def _identity(address: str) -> dict:
    from distributed.comm import connect as comm_connect

    comm = await comm_connect(address)
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        comm.abort()


def _probe(address: str, timeout: float) -> dict:
    """The scheduler's identity, or an exception, within ``timeout`` seconds: a
    Client would wait for ever on a port that accepts but does not speak Dask. Runs
    its own event loop in a thread (the caller may be inside one)."""
    import asyncio

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["identity"] = asyncio.run(asyncio.wait_for(_identity(address), timeout))
        except BaseException as exc:  # reported by the caller
            box["error"] = exc

    t = threading.Thread(target=run, name="dbdviz-scheduler-probe", daemon=True)
    t.start()
    t.join(timeout + 2.0)
    if "identity" in box:
        return box["identity"]
    exc = box.get("error")
    if not isinstance(exc, Exception):  # still waiting, or cancelled
        raise TimeoutError("no answer")
    raise exc


def _remote_client(address: str, timeout: float):
    distributed = _require_distributed()
    host, port = address[len("tcp://") :].rsplit(":", 1)
    host = host.strip("[]")
    try:  # refused or unroutable: say so at once rather than after the timeout
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SchedulerError(
            f"scheduler = {address!r} did not answer ({reason}): start one with "
            "'dask scheduler' or use 'local'"
        ) from None
    try:
        ident = _probe(address, timeout)
        if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
            raise TypeError(f"it answered as {ident.get('type', 'something else')}")
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, TypeError, ValueError) as exc:
        raise SchedulerError(
            f"scheduler = {address!r} did not answer as a Dask scheduler within "
            f"{timeout:g} s ({str(exc) or type(exc).__name__})"
        ) from None


@contextlib.contextmanager
def connect(scheduler: Any, timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """A ``distributed.Client`` for ``scheduler``, closed on exit if made here.

    Parameters
    ----------
    scheduler : str or distributed.Client
        ``"local"``, ``"tcp://host:port"`` (or ``"host:port"``) or a Client (used
        as is, left open).
    timeout : float
        Seconds a remote scheduler has to answer.

    Raises
    ------
    SchedulerError
        Malformed address, or nothing (or no Dask scheduler) answers there.
    """
    if not isinstance(scheduler, str):
        yield scheduler
        return
    client = open_client(scheduler, timeout)
    try:
        yield client
    finally:
        close_client(client)


def open_client(scheduler: str, timeout: float = CONNECT_TIMEOUT):
    """A new Client of ``"local"`` (a new LocalCluster) or of a scheduler's
    address; close it with :func:`close_client`. Raises :class:`SchedulerError`
    as :func:`connect` does."""
    address = check_address(scheduler)
    if address == "local":
        return local_client()
    return _remote_client(address, timeout)


def total_threads(client) -> int:
    """Worker threads of ``client``'s cluster (1 for None: in-process)."""
    if client is None:
        return 1
    return max(int(sum(client.nthreads().values())), 1)


def run_tasks(
    client,
    fn: Callable,
    items: Iterable[tuple],
    on_result: Callable[[int, Any], Any],
    cancel: threading.Event | None = None,
    max_in_flight: int | None = None,
    cancelled: Callable[[], BaseException] | None = None,
) -> None:
    """``on_result(i, fn(*items[i]))`` for every item, as results arrive.

    With ``client`` None the calls run here, in order; otherwise they are Dask tasks
    (at most ``max_in_flight`` pending, default four per worker thread, so results
    are collected as they come and memory stays bounded). A set ``cancel`` event, an
    exception or Ctrl-C cancels the pending tasks and raises (``cancelled()`` builds
    the exception for the event).
    """

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise (cancelled() if cancelled else RuntimeError("cancelled"))

    if client is None:
        for i, args in enumerate(items):
            check_cancel()
            on_result(i, fn(*args))
        return
    import queue

    finished: queue.Queue = queue.Queue()
    limit = max_in_flight or 4 * total_threads(client)
    it = enumerate(items)
    pending: dict[Any, int] = {}
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < limit:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                i, args = nxt
                fut = client.submit(fn, *args, pure=False)
                pending[fut] = i
                fut.add_done_callback(finished.put)
            if not pending:
                return
            check_cancel()
            try:
                fut = finished.get(timeout=0.25)
            except queue.Empty:
                continue
            i = pending.pop(fut)
            res = fut.result()  # re-raises a task's exception
            fut.release()
            on_result(i, res)
    except BaseException:
        if pending:
            client.cancel(list(pending))
        raise


# ---------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------


def _bytes_per_replicate(cfg: LatticeLV) -> int:
    T = cfg.steps + 1
    return T * len(OBSERVABLES) * 8 + (T * cfg.n_sites if cfg.snapshots else 0)


def chunk_size_for(cfg: LatticeLV, threads: int) -> int:
    """Replicates per task: about :data:`CHUNKS_PER_THREAD` chunks per worker thread,
    each result at most :data:`CHUNK_BYTES`."""
    cap = max(CHUNK_BYTES // _bytes_per_replicate(cfg), 1)
    want = math.ceil(cfg.replicates / (CHUNKS_PER_THREAD * max(threads, 1)))
    return int(max(min(cap, want), 1))


def _chunks(cfg: LatticeLV, client, chunk_size: int | None):
    n = cfg.replicates
    size = int(chunk_size) if chunk_size else chunk_size_for(cfg, total_threads(client))
    states = seed_states(cfg.seed, n)
    bounds = [(a, min(a + size, n)) for a in range(0, n, size)]
    return states, bounds


def _cancelled_error(done: int, total: int) -> BaseException:
    return Cancelled(f"simulation cancelled after {done} of {total} replicates")


def _run_ensemble(
    scheduler,
    cfg: LatticeLV,
    task: Callable,
    store: Callable[[int, int, tuple], None],
    progress,
    cancel,
    threads,
    chunk_size,
) -> float:
    """Run ``cfg``'s chunks as ``task(cfg_dict, states, threads)`` on ``scheduler``;
    ``store(a, b, result)`` per chunk. Returns the kernel seconds summed."""
    if cfg.seed is None:
        raise ValueError("seed must be set before the replicates are distributed")
    d = cfg.to_dict()
    elapsed = 0.0
    done = 0
    n = cfg.replicates
    with connect(scheduler) as client:
        states, bounds = _chunks(cfg, client, chunk_size)

        def on_result(i: int, res: tuple) -> None:
            nonlocal elapsed, done
            a, b = bounds[i]
            store(a, b, res)
            elapsed += res[2]
            done += b - a
            if progress is not None:
                progress(done, n)

        run_tasks(
            client,
            task,
            ((d, states[a:b], threads or 1) for a, b in bounds),
            on_result,
            cancel=cancel,
            cancelled=lambda: _cancelled_error(done, n),
        )
    return elapsed


def gather_ensemble(
    scheduler: Any,
    cfg: LatticeLV,
    task: Callable,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The replicates of ``cfg`` (seed set) computed on Dask, for
    :func:`dbdviz.simulate.simulate` (``scheduler=``).

    Parameters
    ----------
    scheduler : str or distributed.Client
    cfg : LatticeLV
    task : callable(cfg_dict, states, threads) -> (observables, snapshots, seconds)
        One chunk (``dbdviz.simulate.lattice.simulate_chunk``), run by the workers.
    progress, cancel, threads, chunk_size
        As for ``simulate`` (``threads``: numba threads per task, default 1).

    Returns
    -------
    observables : ndarray of int64, shape (replicates, steps + 1, n_obs)
    snapshots : ndarray of uint8, shape (replicates, steps + 1, L, L), or None
    elapsed : float
        Kernel seconds summed over the chunks.
    """
    n, T, L = cfg.replicates, cfg.steps + 1, cfg.size
    obs = np.zeros((n, T, len(OBSERVABLES)), dtype=np.int64)
    snaps = np.zeros((n, T, L, L), dtype=np.uint8) if cfg.snapshots else None

    def store(a: int, b: int, res: tuple) -> None:
        obs[a:b] = res[0]
        if snaps is not None:
            snaps[a:b] = res[1]

    elapsed = _run_ensemble(
        scheduler, cfg, task, store, progress, cancel, threads, chunk_size
    )
    return obs, snaps, elapsed


class _NpyFile:
    """An ``.npy`` file of known shape filled row block by row block, in any order,
    with positioned writes (no memory map: nothing of it stays resident)."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.row = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize
        with open(path, "wb") as fh:
            np.lib.format.write_array_header_2_0(
                fh, {"descr": self.dtype.str, "fortran_order": False, "shape": shape}
            )
            self.offset = fh.tell()
            fh.truncate(self.offset + shape[0] * self.row)
        self.fd: int | None = os.open(path, os.O_WRONLY)

    def write(self, start: int, block: np.ndarray) -> None:
        data = np.ascontiguousarray(block, dtype=self.dtype)
        os.pwrite(self.fd, memoryview(data).cast("B"), self.offset + start * self.row)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def simulate_to_file(
    scheduler: Any,
    cfg: LatticeLV,
    path: str | os.PathLike,
    task: Callable,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    chunk_size: int | None = None,
) -> float:
    """Like :func:`gather_ensemble` but each chunk goes straight to the ensemble file
    ``path`` (written atomically; the layout of ``Ensemble.save``), so no process
    holds all replicates at once. Returns the kernel seconds.

    The arrays are filled on disk beside ``path`` and then packed into the ``.npz``
    (one extra sequential copy).
    """
    import zipfile

    n, T, L = cfg.replicates, cfg.steps + 1, cfg.size
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}")
    files = {
        "observables": _NpyFile(stem + ".obs.npy", (n, T, len(OBSERVABLES)), "<i8")
    }
    if cfg.snapshots:
        files["snapshots"] = _NpyFile(stem + ".snaps.npy", (n, T, L, L), "u1")
    try:

        def store(a: int, b: int, res: tuple) -> None:
            files["observables"].write(a, res[0])
            if cfg.snapshots:
                files["snapshots"].write(a, res[1])

        elapsed = _run_ensemble(
            scheduler, cfg, task, store, progress, cancel, threads, chunk_size
        )
        for f in files.values():
            f.close()
        meta = {
            "config": cfg.to_dict(),
            "seed": int(cfg.seed),
            "elapsed": float(elapsed),
            "observables": list(OBSERVABLES),
        }
        # the members and order of np.savez (Ensemble.save), stored uncompressed
        with atomic_write(path, suffix=".npz") as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
                _write_npy_member(
                    z, "meta", np.array(json.dumps(npz_meta("ensemble", meta)))
                )
                _write_npy_member(z, "t", cfg.times.astype(np.float64))
                for name, f in files.items():
                    z.write(f.path, arcname=f"{name}.npy")
    finally:
        for f in files.values():
            f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.path)
    return elapsed


def _write_npy_member(z, name: str, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
    z.writestr(f"{name}.npy", buf.getvalue())
