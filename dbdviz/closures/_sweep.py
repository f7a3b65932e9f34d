"""The hop sweep's moment hierarchy in sweep time (docs/hierarchy.md section 3).

A sweep moves every molecule once in random order. With uniform picks the order is
that of independent uniform times, equivalently of independent exponential clocks:
in the *sweep time* ``s`` every molecule that has not moved yet (a "todo" molecule)
moves at rate 1, and the sweep is over at ``s = infinity``. In this picture the
sweep is a continuous-time nearest-neighbour process on five site states

====  =================================
 0    empty
 1    X, not moved yet (todo)
 2    Y, not moved yet (todo)
 3    X, moved or settled (done)
 4    Y, moved or settled (done)
====  =================================

and the expected rate of change of the (ordered) bond counts ``b[i, j]`` is *exact*
given the bonds and the ordered triplet counts ``t[i, j, k]`` (centre ``j``) of the
current lattice: :func:`sweep_rates`. A todo molecule of state ``m`` at site ``a``
picks a direction (1/4 each); the neighbour ``a'`` holds state ``q``:

* ``q`` empty: it hops, ``a -> empty``, ``a' -> done(m)``;
* ``q`` the opposite species (todo or done): with probability ``p3`` both become
  done Y (the todo partner loses its move);
* otherwise (blocked, or the reaction failed): it stays, ``a -> done(m)``.

Each outcome changes the bond ``(a, a')`` and the bonds of ``a`` and ``a'`` with
their 3 other neighbours, counted by the triplets ``t[q, m, k]`` and ``t[m, q, k]``.
The rates are linear in ``b`` and ``t``, so the expected change over the sweep is the
integral of the rates over the *expected* bonds and triplets at sweep time ``s``.
Those are not known from the lattice at ``s = 0``; :func:`integrate_sweep` closes
them by the pairs (the finite-size Kirkwood closure), optionally times fixed
correction factors measured at the start (docs/hierarchy.md, "what is left").
"""

from __future__ import annotations

import numpy as np

from .._numba import jit

__all__ = ["N_STATES", "STATE_SPECIES", "sweep_rates", "integrate_sweep"]

#: Site states of the sweep (empty, todo X, todo Y, done X, done Y).
N_STATES = 5
#: Species (0 empty, 1 X, 2 Y) of each sweep state.
STATE_SPECIES = np.array([0, 1, 2, 1, 2])


@jit
def _move(db, w, u, v, u2, v2):
    """A bond of states ``(u, v)`` becomes ``(u2, v2)`` at rate ``w`` (ordered
    counts: both orientations)."""
    db[u, v] -= w
    db[v, u] -= w
    db[u2, v2] += w
    db[v2, u2] += w


@jit
def _outcome(b, t, m, q, a2, q2, w, db, dn):
    """Add the rates of one outcome: todo state ``m`` picks a neighbour of state
    ``q`` (weight ``w`` per (molecule, direction)); ``m -> a2`` at the mover's site,
    ``q -> q2`` at the neighbour's. Returns the event rate."""
    f = w * b[m, q]
    dn[m] -= f
    dn[a2] += f
    dn[q] -= f
    dn[q2] += f
    _move(db, f, m, q, a2, q2)
    for k in range(5):
        if a2 != m:
            ta = w * t[q, m, k]
            if ta != 0.0:
                _move(db, ta, m, k, a2, k)
        if q2 != q:
            tb = w * t[m, q, k]
            if tb != 0.0:
                _move(db, tb, q, k, q2, k)
    return f


@jit
def _rates(b, n, t, p3, db, dn):
    """Sweep-time rates of ``b`` (5, 5) and ``n`` (5,) into ``db``, ``dn``; returns
    the predation rate."""
    db[:, :] = 0.0
    dn[:] = 0.0
    pred = 0.0
    for m in (1, 2):
        done = m + 2
        for q in range(5):
            if q == 0:
                _outcome(b, t, m, q, 0, done, 0.25, db, dn)
            elif (m == 1 and (q == 2 or q == 4)) or (m == 2 and (q == 1 or q == 3)):
                if p3 > 0.0:
                    pred += _outcome(b, t, m, q, 4, 4, 0.25 * p3, db, dn)
                if p3 < 1.0:
                    _outcome(b, t, m, q, done, q, 0.25 * (1.0 - p3), db, dn)
            else:
                _outcome(b, t, m, q, done, q, 0.25, db, dn)
    return pred


