"""Equilibrium moment matching of a fully visible machine at one time point.

A depth-0 DBM is an exponential family in its parameter statistics ``M(s)`` (the
counts and NN pairs): the theta whose Boltzmann distribution has the moments ``m``
is unique, and damped Newton steps ``theta += s C^-1 (m - <M>)`` (``C`` the model's
covariance of ``M``, ``s`` capping every component at ``cap``) reach it when the
sampler gives ``<M>`` and ``C`` at equilibrium. Here the sampler is parallel
tempering over the coupling strength (:mod:`dbdviz.dbm.tempering`), its replicas
carried from one iteration to the next.

docs/experiments/19-equilibrium-moment-matching.md uses it on the paper data: the
match exists and is the equilibrium where the data are one phase, and is metastable
or absent near the lattice gas's first-order transition (t >= 300). The check of the
match (are the moments independent of the sampling length; does a filled slab grow)
is the caller's: see :func:`dbdviz.dbd.equilibrium.equilibration`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._rng import seed_states
from ..dbm import tempering as tp
from .evaluate import _check_int

__all__ = ["MomentMatch", "match_moments"]


@dataclass
class MomentMatch:
    """Result of :func:`match_moments`.

    Attributes
    ----------
    theta : ndarray of float64 (P,)
        The iterate whose moments are closest to the target (smallest max |z|).
    mean, se : ndarray of float64 (P,)
        Its moments and their standard errors (between-chain spread / sqrt(chains)).
    z : ndarray of float64 (P,)
        ``(target - mean) / sqrt(target_se^2 + se^2)`` at ``theta``.
    history : list of dict
        Per iteration: theta, mean, z, acceptance of the rung pairs.
    """

    theta: np.ndarray
    mean: np.ndarray
    se: np.ndarray
    z: np.ndarray
    history: list = field(default_factory=list)


def match_moments(
    dbm,
    theta0,
    target,
    target_se=None,
    *,
    iterations: int = 8,
    cap: float = 0.03,
    chains: int = 64,
    rungs: int = 12,
    burn_in: int = 60,
    sweeps: int = 80,
    seed: int = 0,
) -> MomentMatch:
    """Damped Newton on the equilibrium moments of a depth-0 ``dbm`` (module notes).

    Parameters
    ----------
    dbm : DBM
        Fully visible (depth 0).
    theta0 : array of float (P,)
        Start.
    target : array of float (P,)
        The moments to match (e.g. the data's mean statistics at one time point).
    target_se : array of float (P,), optional
        Their standard errors (0 if omitted).
    iterations : int
        Newton steps (>= 0); the moments are measured ``iterations + 1`` times.
    cap : float
        Largest change of any parameter per step (> 0).
    chains, rungs : int
        Tempered chains (>= 2) and rungs per chain (>= 2).
    burn_in, sweeps : int
        Tempered sweeps after every step (the first measurement: 200 more) and
        then measured sweeps (statistics every second sweep, >= 2).
    seed : int
        Seed of the replica streams.

    Returns
    -------
    MomentMatch
    """
    if dbm.depth != 0:
        raise ValueError(f"dbm must be fully visible (depth 0), got depth {dbm.depth}")
    iterations = _check_int("iterations", iterations, 0)
    chains = _check_int("chains", chains, 2)
    rungs = _check_int("rungs", rungs, 2)
    burn_in = _check_int("burn_in", burn_in, 0)
    sweeps = _check_int("sweeps", sweeps, 2)
    if not (isinstance(cap, int | float) and np.isfinite(cap) and cap > 0):
        raise ValueError(f"cap = {cap!r} is out of range: allowed numbers > 0")
    P = dbm.n_params
    theta = np.array(dbm.check_theta(theta0)[0], dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    tse = np.zeros(P) if target_se is None else np.asarray(target_se, np.float64)
    if target.shape != (P,) or tse.shape != (P,):
        raise ValueError(f"target and target_se must have shape ({P},)")
    lam = tp.strengths(rungs)
    rng = seed_states(seed, chains * rungs)
    S, lad = tp.init_tempered(dbm, theta, chains, rungs, rng)
    parity, history, best = 0, [], None
    for it in range(iterations + 1):
        n_burn = burn_in + (200 if it == 0 else 0)
        acc = tp.sample_tempered(
            dbm, theta, S, lad, n_burn, strength=lam, seed=rng, parity=parity
        )
        parity += n_burn
        obs = []
        for _ in range(sweeps // 2):
            tp.sample_tempered(
                dbm, theta, S, lad, 2, strength=lam, seed=rng, parity=parity
            )
            parity += 2
            obs.append(dbm.param_statistics(tp.top_rung(S, lad, rungs)))
        O = np.asarray(obs)  # (n, chains, P)
        flat = O.reshape(-1, P)
        mean = flat.mean(axis=0)
        se = O.mean(axis=0).std(axis=0, ddof=1) / np.sqrt(chains)
        v = np.sqrt(tse**2 + se**2)
        z = np.where(v > 0, (target - mean) / np.where(v > 0, v, 1.0), 0.0)
        history.append({"theta": theta.copy(), "mean": mean, "z": z, "acceptance": acc})
        if best is None or np.abs(z).max() < np.abs(best.z).max():
            best = MomentMatch(theta.copy(), mean, se, z)
        if it == iterations:
            break
        cov = np.cov(flat.T) + 1e-6 * max(np.trace(np.cov(flat.T)), 1e-12) * np.eye(P)
        step = np.linalg.solve(cov, target - mean)
        theta = theta + min(1.0, cap / max(np.abs(step).max(), 1e-300)) * step
    best.history = history
    return best
