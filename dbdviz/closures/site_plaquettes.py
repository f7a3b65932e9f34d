"""The site triplets with the square's four-site closure, fast kernel
(docs/hierarchy.md section 11).

:mod:`.site_triplets` evolves every 2-step path of the lattice with its own joint
distribution (125 states) and closes the outside neighbour of a path site on the
lattice's own paths. The one closure that meets a loop is the fourth corner ``x``
of a bent path ``a - b - c`` (the square ``a, b, c, x``): there it took ``P(x | a,
c)`` from the opposite path ``a - x - c`` and dropped the centre ``b`` (two diagonal
X ended adjacent with 0.136 against the exact 1/8). Here the fourth corner is
closed from all four 3-site paths of the square (each evolved site-locally), the
Kirkwood superposition at the four-site level,

    P(x | a, b, c) ~ P(x | a, b) P(x | c, b) P(x | a, c) P(x)
                     / (P(x | a) P(x | b) P(x | c)),

``P(x | b)`` the diagonal pair through ``a``. It is exact whenever the sites are
independent (the start of the sweep, known lattice or expected lattice after the
events), so a measured / closed ratio of the start's plaquettes would be 1 on every
plaquette: what is closed is only the four-site correlation the moves build within
the sweep. On isolated clusters it matches the exact recursion of
:mod:`.exact_groups` to 3e-3 where the opposite path was 0.03 off (two diagonal X
0.1250, a ring of four X around a site 0.855 against 0.853 exact, 0.881 before).

The kernel sums each site's outside conditionals over directions before it moves
any mass (a mover's outcome depends only on the outside site's state class: empty,
opposite species, other), reads the ends' conditionals from tables made once per
evaluation, and skips the paths with no todo molecule within one site: the same
equations as :func:`.site_triplets._deriv` (tested to 1e-12 on random joint
distributions), about 4 times fewer operations per path state.

``order="nested"`` (docs/hierarchy.md section 14): the simulator's nested picks
choose a uniform row holding a todo molecule, then a uniform todo molecule of it,
so a todo molecule moves at rate ``1 / c`` (``c`` its row's todo count) instead of
1. Every rate of the kernel then carries the mover's site rate ``lam``: the exact
hazard of a row of ``n`` molecules drained by its own picks,
:func:`row_rate` ``= P(N < n) / E[(n - N)^+]``, ``N ~ Poisson(s)``, with ``n`` from
:func:`row_counts`. All rates 1 is the uniform order (the default).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from .site_triplets import (
    _KIDX,
    PAIRS,
    _tables,
    start_paths,
    sweep_grid,
)

__all__ = ["row_counts", "row_rate", "site_plaquette_sweep"]

_NS = 5
_THR = 1e-9
#: Paths with less todo mass on their sites and their sites' neighbours are at rest.
_REST = 1e-13
#: End of the sweep time: todo mass e^-12 per molecule left (the grid to 16 changes
#: the counts and bonds of 40 x 40 lattices by < 1e-4; steps of 1/2 from s = 0
#: diverge on dense paper lattices).
S_MAX = 12.0
#: A path state below minus this after the sweep marks an unstable RK4 step: the
#: default grid is then redone with steps of 1/8 up to s = 4, 1/4 after (seen from
#: a sampled start of the events, 1 lattice of 24: mass -86 against 0 with the finer
#: grid, whose predations equal the product start's to 2e-5; section 13).
NEG_MASS = 1e-3


@jit
def _prep(Q, nb, od, CE, PX, ES, ESL, PS, DG, PT, lam):
    """Tables of one evaluation: the conditionals of :func:`.site_triplets._tables`,
    the ends' outside conditionals summed over their directions other than the
    square's fourth corner ``ES[b, k, end, i, j, z]`` (end 0: ``a`` in state ``i``,
    1: ``c``; centre in state ``j``), the same weighted by the move rate ``lam`` of
    the outside site ``ESL`` (the rate at which an outside todo molecule moves in),
    site marginals ``PS``, diagonal joints
    ``DG[a, e1, e2, s1, z] = P(nb[a, e1] = s1, nb[a, e2] = z)`` and the todo mass
    within one site of every path ``PT[b, k]``."""
    _tables(Q, nb, CE, PX)
    n = Q.shape[0]
    PS[:] = 0.0
    for s in range(n):
        for x in range(_NS):
            for y in range(_NS):
                for z in range(_NS):
                    PS[s, y] += Q[s, 0, x, y, z]
    todo = PS[:, 1] + PS[:, 2]
    for a in range(n):
        for e1 in range(4):
            for e2 in range(4):
                if e1 == e2:
                    continue
                k = _KIDX[e1, e2]
                for s1 in range(_NS):
                    for z in range(_NS):
                        v = 0.0
                        for y in range(_NS):
                            v += Q[a, k, s1, y, z] if e1 < e2 else Q[a, k, z, y, s1]
                        DG[a, e1, e2, s1, z] = v
    ES[:] = 0.0
    ESL[:] = 0.0
    for b in range(n):
        for k in range(6):
            da = PAIRS[k, 0]
            dc = PAIRS[k, 1]
            bent = od[da] != dc
            for end in range(2):
                d = da if end == 0 else dc
                s = nb[b, d]
                back = od[d]
                fourth = (dc if end == 0 else da) if bent else -1
                for e in range(4):
                    if e == back or e == fourth:
                        continue
                    le = lam[nb[s, e]]
                    for i in range(_NS):
                        for j in range(_NS):
                            for z in range(_NS):
                                v = CE[s, e, back, i, j, z]
                                ES[b, k, end, i, j, z] += v
                                ESL[b, k, end, i, j, z] += le * v
            m = todo[b]
            for s in (nb[b, da], b, nb[b, dc]):
                m += todo[s]
                for e in range(4):
                    m += todo[nb[s, e]]
            PT[b, k] = m


@jit
def _fourth(Q, nb, od, CE, PX, PS, DG, b, da, dc, i, j, l, plaq, cz):
    """Closed distribution ``cz`` of the fourth corner ``x`` of the bent path
    ``(b, da, dc)`` in state ``(i, j, l)`` (module notes; ``plaq`` False: the
    opposite path alone, as :mod:`.site_triplets`)."""
    a = nb[b, da]
    c = nb[b, dc]
    x = nb[a, dc]
    ea = od[dc]  # from x to a
    ec = od[da]  # from x to c
    k = _KIDX[ea, ec]
    tot = 0.0
    if plaq:
        tb = 0.0
        for z in range(_NS):
            tb += DG[a, od[da], dc, j, z]
        for z in range(_NS):
            oac = Q[x, k, i, z, l] if ea < ec else Q[x, k, l, z, i]
            num = CE[a, dc, od[da], i, j, z] * CE[c, da, od[dc], l, j, z]
            den = PX[a, dc, i, z] * PX[c, da, l, z] * DG[a, od[da], dc, j, z]
            v = 0.0
            if oac > 0.0 and num > 0.0 and den > 1e-300:
                v = oac * num * PS[x, z] * tb / den
            cz[z] = v
            tot += v
    if tot <= 1e-300:
        tot = 0.0
        for z in range(_NS):
            cz[z] = Q[x, k, i, z, l] if ea < ec else Q[x, k, l, z, i]
            tot += cz[z]
    for z in range(_NS):
        cz[z] = cz[z] / tot if tot > 1e-300 else 0.0


@jit
def _move(Qf, dQ, b, k, idx, stride, sp, new, w):
    dQ[b, k, idx] -= w
    dQ[b, k, idx + (new - sp) * stride] += w


@jit
def _deriv(Q, p3, nb, od, CE, PX, ES, ESL, PS, DG, PT, dQ, plaq, lam):
    """``dQ = dQ/ds`` (flat states ``dQ[b, k, 25 i + 5 j + l]``); a todo molecule
    at site ``s`` moves at rate ``lam[s]`` (1 everywhere: the uniform order)."""
    _prep(Q, nb, od, CE, PX, ES, ESL, PS, DG, PT, lam)
    n = Q.shape[0]
    Qf = Q.reshape((n, 6, 125))
    dQ[:] = 0.0
    S = np.zeros((3, _NS))
    SL = np.zeros((3, _NS))
    ls = np.zeros(3)
    cz = np.zeros(_NS)
    st = np.zeros(3, np.int64)
    strides = np.array([25, 5, 1], np.int64)
    for b in range(n):
        for k in range(6):
            if PT[b, k] <= _REST:
                continue
            da = PAIRS[k, 0]
            dc = PAIRS[k, 1]
            bent = od[da] != dc
            e1 = -1
            e2 = -1
            for e in range(4):
                if e != da and e != dc:
                    if e1 < 0:
                        e1 = e
                    else:
                        e2 = e
            ls[0] = lam[nb[b, da]]
            ls[1] = lam[b]
            ls[2] = lam[nb[b, dc]]
            lx = lam[nb[nb[b, da], dc]] if bent else 0.0
            for idx in range(125):
                T = Qf[b, k, idx]
                if T <= _THR:
                    continue
                i = idx // 25
                j = (idx // 5) % 5
                l = idx % 5
                st[0] = i
                st[1] = j
                st[2] = l
                for z in range(_NS):
                    S[0, z] = ES[b, k, 0, i, j, z]
                    S[2, z] = ES[b, k, 1, l, j, z]
                    S[1, z] = 0.0
                    SL[0, z] = ESL[b, k, 0, i, j, z]
                    SL[2, z] = ESL[b, k, 1, l, j, z]
                    SL[1, z] = 0.0
                if bent:
                    _fourth(Q, nb, od, CE, PX, PS, DG, b, da, dc, i, j, l, plaq, cz)
                    for z in range(_NS):
                        S[0, z] += cz[z]
                        S[2, z] += cz[z]
                        SL[0, z] += lx * cz[z]
                        SL[2, z] += lx * cz[z]
                for e in (e1, e2):
                    tot = 0.0
                    for z in range(_NS):
                        m = PX[b, e, j, z]
                        v = CE[b, e, da, j, i, z] * CE[b, e, dc, j, l, z]
                        cz[z] = v / m if m > 1e-300 else 0.0
                        tot += cz[z]
                    if tot > 1e-300:
                        le = lam[nb[b, e]]
                        for z in range(_NS):
                            S[1, z] += cz[z] / tot
                            SL[1, z] += le * cz[z] / tot
                for p in range(3):
                    w0 = 0.25 * T * ls[p]
                    sp = st[p]
                    sd = strides[p]
                    if sp == 1 or sp == 2:
                        done = sp + 2
                        so = S[p, 0] + S[p, 1] + S[p, 2] + S[p, 3] + S[p, 4]
                        opp = S[p, 2] + S[p, 4] if sp == 1 else S[p, 1] + S[p, 3]
                        if S[p, 0] > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, sp, 0, w0 * S[p, 0])
                        if opp > 0.0 and p3 > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, sp, 4, w0 * p3 * opp)
                        rest = so - S[p, 0] - p3 * opp
                        if rest > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, sp, done, w0 * rest)
                        # its moves inside the path
                        for p2 in (p - 1, p + 1):
                            if p2 < 0 or p2 > 2:
                                continue
                            q = st[p2]
                            sd2 = strides[p2]
                            if q == 0:
                                dQ[b, k, idx] -= w0
                                dQ[b, k, idx - sp * sd + done * sd2] += w0
                            elif (sp == 1 and (q == 2 or q == 4)) or (
                                sp == 2 and (q == 1 or q == 3)
                            ):
                                w = w0 * p3
                                dQ[b, k, idx] -= w
                                dQ[b, k, idx + (4 - sp) * sd + (4 - q) * sd2] += w
                                _move(Qf, dQ, b, k, idx, sd, sp, done, w0 - w)
                            else:
                                _move(Qf, dQ, b, k, idx, sd, sp, done, w0)
                    # an outside todo molecule moves into site p (at its own rate)
                    wi = 0.25 * T
                    if sp == 0:
                        if SL[p, 1] > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, 0, 3, wi * SL[p, 1])
                        if SL[p, 2] > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, 0, 4, wi * SL[p, 2])
                    elif p3 > 0.0:
                        if sp == 1 or sp == 3:
                            if SL[p, 2] > 0.0:
                                _move(Qf, dQ, b, k, idx, sd, sp, 4, wi * p3 * SL[p, 2])
                        elif sp == 2 and SL[p, 1] > 0.0:
                            _move(Qf, dQ, b, k, idx, sd, sp, 4, wi * p3 * SL[p, 1])


@jit
def _predation_rate_l(Q, p3, nb, lam):
    """Expected predations per unit sweep time from the bonds of the straight paths,
    each todo end of an X-Y bond at its own move rate ``lam`` (all 1: the uniform
    order, :func:`.site_triplets._predation_rate`)."""
    r = 0.0
    for b in range(Q.shape[0]):
        for k in (0, 5):
            a = nb[b, PAIRS[k, 0]]
            for i in range(_NS):
                for j in range(_NS):
                    si = i if i < 3 else i - 2
                    sj = j if j < 3 else j - 2
                    if si + sj == 3 and (i == 1 or i == 2 or j == 1 or j == 2):
                        m = 0.0
                        for l in range(_NS):
                            m += Q[b, k, i, j, l]
                        ta = lam[a] * (i == 1 or i == 2)
                        tb = lam[b] * (j == 1 or j == 2)
                        r += m * (ta + tb)
    return 0.25 * p3 * r


@jit
def _integrate(Q0, p3, nb, od, hs, plaq, lams):
    """RK4 over the steps ``hs``; ``lams[t, u]`` the sites' move rates at the start
    (u = 0), middle (1) and end (2) of step ``t``."""
    n = Q0.shape[0]
    Q = Q0.copy()
    ks = np.zeros((4, n, 6, 125))
    CE = np.zeros((n, 4, 4, _NS, _NS, _NS))
    PX = np.zeros((n, 4, _NS, _NS))
    ES = np.zeros((n, 6, 2, _NS, _NS, _NS))
    ESL = np.zeros((n, 6, 2, _NS, _NS, _NS))
    PS = np.zeros((n, _NS))
    DG = np.zeros((n, 4, 4, _NS, _NS))
    PT = np.zeros((n, 6))
    q = np.empty_like(Q)
    pred = 0.0
    cf = (0.0, 0.5, 0.5, 1.0)
    wt = (1.0, 2.0, 2.0, 1.0)
    at = (0, 1, 1, 2)
    for t in range(hs.shape[0]):
        h = hs[t]
        r = 0.0
        for s in range(4):
            if s == 0:
                q[:] = Q
            else:
                q[:] = Q + cf[s] * h * ks[s - 1].reshape(Q.shape)
            lam = lams[t, at[s]]
            r += wt[s] * _predation_rate_l(q, p3, nb, lam)
            _deriv(q, p3, nb, od, CE, PX, ES, ESL, PS, DG, PT, ks[s], plaq, lam)
        Q += (h / 6.0 * (ks[0] + 2.0 * ks[1] + 2.0 * ks[2] + ks[3])).reshape(Q.shape)
        pred += h / 6.0 * r
    return Q, pred


def row_rate(n, s):
    """Move rate at sweep time ``s`` of a todo molecule whose row holds ``n``
    molecules at the start of the sweep, nested picks (module notes): ``P(N < n) /
    E[(n - N)^+]``, ``N ~ Poisson(s)`` the row's picks so far; linear in ``n``
    between integers, 1 for ``n <= 1``."""
    n = np.maximum(np.asarray(n, dtype=np.float64), 1.0)
    s = float(s)
    top = int(np.ceil(n.max()))
    m = np.arange(top)
    logp = -s + m * np.log(s) - np.cumsum(np.log(np.maximum(m, 1))) if s > 0 else None
    pois = np.exp(logp) if s > 0 else (m == 0).astype(np.float64)
    ks = np.arange(1, top + 1)
    cdf = np.cumsum(pois)  # P(N <= k - 1) for k = 1..top
    ex = np.array([((k - m[:k]) * pois[:k]).sum() for k in ks])  # E[(k - N)^+]
    lam_k = np.where(ex > 1e-300, cdf / np.maximum(ex, 1e-300), 1.0)
    lo = np.floor(n).astype(np.int64)
    hi = np.minimum(lo + 1, top)
    f = n - lo
    return (1.0 - f) * lam_k[lo - 1] + f * lam_k[hi - 1]


def row_counts(one: np.ndarray) -> np.ndarray:
    """Per site: 1 plus the expected molecules of the *other* sites of its row at
    the start of the sweep (the row count a todo molecule there sees, nested picks)."""
    occ = one[1] + one[2]
    return 1.0 + occ.sum(axis=1, keepdims=True) - occ


def _rates(hs, rows):
    """``lams[t, u, site]`` of :func:`_integrate` (all 1 if ``rows`` is None)."""
    n = rows.size if rows is not None else 0
    if rows is None:
        return None
    t0 = np.concatenate([[0.0], np.cumsum(hs)[:-1]])
    flat = rows.reshape(-1)
    out = np.empty((hs.size, 3, n))
    for t, (s, h) in enumerate(zip(t0, hs, strict=True)):
        for u, ds in enumerate((0.0, 0.5 * h, h)):
            out[t, u] = row_rate(flat, s + ds)
    return out


def nested_grid(rows: np.ndarray, h: float = 0.25, h2: float = 0.5) -> np.ndarray:
    """RK4 steps for the nested order: ``h`` up to ``s = 4``, ``h2`` up to
    :data:`S_MAX`, then steps of 1 until the largest row has todo mass below
    about ``e^-12`` per molecule (``s = n + 6 sqrt(n) + 6``)."""
    nmax = float(np.max(rows))
    s_end = max(S_MAX, np.ceil(nmax + 6.0 * np.sqrt(nmax) + 6.0))
    return np.concatenate([sweep_grid(h=h, h2=h2, s_max=S_MAX),
                           np.ones(int(s_end - S_MAX))])  # fmt: skip


def site_plaquette_sweep(
    one: np.ndarray,
    p3: float,
    hs=None,
    plaquettes: bool = True,
    paths: np.ndarray | None = None,
    order: str = "uniform",
    rows: np.ndarray | None = None,
):
    """Expected counts and ordered bonds after one sweep, the lattice's paths evolved
    with the square's four-site closure (module notes).

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        Probability of empty / X / Y per site at the start of the sweep (a one-hot
        lattice, or the expected lattice after the events); sites independent.
    p3 : float
        Predation probability per X-Y collision.
    hs : ndarray, optional
        RK4 steps in sweep time (default: 1/4 up to ``s = 4``, 1/2 up to
        :data:`S_MAX`, and for ``order = "nested"`` steps of 1 until the fullest
        row is done; redone at 1/8 and 1/4 if a path state ends below
        ``-NEG_MASS``).
    plaquettes : bool
        Close the square's fourth corner from its four paths (default), else from
        the opposite path alone (the equations of :mod:`.site_triplets`).
    paths : ndarray, shape (L * L, 6, 5, 5, 5), optional
        Start joint of every 2-step path (:func:`.site_triplets.start_paths`), e.g.
        the events' sampled joint (:func:`.step_events.sampled_paths`; ``one`` its
        site marginals); default the product of the independent sites ``one``.
    order : {"uniform", "nested"}
        The sweep's order of moves: uniform picks (every todo molecule at rate 1,
        default), or the simulator's nested picks (a uniform row with a todo
        molecule, then a uniform todo molecule of it: a todo molecule moves at
        :func:`row_rate` of its row's count, docs/hierarchy.md section 14).
    rows : ndarray, shape (L, L), optional
        With ``order = "nested"``: the row count each site's molecule sees
        (default :func:`row_counts` of ``one``; pass it when ``one`` leaves out
        molecules that are still in the rows, e.g. lone births).

    Returns
    -------
    n : ndarray (3,)
        Expected empty, X, Y sites after the sweep.
    b : ndarray (3, 3)
        Expected ordered bonds (species).
    predations : float
    """
    if order not in ("uniform", "nested"):
        raise ValueError(f"order = {order!r}: allowed 'uniform', 'nested'")
    nb, od, Q = start_paths(one, paths)
    if order == "nested" and rows is None:
        rows = row_counts(np.asarray(one, dtype=np.float64))
    rows = None if order == "uniform" else np.asarray(rows, dtype=np.float64)
    grid = hs is None

    def steps(h, h2):
        if rows is None:
            return sweep_grid(h=h, h2=h2, s_max=S_MAX)
        return nested_grid(rows, h, h2)

    hs = steps(0.25, 0.5) if grid else np.asarray(hs, dtype=np.float64)
    Q0 = np.ascontiguousarray(Q)

    def run(hs):
        lams = _rates(hs, rows)
        if lams is None:
            lams = np.ones((hs.size, 3, Q0.shape[0]))
        return _integrate(Q0, float(p3), nb, od, hs, plaquettes, lams)

    Q, pred = run(hs)
    if grid and Q.min() < -NEG_MASS:  # unstable at steps of 1/4: halve them to s = 4
        Q, pred = run(steps(0.125, 0.25))
    merge = np.zeros((_NS, 3))
    merge[np.arange(_NS), [0, 1, 2, 1, 2]] = 1.0
    down = Q[:, 0].sum(axis=3)  # [s, down state, centre state]
    right = Q[:, 5].sum(axis=3)
    pair = (down + right).sum(axis=0).T  # [centre, neighbour]
    pair = pair + pair.T
    n = one.reshape(3, -1).sum(axis=1) + np.array([0.0, -pred, pred])
    return n, merge.T @ pair @ merge, float(pred)
