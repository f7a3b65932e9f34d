"""The predators' balance imposed on the survivors' path (dbdviz.dbd.balance) and
the path fit with it inside its integration (pathfit ``project``, ``balance_gain``)."""

# ruff: noqa: F811  (the fixtures dying, tp_model of test_predict_mixture)
from __future__ import annotations

import numpy as np
import pytest
from test_pathfit import _check_gradient, _law, _rotation

from dbdviz.dbd.balance import balance_map, balanced_path
from dbdviz.dbd.mixture import TwoPhase, alive_means
from dbdviz.dbd.pathfit import fit_along_paths


def _spd(rng, P):
    A = rng.standard_normal((P, P))
    return A @ A.T + P * np.eye(P)


def test_balance_map_makes_the_balance_exact():
    """Gain 1: ``Cov(Y, .) f' = a nnXY - death Y`` of the linearised moments at any
    theta and for any f, and f's own predator-bias entry drops out; gain 0: the
    identity; gain g: the fraction g of the correction."""
    rng = np.random.default_rng(1)
    P, a, death = 5, 0.2, 0.06
    C = _spd(rng, P)
    m, thk = rng.uniform(1, 5, P), rng.standard_normal(P)
    d = np.array([0.0, -death, 0.0, a, 0.0])
    Pm, Bm, Bv = balance_map(m, C, thk, a, death, 1.0)
    for _ in range(3):
        f, th = rng.standard_normal(P), rng.standard_normal(P)
        fp = Pm @ f + Bm @ th + Bv
        np.testing.assert_allclose(C[1] @ fp, d @ (m + C @ (th - thk)), rtol=1e-12)
        np.testing.assert_array_equal(np.delete(fp, 1), np.delete(f, 1))
        f2 = f.copy()
        f2[1] += 3.0
        np.testing.assert_allclose(Pm @ f2 + Bm @ th + Bv, fp, rtol=1e-12)
    Pm0, Bm0, Bv0 = balance_map(m, C, thk, a, death, 0.0)
    np.testing.assert_array_equal(Pm0, np.eye(P))
    assert not Bm0.any() and not Bv0.any()
    Pq, Bq, Bvq = balance_map(m, C, thk, a, death, 0.25)
    f, th = rng.standard_normal(P), rng.standard_normal(P)
    full = Pm @ f + Bm @ th + Bv - f
    np.testing.assert_allclose(Pq @ f + Bq @ th + Bvq - f, 0.25 * full, atol=1e-12)
    Pz, Bz, Bvz = balance_map(m, np.zeros((P, P)), thk, a, death, 1.0)
    np.testing.assert_array_equal(Pz, np.eye(P))
    assert not Bz.any() and not Bvz.any()


# ---------------------------------------------------------------- path fit
def _project(law, maps, start, T, dt):
    """Forward Euler of ``Pm f + Bm theta + Bv`` (the maps per step)."""
    th = np.empty((T + 1, 2))
    th[0] = start
    for t in range(T):
        f = law.evaluate(th[t][None])[0]
        th[t + 1] = th[t] + dt * (maps[0][t] @ f + maps[1][t] @ th[t] + maps[2][t])
    return th


@pytest.fixture(scope="module")
def projected():
    """A 2-D law, per path affine maps (a shrink of the second direction toward a
    target line, varying in time) and the true law's projected paths; a wrong
    law (every second center perturbed: the correction can represent the truth)."""
    rng = np.random.default_rng(3)
    centers, alpha = _rotation(rng)
    true = _law(alpha, centers)
    T, dt = 60, 0.5
    starts = [np.array([1.0, 0.0]), np.array([0.0, -1.2]), np.array([-0.8, 0.8])]
    maps = []
    for _ in starts:
        s = 0.3 + 0.2 * np.sin(0.1 * np.arange(T + 1) + rng.uniform(0, 3))
        Pm = np.tile(np.eye(2), (T + 1, 1, 1))
        Pm[:, 1, :] += np.outer(-s, [0.4, 1.0])
        Bm = np.zeros((T + 1, 2, 2))
        Bm[:, 1, 0] = 0.1 * s
        Bv = np.zeros((T + 1, 2))
        Bv[:, 1] = 0.05 * s
        maps.append((Pm, Bm, Bv))
    paths = [_project(true, mp, s, T, dt) for mp, s in zip(maps, starts, strict=True)]
    wrong = alpha.copy()
    wrong[::2] += 0.05 * rng.standard_normal(wrong[::2].shape)
    return true, _law(wrong, centers), starts, paths, maps


