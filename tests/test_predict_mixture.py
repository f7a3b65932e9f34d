"""The two-phase mixture pieces (dbdviz.dbd.mixture): exact small cases of the
mixing plumbing, the hazard fit on a synthetic case with a known answer, and the
prey-only curve of the real simulator."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.config import preset
from dbdviz.dbd.mixture import (
    BLEND,
    TwoPhase,
    alive_means,
    entry_ratio,
    extinct_fraction,
    extinct_moments,
    fit_alive_rhs,
    fit_hazard,
    hazard_covariates,
    mix_moments,
)
from dbdviz.dbd.mixture_fit import prey_only_curve
from dbdviz.moments import OBSERVABLES


def test_hazard_fit_recovers_known_coefficients():
    rng = np.random.default_rng(7)
    true = np.array([-5.0, 1.2, -0.6])
    covs, alive = [], []
    T = 400
    for e in range(4):
        t = np.arange(T + 1)
        f = np.column_stack([np.sin(t / 25 + e), np.cos(t / 40 - e)])
        lam = np.exp(true[0] + f @ true[1:])
        a = np.empty(T + 1, dtype=np.int64)
        a[0] = 20000
        for i in range(T):
            a[i + 1] = a[i] - rng.binomial(a[i], 1 - np.exp(-lam[i]))
        covs.append(f)
        alive.append(a)
    b = fit_hazard(covs, alive)
    # standard errors from the Fisher information at the truth
    F = np.vstack([np.column_stack([np.ones(T), c[:-1]]) for c in covs])
    N = np.concatenate([a[:-1] for a in alive]).astype(float)
    info = F.T @ (F * (N * np.exp(F @ true))[:, None])
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    assert np.all(np.abs(b - true) < 4 * se), (b, true, se)
    # the events are per-step probabilities 1 - exp(-lambda): q follows
    q = extinct_fraction(b, covs[0])
    assert q[0] == 0 and np.all(np.diff(q) >= 0)
    assert abs(q[-1] - (1 - alive[0][-1] / alive[0][0])) < 0.02


def test_constant_hazard_fraction_is_exponential():
    b = np.array([np.log(0.01), 0.0])
    q = extinct_fraction(b, np.zeros(11))
    np.testing.assert_allclose(q, 1 - np.exp(-0.01 * np.arange(11)), rtol=1e-12)


def test_fit_hazard_refuses_bad_input():
    with pytest.raises(ValueError, match="increases"):
        fit_hazard([np.zeros(3)], [np.array([5, 6, 4])])
    with pytest.raises(ValueError, match="no extinction events"):
        fit_hazard([np.zeros(3)], [np.array([5, 5, 5])])
    with pytest.raises(ValueError, match="differ in length"):
        fit_hazard([np.zeros(4)], [np.array([5, 5, 5])])


def curve():
    # X 10, 20, ..., 60 (then full); nnXX = 2 X; no predators
    x = np.array([10.0, 20, 30, 40, 50, 60])
    return np.column_stack([x, 0 * x, 2 * x, 0 * x, 0 * x])


def test_extinct_moments_exact_cohorts():
    c = curve()
    dq = np.zeros(8)
    dq[2] = 0.25  # enters at t = 2 with 20 prey: row 1 of the curve
    dq[5] = 0.5  # enters at t = 5 with 45 prey: first row reaching it is 4 (50)
    x_in = np.zeros(8)
    x_in[2], x_in[5] = 20.0, 45.0
    out = extinct_moments(dq, x_in, c)
    exp = np.zeros((8, 5))
    for t in range(2, 8):
        exp[t] += 0.25 * c[min(1 + t - 2, 5)]
    for t in range(5, 8):
        exp[t] += 0.5 * c[min(4 + t - 5, 5)]
    np.testing.assert_array_equal(out, exp)
    assert out[7, 0] == 0.25 * 60 + 0.5 * 60  # both past the curve's end: full


def test_mix_moments_plumbing():
    A = np.tile(np.array([30.0, 8.0, 12.0, 5.0, 2.0]), (6, 1))
    q0 = np.zeros(6)
    np.testing.assert_array_equal(mix_moments(A, q0, curve(), 0.5), A)
    q = np.array([0.0, 0.0, 0.2, 0.2, 0.2, 0.2])
    m = mix_moments(A, q, curve(), 0.5)  # enters at t = 2 with 15 prey: row 1
    np.testing.assert_allclose(m[:2], A[:2])
    for t in range(2, 6):
        np.testing.assert_allclose(m[t], 0.8 * A[t] + 0.2 * curve()[min(t - 1, 5)])
    assert np.all(m[2:, 1] == 0.8 * 8.0)  # the extinct carry no predators
    with pytest.raises(ValueError, match="shape"):
        mix_moments(A[:, :4], q0, curve(), 0.5)


def test_entry_ratio_exact():
    # 3 replicates, X then Y; replicate 2 loses its predators at t = 2 with 6 prey,
    # while the survivors' mean X at t = 1 is (10 + 20 + 30) / 3 = 20
    o = np.zeros((3, 4, 2))
    o[:, :, 0] = [[10, 10, 10, 10], [20, 20, 20, 20], [30, 30, 6, 8]]
    o[:, :, 1] = [[5, 5, 5, 5], [5, 5, 5, 5], [5, 5, 0, 0]]
    assert entry_ratio([o]) == pytest.approx(6 / 20)
    assert np.isnan(entry_ratio([o[:2]]))


def test_prey_only_curve_of_the_simulator():
    cfg = preset("paper", size=8, steps=300, init_x=4, init_y=4)
    c = prey_only_curve(cfg, init_x=4, replicates=6, seed=1)
    assert c.shape == (301, 5)
    assert np.all(c[:, [1, 3, 4]] == 0)  # Y, nnXY, nnYY
    assert c[0, 0] == 4 and np.all(np.diff(c[:, 0]) >= 0)  # prey never die
    assert np.all(c[:, 2] <= 2 * c[:, 0])  # two bonds per site on a torus
    assert c[-1, 0] > c[0, 0]


# -- the learned pieces (TwoPhase) and their plumbing in train_multi / predict -------


def test_alive_means_exact():
    o = np.zeros((3, 3, 2))
    o[:, :, 0] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    o[:, :, 1] = [[1, 1, 0], [1, 0, 0], [1, 1, 1]]
    m, n = alive_means(o)
    np.testing.assert_array_equal(n, [3, 2, 1])
    np.testing.assert_allclose(m[:, 0], [4.0, 5.0, 9.0])  # alive AT t, not at the end
    o[2, 2, 1] = 0  # nobody left at t = 2: the last means are held
    m, n = alive_means(o)
    assert n[2] == 0 and m[2, 0] == m[1, 0] == 5.0


def test_fit_alive_rhs_weights_drop_a_path():
    t = np.arange(61.0)[:, None]
    a = np.hstack([0.01 * t, np.zeros((61, 1))])  # velocity (0.01, 0)
    b = np.hstack([0.01 * t, 0.02 * t]) + 5.0  # far away, velocity (0.01, 0.02)
    names = ["hX", "hY"]
    f = fit_alive_rhs([a, b], [np.ones(61), np.zeros(61)], 1.0, names=names)
    # weight 0: its ridge is 1000 times larger and it is not in the constant
    np.testing.assert_allclose(f.poly[0], [0.01, 0.0], atol=1e-12)
    np.testing.assert_allclose(f.evaluate(a[30:31])[0], [0.01, 0.0], atol=1e-4)
    g = fit_alive_rhs([a, b], [np.ones(61), np.ones(61)], 1.0, names=names, pull=0)
    assert abs(g.evaluate(b[30:31])[0, 1] - 0.02) < 0.002
    with pytest.raises(ValueError, match="weights"):
        fit_alive_rhs([a], [np.zeros(61)], 1.0, names=names)


def _const_rhs(v, anchors):
    from dbdviz.dbd.kernel import KernelRHS

    P = len(v)
    return KernelRHS(
        np.zeros((1, P)),
        np.zeros((1, P)),
        np.zeros(P),
        np.ones(P),
        anchors,
        length=1.0,
        pull=0.0,
        bandwidth=0.3,
        radius=1.0,
        inputs=[f"p{i}" for i in range(P)],
        form="reactions",
        poly=np.asarray(v, float)[None],
    )


def test_two_phase_integrate_blends_by_the_extinct_fraction():
    whole = _const_rhs([1.0, 0.0], np.zeros((1, 2)))
    alive = _const_rhs([0.0, 2.0], np.zeros((1, 2)))
    lam = 0.02
    tp = TwoPhase(alive, [np.log(lam), 0.0, 0.0], 0.5, curve(), blend=0.05)
    th = tp.integrate(whole, np.zeros(2), 8, 0.5)
    q = 1 - np.exp(-lam * np.arange(8))  # before each step
    w = np.minimum(1.0, q / 0.05)
    np.testing.assert_allclose(th[1:, 0], np.cumsum(0.5 * (1 - w)), rtol=1e-12)
    np.testing.assert_allclose(th[1:, 1], np.cumsum(0.5 * 2 * w), rtol=1e-12)
    np.testing.assert_allclose(tp.extinct(th), 1 - np.exp(-lam * np.arange(9)))


def test_two_phase_integrate_with_a_given_clock():
    """``clock`` replaces the hazard's extinct fraction in the blend, step by step:
    the hazard's own q gives the same path; another clock is seen in both laws."""
    whole = _const_rhs([1.0, 0.0], np.zeros((1, 2)))
    alive = _const_rhs([0.0, 2.0], np.zeros((1, 2)))
    lam = 0.02
    tp = TwoPhase(alive, [np.log(lam), 0.0, 0.0], 0.5, curve(), blend=0.05)
    own = tp.integrate(whole, np.zeros(2), 8, 0.5)
    same = tp.integrate(whole, np.zeros(2), 8, 0.5, tp.extinct(own))
    np.testing.assert_allclose(same, own, rtol=0, atol=1e-14)
    clock = np.array([0.0, 0.01, 0.01, 0.02, 0.04, 0.06, 0.1, 0.1, 0.2])
    th = tp.integrate(whole, np.zeros(2), 8, 0.5, clock)
    w = np.minimum(1.0, clock[:-1] / 0.05)  # the last entry is never used
    np.testing.assert_allclose(th[1:, 0], np.cumsum(0.5 * (1 - w)), rtol=1e-12)
    np.testing.assert_allclose(th[1:, 1], np.cumsum(0.5 * 2 * w), rtol=1e-12)
    with pytest.raises(ValueError, match="clock has shape"):
        tp.integrate(whole, np.zeros(2), 8, 0.5, clock[:-1])


