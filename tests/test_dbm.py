"""Lattice DBM: layout, kernels vs naive twins, exact enumeration, centering."""

from __future__ import annotations

import math

import naive_dbm as nv
import numpy as np
import pytest
from scipy import stats

from dbdviz._numba import set_threads
from dbdviz._rng import seed_states
from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig
from dbdviz.dbm import DBM, PAPER_VISIBLE_BIAS
from dbdviz.moments import OBSERVABLES, lattice_observables


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("dbm")


#: The architecture the tests were written for (the reference's, not the
#: measured defaults of DBMConfig).
_PAPER_ARCH = dict(depth=2, visible_couplings=False)


def make(size=4, **cfg):
    return DBM(DBMConfig(**{**_PAPER_ARCH, **cfg}), size, tiny_ok=True)


def chi2_pvalue(observed_idx, probs, n):
    """Chi-square goodness of fit; cells with expectation < 5 pooled into one."""
    cnt = np.bincount(observed_idx, minlength=probs.size)
    exp = probs * n
    big = exp >= 5
    o, e = cnt[big], exp[big]
    if (~big).any():
        o = np.r_[o, cnt[~big].sum()]
        e = np.r_[e, exp[~big].sum()]
    assert len(o) > 3
    return stats.chisquare(o, e).pvalue


# ------------------------------------------------------------------------------------
# layout
# ------------------------------------------------------------------------------------


def test_reference_layout():
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    assert dbm.param_names == (
        "hX",
        "hY",
        "bX1",
        "bY1",
        "bX2",
        "bY2",
        "wXX1",
        "wYY1",
        "wX1X2",
        "wY1Y2",
    )
    assert dbm.n_params == 10 and dbm.n_layers == 3 and dbm.q == 4
    assert dbm.domain_indices.tolist() == [0, 1, 6, 7, 8, 9]
    assert dbm.layer_names == [("X", "Y"), ("X1", "Y1"), ("X2", "Y2")]


def test_general_layout():
    dbm = DBM(
        DBMConfig(depth=3, conn=9, cross_channel=True, visible_couplings=True), 40
    )
    names = dbm.param_names
    assert names[:8] == ("hX", "hY", "bX1", "bY1", "bX2", "bY2", "bX3", "bY3")
    assert names[8:12] == ("wXX1", "wYY1", "wXY1", "wYX1")
    assert names[12:16] == ("wX1X2", "wY1Y2", "wX1Y2", "wY1X2")
    assert names[16:20] == ("wX2X3", "wY2Y3", "wX2Y3", "wY2X3")
    assert names[20:] == ("JXX", "JXY", "JYY")
    assert dbm.domain_indices.tolist() == [0, 1] + list(range(8, 23))
    d0 = DBM(DBMConfig(depth=0, visible_couplings=False), 10)
    assert d0.param_names == ("hX", "hY") and d0.domain_indices.tolist() == [0, 1]


