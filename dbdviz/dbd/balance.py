"""The predators' balance imposed on the survivors' path (issue 18, experiments/25).

Predations turn one X into one Y at X-Y pairs and predators die one at a time, so the
mean moments obey ``dY/dt = a nnXY - death Y`` exactly (``a`` =
:func:`predation_coefficient`). Along a DBM path ``dY/dt =
Cov(Y, stats) . dtheta/dt``; the change of the velocity ``f`` of least Fisher norm
that makes the two agree moves the predators' bias alone:

    ``f -> f + g e_Y s / Var(Y)``,  ``s = a nnXY - death Y - Cov(Y, stats) . f``

(``g`` the gain: 1 makes the balance exact and ``f``'s own predator-bias entry drop
out; docs/experiments/24 section 5). The moments and their covariance are sampled
every ``every`` steps of the path and linearised in ``theta`` in between, ``m(theta)
= m_k + C_k (theta - theta_k)``, so that the projected velocity is affine in ``f``
and ``theta``:

    ``f' = Pm f + Bm theta + Bv``  (:func:`balance_map`)

the same map in the prediction (:func:`balanced_path`) and in the path fit that
learns ``F_alive`` with it (:func:`dbdviz.dbd.pathfit.fit_alive_along_paths`, which
passes the maps of the sampled paths to :func:`~dbdviz.dbd.pathfit.fit_along_paths`
as ``project``).

A :class:`~dbdviz.dbd.mixture.TwoPhase` with ``balance = [a, death, gain, every,
chains]`` predicts with it; ``balance`` None (the default): the path of
:meth:`~dbdviz.dbd.mixture.TwoPhase.integrate` without the projection.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "balance_map",
    "balanced_path",
    "balanced_paths",
    "alive_path",
    "predation_coefficient",
    "singlet_rows",
    "singlet_residual",
]

#: Index of ``Y`` in the statistics and of the predators' bias in ``theta``.
_Y = 1


def predation_coefficient(
    observables: Sequence[np.ndarray], death: float, dt: float
) -> float:
    """The predators' singlet equation's coefficient ``a`` of ``dY/dt = a nnXY -
    death Y``, least squares over every step of the ensembles' mean moments (the
    death rate fixed: the simulator's). Paper rates, the 3 x 3 grid: 0.2050 (the
    per-replicate regression with both free: 0.2051, -0.0600).

    Parameters
    ----------
    observables : sequence of ndarray (R, T + 1, >= 5)
        X, Y, nnXX, nnXY, nnYY first.
    death, dt : float
    """
    num = den = 0.0
    for o in observables:
        m = np.asarray(o, dtype=np.float64)[:, :, :5].mean(axis=0)
        lhs = np.diff(m[:, 1]) / float(dt) + float(death) * m[:-1, 1]
        num += float(lhs @ m[:-1, 3])
        den += float(m[:-1, 3] @ m[:-1, 3])
    if not den > 0:
        raise ValueError("observables: no X-Y pairs, the predation is undetermined")
    return num / den


def singlet_rows(
    predation: float, death: float, birth: float = 0.0, rows: str = "Y"
) -> tuple[np.ndarray, np.ndarray]:
    """``(G, D)`` of the singlet equations ``d(G m)/dt = D m`` on the moments ``m =
    (X, Y, nnXX, nnXY, nnYY)`` (the exact physics of the simulator's reactions,
    ``a`` = :func:`predation_coefficient`): ``dY/dt = a nnXY - death Y`` and, with
    ``rows="XY"``, ``dX/dt = birth X - a nnXY`` (global births; off by the full
    lattices' missing births).

    Returns
    -------
    G, D : ndarray (k, 5)
    """
    if rows not in ("Y", "XY"):
        raise ValueError(f"rows = {rows!r}: allowed 'Y' or 'XY'")
    G = [[0.0, 1.0, 0.0, 0.0, 0.0]]
    D = [[0.0, -float(death), 0.0, float(predation), 0.0]]
    if rows == "XY":
        G.append([1.0, 0.0, 0.0, 0.0, 0.0])
        D.append([float(birth), 0.0, 0.0, -float(predation), 0.0])
    return np.array(G), np.array(D)


def singlet_residual(
    moments: np.ndarray, singlet: tuple[np.ndarray, np.ndarray], dt: float
) -> np.ndarray:
    """Per-step residual ``G (m_{t+1} - m_t) / dt - D m_t`` of moments at every step
    (e.g. a prediction's sampled alive path, or data): ndarray (T, k)."""
    m = np.asarray(moments, dtype=np.float64)[:, :5]
    G, D = singlet
    return np.diff(m, axis=0) @ np.asarray(G).T / float(dt) - m[:-1] @ np.asarray(D).T


def balance_map(
    stats: np.ndarray,
    cov: np.ndarray,
    theta: np.ndarray,
    predation: float,
    death: float,
    gain: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The affine projection ``f' = Pm f + Bm theta + Bv`` (module notes) from the
    moments ``stats`` (X, Y, nnXX, nnXY, nnYY first) and their covariance ``cov``
    sampled at ``theta``.

    A sample without spread of ``Y`` (``Var(Y) = 0``: e.g. a few chains on a small
    lattice) gives the identity.

    Returns
    -------
    Pm, Bm : ndarray (P, P)
    Bv : ndarray (P,)
    """
    m = np.asarray(stats, dtype=np.float64)
    C = np.asarray(cov, dtype=np.float64)
    th = np.asarray(theta, dtype=np.float64)
    P = len(th)
    if not C[_Y, _Y] > 0:  # no spread of Y in the sample: nothing to move
        return np.eye(P), np.zeros((P, P)), np.zeros(P)
    d = singlet_rows(predation, death)[1][0][:P]  # D m = a nnXY - death Y
    k = float(gain) / C[_Y, _Y]
    Pm = np.eye(P)
    Pm[_Y] -= k * C[_Y, :P]
    Bm = np.zeros((P, P))
    Bm[_Y] = k * (d @ C[:P, :P])
    Bv = np.zeros(P)
    Bv[_Y] = k * (d @ m[:P] - d @ C[:P, :P] @ th)
    return Pm, Bm, Bv


def balanced_path(
    mixture,
    whole,
    dbm,
    theta0: np.ndarray,
    n_steps: int,
    dt: float,
    *,
    seed: int | None = 0,
    threads: int | None = None,
    balance=None,
):
    """The alive path of ``mixture`` with the predators' balance (module notes).

    Every ``every`` steps (``mixture.balance``, or ``balance``) the statistics at
    the path's current ``theta`` are sampled (``chains`` chains, 9 sweeps from a
    random start, covariance from the states, seed ``seed + t``) and the
    velocity is projected by their :func:`balance_map` until the next sample
    (the last step is sampled too when it falls on the grid: the path fit's
    linearisation needs it).

    Returns
    -------
    theta : ndarray (n_steps + 1, P)
    ts : ndarray of int, the sampled steps
    stats, cov : ndarray (len(ts), P), (len(ts), P, P), sampled at ``theta[ts]``
    maps : (Pm, Bm, Bv) of ndarray (n_steps + 1, P, P), (..., P, P), (..., P)
        The map used at every step (the last row repeats the one before).
    """
    from .evaluate import sample_trajectory

    b = np.asarray(mixture.balance if balance is None else balance, np.float64)
    a, death, gain = float(b[0]), float(b[1]), float(b[2])
    every, chains = int(b[3]), int(b[4])
    P = mixture.alive.n_funcs
    T = int(n_steps)
    ts, st, cv = [], [], []
    maps = [np.zeros((T + 1, P, P)), np.zeros((T + 1, P, P)), np.zeros((T + 1, P))]
    cur = {}

    def sample(t, theta):
        ev = sample_trajectory(
            dbm,
            np.ascontiguousarray(theta[None]),
            chains=chains,
            sweeps=9,
            seed=None if seed is None else int(seed) + t,
            cov_from="states",
            threads=threads,
        )
        ts.append(t)
        st.append(np.asarray(ev.stats)[0][:P])
        cv.append(np.asarray(ev.cov)[0][:P, :P])

    def project(t, theta):
        if t % every == 0:
            sample(t, theta)
            cur["map"] = balance_map(st[-1], cv[-1], theta, a, death, gain)
        for arr, v in zip(maps, cur["map"], strict=True):
            arr[t] = v
        return cur["map"]

    theta = mixture.integrate(whole, theta0, T, dt, project=project)
    if T % every == 0:
        sample(T, theta[T])
    if T > 0:
        for arr in maps:
            arr[T] = arr[T - 1]
    return theta, np.array(ts), np.array(st), np.array(cv), tuple(maps)


def balanced_paths(mix, whole, dbm, starts, T, dt, ts, seed, it, threads=None):
    """:func:`balanced_path` from every start (the path fit's outer iteration
    ``it``: seeds ``seed + 100003 it + 1009 e``), checked to be sampled at ``ts``.

    Returns
    -------
    paths : list of ndarray (T + 1, P)
    stats : ndarray (E, len(ts), P)
    cov : ndarray (E, len(ts), P * P)
    maps : list of the maps per path
    """
    out = [
        balanced_path(
            mix,
            whole,
            dbm,
            s,
            T,
            dt,
            seed=int(seed) + 100003 * it + 1009 * e,
            threads=threads,
        )
        for e, s in enumerate(starts)
    ]
    if any(not np.array_equal(o[1], ts) for o in out):
        raise ValueError("balance: every_t must divide the steps")
    P = len(out[0][0][0])
    cov = np.stack([o[3] for o in out]).reshape(len(out), len(ts), P * P)
    return [o[0] for o in out], np.stack([o[2] for o in out]), cov, [o[4] for o in out]


def alive_path(mixture, whole, dbm, theta0, n_steps, dt, seed=0, threads=None):
    """A prediction's alive path: :func:`balanced_path` (sampler seeds ``seed +
    1000003 + t``) when ``mixture.balance`` is set, else
    :meth:`~dbdviz.dbd.mixture.TwoPhase.integrate`."""
    if getattr(mixture, "balance", None) is None:
        return mixture.integrate(whole, theta0, n_steps, dt)
    s = None if seed is None else int(seed) + 1_000_003
    return balanced_path(
        mixture, whole, dbm, theta0, n_steps, dt, seed=s, threads=threads
    )[0]