def test_two_phase_quadratic_hazard_exact():
    # lambda = exp(b0 + 0.5 theta_0^2): the squares' coefficients follow theta
    whole = _const_rhs([1.0, 0.0], np.zeros((1, 2)))
    alive = _const_rhs([1.0, 0.0], np.zeros((1, 2)))
    b = [np.log(0.01), 0.0, 0.0, 0.5, 0.0]
    tp = TwoPhase(alive, b, 0.5, curve(), blend=0.05)
    assert tp.quadratic
    th = tp.integrate(whole, np.zeros(2), 6, 0.5)
    np.testing.assert_allclose(th[:, 0], 0.5 * np.arange(7), rtol=1e-12)
    lam = 0.01 * np.exp(0.5 * th[:-1, 0] ** 2)
    np.testing.assert_allclose(
        tp.extinct(th), 1 - np.exp(-np.r_[0.0, np.cumsum(lam)]), rtol=1e-12
    )
    np.testing.assert_array_equal(hazard_covariates(th), np.column_stack([th, th**2]))
    # a linear hazard (model files before the squares) still loads and predicts
    lin = TwoPhase.from_arrays(
        {**tp.to_arrays(), "hazard": np.array(b[:3])}, alive.inputs
    )
    assert not lin.quadratic
    np.testing.assert_allclose(lin.extinct(th), 1 - np.exp(-0.01 * np.arange(7)))