def test_initial_theta_and_centers():
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    th = dbm.initial_theta(100 / 1600, 100 / 1600)
    assert th[0] == pytest.approx(math.log(0.0625 / 0.875)) and th[0] == pytest.approx(
        -2.639, abs=1e-3
    )
    assert np.all(th[2:] == 0)
    ref = dbm.initial_theta(reference=True)
    assert ref[0] == ref[1] == PAPER_VISIBLE_BIAS == -2.63
    mu = dbm.initial_centers(0.0625, 0.0625)
    assert mu.shape == (3, 2) and mu[0].tolist() == [0.0625, 0.0625]
    assert np.allclose(mu[1:], 1 / 3)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="depth = 4 is out of range"):
        DBM(DBMConfig(depth=4, visible_couplings=False), 40)
    with pytest.raises(ValueError, match="conn = 5 is invalid"):
        DBM(DBMConfig(conn=5), 40)
    with pytest.raises(ValueError, match="too small for conn = 9"):
        DBM(DBMConfig(depth=2, conn=9, visible_couplings=False), 5)
    with pytest.raises(ValueError, match="too small for conn = 9"):
        DBM(DBMConfig(depth=2, conn=9, visible_couplings=False), 2, tiny_ok=True)
    dbm = DBM(DBMConfig(depth=1, visible_couplings=False), 6)
    s = dbm.init_chains(2, 0)
    th = dbm.initial_theta()
    with pytest.raises(ValueError, match="NaN"):
        dbm.sample(np.r_[th[:-1], np.nan], s, 1, seed=0)
    with pytest.raises(ValueError, match="n_params = 6"):
        dbm.sample(th[:-1], s, 1, seed=0)
    with pytest.raises(ValueError, match="int8"):
        dbm.sample(th, s.astype(np.int16), 1, seed=0)
    with pytest.raises(ValueError, match="shape"):
        dbm.sample(th, s[:, :, :5], 1, seed=0)
    with pytest.raises(ValueError, match="clamp codes"):
        dbm.sample(th, s, 1, seed=0, clamp=np.full((6, 6), 3, np.uint8))
    with pytest.raises(ValueError, match="rows"):
        dbm.sample(np.stack([th, th, th]), s, 1, seed=0)
    with pytest.raises(ValueError, match="rows must index"):
        dbm.sample(np.stack([th, th]), s, 1, seed=0, rows=[0, 2])
    with pytest.raises(ValueError, match="sweeps"):
        dbm.sample(th, s, -1, seed=0)
    with pytest.raises(ValueError, match="density"):
        dbm.initial_theta(0.6, 0.5)


# ------------------------------------------------------------------------------------
# kernels vs naive twins (exact, same random numbers)
# ------------------------------------------------------------------------------------

TWIN_CASES = [
    (dict(depth=2), 4),
    (dict(depth=0, visible_couplings=True), 3),  # odd L: sequential colour scan
    (dict(depth=1, cross_channel=True, visible_couplings=True), 5),
    (dict(depth=3, conn=9), 3),
    (dict(depth=2, conn=9, cross_channel=True, visible_couplings=True), 6),
    (dict(depth=1), 2),
]


@pytest.mark.parametrize("cfg,size", TWIN_CASES)
def test_kernels_match_naive_twins(cfg, size):
    dbm = make(size, **cfg)
    rs = np.random.default_rng(11)
    th = rs.normal(0, 0.8, (2, dbm.n_params))
    rng0 = seed_states(5, 3)
    s0 = dbm.init_chains(3, rng0.copy())
    np.testing.assert_array_equal(s0, nv.init_chains(dbm, 3, rng0))
    rows = np.array([0, 1, 1])
    rng = seed_states(7, 3)
    # asleep, batch of theta rows
    s = s0.copy()
    dbm.sample(th, s, 3, seed=rng.copy(), rows=rows)
    np.testing.assert_array_equal(s, nv.sweep(dbm, th, s0, 3, rng, rows=rows))
    # awake
    s = s0.copy()
    clamp = rs.integers(0, 3, (3, size, size)).astype(np.uint8)
    ref = s0.copy()
    ref[:, 0] = clamp
    dbm.sample(th[0], s, 2, seed=rng.copy(), clamp=clamp)
    np.testing.assert_array_equal(s, nv.sweep(dbm, th[0], ref, 2, rng, awake=True))
    # final probabilities and statistics
    np.testing.assert_allclose(
        dbm.final_probabilities(th[0], s0),
        nv.final_probabilities(dbm, th[0], s0),
        rtol=1e-13,
        atol=0,
    )
    np.testing.assert_array_equal(dbm.param_statistics(s0), nv.statistics(dbm, s0))


def test_probability_statistics_of_one_hot_equal_binary():
    dbm = make(5, depth=2, cross_channel=True, visible_couplings=True)
    s = dbm.init_chains(4, 3)
    oh = np.stack([s == 1, s == 2], axis=2).astype(float)
    np.testing.assert_array_equal(dbm.param_statistics(oh), dbm.param_statistics(s))
    np.testing.assert_array_equal(
        dbm.visible_observables(oh), dbm.visible_observables(s)
    )
    np.testing.assert_array_equal(
        dbm.visible_observables(s), lattice_observables(s[:, 0])
    )
    B, P = dbm.statistics(s)
    assert B.shape == (4, 3, 2) and P.shape == (4, dbm.n_params - 6)
    assert dbm.visible_observables(s).shape == (4, len(OBSERVABLES))


