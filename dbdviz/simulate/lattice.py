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

from .._numba import get_threads, set_threads
from .._rng import seed_states
from ..config import LatticeLV, preset
from ..errors import Cancelled
from ..io import FileFormatError, load_npz, save_npz
from ..moments import OBSERVABLES, MomentTable, moment_table
from ._kernels import _fill_hop_table, _simulate_batch

__all__ = ["Ensemble", "simulate", "warmup", "Cancelled"]

#: Replicates per kernel call and thread: between batches progress is reported and
#: cancellation checked (results do not depend on it: one stream per replicate).
_REPS_PER_THREAD = 8


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
        """Ensemble mean and SD of every observable (``moments.moment_table``)."""
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
    def load(cls, path: str | os.PathLike) -> Ensemble:
        """Read a file written by :meth:`save`.

        Raises
        ------
        FileNotFoundError, dbdviz.io.FileFormatError
            Missing, foreign, truncated or inconsistent file.
        """
        arrays, meta = load_npz(path, kind="ensemble")
        try:
            config = LatticeLV.from_dict(meta["config"])
            t = np.asarray(arrays["t"], dtype=np.float64)
            obs = np.asarray(arrays["observables"], dtype=np.int64)
        except (KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(
                f"{path} is not a valid ensemble file ({exc})"
            ) from None
        names = tuple(meta.get("observables", OBSERVABLES))
        if (
            names != OBSERVABLES
            or obs.ndim != 3
            or obs.shape[1:] != (t.shape[0], len(names))
        ):
            raise FileFormatError(
                f"{path}: observables of shape {obs.shape} ({', '.join(names)}) do not "
                f"match this dbdviz version's {OBSERVABLES} over {t.shape[0]} times"
            )
        snaps = arrays.get("snapshots")
        if snaps is not None:
            L = config.size
            if snaps.shape != (obs.shape[0], t.shape[0], L, L):
                raise FileFormatError(
                    f"{path}: snapshots of shape {snaps.shape}, expected "
                    f"{(obs.shape[0], t.shape[0], L, L)}"
                )
            snaps = np.asarray(snaps, dtype=np.uint8)
        return cls(
            config=config,
            seed=meta.get("seed"),
            t=t,
            observables=obs,
            snapshots=snaps,
            elapsed=float(meta.get("elapsed", 0.0)),
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


def simulate(
    config: LatticeLV | None = None,
    *,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    batch_size: int | None = None,
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
        Replicates per kernel call (default a few per thread). Results do not depend
        on it, nor on ``threads``.
    **overrides
        LatticeLV parameters replacing those of ``config`` (validated first).

    Returns
    -------
    Ensemble

    Raises
    ------
    ValueError
        A parameter is out of range (before any work).
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
    if threads is not None and (isinstance(threads, bool) or int(threads) < 1):
        raise ValueError(
            f"threads = {threads!r} is invalid: allowed an integer >= 1 or None"
        )
    if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) < 1):
        raise ValueError(
            f"batch_size = {batch_size!r} is invalid: allowed an integer >= 1"
        )

    seed = cfg.seed if cfg.seed is not None else secrets.randbits(63)
    L, n, T = cfg.size, cfg.replicates, cfg.steps + 1
    nested = cfg.pick_mode == "nested_permutation"
    hop = _hop_table(L)
    # member lists hold columns (nested) or sites (uniform): the smallest type
    item_proto = np.zeros(0, _item_dtype(L, nested))
    states = seed_states(seed, n)
    obs = np.zeros((n, T, len(OBSERVABLES)), dtype=np.int64)
    keep = bool(cfg.snapshots)
    snaps = np.zeros((n, T, L * L) if keep else (1, 1, 1), dtype=np.uint8)

    prev = set_threads(threads)
    try:
        step = (
            int(batch_size)
            if batch_size is not None
            else _REPS_PER_THREAD * get_threads()
        )
        elapsed = 0.0
        done = 0
        while done < n:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"simulation cancelled after {done} of {n} replicates")
            stop = min(done + step, n)
            t0 = time.perf_counter()
            _simulate_batch(
                states[done:stop],
                L,
                hop,
                item_proto,
                nested,
                cfg.birth_mode == "local",
                cfg.init_x,
                cfg.init_y,
                float(cfg.birth),
                float(cfg.death),
                float(cfg.predation),
                float(cfg.dt),
                cfg.steps,
                obs[done:stop],
                snaps[done:stop] if keep else snaps,
                keep,
            )
            elapsed += time.perf_counter() - t0
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


def warmup() -> None:
    """Compile (or load from the cache) every simulator kernel on a tiny input."""
    simulate(LatticeLV(size=4, init_x=3, init_y=3, steps=3, replicates=2, seed=0))
