"""The sweep of small groups computed exactly (docs/hierarchy.md section 4).

A molecule moves at most once in a sweep, and its move's outcome depends only on the
state of the one site it picks. Two molecules more than :data:`MOVE_RADIUS` = 2
sites apart (Manhattan) can therefore never act on each other: neither can pick a
site the other holds, has left or is about to enter. The molecules fall into
*interaction groups* (edges: molecules within 2 sites), and, the order of a uniform
sweep restricted to disjoint sets being independent uniform orders, the groups'
sweeps are independent. A small group's sweep is a finite Markov chain (each step:
a uniform todo molecule picks one of 4 directions; hop, predation with ``p3`` or
stay, section 3), solved here by a forward recursion over its states
(:func:`group_sweep`): the exact distribution of its final configurations.

Between groups only the final bonds couple them: two molecules 3 sites apart can end
as neighbours. Independence makes those bonds the products of the molecules' final
position marginals. With ``rho`` the expected final occupation (per species and site,
summed over all molecules) the expected ordered bonds are exactly

    b = bonds(rho, rho) + sum over groups D_g,
    D_g = E[bonds within g] - bonds(rho_g, rho_g),

the second term replacing each group's product terms (self terms included) by its
exact joint ones (:func:`combine`).

Events (:func:`small_part_expectation`): each Y of a group dies independently with
its death probability (all subsets enumerated, exact), and a birth at an empty site
is taken to first order, ``E = (1 - sum p_s) f_0 + sum p_s f_s`` with ``f_s`` the
exact sweep with an extra todo X at ``s`` (merging the groups within 2 sites of
``s``), as the event matrix neglects two births in one pattern. The births are
discrete: they never enter a conditional probability.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MOVE_RADIUS",
    "bonds",
    "group_result",
    "group_sweep",
    "interaction_groups",
    "small_part_expectation",
]

#: Molecules farther apart than this (Manhattan) never act on each other in a sweep.
MOVE_RADIUS = 2
_DIRS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def group_sweep(sites, species, L: int, p3: float):
    """Exact distribution of a group's configuration after one uniform sweep.

    Parameters
    ----------
    sites : sequence of (row, col)
        The group's molecules (every other site of the lattice is empty).
    species : sequence of int
        1 (X) or 2 (Y) per molecule.
    L : int
        Lattice side (periodic).
    p3 : float
        Predation probability per X-Y collision.

    Returns
    -------
    dict
        ``{final configuration: probability}``, a configuration being a tuple of
        ``(site index r * L + c, species)`` per molecule, in the input order.

    Notes
    -----
    Step of the chain (the simulator's sweep, docs/hierarchy.md section 3): a todo
    molecule chosen uniformly picks a direction (1/4 each); an empty target: hop,
    done there; the opposite species (todo or done): with ``p3`` both become done Y
    in place (a todo partner loses its move), else the mover is done in place; the
    same species: done in place. States are layered by the number of todo
    molecules, which every step lowers.
    """
    n = len(sites)
    pos0 = tuple(int(r % L) * L + int(c % L) for r, c in sites)
    nbr = {}

    def neighbours(p):
        if p not in nbr:
            r, c = divmod(p, L)
            nbr[p] = tuple(((r + dr) % L) * L + (c + dc) % L for dr, dc in _DIRS)
        return nbr[p]

    start = (pos0, tuple(int(s) for s in species), (1 << n) - 1)
    layers = [dict() for _ in range(n + 1)]
    layers[n][start] = 1.0
    final: dict = {}
    for k in range(n, 0, -1):
        for (pos, spc, todo), pr in layers[k].items():
            occ = {p: i for i, p in enumerate(pos)}
            w_mol = pr / k
            for i in range(n):
                if not todo >> i & 1:
                    continue
                rest = todo & ~(1 << i)
                w = w_mol * 0.25
                for t in neighbours(pos[i]):
                    j = occ.get(t)
                    if j is None:  # free hop
                        nxt = [(pos[:i] + (t,) + pos[i + 1 :], spc, rest, w)]
                    elif spc[i] + spc[j] == 3:  # X-Y collision
                        eaten = tuple(
                            2 if m in (i, j) else s for m, s in enumerate(spc)
                        )
                        nxt = [
                            (pos, eaten, rest & ~(1 << j), w * p3),
                            (pos, spc, rest, w * (1.0 - p3)),
                        ]
                    else:  # blocked by the same species
                        nxt = [(pos, spc, rest, w)]
                    for p_, s_, td, ww in nxt:
                        if ww == 0.0:
                            continue
                        m = td.bit_count()
                        dest = layers[m] if m else final
                        key = (p_, s_, td) if m else tuple(zip(p_, s_, strict=True))
                        dest[key] = dest.get(key, 0.0) + ww
    if n == 0:
        return {(): 1.0}
    return final


def bonds(rho: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Ordered bonds ``b[a, b] = sum_site sum_dir rho[a, site] other[b, site + dir]``.

    Parameters
    ----------
    rho, other : ndarray, shape (2, L, L)
        Occupation of X (index 0) and Y (index 1); ``other`` defaults to ``rho``.

    Returns
    -------
    ndarray, shape (2, 2)
    """
    other = rho if other is None else other
    nsum = sum(np.roll(other, d, axis=(1, 2)) for d in _DIRS)
    return np.einsum("auv,buv->ab", rho, nsum)


def interaction_groups(lattice: np.ndarray, radius: int = MOVE_RADIUS):
    """Connected groups of molecules within ``radius`` (Manhattan, periodic).

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
    radius : int

    Returns
    -------
    labels : ndarray of int64, shape (L, L)
        Group of each molecule, -1 on empty sites.
    sizes : ndarray of int64
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = np.asarray(lattice)
    mol = g != 0
    idx = -np.ones(g.shape, np.int64)
    m = int(mol.sum())
    idx[mol] = np.arange(m)
    src, dst = [], []
    for dr in range(-radius, radius + 1):
        for dc in range(-(radius - abs(dr)), radius - abs(dr) + 1):
            if (dr, dc) == (0, 0):
                continue
            other = np.roll(idx, (-dr, -dc), axis=(0, 1))
            ok = mol & (other >= 0)
            src.append(idx[ok])
            dst.append(other[ok])
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    adj = coo_matrix((np.ones(src.size), (src, dst)), shape=(m, m))
    k, lab = connected_components(adj, directed=False)
    out = -np.ones(g.shape, np.int64)
    out[mol] = lab
    return out, np.bincount(lab, minlength=k)


#: Shape summaries by predation probability, shared by all lattices (process-wide).
_STORE: dict[float, dict] = {}


class _Cache:
    """Results of :func:`group_sweep` by shape (translation invariant)."""

    def __init__(self, L: int, p3: float):
        self.L, self.p3 = L, p3
        self.store = _STORE.setdefault(float(p3), {})

    def summary(self, sites, species):
        """Expected final occupation ``{(site, species): mass}`` (lattice
        coordinates), ordered X/Y bonds (2, 2) and counts (2,) of a group."""
        L = self.L
        r0, c0 = sites[0]
        h = L // 2
        rel = [(((r - r0 + h) % L) - h, ((c - c0 + h) % L) - h) for r, c in sites]
        key = tuple(sorted(zip(rel, (int(x) for x in species), strict=True)))
        hit = self.store.get(key)
        if hit is None:
            big = 4 * max(max(abs(r), abs(c)) for r, c in rel) + 8
            hb = big // 2
            d = group_sweep([k[0] for k in key], [k[1] for k in key], big, self.p3)
            occ: dict = {}
            b = np.zeros((2, 2))
            n = np.zeros(2)
            for cfg, p in d.items():
                b += p * _cfg_bonds(cfg, big)
                for q, sp in cfg:
                    occ[(q, sp)] = occ.get((q, sp), 0.0) + p
                    n[sp - 1] += p
            rows = []
            for (q, sp), m in occ.items():
                r, c = divmod(q, big)
                rows.append((((r + hb) % big) - hb, ((c + hb) % big) - hb, sp, m))
            hit = (rows, b, n)
            self.store[key] = hit
        rows, b, n = hit
        rho = {(((r0 + r) % L) * L + (c0 + c) % L, sp): m for r, c, sp, m in rows}
        return rho, b, n


def _nb(q: int, L: int):
    r, c = divmod(q, L)
    return (
        ((r + 1) % L) * L + c,
        ((r - 1) % L) * L + c,
        r * L + (c + 1) % L,
        r * L + (c - 1) % L,
    )


def _cfg_bonds(cfg, L: int) -> np.ndarray:
    """Ordered X/Y bonds of one configuration ``((site, species), ...)``."""
    occ = dict(cfg)
    b = np.zeros((2, 2))
    for q, s in cfg:
        for q2 in _nb(q, L):
            s2 = occ.get(q2)
            if s2:
                b[s - 1, s2 - 1] += 1.0
    return b


def _rho_bonds(r1: dict, r2: dict, L: int) -> np.ndarray:
    """``bonds`` of two sparse occupations ``{(site, species): mass}``."""
    b = np.zeros((2, 2))
    for (q, s), m in r1.items():
        for q2 in _nb(q, L):
            for s2 in (1, 2):
                m2 = r2.get((q2, s2))
                if m2:
                    b[s - 1, s2 - 1] += m * m2
    return b


def group_result(cache: _Cache, sites, species, pdeath):
    """A group's expected final occupation, its ``D`` and its expected counts.

    Every subset of its Y dies before the sweep with the product of the death
    probabilities ``pdeath`` (one per molecule, 0 for the X).

    Returns
    -------
    rho : dict ``{(site, species): mass}``
    d : ndarray (2, 2)
        ``E[bonds within the group] - bonds(rho, rho)``.
    n : ndarray (2,)
        Expected final X and Y.
    """
    L = cache.L
    ys = [i for i, p in enumerate(pdeath) if p > 0.0]
    rho: dict = {}
    intra = np.zeros((2, 2))
    n = np.zeros(2)
    for mask in range(1 << len(ys)):
        w = 1.0
        dead = set()
        for k, i in enumerate(ys):
            if mask >> k & 1:
                w *= pdeath[i]
                dead.add(i)
            else:
                w *= 1.0 - pdeath[i]
        keep = [i for i in range(len(sites)) if i not in dead]
        if w == 0.0 or not keep:
            continue
        r_, b_, n_ = cache.summary([sites[i] for i in keep], [species[i] for i in keep])
        intra += w * b_
        n += w * n_
        for key, m in r_.items():
            rho[key] = rho.get(key, 0.0) + w * m
    return rho, intra - _rho_bonds(rho, rho, L), n


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Sites within ``radius`` (Manhattan, periodic) of a True site."""
    out = np.zeros_like(mask)
    for dr in range(-radius, radius + 1):
        for dc in range(-(radius - abs(dr)), radius - abs(dr) + 1):
            out |= np.roll(mask, (dr, dc), axis=(0, 1))
    return out


def small_part_expectation(g, pb, pd, p3: float, large: np.ndarray):
    """Expected X, Y counts and ordered bonds after the step from the molecules
    outside ``large`` and the births farther than 3 sites from ``large`` (module
    notes): groups exact, deaths enumerated, births to first order.

    The caller keeps the molecules of ``large`` more than 4 sites from the others
    (so that no birth merges them) and integrates them, with the births within 3
    sites, by the closure; a birth within 3 sites of ``large`` and within 2 of a
    molecule outside it is left to the closure and its action on that molecule is
    neglected (first order in the births, rare).

    Parameters
    ----------
    g : ndarray of uint8, shape (L, L)
    pb, pd : ndarray, shape (L, L)
        Birth and death probabilities per site
        (:func:`.given_lattice.site_event_probabilities`).
    p3 : float
    large : ndarray of bool, shape (L, L)

    Returns
    -------
    n : ndarray (2,), b : ndarray (2, 2)
    """
    L = g.shape[0]
    cache = _Cache(L, p3)
    small = (g != 0) & ~large
    lab, _ = interaction_groups(np.where(small, g, 0), MOVE_RADIUS)
    flat_lab = lab.ravel()
    gf, pdf = g.ravel(), pd.ravel()
    members: dict[int, list[int]] = {}
    for q in np.flatnonzero(flat_lab >= 0):
        members.setdefault(int(flat_lab[q]), []).append(int(q))
    res = {}
    rho = np.zeros((2, L * L))
    n = np.zeros(2)
    d_tot = np.zeros((2, 2))

    def result(qs, extra=None):
        sites = [divmod(q, L) for q in qs]
        spc = [int(gf[q]) for q in qs]
        pde = [float(pdf[q]) if gf[q] == 2 else 0.0 for q in qs]
        if extra is not None:
            sites.append(divmod(extra, L))
            spc.append(1)
            pde.append(0.0)
        return group_result(cache, sites, spc, pde)

    for k, qs in members.items():
        r_, d_, n_ = result(qs)
        res[k] = (r_, d_, n_)
        for (q, s), m in r_.items():
            rho[s - 1, q] += m
        d_tot += d_
        n += n_
    b = bonds(rho.reshape(2, L, L)) + d_tot
    # births to first order
    near_large = _dilate(large, 3).ravel()
    offs = [
        (dr, dc)
        for dr in range(-MOVE_RADIUS, MOVE_RADIUS + 1)
        for dc in range(-(MOVE_RADIUS - abs(dr)), MOVE_RADIUS - abs(dr) + 1)
    ]
    pbf = pb.ravel()
    for s in np.flatnonzero((pbf > 0.0) & ~near_large):
        r0, c0 = divmod(int(s), L)
        ks = {int(flat_lab[((r0 + dr) % L) * L + (c0 + dc) % L]) for dr, dc in offs} - {
            -1
        }
        qs = [q for k in sorted(ks) for q in members[k]]
        r_, d_, n_ = result(qs, int(s))
        delta = dict(r_)
        db = d_.copy()
        dn = n_.copy()
        for k in ks:
            for key, m in res[k][0].items():
                delta[key] = delta.get(key, 0.0) - m
            db -= res[k][1]
            dn -= res[k][2]
        cross = np.zeros((2, 2))
        for (q, sp), m in delta.items():
            if m == 0.0:
                continue
            cross[:, sp - 1] += m * rho[:, list(_nb(q, L))].sum(axis=1)
        db += cross + cross.T + _rho_bonds(delta, delta, L)
        w = float(pbf[s])
        b += w * db
        n += w * dn
    return n, b