@jit
def _kirkwood(b, n, n_sites, ratio, t):
    """Finite-size Kirkwood triplets ``t[i, j, k] = 3 b[i, j] P(k | j, i)`` with
    ``P(k | j, i) = ((N - 1) b[j, k] / (4 n_j) - [i == k]) / (N - 2)`` (exact for a
    uniformly random placement), clipped at 0, times ``ratio``."""
    ns = b.shape[0]
    for j in range(ns):
        for i in range(ns):
            for k in range(ns):
                if n[j] > 1e-9 and b[i, j] > 0.0:
                    c = (n_sites - 1.0) * min(max(b[j, k] / (4.0 * n[j]), 0.0), 1.0)
                    if i == k:
                        c -= 1.0
                    v = 3.0 * b[i, j] * c / (n_sites - 2.0)
                    t[i, j, k] = v * ratio[i, j, k] if v > 0.0 else 0.0
                else:
                    t[i, j, k] = 0.0


@jit
def _deriv(y, p3, n_sites, ratio, t, db, dn, out):
    b = y[:25].reshape((5, 5))
    n = y[25:30]
    _kirkwood(b, n, n_sites, ratio, t)
    out[30] = _rates(b, n, t, p3, db, dn)
    out[:25] = db.ravel()
    out[25:30] = dn


@jit
def _integrate(b0, n0, p3, n_sites, ratio, h, n_steps):
    y = np.zeros(31)
    y[:25] = b0.ravel()
    y[25:30] = n0
    t = np.zeros((5, 5, 5))
    db = np.zeros((5, 5))
    dn = np.zeros(5)
    k1 = np.zeros(31)
    k2 = np.zeros(31)
    k3 = np.zeros(31)
    k4 = np.zeros(31)
    for _ in range(n_steps):
        _deriv(y, p3, n_sites, ratio, t, db, dn, k1)
        _deriv(y + 0.5 * h * k1, p3, n_sites, ratio, t, db, dn, k2)
        _deriv(y + 0.5 * h * k2, p3, n_sites, ratio, t, db, dn, k3)
        _deriv(y + h * k3, p3, n_sites, ratio, t, db, dn, k4)
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


def sweep_rates(
    b: np.ndarray, n: np.ndarray, t: np.ndarray, p3: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact expected rates of one sweep's five-state statistics, per unit sweep time.

    Parameters
    ----------
    b : ndarray, shape (5, 5)
        Ordered bond counts of the current (mid-sweep) lattice, states as in the
        module notes.
    n : ndarray, shape (5,)
        Sites per state.
    t : ndarray, shape (5, 5, 5)
        Ordered triplet counts (centre the middle index).
    p3 : float

    Returns
    -------
    db : ndarray, shape (5, 5)
    dn : ndarray, shape (5,)
    predation : float
        Expected predations per unit sweep time.

    Notes
    -----
    Every todo molecule moves at rate 1, so the expected change of the next move is
    ``(db, dn) / (number of todo molecules)`` exactly (tested by enumeration).
    """
    b = np.ascontiguousarray(b, dtype=np.float64)
    n = np.ascontiguousarray(n, dtype=np.float64)
    t = np.ascontiguousarray(t, dtype=np.float64)
    db = np.zeros((5, 5))
    dn = np.zeros(5)
    pred = _rates(b, n, t, float(p3), db, dn)
    return db, dn, float(pred)


#: Sweep-time grid of :func:`integrate_sweep`: RK4 steps of 1/4 up to s = 16 (the
#: molecules still todo there, a fraction e^-16, are merged as they are); halving
#: the step changes the paper preset's results by < 1e-6.
_H = 0.25
_S_MAX = 16.0


def integrate_sweep(
    b: np.ndarray,
    n: np.ndarray,
    p3: float,
    n_sites: int,
    ratio: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Expected species bonds and counts after one sweep, within-sweep triplets closed.

    Parameters
    ----------
    b : ndarray, shape (3, 3)
        Ordered species bond counts at the start of the sweep (0 empty, 1 X, 2 Y).
    n : ndarray, shape (3,)
    p3 : float
    n_sites : int
    ratio : ndarray, shape (3, 3, 3), optional
        Fixed factors on the closed triplets (by species), e.g. measured / closed
        at the start of the sweep; default 1.

    Returns
    -------
    b, n : ndarray, shapes (3, 3) and (3,)
        After the sweep (todo and done merged).
    predations : float
        Expected number of predations in the sweep.
    """
    sp = STATE_SPECIES
    b5 = np.zeros((5, 5))
    b5[:3, :3] = b
    n5 = np.zeros(5)
    n5[:3] = n
    r3 = np.ones((3, 3, 3)) if ratio is None else np.asarray(ratio, dtype=np.float64)
    r5 = np.ascontiguousarray(r3[np.ix_(sp, sp, sp)])
    y = _integrate(b5, n5, float(p3), float(n_sites), r5, _H, int(round(_S_MAX / _H)))
    merge = np.zeros((5, 3))
    merge[np.arange(5), sp] = 1.0
    b_out = merge.T @ y[:25].reshape(5, 5) @ merge
    n_out = merge.T @ y[25:30]
    return b_out, n_out, float(y[30])
