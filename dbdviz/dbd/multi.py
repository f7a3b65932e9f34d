"""Static parameter paths of several ensembles (issue 18, docs/predict.md).

A fully visible DBD (depth 0 with visible couplings) has the contract's X, Y, nnXX,
nnXY, nnYY as its sufficient statistics, so at every time point of an ensemble there is
one ``theta`` whose sampled moments (the evaluation's procedure: ``sweeps`` sweeps from
a random start) equal the data's. :func:`fit_paths` finds these ``theta(t)`` for many
ensembles at once, marching forward in time:

* ``theta(0)`` is the random placement's (visible biases from the densities, couplings
  0: :meth:`dbdviz.dbm.DBM.initial_theta`), as a prediction starts;
* every later time point starts where the previous one ended (plus ``momentum``
  times its last change; 0 by default: carrying the noisy velocity along ran the
  paths away along directions the moments hardly see) and takes ``iterations``
  damped Newton steps ``theta += (C + lam diag C)^-1 (M_data - <M>_model)``, where
  ``C`` is the covariance of the statistics across chains (the Jacobian
  ``d<M>/dtheta`` of an exponential family; checked against finite
  differences with common random numbers to a few per cent), averaged over the
  recent samplings (``cov_memory``) because 40 chains estimate a 5 x 5 covariance
  poorly; every step is clipped to ``+-clip`` per parameter;
* all ensembles' current time points are sampled in one sampler call.

Cost: ``iterations x n_times x n_ensembles x chains`` chain samplings (9 ensembles,
110 time points, 3 iterations, 40 chains: 66-95 s on one core of a loaded machine).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .evaluate import _check_int, sample_trajectory

__all__ = ["fit_times", "fit_paths", "FitResult"]

#: Newton iterations per time point, chains per time point and ensemble.
ITERATIONS = 3
CHAINS = 40
#: Levenberg-Marquardt damping (relative to the diagonal), step clip, the weight of
#: the newest covariance in its running average.
DAMPING = 0.2
CLIP = 0.2
COV_MEMORY = 0.2
#: Fraction of the last velocity carried into the next time point's start.
MOMENTUM = 0.0


def fit_times(n_steps: int, dense: int = 30, dense_stride: int = 2, stride: int = 5):
    """Fitted time indices ``0 .. n_steps``: every ``dense_stride``-th below
    ``dense`` (the fast start), then every ``stride``-th, and the last.

    Returns
    -------
    ndarray of int64
    """
    n_steps = _check_int("n_steps", n_steps, 1)
    return np.unique(
        np.r_[
            np.arange(0, min(dense, n_steps), dense_stride),
            np.arange(min(dense, n_steps), n_steps + 1, stride),
            n_steps,
        ]
    ).astype(np.int64)


class FitResult:
    """Fitted paths of :func:`fit_paths`.

    Attributes
    ----------
    idx : ndarray of int64, shape (n,)
        Fitted time indices.
    theta : ndarray of float64, shape (E, n, P)
    stats : ndarray of float64, shape (E, n, P)
        Sampled statistics of the last Newton iteration at every fitted point (before
        its step).
    target : ndarray of float64, shape (E, n, P)
    """

    def __init__(self, idx, theta, stats, target):
        self.idx, self.theta, self.stats, self.target = idx, theta, stats, target

    def relative_residual(self) -> np.ndarray:
        """float64 (E, P): mean over time of ``|stats - target| / max(|target|, 1)``."""
        r = np.abs(self.stats - self.target) / np.maximum(np.abs(self.target), 1.0)
        return r.mean(axis=1)


def fit_paths(
    dbm,
    targets: Sequence[np.ndarray],
    idx: np.ndarray,
    *,
    iterations: int = ITERATIONS,
    chains: int = CHAINS,
    sweeps: int = 9,
    damping: float = DAMPING,
    clip: float = CLIP,
    cov_memory: float = COV_MEMORY,
    momentum: float = MOMENTUM,
    seed: int = 0,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> FitResult:
    """Fit ``theta(t)`` of every ensemble to its mean statistics (module notes).

    Parameters
    ----------
    dbm : dbdviz.dbm.DBM
        Fully visible (depth 0).
    targets : sequence of ndarray of float64, shape (n_times, P)
        Mean parameter statistics (counts) of every ensemble at the times ``idx``
        (:func:`dbdviz.dbd.train.snapshot_statistics`).
    idx : ndarray of int, shape (n_times,)
        Time indices (only their spacing is used, for the extrapolated start).
    iterations, chains, sweeps, damping, clip, cov_memory, seed, threads
        Module notes; ``seed + j`` seeds the ``j``-th sampler call.
    progress : callable(done, total), optional
        After every time point.

    Returns
    -------
    FitResult
    """
    if dbm.depth != 0:
        raise ValueError(f"depth = {dbm.depth}: fit_paths needs depth 0")
    T = np.asarray(targets, dtype=np.float64)
    if T.ndim != 3 or T.shape[2] != dbm.n_params:
        raise ValueError(
            f"targets must have shape (E, n_times, {dbm.n_params}), got {T.shape}"
        )
    idx = np.asarray(idx, dtype=np.float64)
    E, n, P = T.shape
    N = float(dbm.n_sites)
    iterations = _check_int("iterations", iterations, 1)
    chains = _check_int("chains", chains, 2)
    theta = np.zeros((E, n, P))
    stats = np.zeros((E, n, P))
    bx, by = dbm.bias_index[0]
    for e in range(E):
        dx = max(T[e, 0, bx] / N, 0.5 / N)
        dy = max(T[e, 0, by] / N, 0.5 / N)
        theta[e, 0] = dbm.initial_theta(dx, dy)
    cov = None
    call = 0
    ridge = 1e-6 * np.eye(P)
    for i in range(n):
        if i == 1:
            theta[:, 1] = theta[:, 0]
        elif i > 1:
            r = momentum * (idx[i] - idx[i - 1]) / (idx[i - 1] - idx[i - 2])
            theta[:, i] = theta[:, i - 1] + r * (theta[:, i - 1] - theta[:, i - 2])
        for _ in range(iterations if i > 0 else 1):
            ev = sample_trajectory(
                dbm,
                np.ascontiguousarray(theta[:, i]),
                chains=chains,
                sweeps=sweeps,
                seed=int(seed) + call,
                cov_from="states",
                threads=threads,
            )
            call += 1
            stats[:, i] = ev.stats
            C = ev.cov[:, :P, :]  # Cov(M, M): the statistics are the first P
            cov = C if cov is None else (1 - cov_memory) * cov + cov_memory * C
            if i == 0:
                break
            d = T[:, i] - ev.stats
            for e in range(E):
                A = cov[e] + damping * np.diag(np.diag(cov[e])) + ridge
                step = np.linalg.solve(A, d[e])
                theta[e, i] += np.clip(step, -clip, clip)
        if progress is not None:
            progress(i + 1, n)
    return FitResult(idx.astype(np.int64), theta, stats, T)
