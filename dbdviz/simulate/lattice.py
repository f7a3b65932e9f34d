"""Ensembles of the lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

:func:`simulate` validates a :class:`~dbdviz.config.LatticeLV`, runs the numba kernel
of :mod:`._kernels` over the replicates in batches (so that progress reports and
cancellation work) and returns an :class:`Ensemble`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._numba import check_threads, get_threads, set_threads
from .._rng import seed_states
from ..config import LatticeLV, preset
from ..errors import Cancelled
from ..io import FileFormatError, load_npz, save_npz
from ..moments import OBSERVABLES, MomentTable, moment_table
from ._kernels import _fill_hop_table, _simulate_batch

__all__ = [
    "Ensemble",
    "simulate",
    "Cancelled",
    "memory_estimate",
    "check_memory",
]

#: Most replicates per kernel call and thread: between batches progress is reported
#: and cancellation checked (results do not depend on it: one stream per replicate).
_REPS_PER_THREAD = 8

#: Seconds one batch should take at most: the first batch holds one replicate per
#: thread, later ones as many as fit in this time (at most ``_REPS_PER_THREAD`` per
#: thread), so Stop and Ctrl-C act within about this long.
_BATCH_SECONDS = 0.25


@dataclass
class Ensemble:
    """Replicates of one configuration: observables, optional lattices, provenance.

    Attributes
    ----------
    config : LatticeLV
        The validated configuration that was simulated.
    seed : int or None
        The seed actually used (drawn from OS entropy if ``config.seed`` is None).
    t : ndarray of float64, shape (n_times,)
        ``arange(steps + 1) * dt``; t = 0 is the initial placement, t = k dt the
        lattice after k whole steps.
    observables : ndarray of int64, shape (n_reps, n_times, len(OBSERVABLES))
        Per-replicate observables (periodic), in :data:`dbdviz.moments.OBSERVABLES`
        order.
    snapshots : ndarray of uint8, shape (n_reps, n_times, L, L), or None
        Lattices (0 empty, 1 X, 2 Y); None when ``config.snapshots`` is False.
    elapsed : float
        Wall-clock seconds spent in the kernel.
    """

    config: LatticeLV
    seed: int | None
    t: np.ndarray
    observables: np.ndarray
    snapshots: np.ndarray | None
    elapsed: float = 0.0

    @property
    def n_reps(self) -> int:
        return int(self.observables.shape[0])

    def moments(self) -> MomentTable:
        """Ensemble mean and SD of every observable (``moments.moment_table``).

        Refused (:class:`~dbdviz._memory.MemoryLimitError`) when its float64 copy
        of the observables and the deviations would not fit in memory.
        """
        from .._memory import require

        require(
            2 * self.observables.size * 8,
            f"the moment table of {self.n_reps} replicates (two float64 copies of "
            "the observables)",
        )
        return moment_table(self.observables, self.t)

    def counts(self) -> np.ndarray:
        """Counts of X and Y, int64 of shape (n_reps, n_times, 2)."""
        return np.ascontiguousarray(self.observables[:, :, :2])

    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (kind ``"ensemble"``) atomically; see CONTRACTS.md."""
        arrays = {"t": self.t, "observables": self.observables}
        if self.snapshots is not None:
            arrays["snapshots"] = self.snapshots
        meta = {
            "config": self.config.to_dict(),
            "seed": self.seed,
            "elapsed": float(self.elapsed),
            "observables": list(OBSERVABLES),
        }
        save_npz(path, arrays, kind="ensemble", meta=meta)

    @classmethod
    def load(cls, path: str | os.PathLike, snapshots: bool = True) -> Ensemble:
        """Read a file written by :meth:`save`.

        The shapes the file declares are checked against its config and the
        available memory before any array is read (:func:`dbdviz.io.load_npz`).

        Parameters
        ----------
        path : path-like
        snapshots : bool
            Load the lattices too (False: ``snapshots`` is None, e.g. for moments).

        Raises
        ------
        FileNotFoundError, dbdviz.io.FileFormatError
            Missing, foreign, truncated or inconsistent file.
        dbdviz._memory.MemoryLimitError
            Its arrays would not fit in the available memory.
        """

        def check(meta: dict, declared: dict) -> None:
            try:
                config = LatticeLV.from_dict(meta["config"])
                names = tuple(meta.get("observables", OBSERVABLES))
                (t_shape, _), (obs_shape, _) = declared["t"], declared["observables"]
            except (KeyError, ValueError, TypeError) as exc:
                raise FileFormatError(
                    f"{path} is not a valid ensemble file ({exc})"
                ) from None
            if len(t_shape) != 1 or t_shape[0] != config.steps + 1:
                raise FileFormatError(
                    f"{path}: t of shape {t_shape}, expected ({config.steps + 1},)"
                )
            n_t = t_shape[0]
            if (
                names != OBSERVABLES
                or len(obs_shape) != 3
                or obs_shape[1:]
                != (
                    n_t,
                    len(names),
                )
            ):
                raise FileFormatError(
                    f"{path}: observables of shape {obs_shape} ({', '.join(names)}) "
                    f"do not match this dbdviz version's {OBSERVABLES} over {n_t} "
                    "times"
                )
            if "snapshots" in declared:
                L = config.size
                want = (obs_shape[0], n_t, L, L)
                if declared["snapshots"][0] != want:
                    raise FileFormatError(
                        f"{path}: snapshots of shape {declared['snapshots'][0]}, "
                        f"expected {want}"
                    )

        arrays, meta = load_npz(
            path,
            kind="ensemble",
            skip=() if snapshots else ("snapshots",),
            check=check,
        )
        config = LatticeLV.from_dict(meta["config"])
        t = np.asarray(arrays["t"], dtype=np.float64)
        obs = np.asarray(arrays["observables"], dtype=np.int64)
        snaps = arrays.get("snapshots")
        if snaps is not None:
            snaps = np.asarray(snaps, dtype=np.uint8)
        return cls(
            config=config,
            seed=meta.get("seed"),
            t=t,
            observables=obs,
            snapshots=snaps,
            elapsed=float(meta.get("elapsed", 0.0)),
        )


