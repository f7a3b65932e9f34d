"""The sweep on the lattice's own bonds and 2-step paths (dbdviz/closures/site_pairs.py,
site_triplets.py, site_plaquettes.py; docs/hierarchy.md sections 10 and 11)."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.closures import site_pairs as sp
from dbdviz.closures import site_plaquettes as spq
from dbdviz.closures import site_triplets as st
from dbdviz.closures.exact_groups import _cfg_bonds, group_sweep
from dbdviz.closures.given_lattice import lattice_step_expectation
from dbdviz.config import preset

L = 8


def _moves(s0: np.ndarray, nb: np.ndarray, p3: float, lam=None):
    """Every (weight, new lattice) of the next move from the 5-state lattice ``s0``
    (flat), weights per unit sweep time (section 3's table); ``lam``: each mover's
    rate by its site (default 1 everywhere, the uniform order)."""
    for a in np.flatnonzero((s0 == 1) | (s0 == 2)):
        m = s0[a]
        for d in range(4):
            t = nb[a, d]
            q = s0[t]
            if q == 0:
                outs = [(0.25, 0, m + 2)]
            elif (m == 1 and q in (2, 4)) or (m == 2 and q in (1, 3)):
                outs = [(0.25 * p3, 4, 4), (0.25 * (1 - p3), m + 2, q)]
            else:
                outs = [(0.25, m + 2, q)]
            for w, a2, q2 in outs:
                s = s0.copy()
                s[a], s[t] = a2, q2
                yield (1.0 if lam is None else lam[a]) * w, s


def _paths(s: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """Indicator of the state of every 2-step path of a 5-state lattice."""
    Q = np.zeros((s.size, 6, 5, 5, 5))
    for k, (da, dc) in enumerate(st.PAIRS):
        Q[np.arange(s.size), k, s[nb[:, da]], s, s[nb[:, dc]]] = 1.0
    return Q


def _bonds(s: np.ndarray, nb: np.ndarray) -> np.ndarray:
    P = np.zeros((s.size, 4, 5, 5))
    for d in range(4):
        P[np.arange(s.size), d, s, s[nb[:, d]]] = 1.0
    return P


@pytest.mark.parametrize("p3", [0.0, 0.3, 1.0])
def test_site_rates_equal_one_move_enumeration(p3):
    """At a known lattice (every site a point mass) the closures are exact, so the
    rates of every bond and every 2-step path equal the sum over every todo
    molecule, direction and outcome of the change of its indicator."""
    rng = np.random.default_rng(11)
    nb, od, _ = st.neighbour_table(6)
    n = nb.shape[0]
    for _ in range(2):
        s0 = rng.choice(5, size=n, p=[0.35, 0.2, 0.2, 0.15, 0.1])
        Q0, P0 = _paths(s0, nb), _bonds(s0, nb)
        p0 = np.eye(5)[s0]
        dQe = np.zeros_like(Q0)
        dPe = np.zeros_like(P0)
        dpe = np.zeros_like(p0)
        for w, s in _moves(s0, nb, p3):
            dQe += w * (_paths(s, nb) - Q0)
            dPe += w * (_bonds(s, nb) - P0)
            dpe += w * (np.eye(5)[s] - p0)
        dQ = np.zeros_like(Q0)
        CE, PX = np.zeros((n, 4, 4, 5, 5, 5)), np.zeros((n, 4, 5, 5))
        st._deriv(Q0, p3, nb, od, CE, PX, dQ)
        np.testing.assert_allclose(dQ, dQe, atol=1e-12)
        for plaq in (False, True):
            dQf = _fast_deriv(Q0, p3, nb, od, plaq)
            np.testing.assert_allclose(dQf.reshape(dQe.shape), dQe, atol=1e-12)
        dP, dp = np.zeros_like(P0), np.zeros_like(p0)
        sp._deriv(P0, p0, p3, nb, od, dP, dp)
        np.testing.assert_allclose(dP, dPe, atol=1e-12)
        np.testing.assert_allclose(dp, dpe, atol=1e-12)
        # the predation rate: X-Y bonds with a todo end, per todo end p3 / 4
        pred = sum(
            0.25 * p3
            for a in range(n)
            for d in range(4)
            if s0[a] in (1, 2) and {s0[a] % 2, s0[nb[a, d]] % 2} == {0, 1}
            if s0[nb[a, d]] != 0
        )
        assert st._predation_rate(Q0, p3) == pytest.approx(pred, abs=1e-12)


def _fast_deriv(Q, p3, nb, od, plaq, lam=None):
    n = Q.shape[0]
    lam = np.ones(n) if lam is None else lam
    out = np.zeros((n, 6, 125))
    spq._deriv(np.ascontiguousarray(Q), p3, nb, od, np.zeros((n, 4, 4, 5, 5, 5)),
               np.zeros((n, 4, 5, 5)), np.zeros((n, 6, 2, 5, 5, 5)),
               np.zeros((n, 6, 2, 5, 5, 5)), np.zeros((n, 5)),
               np.zeros((n, 4, 4, 5, 5)), np.zeros((n, 6)), out, plaq, lam)  # fmt: skip
    return out


@pytest.mark.parametrize("plaq", [False, True])
def test_fast_kernel_equals_the_reference_kernel(plaq):
    """site_plaquettes._deriv (directions summed before moving mass, tables per
    evaluation, paths at rest skipped) gives the derivative of
    site_triplets._deriv with the same closure, on correlated joint distributions
    (random site distributions evolved by the reference kernel), to 1e-12."""
    rng = np.random.default_rng(3)
    nb, od, _ = st.neighbour_table(6)
    n = nb.shape[0]
    for p3 in (0.0, 0.3, 1.0):
        p = rng.dirichlet(np.full(5, 0.7), size=n)
        p[:4] = np.eye(5)[0]  # a few sites at rest
        Q = np.einsum("skx,sy,skz->skxyz", p[nb[:, st.PAIRS[:, 0]]], p,
                      p[nb[:, st.PAIRS[:, 1]]])  # fmt: skip
        Q, _ = st._integrate(np.ascontiguousarray(Q), p3, nb, od, np.full(4, 0.25),
                             plaq)  # fmt: skip
        dQ = np.zeros_like(Q)
        CE, PX = np.zeros((n, 4, 4, 5, 5, 5)), np.zeros((n, 4, 5, 5))
        st._deriv(Q, p3, nb, od, CE, PX, dQ, plaq)
        assert np.abs(dQ).max() > 0.1
        np.testing.assert_allclose(
            _fast_deriv(Q, p3, nb, od, plaq), dQ.reshape(n, 6, 125), atol=1e-12
        )


CLUSTERS = {
    "XX": ([(3, 3), (3, 4)], [1, 1]),
    "X0X": ([(3, 3), (3, 5)], [1, 1]),
    "diag": ([(3, 3), (4, 4)], [1, 1]),
    "line": ([(3, 3), (3, 4), (3, 5)], [1, 1, 1]),
    "L": ([(3, 3), (3, 4), (4, 3)], [1, 1, 1]),
    "square": ([(3, 3), (3, 4), (4, 3), (4, 4)], [1, 1, 1, 1]),
    "XY": ([(3, 3), (3, 4)], [1, 2]),
    "XYX": ([(3, 3), (3, 4), (3, 5)], [1, 2, 1]),
    "XXY": ([(3, 3), (3, 4), (4, 4)], [1, 1, 2]),
}
#: Clusters around a 2 x 2 plaquette (section 11).
PLAQUETTES = {
    "diag": CLUSTERS["diag"],
    "square": CLUSTERS["square"],
    "L": CLUSTERS["L"],
    "ring": ([(2, 3), (3, 2), (3, 4), (4, 3)], [1, 1, 1, 1]),
    "T": ([(3, 3), (3, 4), (3, 5), (4, 4)], [1, 1, 1, 1]),
    "diagXY": ([(3, 3), (4, 4)], [1, 2]),
    "square XY": ([(3, 3), (3, 4), (4, 3), (4, 4)], [1, 2, 2, 1]),
    "square 3Y": ([(3, 3), (3, 4), (4, 3), (4, 4)], [2, 2, 2, 1]),
    "ring XY": ([(2, 3), (3, 2), (3, 4), (4, 3)], [1, 2, 1, 2]),
}


def _exact(sites, species, p3):
    d = group_sweep(sites, species, L, p3)
    b = sum(p * _cfg_bonds(c, L) for c, p in d.items())
    n = sum(p * np.bincount([s for _, s in c], minlength=3)[1:] for c, p in d.items())
    return np.array([n[0], n[1], b[0, 0] / 2, b[0, 1], b[1, 1] / 2])


def _site(run, sites, species, p3):
    one = np.zeros((3, L, L))
    one[0] = 1.0
    for (r, c), x in zip(sites, species, strict=True):
        one[0, r, c], one[x, r, c] = 0.0, 1.0
    n, b, pred = run(one, p3)
    assert n[2] - species.count(2) == pytest.approx(pred, abs=1e-9)
    return np.array([n[1], n[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2])


@pytest.mark.parametrize("name", list(CLUSTERS))
def test_small_clusters_against_the_exact_sweep(name):
    """Isolated small clusters (the exact recursion of exact_groups.py): the paths
    level's counts to 1e-4 and bonds to 0.012 (two diagonal X: 0.136 against 1/8,
    the square's fourth corner closed by the opposite path; the lattice-wide
    triplet level is 0.171), the bonds level's counts to 1e-4 and bonds to 0.05
    (diagonal X 0.156: no path through both common neighbours; X-Y-X nnXY 0.595
    against 0.639)."""
    sites, species = CLUSTERS[name]
    e = _exact(sites, species, 0.4)
    t = _site(st.site_triplet_sweep, sites, species, 0.4)
    np.testing.assert_allclose(t[:2], e[:2], atol=1e-4)
    np.testing.assert_allclose(t[2:], e[2:], atol=0.012)
    p = _site(sp.site_pair_sweep, sites, species, 0.4)
    np.testing.assert_allclose(p[:2], e[:2], atol=1e-4)
    np.testing.assert_allclose(p[2:], e[2:], atol=0.05)


def test_diagonal_pair_is_closer_with_the_paths_than_with_the_bonds():
    """Two diagonal X (exact 1/8): the bonds level counts the two common
    neighbours as independent routes (5/32 = 0.156); the paths level keeps the
    square's fourth corner (0.136)."""
    sites, species = CLUSTERS["diag"]
    p = _site(sp.site_pair_sweep, sites, species, 0.4)[2]
    t = _site(st.site_triplet_sweep, sites, species, 0.4)[2]
    assert p == pytest.approx(5 / 32, abs=2e-3)
    assert abs(t - 1 / 8) < 0.5 * abs(p - 1 / 8)


