"""Two-phase (predator extinction) mixture of moments (issue 18, experiments/11).

``Y = 0`` is absorbing: a lattice whose predators died fills with prey (nnXX about
3000 against 100-500 with predators). An ensemble is then a mixture of lattices with
and without predators, and its mean moments are

    ``m(t) = (1 - q(t)) m_alive(t) + sum_{s <= t} dq(s) m_prey(t - s | X_in(s))``

with ``q`` the fraction of replicates without predators, ``m_alive`` the mean over
the replicates that still have predators and ``m_prey`` the mean of a prey-only
lattice a time ``t - s`` after its predators died with ``X_in`` prey. This module
holds the pieces that need neither a sampler nor the simulator
(:mod:`dbdviz.dbd.mixture_fit` fits them from ensembles):

* :func:`fit_hazard`: the extinction hazard, events per step per surviving replicate,
  ``lambda(t) = exp(b . [1, f(t)])`` (a Poisson regression of the extinction counts of
  training ensembles on covariates ``f`` of the survivors, e.g. their fitted
  ``theta``); :func:`extinct_fraction` integrates it to ``q(t)``;
* :func:`passage_extinct` (optional, docs/experiments/20): ``q(t)`` as the first
  passage of ``y0`` birth-death lineages to 0, from the mean predator count alone
  (:func:`passage_cumulative`), calibrated by :func:`fit_passage`;
* :func:`entry_ratio`: the prey count of a lattice at the step its predators died,
  relative to the survivors' mean one step before (pooled over the training events);
* the prey-only curve (:func:`dbdviz.dbd.mixture_fit.prey_only_curve`: the
  simulator's mean prey-only dynamics): a cohort that enters with ``X_in`` prey
  follows it from the time the curve reaches ``X_in`` (:func:`extinct_moments`);
* :func:`mix_moments`: the mixture above.

and the learned pieces a model stores (:class:`TwoPhase`, fitted by
:func:`dbdviz.dbd.predict.train_multi`, used by :func:`dbdviz.dbd.predict.predict`):

* :func:`alive_means`: the mean over the replicates that have predators *at* every
  ``t`` (not those alive at the end, which would select on the future);
* :func:`fit_alive_rhs`: the survivors' right-hand side, a kernel ridge regression
  on their paths whose ridge grows as the survivors get few (weight
  ``sqrt(n_alive / n)`` in :func:`fit_two_phase`);
* :meth:`TwoPhase.integrate`: the alive path, integrated with ``(1 - w) F_whole + w
  F_alive``, ``w = min(1, q / blend)``: the whole ensemble's law while few lattices
  have lost their predators (there the two agree and the whole one rests on every
  replicate), the survivors' after.

Measured (docs/experiments/11 section 4, 14): the mixture meets the issue's minimum
target in more held-out counts than the single path at a mean error no worse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "OBS",
    "TwoPhase",
    "alive_means",
    "group_means",
    "fit_alive_rhs",
    "fit_hazard",
    "extinct_fraction",
    "hazard_covariates",
    "entry_ratio",
    "extinct_moments",
    "mix_moments",
    "passage_cumulative",
    "passage_covariates",
    "fit_passage",
    "passage_extinct",
]

#: The contract's moments, in the column order of the arrays here.
OBS = ("X", "Y", "nnXX", "nnXY", "nnYY")
#: The survivors' kernel (standardised length, ridge at full weight, pull) and the
#: extinct fraction at which the alive path has switched to it (docs/predict.md).
ALIVE_LENGTH = 2.5
ALIVE_RIDGE = 0.03
ALIVE_PULL = 0.02
BLEND = 0.05


def hazard_covariates(theta: np.ndarray, quadratic: bool = True) -> np.ndarray:
    """The hazard's covariates of a parameter path: ``theta`` and its squares.

    The extinction hazard is not log-linear in ``theta``: a linear one fitted on the
    training grid overshoots the deep first trough of the Y-rich, prey-poor corner
    (50,250: ``q`` 0.62-0.69 against 0.51-0.56 along its own survivors' path); the
    squares halve the leave-one-ensemble-out error (docs/experiments/14 section 7).

    Parameters
    ----------
    theta : ndarray (T, P) or (P,)
    quadratic : bool
        False: ``theta`` alone (model files of session 8 before the squares).

    Returns
    -------
    ndarray (T, 2 P) or (T, P)
    """
    th = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    return np.column_stack([th, th**2]) if quadratic else th


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


#: The first-passage hazard's calibration covariates (:func:`passage_covariates`).
PASSAGE_COVARIATES = ("nnYY/Y",)


def passage_cumulative(inverse_mean: np.ndarray, y0: float, death: float) -> np.ndarray:
    """``G(t) = -log(1 - p0(t)^y0)``: the cumulative extinction hazard of ``y0``
    independent linear birth-death lineages (the lattice's predators at t = 0).

    A linear birth-death process with per-capita rates ``lambda(t)``, ``mu`` has
    ``E[Y](t) = y0 exp(-rho(t))``, ``rho = int (mu - lambda)``, and one lineage
    survives to ``t`` with probability ``1 / (1 + mu int_0^t exp(rho))`` (Kendall
    1948). With ``exp(rho(s)) = y0 / E[Y](s)`` the birth rate drops out:

        ``p0(t) = z / (1 + z)``, ``z = mu y0 int_0^t ds / E[Y](s)``,

    and all ``y0`` lineages are extinct with probability ``p0^y0``.

    Parameters
    ----------
    inverse_mean : ndarray (T + 1,)
        ``int_0^t ds / E[Y](s)`` at every step (0 at t = 0).
    y0 : float
        Predators at t = 0 (> 0).
    death : float
        Predator death rate ``mu`` per unit time.

    Returns
    -------
    ndarray of float64 (T + 1,), non-decreasing, 0 at t = 0
    """
    z = float(death) * float(y0) * np.asarray(inverse_mean, dtype=np.float64)
    with np.errstate(divide="ignore"):
        a = float(y0) * np.log1p(1.0 / z)  # -log p0^y0
    return -np.log(-np.expm1(-a))


def passage_covariates(alive_moments: np.ndarray) -> np.ndarray:
    """The first-passage hazard's calibration covariates of the survivors' mean
    moments (X, Y, nnXX, nnXY, nnYY columns): ``nnYY / Y``, the predators'
    clustering (a lattice whose predators sit in few clusters has fewer
    independent lineages than predators).

    Returns
    -------
    ndarray of float64 (T + 1, 1)
    """
    A = np.atleast_2d(np.asarray(alive_moments, dtype=np.float64))
    return (A[:, 4] / np.maximum(A[:, 1], 1e-9))[:, None]


def fit_passage(
    whole_y: Sequence[np.ndarray],
    y0: Sequence[float],
    alive: Sequence[np.ndarray],
    death: float,
    dt: float,
    covariates: Sequence[np.ndarray] | None = None,
    *,
    iterations: int = 100,
    ridge: float = 1e-6,
) -> np.ndarray:
    """Calibrate the first-passage hazard on training ensembles.

    The hazard of step ``t -> t + 1`` is ``(G(t + 1) - G(t)) exp(b . [1, f(t)])``
    (:func:`passage_cumulative` along the ensemble's mean predator count, ``f``
    the covariates): a Poisson regression of the extinction counts with offset
    ``log(G(t + 1) - G(t))``. ``b = 0`` is the birth-death process itself.

    Parameters
    ----------
    whole_y : sequence of ndarray (T_e + 1,)
        Mean predator count of every ensemble (all replicates, extinct ones 0).
    y0 : sequence of float
        Initial predators of every ensemble.
    alive : sequence of ndarray of int (T_e + 1,)
        Replicates with predators at every step.
    death, dt : float
        Predator death rate, time step.
    covariates : sequence of ndarray (T_e + 1, K), optional
        None: only the constant.

    Returns
    -------
    ndarray of float64 (K + 1,)
    """
    F, E, N, Off = [], [], [], []
    for j, (y, a) in enumerate(zip(whole_y, alive, strict=True)):
        y = np.asarray(y, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        if len(y) != len(a):
            raise ValueError("whole_y and alive differ in length")
        inv = np.r_[0.0, np.cumsum(float(dt) / np.maximum(y[:-1], 1e-9))]
        g = np.diff(passage_cumulative(inv, y0[j], death))
        X = np.ones((len(y), 1))
        if covariates is not None:
            X = _design(covariates[j])
        ev = a[:-1] - a[1:]
        if (ev < 0).any():
            raise ValueError("alive: the number of surviving replicates increases")
        keep = (a[:-1] > 0) & (g > 0)
        F.append(X[:-1][keep])
        E.append(ev[keep])
        N.append(a[:-1][keep])
        Off.append(np.log(g[keep]))
    F, Off = np.vstack(F), np.concatenate(Off)
    E, N = np.concatenate(E), np.concatenate(N)
    if E.sum() <= 0:
        raise ValueError("alive: no extinction events to fit a hazard to")
    b = np.zeros(F.shape[1])
    b[0] = np.log(E.sum() / (N * np.exp(Off)).sum())
    eye = ridge * np.eye(len(b))
    for _ in range(int(iterations)):
        mu = N * np.exp(np.clip(Off + F @ b, -700, 50))
        step = np.linalg.solve(F.T @ (F * mu[:, None]) + eye, F.T @ (E - mu))
        b += step
        if np.abs(step).max() < 1e-10:
            break
    return b


def passage_extinct(
    alive_y: np.ndarray,
    y0: float,
    death: float,
    dt: float,
    coef: np.ndarray,
    covariates: np.ndarray | None = None,
) -> np.ndarray:
    """``q(t)`` of the calibrated first-passage hazard along a prediction.

    The survivors' mean predator count ``Y_alive`` is what a prediction samples;
    the ensemble's mean is ``(1 - q) Y_alive``, so ``q`` is built step by step:
    ``I(t + 1) = I(t) + dt / ((1 - q(t)) Y_alive(t))``, ``H(t + 1) = H(t) +
    (G(I(t + 1)) - G(I(t))) exp(b . [1, f(t)])``, ``q = 1 - exp(-H)``.

    Parameters
    ----------
    alive_y : ndarray (T + 1,)
        The survivors' mean predator count at every step.
    y0, death, dt : float
        Initial predators (``y0 < 1``: no predators, ``q = 1``), death rate, step.
    coef : ndarray (K + 1,)
        :func:`fit_passage`.
    covariates : ndarray (T + 1, K), optional
        As in the fit (None: ``coef`` has one entry).

    Returns
    -------
    ndarray of float64 (T + 1,), ``q(0) = 0``, non-decreasing.
    """
    ya = np.asarray(alive_y, dtype=np.float64)
    n = len(ya)
    if float(y0) < 1.0:
        return np.ones(n)
    coef = np.asarray(coef, dtype=np.float64)
    if covariates is None:
        k = np.full(n, math.exp(coef[0]))
    else:
        k = np.exp(np.clip(_design(covariates) @ coef, -700, 50))
    mu, y0, dt = float(death), float(y0), float(dt)
    H = np.zeros(n)
    inv = g0 = 0.0
    for t in range(n - 1):
        inv += dt / max(math.exp(-H[t]) * ya[t], 1e-9)
        z = mu * y0 * inv
        g1 = -math.log(-math.expm1(-y0 * math.log1p(1.0 / z)))
        H[t + 1] = H[t] + (g1 - g0) * k[t]
        g0 = g1
    return -np.expm1(-H)


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


def extinct_moments(
    dq: np.ndarray,
    x_entry: np.ndarray,
    curve: np.ndarray,
    values: np.ndarray | None = None,
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
        :func:`~dbdviz.dbd.mixture_fit.prey_only_curve` (X non-decreasing).
    values : ndarray (S, C), optional
        What is summed, row by row of ``curve`` (default the curve itself; e.g.
        its squares for second moments).

    Returns
    -------
    ndarray of float64 (T + 1, 5)
    """
    dq = np.asarray(dq, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    vals = curve if values is None else np.asarray(values, dtype=np.float64)
    n = len(dq)
    out = np.zeros((n, vals.shape[1]))
    xs = np.maximum.accumulate(curve[:, 0])
    for s in np.flatnonzero(dq != 0):
        tau0 = int(np.searchsorted(xs, x_entry[s]))
        ii = np.minimum(tau0 + np.arange(n - s), len(curve) - 1)
        out[s:] += dq[s] * vals[ii]
    return out


def mix_moments(
    alive: np.ndarray, q: np.ndarray, curve: np.ndarray, ratio: float
) -> np.ndarray:
    """The mixture of the module notes.

    Parameters
    ----------
    alive : ndarray (T + 1, C)
        Mean X, Y, nnXX, nnXY, nnYY (and further observables, as many as the
        curve has) of the replicates with predators.
    q : ndarray (T + 1,)
        Fraction without predators (:func:`extinct_fraction`), ``q(0)`` counts as
        entering at ``t = 0``.
    curve, ratio
        The prey-only curve (:mod:`dbdviz.dbd.mixture_fit`), :func:`entry_ratio`
        (entering lattices have ``ratio`` times the survivors' mean X).

    Returns
    -------
    ndarray of float64 (T + 1, 5)
    """
    A = np.asarray(alive, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    C = np.asarray(curve).shape[1]
    if A.shape != (len(q), C):
        raise ValueError(f"alive must have shape ({len(q)}, {C}), got {A.shape}")
    dq = np.diff(np.r_[0.0, q])
    return (1.0 - q)[:, None] * A + extinct_moments(dq, ratio * A[:, 0], curve)


def alive_means(observables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean observables of the replicates that have predators at every time.

    Parameters
    ----------
    observables : ndarray (R, T + 1, K)
        Per-replicate observables (X, Y first).

    Returns
    -------
    means : ndarray of float64 (T + 1, K)
        Over the replicates with ``Y > 0`` at that time; where none is left, the
        last time's means (held).
    n_alive : ndarray of int64 (T + 1,)
        How many replicates have predators.
    """
    o = np.asarray(observables, dtype=np.float64)
    alive = o[:, :, 1] > 0
    n = alive.sum(axis=0)
    m = (o * alive[:, :, None]).sum(axis=0) / np.maximum(n, 1)[:, None]
    for t in np.flatnonzero(n == 0):
        m[t] = m[t - 1] if t > 0 else o[:, 0].mean(axis=0)
    return m, n.astype(np.int64)


def group_means(
    observables: np.ndarray, t0: int, groups: int, column: int = 1
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Survivors' means of the replicates grouped by their state at ``t0``.

    The replicates that have predators at ``t0`` are sorted by observable
    ``column`` at ``t0`` (1: Y) and split into ``groups`` groups of (nearly) equal
    size; every group's :func:`alive_means` from ``t0`` on is the mean path of an
    ensemble that starts at ``t0`` from that group's states (a replicate's future
    depends on its state only), between the paths of the whole training ensembles
    (docs/experiments/22).

    Parameters
    ----------
    observables : ndarray (R, T + 1, K)
    t0 : int
        The time index of the split, ``0 <= t0 <= T``.
    groups : int
        Number of groups, ``1 <= groups <= R``.
    column : int
        The observable the replicates are sorted by.

    Returns
    -------
    list of (means (T + 1, K), n_alive (T + 1,))
        One per group with at least one replicate, lowest values first. Before
        ``t0`` the means are those of the group's replicates alive then (they
        select on the future; use the rows from ``t0`` on).
    """
    o = np.asarray(observables, dtype=np.float64)
    R, T1 = o.shape[:2]
    t0, groups, column = int(t0), int(groups), int(column)
    if not 0 <= t0 < T1:
        raise ValueError(f"t0 = {t0}: allowed 0..{T1 - 1}")
    if not 1 <= groups <= R:
        raise ValueError(f"groups = {groups}: allowed 1..{R}")
    if not 0 <= column < o.shape[2]:
        raise ValueError(f"column = {column}: allowed 0..{o.shape[2] - 1}")
    alive = np.flatnonzero(o[:, t0, 1] > 0)
    order = alive[np.argsort(o[alive, t0, column], kind="stable")]
    return [alive_means(o[g]) for g in np.array_split(order, groups) if len(g)]


def fit_alive_rhs(
    paths: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    dt: float,
    *,
    names: Sequence[str],
    length: float = ALIVE_LENGTH,
    ridge: float = ALIVE_RIDGE,
    pull: float = ALIVE_PULL,
    bandwidth: float | None = None,
    subsample: int | None = None,
):
    """The survivors' right-hand side: weighted Gaussian-kernel ridge regression.

    As :func:`dbdviz.dbd.kernel.fit_kernel_rhs` (one rate setting: a constant plus
    the kernel expansion), but every velocity has a weight ``w`` (the fraction of
    replicates still alive there): the ridge on its center is ``ridge / w`` and the
    constant is the weighted mean velocity, so the noisy paths of a few survivors
    count less (weight 0: ridge ``1000 ridge``, not in the constant).

    Parameters
    ----------
    paths : sequence of ndarray (T_e + 1, P)
        Smooth survivors' parameter paths (every step).
    weights : sequence of ndarray (T_e + 1,)
        Weight of every step, in [0, 1] (0: ignored).
    dt : float
    names : sequence of str
        Parameter names (length P).
    length, ridge, pull, bandwidth, subsample
        As in ``fit_kernel_rhs`` (defaults :data:`ALIVE_LENGTH`, :data:`ALIVE_RIDGE`,
        :data:`ALIVE_PULL`, its bandwidth and subsample).

    Returns
    -------
    KernelRHS
        ``"reactions"`` form without rate inputs.
    """
    from .kernel import BANDWIDTH, RADIUS, SUBSAMPLE, KernelRHS, gram

    sub = SUBSAMPLE if subsample is None else int(subsample)
    Z = np.concatenate([np.asarray(p, dtype=np.float64)[:-1] for p in paths])
    V = np.concatenate(
        [np.diff(np.asarray(p, dtype=np.float64), axis=0) for p in paths]
    )
    V /= float(dt)
    W = np.concatenate([np.asarray(w, dtype=np.float64)[:-1] for w in weights])
    if len(W) != len(Z):
        raise ValueError("weights: one weight per step of every path")
    if np.any(W < 0) or W.sum() <= 0:
        raise ValueError("weights: allowed values >= 0, not all 0")
    scale = Z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    C, Vs, Ws = Z[::sub], V[::sub], W[::sub]
    mean = (Vs * Ws[:, None]).sum(axis=0) / max(Ws.sum(), 1e-300)
    Ws = np.maximum(Ws, 1e-3)
    cs = C / scale
    K = gram(cs, length)
    alpha = np.linalg.solve(K + float(ridge) * np.diag(1.0 / Ws), Vs - mean)
    return KernelRHS(
        C,
        alpha,
        np.zeros(len(mean)),
        scale,
        Z[:: max(1, sub // 2)],
        length=length,
        pull=pull,
        bandwidth=BANDWIDTH if bandwidth is None else bandwidth,
        radius=RADIUS,
        inputs=list(names),
        form="reactions",
        poly=mean[None, :],
    )


class TwoPhase:
    """The learned pieces of a two-phase prediction (module notes).

    Attributes
    ----------
    alive : KernelRHS
        The survivors' right-hand side (:func:`fit_alive_rhs`).
    hazard : ndarray (2 P + 1,) or (P + 1,)
        :func:`fit_hazard` on :func:`hazard_covariates` of the survivors' ``theta``
        (``P + 1``: ``theta`` alone, older model files).
    ratio : float
        :func:`entry_ratio`.
    curve : ndarray (S, C)
        :func:`~dbdviz.dbd.mixture_fit.prey_only_curve` (all observables).
    blend : float
        Extinct fraction at which the alive path has switched to ``alive``.
    passage : ndarray (K + 2,) or None
        The first-passage hazard (docs/experiments/20): ``[death, b_0, ...,
        b_K]``, the predators' death rate and :func:`fit_passage`'s coefficients
        (``K = 0``: a constant factor; ``K = 1``: and :func:`passage_covariates`).
        When set, a prediction's ``q`` comes from it along the sampled survivors'
        moments (:meth:`extinct_from_moments`); ``hazard`` then only times the
        blend of the two laws (and the path fit). None: ``q`` from ``hazard``
        (model files before session 10).
    balance : ndarray (5,) or None
        ``[a, death, gain, every, chains]``: the prediction's alive path obeys
        the predators' balance ``dY/dt = a nnXY - death Y`` with this gain
        (:mod:`dbdviz.dbd.balance`, docs/experiments/25; ``alive`` was fitted
        with it). None (the default): without.
    """

    def __init__(
        self,
        alive,
        hazard,
        ratio,
        curve,
        blend: float = BLEND,
        passage=None,
        balance=None,
    ):
        self.alive = alive
        self.hazard = np.asarray(hazard, dtype=np.float64)
        self.ratio = float(ratio)
        self.curve = np.ascontiguousarray(curve, dtype=np.float64)
        self.blend = float(blend)
        self.passage = None
        if passage is not None:
            self.passage = np.asarray(passage, dtype=np.float64).ravel()
            if len(self.passage) not in (2, 2 + len(PASSAGE_COVARIATES)):
                raise ValueError(
                    f"passage has {len(self.passage)} entries: expected 2 or "
                    f"{2 + len(PASSAGE_COVARIATES)}"
                )
            if not (self.passage[0] > 0 and np.all(np.isfinite(self.passage))):
                raise ValueError("passage: the death rate must be > 0, all finite")
        self.balance = None
        if balance is not None:
            self.balance = np.asarray(balance, dtype=np.float64).ravel()
            if len(self.balance) != 5 or not np.all(np.isfinite(self.balance)):
                raise ValueError("balance: [a, death, gain, every, chains] expected")
            if not (self.balance[3] >= 1 and self.balance[4] >= 1):
                raise ValueError("balance: every and chains must be >= 1")
        P = alive.n_funcs
        if self.hazard.shape not in ((2 * P + 1,), (P + 1,)):
            raise ValueError(
                f"hazard has shape {self.hazard.shape}: expected ({2 * P + 1},) or "
                f"({P + 1},)"
            )
        self.quadratic = len(self.hazard) == 2 * P + 1
        if self.curve.ndim != 2 or self.curve.shape[1] < len(OBS):
            raise ValueError(f"curve has shape {self.curve.shape}: expected (S, >= 5)")
        if not (self.blend > 0 and np.isfinite(self.ratio)):
            raise ValueError("blend must be > 0 and ratio finite")

    def integrate(
        self, whole, theta0, n_steps: int, dt: float, clock=None, project=None
    ) -> np.ndarray:
        """The alive path: forward Euler with ``(1 - w) F_whole + w F_alive``, ``w =
        min(1, q / blend)``, ``q`` the extinct fraction of the hazard along the path
        so far, or ``clock[t]`` when given (an extinct fraction per step, e.g. the
        first passage's along sampled moments). ``project``: a callable ``(t,
        theta_t) -> (Pm, Bm, Bv)``, the velocity replaced by ``Pm f + Bm theta_t +
        Bv`` (:func:`dbdviz.dbd.balance.balanced_path`). Returns (n_steps + 1,
        P)."""
        P = self.alive.n_funcs
        if clock is not None:
            clock = np.asarray(clock, dtype=np.float64)
            if clock.shape != (int(n_steps) + 1,):
                raise ValueError(
                    f"clock has shape {clock.shape}: expected ({int(n_steps) + 1},)"
                )
        th = np.empty((int(n_steps) + 1, P))
        th[0] = theta0
        cum = 0.0
        b0, b = self.hazard[0], self.hazard[1:]
        sq = self.quadratic
        for t in range(int(n_steps)):
            qt = -np.expm1(-cum) if clock is None else clock[t]
            w = min(1.0, qt / self.blend)
            z = th[t][None]
            f = w * self.alive.evaluate(z)[0]
            if w < 1.0:
                f += (1.0 - w) * whole.evaluate(z)[0]
            if project is not None:
                Pm, Bm, Bv = project(t, th[t])
                f = Pm @ f + Bm @ th[t] + Bv
            th[t + 1] = th[t] + float(dt) * f
            if not np.all(np.isfinite(th[t + 1])):
                raise FloatingPointError("theta(t) diverged (non-finite values)")
            c = np.concatenate([th[t], th[t] ** 2]) if sq else th[t]
            cum += math.exp(min(b0 + float(c @ b), 50.0))
        return th

    def extinct(self, theta: np.ndarray) -> np.ndarray:
        """``q(t)`` along an alive path (:func:`extinct_fraction`): the hazard on
        ``theta`` (with :attr:`passage`, only the blend's clock)."""
        return extinct_fraction(self.hazard, hazard_covariates(theta, self.quadratic))

    def extinct_from_moments(
        self, alive_moments: np.ndarray, y0: float, dt: float
    ) -> np.ndarray:
        """``q(t)`` of the first-passage hazard (:func:`passage_extinct`) along the
        survivors' mean moments at every step (X, Y, nnXX, nnXY, nnYY columns).

        Raises
        ------
        ValueError
            The model has no first-passage hazard (:attr:`passage` None).
        """
        if self.passage is None:
            raise ValueError("passage: this model has no first-passage hazard")
        A = np.atleast_2d(np.asarray(alive_moments, dtype=np.float64))
        coef = self.passage[1:]
        cov = passage_covariates(A) if len(coef) > 1 else None
        return passage_extinct(A[:, 1], y0, self.passage[0], dt, coef, cov)

    def mix(
        self, alive_mean: np.ndarray, alive_sd: np.ndarray, q: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and SD of the mixture at every step.

        Parameters
        ----------
        alive_mean, alive_sd : ndarray (T + 1, C)
            Moments of the alive part (the curve's first ``C`` columns are used).
        q : ndarray (T + 1,)

        Returns
        -------
        mean, sd : ndarray (T + 1, C)
            The SD by the law of total variance, the prey-only lattices of one
            cohort counted as identical (their spread is not modelled).
        """
        A = np.asarray(alive_mean, dtype=np.float64)
        S = np.asarray(alive_sd, dtype=np.float64)
        c = self.curve[:, : A.shape[1]]
        q = np.asarray(q, dtype=np.float64)
        m = mix_moments(A, q, c, self.ratio)
        dq = np.diff(np.r_[0.0, q])
        m2 = (1.0 - q)[:, None] * (S**2 + A**2) + extinct_moments(
            dq, self.ratio * A[:, 0], c, c**2
        )
        return m, np.sqrt(np.maximum(m2 - m**2, 0.0))

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"alive_" + k: v for k, v in self.alive.to_arrays().items()}
        out["hazard"] = self.hazard
        out["curve"] = self.curve
        out["settings"] = np.array([self.ratio, self.blend])
        if self.passage is not None:
            out["passage"] = self.passage
        if self.balance is not None:
            out["balance"] = self.balance
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], inputs) -> TwoPhase:
        """Inverse of :meth:`to_arrays`."""
        from .kernel import KernelRHS

        alive = KernelRHS.from_arrays(
            {k[6:]: v for k, v in arrays.items() if k.startswith("alive_")}, inputs
        )
        s = np.asarray(arrays["settings"], dtype=np.float64)
        return cls(
            alive,
            arrays["hazard"],
            s[0],
            arrays["curve"],
            s[1],
            arrays.get("passage"),
            arrays.get("balance"),
        )
