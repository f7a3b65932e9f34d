"""The hop sweep on the lattice's own 2-step paths (docs/hierarchy.md section 10).

:mod:`._sweep3` evolves lattice-wide triplet counts and closes the four-site
patterns by lattice-wide conditionals, so far-apart parts of a lattice (a dense
block, lone births, a sparse region) share one closure. Here every 2-step path
``a - b - c`` of the lattice (centre ``b``, ``a`` and ``c`` two distinct neighbours:
6 per centre, 2 straight and 4 bent) carries its own joint distribution over the
five sweep states (empty, todo X, todo Y, done X, done Y; 125 states). Its rates
in sweep time are those of :mod:`._sweep3` restricted to that path: a todo
molecule of the path moves inside it (exact) or to an outside neighbour, or an
outside todo molecule moves into it; the outside neighbour's state is closed on
the lattice's own paths,

* a neighbour ``x`` of the end ``a``: ``P(x | a, b)`` from the path ``x - a - b``;
* a neighbour ``x`` of the centre ``b``: ``P(x | a, b, c) ~ P(x | b, a) P(x | b, c) /
  P(x | b)`` from the paths ``a - b - x`` and ``c - b - x``.

At the start of the sweep the lattice is known (every site a point mass, or after
the events independent site distributions, the expected lattice of
:mod:`.given_lattice`), so every path and every closed four-site pattern is exact:
only the four-site correlations the moves build within the sweep are closed, site
by site instead of by lattice-wide averages.

RK4 in sweep time, steps of 1/4 up to ``s = 4`` and 1/2 up to ``s = 16``.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit

__all__ = ["neighbour_table", "site_triplet_sweep", "start_paths", "PAIRS"]

_NS = 5
#: Path states with less probability are not moved (second order in the events).
_THR = 1e-9
#: The 6 unordered direction pairs ``(da, dc)`` of a centre (directions: down, up,
#: right, left; 0-1 and 2-3 straight, the others bent).
PAIRS = np.array([(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)], np.int64)


def neighbour_table(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours ``nb[site, d]`` of a periodic L x L lattice (down, up, right,
    left), the opposite direction ``od[d]`` and the pair index ``kidx[d, e]``."""
    r, c = np.divmod(np.arange(L * L), L)
    nb = np.stack(
        [
            ((r + 1) % L) * L + c,
            ((r - 1) % L) * L + c,
            r * L + (c + 1) % L,
            r * L + (c - 1) % L,
        ],
        axis=1,
    ).astype(np.int64)
    kidx = -np.ones((4, 4), np.int64)
    for k, (d, e) in enumerate(PAIRS):
        kidx[d, e] = kidx[e, d] = k
    return nb, np.array([1, 0, 3, 2], np.int64), kidx