@pytest.mark.parametrize("name", list(PLAQUETTES))
def test_plaquette_closure_against_the_exact_sweep(name):
    """Clusters around a square against the exact recursion: the fourth corner
    closed from the square's four paths (site_plaquettes.py) within 3e-3 in every
    count and bond (two diagonal X 1/8 to 1e-4; the opposite path alone 0.136,
    four X around a site 0.881 against 0.853)."""
    sites, species = PLAQUETTES[name]
    e = _exact(sites, species, 0.4)
    t = _site(spq.site_plaquette_sweep, sites, species, 0.4)
    np.testing.assert_allclose(t, e, atol=3e-3)


def test_plaquette_closure_is_closer_than_the_opposite_path():
    """Summed over the clusters the plaquette closure's bond error is at most a
    quarter of the opposite path's (0.059 -> 0.008), and on the two diagonal X
    and the ring of four X each at most a tenth: dropping the correction (the
    opposite path alone) or inverting one of its factors fails here."""
    err = {}
    for plaq in (False, True):
        run = lambda one, p3, plaq=plaq: spq.site_plaquette_sweep(  # noqa: E731
            one, p3, plaquettes=plaq
        )
        err[plaq] = {
            k: np.abs(_site(run, *v, 0.4) - _exact(*v, 0.4))[2:].sum()
            for k, v in PLAQUETTES.items()
        }
    assert sum(err[True].values()) < 0.25 * sum(err[False].values())
    for k in ("diag", "ring"):
        assert err[True][k] < 0.1 * err[False][k]
    assert err[False]["diag"] == pytest.approx(0.0114, abs=5e-4)


