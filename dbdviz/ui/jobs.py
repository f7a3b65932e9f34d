"""Background jobs for the dashboard: a worker thread, a queue and a periodic drain.

The long computations of the dashboard (simulating an ensemble, training a DBD) run
in a daemon thread so the server keeps answering. The worker never touches Panel or
Bokeh objects: it only puts records into a :class:`queue.Queue`. The session that
started the job drains that queue on its own thread, from a per-session
``pn.state.add_periodic_callback`` (10 Hz), and hands the records to the
component, which updates widgets and ``hv.streams.Buffer``/``Pipe`` objects there.
Outside a running server or notebook (tests, scripts) there is no event loop to run
the periodic callback, so the owner calls :meth:`Job.poll` itself.

Stopping sets a :class:`threading.Event`; workers check it between units of work
(the simulator checks it between replicates and time blocks), so a Stop takes effect
within about a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import Cancelled

__all__ = ["Job", "JobState", "active_jobs"]

log = logging.getLogger("dbdviz.ui")

#: Poll period of the per-session drain callback, in milliseconds (10 Hz).
POLL_MS = 100

_DONE = object()


def _batched():
    """:func:`dbdviz.ui._compat.batched_updates` (one message per drain in a
    notebook); a no-op context without Panel."""
    try:
        from ._compat import batched_updates
    except ImportError:  # pragma: no cover - ui extra missing
        return contextlib.nullcontext()
    return batched_updates()


class JobState:
    """Names of the states a job goes through."""

    IDLE = "idle"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"


# Diagnostic registry of live jobs (name, thread); read by the browser test through
# the server log and by tests directly. It holds no UI state: every job belongs to
# the component (and so the session) that created it.
_LIVE: set[Job] = set()
_LIVE_LOCK = threading.Lock()


def active_jobs() -> list[str]:
    """Names of the jobs whose worker thread is still alive (all sessions)."""
    with _LIVE_LOCK:
        return sorted(j.name for j in _LIVE if j.alive)


class LoopPoller:
    """Call ``fn()`` on ``loop`` every ``period`` seconds, counted from the end of the
    previous call, until :meth:`stop`.

    The drain of a job in a notebook (no server session). Each call is a callback
    of its own on the loop, so the messages that arrive meanwhile (a Stop click)
    are handled between two drains. ``pn.state.add_periodic_callback`` does not do
    this outside a server: it runs its callback in a coroutine that skips its sleep
    when the callback took longer than the period, and then never gives the loop
    back (a drain that draws for 0.3 s under a training thread kept Stop from ever
    being handled).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fn: Callable[[], Any], period: float
    ) -> None:
        self._loop, self._fn, self.period = loop, fn, float(period)
        self.running = True
        self._handle = loop.call_later(self.period, self._tick)

    def _tick(self) -> None:
        if not self.running:
            return
        try:
            self._fn()
        except Exception:  # like the periodic callback: log, keep draining
            log.exception("dbdviz drain callback failed")
        if self.running:
            self._handle = self._loop.call_later(self.period, self._tick)

    def stop(self) -> None:
        """No further calls (safe from inside ``fn`` and from the loop's thread)."""
        self.running = False
        self._handle.cancel()


