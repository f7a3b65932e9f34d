"""Chains started from data snapshots (or continued): the model side of the
refinement (:mod:`dbdviz.dbd.refine`) when it samples from the data (CD-k, PCD)
or needs the chains' covariances (``targets = "observables"``)."""

from __future__ import annotations

import threading
import time

import numpy as np

from .._numba import set_threads
from .._rng import seed_states
from ..errors import Cancelled
from ..moments import OBSERVABLES, moment_table
from .evaluate import Evaluation

__all__ = ["sample_from_data"]

#: Chains per kernel call of :func:`sample_from_data` (cancel granularity).
_BATCH = 400


def sample_from_data(
    dbm,
    theta: np.ndarray,
    t: np.ndarray,
    snapshots: np.ndarray,
    *,
    chains: int,
    sweeps: int,
    seed: int | None,
    offset: int = 0,
    states: np.ndarray | None = None,
    threads: int | None = None,
    cancel: threading.Event | None = None,
) -> Evaluation:
    """Chains started from data snapshots, ``sweeps`` Gibbs sweeps at ``theta``.

    Chain ``c`` of time point ``j`` starts from replicate ``(offset + c) % R`` of
    ``snapshots[:, j]`` and runs ``sweeps`` sweeps at ``theta[j]`` (stream ``j *
    chains + c`` of :func:`~dbdviz._rng.seed_states` ``(seed, n * chains)``). If
    the data are a sample of the model's Boltzmann distribution they do not drift
    (on average); the drift ``meta["start_stats"] - stats`` is the contrastive
    divergence gradient (CD-k) of the per-time-point log-likelihood.

    Parameters
    ----------
    dbm : DBM
        Any depth. Chains from ``snapshots`` start with empty hidden layers,
        which their first sweep draws given the visible layer (odd layers
        first): with one hidden layer an exact sample of the hidden units given
        the data.
    theta : ndarray of float64, shape (n, P)
    t : ndarray of float64, shape (n,)
    snapshots : ndarray of uint8, shape (R, n, L, L), or None
        The data at the same time points; None: uniform random chains (every
        layer), whose statistics are taken from the binary states (unbiased for
        hidden layers too, unlike the final probabilities of
        :func:`~dbdviz.dbd.evaluate.sample_trajectory`).
    chains, sweeps, seed, offset, threads, cancel
        As described above; ``cancel`` is checked between kernel calls.
    states : ndarray of int8, shape (n * chains, n_layers, L, L), optional
        Chains to continue instead (persistent chains), updated in place.

    Returns
    -------
    Evaluation
        Moments and statistics of the states after the sweeps (hidden layers by
        their conditional expectations, :meth:`DBM.clamped_statistics`), ``cov``
        the covariance across chains of the observables and the statistics;
        ``meta["start_stats"]`` (n, P): the statistics of the starting states
        (hidden layers by their conditional expectations: with one hidden layer
        the data's exact statistics at ``theta``);
        ``meta["states"]``: the chains after the sweeps (``states`` if given).
    """
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    n, P = theta.shape
    L = dbm.size
    rng = seed_states(seed, n * chains)
    obs = np.empty((chains, n, len(OBSERVABLES)))
    start = np.empty((n, P))
    stats = np.empty((n, P))
    stats_sd = np.empty((n, P))
    cov = np.empty((n, len(OBSERVABLES), P))
    per = max(1, _BATCH // chains)
    if states is None and snapshots is None:
        states = dbm.init_chains(n * chains, rng)
    elif states is None:
        reps = (int(offset) + np.arange(chains)) % snapshots.shape[0]
        states = np.zeros((n * chains, dbm.n_layers, L, L), np.int8)
        states[:, 0] = snapshots[reps].transpose(1, 0, 2, 3).reshape(-1, L, L)
    t_start = time.perf_counter()
    prev = set_threads(threads) if threads is not None else None
    try:
        for j0 in range(0, n, per):
            if cancel is not None and cancel.is_set():
                raise Cancelled("refinement cancelled")
            nb = min(per, n - j0)
            batch = states[j0 * chains : (j0 + nb) * chains]
            rows = np.repeat(np.arange(nb, dtype=np.int64), chains)
            th = theta[j0 : j0 + nb]
            if dbm.n_layers != 2:  # depth 0, or hidden layers not independent
                M0 = dbm.param_statistics(batch).reshape(nb, chains, P)
            else:
                M0 = dbm.clamped_statistics(th, batch, rows).reshape(nb, chains, P)
            dbm.sample(
                th,
                batch,
                sweeps,
                seed=rng[j0 * chains : (j0 + nb) * chains],
                rows=rows,
            )
            if dbm.n_layers != 2:  # binary states (depth 2, 3: unbiased)
                M = dbm.param_statistics(batch).reshape(nb, chains, P)
            else:  # hidden units by their expectation given the visible layer
                M = dbm.clamped_statistics(th, batch, rows).reshape(nb, chains, P)
            start[j0 : j0 + nb] = M0.mean(axis=1)
            stats[j0 : j0 + nb] = M.mean(axis=1)
            stats_sd[j0 : j0 + nb] = M.std(axis=1, ddof=1)
            o = dbm.state_observables(batch).reshape(nb, chains, -1)
            obs[:, j0 : j0 + nb] = o.transpose(1, 0, 2)
            cov[j0 : j0 + nb] = np.einsum(
                "nck,ncp->nkp",
                o - o.mean(axis=1, keepdims=True),
                M - M.mean(axis=1, keepdims=True),
            ) / (chains - 1)
    finally:
        if prev is not None:
            set_threads(prev)
    return Evaluation(
        table=moment_table(obs, np.asarray(t, dtype=np.float64), label="DBD (CD)"),
        theta=theta.copy(),
        cov=cov,
        stats=stats,
        param_names=tuple(dbm.param_names),
        stats_sd=stats_sd,
        meta={
            "chains": chains,
            "sweeps": sweeps,
            "seed": seed,
            "init": "data",
            "start_stats": start,
            "states": states,
            "seconds": time.perf_counter() - t_start,
        },
    )
