"""Two-phase (predator extinction) mixture of moments (issue 18, experiments/11).

``Y = 0`` is absorbing: a lattice whose predators died fills with prey (nnXX about
3000 against 100-500 with predators). An ensemble is then a mixture of lattices with
and without predators, and its mean moments are

    ``m(t) = (1 - q(t)) m_alive(t) + sum_{s <= t} dq(s) m_prey(t - s | X_in(s))``

with ``q`` the fraction of replicates without predators, ``m_alive`` the mean over
the replicates that still have predators and ``m_prey`` the mean of a prey-only
lattice a time ``t - s`` after its predators died with ``X_in`` prey. This module
holds the pieces that do not need a sampler:

* :func:`fit_hazard`: the extinction hazard, events per step per surviving replicate,
  ``lambda(t) = exp(b . [1, f(t)])`` (a Poisson regression of the extinction counts of
  training ensembles on covariates ``f`` of the survivors, e.g. their fitted
  ``theta``); :func:`extinct_fraction` integrates it to ``q(t)``;
* :func:`entry_ratio`: the prey count of a lattice at the step its predators died,
  relative to the survivors' mean one step before (pooled over the training events);
* :func:`prey_only_curve`: the mean prey-only dynamics (``Y = 0``: prey birth into
  empty neighbours and hops), simulated exactly with the project's simulator from a
  small random placement; a cohort that enters with ``X_in`` prey follows it from the
  time the curve reaches ``X_in`` (:func:`extinct_moments`);
* :func:`mix_moments`: the mixture above.

Measured (docs/experiments/11, section 4): with the survivors' own fitted
parameter path, these pieces predict the five held-out counts within the issue's
minimum targets; with a right-hand side ``F`` learned on survivor paths they do not
beat the single-path prediction on average, so :func:`dbdviz.dbd.predict` does not
use them (yet).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "OBS",
    "fit_hazard",
    "extinct_fraction",
    "entry_ratio",
    "prey_only_curve",
    "extinct_moments",
    "mix_moments",
]

#: The contract's moments, in the column order of the arrays here.
OBS = ("X", "Y", "nnXX", "nnXY", "nnYY")


def _design(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = f[:, None]
    return np.column_stack([np.ones(len(f)), f])


def fit_hazard(
    covariates: Sequence[np.ndarray],
    alive: Sequence[np.ndarray],
    *,
    iterations: int = 100,
    ridge: float = 1e-6,
) -> np.ndarray:
    """Poisson regression of extinction events on the survivors' covariates.

    Parameters
    ----------
    covariates : sequence of ndarray (T_e + 1, K) or (T_e + 1,)
        Covariates of every ensemble at every step (only the first ``T_e`` rows are
        used: the hazard of step ``t -> t + 1`` depends on the state at ``t``).
    alive : sequence of ndarray of int (T_e + 1,)
        Number of replicates with predators at every step (non-increasing).
    iterations, ridge
        Newton steps and a small ridge on the Hessian.

    Returns
    -------
    ndarray of float64 (K + 1,)
        ``b``: ``lambda = exp(b[0] + b[1:] . f)``.

    Raises
    ------
    ValueError
        Mismatched shapes, an increasing ``alive`` count, or no events at all.
    """
    F, E, N = [], [], []
    for c, a in zip(covariates, alive, strict=True):
        a = np.asarray(a, dtype=np.float64)
        X = _design(c)
        if len(X) != len(a):
            raise ValueError(
                f"covariates and alive differ in length ({len(X)} and {len(a)})"
            )
        ev = a[:-1] - a[1:]
        if (ev < 0).any():
            raise ValueError("alive: the number of surviving replicates increases")
        keep = a[:-1] > 0
        F.append(X[:-1][keep])
        E.append(ev[keep])
        N.append(a[:-1][keep])
    F, E, N = np.vstack(F), np.concatenate(E), np.concatenate(N)
    if E.sum() <= 0:
        raise ValueError("alive: no extinction events to fit a hazard to")
    b = np.zeros(F.shape[1])
    b[0] = np.log(E.sum() / N.sum())
    eye = ridge * np.eye(len(b))
    for _ in range(int(iterations)):
        mu = N * np.exp(np.clip(F @ b, -700, 50))
        step = np.linalg.solve(F.T @ (F * mu[:, None]) + eye, F.T @ (E - mu))
        b += step
        if np.abs(step).max() < 1e-10:
            break
    return b


def extinct_fraction(coef: np.ndarray, covariates: np.ndarray) -> np.ndarray:
    """``q(t) = 1 - exp(-sum_{s < t} lambda(s))``: the fraction without predators.

    Parameters
    ----------
    coef : ndarray (K + 1,)
        From :func:`fit_hazard`.
    covariates : ndarray (T + 1, K) or (T + 1,)

    Returns
    -------
    ndarray of float64 (T + 1,), ``q(0) = 0``, non-decreasing.
    """
    lam = np.exp(np.clip(_design(covariates) @ np.asarray(coef, float), -700, 50))
    return 1.0 - np.exp(-np.cumsum(np.r_[0.0, lam[:-1]]))


def entry_ratio(observables: Sequence[np.ndarray]) -> float:
    """Prey at the step the predators died / the survivors' mean prey one step
    before, pooled (ratio of sums) over every extinction of the ensembles.

    Parameters
    ----------
    observables : sequence of ndarray (R, T + 1, >= 2)
        Per-replicate observables (X, Y first) of the training ensembles.

    Returns
    -------
    float (NaN without events)
    """
    num = den = 0.0
    for o in observables:
        o = np.asarray(o, dtype=np.float64)
        alive = o[:, :, 1] > 0
        na = alive.sum(axis=0)
        xa = (o[:, :, 0] * alive).sum(axis=0) / np.maximum(na, 1)
        dead = ~alive
        first = np.argmax(dead, axis=1)
        for r in np.flatnonzero(dead.any(axis=1) & (first > 0)):
            num += o[r, first[r], 0]
            den += xa[first[r] - 1]
    return num / den if den > 0 else float("nan")


def prey_only_curve(config, *, init_x: int = 20, replicates: int = 40, seed: int = 0):
    """Mean moments of prey-only lattices (``Y = 0``) from the project's simulator.

    Parameters
    ----------
    config : LatticeLV
        Size, rates, modes and ``steps`` (the curve has ``steps + 1`` rows; it must
        be long enough to reach a full lattice).
    init_x, replicates, seed
        The random placement it starts from.

    Returns
    -------
    ndarray of float64 (steps + 1, 5)
        Mean X, Y, nnXX, nnXY, nnYY (Y and its pairs are 0).
    """
    from ..simulate import simulate

    cfg = type(config)(
        **{
            **config.to_dict(),
            "init_x": int(init_x),
            "init_y": 0,
            "replicates": int(replicates),
            "seed": int(seed),
            "snapshots": False,
        }
    )
    o = simulate(cfg, threads=1).observables[:, :, : len(OBS)]
    return np.asarray(o, dtype=np.float64).mean(axis=0)


def extinct_moments(
    dq: np.ndarray, x_entry: np.ndarray, curve: np.ndarray
) -> np.ndarray:
    """``sum_{s <= t} dq(s) curve(tau0(s) + t - s)``: the extinct lattices' share.

    ``tau0(s)`` is the first row of ``curve`` whose X reaches ``x_entry[s]``; past
    the curve's end its last row (a full lattice) is used.

    Parameters
    ----------
    dq : ndarray (T + 1,)
        New extinctions (fraction of all replicates) at every step.
    x_entry : ndarray (T + 1,)
        Prey of the lattices entering at every step.
    curve : ndarray (S, 5)
        :func:`prey_only_curve` (X non-decreasing).

    Returns
    -------
    ndarray of float64 (T + 1, 5)
    """
    dq = np.asarray(dq, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    n = len(dq)
    out = np.zeros((n, curve.shape[1]))
    xs = np.maximum.accumulate(curve[:, 0])
    for s in np.flatnonzero(dq != 0):
        tau0 = int(np.searchsorted(xs, x_entry[s]))
        ii = np.minimum(tau0 + np.arange(n - s), len(curve) - 1)
        out[s:] += dq[s] * curve[ii]
    return out


def mix_moments(
    alive: np.ndarray, q: np.ndarray, curve: np.ndarray, ratio: float
) -> np.ndarray:
    """The mixture of the module notes.

    Parameters
    ----------
    alive : ndarray (T + 1, 5)
        Mean X, Y, nnXX, nnXY, nnYY of the replicates with predators.
    q : ndarray (T + 1,)
        Fraction without predators (:func:`extinct_fraction`), ``q(0)`` counts as
        entering at ``t = 0``.
    curve, ratio
        :func:`prey_only_curve`, :func:`entry_ratio` (entering lattices have
        ``ratio`` times the survivors' mean X).

    Returns
    -------
    ndarray of float64 (T + 1, 5)
    """
    A = np.asarray(alive, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if A.shape != (len(q), len(OBS)):
        raise ValueError(f"alive must have shape ({len(q)}, {len(OBS)}), got {A.shape}")
    dq = np.diff(np.r_[0.0, q])
    return (1.0 - q)[:, None] * A + extinct_moments(dq, ratio * A[:, 0], curve)
