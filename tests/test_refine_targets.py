"""Hidden units by their conditional expectation (DBM.clamped_statistics) and the
refinement's targets (issue 14): exact small cases by enumeration."""

from __future__ import annotations

import naive_dbm as nv
import numpy as np
import pytest
from test_dbm import make

from dbdviz.config import TrainConfig, preset
from dbdviz.dbd import Trainer, refine_static
from dbdviz.dbd.refine import TARGET_OBSERVABLES, StaticRefiner, sample_from_data
from dbdviz.dbd.train import default_configs
from dbdviz.dbm.clamped import expected_statistics, patch_histograms
from dbdviz.simulate import simulate


def _twin(dbm, theta, states, rows):
    """The slow form: final probabilities, the visible layer one-hot, numpy
    statistics of probabilities."""
    x = dbm.final_probabilities(theta, states, rows)
    v = states[:, 0]
    x[:, 0, 0] = v == 1
    x[:, 0, 1] = v == 2
    return dbm.param_statistics(x)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(depth=1, cross_channel=True, visible_couplings=True),
        dict(depth=1, visible_couplings=False),
        dict(depth=1, conn=9, cross_channel=True, visible_couplings=True),
        dict(depth=2, conn=9, cross_channel=True),
    ],
)
def test_clamped_statistics_equal_their_slow_twin(cfg):
    dbm = make(7, **cfg)
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.5, (3, dbm.n_params))
    states = dbm.init_chains(12, 1)
    rows = np.repeat(np.arange(3), 4)
    before = states.copy()
    got = dbm.clamped_statistics(theta, states, rows)
    np.testing.assert_allclose(got, _twin(dbm, theta, states, rows), rtol=1e-12)
    assert np.array_equal(states, before)  # not changed
    # the hidden layer's own state does not enter at depth 1
    if dbm.depth == 1:
        states[:, 1] = 0
        np.testing.assert_array_equal(dbm.clamped_statistics(theta, states, rows), got)


@pytest.mark.parametrize("conn", [4, 9])
def test_patch_histograms_give_the_clamped_statistics(conn):
    """The refinement's awake side: patch-code counts once, then any theta."""
    dbm = make(7, depth=1, conn=conn, cross_channel=True, visible_couplings=True)
    rng = np.random.default_rng(4)
    theta = rng.normal(0, 0.5, (3, dbm.n_params))
    states = dbm.init_chains(15, 2)
    M = dbm.clamped_statistics(theta, states, np.repeat(np.arange(3), 5))
    M = M.reshape(3, 5, -1).mean(axis=1)
    H = patch_histograms(dbm, states[:, 0]).reshape(3, 5, -1).mean(axis=1)
    assert np.all(H.sum(axis=1) == 49)
    np.testing.assert_allclose(
        expected_statistics(dbm, theta, H, M), M, rtol=1e-12, atol=1e-12
    )
    with pytest.raises(ValueError, match="depth 1"):
        expected_statistics(make(7, depth=2), theta, H, M)


def test_clamped_statistics_of_a_visible_machine_are_its_statistics():
    dbm = make(6, depth=0, visible_couplings=True)
    states = dbm.init_chains(5, 2)
    theta = np.zeros(dbm.n_params)
    np.testing.assert_array_equal(
        dbm.clamped_statistics(theta, states), dbm.param_statistics(states)
    )


def test_model_statistics_and_covariances_by_enumeration():
    """sample_from_data at depth 1 (random start, many sweeps: equilibrium on a
    2 x 2 lattice): the chain mean of the statistics (hidden units by their
    expectation given the visible layer) is E[M], and ``cov`` is Cov(o_k, M) =
    d<o_k>/dtheta, both within 4 standard errors of the exact values."""
    dbm = make(2, depth=1, cross_channel=True, visible_couplings=True)
    theta = np.random.default_rng(5).normal(0, 0.6, dbm.n_params)
    got, C, ok = check_sampled_statistics(dbm, theta, seed=11)  # 6561 joint states
    np.testing.assert_allclose(got[~ok], C[~ok], atol=1e-9)


