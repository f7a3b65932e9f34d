"""Visible diagonal (next-nearest-neighbour) couplings JXX2, JXY2, JYY2
(``DBMConfig.visible_nnn_couplings``): layout, kernels against the naive twins
(same random numbers), exact enumeration on 3 x 3 lattices, the statistics'
fused paths."""

from __future__ import annotations

import naive_dbm as nv
import numpy as np
import pytest
from test_dbm import N_EXACT, _z, chi2_pvalue

from dbdviz._rng import seed_states
from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig
from dbdviz.dbm import DBM
from dbdviz.moments import lattice_observables


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("dbm")


def make(size, **cfg):
    cfg = {"visible_couplings": True, "visible_nnn_couplings": True, **cfg}
    return DBM(DBMConfig(**cfg), size, tiny_ok=True)


def test_layout_and_refusals():
    dbm = make(6, depth=1, cross_channel=True)
    names = dbm.param_names
    assert names[-6:] == ("JXX", "JXY", "JYY", "JXX2", "JXY2", "JYY2")
    assert list(dbm.coupling_index) == [names.index(n) for n in names[-6:]]
    # the diagonal couplings are outputs of F, not part of its domain
    assert [names[i] for i in dbm.domain_indices][-3:] == ["JXX", "JXY", "JYY"]
    assert (
        len(dbm.domain_indices)
        == DBMConfig(
            depth=1, cross_channel=True, visible_nnn_couplings=True
        ).domain_size()
    )
    assert dbm.coupling_mode == 2 and dbm.diagonal
    assert DBM(DBMConfig(depth=1), 6).coupling_mode == 1
    # without NN couplings, or with 3 x 3 patches, the setting is ignored (the
    # depth-1 default sets it; turning NN couplings off or conn = 9 must train)
    for cfg in (
        DBMConfig(depth=1, visible_couplings=False, visible_nnn_couplings=True),
        DBMConfig(depth=1, conn=9, visible_nnn_couplings=True),
    ):
        cfg.validate()
        off = DBM(cfg, 6)
        assert not off.diagonal and off.coupling_mode == int(off.coupled)
        assert "JXX2" not in off.param_names


@pytest.mark.parametrize(
    "cfg,size",
    [
        (dict(depth=0), 3),  # odd L
        (dict(depth=0), 4),
        (dict(depth=1, cross_channel=True), 5),
        (dict(depth=2), 4),
    ],
)
def test_kernels_match_naive_twins(cfg, size):
    dbm = make(size, **cfg)
    rs = np.random.default_rng(12)
    th = rs.normal(0, 0.8, (2, dbm.n_params))
    rng0 = seed_states(5, 3)
    s0 = dbm.init_chains(3, rng0.copy())
    rows = np.array([0, 1, 1])
    rng = seed_states(7, 3)
    s = s0.copy()
    dbm.sample(th, s, 3, seed=rng.copy(), rows=rows)
    np.testing.assert_array_equal(s, nv.sweep(dbm, th, s0, 3, rng, rows=rows))
    np.testing.assert_allclose(
        dbm.final_probabilities(th[0], s0),
        nv.final_probabilities(dbm, th[0], s0),
        rtol=1e-13,
        atol=0,
    )
    np.testing.assert_array_equal(dbm.param_statistics(s0), nv.statistics(dbm, s0))
    # the probability path of the statistics on one-hot states: the same numbers
    oh = np.stack([s0 == 1, s0 == 2], axis=2).astype(float)
    np.testing.assert_array_equal(dbm.param_statistics(oh), dbm.param_statistics(s0))
    # the diagonal statistics are the nnn observables
    obs = lattice_observables(s0[:, 0]).astype(float)
    np.testing.assert_array_equal(
        dbm.param_statistics(s0)[:, dbm.coupling_index[3:]], obs[:, 5:8]
    )


def test_fused_statistics_match_the_slow_forms():
    dbm = make(6, depth=1, cross_channel=True)
    rs = np.random.default_rng(3)
    th = rs.normal(0, 0.5, (3, dbm.n_params))
    s = dbm.init_chains(12, 1)
    rows = np.repeat(np.arange(3), 4)
    # clamped statistics = hidden probabilities, visible one-hot
    x = dbm.final_probabilities(th, s, rows)
    x[:, 0, 0] = s[:, 0] == 1
    x[:, 0, 1] = s[:, 0] == 2
    np.testing.assert_allclose(
        dbm.clamped_statistics(th, s, rows), dbm.param_statistics(x), rtol=1e-13
    )
    # final moments = the unfused probability path
    obs, M = dbm.final_moments(th, s, rows)
    pr = dbm.final_probabilities(th, s, rows)
    np.testing.assert_allclose(M, dbm.param_statistics(pr), rtol=1e-12)
    np.testing.assert_allclose(obs, dbm.visible_observables(pr), rtol=1e-12)


def test_exact_fully_visible_3x3():
    """Depth 0 with NN and diagonal couplings on a 3 x 3 torus (3**9 states; the
    colour passes are not independent sets: a systematic scan, still exact)."""
    dbm = make(3, depth=0)
    th = np.array([-0.5, -0.3, 0.4, -0.6, 0.5, -0.5, 0.3, 0.6])
    st, pr = nv.exact_joint(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s), pr, N_EXACT) > 1e-3
    z = _z(dbm.param_statistics(s), pr @ nv.statistics(dbm, st))
    assert np.all(np.abs(z) < 4.5), z


def test_exact_visible_marginal_depth1_3x3():
    dbm = make(3, depth=1, cross_channel=True)
    th = np.random.default_rng(3).normal(0, 0.3, dbm.n_params)
    cfgs, pv = nv.exact_visible_depth1(dbm, th)
    s = dbm.init_chains(N_EXACT, 1)
    dbm.sample(th, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s[:, 0]), pv, N_EXACT) > 1e-3
    ex = pv @ lattice_observables(cfgs).astype(float)
    z = _z(lattice_observables(s[:, 0]).astype(float), ex)
    assert np.all(np.abs(z[:8]) < 4.5), z