def test_two_phase_mix_mean_and_sd():
    alive = _const_rhs([0.0] * 5, np.zeros((1, 5)))
    tp = TwoPhase(alive, np.zeros(6), 0.5, curve())
    A = np.tile(np.array([30.0, 8.0, 12.0, 5.0, 2.0]), (6, 1))
    S = np.tile(np.array([3.0, 1.0, 2.0, 1.0, 1.0]), (6, 1))
    m, s = tp.mix(A, S, np.zeros(6))
    np.testing.assert_array_equal(m, A)
    np.testing.assert_allclose(s, S)
    q = np.array([0.0, 0.0, 0.2, 0.2, 0.2, 0.2])
    m, s = tp.mix(A, S, q)  # 20 % enter at t = 2 with 15 prey: curve row 1 on
    c = curve()[np.minimum(np.arange(6) - 1, 5)]
    exp_m = 0.8 * A + 0.2 * c
    np.testing.assert_allclose(m[2:], exp_m[2:])
    var = 0.8 * (S**2 + A**2) + 0.2 * c**2 - exp_m**2
    np.testing.assert_allclose(s[2:], np.sqrt(var[2:]))
    back = TwoPhase.from_arrays(tp.to_arrays(), alive.inputs)
    for k, v in tp.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[k], v)
    with pytest.raises(ValueError, match="hazard"):
        TwoPhase(alive, np.zeros(3), 0.5, curve())


@pytest.fixture(scope="module")
def dying():
    """Two tiny ensembles where some replicates lose their predators."""
    from dbdviz.simulate import simulate

    ens = [
        simulate(
            preset(
                "paper", size=8, init_x=x, init_y=y, steps=40, replicates=12, seed=s
            ),
            threads=1,
        )
        for x, y, s in ((10, 3, 3), (14, 2, 4))
    ]
    assert sum(int((e.observables[:, -1, 1] == 0).sum()) for e in ens) > 0
    return ens


@pytest.fixture(scope="module")
def tp_model(dying):
    from dbdviz.dbd.predict import train_multi

    return train_multi(dying, chains=4, iterations=1, threads=1, taps=0)


def test_train_multi_fits_the_two_phase_pieces(dying, tp_model):
    tp = tp_model.mixture
    assert isinstance(tp, TwoPhase)
    obs = [e.observables for e in dying]
    counts = [alive_means(o)[1] for o in obs]
    events = sum(int(c[0] - c[-1]) for c in counts)
    assert tp_model.meta["multi"]["two_phase"]["events"] == events
    assert tp.ratio == pytest.approx(entry_ratio([o[:, :, :2] for o in obs]))
    assert tp.curve.shape == (1501, len(OBSERVABLES))
    assert np.all(tp.curve[:, 1] == 0) and tp.curve[-1, 0] == 64  # full lattice
    assert tp.alive.inputs == tp_model.rhs.inputs and tp.blend == BLEND
    assert tp.quadratic and tp.hazard.shape == (2 * tp.alive.n_funcs + 1,)
    from dbdviz.dbd.predict import train_multi

    one = train_multi(dying, chains=4, iterations=1, threads=1, taps=0, two_phase=False)
    assert one.mixture is None
    np.testing.assert_array_equal(one.rhs.alpha, tp_model.rhs.alpha)