def test_project_gradient_matches_finite_differences(projected):
    """The Gauss-Newton gradient of the objective with the projection in the
    integration equals central differences in the corrected coefficients."""
    _, wrong, starts, paths, maps = projected
    kw = dict(every=2, ridge=0.0, iterations=0, stride=2, starts=starts, project=maps)
    w = [np.ones(61)] * 3
    base = fit_along_paths(wrong, paths, w, 0.5, **kw)
    grad = base.info["gradient"]
    assert np.abs(grad).max() > 1e-3
    _check_gradient(wrong, paths, w, kw, grad)
    # the objective is that of the projected paths (not of the law's own)
    own = [wrong.integrate(s, 60, 0.5) for s in starts]
    proj = [_project(wrong, mp, s, 60, 0.5) for mp, s in zip(maps, starts, strict=True)]
    assert not np.allclose(own[0], proj[0], atol=1e-3)
    noproj = fit_along_paths(wrong, paths, w, 0.5, **{**kw, "project": None})
    assert abs(noproj.info["objective"][0] - base.info["objective"][0]) > 1e-3 * abs(
        base.info["objective"][0]
    )


def test_project_fit_recovers_the_projected_paths(projected):
    """Fitted with the projection inside its integration, the law's projected
    paths meet the targets (the objective falls by orders of magnitude); the
    identity map is the fit without a projection, bit for bit."""
    _, wrong, starts, paths, maps = projected
    kw = dict(every=2, ridge=1e-10, iterations=8, stride=1, starts=starts)
    w = [np.ones(61)] * 3
    fit = fit_along_paths(wrong, paths, w, 0.5, project=maps, **kw)
    obj = fit.info["objective"]
    assert obj[-1] < 1e-4 * obj[0]
    after = _project(fit, maps[0], starts[0], 60, 0.5)
    before = _project(wrong, maps[0], starts[0], 60, 0.5)
    assert np.abs(after - paths[0]).max() < 1e-2 * np.abs(before - paths[0]).max()
    ident = [
        (np.tile(np.eye(2), (61, 1, 1)), np.zeros((61, 2, 2)), np.zeros((61, 2)))
    ] * 3
    kw2 = dict(every=2, ridge=1e-3, iterations=2, stride=2, starts=starts)
    a = fit_along_paths(wrong, paths, w, 0.5, **kw2)
    b = fit_along_paths(wrong, paths, w, 0.5, project=ident, **kw2)
    np.testing.assert_array_equal(a.alpha, b.alpha)
    assert a.info["objective"] == b.info["objective"]
    with pytest.raises(ValueError, match="whole paths"):
        fit_along_paths(wrong, paths, w, 0.5, project=maps, window=20)


# ------------------------------------------------- the sampled path, the model
# the two tiny ensembles with extinctions and their model (one definition)
from test_predict_mixture import dying, path_fit_spy, tp_model  # noqa: E402, F401


def _with_balance(tp, balance):
    return TwoPhase(
        tp.alive, tp.hazard, tp.ratio, tp.curve, tp.blend, tp.passage, balance
    )


def test_balanced_path_obeys_the_balance(dying, tp_model):
    """Gain 0: the plain alive path bit for bit; gain 1: every step's increment
    obeys the balance of the last sample's linearised moments, the samples are the
    sampler's at the path's theta with seeds ``seed + t``, the maps returned are
    the ones used."""
    from dbdviz.dbd.evaluate import sample_trajectory

    m = tp_model
    dbm, tp = m.dbm(), m.mixture
    N = float(dbm.n_sites)
    th0 = dbm.initial_theta(10 / N, 3 / N)
    plain = tp.integrate(m.rhs, th0, 40, 1.0)
    a, death = 0.2, 0.06
    th, ts, st, cv, maps = balanced_path(
        tp, m.rhs, dbm, th0, 40, 1.0, seed=5, threads=1, balance=[a, death, 0, 5, 4]
    )
    np.testing.assert_array_equal(th, plain)
    np.testing.assert_array_equal(ts, np.arange(0, 41, 5))
    mix = _with_balance(tp, [a, death, 1.0, 5, 4])
    th, ts, st, cv, maps = balanced_path(
        mix, m.rhs, dbm, th0, 40, 1.0, seed=5, threads=1
    )
    assert not np.allclose(th, plain)
    d = np.array([0.0, -death, 0.0, a, 0.0])
    for t in range(40):
        k = t // 5
        lhs = cv[k][1] @ (th[t + 1] - th[t])
        rhs = d @ (st[k] + cv[k] @ (th[t] - th[ts[k]]))
        np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-12)
        Pm, Bm, Bv = balance_map(st[k], cv[k], th[ts[k]], a, death, 1.0)
        for got, want in zip(maps, (Pm, Bm, Bv), strict=True):
            np.testing.assert_array_equal(got[t], want)
    for k in (0, 3, 8):
        ev = sample_trajectory(
            dbm,
            np.ascontiguousarray(th[ts[k]][None]),
            chains=4,
            sweeps=9,
            seed=5 + int(ts[k]),
            cov_from="states",
            threads=1,
        )
        np.testing.assert_array_equal(st[k], np.asarray(ev.stats)[0][:5])
        np.testing.assert_array_equal(cv[k], np.asarray(ev.cov)[0][:5, :5])