def memory_estimate(config: LatticeLV) -> int:
    """Peak bytes :func:`simulate` allocates for ``config``: per-replicate
    observables (int64, replicates x (steps + 1) x 9), the lattices when kept (uint8,
    replicates x (steps + 1) x size**2) and the random streams (32 bytes each)."""
    n, T = int(config.replicates), int(config.steps) + 1
    nbytes = n * T * len(OBSERVABLES) * 8 + n * 32
    if config.snapshots:
        nbytes += n * T * int(config.size) ** 2
    return nbytes


def check_memory(config: LatticeLV) -> None:
    """:class:`~dbdviz._memory.MemoryLimitError` when :func:`simulate` would not
    fit in the available memory (:func:`memory_estimate`)."""
    from .._memory import require

    snaps = " and lattices" if config.snapshots else ""
    require(
        memory_estimate(config),
        f"{config.replicates} replicates x {config.steps + 1} times of observables"
        f"{snaps} ({config.size}x{config.size})",
        "reduce replicates or steps"
        + (", or do not keep snapshots" if config.snapshots else ""),
    )


def _hop_table(L: int) -> np.ndarray:
    hop = np.empty(8 * L, dtype=np.int32)
    _fill_hop_table(L, hop)
    return hop


def _item_dtype(L: int, nested: bool) -> type:
    """Smallest unsigned type of the kernel's member lists: columns ``< L`` in the
    nested mode, sites ``< L * L`` in the uniform mode."""
    top = L if nested else L * L
    return np.uint8 if top <= 1 << 8 else np.uint16 if top <= 1 << 16 else np.uint32


def _run_kernel(
    cfg: LatticeLV, states: np.ndarray, obs: np.ndarray, snaps: np.ndarray
) -> None:
    """The kernel on the replicates of ``states`` (one stream each), writing ``obs``
    and, when ``cfg.snapshots``, ``snaps`` (flat lattices); shared with the Dask
    tasks of :mod:`dbdviz.distributed`."""
    L = cfg.size
    nested = cfg.pick_mode == "nested_permutation"
    _simulate_batch(
        states,
        L,
        _hop_table(L),
        # member lists hold columns (nested) or sites (uniform): the smallest type
        np.zeros(0, _item_dtype(L, nested)),
        nested,
        cfg.birth_mode == "local",
        cfg.init_x,
        cfg.init_y,
        float(cfg.birth),
        float(cfg.death),
        float(cfg.predation),
        float(cfg.dt),
        cfg.steps,
        obs,
        snaps,
        bool(cfg.snapshots),
    )


