"""The triplet level resolved by classes of sites (dbdviz/closures/regional.py;
docs/hierarchy.md section 12)."""

from __future__ import annotations

import numpy as np
import pytest
from test_closures import _bonds, move_outcomes

from dbdviz.closures import regional as rg
from dbdviz.closures._sweep3 import lattice_quads
from dbdviz.closures.given_lattice import (
    lattice_step_expectation,
    site_event_probabilities,
)
from dbdviz.closures.hierarchy import lattice_triplets
from dbdviz.config import preset


def _one_move_triplets(g, lab, p3):
    """Exact expected change of the class-resolved 5-state triplets when one
    uniformly chosen todo molecule moves (every molecule, direction, outcome);
    classes stay on their sites."""
    K = int(lab.max()) + 1
    t0 = lattice_triplets(lab * 5 + g, n_species=5 * K)
    b0, n0 = _bonds(lab * 5 + g, 5 * K)
    dt = np.zeros_like(t0)
    db, dn = np.zeros_like(b0), np.zeros_like(n0)
    outcomes, n_todo = move_outcomes(g, p3)
    for f, h in outcomes:
        t1 = lattice_triplets(lab * 5 + h, n_species=5 * K)
        b1, n1 = _bonds(lab * 5 + h, 5 * K)
        dt += f * (t1 - t0)
        db += f * (b1 - b0)
        dn += f * (n1 - n0)
    return dt, db, dn, n_todo


def _mixed(rng, L=7):
    g = rng.choice(3, size=(L, L), p=[0.5, 0.25, 0.25]).astype(np.uint8)
    return g


def test_class_statistics_are_the_counts_of_the_combined_lattice():
    rng = np.random.default_rng(3)
    g = _mixed(rng, 8)
    lab = rng.integers(0, 3, size=g.shape)
    one = np.stack([g == k for k in range(3)]).astype(float)
    n, b, t, path, star = rg.class_statistics(one, lab, 3)
    h = (lab * 3 + g).astype(np.uint8)
    b_ref, n_ref = _bonds(h, 9)
    np.testing.assert_allclose(n, n_ref)
    np.testing.assert_allclose(b, b_ref)
    np.testing.assert_allclose(t, lattice_triplets(h, n_species=9))
    p_ref, s_ref = lattice_quads(h, n_species=9)
    np.testing.assert_allclose(path, p_ref)
    np.testing.assert_allclose(star, s_ref)


@pytest.mark.parametrize("mode", ["ratio", "difference"])
@pytest.mark.parametrize("p3", [0.0, 0.3, 1.0])
def test_class_triplet_rates_equal_one_move_enumeration(p3, mode):
    """At the start lattice, with its measured four-site patterns per class
    combination, the class-resolved triplet rates are the exact expected change of
    the next move, for classes that cut across the species."""
    rng = np.random.default_rng(5)
    L = 7
    for _ in range(2):
        g = _mixed(rng, L)
        lab = rng.integers(0, 2, size=g.shape)
        one = np.stack([g == k for k in range(3)]).astype(float)
        n, b, t, path, star = rg.class_statistics(one, lab, 2)
        tuples, index = rg.star_tuples(lab, 2)
        r_path, r_star = rg.class_start_ratios(
            b, n, t, path, star, L * L, tuples, index, mode
        )
        exact, db_e, dn_e, n_todo = _one_move_triplets(g, lab, p3)
        b5, _ = _bonds(lab * 5 + g, 10)
        t5 = lattice_triplets(lab * 5 + g, n_species=10)
        rates = rg.class_triplet_rates(
            b5, t5, p3, L * L, tuples, index, r_path, r_star, mode
        )
        np.testing.assert_allclose(rates / n_todo, exact, atol=1e-12)
        db, dn = np.zeros_like(b5), np.zeros(10)
        rg._pair_rates(b5, np.zeros(10), t5, p3, db, dn)
        np.testing.assert_allclose(db / n_todo, db_e, atol=1e-12)
        np.testing.assert_allclose(dn / n_todo, dn_e, atol=1e-12)


def _expected_lattice(g, cfg):
    pb, pd = site_event_probabilities(g, cfg)
    one = np.stack([g == 0, g == 1, g == 2]).astype(np.float64)
    one[0] += pd - pb
    one[1] += pb
    one[2] -= pd
    return one


