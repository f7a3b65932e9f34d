"""The step's expectation given a whole lattice (docs/hierarchy.md section 4).

:func:`.hierarchy.step_expectation` takes a lattice's statistics (counts, pairs,
triplets) and applies the events to them as if every empty site received a birth and
every Y died with the same probability. That is the uniform pick mode. With the
paper's nested picks (quirk Q3) a birth goes to a row chosen uniformly among the
rows with an empty site, then to a uniform empty site of it, and a death to a
uniform Y of a uniform row with a Y: the sites of sparse rows are hit more often.
Given the lattice, each site's probabilities are known, so the expected statistics
after the events are computed site by site on the *expected* lattice (each site a
distribution over empty / X / Y, sites treated as independent: exact in expectation
up to two events in one pattern, as for the uniform event matrix). Then the sweep
is integrated with its triplets evolved (:func:`._sweep3.integrate_sweep3`), the
four-site patterns measured on the same expected lattice. The closure's conditionals
are averages over the whole lattice, so far-apart parts change each other's
prediction (four lone X far from a block of X moved its predicted nnXX change by
+0.95 of -25.9, the simulation by 0.0); ``per_group=True`` integrates each group of
:func:`independent_groups` (molecules that cannot act on each other within the sweep)
on its own, exactly additive but less accurate where the groups are small
(docs/hierarchy.md section 4). ``events="sampled"`` replaces the independent sites
by the events' joint outcome drawn by the simulator's kernel, every 2-step path
starting the site sweeps from its empirical joint (:mod:`.step_events`, section 13).
"""

from __future__ import annotations

import numpy as np

from ..config import LatticeLV
from ._sweep3 import _DIRS, _shift, integrate_sweep3, start_ratios
from .exact_groups import _dilate
from .hierarchy import E, X, Y, unimolecular_per_step

__all__ = ["site_event_probabilities", "soft_statistics", "lattice_step_expectation"]


def site_event_probabilities(lattice: np.ndarray, config: LatticeLV):
    """Probability of a birth at each empty site and of a death of each Y in a step.

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
    config : LatticeLV

    Returns
    -------
    birth, death : ndarray, shape (L, L)
        ``E[births] / n_empty`` and ``E[deaths] / n_Y`` on every empty / Y site in the
        uniform pick mode; in the nested mode ``E[births] / (R_E e_r)`` with ``e_r``
        the empty sites of the site's row and ``R_E`` the rows with one (likewise for
        the Y). Zero elsewhere; at most 1.
    """
    g = np.asarray(lattice)
    N = g.size
    empty, ys = g == E, g == Y
    births, deaths = unimolecular_per_step(
        (g == X).sum(), ys.sum(), config.birth, config.death, config.dt, N
    )
    out = []
    for mask, total in ((empty, births), (ys, deaths)):
        if config.pick_mode == "nested_permutation":
            per_row = mask.sum(axis=1, keepdims=True)
            rows = np.count_nonzero(per_row)
            den = rows * np.where(per_row > 0, per_row, 1)
        else:
            den = np.full((g.shape[0], 1), mask.sum())
        p = np.where(mask, float(total) / np.maximum(den, 1), 0.0)
        out.append(np.clip(p, 0.0, 1.0))
    return out[0], out[1]


def soft_statistics(one: np.ndarray):
    """Counts, ordered bonds, triplets and four-site patterns of an expected lattice.

    Parameters
    ----------
    one : ndarray, shape (3, L, L)
        ``one[k]`` = probability that the site holds species k (a one-hot lattice
        gives the exact counts of :func:`.hierarchy.lattice_triplets` and
        :func:`._sweep3.lattice_quads`).

    Returns
    -------
    n : (3,), b : (3, 3), t : (3, 3, 3), path : (3, 3, 3, 3), star : (3, 3, 3, 3)
        Sums over sites of products of independent site distributions (distinct
        sites of each pattern).
    """
    one = np.asarray(one, dtype=np.float64)
    n = one.sum(axis=(1, 2))
    nb = {d: _shift(one, d) for d in _DIRS}
    b = sum(np.einsum("auv,buv->ab", one, nb[d]) for d in _DIRS)
    t = np.zeros((3, 3, 3))
    star = np.zeros((3,) * 4)
    for da in _DIRS:
        for dc in _DIRS:
            if dc == da:
                continue
            jac = np.einsum("juv,auv,cuv->jacuv", one, nb[da], nb[dc])
            t += np.einsum("jacuv->ajc", jac)
            for dx in _DIRS:
                if dx not in (da, dc):
                    star += np.einsum("jacuv,xuv->jacx", jac, nb[dx])
    path = np.zeros((3,) * 4)
    for d1 in _DIRS:
        for d2 in _DIRS:
            if d2 == (-d1[0], -d1[1]):
                continue
            c_ = _shift(one, (d1[0] + d2[0], d1[1] + d2[1]))
            abc = np.einsum("auv,buv,cuv->abcuv", one, nb[d1], c_)
            for d3 in _DIRS:
                if d3 != d1:
                    path += np.einsum("xuv,abcuv->xabc", nb[d3], abc)
    return n, b, t, path, star


