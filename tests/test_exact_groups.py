"""The exact sweep of small groups (dbdviz/closures/exact_groups.py,
docs/hierarchy.md section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.closures.exact_groups import (
    MOVE_RADIUS,
    _Cache,
    _cfg_bonds,
    group_result,
    group_sweep,
    interaction_groups,
    small_part_expectation,
)
from dbdviz.closures.given_lattice import lattice_step_expectation
from dbdviz.config import preset
from dbdviz.simulate.replay import replay_step

L = 40


def _expect(sites, species, p3=0.4):
    """Expected X, Y, nnXX, nnXY, nnYY after one sweep of one group (exact)."""
    d = group_sweep(sites, species, L, p3)
    assert sum(d.values()) == pytest.approx(1.0, abs=1e-12)
    b = sum(p * _cfg_bonds(c, L) for c, p in d.items())
    n = sum(p * np.bincount([s for _, s in c], minlength=3)[1:] for c, p in d.items())
    return np.array([n[0], n[1], b[0, 0] / 2, b[0, 1], b[1, 1] / 2])


def test_group_sweep_golden_values_by_hand():
    """Two adjacent X: 3/8 (tests/test_closures.py derives it by hand); X-0-X: they
    end adjacent only when the first mover hops into the gap (1/4) and the second
    then picks it (1/4, blocked): 1/16; two diagonal X: the first mover hops to one
    of the two common neighbours (1/2), the second picks it (1/4, blocked): 1/8.
    An adjacent X-Y: predation on the first move with p3 / 4, else after a failed
    first move (1 - p3) / 4 on the second with p3 / 4, none after a hop."""
    assert _expect([(5, 5), (5, 6)], [1, 1])[2] == pytest.approx(3 / 8, abs=1e-12)
    assert _expect([(5, 5), (5, 7)], [1, 1])[2] == pytest.approx(1 / 16, abs=1e-12)
    assert _expect([(5, 5), (6, 6)], [1, 1])[2] == pytest.approx(1 / 8, abs=1e-12)
    p3 = 0.4
    pred = p3 / 4 * (1 + (1 - p3) / 4)
    e = _expect([(5, 5), (5, 6)], [1, 2], p3)
    assert e[1] == pytest.approx(1 + pred, abs=1e-12)
    assert e[0] == pytest.approx(1 - pred, abs=1e-12)
    # with p3 = 0 species never change and a lone molecule ends on a neighbour
    assert _expect([(5, 5)], [2], 0.0)[1] == 1.0


@pytest.mark.parametrize(
    "cluster",
    [
        [(5, 5, 1), (5, 6, 2), (6, 5, 1), (6, 6, 2)],  # a mixed 2 x 2 square
        [(5, 5, 2), (5, 6, 1), (5, 7, 2)],  # Y-X-Y line
        [(5, 5, 1), (6, 7, 2), (7, 5, 1)],  # meets only through moves
    ],
)
def test_group_sweep_equals_the_simulator(cluster):
    """Naive twin: the simulator's own sweep (uniform picks, events off, 20000
    replays) agrees with the recursion within 3 SE on every observable."""
    cfg = preset("paper", birth=0.0, death=0.0, pick_mode="uniform")
    g = np.zeros((1, L, L), np.uint8)
    for r, c, s in cluster:
        g[0, r, c] = s
    after = replay_step(g, cfg, 20000, 5)[0, :, :5].astype(float)
    ex = _expect([(r, c) for r, c, _ in cluster], [s for *_, s in cluster])
    se = after.std(axis=0) / np.sqrt(len(after))
    assert np.all(np.abs(after.mean(axis=0) - ex) <= 3 * se + 1e-12), (
        after.mean(axis=0),
        ex,
    )


def test_groups_combine_exactly():
    """Molecules of different interaction groups (more than MOVE_RADIUS apart) are
    independent: the combination (product marginals across groups, exact joint
    within) equals the recursion of all of them as one group to 1e-12."""
    rng = np.random.default_rng(0)
    z = np.zeros((12, 12))
    for _ in range(4):
        g = np.zeros((12, 12), np.uint8)
        sites = []
        while len(sites) < 6:
            r, c = rng.integers(3, 9, 2)
            if g[r, c] == 0:
                g[r, c] = rng.integers(1, 3)
                sites.append((int(r), int(c)))
        _, sizes = interaction_groups(g, MOVE_RADIUS)
        assert len(sizes) > 1
        d = group_sweep(sites, [int(g[s]) for s in sites], 12, 0.4)
        b = sum(p * _cfg_bonds(c, 12) for c, p in d.items())
        n2, b2 = small_part_expectation(g, z, z, 0.4, np.zeros(g.shape, bool))
        np.testing.assert_allclose(b2, b, atol=1e-12)


def test_group_result_enumerates_the_deaths():
    """A Y that dies with q leaves (1 - q) of its sweep; an adjacent X-Y pair is the
    mixture of the pair (1 - q) and the lone X (q)."""
    q = 0.3
    cache = _Cache(L, 0.4)
    rho, d, n = group_result(cache, [(5, 5)], [2], [q])
    assert n[1] == pytest.approx(1 - q) and len(rho) == 4
    assert all(m == pytest.approx((1 - q) / 4) for m in rho.values())
    _, _, n = group_result(cache, [(5, 5), (5, 6)], [1, 2], [0.0, q])
    pred = 0.1 * (1 + 0.6 / 4)
    assert n[0] == pytest.approx((1 - q) * (1 - pred) + q, abs=1e-12)
    assert n[1] == pytest.approx((1 - q) * (1 + pred), abs=1e-12)


@pytest.mark.parametrize("mode", ["nested_permutation", "uniform"])
def test_exact_groups_step_on_sparse_lattices(mode):
    """Sparse lattices (12 X and 12 Y on 40 x 40, every component small): the whole
    step (events and sweep) computed exactly agrees with 8000 replayed simulator
    steps within 3 SE, where the triplet level's closure is off a pair count by
    > 5 SE (here nnXX/nnXY +4.8/+7.7 SE, nested; 20 lattices x 20000 replays: nnXX
    +20 SE closed, -0.5 exact, docs/hierarchy.md section 4)."""
    cfg = preset("paper", pick_mode=mode)
    rng = np.random.default_rng(3)
    lat = np.zeros((8, L * L), np.uint8)
    for k in range(len(lat)):
        p = rng.permutation(L * L)
        lat[k, p[:12]] = 1
        lat[k, p[12:24]] = 2
    lat = lat.reshape(-1, L, L)
    reps = 8000
    after = replay_step(lat, cfg, reps, 3)[..., :5].astype(float)
    mean = after.mean(axis=1)
    se = np.sqrt((after.var(axis=1, ddof=1) / reps).sum(axis=0)) / len(lat)
    exact = (mean - lattice_step_expectation(lat, cfg, exact_groups=8)).mean(0)
    closed = (mean - lattice_step_expectation(lat, cfg)).mean(0)
    assert np.all(np.abs(exact) < 3 * se), exact / se
    assert np.max(np.abs(closed[2:]) / se[2:]) > 5, closed / se


def test_exact_groups_split_large_components_to_the_closure():
    """A dense block goes to the closure (the same as integrating it alone), a far
    pair of X is exact and added."""
    cfg = preset("paper", birth=0.0, death=0.0, pick_mode="uniform")
    rng = np.random.default_rng(4)
    block = np.zeros((L, L), np.uint8)
    block[5:18, 5:18] = (rng.random((13, 13)) < 0.9).astype(np.uint8)
    pair = np.zeros_like(block)
    pair[30, 30] = pair[30, 31] = 1
    e = lattice_step_expectation(np.stack([block, block + pair]), cfg, exact_groups=5)
    alone = lattice_step_expectation(block[None], cfg)[0]
    np.testing.assert_allclose(e[0], alone, atol=1e-9)
    np.testing.assert_allclose(e[1] - e[0], [2, 0, 3 / 8, 0, 0], atol=1e-9)