def start_sites(one: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbour table and every site's start distribution over the five sweep
    states (``one``: empty / X / Y per site, shape ``(3, L, L)``; todo states)."""
    one = np.asarray(one, dtype=np.float64)
    L = one.shape[-1]
    nb, od, _ = neighbour_table(L)
    p = np.zeros((L * L, _NS))
    p[:, :3] = one.reshape(3, -1).T
    return nb, od, p


def start_paths(one: np.ndarray, paths: np.ndarray | None = None):
    """The neighbour table and every 2-step path's start joint ``Q[s, k, a, b, c]``
    (ends ``nb[s, PAIRS[k]]``, centre ``s``, five sweep states): the product of the
    independent site distributions ``one``, or the given ``paths`` (a correlated
    start, e.g. :func:`.step_events.sampled_paths`; its site marginals must be
    ``one``'s)."""
    nb, od, p = start_sites(one)
    if paths is None:
        Q = np.einsum(
            "skx,sy,skz->skxyz", p[nb[:, PAIRS[:, 0]]], p, p[nb[:, PAIRS[:, 1]]]
        )
        return nb, od, Q
    Q = np.asarray(paths, dtype=np.float64)
    if Q.shape != (p.shape[0], 6, _NS, _NS, _NS):
        raise ValueError(
            f"paths must have shape ({p.shape[0]}, 6, 5, 5, 5), got {Q.shape}"
        )
    return nb, od, np.ascontiguousarray(Q)


@jit
def _opp(m, q):
    return (m == 1 and (q == 2 or q == 4)) or (m == 2 and (q == 1 or q == 3))


@jit
def _cond(Q, a, ex, eb, i, j, out):
    """``out[z] = P(x = z | a = i, b = j)``, ``x = nb[a, ex]``, ``b = nb[a, eb]``,
    from the path ``x - a - b``; returns False if the condition has no mass."""
    k = _KIDX[ex, eb]
    tot = 0.0
    if ex < eb:
        for z in range(_NS):
            out[z] = Q[a, k, z, i, j]
            tot += out[z]
    else:
        for z in range(_NS):
            out[z] = Q[a, k, j, i, z]
            tot += out[z]
    if tot <= 1e-300:
        return False
    for z in range(_NS):
        out[z] /= tot
    return True


_KIDX = neighbour_table(2)[2]


@jit
def _chg(dQ, b, k, st, p, new, p2, new2, w):
    """The path ``(b, k)`` in state ``st`` gets site ``p`` (and ``p2`` if >= 0)
    changed, at rate ``w``."""
    dQ[b, k, st[0], st[1], st[2]] -= w
    o = st[p]
    o2 = st[p2] if p2 >= 0 else 0
    st[p] = new
    if p2 >= 0:
        st[p2] = new2
    dQ[b, k, st[0], st[1], st[2]] += w
    st[p] = o
    if p2 >= 0:
        st[p2] = o2


@jit
def _tables(Q, nb, CE, PX):
    """Conditionals of the closure from the paths: ``CE[a, ex, eb, i, j, z] =
    P(nb[a, ex] = z | a = i, nb[a, eb] = j)`` and ``PX[b, e, j, z] = P(nb[b, e] = z |
    b = j)`` (the latter from the straight path through ``b``)."""
    n = Q.shape[0]
    for a in range(n):
        for k in range(6):
            d0 = PAIRS_[k, 0]
            d1 = PAIRS_[k, 1]
            for i in range(_NS):
                for j in range(_NS):
                    # x = first end (direction d0), b = last (d1), state j
                    t0 = 0.0
                    t1 = 0.0
                    for z in range(_NS):
                        t0 += Q[a, k, z, i, j]
                        t1 += Q[a, k, j, i, z]
                    for z in range(_NS):
                        CE[a, d0, d1, i, j, z] = (
                            Q[a, k, z, i, j] / t0 if t0 > 1e-300 else 0.0
                        )
                        CE[a, d1, d0, i, j, z] = (
                            Q[a, k, j, i, z] / t1 if t1 > 1e-300 else 0.0
                        )
        for e in range(4):
            k = 0 if e < 2 else 5
            first = e == 0 or e == 2
            for j in range(_NS):
                tot = 0.0
                for z in range(_NS):
                    m = 0.0
                    for y in range(_NS):
                        m += Q[a, k, z, j, y] if first else Q[a, k, y, j, z]
                    PX[a, e, j, z] = m
                    tot += m
                for z in range(_NS):
                    PX[a, e, j, z] = PX[a, e, j, z] / tot if tot > 1e-300 else 0.0


@jit
def _diag(Q, m, e1, e2, s1, cz):
    """``cz[z] = P(nb[m, e2] = z | nb[m, e1] = s1)`` (a diagonal pair) from the
    bent path centred at ``m``, unnormalised if the condition has no mass."""
    k = _KIDX[e1, e2]
    for z in range(_NS):
        v = 0.0
        for y in range(_NS):
            v += Q[m, k, s1, y, z] if e1 < e2 else Q[m, k, z, y, s1]
        cz[z] = v


@jit
def _plaquette(Q, nb, od, CE, PX, b, da, dc, st, cz):
    """Fourth corner ``x`` of the square of the bent path ``a - b - c`` (``a =
    nb[b, da]``, ``c = nb[b, dc]``, ``x = a + dc = c + da``), closed from the
    square's four 3-site paths (all evolved): the Kirkwood superposition at the
    four-site level, ``P(x | a, b, c) ~ P(x | a, b) P(x | c, b) P(x | a, c) P(x) /
    (P(x | a) P(x | b) P(x | c))``. Exact for independent sites (the start)."""
    a = nb[b, da]
    c = nb[b, dc]
    x = nb[a, dc]
    ea = od[dc]  # from x to a
    ec = od[da]  # from x to c
    k = _KIDX[ea, ec]
    dxb = np.zeros(_NS)
    pxx = np.zeros(_NS)
    _diag(Q, a, od[da], dc, st[1], dxb)  # P(x, b = st1) through a
    tb = 0.0
    for z in range(_NS):
        tb += dxb[z]
        for y in range(_NS):
            for w in range(_NS):
                pxx[z] += Q[x, 0, y, z, w]  # P(x) from its first straight path
    tot = 0.0
    for z in range(_NS):
        oac = Q[x, k, st[0], z, st[2]] if ea < ec else Q[x, k, st[2], z, st[0]]
        num = CE[a, dc, od[da], st[0], st[1], z] * CE[c, da, od[dc], st[2], st[1], z]
        den = PX[a, dc, st[0], z] * PX[c, da, st[2], z] * dxb[z]
        v = 0.0
        if oac > 0.0 and num > 0.0 and den > 1e-300:
            v = oac * num * pxx[z] * tb / den
        cz[z] = v
        tot += v
    if tot <= 1e-300:
        return False
    for z in range(_NS):
        cz[z] /= tot
    return True


@jit
def _outside(Q, nb, od, CE, PX, b, da, dc, p, st, e, cz, plaq):
    """Closed state distribution ``cz`` of the outside neighbour in direction ``e``
    of site ``p`` (0: the end ``nb[b, da]``, 1: the centre, 2: the end
    ``nb[b, dc]``) of the path ``(b, da, dc)`` in state ``st``."""
    if p == 1:
        tot = 0.0
        for z in range(_NS):
            m = PX[b, e, st[1], z]
            v = CE[b, e, da, st[1], st[0], z] * CE[b, e, dc, st[1], st[2], z]
            cz[z] = v / m if m > 1e-300 else 0.0
            tot += cz[z]
        for z in range(_NS):
            cz[z] = cz[z] / tot if tot > 1e-300 else 0.0
        return
    end = nb[b, da] if p == 0 else nb[b, dc]
    if od[da] != dc and e == (dc if p == 0 else da):
        # the fourth corner of the square of a bent path: from the square's four
        # paths (plaq), else P(x | a, c) from the opposite path a - x - c
        if plaq and _plaquette(Q, nb, od, CE, PX, b, da, dc, st, cz):
            return
        x = nb[end, e]
        ea = od[dc]  # from x to a
        ec = od[da]  # from x to c
        k = _KIDX[ea, ec]
        tot = 0.0
        for z in range(_NS):
            cz[z] = Q[x, k, st[0], z, st[2]] if ea < ec else Q[x, k, st[2], z, st[0]]
            tot += cz[z]
        for z in range(_NS):
            cz[z] = cz[z] / tot if tot > 1e-300 else 0.0
        return
    back = od[da] if p == 0 else od[dc]  # direction from the end to the centre
    for z in range(_NS):
        cz[z] = CE[end, e, back, st[p], st[1], z]


@jit
def _predation_rate(Q, p3):
    """Expected predations per unit sweep time, from the bonds of the straight
    paths (down and right neighbour of every centre)."""
    r = 0.0
    for b in range(Q.shape[0]):
        for k in (0, 5):
            for i in range(_NS):
                for j in range(_NS):
                    si = i if i < 3 else i - 2
                    sj = j if j < 3 else j - 2
                    if si + sj == 3 and (i == 1 or i == 2 or j == 1 or j == 2):
                        m = 0.0
                        for l in range(_NS):
                            m += Q[b, k, i, j, l]
                        r += m * ((i == 1 or i == 2) + (j == 1 or j == 2))
    return 0.25 * p3 * r


@jit
def _deriv(Q, p3, nb, od, CE, PX, dQ, plaq=False):
    dQ[:] = 0.0
    _tables(Q, nb, CE, PX)
    n = Q.shape[0]
    cz = np.zeros(_NS)
    st = np.zeros(3, np.int64)
    dirs = np.zeros(3, np.int64)
    for b in range(n):
        for k in range(6):
            da = PAIRS_[k, 0]
            dc = PAIRS_[k, 1]
            for i in range(_NS):
                for j in range(_NS):
                    for l in range(_NS):
                        T = Q[b, k, i, j, l]
                        if T <= _THR:
                            continue
                        st[0] = i
                        st[1] = j
                        st[2] = l
                        for p in range(3):
                            sp = st[p]
                            # outside directions of site p
                            if p == 1:
                                no = 0
                                for e in range(4):
                                    if e != da and e != dc:
                                        dirs[no] = e
                                        no += 1
                            else:
                                back = od[da] if p == 0 else od[dc]
                                no = 0
                                for e in range(4):
                                    if e != back:
                                        dirs[no] = e
                                        no += 1
                            w0 = 0.25 * T
                            for ie in range(no):
                                e = dirs[ie]
                                _outside(
                                    Q, nb, od, CE, PX, b, da, dc, p, st, e, cz, plaq
                                )
                                if sp == 1 or sp == 2:
                                    done = sp + 2
                                    for z in range(_NS):
                                        w = w0 * cz[z]
                                        if w == 0.0:
                                            continue
                                        if z == 0:
                                            _chg(dQ, b, k, st, p, 0, -1, 0, w)
                                        elif _opp(sp, z):
                                            _chg(dQ, b, k, st, p, 4, -1, 0, w * p3)
                                            _chg(dQ, b, k, st, p, done, -1, 0,
                                                 w * (1.0 - p3))  # fmt: skip
                                        else:
                                            _chg(dQ, b, k, st, p, done, -1, 0, w)
                                # an outside todo molecule moves into site p
                                for m in (1, 2):
                                    w = w0 * cz[m]
                                    if w == 0.0:
                                        continue
                                    if sp == 0:
                                        _chg(dQ, b, k, st, p, m + 2, -1, 0, w)
                                    elif _opp(m, sp):
                                        _chg(dQ, b, k, st, p, 4, -1, 0, w * p3)
                            if sp == 1 or sp == 2:
                                done = sp + 2
                                # its pair moves inside the path
                                for p2 in range(3):
                                    if p2 - p != 1 and p - p2 != 1:
                                        continue
                                    q = st[p2]
                                    w = 0.25 * T
                                    if q == 0:
                                        _chg(dQ, b, k, st, p, 0, p2, done, w)
                                    elif _opp(sp, q):
                                        _chg(dQ, b, k, st, p, 4, p2, 4, w * p3)
                                        _chg(dQ, b, k, st, p, done, -1, 0,
                                             w * (1.0 - p3))  # fmt: skip
                                    else:
                                        _chg(dQ, b, k, st, p, done, -1, 0, w)


PAIRS_ = PAIRS


@jit
def _integrate(Q0, p3, nb, od, hs, plaq):
    Q = Q0.copy()
    k1 = np.zeros_like(Q)
    k2 = np.zeros_like(Q)
    k3 = np.zeros_like(Q)
    k4 = np.zeros_like(Q)
    n = Q.shape[0]
    CE = np.zeros((n, 4, 4, _NS, _NS, _NS))
    PX = np.zeros((n, 4, _NS, _NS))
    pred = 0.0
    for h in hs:
        r1 = _predation_rate(Q, p3)
        _deriv(Q, p3, nb, od, CE, PX, k1, plaq)
        q = Q + 0.5 * h * k1
        r2 = _predation_rate(q, p3)
        _deriv(q, p3, nb, od, CE, PX, k2, plaq)
        q = Q + 0.5 * h * k2
        r3 = _predation_rate(q, p3)
        _deriv(q, p3, nb, od, CE, PX, k3, plaq)
        q = Q + h * k3
        r4 = _predation_rate(q, p3)
        _deriv(q, p3, nb, od, CE, PX, k4, plaq)
        Q += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        pred += h / 6.0 * (r1 + 2.0 * r2 + 2.0 * r3 + r4)
    return Q, pred


def sweep_grid(
    h: float = 0.25, s_switch: float = 4.0, h2: float = 0.5, s_max: float = 16.0
) -> np.ndarray:
    """RK4 steps in sweep time: ``h`` up to ``s_switch``, then ``h2`` to ``s_max``."""
    a = int(round(s_switch / h))
    b = int(round((s_max - s_switch) / h2))
    return np.concatenate([np.full(a, h), np.full(b, h2)])


def site_triplet_sweep(
    one: np.ndarray,
    p3: float,
    hs=None,
    plaquettes: bool = False,
    paths: np.ndarray | None = None,
):
    """Expected counts and ordered bonds after one sweep, the lattice's paths evolved.

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        Probability of empty / X / Y per site at the start of the sweep (a one-hot
        lattice, or the expected lattice after the events); sites independent.
    p3 : float
        Predation probability per X-Y collision.
    hs : ndarray, optional
        RK4 steps in sweep time (default :func:`sweep_grid`).
    plaquettes : bool
        Close the square's fourth corner from its four paths
        (:mod:`.site_plaquettes`'s closure in this reference kernel).
    paths : ndarray, shape (L * L, 6, 5, 5, 5), optional
        Start joint of every 2-step path (:func:`start_paths`), e.g. the events'
        sampled joint (:func:`.step_events.sampled_paths`); default the product of
        the independent sites ``one``.

    Returns
    -------
    n : ndarray (3,)
        Expected empty, X, Y sites after the sweep (the start's, predations
        moved from X to Y).
    b : ndarray (3, 3)
        Expected ordered bonds (species).
    predations : float
    """
    nb, od, Q = start_paths(one, paths)
    hs = sweep_grid() if hs is None else np.asarray(hs, dtype=np.float64)
    Q, pred = _integrate(
        np.ascontiguousarray(Q), float(p3), nb, od, hs, bool(plaquettes)
    )
    sp = np.array([0, 1, 2, 1, 2])
    merge = np.zeros((_NS, 3))
    merge[np.arange(_NS), sp] = 1.0
    # k = 0: a = down neighbour, centre, c = up neighbour; k = 5: right, centre, left
    # counts: the start's, minus / plus the predations (each turns an X into a Y)
    n = one.reshape(3, -1).sum(axis=1) + np.array([0.0, -pred, pred])
    down = Q[:, 0].sum(axis=3)  # [s, down state, centre state]
    right = Q[:, 5].sum(axis=3)
    pair = (down + right).sum(axis=0).T  # [centre, neighbour]
    b = merge.T @ (pair + pair.T) @ merge
    return n, b, float(pred)
