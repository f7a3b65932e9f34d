"""The events' joint outcome drawn by the simulator's kernel (dbdviz/closures/
step_events.py; docs/hierarchy.md section 13)."""

from __future__ import annotations

import itertools

import naive
import numpy as np
import pytest
from scipy.linalg import expm

from dbdviz._rng import seed_states
from dbdviz.closures import site_plaquettes as spq
from dbdviz.closures import site_triplets as st
from dbdviz.closures.given_lattice import lattice_step_expectation
from dbdviz.closures.step_events import sample_events, sampled_paths
from dbdviz.config import preset


def _naive_events(G0, state, draws, cfg):
    """``draws`` lattices after the events, the pure-Python twin's schedule and
    picks (tests/naive.py) on one stream."""
    nested = cfg.pick_mode == "nested_permutation"
    rng = naive.Xoshiro(state)
    out = []
    for _ in range(draws):
        G = G0.copy()
        nx, ny = int((G == 1).sum()), int((G == 2).sum())
        rxn, tau = naive.schedule(rng, nx, ny, cfg.birth, cfg.death, False)
        t = tau
        while rxn != 0 and t < cfg.dt:
            s = naive.pick_site(rng, G, 0 if rxn == 1 else 2, nested)
            if s >= 0:
                G.reshape(-1)[s] = 1 if rxn == 1 else 0
            nx, ny = int((G == 1).sum()), int((G == 2).sum())
            rxn, tau = naive.schedule(rng, nx, ny, cfg.birth, cfg.death, False)
            t += tau
        out.append(G)
    return np.array(out)


@pytest.mark.parametrize("pick_mode", ["nested_permutation", "uniform"])
def test_sampled_events_equal_the_naive_twin(pick_mode):
    """The draws are the simulator's: bit-identical to the twin's schedule and
    picks on the same stream (30 draws, about 4 births and 5 deaths each)."""
    cfg = preset(
        "paper", size=7, init_x=1, init_y=1, birth=0.3, death=0.4, pick_mode=pick_mode
    )
    rng = np.random.default_rng(5)
    g = rng.choice(3, size=(7, 7), p=[0.5, 0.25, 0.25]).astype(np.uint8)
    got = sample_events(g, cfg, 30, 17)
    want = _naive_events(g, seed_states(17, 1)[0], 30, cfg)
    np.testing.assert_array_equal(got, want)
    assert (got != g).sum(axis=(1, 2)).mean() > 4


def _exact_events(G0, cfg):
    """Exact distribution of the lattice after the events: the continuous-time
    chain on every reachable lattice (births at ``birth * max(X, 1)`` on an empty
    site, deaths at ``death * Y``; nested or uniform picks), ``expm`` over ``dt``."""
    nested = cfg.pick_mode == "nested_permutation"
    L = G0.shape[0]

    def picks(G, code):
        m = G == code
        if not m.any():
            return {}
        if nested:
            rows = np.count_nonzero(m.any(axis=1))
            p = m / (rows * np.maximum(m.sum(axis=1, keepdims=True), 1))
        else:
            p = m / m.sum()
        return {int(s): float(p.reshape(-1)[s]) for s in np.flatnonzero(m)}

    start = tuple(G0.reshape(-1))
    index, todo, rates = {start: 0}, [start], []
    while todo:
        s = todo.pop()
        G = np.array(s, np.uint8).reshape(L, L)
        nx, ny = int((G == 1).sum()), int((G == 2).sum())
        for code, new, a in ((0, 1, cfg.birth * max(nx, 1)), (2, 0, cfg.death * ny)):
            for site, p in picks(G, code).items():
                t = list(s)
                t[site] = new
                t = tuple(t)
                if t not in index:
                    index[t] = len(index)
                    todo.append(t)
                rates.append((index[s], index[t], a * p))
    n = len(index)
    Q = np.zeros((n, n))
    for i, j, r in rates:
        Q[i, j] += r
    Q -= np.diag(Q.sum(axis=1))
    prob = expm(Q * cfg.dt)[0]
    states = np.array(list(index), np.uint8).reshape(n, L, L)
    return states, prob


def _obs(G):
    """X, Y, nnXX, nnXY, nnYY of lattices ``G`` (..., L, L), periodic."""
    out = []
    for a, b in ((1, 1), (1, 2), (2, 2)):
        v = 0
        for ax in (-1, -2):
            n2 = np.roll(G, -1, axis=ax)
            v = v + ((G == a) & (n2 == b)).sum(axis=(-1, -2))
            if a != b:
                v = v + ((G == b) & (n2 == a)).sum(axis=(-1, -2))
        out.append(v)
    return np.stack([(G == 1).sum(axis=(-1, -2)), (G == 2).sum(axis=(-1, -2))] + out,
                    axis=-1).astype(float)  # fmt: skip