#: Manhattan distance within which two molecules (or a molecule and a birth site) can
#: act on each other in one sweep or end it as neighbours (each moves at most once).
GROUP_RADIUS = 3


def independent_groups(lattice: np.ndarray, birth: np.ndarray):
    """Groups of sites whose sweeps are independent and whose bonds are additive.

    A molecule moves at most once per sweep, so molecules more than
    :data:`GROUP_RADIUS` apart (Manhattan) neither meet during the sweep nor end it
    as neighbours: the expected counts after the sweep are the sums over groups of
    the counts of a lattice holding only that group. Nodes are the molecules and the
    empty sites with a birth probability within the radius of a molecule; edges
    join a molecule to every node within the radius (two births near each other are
    second order, as in the event matrix). Births farther from every molecule are
    lone X.

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
    birth : ndarray, shape (L, L)
        Birth probability per site (:func:`site_event_probabilities`).

    Returns
    -------
    labels : ndarray of int64, shape (L, L)
        Group of each node, -1 elsewhere.
    sizes : ndarray of int64
        Nodes per group (lone molecules and lone births are groups of one).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    g = np.asarray(lattice)
    mol = g != E
    nodes = mol | ((np.asarray(birth) > 0.0) & ~mol)
    idx = -np.ones(g.shape, np.int64)
    idx[nodes] = np.arange(int(nodes.sum()))
    src, dst = [], []
    r = GROUP_RADIUS
    for dr in range(-r, r + 1):
        for dc in range(-(r - abs(dr)), r - abs(dr) + 1):
            if dr == 0 and dc == 0:
                continue
            other = np.roll(idx, (-dr, -dc), axis=(0, 1))  # node at site + (dr, dc)
            ok = mol & (other >= 0)
            src.append(idx[ok])
            dst.append(other[ok])
    m = int(nodes.sum())
    src = np.concatenate(src) if src else np.zeros(0, np.int64)
    dst = np.concatenate(dst) if dst else np.zeros(0, np.int64)
    adj = coo_matrix((np.ones(src.size), (src, dst)), shape=(m, m))
    k, labels = connected_components(adj, directed=False)
    lab = -np.ones(g.shape, np.int64)
    lab[nodes] = labels
    return lab, np.bincount(labels, minlength=k)


#: Values of ``closure_from`` (:func:`lattice_step_expectation`).
_CLOSURE_FROM = ("after events", "before events", "before deaths", "lone births out")
#: Values of ``sweep`` (:func:`lattice_step_expectation`): lattice-wide triplets
#: (:mod:`._sweep3`), or the lattice's own bonds / 2-step paths
#: (:mod:`.site_pairs`, :mod:`.site_triplets`), or the triplets by classes of
#: sites (:mod:`.regional`).
SWEEPS = ("triplets", "site pairs", "site triplets", "site plaquettes", "classes")
#: Values of ``events`` (:func:`lattice_step_expectation`): the expected lattice
#: with independent sites, or the events' joint drawn by the simulator's kernel
#: (:mod:`.step_events`).
EVENTS = ("independent", "sampled")
#: The sweep's order of moves (``order`` of :func:`lattice_step_expectation`).
ORDERS = ("uniform", "nested")


def lattice_step_expectation(
    lattices: np.ndarray,
    config: LatticeLV,
    per_group: bool = False,
    exact_groups: int = 0,
    closure_from: str = "after events",
    sweep: str = "triplets",
    events: str = "independent",
    draws: int = 4000,
    seed: int = 0,
    order: str = "uniform",
) -> np.ndarray:
    """Expected ``X, Y, nnXX, nnXY, nnYY`` after one simulator step from each lattice.

    The events site by site on the expected lattice (:func:`site_event_probabilities`,
    both pick modes), then the sweep with evolved triplets and measured four-site
    patterns (:func:`._sweep3.integrate_sweep3`). The sweep's own order is taken as
    uniform (quirk Q3 in the sweep order is neglected: measured below 3 SE on the
    paper's lattices, docs/hierarchy.md section 4).

    Parameters
    ----------
    lattices : ndarray of uint8, shape ``S + (L, L)``
    config : LatticeLV
        Rates, ``dt``, pick mode; ``birth_mode`` must be ``"global"``.
    per_group : bool
        Integrate the sweep once per group of :func:`independent_groups` with more
        than one node and add the results (a lone molecule or birth keeps its
        species and has no bond), instead of once for the whole lattice. Exactly
        additive over far-apart parts, but the closure is worse on small groups than
        on a well-mixed lattice (docs/hierarchy.md section 4), so off by default.
    exact_groups : int
        If positive, the molecules of the components of molecules within 4 sites
        (twice :data:`.exact_groups.MOVE_RADIUS`, so that no birth joins two of
        them) with at most this many molecules are computed exactly
        (:func:`.exact_groups.small_part_expectation`: each interaction group's
        sweep by recursion over its states, deaths enumerated, births near them to
        first order as discrete molecules); the rest, with the births within 3
        sites of it, is integrated as above (one integration). Exact (up to two
        births in one group) when every component is small; on denser lattices it
        removes the cancellations between the closure's errors on small and large
        clusters (docs/hierarchy.md section 4), so off by default. The recursion
        costs about 0.3 s for a group of 6 (cached by shape).
    closure_from : {"after events", "before events"}
        The lattice whose measured / closed four-site ratios are held through the
        sweep (:func:`._sweep3.start_ratios`): the expected lattice after the
        events (default: the start of the sweep exact in expectation), or the
        lattice before them (the molecules present, without the births' and
        deaths' fractional sites; the start's four-site patterns then closed).
        Measured in docs/hierarchy.md section 4.
    sweep : {"triplets", "site pairs", "site triplets", "site plaquettes"}
        The sweep's equations: lattice-wide counts with the triplets evolved
        (default, :func:`._sweep3.integrate_sweep3`), or every bond
        (:func:`.site_pairs.site_pair_sweep`) or every 2-step path
        (:func:`.site_triplets.site_triplet_sweep`) of the lattice with its own
        joint distribution, closed on the lattice's own sites (docs/hierarchy.md
        section 10; the latter about 20-100 s per 40 x 40 lattice), or the paths
        with the square's fourth corner closed from its four paths
        (:func:`.site_plaquettes.site_plaquette_sweep`, section 11, the
        one-step equations with the fewest closed terms; about 10 s), or
        ``"classes"``: the lattice-wide triplets resolved by classes of sites
        (:func:`.regional.class_step`, section 12). These take the whole expected
        lattice after the events (``per_group``,
        ``exact_groups`` and ``closure_from`` must keep their defaults).
    events : {"independent", "sampled"}
        The start of the sweep: the expected lattice after the events with
        independent sites (default; :func:`site_event_probabilities`), or the
        events' joint outcome drawn ``draws`` times by the simulator's own kernel
        (:func:`.step_events.sampled_paths`, stream ``seed``): every 2-step path
        starts from its empirical joint (docs/hierarchy.md section 13; only with
        ``sweep = "site triplets"`` or ``"site plaquettes"``). Monte Carlo: the
        expectation after the events has standard error ``sd / sqrt(draws)``.
    draws, seed : int
        Draws (>= 2) and seed of ``events = "sampled"``.
    order : {"uniform", "nested"}
        The sweep's order of moves: uniform (default), or the simulator's nested
        picks (a uniform row with a todo molecule, then a uniform todo molecule of
        it; quirk Q3 in the sweep): every todo molecule moves at the rate of its
        row's count (:func:`.site_plaquettes.row_rate`, docs/hierarchy.md section
        14; only with ``sweep = "site plaquettes"``). Independent of
        ``config.pick_mode``, which sets the events' picks.

    Returns
    -------
    ndarray, shape ``S + (5,)``
    """
    if config.birth_mode != "global":
        raise ValueError(
            f"birth_mode = {config.birth_mode!r} is not supported by the step's "
            "equations: allowed 'global'"
        )
    if closure_from not in _CLOSURE_FROM:
        raise ValueError(
            f"closure_from = {closure_from!r}: allowed "
            + ", ".join(repr(c) for c in _CLOSURE_FROM)
        )
    if sweep not in SWEEPS:
        raise ValueError(
            f"sweep = {sweep!r}: allowed " + ", ".join(repr(c) for c in SWEEPS)
        )
    if sweep != "triplets" and (
        per_group or exact_groups or closure_from != "after events"
    ):
        raise ValueError(
            f"sweep = {sweep!r} takes the whole lattice: per_group, exact_groups "
            "and closure_from must keep their defaults"
        )
    if events not in EVENTS:
        raise ValueError(
            f"events = {events!r}: allowed " + ", ".join(repr(c) for c in EVENTS)
        )
    if events == "sampled" and sweep not in ("site triplets", "site plaquettes"):
        raise ValueError(
            f"events = 'sampled' needs sweep = 'site triplets' or 'site "
            f"plaquettes', got sweep = {sweep!r}"
        )
    if order not in ORDERS:
        raise ValueError(
            f"order = {order!r}: allowed " + ", ".join(repr(c) for c in ORDERS)
        )
    if order != "uniform" and sweep != "site plaquettes":
        raise ValueError(
            f"order = {order!r} needs sweep = 'site plaquettes', got sweep = {sweep!r}"
        )
    if events == "sampled" and int(draws) < 2:
        raise ValueError(f"draws = {draws!r} is invalid: allowed an integer >= 2")
    lat = np.asarray(lattices)
    L = config.size
    if lat.shape[-2:] != (L, L):
        raise ValueError(f"lattices must have shape (..., {L}, {L}), got {lat.shape}")
    lead = lat.shape[:-2]
    flat = lat.reshape((-1, L, L))
    out = np.empty((flat.shape[0], 5))
    for i, g in enumerate(flat):
        pb, pd = site_event_probabilities(g, config)
        one = np.stack([g == E, g == X, g == Y]).astype(np.float64)
        one[E] += pd - pb
        one[X] += pb
        one[Y] -= pd
        if sweep == "classes":
            from .regional import class_step

            out[i] = class_step(g, one, config.predation)
            continue
        if events == "sampled":
            out[i] = _sampled_sweep(g, config, sweep, int(draws), seed, order, one)
            continue
        if sweep != "triplets":
            out[i] = _site_sweep(g, pb, one, config.predation, sweep, order)
            continue
        if exact_groups > 0:
            out[i] = _exact_split(g, pb, pd, one, config, int(exact_groups))
            continue
        if per_group:
            lab, sizes = independent_groups(g, pb)
        else:  # one group: every site
            lab, sizes = np.zeros(g.shape, np.int64), np.array([g.size])
        lone = (lab >= 0) & (sizes[np.maximum(lab, 0)] == 1)
        # a lone molecule or birth: no bond before or after the sweep
        total = np.zeros(5)
        total[:2] = one[X:, lone].sum(axis=1)
        if closure_from == "lone births out" and not per_group:
            far = (pb > 0.0) & ~_dilate(g != E, GROUP_RADIUS)
            total[0] += pb[far].sum()
            one = one.copy()
            one[E, far] += pb[far]
            one[X, far] -= pb[far]
        for j in np.flatnonzero(sizes > 1):
            nodes = lab == j
            soft = np.zeros_like(one)
            soft[E] = 1.0
            soft[:, nodes] = one[:, nodes]
            n, b, t, path, star = soft_statistics(soft)
            ratios = None
            if closure_from in ("before events", "before deaths"):
                hard = np.stack([g == E, g == X, g == Y]).astype(np.float64)
                if closure_from == "before deaths":
                    hard[E] -= pb
                    hard[X] += pb
                hard[:, ~nodes] = 0.0
                hard[E, ~nodes] = 1.0
                n0, b0, t0, path0, star0 = soft_statistics(hard)
                ratios = start_ratios(b0, n0, t0, path0, star0, config.n_sites)
            bb, nn, _ = integrate_sweep3(
                b, n, t, config.predation, config.n_sites, path, star, ratios
            )
            total += nn[X], nn[Y], bb[X, X] / 2.0, bb[X, Y], bb[Y, Y] / 2.0
        out[i] = total
    return out.reshape(lead + (5,))


def _site_runner(sweep: str):
    """The site-local sweep function of a ``sweep`` name other than "triplets"."""
    if sweep == "site pairs":
        from .site_pairs import site_pair_sweep

        return site_pair_sweep
    if sweep == "site plaquettes":
        from .site_plaquettes import site_plaquette_sweep

        return site_plaquette_sweep
    from .site_triplets import site_triplet_sweep

    return site_triplet_sweep


def _order_kw(order: str, one: np.ndarray) -> dict:
    """Keywords of the plaquette sweep for ``order``: the rows' counts from the whole
    expected lattice ``one`` (lone births included: they are in their rows)."""
    if order == "uniform":
        return {}
    from .site_plaquettes import row_counts

    return {"order": order, "rows": row_counts(one)}


def _site_sweep(
    g, pb, one: np.ndarray, p3: float, sweep: str, order: str = "uniform"
) -> np.ndarray:
    """``X, Y, nnXX, nnXY, nnYY`` after the sweep on the lattice's own sites.

    A birth more than :data:`GROUP_RADIUS` sites from every molecule ends the sweep
    as a lone X (no bond up to two births near each other, second order as in the
    events): counted and taken out of the integration, which it would only slow.
    """
    run = _site_runner(sweep)
    kw = _order_kw(order, one)
    far = (pb > 0.0) & ~_dilate(g != E, GROUP_RADIUS)
    one = one.copy()
    one[E, far] += pb[far]
    one[X, far] -= pb[far]
    n, b, _ = run(one, p3, **kw)
    return np.array([n[X] + pb[far].sum(), n[Y], b[X, X] / 2.0, b[X, Y], b[Y, Y] / 2.0])


def _sampled_sweep(
    g, config: LatticeLV, sweep: str, draws: int, seed, order="uniform", one=None
) -> np.ndarray:
    """``X, Y, nnXX, nnXY, nnYY`` after the sweep from the events' sampled joint
    (``one``: the expected lattice after the events, for the rows' counts of the
    nested order)."""
    from .step_events import sampled_paths

    run = _site_runner(sweep)
    far = (g == E) & ~_dilate(g != E, GROUP_RADIUS)
    es = sampled_paths(g, config, draws, seed, far)
    kw = _order_kw(order, one)
    n, b, _ = run(es.sites, config.predation, paths=es.paths, **kw)
    return np.array([n[X] + es.lone, n[Y], b[X, X] / 2.0, b[X, Y], b[Y, Y] / 2.0])


def _closure_part(one: np.ndarray, nodes: np.ndarray, config: LatticeLV) -> np.ndarray:
    """The triplet level's ``X, Y`` and ordered X/Y bonds of the ``nodes`` alone."""
    soft = np.zeros_like(one)
    soft[E] = 1.0
    soft[:, nodes] = one[:, nodes]
    n, b, t, path, star = soft_statistics(soft)
    bb, nn, _ = integrate_sweep3(b, n, t, config.predation, config.n_sites, path, star)
    return nn[X:], bb[X:, X:]


def _exact_split(g, pb, pd, one, config: LatticeLV, kmax: int) -> np.ndarray:
    """``lattice_step_expectation(..., exact_groups=kmax)`` of one lattice."""
    from .exact_groups import (
        MOVE_RADIUS,
        _dilate,
        interaction_groups,
        small_part_expectation,
    )

    lab, sizes = interaction_groups(g, 2 * MOVE_RADIUS)
    large = (lab >= 0) & (sizes[np.maximum(lab, 0)] > kmax)
    n = np.zeros(2)
    b = np.zeros((2, 2))
    if large.any():
        nodes = large | ((pb > 0.0) & _dilate(large, 3))
        n, b = _closure_part(one, nodes, config)
    n2, b2 = small_part_expectation(g, pb, pd, config.predation, large)
    n, b = n + n2, b + b2
    return np.array([n[0], n[1], b[0, 0] / 2.0, b[0, 1], b[1, 1] / 2.0])
