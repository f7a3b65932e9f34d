"""Static learning of lattice DBMs (dbdviz.dbm.static)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dbdviz.config import DBMConfig
from dbdviz.dbm import DBM, fit_static


@pytest.fixture(scope="module")
def visible_data():
    """400 snapshots of a known fully visible model with couplings (16 x 16)."""
    dbm = DBM(DBMConfig(depth=0, visible_couplings=True), 16)
    true = np.array([-1.5, -1.2, 0.4, -0.3, 0.25])
    s = dbm.init_chains(400, 1)
    dbm.sample(true, s, 300, seed=2)
    return dbm, true, s


@pytest.mark.parametrize(
    "centered,optimizer,lr", [(True, "sgd", 0.5), (False, "adam", 0.02)]
)
def test_recovers_fully_visible_parameters(visible_data, centered, optimizer, lr):
    dbm, true, s = visible_data
    data = s[:, 0].copy()
    fit = fit_static(
        dbm,
        data,
        steps=800,
        lr=lr,
        optimizer=optimizer,
        chains=50,
        sweeps_asleep=3,
        seed=3,
        centered=centered,
    )
    # MLE standard error from the Fisher information Cov(M) / n_data, plus the
    # fluctuation of the iterates (both are estimates; 4 sigma)
    M = dbm.param_statistics(s)
    se_mle = np.sqrt(np.diag(np.linalg.inv(np.cov(M.T))) / data.shape[0])
    sd_iter = fit.history[-200:].std(axis=0)
    tol = 4 * np.sqrt(se_mle**2 + sd_iter**2)
    assert np.all(np.abs(fit.theta - true) < tol), (fit.theta, true, tol)
    assert fit.history.shape == (801, 5) and fit.awake.shape == (800, 5)
    # the fitted model matches the data moments (MLE property), per site
    gap = (fit.awake[-200:] - fit.asleep[-200:]).mean(axis=0) / dbm.n_sites
    assert np.all(np.abs(gap) < 0.01)


def test_depth1_fit_matches_visible_moments():
    true_dbm = DBM(DBMConfig(depth=1, visible_couplings=False), 12)
    th = true_dbm.initial_theta(0.15, 0.1)
    th[true_dbm.param_names.index("wXX1")] = 0.6
    th[true_dbm.param_names.index("wYY1")] = -0.5
    th[true_dbm.param_names.index("bX1")] = -1.0
    s = true_dbm.init_chains(300, 4)
    true_dbm.sample(th, s, 200, seed=5)
    data = s[:, 0].copy()
    obs_data = true_dbm.visible_observables(s)[:, :5]
    fit = fit_static(
        true_dbm, data, steps=600, lr=0.02, chains=50, sweeps_asleep=3, seed=6
    )
    # sample the fitted model and compare X, Y, nnXX, nnXY, nnYY (z-test, two samples)
    m = true_dbm.init_chains(400, 7)
    true_dbm.sample(fit.theta, m, 200, seed=8)
    obs_model = true_dbm.visible_observables(m)[:, :5]
    se = np.sqrt(obs_data.var(0) / len(obs_data) + obs_model.var(0) / len(obs_model))
    z = (obs_model.mean(0) - obs_data.mean(0)) / se
    assert np.all(np.abs(z) < 4.5), z
    # and the data moments are not trivially matched by the independent-site start
    z0 = (
        true_dbm.visible_observables(
            true_dbm.sample(
                true_dbm.initial_theta(0.15, 0.1),
                true_dbm.init_chains(400, 9),
                50,
                seed=10,
            )
        )[:, 2:5].mean(0)
        - obs_data[:, 2:5].mean(0)
    ) / se[2:5]
    assert np.max(np.abs(z0)) > 6


def test_fit_static_bad_inputs():
    dbm = DBM(DBMConfig(depth=1, visible_couplings=False), 6)
    data = np.zeros((3, 6, 6), np.uint8)
    with pytest.raises(ValueError, match="data must have shape"):
        fit_static(dbm, np.zeros((3, 5, 5), np.uint8))
    with pytest.raises(ValueError, match="optimizer"):
        fit_static(dbm, data, optimizer="rmsprop")
    with pytest.raises(ValueError, match="data codes"):
        fit_static(dbm, data + 3)
    with pytest.raises(ValueError, match="steps"):
        fit_static(dbm, data, steps=0)
    fit = fit_static(dbm, data, steps=2, chains=2, seed=0)
    assert np.all(np.isfinite(fit.theta)) and math.isfinite(fit.settings["lr"])