#: A 3 x 3 lattice: two Y in row 0, one in row 1 (nested picks: a row's Y compete).
SMALL = np.array([[2, 2, 0], [0, 2, 1], [0, 0, 1]], np.uint8)


@pytest.mark.parametrize("pick_mode", ["nested_permutation", "uniform"])
def test_sampled_joint_against_the_exact_events(pick_mode):
    """On a 3 x 3 lattice the events' law is enumerated exactly (CTMC, 288
    lattices): the sampled mean observables within 4 MC standard errors, every
    path's sampled joint within 4.5 binomial SE plus 2e-3 of the exact; the
    product of the sampled site marginals (the correlation dropped) misses nnXX
    by more than 8 SE (a Yule process: births are correlated in both modes)."""
    cfg = preset(
        "paper", size=3, init_x=1, init_y=1, birth=0.4, death=0.7, pick_mode=pick_mode
    )
    states, prob = _exact_events(SMALL, cfg)
    assert abs(prob.sum() - 1) < 1e-9
    exact = prob @ _obs(states)
    K = 40000
    es = sampled_paths(SMALL, cfg, K, 3)
    z = (es.mean - exact) / es.se
    assert np.abs(z).max() < 4, z
    nb, _, _ = st.neighbour_table(3)
    flat = states.reshape(len(states), -1)
    for s, k in itertools.product(range(9), range(6)):
        a, c = nb[s, st.PAIRS[k, 0]], nb[s, st.PAIRS[k, 1]]
        ex = np.zeros((3, 3, 3))
        np.add.at(ex, (flat[:, a], flat[:, s], flat[:, c]), prob)
        got = es.paths[s, k, :3, :3, :3]
        tol = 4.5 * np.sqrt(ex * (1 - ex) / K) + 2e-3
        assert np.all(np.abs(got - ex) <= tol), (s, k)
    # bonds of the product of the sampled marginals
    p = es.sites.reshape(3, -1).T
    b = np.zeros((3, 3))
    for s in range(9):
        for d in (0, 2):
            b += np.outer(p[s], p[nb[s, d]])
    prod = np.array([b[1, 1], b[1, 2] + b[2, 1], b[2, 2]])
    zp = (prod - exact[2:]) / es.se[2:]
    assert abs(zp[0]) > 8, zp
    # the sites' marginals are the exact ones (a one-site check of the same law)
    ex1 = np.stack([(prob[:, None] * (flat == c)).sum(axis=0) for c in range(3)])
    np.testing.assert_allclose(es.sites.reshape(3, -1), ex1, atol=0.015)


def test_sampled_start_feeds_the_sweep():
    """``events="sampled"``: the paths' sampled joint is the sweep's start (a
    product start from the same marginals gives another answer), far births are
    counted as lone X (equal, up to two far births adjacent, to keeping them in
    the paths), and bad values are refused."""
    n = 12
    cfg = preset("paper", size=n, init_x=1, init_y=1, birth=0.2, death=0.5)
    g = np.zeros((n, n), np.uint8)
    g[1:4, 1:4] = [[2, 2, 2], [2, 1, 2], [0, 2, 2]]
    e = lattice_step_expectation(
        g, cfg, sweep="site plaquettes", events="sampled", draws=4000, seed=1
    )
    es = sampled_paths(g, cfg, 4000, 1)
    nn, b, _ = spq.site_plaquette_sweep(es.sites, cfg.predation, paths=es.paths)
    whole = np.array([nn[1], nn[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2])
    np.testing.assert_allclose(e, whole, atol=3e-3)
    nn, b, _ = spq.site_plaquette_sweep(es.sites, cfg.predation)
    prod = np.array([nn[1], nn[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2])
    assert np.abs(prod - whole).max() > 5e-3  # nnYY 0.0094 (deterministic draws)
    # the reference kernel takes the same start
    hs = np.full(8, 0.25)
    n1, b1, _ = spq.site_plaquette_sweep(es.sites, 0.4, hs=hs, paths=es.paths)
    n2, b2, _ = st.site_triplet_sweep(
        es.sites, 0.4, hs=hs, paths=es.paths, plaquettes=True
    )
    np.testing.assert_allclose(n1, n2, atol=1e-9)
    np.testing.assert_allclose(b1, b2, atol=1e-9)
    with pytest.raises(ValueError, match="events = 'sampled' needs sweep"):
        lattice_step_expectation(g, cfg, events="sampled")
    with pytest.raises(ValueError, match="events = 'joint'"):
        lattice_step_expectation(g, cfg, sweep="site plaquettes", events="joint")
    with pytest.raises(ValueError, match="draws = 1"):
        sampled_paths(g, cfg, 1)
    with pytest.raises(ValueError, match="paths must have shape"):
        spq.site_plaquette_sweep(es.sites, 0.4, paths=es.paths[:, :3])