def test_reproducible_thread_independent_and_resumable():
    dbm = DBM(DBMConfig(depth=2, visible_couplings=True), 8)
    th = np.random.default_rng(1).normal(0, 0.5, dbm.n_params)
    s0 = dbm.init_chains(6, 4)
    out = []
    for threads in (1, 2):
        prev = set_threads(threads)
        try:
            s = s0.copy()
            dbm.sample(th, s, 5, seed=9)
            out.append(s)
        finally:
            set_threads(prev)
    np.testing.assert_array_equal(out[0], out[1])
    # a stream state continues exactly across calls
    rng = seed_states(9, 6)
    s = s0.copy()
    dbm.sample(th, s, 2, seed=rng)
    dbm.sample(th, s, 3, seed=rng)
    np.testing.assert_array_equal(s, out[0])
    # different seeds differ
    s = s0.copy()
    dbm.sample(th, s, 5, seed=10)
    assert (s != out[0]).any()


# ------------------------------------------------------------------------------------
# centering (section 3.3)
# ------------------------------------------------------------------------------------


def test_centering_identity_sample_by_sample():
    dbm = make(5, depth=2, cross_channel=True, visible_couplings=True)
    s = dbm.init_chains(7, 2)
    mu = np.random.default_rng(0).uniform(0.05, 0.5, (3, 2))
    G = dbm.centered_statistics(dbm.param_statistics(s), mu)
    for k, l, a, b in dbm.weight_layout:
        np.testing.assert_allclose(
            G[:, k], nv.centered_weight_stat(dbm, s, mu, l, a, b), rtol=1e-12, atol=1e-9
        )
    # couplings and biases unchanged
    M = dbm.param_statistics(s)
    keep = np.r_[np.arange(6), dbm.coupling_index]
    np.testing.assert_array_equal(G[:, keep], M[:, keep])
    # centered energy = uncentered energy + a state-independent constant
    th = np.random.default_rng(1).normal(0, 1, dbm.n_params)
    thc = dbm.to_centered(th, mu)
    diff = G @ thc - M @ th
    np.testing.assert_allclose(diff, diff[0], rtol=0, atol=1e-9)
    np.testing.assert_allclose(dbm.from_centered(thc, mu), th, rtol=0, atol=1e-12)
    # per-chain centers broadcast
    mus = np.broadcast_to(mu, (7, 3, 2))
    np.testing.assert_allclose(dbm.centered_statistics(M, mus), G)
    # centers: estimate and slide
    B = M[:, :6].reshape(7, 3, 2)
    est = dbm.estimate_centers(B)
    np.testing.assert_allclose(est, B.mean(0) / 25)
    np.testing.assert_allclose(dbm.slide_centers(mu, est, 0.5), 0.5 * mu + 0.5 * est)


# ------------------------------------------------------------------------------------
# exact enumeration on tiny lattices
# ------------------------------------------------------------------------------------

N_EXACT = 40_000


def _z(samples, exact):
    se = samples.std(axis=0) / math.sqrt(samples.shape[0])
    se = np.where(se > 0, se, 1.0)
    return (samples.mean(axis=0) - exact) / se


@pytest.mark.parametrize(
    "cfg", [dict(depth=1), dict(depth=1, cross_channel=True, visible_couplings=True)]
)
def test_exact_joint_2x2_depth1(cfg):
    dbm = make(2, **cfg)
    th = np.random.default_rng(3).normal(0, 0.35, dbm.n_params)
    st, pr = nv.exact_joint(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s), pr, N_EXACT) > 1e-3
    z = _z(dbm.param_statistics(s), pr @ nv.statistics(dbm, st))
    assert np.all(np.abs(z) < 4.5), z


