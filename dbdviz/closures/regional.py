"""The triplet level resolved by classes of sites (docs/hierarchy.md section 12).

The lattice-wide triplet level (:mod:`._sweep3`) evolves the counts of bonds and
2-step paths of the whole lattice and closes the four-site patterns by lattice-wide
conditionals: a dense block of X, a dense block of Y and a sea of births share one
``P(x | a, b)``. Here every site carries a fixed *class* (a label of the start
lattice's local environment, :func:`site_classes`), and the states of the sweep are
``(class, sweep state)`` pairs: ``u = 5 c + s``. A move changes the sweep state of
fixed sites, never their class, so the class-resolved bonds, triplets and
four-site patterns obey the same equations as :mod:`._sweep3` with the class carried
along; the closures (``P(x | a, b)`` of a path's end, the maximum-entropy star of a
centre) are then made per combination of classes, and the measured / closed ratios
of the start lattice are per combination of classes too. So

* with one class and ``mode="ratio"`` it is :func:`._sweep3.integrate_sweep3`
  (same operations, to 1e-9);
* at sweep time 0 the rates are exact for any classes (the measured four-site
  patterns, tested against an enumeration of every move), in both modes;
* a block of X and a block of Y in different classes no longer share a conditional.

``mode="difference"`` holds the start's measured - closed *conditional* of the
added site instead of the ratio of counts (:func:`_shift_species`): with classes a
(class, state) combination can be rare at the start (a dead Y's fractional hole)
and common later (every site a hop vacates), and a ratio measured on the few is
then applied to the many. Measured in docs/hierarchy.md section 12: not the
default closure (cells within 3 SE 10 / 12 / 10 / 11 on seeds 1-4, default 10 /
10 / 11 / 8).

Combinations of classes that do not occur in a star of the start lattice never
occur (classes are fixed), so the stars are stored only for the class tuples that
occur (``tuples``), which keeps the maximum-entropy fit of the stars sparse.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from ._sweep import STATE_SPECIES
from ._sweep3 import _DIRS, _H, _IPF, _S_MAX, _opposite, _shift

__all__ = [
    "CLASS_RADIUS",
    "CLASS_THRESHOLD",
    "MODES",
    "site_classes",
    "class_step",
    "class_statistics",
    "class_start_ratios",
    "class_triplet_rates",
    "integrate_class_sweep",
]

_NS = 5
#: Half-width of the square window of :func:`site_classes` (5 x 5 sites).
CLASS_RADIUS = 2
#: Fraction of the window's sites one species must hold for a dense class.
CLASS_THRESHOLD = 0.5
#: How the start's measured four-site patterns enter the closure: ``"ratio"``
#: (measured / closed count fixed through the sweep, as :mod:`._sweep3`) or
#: ``"difference"`` (measured - closed conditional of the added site, shared by
#: the species' sweep states: :func:`_shift_species`).
MODES = ("ratio", "difference")


def site_classes(
    lattice: np.ndarray, radius: int = CLASS_RADIUS, threshold: float = CLASS_THRESHOLD
):
    """Classes of the sites by the composition of a window of the start lattice.

    Class 1 (dense X): the ``(2 radius + 1)^2`` window centred on the site holds
    at least ``threshold`` of its sites as X and more X than Y; class 2 (dense Y)
    likewise for Y; class 0 the rest (sparse, mixed and empty regions).

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
        The lattice at the start of the step (before the events).
    radius : int
    threshold : float

    Returns
    -------
    labels : ndarray of int64, shape (L, L)
    n_classes : int
        3.
    """
    g = np.asarray(lattice)
    nx = np.zeros(g.shape)
    ny = np.zeros(g.shape)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            sh = np.roll(g, (dr, dc), axis=(0, 1))
            nx += sh == 1
            ny += sh == 2
    need = threshold * (2 * radius + 1) ** 2
    lab = np.zeros(g.shape, np.int64)
    lab[(nx >= need) & (nx > ny)] = 1
    lab[(ny >= need) & (ny >= nx)] = 2
    return lab, 3


# --------------------------------------------------------------------- statistics
def _scatter(M: np.ndarray, K: int, order: int) -> np.ndarray:
    """``M[key, species...]`` (key = classes in base K) -> combined species array."""
    M = M.reshape((K,) * order + (3,) * order)
    perm = [ax for i in range(order) for ax in (i, order + i)]
    return M.transpose(perm).reshape((3 * K,) * order)


def class_statistics(one: np.ndarray, labels: np.ndarray, n_classes: int):
    """Class-resolved counts, bonds, triplets and four-site patterns.

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        Species distribution of every site (the expected lattice; one-hot for a
        lattice).
    labels : ndarray of int, shape (L, L)
        Class of every site, ``0 .. n_classes - 1``.
    n_classes : int

    Returns
    -------
    n, b, t, path, star : ndarray
        As :func:`.given_lattice.soft_statistics` with the species index replaced by
        the combined index ``3 c + species`` (shapes ``(3K,) * order``): for a
        one-hot lattice the counts of the lattice ``3 labels + species``
        (:func:`.hierarchy.lattice_triplets`, :func:`._sweep3.lattice_quads`).
    """
    one = np.asarray(one, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.int64)
    K = int(n_classes)
    N = lab.size
    sp = one.reshape(3, N).T  # (N, 3)

    def sh(d):
        return _shift(lab, d).ravel(), _shift(one, d).reshape(3, N).T

    nb = {d: sh(d) for d in _DIRS}
    n = np.zeros(3 * K)
    np.add.at(n.reshape(K, 3), lab.ravel(), sp)
    b = np.zeros((K * K, 9))
    t = np.zeros((K**3, 27))
    star = np.zeros((K**4, 81))
    path = np.zeros((K**4, 81))
    c0 = lab.ravel()
    for cd, sd in nb.values():
        np.add.at(b, c0 * K + cd, (sp[:, :, None] * sd[:, None, :]).reshape(N, 9))
    for da in _DIRS:
        ca, sa = nb[da]
        for dc in _DIRS:
            if dc == da:
                continue
            cc, sc = nb[dc]
            jac = sp[:, :, None, None] * sa[:, None, :, None] * sc[:, None, None, :]
            key = (c0 * K + ca) * K + cc
            # t is indexed (a, j, c)
            np.add.at(
                t, (ca * K + c0) * K + cc, jac.transpose(0, 2, 1, 3).reshape(N, 27)
            )
            for dx in _DIRS:
                if dx in (da, dc):
                    continue
                cx, sx = nb[dx]
                np.add.at(
                    star,
                    key * K + cx,
                    (jac[..., None] * sx[:, None, None, None, :]).reshape(N, 81),
                )
    for d1 in _DIRS:
        cb, sb = nb[d1]
        for d2 in _DIRS:
            if d2 == (-d1[0], -d1[1]):
                continue
            d12 = (d1[0] + d2[0], d1[1] + d2[1])
            cc, sc = _shift(lab, d12).ravel(), _shift(one, d12).reshape(3, N).T
            abc = sp[:, :, None, None] * sb[:, None, :, None] * sc[:, None, None, :]
            key = (c0 * K + cb) * K + cc
            for d3 in _DIRS:
                if d3 == d1:
                    continue
                cx, sx = nb[d3]
                np.add.at(
                    path,
                    cx * K**3 + key,
                    (sx[:, :, None, None, None] * abc[:, None]).reshape(N, 81),
                )
    return (
        n,
        _scatter(b, K, 2),
        _scatter(t, K, 3),
        _scatter(path, K, 4),
        _scatter(star, K, 4),
    )


def star_tuples(labels: np.ndarray, n_classes: int):
    """Class tuples ``(centre, a, c, x)`` of the stars of the lattice.

    Returns
    -------
    tuples : ndarray of int64, shape (n, 4)
    index : ndarray of int64, shape (K, K, K, K)
        Row of ``tuples`` of a class tuple, -1 where none occurs.
    """
    lab = np.asarray(labels, dtype=np.int64)
    K = int(n_classes)
    seen = np.zeros((K,) * 4, bool)
    for da in _DIRS:
        for dc in _DIRS:
            for dx in _DIRS:
                if len({da, dc, dx}) == 3:
                    seen[lab, _shift(lab, da), _shift(lab, dc), _shift(lab, dx)] = True
    tuples = np.argwhere(seen).astype(np.int64)
    index = -np.ones((K,) * 4, np.int64)
    index[tuple(tuples.T)] = np.arange(len(tuples))
    return tuples, index


# --------------------------------------------------------------------- kernels
@jit
def _move(db, w, u, v, u2, v2):
    db[u, v] -= w
    db[v, u] -= w
    db[u2, v2] += w
    db[v2, u2] += w


@jit
def _outcome(b, t, m, q, a2, q2, w, db, dn):
    """:func:`._sweep._outcome` on the combined states."""
    f = w * b[m, q]
    dn[m] -= f
    dn[a2] += f
    dn[q] -= f
    dn[q2] += f
    _move(db, f, m, q, a2, q2)
    for k in range(b.shape[0]):
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
def _pair_rates(b, n, t, p3, db, dn):
    """:func:`._sweep._rates` with the class carried by every site."""
    db[:, :] = 0.0
    dn[:] = 0.0
    pred = 0.0
    ns = b.shape[0]
    for cm in range(ns // _NS):
        for ms in (1, 2):
            m = cm * _NS + ms
            done = m + 2
            for q in range(ns):
                qs = q % _NS
                cq = q - qs
                if qs == 0:
                    _outcome(b, t, m, q, cm * _NS, cq + ms + 2, 0.25, db, dn)
                elif _opposite(ms, qs):
                    if p3 > 0.0:
                        pred += _outcome(
                            b, t, m, q, cm * _NS + 4, cq + 4, 0.25 * p3, db, dn
                        )
                    if p3 < 1.0:
                        _outcome(b, t, m, q, done, q, 0.25 * (1.0 - p3), db, dn)
                else:
                    _outcome(b, t, m, q, done, q, 0.25, db, dn)
    return pred


@jit
def _cond_far(t, b, y, u, c, N, out):
    """:func:`._sweep3._cond_far` on the combined states."""
    ns = out.shape[0]
    s = 3.0 * b[u, y]
    tot = 0.0
    for z in range(ns):
        p = t[u, y, z] / s if s > 1e-12 else 0.0
        v = (N - 2.0) * p - (1.0 if z == c else 0.0)
        out[z] = v / (N - 3.0) if v > 0.0 else 0.0
        tot += out[z]
    for z in range(ns):
        out[z] = out[z] / tot if tot > 1e-15 else 0.0


@jit
def _ipf(t, tuples, F, G, H, acc):
    """:func:`._sweep3._ipf` on the class tuples that occur, in factor form.

    The maximum-entropy star with the three triplet margins is a product of three
    factors, ``S[j, a, c, x] = F[j, a, c] G[j, a, x] H[j, c, x]`` (combined
    states; a row of ``tuples`` fixes the classes of ``j, a, c, x``); each pass of
    the iterative proportional fitting rescales one factor. From ones,
    :data:`._sweep3._IPF` rounds of the three passes (the default's procedure),
    then one more pass over ``x``: classes can make the margins incompatible (the
    fit then does not converge), and this pass makes the closed conditional of a
    centre's fourth neighbour sum to one, so the start stays exact.
    """
    ns = F.shape[0]
    nt = tuples.shape[0]
    F[...] = 1.0
    G[...] = 1.0
    H[...] = 1.0
    for it in range(_IPF + 1):
        for ps in range(3 if it < _IPF else 1):
            acc[:, :, :] = 0.0
            for r in range(nt):
                bj = tuples[r, 0] * _NS
                ba = tuples[r, 1] * _NS
                bc = tuples[r, 2] * _NS
                bx = tuples[r, 3] * _NS
                for j in range(bj, bj + _NS):
                    for a in range(ba, ba + _NS):
                        for c in range(bc, bc + _NS):
                            f = F[j, a, c]
                            if ps == 0:
                                v = 0.0
                                for x in range(bx, bx + _NS):
                                    v += G[j, a, x] * H[j, c, x]
                                acc[j, a, c] += v
                            elif ps == 1:
                                for x in range(bx, bx + _NS):
                                    acc[j, a, x] += f * H[j, c, x]
                            else:
                                for x in range(bx, bx + _NS):
                                    acc[j, c, x] += f * G[j, a, x]
            for j in range(ns):
                for u in range(ns):
                    for v in range(ns):
                        m = acc[j, u, v]
                        w = 2.0 * t[u, j, v]
                        if ps == 0:
                            F[j, u, v] = w / m if F[j, u, v] * m > 0.0 else 0.0
                        elif ps == 1:
                            G[j, u, v] = w / m if G[j, u, v] * m > 0.0 else 0.0
                        else:
                            H[j, u, v] = w / m if H[j, u, v] * m > 0.0 else 0.0


@jit
def _chg(dt, st, p, new, p2, new2, w):
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
def _shift_species(cz, dv):
    """``difference`` mode: the closed conditional ``cz`` of a neighbour's state
    shifted by the start's measured - closed conditional ``dv`` of its species and
    class (the same value on a species' todo and done states), shared by the
    species' states in proportion, clipped at 0 and normalized."""
    tot = 0.0
    for c0 in range(0, cz.shape[0], _NS):
        for sp in range(3):
            p = cz[c0 + sp]
            if sp > 0:
                p += cz[c0 + sp + 2]
            if p > 0.0:
                f = max(0.0, 1.0 + dv[c0 + sp] / p)
                cz[c0 + sp] *= f
                if sp > 0:
                    cz[c0 + sp + 2] *= f
            tot += cz[c0 + sp] + (cz[c0 + sp + 2] if sp > 0 else 0.0)
    for z in range(cz.shape[0]):
        cz[z] = cz[z] / tot if tot > 0.0 else 0.0


@jit
def _trip_rates(b, t, p3, N, r_path, tuples, index, FGH, r_star, acc, diff, dt):
    """:func:`._sweep3._trip_rates` with the class carried by every site.

    ``FGH`` (3, 5K, 5K, 5K): room for the star factors of :func:`_ipf`."""
    ns = b.shape[0]
    K = ns // _NS
    dt[:, :, :] = 0.0
    F, G, H = FGH[0], FGH[1], FGH[2]
    _ipf(t, tuples, F, G, H, acc)
    cz = np.zeros(ns)
    dv = np.zeros(ns)
    st = np.zeros(3, np.int64)
    for i in range(ns):
        for j in range(ns):
            for k in range(ns):
                T = t[i, j, k]
                if T <= 0.0:
                    continue
                st[0] = i
                st[1] = j
                st[2] = k
                for p in range(3):
                    sp = st[p] % _NS
                    cp = st[p] - sp
                    if p == 1:
                        js, is_, ks = j % _NS, i % _NS, k % _NS
                        fjik = F[j, i, k]
                        tot = 0.0
                        for cx in range(K):
                            r = index[j // _NS, i // _NS, k // _NS, cx]
                            if r >= 0:
                                for z in range(cx * _NS, cx * _NS + _NS):
                                    tot += fjik * G[j, i, z] * H[j, k, z]
                        for cx in range(K):
                            r = index[j // _NS, i // _NS, k // _NS, cx]
                            for z in range(_NS):
                                zz = cx * _NS + z
                                v = 0.0
                                if r >= 0 and tot > 0.0:
                                    v = fjik * G[j, i, zz] * H[j, k, zz] / tot
                                    dv[zz] = r_star[r, js, is_, ks, z]
                                    if not diff:
                                        v *= dv[zz]
                                else:
                                    dv[zz] = 0.0
                                cz[zz] = v
                        if diff:
                            _shift_species(cz, dv)
                        nout = 2.0
                    else:
                        e, f = (i, k) if p == 0 else (k, i)
                        _cond_far(t, b, e, j, f, N, cz)
                        if diff:
                            for z in range(ns):
                                dv[z] = r_path[z, e, j, f]
                            _shift_species(cz, dv)
                        else:
                            for z in range(ns):
                                cz[z] *= r_path[z, e, j, f]
                        nout = 3.0
                    if sp == 1 or sp == 2:
                        done = cp + sp + 2
                        # site p moves to an outside neighbour
                        for z in range(ns):
                            w = 0.25 * T * nout * cz[z]
                            if w == 0.0:
                                continue
                            zs = z % _NS
                            if zs == 0:
                                _chg(dt, st, p, cp, -1, 0, w)
                            elif _opposite(sp, zs):
                                _chg(dt, st, p, cp + 4, -1, 0, w * p3)
                                _chg(dt, st, p, done, -1, 0, w * (1.0 - p3))
                            else:
                                _chg(dt, st, p, done, -1, 0, w)
                        # ... or to a site of the triplet (its pair move)
                        for p2 in range(3):
                            if p2 - p != 1 and p - p2 != 1:
                                continue
                            q = st[p2]
                            qs = q % _NS
                            cq = q - qs
                            w = 0.25 * T
                            if qs == 0:
                                _chg(dt, st, p, cp, p2, cq + sp + 2, w)
                            elif _opposite(sp, qs):
                                _chg(dt, st, p, cp + 4, p2, cq + 4, w * p3)
                                _chg(dt, st, p, done, -1, 0, w * (1.0 - p3))
                            else:
                                _chg(dt, st, p, done, -1, 0, w)
                    # an outside todo neighbour moves into site p
                    for cx in range(K):
                        for m in (1, 2):
                            w = 0.25 * T * nout * cz[cx * _NS + m]
                            if w == 0.0:
                                continue
                            if sp == 0:
                                _chg(dt, st, p, cp + m + 2, -1, 0, w)
                            elif _opposite(m, sp):
                                _chg(dt, st, p, cp + 4, -1, 0, w * p3)


@jit
def _deriv(y, p3, N, r_path, tuples, index, FGH, r_star, acc, diff, db, dn, dt, out):
    ns = db.shape[0]
    nb, nt = ns * ns, ns * ns * ns
    b = y[:nb].reshape((ns, ns))
    n = y[nb : nb + ns]
    t = y[nb + ns : nb + ns + nt].reshape((ns, ns, ns))
    out[nb + ns + nt] = _pair_rates(b, n, t, p3, db, dn)
    _trip_rates(b, t, p3, N, r_path, tuples, index, FGH, r_star, acc, diff, dt)
    out[:nb] = db.ravel()
    out[nb : nb + ns] = dn
    out[nb + ns : nb + ns + nt] = dt.ravel()


@jit
def _integrate(y0, p3, N, r_path, tuples, index, r_star, ns, h, n_steps, diff):
    y = y0.copy()
    m = y.size
    db = np.zeros((ns, ns))
    dn = np.zeros(ns)
    dt = np.zeros((ns, ns, ns))
    acc = np.zeros((ns, ns, ns))
    FGH = np.ones((3, ns, ns, ns))
    k1 = np.zeros(m)
    k2 = np.zeros(m)
    k3 = np.zeros(m)
    k4 = np.zeros(m)
    a = (p3, N, r_path, tuples, index, FGH, r_star, acc, diff, db, dn, dt)
    for _ in range(n_steps):
        _deriv(y, *a, k1)
        _deriv(y + 0.5 * h * k1, *a, k2)
        _deriv(y + 0.5 * h * k2, *a, k3)
        _deriv(y + h * k3, *a, k4)
        y += h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return y


# --------------------------------------------------------------------- drivers
def _five(a: np.ndarray, K: int) -> np.ndarray:
    """Combined species array (``3 c + s``) -> combined sweep states (``5 c + s``)."""
    idx = (np.arange(K)[:, None] * _NS + np.arange(3)[None, :]).ravel()
    out = np.zeros((_NS * K,) * a.ndim)
    out[np.ix_(*([idx] * a.ndim))] = a
    return out


def _species_of_states(K: int) -> np.ndarray:
    """Combined species index of every combined sweep state."""
    return (np.arange(K)[:, None] * 3 + STATE_SPECIES[None, :]).ravel()


def class_start_ratios(b, n, t, path, star, n_sites, tuples, index, mode="ratio"):
    """Measured / closed four-site patterns per class combination (sweep states).

    ``mode="difference"``: instead of the ratio, the measured - closed
    conditional of the added site (path count / 3 t, star count / 2 t), for
    :func:`_shift_species`.

    Parameters
    ----------
    b, n, t, path, star : ndarray
        Combined species statistics of the start (:func:`class_statistics`).
    n_sites : int
    tuples, index : ndarray
        :func:`star_tuples` of the labels.

    Returns
    -------
    r_path : ndarray, shape ``(5K,) * 4``
    r_star : ndarray, shape ``(len(tuples), 5, 5, 5, 5)``
        Ratios on the combined sweep states (1 where the closed value is 0).
    """
    K = len(n) // 3
    ns = _NS * K
    b5, t5 = _five(b, K), _five(t, K)
    F, G, H = np.ones((3, ns, ns, ns))
    _ipf(t5, tuples, F, G, H, np.zeros((ns,) * 3))
    cz = np.zeros(ns)
    sp3 = (np.arange(K)[:, None] * _NS + np.arange(3)[None, :]).ravel()
    closed = np.zeros((3 * K,) * 4)
    for ia, a in enumerate(sp3):
        for ij, j in enumerate(sp3):
            for ic, c in enumerate(sp3):
                if t[ia, ij, ic] <= 0.0:
                    continue
                _cond_far(t5, b5, a, j, c, float(n_sites), cz)
                closed[:, ia, ij, ic] = 3.0 * t[ia, ij, ic] * cz[sp3]
    ok = closed > 1e-9
    r = np.where(ok, np.asarray(path) / np.where(ok, closed, 1.0), 1.0)
    if mode == "difference":
        t3 = 3.0 * np.asarray(t)[None]
        r = np.where(t3 > 0, (np.asarray(path) - closed) / np.where(t3 > 0, t3, 1), 0)
    sk = _species_of_states(K)
    r_path = np.ascontiguousarray(r[np.ix_(sk, sk, sk, sk)])
    # stars: the tuple's measured species table against its closed one
    r_star = np.ones((len(tuples), _NS, _NS, _NS, _NS))
    ss = STATE_SPECIES
    for row, (cj, ca, cc, cx) in enumerate(tuples):
        meas = np.asarray(star)[
            np.ix_(3 * cj + np.arange(3), 3 * ca + np.arange(3),
                   3 * cc + np.arange(3), 3 * cx + np.arange(3))
        ]  # fmt: skip
        j, a, c, x = (_NS * k + np.arange(3) for k in (cj, ca, cc, cx))
        cl = (
            F[np.ix_(j, a, c)][..., None]
            * G[np.ix_(j, a, x)][:, :, None, :]
            * H[np.ix_(j, c, x)][:, None, :, :]
        )
        ok = cl > 1e-9
        rr = np.where(ok, meas / np.where(ok, cl, 1.0), 1.0)
        if mode == "difference":  # per 2 t[a, j, c] (all classes of x)
            sj, sa, sc = (3 * k + np.arange(3) for k in (cj, ca, cc))
            m2 = 2.0 * np.asarray(t)[np.ix_(sa, sj, sc)].transpose(1, 0, 2)[..., None]
            rr = np.where(m2 > 0, (meas - cl) / np.where(m2 > 0, m2, 1.0), 0.0)
        r_star[row] = rr[np.ix_(ss, ss, ss, ss)]
    return r_path, np.ascontiguousarray(r_star)


def class_triplet_rates(
    b, t, p3, n_sites, tuples, index, r_path=None, r_star=None, mode="ratio"
):
    """Sweep-time rates of the class-resolved triplets (combined sweep states).

    With the ratios of :func:`class_start_ratios` the exact expected change per
    unit sweep time at the start lattice (tested against an enumeration).
    """
    b = np.ascontiguousarray(b, dtype=np.float64)
    t = np.ascontiguousarray(t, dtype=np.float64)
    ns = b.shape[0]
    if r_path is None:
        r_path = np.ones((ns,) * 4)
    if r_star is None:
        r_star = np.ones((len(tuples), _NS, _NS, _NS, _NS))
    dt = np.zeros((ns,) * 3)
    FGH = np.ones((3, ns, ns, ns))
    _trip_rates(b, t, float(p3), float(n_sites), r_path, tuples, index, FGH, r_star,
                np.zeros((ns,) * 3), mode == "difference", dt)  # fmt: skip
    return dt


def integrate_class_sweep(
    one,
    labels,
    n_classes,
    p3,
    n_sites=None,
    h=_H,
    s_max=_S_MAX,
    measured=True,
    mode="ratio",
):
    """Expected species bonds and counts after one sweep, by classes of sites.

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        Species distribution of every site at the start of the sweep.
    labels : ndarray of int, shape (L, L)
    n_classes : int
    p3 : float
    n_sites : int, optional
        Default ``L * L``.
    h, s_max : float
        RK4 step and end of the sweep time (default that of :mod:`._sweep3`).
    measured : bool
        False: the four-site patterns closed from the start (no measured
        ratios), for diagnostics.
    mode : {"ratio", "difference"}
        :data:`MODES`.

    Returns
    -------
    b : ndarray, shape (3, 3)
    n : ndarray, shape (3,)
    predations : float
    """
    K = int(n_classes)
    lab = np.asarray(labels, dtype=np.int64)
    N = float(lab.size if n_sites is None else n_sites)
    n, b, t, path, star = class_statistics(one, lab, K)
    tuples, index = star_tuples(lab, K)
    r_path, r_star = class_start_ratios(b, n, t, path, star, N, tuples, index, mode)
    if not measured:
        r_path, r_star = np.ones_like(r_path), np.ones_like(r_star)
    ns = _NS * K
    y = np.concatenate([_five(b, K).ravel(), _five(n, K), _five(t, K).ravel(), [0.0]])
    y = _integrate(y, float(p3), N, r_path, tuples, index, r_star, ns, float(h),
                   int(round(s_max / h)), mode == "difference")  # fmt: skip
    sk = _species_of_states(K) % 3
    merge = np.zeros((ns, 3))
    merge[np.arange(ns), sk] = 1.0
    bb = y[: ns * ns].reshape(ns, ns)
    return merge.T @ bb @ merge, merge.T @ y[ns * ns : ns * ns + ns], float(y[-1])


def class_step(lattice, one, p3, radius=CLASS_RADIUS, threshold=CLASS_THRESHOLD,
               mode="difference"):  # fmt: skip
    """``X, Y, nnXX, nnXY, nnYY`` after the sweep from the expected lattice ``one``
    after the events, by the classes of :func:`site_classes` of ``lattice``."""
    if mode not in MODES:
        raise ValueError(
            f"mode = {mode!r}: allowed " + ", ".join(repr(m) for m in MODES)
        )
    lab, K = site_classes(lattice, radius, threshold)
    b, n, _ = integrate_class_sweep(one, lab, K, p3, mode=mode)
    return np.array([n[1], n[2], b[1, 1] / 2.0, b[1, 2], b[2, 2] / 2.0])