def test_path_fit_corrects_the_survivors_law(dying, tp_model, monkeypatch):
    """The default survivors' law is the velocity fit corrected along its
    integrated paths at every EVERY-th center; PATH_FIT = False gives the velocity
    fit with the same hazard, ratio and curve."""
    from dbdviz.dbd import mixture_fit
    from dbdviz.dbd.pathfit import EVERY
    from dbdviz.dbd.predict import train_multi

    obj = tp_model.meta["multi"]["two_phase"]["path_fit"]
    assert len(obj) == 2 and obj[0][-1] < obj[0][0]
    monkeypatch.setattr(mixture_fit, "PATH_FIT", False)
    seen = []
    old = train_multi(
        dying,
        chains=4,
        iterations=1,
        threads=1,
        taps=0,
        progress=lambda *a: seen.append(a),
    )
    n = len({d for d, _ in seen}) // 2  # fitted time points
    assert seen[-1] == (2 * n, 2 * n) and {u for _, u in seen} == {2 * n}
    # the API's switch is the same fit
    monkeypatch.setattr(mixture_fit, "PATH_FIT", True)
    off = train_multi(dying, chains=4, iterations=1, threads=1, taps=0, path_fit=False)
    np.testing.assert_array_equal(off.mixture.alive.alpha, old.mixture.alive.alpha)
    assert "path_fit" not in old.meta["multi"]["two_phase"]
    a, b = old.mixture, tp_model.mixture
    np.testing.assert_array_equal(a.hazard, b.hazard)
    np.testing.assert_array_equal(a.curve, b.curve)
    assert a.ratio == b.ratio
    np.testing.assert_array_equal(a.alive.centers, b.alive.centers)
    keep = np.arange(len(a.alive.alpha)) % EVERY != 0
    np.testing.assert_array_equal(a.alive.alpha[keep], b.alive.alpha[keep])
    assert not np.array_equal(a.alive.alpha[~keep], b.alive.alpha[~keep])


def test_predict_two_phase_plumbing(tp_model, tmp_path):
    from dbdviz.dbd import DBDModel
    from dbdviz.dbd.predict import predict, sample_moments

    cfg = preset("paper", size=8, init_x=12, init_y=3, steps=40)
    p = predict(tp_model, cfg, chains=4, seed=1, warn=False)
    assert p.form == "two-phase"
    dbm = tp_model.dbm()
    th0 = dbm.initial_theta(12 / 64, 3 / 64)
    tp = tp_model.mixture
    th = tp.integrate(tp_model.rhs, th0, 40, 1.0)
    np.testing.assert_array_equal(p.theta, th)
    np.testing.assert_array_equal(p.extinct, tp.extinct(th))
    a = sample_moments(dbm, th, np.arange(41.0), chains=4, sweeps=9, seed=1)
    names = list(OBSERVABLES)
    m, s = tp.mix(
        np.column_stack([a.mean[o] for o in names]),
        np.column_stack([a.sd[o] for o in names]),
        tp.extinct(th),
    )
    for i, o in enumerate(names):
        np.testing.assert_allclose(p.mean[o], m[:, i], rtol=1e-12)
        np.testing.assert_allclose(p.sd[o], s[:, i], rtol=1e-12)
    # the one-path form is the previous prediction
    one = predict(tp_model, cfg, chains=4, seed=1, warn=False, form="one-path")
    np.testing.assert_array_equal(one.theta, tp_model.rhs.integrate(th0, 40, 1.0))
    assert one.form == "one-path" and one.extinct is None
    # a preview: the rows of every 8th step, the mixture from the interpolated rows
    r = predict(tp_model, cfg, chains=4, seed=1, every=8, warn=False)
    np.testing.assert_array_equal(r.t, np.arange(0, 41, 8.0))
    np.testing.assert_array_equal(r.extinct, p.extinct[::8])
    # the model file keeps the pieces; a file without them predicts one path
    f = tmp_path / "m.npz"
    tp_model.save(f)
    back = DBDModel.load(f)
    b = predict(back, cfg, chains=4, seed=1, warn=False)
    np.testing.assert_array_equal(b.mean["nnXX"], p.mean["nnXX"])
    old = DBDModel(**{**vars(tp_model), "mixture": None})
    old.save(f)
    o = predict(DBDModel.load(f), cfg, chains=4, seed=1, warn=False)
    assert o.form == "one-path"
    np.testing.assert_array_equal(o.mean["nnXX"], one.mean["nnXX"])
    with pytest.raises(ValueError, match="no two-phase fit"):
        predict(old, cfg, chains=4, form="two-phase")
    with pytest.raises(ValueError, match="form = 'both'"):
        predict(tp_model, cfg, chains=4, form="both")