def simulate_chunk(
    cfg_dict: dict, states: np.ndarray, threads: int | None = 1
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """The replicates of ``states`` under ``cfg_dict``: one task of
    :mod:`dbdviz.distributed` (and of the sweeps' chunks).

    Returns
    -------
    observables : ndarray of int64, shape (len(states), steps + 1, len(OBSERVABLES))
    snapshots : ndarray of uint8, shape (len(states), steps + 1, L, L), or None
    elapsed : float
        Seconds in the kernel.
    """
    cfg = LatticeLV.from_dict(cfg_dict)
    n, T, L = len(states), cfg.steps + 1, cfg.size
    obs = np.zeros((n, T, len(OBSERVABLES)), dtype=np.int64)
    keep = bool(cfg.snapshots)
    snaps = np.zeros((n, T, L * L) if keep else (1, 1, 1), dtype=np.uint8)
    prev = set_threads(threads)
    t0 = time.perf_counter()
    try:
        _run_kernel(cfg, np.ascontiguousarray(states), obs, snaps)
    finally:
        set_threads(prev)
    return obs, (snaps.reshape(n, T, L, L) if keep else None), time.perf_counter() - t0


def simulate(
    config: LatticeLV | None = None,
    *,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    batch_size: int | None = None,
    scheduler: Any = None,
    **overrides: Any,
) -> Ensemble:
    """Simulate ``config.replicates`` independent replicates of the lattice LV model.

    Parameters
    ----------
    config : LatticeLV, optional
        Model and simulation settings; default ``preset("paper")``.
    progress : callable(done: int, total: int), optional
        Called from the calling thread after every batch of replicates.
    cancel : threading.Event, optional
        When set, the run stops after the current batch and raises :class:`Cancelled`.
    threads : int, optional
        numba threads for this call (None: all); the previous setting is restored.
    batch_size : int, optional
        Replicates per kernel call (default: one per thread, then as many as take
        about 0.25 s, at most 8 per thread). Results do not depend on it, nor on
        ``threads``.
    scheduler : str or distributed.Client, optional
        Run the replicates on Dask (:mod:`dbdviz.distributed`): ``"local"`` (a
        LocalCluster on this machine), a scheduler address ``"tcp://host:port"`` or
        a Client. Same seed, same ensemble as in-process; ``batch_size`` is then
        the replicates per task and ``threads`` the numba threads per task (1).
    **overrides
        LatticeLV parameters replacing those of ``config`` (validated first).

    Returns
    -------
    Ensemble

    Raises
    ------
    ValueError
        A parameter is out of range (before any work); a
        :class:`~dbdviz._memory.MemoryLimitError` when the run would not fit in the
        available memory (:func:`memory_estimate`).
    Cancelled
        ``cancel`` was set.

    Notes
    -----
    Semantics of ALGORITHM.md 1.2-1.5 (reference quirks Q1-Q3, Q5 guarded); replicate
    ``i`` draws from stream ``i`` of ``seed_states(seed, replicates)``.
    """
    base = preset("paper") if config is None else config
    if not isinstance(base, LatticeLV):
        raise ValueError(f"config must be a LatticeLV, got {type(base).__name__}")
    cfg = base.copy(**overrides) if overrides else base.copy()
    threads = check_threads(threads)
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
        raise ValueError(
            f"batch_size = {batch_size!r} is invalid: allowed an integer >= 1"
        )

    check_memory(cfg)
    seed = cfg.seed if cfg.seed is not None else secrets.randbits(63)
    if scheduler is not None:
        from ..distributed import gather_ensemble

        cfg = cfg.copy(seed=seed)
        obs, snaps, elapsed = gather_ensemble(
            scheduler, cfg, simulate_chunk, progress, cancel, threads, batch_size
        )
        t = cfg.times.astype(np.float64)
        return Ensemble(cfg, int(seed), t, obs, snaps, elapsed)
    L, n, T = cfg.size, cfg.replicates, cfg.steps + 1
    states = seed_states(seed, n)
    obs = np.zeros((n, T, len(OBSERVABLES)), dtype=np.int64)
    keep = bool(cfg.snapshots)
    snaps = np.zeros((n, T, L * L) if keep else (1, 1, 1), dtype=np.uint8)

    prev = set_threads(threads)
    try:
        nthreads = get_threads()
        step = int(batch_size) if batch_size is not None else nthreads
        elapsed = 0.0
        done = 0
        while done < n:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"simulation cancelled after {done} of {n} replicates")
            stop = min(done + step, n)
            t0 = time.perf_counter()
            _run_kernel(
                cfg,
                states[done:stop],
                obs[done:stop],
                snaps[done:stop] if keep else snaps,
            )
            took = time.perf_counter() - t0
            elapsed += took
            if batch_size is None:  # as many as fit in _BATCH_SECONDS
                per_rep = took / (stop - done)
                fit = int(_BATCH_SECONDS * nthreads / max(per_rep, 1e-9))
                step = min(max(fit // nthreads, 1), _REPS_PER_THREAD) * nthreads
            done = stop
            if progress is not None:
                progress(done, n)
    finally:
        set_threads(prev)

    return Ensemble(
        config=cfg,
        seed=int(seed),
        t=cfg.times.astype(np.float64),
        observables=obs,
        snapshots=snaps.reshape(n, T, L, L) if keep else None,
        elapsed=elapsed,
    )
