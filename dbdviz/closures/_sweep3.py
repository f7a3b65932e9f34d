"""The hop sweep one level up: triplets evolved in sweep time (docs/hierarchy.md 4).

:mod:`._sweep` integrates the sweep's pair equations, exact given the triplets, with
the triplets closed by the pairs at every sweep time. Here the triplets are evolved
too: their rates in sweep time are exact given the four-site patterns that a move
touches (a triplet plus one neighbour of one of its sites), and those are closed by
the triplets, times the measured / closed ratio of the start lattice (fixed through
the sweep, as the pair level does with its triplets). So the triplet rates at the
start are exact (tested against an enumeration of every move) and only the change
of the four-site correlations during the sweep is closed.

Four-site patterns (ordered counts, species or sweep states)

``path[x, a, b, c]``
    2-step paths ``a - b - c`` (the triplets of :func:`.hierarchy.lattice_triplets`,
    centre ``b``) with a neighbour ``x`` of the end ``a`` (not ``b``): ``sum_x
    path[x, a, b, c] = 3 t[a, b, c]``. Closed by ``P(x | a, b)`` from the triplets
    with the finite-size correction for the far end ``c``,
    ``((N - 2) P(x | a, b) - [x == c]) / (N - 3)`` (exact for a random placement).
``star[j, a, c, x]``
    a centre ``j`` with three distinct ordered neighbours ``a, c, x``: ``sum_x
    star[j, a, c, x] = 2 t[a, j, c]`` and likewise for the other two. Closed by the
    maximum-entropy table with these three margins (iterative proportional
    fitting), which keeps the triplet equations consistent with the pair equations.

A todo molecule in a triplet moves to a site inside it (its pair move, exact) or to
one of its outside neighbours (3 for an end, 2 for the centre; the neighbour's state
from ``path`` or ``star``); a todo molecule outside moves into a triplet site. The
outcomes are those of :mod:`._sweep` (hop, predation with ``p3``, stay).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from ._sweep import STATE_SPECIES
from ._sweep import _rates as _pair_rates

__all__ = ["lattice_quads", "start_ratios", "triplet_rates", "integrate_sweep3"]

_NS = 5
#: Iterative proportional fitting sweeps of the star closure (the margins agree to
#: 1e-10 of the counts after 30 on the paper lattices).
_IPF = 30
_DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def _shift(a, d):
    """``a`` at ``site + d`` (periodic)."""
    return np.roll(a, (-d[0], -d[1]), axis=(-2, -1))


def lattice_quads(lattices: np.ndarray, n_species: int = 3):
    """Exact four-site pattern counts ``path`` and ``star`` of lattices (module notes).

    Parameters
    ----------
    lattices : ndarray of uint8, shape ``S + (L, L)``
    n_species : int
        3 (empty, X, Y), or 5 for the sweep states.

    Returns
    -------
    path, star : ndarray, shape ``S + (n_species,) * 4``
    """
    g = np.asarray(lattices)
    lead = g.shape[:-2]
    flat = g.reshape((-1,) + g.shape[-2:])
    ns = int(n_species)
    path = np.zeros((flat.shape[0],) + (ns,) * 4)
    star = np.zeros_like(path)
    one = np.stack([(flat == k) for k in range(ns)], axis=1).astype(np.float64)
    for d1 in _DIRS:  # a -> b
        b_ = _shift(one, d1)
        for d2 in _DIRS:  # b -> c
            if d2 == (-d1[0], -d1[1]):
                continue
            c_ = _shift(one, (d1[0] + d2[0], d1[1] + d2[1]))
            abc = np.einsum("nauv,nbuv,ncuv->nabcuv", one, b_, c_, optimize=True)
            for d3 in _DIRS:  # a -> x
                if d3 != d1:
                    path += np.einsum(
                        "nxuv,nabcuv->nxabc", _shift(one, d3), abc, optimize=True
                    )
    for da in _DIRS:
        ja = np.einsum("njuv,nauv->njauv", one, _shift(one, da), optimize=True)
        for dc in _DIRS:
            if dc == da:
                continue
            jac = np.einsum("njauv,ncuv->njacuv", ja, _shift(one, dc), optimize=True)
            for dx in _DIRS:
                if dx not in (da, dc):
                    star += np.einsum(
                        "njacuv,nxuv->njacx", jac, _shift(one, dx), optimize=True
                    )
    return path.reshape(lead + (ns,) * 4), star.reshape(lead + (ns,) * 4)


@jit
def _cond_far(t, b, y, u, c, N, out):
    """Closed ``P(x | end y, its neighbour u, far end c)`` (module notes)."""
    s = 3.0 * b[u, y]
    tot = 0.0
    for z in range(_NS):
        p = t[u, y, z] / s if s > 1e-12 else 0.0
        v = (N - 2.0) * p - (1.0 if z == c else 0.0)
        out[z] = v / (N - 3.0) if v > 0.0 else 0.0
        tot += out[z]
    for z in range(_NS):
        out[z] = out[z] / tot if tot > 1e-15 else 0.0


@jit
def _ipf(t, S):
    """Closed stars ``S[j, a, c, x]``: maximum entropy with the triplet margins."""
    S[:, :, :, :] = 1.0
    for j in range(_NS):
        for _ in range(_IPF):
            for a in range(_NS):
                for c in range(_NS):
                    tot = 0.0
                    for x in range(_NS):
                        tot += S[j, a, c, x]
                    f = 2.0 * t[a, j, c] / tot if tot > 0.0 else 0.0
                    for x in range(_NS):
                        S[j, a, c, x] *= f
            for a in range(_NS):
                for x in range(_NS):
                    tot = 0.0
                    for c in range(_NS):
                        tot += S[j, a, c, x]
                    f = 2.0 * t[a, j, x] / tot if tot > 0.0 else 0.0
                    for c in range(_NS):
                        S[j, a, c, x] *= f
            for c in range(_NS):
                for x in range(_NS):
                    tot = 0.0
                    for a in range(_NS):
                        tot += S[j, a, c, x]
                    f = 2.0 * t[c, j, x] / tot if tot > 0.0 else 0.0
                    for a in range(_NS):
                        S[j, a, c, x] *= f


@jit
def _opposite(m, q):
    return (m == 1 and (q == 2 or q == 4)) or (m == 2 and (q == 1 or q == 3))


@jit
def _chg(dt, st, p, new, p2, new2, w):
    """Triplet ``st`` becomes ``st`` with site ``p`` (and ``p2`` if >= 0) changed."""
    o = st[p]
    o2 = st[p2] if p2 >= 0 else 0
    dt[st[0], st[1], st[2]] -= w
    st[p] = new
    if p2 >= 0:
        st[p2] = new2
    dt[st[0], st[1], st[2]] += w
    st[p] = o
    if p2 >= 0:
        st[p2] = o2


@jit
def _trip_rates(b, t, p3, N, r_path, r_star, dt):
    dt[:, :, :] = 0.0
    S = np.empty((_NS, _NS, _NS, _NS))
    _ipf(t, S)
    cz = np.zeros(_NS)
    st = np.zeros(3, np.int64)
    for i in range(_NS):
        for j in range(_NS):
            for k in range(_NS):
                T = t[i, j, k]
                if T <= 0.0:
                    continue
                st[0] = i
                st[1] = j
                st[2] = k
                for p in range(3):
                    sp = st[p]
                    # the states of site p's outside neighbours
                    if p == 1:
                        tot = 0.0
                        for z in range(_NS):
                            tot += S[j, i, k, z]
                        for z in range(_NS):
                            cz[z] = (
                                r_star[j, i, k, z] * S[j, i, k, z] / tot
                                if (tot > 0.0)
                                else 0.0
                            )
                        nout = 2.0
                    else:
                        e, f = (i, k) if p == 0 else (k, i)
                        _cond_far(t, b, e, j, f, N, cz)
                        for z in range(_NS):
                            cz[z] *= r_path[z, e, j, f]
                        nout = 3.0
                    if sp == 1 or sp == 2:
                        done = sp + 2
                        # site p moves to an outside neighbour
                        for z in range(_NS):
                            w = 0.25 * T * nout * cz[z]
                            if w == 0.0:
                                continue
                            if z == 0:
                                _chg(dt, st, p, 0, -1, 0, w)
                            elif _opposite(sp, z):
                                _chg(dt, st, p, 4, -1, 0, w * p3)
                                _chg(dt, st, p, done, -1, 0, w * (1.0 - p3))
                            else:
                                _chg(dt, st, p, done, -1, 0, w)
                        # ... or to a site of the triplet (its pair move)
                        for p2 in range(3):
                            if p2 - p != 1 and p - p2 != 1:
                                continue
                            q = st[p2]
                            w = 0.25 * T
                            if q == 0:
                                _chg(dt, st, p, 0, p2, done, w)
                            elif _opposite(sp, q):
                                _chg(dt, st, p, 4, p2, 4, w * p3)
                                _chg(dt, st, p, done, -1, 0, w * (1.0 - p3))
                            else:
                                _chg(dt, st, p, done, -1, 0, w)
                    # an outside todo neighbour moves into site p
                    for m in (1, 2):
                        w = 0.25 * T * nout * cz[m]
                        if w == 0.0:
                            continue
                        if sp == 0:
                            _chg(dt, st, p, m + 2, -1, 0, w)
                        elif _opposite(m, sp):
                            _chg(dt, st, p, 4, -1, 0, w * p3)


@jit
def _deriv(y, p3, N, r_path, r_star, db, dn, dt, out):
    b = y[:25].reshape((5, 5))
    n = y[25:30]
    t = y[30:155].reshape((5, 5, 5))
    out[155] = _pair_rates(b, n, t, p3, db, dn)
    _trip_rates(b, t, p3, N, r_path, r_star, dt)
    out[:25] = db.ravel()
    out[25:30] = dn
    out[30:155] = dt.ravel()


@jit
def _integrate(y0, p3, N, r_path, r_star, h, n_steps):
    y = y0.copy()
    m = y.size
    db = np.zeros((5, 5))
    dn = np.zeros(5)
    dt = np.zeros((5, 5, 5))
    k1 = np.zeros(m)
    k2 = np.zeros(m)
    k3 = np.zeros(m)
    k4 = np.zeros(m)
    for _ in range(n_steps):
        _deriv(y, p3, N, r_path, r_star, db, dn, dt, k1)
        _deriv(y + 0.5 * h * k1, p3, N, r_path, r_star, db, dn, dt, k2)
        _deriv(y + 0.5 * h * k2, p3, N, r_path, r_star, db, dn, dt, k3)
        _deriv(y + h * k3, p3, N, r_path, r_star, db, dn, dt, k4)
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def _five(a: np.ndarray) -> np.ndarray:
    """Species-indexed array -> sweep states (zeros for the done states)."""
    out = np.zeros((_NS,) * a.ndim)
    out[(slice(0, 3),) * a.ndim] = a
    return out


def start_ratios(b, n, t, path, star, n_sites: int):
    """Measured / closed four-site patterns of a start lattice, on the sweep states.

    Parameters
    ----------
    b, n, t : ndarray, shapes (3, 3), (3,), (3, 3, 3)
        Bonds, counts and triplets (species).
    path, star : ndarray, shape (3, 3, 3, 3)
        Measured four-site patterns (:func:`lattice_quads`).
    n_sites : int

    Returns
    -------
    r_path, r_star : ndarray, shape (5, 5, 5, 5)
        1 where the closed value is 0 (the term then vanishes).
    """
    b5, t5 = _five(b), _five(t)
    S = np.empty((_NS,) * 4)
    _ipf(t5, S)
    cz = np.zeros(_NS)
    closed = np.zeros((3, 3, 3, 3))
    for a in range(3):
        for j in range(3):
            for c in range(3):
                _cond_far(t5, b5, a, j, c, float(n_sites), cz)
                closed[:, a, j, c] = 3.0 * t[a, j, c] * cz[:3]
    sp = STATE_SPECIES
    out = []
    for meas, cl in ((path, closed), (star, S[:3, :3, :3, :3])):
        ok = cl > 1e-9
        r = np.where(ok, np.asarray(meas) / np.where(ok, cl, 1.0), 1.0)
        out.append(np.ascontiguousarray(r[np.ix_(sp, sp, sp, sp)]))
    return out[0], out[1]


def triplet_rates(b, t, p3, n_sites, r_path=None, r_star=None) -> np.ndarray:
    """Sweep-time rates of the triplets ``t`` (5 states), four-site patterns closed.

    With the ratios of :func:`start_ratios` of a start lattice the rates are the
    exact expected change per unit sweep time (divided by the todo molecules: of
    the next move), tested against an enumeration of every move.
    """
    one = np.ones((_NS,) * 4)
    dt = np.zeros((_NS,) * 3)
    _trip_rates(
        np.ascontiguousarray(b, dtype=np.float64),
        np.ascontiguousarray(t, dtype=np.float64),
        float(p3),
        float(n_sites),
        one if r_path is None else r_path,
        one if r_star is None else r_star,
        dt,
    )
    return dt


#: Sweep-time grid: RK4 steps of 1/16 up to s = 16. The measured ratios can make
#: the equations stiff: steps of 1/4 moved the random lattices' mean X by 0.05, 1/8
#: and 1/16 and 1/32 agree to 1e-3 on the random, clustered and paper lattices.
_H = 0.0625
_S_MAX = 16.0


def integrate_sweep3(b, n, t, p3, n_sites, path=None, star=None, ratios=None):
    """Expected species bonds and counts after one sweep, triplets evolved.

    Parameters
    ----------
    b, n, t : ndarray, shapes (3, 3), (3,), (3, 3, 3)
        Start bonds, counts and triplets (species).
    p3 : float
    n_sites : int
    path, star : ndarray, shape (3, 3, 3, 3), optional
        Measured four-site patterns of the start; default: closed (ratio 1).
    ratios : tuple of two ndarray, shape (5, 5, 5, 5), optional
        Measured / closed ratios to use instead of those of ``path`` and ``star``
        (:func:`start_ratios` of another lattice, e.g. the one before the events).

    Returns
    -------
    b, n : ndarray, shapes (3, 3) and (3,)
    predations : float
    """
    if ratios is not None:
        r_path, r_star = ratios
    elif path is None:
        r_path = r_star = np.ones((_NS,) * 4)
    else:
        r_path, r_star = start_ratios(b, n, t, path, star, n_sites)
    y = np.zeros(156)
    y[:25] = _five(b).ravel()
    y[25:30] = _five(n)
    y[30:155] = _five(t).ravel()
    y = _integrate(y, float(p3), float(n_sites), r_path, r_star, _H, int(_S_MAX / _H))
    sp = STATE_SPECIES
    merge = np.zeros((_NS, 3))
    merge[np.arange(_NS), sp] = 1.0
    return merge.T @ y[:25].reshape(5, 5) @ merge, merge.T @ y[25:30], float(y[155])
