"""The observables' refinement at depth 2 and 3 (issue 14): the Gauss-Newton step
needs the model's Cov(o, M) only, which binary chain states give at any depth."""

from __future__ import annotations

import numpy as np
import pytest
from test_dbm import make
from test_refine_targets import check_sampled_statistics

from dbdviz.config import depth_configs, preset
from dbdviz.dbd import Trainer, refine_static
from dbdviz.dbd.refine import StaticRefiner
from dbdviz.simulate import simulate


def test_depth2_model_statistics_and_covariances_by_enumeration():
    """sample_from_data at depth 2 (2 x 2 lattice, 3**12 joint states): binary
    statistics, their mean E[M] and Cov(o_k, M) within 4 standard errors of the
    exact values."""
    dbm = make(2, depth=2, cross_channel=True, visible_couplings=True)
    theta = np.random.default_rng(6).normal(0, 0.5, dbm.n_params)
    check_sampled_statistics(dbm, theta, seed=12)


@pytest.fixture(scope="module")
def small():
    cfg = preset(
        "paper", size=12, init_x=14, init_y=14, steps=30, replicates=16, seed=5
    )
    return simulate(cfg)


def test_depth2_trains_and_refines_the_observables(small):
    dc, tc = depth_configs(
        2,
        {"cross_channel": True, "visible_nnn_couplings": True},
        {"opt_steps": 12, "refine": "on", "refine_targets": "observables"},
    )
    tr = Trainer(small, dc, tc.copy(refine_iterations=6, refine_chains=20), seed=1)
    model = tr.run()
    rm = model.meta["refine"]
    assert rm["targets"] == "observables" and rm["iterations"] == 6
    assert np.isfinite(rm["error_before"]) and np.isfinite(rm["error_after"])
    assert rm["accepted"] == (rm["error_after"] <= rm["error_before"])
    # only the visible statistics are the data's own; the rest are unknown
    r = StaticRefiner(
        tr.model() if not rm["accepted"] else model,
        small,
        iterations=1,
        chains=10,
        targets="observables",
    )
    vis = np.r_[r.dbm.bias_index[0], r.dbm.coupling_index]
    assert np.all(np.isfinite(r.data_stats[:, vis]))
    hidden = np.setdiff1d(np.arange(r.dbm.n_params), vis)
    assert np.all(np.isnan(r.data_stats[:, hidden]))
    np.testing.assert_array_equal(r.data_stats[:, vis], r.data_obs)  # X ... nnnYY
    # the statistics as targets would need the data's hidden statistics
    with pytest.raises(ValueError, match="targets = 'observables'"):
        refine_static(model, small, targets="statistics")
    with pytest.raises(ValueError, match="init = 'random'"):
        refine_static(model, small, targets="observables", init="data")