class Job:
    """Run ``work(cancel, emit)`` in a daemon thread; deliver its records in batches.

    Parameters
    ----------
    name : str
        Shown in log lines (``"simulate"``, ``"train"``).
    work : callable
        ``work(cancel: threading.Event, emit: callable) -> iterable or None``. It may
        call ``emit(record)`` at any time, and/or return an iterable (e.g. be a
        generator function): every item it yields is emitted too, and ``cancel`` is
        checked between items. Raising :class:`dbdviz.errors.Cancelled` (what the
        simulator, the trainer and the evaluation raise when ``cancel`` is set)
        counts as a clean cancellation.
    on_records : callable
        ``on_records(list_of_records)``, called from :meth:`poll` (the session's
        thread) with every record that arrived since the last poll, in order.
    on_done : callable
        ``on_done(state: str, error: str | None)``, called once from :meth:`poll`
        after the last batch; ``state`` is one of :class:`JobState`.
    """

    def __init__(
        self,
        name: str,
        work: Callable[[threading.Event, Callable[[Any], None]], Iterable[Any] | None],
        on_records: Callable[[list[Any]], None],
        on_done: Callable[[str, str | None], None],
    ) -> None:
        self.name = name
        self._work = work
        self._on_records = on_records
        self._on_done = on_done
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._periodic = None
        self.state = JobState.IDLE
        self.error: str | None = None
        self.started_at: float | None = None
        self.n_records = 0
        self.n_polls_with_records = 0
        #: Seconds the session thread spent handling records (total, longest poll).
        self.busy_seconds = 0.0
        self.max_poll_seconds = 0.0

    # -- worker side (background thread) ----------------------------------------------
    def _emit(self, record: Any) -> None:
        self._queue.put(record)

    def _run(self) -> None:
        outcome, err = JobState.FINISHED, None
        try:
            out = self._work(self.cancel, self._emit)
            if out is not None:
                for rec in out:
                    self._emit(rec)
                    if self.cancel.is_set():
                        break
            if self.cancel.is_set():
                outcome = JobState.CANCELLED
        except Exception as exc:  # reported in the UI, never re-raised in the thread
            if self.cancel.is_set() or isinstance(exc, Cancelled):
                outcome = JobState.CANCELLED
            else:
                outcome = JobState.FAILED
                err = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "dbdviz job %s failed:\n%s", self.name, traceback.format_exc()
                )
        finally:
            log.info("dbdviz job %s %s", self.name, outcome)
            self._queue.put((_DONE, outcome, err))

    # -- session side ---------------------------------------------------------------
    def start(self) -> Job:
        """Start the worker thread and (in a server or notebook) the drain callback."""
        if self._thread is not None:
            raise RuntimeError(f"job {self.name!r} was already started")
        self.state = JobState.RUNNING
        self.started_at = time.perf_counter()
        self._thread = threading.Thread(
            target=self._run, name=f"dbdviz-{self.name}", daemon=True
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._thread.start()
        log.info("dbdviz job %s started", self.name)
        self._start_periodic()
        return self

    def _start_periodic(self) -> None:
        try:
            import panel as pn
        except ImportError:  # pragma: no cover - ui extra missing
            return
        doc = pn.state.curdoc
        if doc is None or doc.session_context is None:
            # No server session: in a notebook the kernel's running asyncio loop
            # drives the drain; in plain Python the owner polls (tests do).
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._periodic = LoopPoller(loop, self.poll, POLL_MS / 1000)
            return
        self._periodic = pn.state.add_periodic_callback(self.poll, period=POLL_MS)

    def stop(self) -> None:
        """Ask the worker to stop; it returns at its next check (within ~1 s)."""
        if self.state == JobState.RUNNING and not self.cancel.is_set():
            log.info("dbdviz job %s stop requested", self.name)
        self.cancel.set()

    @property
    def alive(self) -> bool:
        """Whether the worker thread is still running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether :meth:`poll` has not yet delivered the end of the job."""
        return self.state == JobState.RUNNING

    def poll(self) -> int:
        """Drain the queue: deliver records, then the end of the job; return the count.

        Call on the session's thread (the periodic callback does).
        """
        batch: list[Any] = []
        end = None
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, tuple) and len(item) == 3 and item[0] is _DONE:
                end = item
                break
            batch.append(item)
        if batch:
            self.n_records += len(batch)
            self.n_polls_with_records += 1
            t0 = time.perf_counter()
            try:
                with _batched():
                    self._on_records(batch)
            except Exception:  # a display bug must not stop the drain (or the end)
                log.exception("dbdviz job %s: handling records failed", self.name)
            took = time.perf_counter() - t0
            self.busy_seconds += took
            self.max_poll_seconds = max(self.max_poll_seconds, took)
            log.debug(
                "dbdviz job %s: %d records drawn in %.3f s", self.name, len(batch), took
            )
        if end is not None and self.state == JobState.RUNNING:
            self.state, self.error = end[1], end[2]
            self._stop_periodic()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            with _batched():
                self._on_done(self.state, self.error)
        return len(batch)

    def _stop_periodic(self) -> None:
        cb, self._periodic = self._periodic, None
        if cb is not None:
            try:
                cb.stop()
            except Exception:  # the session may already be gone
                pass

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread; return whether it ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    def wait(self, timeout: float = 60.0, interval: float = 0.02) -> str:
        """Poll until the job ends (for tests and scripts); return the final state."""
        deadline = time.monotonic() + timeout
        while self.state == JobState.RUNNING:
            self.poll()
            if self.state != JobState.RUNNING:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name!r} still running after {timeout} s")
            time.sleep(interval)
        return self.state

    def shutdown(self, timeout: float = 2.0) -> None:
        """Stop, wait for the thread and drop the drain callback (session teardown)."""
        self.stop()
        self.join(timeout)
        self._stop_periodic()
        with _LIVE_LOCK:
            if not self.alive:
                _LIVE.discard(self)
