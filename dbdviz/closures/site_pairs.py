"""The hop sweep on the lattice's own sites and bonds (docs/hierarchy.md section 10).

:mod:`._sweep3` evolves lattice-wide counts (pairs, triplets) and closes the
four-site patterns by lattice-wide conditionals: far-apart parts of a lattice (a
dense block, lone births) share one closure. Here every site ``a`` carries its own
distribution over the five sweep states (empty, todo X, todo Y, done X, done Y) and
every bond ``(a, a')`` its own joint distribution (5 x 5). The rates of a bond's
joint are those of :mod:`._sweep` restricted to that bond: exact given the joint
distributions of the 2-step paths through it (a todo molecule of the bond moves
inside it, or to one of its 3 outside neighbours; an outside molecule moves into
it). The paths are closed site by site,

    P(k, a, a') = P(k, a) P(a, a') / P(a),

the Kirkwood closure on the lattice's own bonds. At the start of the sweep the
lattice is known, so every site is a point mass (or, after the events, independent
site distributions: a birth or a death per site, as the expected lattice of
:mod:`.given_lattice`) and the closure is exact: only the correlations the moves
build along 2-step paths within the sweep are closed.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from .site_triplets import _opp, start_sites

__all__ = ["site_pair_sweep"]

_NS = 5


@jit
def _shift_bonds(P, dP, nb, od, a, skip, old, new, f):
    """Site ``a`` goes ``old -> new`` at rate ``f``: its bonds other than direction
    ``skip`` change with the closed conditional ``P(k | a = old)`` (from the bond
    itself, normalised)."""
    for e in range(4):
        if e == skip:
            continue
        k = nb[a, e]
        oe = od[e]
        z = 0.0
        for r in range(_NS):
            z += P[a, e, old, r]
        if z <= 1e-300:
            continue
        g0 = f / z
        for r in range(_NS):
            g = g0 * P[a, e, old, r]
            if g == 0.0:
                continue
            dP[a, e, old, r] -= g
            dP[a, e, new, r] += g
            dP[k, oe, r, old] -= g
            dP[k, oe, r, new] += g


@jit
def _event(P, dP, dp, nb, od, a, d, m, q, a2, q2, f):
    """Todo ``m`` at ``a`` picked ``a' = nb[a, d]`` holding ``q``; ``m -> a2`` at
    ``a``, ``q -> q2`` at ``a'``, at rate ``f``."""
    b = nb[a, d]
    ob = od[d]
    dp[a, m] -= f
    dp[a, a2] += f
    dp[b, q] -= f
    dp[b, q2] += f
    dP[a, d, m, q] -= f
    dP[a, d, a2, q2] += f
    dP[b, ob, q, m] -= f
    dP[b, ob, q2, a2] += f
    if a2 != m:
        _shift_bonds(P, dP, nb, od, a, d, m, a2, f)
    if q2 != q:
        _shift_bonds(P, dP, nb, od, b, ob, q, q2, f)


@jit
def _deriv(P, p, p3, nb, od, dP, dp):
    dP[:] = 0.0
    dp[:] = 0.0
    pred = 0.0
    n = p.shape[0]
    for a in range(n):
        for m in (1, 2):
            if p[a, m] <= 0.0:
                continue
            done = m + 2
            for d in range(4):
                for q in range(_NS):
                    J = 0.25 * P[a, d, m, q]
                    if J <= 0.0:
                        continue
                    if q == 0:
                        _event(P, dP, dp, nb, od, a, d, m, q, 0, done, J)
                    elif _opp(m, q):
                        if p3 > 0.0:
                            _event(P, dP, dp, nb, od, a, d, m, q, 4, 4, J * p3)
                            pred += J * p3
                        if p3 < 1.0:
                            _event(P, dP, dp, nb, od, a, d, m, q, done, q,
                                   J * (1.0 - p3))  # fmt: skip
                    else:
                        _event(P, dP, dp, nb, od, a, d, m, q, done, q, J)
    return pred


@jit
def _integrate(P0, p0, p3, nb, od, h, n_steps):
    P = P0.copy()
    p = p0.copy()
    kP = np.zeros((4,) + P.shape)
    kp = np.zeros((4,) + p.shape)
    Pt = np.empty_like(P)
    pt = np.empty_like(p)
    pred = 0.0
    coef = (0.0, 0.5, 0.5, 1.0)
    wts = (1.0, 2.0, 2.0, 1.0)
    for _ in range(n_steps):
        pr = 0.0
        for s in range(4):
            if s == 0:
                Pt[:] = P
                pt[:] = p
            else:
                Pt[:] = P + coef[s] * h * kP[s - 1]
                pt[:] = p + coef[s] * h * kp[s - 1]
            pr += wts[s] * _deriv(Pt, pt, p3, nb, od, kP[s], kp[s])
        P += h / 6.0 * (kP[0] + 2.0 * kP[1] + 2.0 * kP[2] + kP[3])
        p += h / 6.0 * (kp[0] + 2.0 * kp[1] + 2.0 * kp[2] + kp[3])
        pred += h / 6.0 * pr
    return P, p, pred


#: Sweep-time grid: RK4 steps of 1/4 up to s = 16 (todo mass e^-16 left; steps of
#: 1/8 and 1/16 change the counts and bonds of 40 x 40 lattices by < 1e-3).
_H = 0.25
_S_MAX = 16.0


def site_pair_sweep(one: np.ndarray, p3: float, h: float = _H, s_max: float = _S_MAX):
    """Expected counts and ordered bonds after one sweep, site pairs evolved.

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        Probability of empty / X / Y per site at the start of the sweep (a one-hot
        lattice, or the expected lattice after the events); sites independent.
    p3 : float
        Predation probability per X-Y collision.
    h, s_max : float
        RK4 step and end of the sweep time.

    Returns
    -------
    n : ndarray (3,)
        Expected empty, X, Y sites after the sweep.
    b : ndarray (3, 3)
        Expected ordered bonds (species).
    predations : float
    """
    nb, od, p = start_sites(one)
    P = np.einsum("sa,sdb->sdab", p, p[nb])
    n_steps = int(round(s_max / h))
    P, p, pred = _integrate(np.ascontiguousarray(P), p, float(p3), nb, od, h, n_steps)
    sp = np.array([0, 1, 2, 1, 2])
    merge = np.zeros((_NS, 3))
    merge[np.arange(_NS), sp] = 1.0
    n = p.sum(axis=0) @ merge
    b = merge.T @ P.sum(axis=(0, 1)) @ merge
    return n, b, float(pred)