def check_sampled_statistics(dbm, theta, seed, n=4000):
    """``sample_from_data`` (``n`` chains, 40 sweeps from a random start) against
    the exact joint distribution of a tiny machine: the chain mean of the statistics
    within 4 standard errors of E[M], ``cov`` within 4 of Cov(o_k, M) wherever that
    has a standard error. Returns (sampled cov, exact cov, has-SE mask), flat."""
    st, p = nv.exact_joint(dbm, theta)
    M = nv.statistics(dbm, st)
    o = dbm.state_observables(st)[:, : len(TARGET_OBSERVABLES)]
    EM = p @ M
    Eo = p @ o
    C = np.einsum("s,sk,sp->kp", p, o - Eo, M - EM)
    # SE of a covariance estimate: sqrt(Var((o - Eo)(M - EM)) / n)
    prod = (o - Eo)[:, :, None] * (M - EM)[:, None, :]
    ev = sample_from_data(
        dbm, theta[None], np.zeros(1), None, chains=n, sweeps=40, seed=seed
    )
    z_mean = (ev.stats[0] - EM) / (ev.stats_sd[0] / np.sqrt(n))
    assert np.abs(z_mean).max() < 4, z_mean
    se_cov = np.sqrt((p @ prod.reshape(len(p), -1) ** 2 - C.ravel() ** 2) / n)
    got = ev.cov[0, : len(TARGET_OBSERVABLES)].ravel()
    ok = se_cov > 1e-9
    assert np.abs((got - C.ravel())[ok] / se_cov[ok]).max() < 4
    return got, C.ravel(), ok


@pytest.fixture(scope="module")
def small():
    cfg = preset(
        "paper", size=12, init_x=14, init_y=14, steps=30, replicates=16, seed=5
    )
    data = simulate(cfg)
    dc, tc = default_configs(opt_steps=12, refine="off")
    return data, Trainer(data, dc, tc, seed=1).run()


def test_observable_targets_move_the_observables_to_the_data(small):
    """With ``targets = "observables"`` the refinement's own error measure is
    the relative error of X ... nnnYY against the data; it falls, the check
    compares it, and meta records the targets."""
    data, model = small
    r = StaticRefiner(
        model, data, iterations=15, chains=30, lr=0.01, taps=5, targets="observables"
    )
    while not r.done:
        r.step()
    refined = r.finish()
    rm = refined.meta["refine"]
    assert rm["targets"] == "observables" and rm["accepted"] is True
    assert rm["error_after"] < 0.8 * rm["error_before"], rm
    assert r.data_obs.shape == (r.idx.size, len(TARGET_OBSERVABLES))
    with pytest.raises(ValueError, match="targets"):
        refine_static(model, data, targets="pairs")


def test_trainconfig_carries_the_targets():
    assert TrainConfig().refine_targets == "statistics"
    with pytest.raises(ValueError):
        TrainConfig(refine_targets="pairs")


def test_nn_weight_weights_counts_and_nn_pairs_in_the_gauss_newton_step(small):
    """``nn_weight`` multiplies the residuals and Jacobian rows of X, Y and the NN
    pairs (not the diagonal pairs) in the damped Gauss-Newton step: the step
    by hand from the same sampling; 1 and 3 give different steps."""
    from dbdviz.dbd.refine import GN_DAMPING, GN_MAX_STEP, GN_STEP

    data, model = small
    steps = {}
    for w in (1.0, 3.0):
        r = StaticRefiner(
            model, data, iterations=1, chains=20, targets="observables", nn_weight=w
        )
        ev = r._sample(r.theta, 1, None)
        K = len(TARGET_OBSERVABLES)
        weight = np.array([w] * 5 + [1.0] * (K - 5))
        scale = np.abs(r.data_obs).mean(axis=0)
        scale[scale == 0] = 1.0
        o = np.column_stack([ev.table.mean[k] for k in TARGET_OBSERVABLES])
        res = weight * (r.data_obs - o) / scale
        J = weight[None, :, None] * ev.cov[:, :K, :] / scale[None, :, None]
        want = np.empty_like(r.theta)
        for j in range(r.theta.shape[0]):
            A = J[j].T @ J[j]
            lam = GN_DAMPING * np.trace(A) / A.shape[0] + 1e-12
            sol = np.linalg.solve(A + lam * np.eye(A.shape[0]), J[j].T @ res[j])
            want[j] = np.clip(GN_STEP * sol, -GN_MAX_STEP, GN_MAX_STEP)
        steps[w] = r._gauss_newton(ev)
        np.testing.assert_allclose(steps[w], want, rtol=1e-8, atol=1e-12)
    assert np.abs(steps[3.0] - steps[1.0]).max() > 1e-4
    with pytest.raises(ValueError, match="nn_weight"):
        StaticRefiner(model, data, targets="observables", nn_weight=0.0)
    assert TrainConfig().refine_nn_weight == 1.0