def test_path_fit_balance_plumbing(dying, tp_model, path_fit_spy):
    """balance_gain 0 passes nothing on (the same call as without); > 0 integrates
    every path with the balance (the paths and maps handed to fit_along_paths are
    balanced_path's with seeds ``seed + 100003 it + 1009 e``), the linearisation
    is its samples, and info["balance"] records ``[a, death, gain, every,
    chains]``; refused without the death rate or with the passage clock."""
    from dbdviz.dbd import pathfit

    seen = path_fit_spy
    m = tp_model
    dbm, tp = m.dbm(), m.mixture
    obs = [np.asarray(e.observables, dtype=np.float64) for e in dying]
    N = float(dbm.n_sites)
    starts = [
        dbm.initial_theta(e.config.init_x / N, e.config.init_y / N) for e in dying
    ]
    paths = [tp.integrate(m.rhs, s, 40, 1.0) for s in starts]
    args = (dbm, tp.alive, m.rhs, paths, obs, starts, tp, 1.0)
    kw = dict(chains=4, outer=1, every_t=5, seed=3, threads=1, hazard_target="data")
    F0 = pathfit.fit_alive_along_paths(*args, **kw)
    assert "balance" not in F0.info
    pathfit.fit_alive_along_paths(*args, balance_gain=0.0, death=0.06, **kw)
    with pytest.raises(ValueError, match="death"):
        pathfit.fit_alive_along_paths(*args, balance_gain=0.5, **kw)
    F2 = pathfit.fit_alive_along_paths(*args, balance_gain=0.5, death=0.06, **kw)
    (c0, k0), (c1, k1), (c2, k2) = seen
    assert "project" not in k0 and k0.keys() == k1.keys()
    for a, b in zip(c0, c1, strict=True):
        np.testing.assert_array_equal(a, b)
    a = pathfit.predation_coefficient(obs, 0.06, 1.0)
    np.testing.assert_allclose(F2.info["balance"], [a, 0.06, 0.5, 5, 4])
    mix = _with_balance(tp, F2.info["balance"])
    for e, s in enumerate(starts):
        th, ts, st, cv, maps = balanced_path(
            mix, m.rhs, dbm, s, 40, 1.0, seed=3 + 1009 * e, threads=1
        )
        np.testing.assert_array_equal(c2[e], th)
        for i in range(3):
            np.testing.assert_array_equal(k2["project"][e][i], maps[i])
        # the linearisation is these samples: offset and metric at the sampled
        # steps are the mixture's of the sampled statistics and covariance
        am, n = alive_means(obs[e][:, :, :5])
        share = n / n[0]
        scale = obs[e][:, :, :5].mean(axis=0).mean(axis=0)
        want = share[ts, None] * (st - am[ts]) / scale
        np.testing.assert_allclose(k2["offset"][e][ts], want, rtol=1e-9, atol=1e-12)
        want = share[ts, None, None] * cv / scale[None, :, None]
        np.testing.assert_allclose(k2["metric"][e][ts], want, rtol=1e-9, atol=1e-12)
    assert k2["metric"][0].shape == (41, 5, 5)


def test_model_with_balance_saves_and_predicts(dying, tp_model, tmp_path):
    """A model whose mixture carries a balance round-trips through its file and
    predicts along balanced_path (seed + 1000003); without it, the plain path;
    a malformed balance is refused."""
    import copy

    from dbdviz.dbd import DBDModel, predict

    m = copy.copy(tp_model)
    bal = [0.2, 0.06, 0.5, 5, 4]
    m.mixture = _with_balance(tp_model.mixture, bal)
    f = tmp_path / "bal.npz"
    m.save(f)
    back = DBDModel.load(f)
    np.testing.assert_array_equal(back.mixture.balance, bal)
    plain_file = tmp_path / "plain.npz"
    tp_model.save(plain_file)
    assert DBDModel.load(plain_file).mixture.balance is None
    cfg = dying[0].config
    p = predict(back, cfg, chains=4, seed=2, threads=1, warn=False)
    dbm = back.dbm()
    N = float(dbm.n_sites)
    th0 = dbm.initial_theta(cfg.init_x / N, cfg.init_y / N)
    want = balanced_path(
        back.mixture, back.rhs, dbm, th0, cfg.steps, 1.0, seed=1_000_005, threads=1
    )[0]
    np.testing.assert_array_equal(p.theta, want)
    q = predict(tp_model, cfg, chains=4, seed=2, threads=1, warn=False)
    assert not np.allclose(q.theta, p.theta)
    tp = tp_model.mixture
    for bad in ([0.2, 0.06, 0.5, 5], [0.2, 0.06, 0.5, 0, 4], [np.nan, 0, 0, 1, 1]):
        with pytest.raises(ValueError, match="balance"):
            _with_balance(tp, bad)