@pytest.mark.parametrize(
    "cfg",
    [
        dict(depth=2),
        dict(depth=2, cross_channel=True, visible_couplings=True),
        dict(depth=3),
        dict(depth=3, cross_channel=True),
    ],
)
def test_exact_layer_marginals_2x2_deep(cfg):
    dbm = make(2, **cfg)
    th = np.random.default_rng(4).normal(0, 0.35, dbm.n_params)
    cfgs, marg, pair = nv.layer_chain_marginals(dbm, th)
    s = dbm.init_chains(N_EXACT, 5)
    dbm.sample(th, s, 30, seed=6)
    for l in range(dbm.n_layers):
        assert chi2_pvalue(nv.config_index(s[:, l]), marg[l], N_EXACT) > 1e-3, l
    idx = nv.config_index(s[:, 0]) * 81 + nv.config_index(s[:, 1])
    assert chi2_pvalue(idx, pair[0].ravel(), N_EXACT) > 1e-3
    # channel counts per layer against exact marginals
    for l in range(dbm.n_layers):
        for a in (0, 1):
            ex = marg[l] @ (cfgs == a + 1).sum(axis=(1, 2))
            z = _z((s[:, l] == a + 1).sum(axis=(1, 2)).astype(float), ex)
            assert abs(z) < 4.5, (l, a, z)


def test_exact_fully_visible_odd_lattice():
    """3 x 3 visible with NN couplings: no 2-colouring; the scan is still exact."""
    dbm = make(3, depth=0, visible_couplings=True)
    th = np.array([-0.5, -0.3, 0.4, -0.6, 0.5])
    st, pr = nv.exact_joint(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s), pr, N_EXACT) > 1e-3
    z = _z(dbm.param_statistics(s), pr @ nv.statistics(dbm, st))
    assert np.all(np.abs(z) < 4.5), z


def test_exact_visible_marginal_q9():
    dbm = make(3, depth=1, conn=9, cross_channel=True)
    th = np.random.default_rng(3).normal(0, 0.3, dbm.n_params)
    cfgs, pv = nv.exact_visible_depth1(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s[:, 0]), pv, N_EXACT) > 1e-3
    ex = pv @ lattice_observables(cfgs).astype(float)
    z = _z(dbm.visible_observables(s), ex)
    assert np.all(np.abs(z[:5]) < 4.5), z


def test_final_probabilities_rao_blackwellised_visible_moments():
    """Section 6.2: visible moments from the final parallel update are exact."""
    dbm = make(2, depth=1)
    th = np.random.default_rng(8).normal(0, 0.5, dbm.n_params)
    st, pr = nv.exact_joint(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    probs = dbm.final_probabilities(th, s)
    assert probs.shape == (N_EXACT, 2, 2, 2, 2)
    assert np.all(probs >= 0) and np.all(probs.sum(axis=2) <= 1 + 1e-12)
    ex = pr @ lattice_observables(st[:, 0]).astype(float)
    obs = dbm.visible_observables(probs)
    z = _z(obs[:, :5], ex[:5])
    assert np.all(np.abs(z) < 4.5), z
    # the Rao-Blackwellised estimate has smaller variance than the binary one
    assert obs[:, 0].var() < dbm.visible_observables(s)[:, 0].var()


def test_paper_initial_theta_density():
    """ALGORITHM.md section 9 test 6: about 100.8 X and Y per 40 x 40 at theta(0)."""
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    th = dbm.initial_theta(reference=True)
    s = dbm.init_chains(200, 0)
    dbm.sample(th, s, 5, seed=1)
    p = math.exp(-2.63) / (1 + 2 * math.exp(-2.63))
    expected = 1600 * p
    assert expected == pytest.approx(100.8, abs=0.05)
    counts = dbm.visible_observables(s)[:, :2]
    se = math.sqrt(1600 * p * (1 - p) / 200)
    assert np.all(np.abs(counts.mean(axis=0) - expected) < 4 * se)
    # hidden layers uniform at zero weights
    hid = (s[:, 1:] == 1).mean()
    assert abs(hid - 1 / 3) < 4 * math.sqrt(2 / 9 / s[:, 1:].size)