def test_lattice_step_expectation_site_sweeps():
    """The option runs the site sweeps on the expected lattice after the events;
    bad values are refused before any work."""
    cfg = preset("paper", size=L, init_x=5, init_y=5)
    rng = np.random.default_rng(2)
    g = rng.choice(3, size=(L, L), p=[0.7, 0.15, 0.15]).astype(np.uint8)
    tr = lattice_step_expectation(g, cfg)
    for sweep in ("site pairs", "site triplets", "site plaquettes"):
        e = lattice_step_expectation(g, cfg, sweep=sweep)
        assert e.shape == (5,)
        # same events, different closure of the sweep: the counts agree closely
        np.testing.assert_allclose(e[:2], tr[:2], atol=0.05)
    with pytest.raises(ValueError, match="sweep = 'sites'"):
        lattice_step_expectation(g, cfg, sweep="sites")
    with pytest.raises(ValueError, match="per_group"):
        lattice_step_expectation(g, cfg, sweep="site pairs", per_group=True)


def _cluster_and_far_births(cfg):
    """A 5-molecule cluster in a corner of a 12 x 12 lattice, each site's birth
    probability, the sites whose births are more than 3 sites from every molecule
    (over 40 of them, with a visible birth mass), and the expected lattice after the
    events as site distributions."""
    from dbdviz.closures.given_lattice import _dilate, site_event_probabilities

    g = np.zeros((12, 12), np.uint8)
    g[1:4, 1:3] = [[1, 1], [2, 1], [0, 2]]
    pb, pd = site_event_probabilities(g, cfg)
    far = (pb > 0) & ~_dilate(g != 0, 3)
    assert far.sum() > 40 and pb[far].sum() > 0.05
    one = np.stack([g == 0, g == 1, g == 2]).astype(float)
    one[0] += pd - pb
    one[1] += pb
    one[2] -= pd
    return g, pb, far, one


def test_lone_births_are_taken_out_exactly():
    """A birth more than 3 sites from every molecule ends as a lone X: counted
    outside the integration, the result is that of the whole expected lattice up
    to two births near each other (second order)."""
    from dbdviz.closures.given_lattice import _site_sweep

    cfg = preset("paper", size=12, init_x=5, init_y=5)
    g, pb, far, one = _cluster_and_far_births(cfg)
    for sweep, run in (
        ("site pairs", sp.site_pair_sweep),
        ("site triplets", st.site_triplet_sweep),
        ("site plaquettes", spq.site_plaquette_sweep),
    ):
        nn, b, _ = run(one, cfg.predation)
        whole = np.array([nn[1], nn[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2])
        split = _site_sweep(g, pb, one, cfg.predation, sweep)
        np.testing.assert_allclose(split, whole, atol=2e-4)