def test_cli_predict_form(dying, tp_model, tmp_path, capsys):
    from dbdviz.cli import main
    from dbdviz.dbd import DBDModel
    from dbdviz.dbd.predict import FORMS
    from dbdviz.moments import read_moment_table

    mf = tmp_path / "m.npz"
    tp_model.save(mf)
    base = ["predict", str(mf), "--init-x", "12", "--init-y", "3", "--chains", "3"]
    for form in FORMS:
        out = tmp_path / f"{form}.csv"
        assert main([*base, "--form", form, "--quiet", "--out", str(out)]) == 0
        assert len(read_moment_table(out).t) == 41
    a = read_moment_table(tmp_path / "two-phase.csv")
    b = read_moment_table(tmp_path / "one-path.csv")
    assert not np.array_equal(a.mean["nnXX"], b.mean["nnXX"])
    DBDModel(**{**vars(tp_model), "mixture": None}).save(mf)
    capsys.readouterr()
    code = main([*base, "--form", "two-phase", "--quiet", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--form" in err and "one-path" in err


def test_train_multi_progress_covers_the_path_fit(dying):
    """The progress bar runs once over the whole paths, once over the survivors'
    paths and once over the correction along the integrated paths, never backwards,
    and ends full (the path fit had run after a full bar)."""
    from dbdviz.dbd.predict import train_multi

    seen = []
    train_multi(
        dying,
        chains=4,
        iterations=1,
        threads=1,
        taps=0,
        progress=lambda d, t: seen.append((d, t)),
    )
    units = {t for _, t in seen}
    assert len(units) == 1
    (u,) = units
    assert u % 3 == 0 and seen[-1] == (u, u)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    # the last third comes from the path fit's outer iterations
    assert [d for d in done if d > 2 * u // 3] == [2 * u // 3 + u // 6, u]


# --- the first-passage hazard (docs/experiments/20) ---------------------------


def _birth_death_master(lam, mu, n0, t_end, h=2e-3, cap=120):
    """Brute force: the master equation of a linear birth-death process (births
    ``lam(t) n``, deaths ``mu n``) from ``n0``, truncated at ``cap``, RK4 with step
    ``h``. Returns times, P(Y = 0) and E[Y] on the grid."""
    n = np.arange(cap + 1, dtype=float)

    def rhs(t, p):
        b, d = lam(t) * n, mu * n
        dp = -(b + d) * p
        dp[1:] += b[:-1] * p[:-1]
        dp[:-1] += d[1:] * p[1:]
        return dp

    p = np.zeros(cap + 1)
    p[n0] = 1.0
    steps = int(round(t_end / h))
    ts, p0, ey = [0.0], [0.0], [float(n0)]
    for k in range(steps):
        t = k * h
        k1 = rhs(t, p)
        k2 = rhs(t + h / 2, p + h / 2 * k1)
        k3 = rhs(t + h / 2, p + h / 2 * k2)
        k4 = rhs(t + h, p + h * k3)
        p = p + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        ts.append((k + 1) * h)
        p0.append(p[0])
        ey.append(float(n @ p))
    assert p[-1] < 1e-9  # the truncation is harmless
    return np.array(ts), np.array(p0), np.array(ey)


def test_passage_cumulative_closed_forms():
    from dbdviz.dbd.mixture import passage_cumulative

    mu, y0, t = 0.3, 4, np.linspace(0, 10, 11)
    # pure death: E[Y] = y0 exp(-mu t), every lineage dies with 1 - exp(-mu t)
    inv = (np.exp(mu * t) - 1) / (mu * y0)
    q = -np.expm1(-passage_cumulative(inv, y0, mu))
    np.testing.assert_allclose(q, (1 - np.exp(-mu * t)) ** y0, rtol=1e-12)
    # critical (birth = death): E[Y] = y0, one lineage dies with mu t / (1 + mu t)
    q = -np.expm1(-passage_cumulative(t / y0, y0, mu))
    np.testing.assert_allclose(q, (mu * t / (1 + mu * t)) ** y0, rtol=1e-12)
    assert passage_cumulative(np.zeros(1), y0, mu)[0] == 0.0


def test_passage_cumulative_against_the_master_equation():
    """A time-varying birth rate (a predator trough and recovery): the extinct
    fraction from the mean count alone equals the master equation's P(Y = 0)."""
    from dbdviz.dbd.mixture import passage_cumulative

    mu, n0 = 0.5, 3

    def lam(t):
        return 0.5 + 0.4 * np.sin(t)

    ts, p0, ey = _birth_death_master(lam, mu, n0, 8.0)
    inv = np.r_[0.0, np.cumsum(np.diff(ts) * 0.5 * (1 / ey[1:] + 1 / ey[:-1]))]
    q = -np.expm1(-passage_cumulative(inv, n0, mu))
    assert p0[-1] > 0.4 and np.ptp(np.diff(p0) / np.diff(ts)) > 0.01  # not trivial
    np.testing.assert_allclose(q[1:], p0[1:], rtol=1e-5, atol=1e-9)
    # a dropped term is seen: the wrong number of lineages, or births ignored
    assert np.abs(-np.expm1(-passage_cumulative(inv, n0 - 1, mu)) - p0).max() > 0.01
    q_death_only = (1 - np.exp(-mu * ts)) ** n0
    assert np.abs(q_death_only - p0).max() > 0.05


def test_passage_extinct_solves_for_the_ensemble_mean():
    """``passage_extinct`` gets the survivors' mean: ``(1 - q) Y_alive`` is the
    ensemble's mean, so a pure-death process's survivors give back its ``q``."""
    from dbdviz.dbd.mixture import passage_extinct

    mu, y0, dt, T = 0.2, 5, 1e-3, 8000
    t = np.arange(T + 1) * dt
    q_true = (1 - np.exp(-mu * t)) ** y0
    y_alive = y0 * np.exp(-mu * t) / (1 - q_true)
    q = passage_extinct(y_alive, y0, mu, dt, [0.0])
    assert q[0] == 0 and np.all(np.diff(q) >= 0)
    np.testing.assert_allclose(q, q_true, atol=2e-3)
    # a constant factor exp(b0) scales the hazard: H -> exp(b0) H
    q2 = passage_extinct(y_alive, y0, mu, dt, [np.log(2.0)])
    assert np.all(q2[500:] > q[500:])
    # a covariate term enters with its sign
    f = np.ones((T + 1, 1))
    np.testing.assert_allclose(
        passage_extinct(y_alive, y0, mu, dt, [0.0, np.log(2.0)], f), q2, rtol=1e-12
    )
    np.testing.assert_array_equal(passage_extinct(y_alive, 0, mu, dt, [0.0]), 1.0)


def test_fit_passage_recovers_known_coefficients():
    from dbdviz.dbd.mixture import fit_passage, passage_cumulative

    rng = np.random.default_rng(11)
    true = np.array([-0.4, 0.8])
    mu, T = 0.06, 500
    ys, y0s, alive, covs = [], [], [], []
    for e in range(5):
        t = np.arange(T + 1)
        y = 30 + 25 * np.cos(t / (40 + 5 * e)) + 3 * e  # the ensembles' mean Y
        y0 = float(y[0])
        f = np.column_stack([0.2 + 0.15 * np.sin(t / 30 + e)])
        inv = np.r_[0.0, np.cumsum(1 / y[:-1])]
        h = np.diff(passage_cumulative(inv, y0, mu))
        h *= np.exp(true[0] + f[:-1] @ true[1:])
        a = np.empty(T + 1, dtype=np.int64)
        a[0] = 40000
        for i in range(T):
            a[i + 1] = a[i] - rng.binomial(a[i], -np.expm1(-h[i]))
        ys.append(y)
        y0s.append(y0)
        alive.append(a)
        covs.append(f)
    b = fit_passage(ys, y0s, alive, mu, 1.0, covs)
    # standard errors from the Fisher information at the truth
    F, W = [], []
    for y, y0, a, f in zip(ys, y0s, alive, covs, strict=True):
        inv = np.r_[0.0, np.cumsum(1 / y[:-1])]
        g = np.diff(passage_cumulative(inv, y0, mu))
        X = np.column_stack([np.ones(T), f[:-1]])
        k = g > 0
        F.append(X[k])
        W.append(a[:-1][k] * g[k] * np.exp(X[k] @ true))
    F, W = np.vstack(F), np.concatenate(W)
    se = np.sqrt(np.diag(np.linalg.inv(F.T @ (F * W[:, None]))))
    assert np.all(np.abs(b - true) < 4 * se), (b, true, se)
    assert np.all(se < 0.2)  # the test can fail: the coefficients are determined
    b0 = fit_passage(ys, y0s, alive, mu, 1.0)
    assert b0.shape == (1,)
    with pytest.raises(ValueError, match="no extinction"):
        fit_passage(ys[:1], y0s[:1], [np.full(T + 1, 5)], mu, 1.0)


def test_predict_with_the_first_passage_hazard(dying, tp_model, tmp_path):
    """A model with ``passage`` mixes by the first-passage ``q`` of the sampled
    survivors' moments (the theta hazard still times the blend); the field
    survives the model file, and a file without it predicts as before."""
    import copy

    from dbdviz.dbd import DBDModel
    from dbdviz.dbd.mixture import passage_covariates, passage_extinct
    from dbdviz.dbd.predict import predict, sample_moments

    cfg = preset("paper", size=8, init_x=12, init_y=3, steps=40)
    base = predict(tp_model, cfg, chains=4, seed=1, warn=False)
    m = copy.copy(tp_model)
    tp = tp_model.mixture
    m.mixture = TwoPhase(
        tp.alive, tp.hazard, tp.ratio, tp.curve, tp.blend, passage=[0.06, -0.3, 1.5]
    )
    p = predict(m, cfg, chains=4, seed=1, warn=False)
    np.testing.assert_array_equal(p.theta, base.theta)  # the same blended path
    a = sample_moments(m.dbm(), p.theta, np.arange(41.0), chains=4, sweeps=9, seed=1)
    A = np.column_stack([a.mean[o] for o in OBSERVABLES[:5]])
    q = passage_extinct(A[:, 1], 3, 0.06, 1.0, [-0.3, 1.5], passage_covariates(A))
    np.testing.assert_allclose(p.extinct, q, rtol=1e-12)
    assert not np.allclose(p.extinct, base.extinct)
    # the sign of the clustering term matters
    q_neg = passage_extinct(A[:, 1], 3, 0.06, 1.0, [-0.3, -1.5], passage_covariates(A))
    assert np.all(q_neg[1:] < q[1:])
    mm, _ = m.mixture.mix(A, np.column_stack([a.sd[o] for o in OBSERVABLES[:5]]), q)
    np.testing.assert_allclose(p.mean["nnXX"], mm[:, 2], rtol=1e-12)
    # a preview interpolates the sampled rows before the hazard
    r = predict(m, cfg, chains=4, seed=1, every=8, warn=False)
    assert r.extinct.shape == (6,) and np.all(np.diff(r.extinct) >= 0)
    f = tmp_path / "p.npz"
    m.save(f)
    back = DBDModel.load(f)
    np.testing.assert_array_equal(back.mixture.passage, [0.06, -0.3, 1.5])
    np.testing.assert_array_equal(
        predict(back, cfg, chains=4, seed=1, warn=False).mean["X"], p.mean["X"]
    )
    assert "mix_passage" in np.load(f).files
    plain = DBDModel(**{**vars(tp_model), "mixture": TwoPhase(*_pieces(tp))})
    assert "mix_passage" not in np.load(_saved(plain, tmp_path)).files
    assert DBDModel.load(tmp_path / "plain.npz").mixture.passage is None
    with pytest.raises(ValueError, match="passage"):
        TwoPhase(tp.alive, tp.hazard, tp.ratio, tp.curve, passage=[0.06, 1, 2, 3])
    with pytest.raises(ValueError, match="death rate"):
        TwoPhase(tp.alive, tp.hazard, tp.ratio, tp.curve, passage=[0.0, 1.0])
    with pytest.raises(ValueError, match="no first-passage"):
        tp.extinct_from_moments(A, 3, 1.0)


def _pieces(tp):
    return tp.alive, tp.hazard, tp.ratio, tp.curve, tp.blend


def _saved(model, tmp_path):
    f = tmp_path / "plain.npz"
    model.save(f)
    return f


def _alive_fit_inputs(m, dying):
    """The machine, the mixture, the data's observables, theta(0) of each ensemble,
    the model's integrated paths, the site count and the last time index: what
    ``pathfit.fit_alive_along_paths`` is called with in the tests below."""
    dbm, tp = m.dbm(), m.mixture
    obs = [np.asarray(e.observables, dtype=np.float64) for e in dying]
    N = float(dbm.n_sites)
    starts = [
        dbm.initial_theta(e.config.init_x / N, e.config.init_y / N) for e in dying
    ]
    T = obs[0].shape[1] - 1
    paths = [tp.integrate(m.rhs, s, T, 1.0) for s in starts]
    return dbm, tp, obs, starts, paths, N, T


@pytest.fixture
def path_fit_spy(monkeypatch):
    """``pathfit.fit_along_paths`` replaced by a recorder: the list of the calls'
    ``(cur, keywords)``; the law is returned unchanged."""
    from dbdviz.dbd import pathfit

    seen = []

    def spy(F, cur, weights, dt, **kw):
        seen.append((cur, kw))
        F.info = {"objective": [1.0]}
        return F

    monkeypatch.setattr(pathfit, "fit_along_paths", spy)
    return seen


def test_path_fit_clocked_by_the_first_passage(dying, tp_model, path_fit_spy):
    """clock="passage": the blend weights of the path fit are the first passage's
    along the sampled survivors' predators (not the theta hazard's), the residual
    has no hazard term; refused without a first-passage hazard."""
    from dbdviz.dbd import pathfit
    from dbdviz.dbd.evaluate import sample_trajectory

    seen = path_fit_spy
    m = tp_model
    dbm, tp, obs, starts, paths, N, T = _alive_fit_inputs(m, dying)
    args = (dbm, tp.alive, m.rhs, paths, obs, starts)
    with pytest.raises(ValueError, match="no first-passage hazard"):
        pathfit.fit_alive_along_paths(*args, tp, 1.0, clock="passage")
    with pytest.raises(ValueError, match="clock = 'x'"):
        pathfit.fit_alive_along_paths(*args, tp, 1.0, clock="x")
    mix = TwoPhase(tp.alive, tp.hazard, tp.ratio, tp.curve, passage=[0.06, 0.0])
    kw = dict(chains=4, outer=1, every_t=5, seed=3, threads=1, hazard_target="data")
    pathfit.fit_alive_along_paths(*args, mix, 1.0, clock="theta", **kw)
    pathfit.fit_alive_along_paths(*args, mix, 1.0, clock="passage", **kw)
    (cur_t, kw_t), (cur_p, kw_p) = seen
    assert kw_t["hazard"] is not None and kw_p["hazard"] is None
    np.testing.assert_array_equal(cur_t[0], cur_p[0])  # the first pass: theta clock
    ts = np.r_[np.arange(0, T + 1, 5), [T]] if T % 5 else np.arange(0, T + 1, 5)
    ev = sample_trajectory(
        dbm,
        np.ascontiguousarray(np.concatenate([c[ts] for c in cur_p])),
        chains=4,
        sweeps=9,
        seed=3,
        cov_from="states",
        threads=1,
    )
    st = np.asarray(ev.stats).reshape(len(cur_p), len(ts), -1)
    t = np.arange(T + 1)
    for e, o in enumerate(obs):
        A = np.column_stack([np.interp(t, ts, st[e][:, k]) for k in range(5)])
        q = mix.extinct_from_moments(A, o[:, 0, 1].mean(), 1.0)
        want = np.minimum(1.0, q / mix.blend)
        np.testing.assert_allclose(kw_p["blend_weights"][e], want, rtol=1e-12)
        theta_w = np.minimum(1.0, mix.extinct(cur_p[e]) / mix.blend)
        np.testing.assert_allclose(kw_t["blend_weights"][e], theta_w, rtol=1e-12)
    pairs = zip(kw_t["blend_weights"], kw_p["blend_weights"], strict=True)
    assert not all(np.allclose(a, b) for a, b in pairs)


def test_path_fit_singlet_plumbing(dying, tp_model, monkeypatch):
    """The singlet constraint in fit_alive_along_paths: weight 0 passes nothing on
    (collocation ignored: the same call as without); weight > 0 passes the
    linearised moments (equal to the sampled statistics on the integrated path),
    the rows of the training data's predation coefficient, and collocation paths
    with zero moment weights and metric; refused without the death rate."""
    from dbdviz.dbd import pathfit
    from dbdviz.dbd.evaluate import sample_trajectory

    seen = []

    def spy(F, cur, weights, dt, **kw):
        seen.append((cur, weights, kw))
        F.info = {"objective": [1.0]}
        return F

    monkeypatch.setattr(pathfit, "fit_along_paths", spy)
    m = tp_model
    dbm, tp, obs, starts, paths, N, T = _alive_fit_inputs(m, dying)
    args = (dbm, tp.alive, m.rhs, paths, obs, starts, tp, 1.0)
    col = [dbm.initial_theta(12 / N, 3 / N)]
    kw = dict(chains=4, outer=1, every_t=5, seed=3, threads=1, hazard_target="data")
    pathfit.fit_alive_along_paths(*args, **kw)
    pathfit.fit_alive_along_paths(
        *args, singlet_weight=0.0, collocation=col, death=0.06, **kw
    )
    with pytest.raises(ValueError, match="death"):
        pathfit.fit_alive_along_paths(*args, singlet_weight=1.0, **kw)
    pathfit.fit_alive_along_paths(
        *args, singlet_weight=0.5, singlet_window=10, collocation=col, death=0.06, **kw
    )
    (c0, w0, k0), (c1, w1, k1), (c2, w2, k2) = seen
    assert "singlet" not in k0 and k0.keys() == k1.keys()
    for a, b in zip(c0, c1, strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("metric", "offset", "blend_weights"):
        for a, b in zip(k0[key], k1[key], strict=True):
            np.testing.assert_array_equal(a, b)
    # weight > 0: a third path (the collocation) with zero moment rows
    assert len(c2) == 3 and len(w2) == 3 and not w2[2].any() and w2[0].all()
    assert not k2["metric"][2].any() and not k2["offset"][2].any()
    np.testing.assert_array_equal(k2["starts"][2], col[0])
    a = pathfit.predation_coefficient(obs, 0.06, 1.0)
    G, D = k2["singlet"]
    np.testing.assert_allclose(D, [[0, -0.06, 0, a, 0]])
    assert k2["singlet_weight"] == 0.5 and k2["singlet_window"] == 10
    ysc = np.mean([o.mean(axis=0)[:, 1].mean() for o in obs])
    np.testing.assert_allclose(k2["singlet_scale"], [ysc])
    # the linearised moments at the integrated path are the sampled statistics
    ts = np.r_[np.arange(0, T + 1, 5), [T]] if T % 5 else np.arange(0, T + 1, 5)
    ev = sample_trajectory(
        dbm,
        np.ascontiguousarray(np.concatenate([c[ts] for c in c2])),
        chains=4,
        sweeps=9,
        seed=3,
        cov_from="states",
        threads=1,
    )
    st = np.asarray(ev.stats).reshape(3, len(ts), -1)
    for e in range(3):
        base, jac = k2["moments"][e]
        lin = base + np.einsum("tij,tj->ti", jac, c2[e])
        np.testing.assert_allclose(lin[ts], st[e], rtol=1e-9, atol=1e-9)
    # the survivors' share weights the rows: the data's for the training paths,
    # the hazard's along the collocation path
    share = alive_means(obs[0])[1] / alive_means(obs[0])[1][0]
    np.testing.assert_allclose(k2["singlet_weights"][0], share)
    np.testing.assert_allclose(k2["singlet_weights"][2], 1 - tp.extinct(c2[2]))