@pytest.mark.parametrize("kind", ["random", "blocks"])
def test_one_class_is_the_default_triplet_level(kind):
    """With every site in one class the sweep is the lattice-wide triplet level's
    (same events, same closure, same grid)."""
    cfg = preset("paper", size=12, init_x=10, init_y=10)
    rng = np.random.default_rng(4)
    if kind == "random":
        g = rng.choice(3, size=(12, 12), p=[0.7, 0.15, 0.15]).astype(np.uint8)
    else:
        g = _blocks(12, 4, 3, rng)
    ref = lattice_step_expectation(g, cfg)
    one = _expected_lattice(g, cfg)
    b, n, _ = rg.integrate_class_sweep(one, np.zeros(g.shape, int), 1, cfg.predation)
    got = [n[1], n[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2]
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


def _blocks(L, nx, ny, rng):
    """A block of X and a block of Y (90 % filled), L / 2 apart."""
    g = np.zeros((L, L), np.uint8)
    g[1 : 1 + nx, 1 : 1 + nx] = rng.random((nx, nx)) < 0.9
    h = L // 2
    g[h : h + ny, h : h + ny] = np.where(rng.random((ny, ny)) < 0.9, 2, 0)
    return g


def test_site_classes_separate_the_blocks():
    g = _blocks(24, 8, 7, np.random.default_rng(1))
    lab, K = rg.site_classes(g)
    assert K == 3
    assert lab[4, 4] == 1 and lab[15, 15] == 2 and lab[0, 20] == 0
    assert set(np.unique(lab[1:9, 1:9])) <= {0, 1}
    with pytest.raises(ValueError, match="mode = 'ratios'"):
        rg.class_step(g, _expected_lattice(g, preset("paper", size=24)), 0.4,
                      mode="ratios")  # fmt: skip


L_TWO = 16


def _two_groups_exact_and_closed(mode):
    """Two isolated groups (two adjacent X; X-Y-X), far apart on 16 x 16: the
    exact recursion of each group (exact_groups.py) added, against the sweep with
    one class and with each group (sites within 2) in a class of its own."""
    from scipy.ndimage import binary_dilation

    from dbdviz.closures.exact_groups import _cfg_bonds, group_sweep

    groups = [([(3, 3), (3, 4)], [1, 1]), ([(10, 10), (10, 11), (10, 12)], [1, 2, 1])]
    exact = np.zeros(5)
    one = np.zeros((3, L_TWO, L_TWO))
    one[0] = 1.0
    lab = np.zeros((L_TWO, L_TWO), int)
    for k, (sites, species) in enumerate(groups):
        d = group_sweep(sites, species, L_TWO, 0.4)
        b = sum(p * _cfg_bonds(c, L_TWO) for c, p in d.items())
        exact[2:] += b[0, 0] / 2, b[0, 1], b[1, 1] / 2
        mol = np.zeros((L_TWO, L_TWO), bool)
        for (r, c), x in zip(sites, species, strict=True):
            one[0, r, c], one[x, r, c] = 0.0, 1.0
            mol[r, c] = True
        lab[binary_dilation(mol, iterations=2)] = k + 1
    out = []
    for labels, K in ((np.zeros_like(lab), 1), (lab, 3)):
        b, n, _ = rg.integrate_class_sweep(one, labels, K, 0.4, mode=mode)
        out.append(np.array([n[1], n[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2]))
    return exact, out[0], out[1]


def test_classes_separate_the_conditionals_of_two_groups():
    """With one class the adjacent X pair's bond is closed with the X-Y-X group's
    conditionals (nnXX 0.352 against the exact 0.392, difference mode); with a
    class per group 0.392. Fails if the classes were dropped."""
    exact, one, classes = _two_groups_exact_and_closed("difference")
    assert exact[2] == pytest.approx(3 / 8 + 0.0167, abs=1e-3)
    assert abs(classes[2] - exact[2]) < 0.2 * abs(one[2] - exact[2])
    assert abs(one[2] - exact[2]) > 0.03
    # the counts (predations) are exact either way to 1e-3
    np.testing.assert_allclose(classes[:2], one[:2], atol=1e-3)


def test_lattice_step_expectation_classes():
    cfg = preset("paper", size=24)
    g = _blocks(24, 8, 7, np.random.default_rng(2))
    e = lattice_step_expectation(g, cfg, sweep="classes")
    tr = lattice_step_expectation(g, cfg)
    assert e.shape == (5,)
    np.testing.assert_allclose(e[:2], tr[:2], atol=0.05)
    with pytest.raises(ValueError, match="per_group"):
        lattice_step_expectation(g, cfg, sweep="classes", per_group=True)
