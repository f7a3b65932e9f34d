"""The Dask cluster behind the dashboard's regime map: one per server process.

A :class:`SharedCluster` connects in the background (a LocalCluster of one
single-threaded worker process per core, or the running scheduler given to
``dbdviz serve --scheduler ADDRESS``, passed on as ``$DBDVIZ_SCHEDULER``) and warms
its workers (kernels compiled or loaded, closures imported), so the first map does
not wait for them. It is a resource of the server, shared by every session, not
session state: each session's map is its own job, with its own futures and its own
Cancel. The LocalCluster closes at interpreter exit; its worker processes also end
when the server process dies (Dask's nannies watch their parent).

``sweep_work`` is the regime map's background work (``work(cancel, emit)`` for a
:class:`~dbdviz.ui.jobs.Job`). No Panel here.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from ..config import LatticeLV

__all__ = ["ENV", "SharedCluster", "shared", "sweep_work"]

log = logging.getLogger("dbdviz.ui")

#: Environment variable naming the scheduler (``local`` when unset).
ENV = "DBDVIZ_SCHEDULER"


class SharedCluster:
    """A Dask client made once, in a background thread.

    Parameters
    ----------
    address : str, optional
        ``"local"`` or ``"tcp://host:port"``; default ``$DBDVIZ_SCHEDULER`` or
        ``"local"``.
    n_workers : int, optional
        Workers of a LocalCluster (default: cores).
    """

    def __init__(self, address: str | None = None, n_workers: int | None = None):
        self.address = address or os.environ.get(ENV) or "local"
        self.n_workers = n_workers
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None
        self.error: str | None = None
        self.seconds: float | None = None

    def start(self) -> SharedCluster:
        """Connect in the background (once); returns at once."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._connect, name="dbdviz-cluster", daemon=True
                )
                self._thread.start()
        return self

    def _connect(self) -> None:
        from ..distributed import close_client, local_client, open_client
        from ..sweeps import warmup_worker

        t0 = time.perf_counter()
        try:
            if self.address == "local":
                client = local_client(self.n_workers)
            else:
                client = open_client(self.address)
            client.run(warmup_worker)
            self._client = client
            atexit.register(close_client, client)
            self.seconds = time.perf_counter() - t0
            log.info(
                "dbdviz cluster %s ready in %.1f s (%d workers)",
                self.address,
                self.seconds,
                len(client.nthreads()),
            )
        except Exception as exc:  # shown by the map that needs it
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("dbdviz cluster %s failed: %s", self.address, self.error)
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._client is not None

    def client(self, timeout: float = 120.0):
        """The Client, waiting up to ``timeout`` seconds for it.

        Raises
        ------
        RuntimeError
            The cluster did not start (the message says why) or not in time.
        """
        self.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(
                f"the Dask cluster ({self.address}) is not ready after {timeout:g} s"
            )
        if self._client is None:
            raise RuntimeError(f"the Dask cluster ({self.address}): {self.error}")
        return self._client

    def close(self) -> None:
        """Close the client (and a LocalCluster); for tests and scripts."""
        from ..distributed import close_client

        self._ready.wait(120)
        client, self._client = self._client, None
        if client is not None:
            atexit.unregister(close_client)
            close_client(client)


_SHARED: dict[str, SharedCluster] = {}
_SHARED_LOCK = threading.Lock()


def shared() -> SharedCluster:
    """This process's cluster (made on first call; :meth:`SharedCluster.start` it)."""
    with _SHARED_LOCK:
        if "cluster" not in _SHARED:
            _SHARED["cluster"] = SharedCluster()
        return _SHARED["cluster"]


def sweep_work(cluster: SharedCluster, config: LatticeLV, vary: dict[str, Any]):
    """Worker: a sweep over ``vary`` (``{name: values}``) through ``cluster``.

    Records: ``("status", text)`` while the cluster starts; ``("cell", index,
    values)`` per finished cell (:data:`dbdviz.sweeps.LAYERS`); ``("progress",
    done, total)``. Cancel cancels the sweep's pending tasks on the cluster.
    """

    def work(cancel, emit):
        from ..sweeps import sweep

        if not cluster.ready:
            emit(("status", f"Starting the Dask cluster ({cluster.address}) ..."))
        client = cluster.client()
        if cancel.is_set():
            return
        sweep(
            config,
            vary,
            scheduler=client,
            cancel=cancel,
            progress=lambda done, total: emit(("progress", done, total)),
            on_cell=lambda idx, vals: emit(("cell", idx, vals)),
        )

    return work
