"""Tests of the DBD trainer (dbdviz.dbd.train, ALGORITHM.md sections 3.5-3.6, 5)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig, LatticeLV, TrainConfig, preset
from dbdviz.dbd import adjoint, coefficient_gradient
from dbdviz.dbd.model import DBDModel
from dbdviz.dbd.train import (
    Trainer,
    TrainingDiverged,
    auto_opt_steps,
    default_configs,
    reference_configs,
    schedule,
)
from dbdviz.simulate import Ensemble, simulate


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("dbm", "basis", "train")


@pytest.fixture(scope="module")
def small() -> Ensemble:
    """8 x 8 lattice, 24 steps, 12 replicates (a second)."""
    return simulate(
        preset("demo", size=8, init_x=6, init_y=6, steps=24, replicates=12, seed=3)
    )


def _tc(**kw) -> TrainConfig:
    """Adjoint-only settings (the refinement phase has its own tests below)."""
    base = dict(
        opt_steps=8,
        window=4,
        move_every=2,
        optimizer="adam",
        lr=1e-2,
        data_per_step=3,
        refine="off",
    )
    base.update(kw)
    return TrainConfig(**base)


DEEP = DBMConfig(
    depth=1,
    cross_channel=True,
    visible_couplings=False,
    chains=3,
    sweeps_awake=2,
    sweeps_asleep=2,
)
DEEP2 = DBMConfig(
    depth=2, visible_couplings=False, chains=3, sweeps_awake=2, sweeps_asleep=2
)
FLAT = DBMConfig(depth=0, visible_couplings=True, chains=3, sweeps_asleep=2)


# -- schedule --------------------------------------------------------------------------


def test_schedule_reference():
    """Steps 2k+1, 2k+2 have window [k, k+10]; 980 steps end at horizon 499 (5.6)."""
    for s in range(1, 981):
        k = (s - 1) // 2
        assert schedule(s, 10, 2, 500) == (k, k + 10)
    assert schedule(980, 10, 2, 500) == (489, 499)
    # parked at the data's end
    assert schedule(5000, 10, 2, 500) == (490, 500)
    assert auto_opt_steps(500, 10, 2) == 982
    assert schedule(auto_opt_steps(500, 10, 2), 10, 2, 500) == (490, 500)
    assert schedule(auto_opt_steps(500, 10, 2) - 2, 10, 2, 500) == (489, 499)
    # short data: the window is the whole series
    assert schedule(1, 10, 3, 6) == (0, 6)


def test_trainer_follows_schedule_and_auto_steps_reach_the_end(small):
    tc = _tc(opt_steps=0, window=5, move_every=3, extra_end_steps=4)
    tr = Trainer(small, FLAT, tc, seed=1)
    assert tr.opt_steps == 3 * (24 - 5 + 1) + 4
    seen = []
    model = tr.run(callback=lambda r: seen.append((r.step, r.window, r.horizon)))
    for s, w, h in seen:
        assert w == schedule(s, 5, 3, 24)
        assert h == w[1]
        assert w[1] - w[0] == 5
    assert seen[-1][2] == 24 and model.horizon == 24
    assert seen[-5][1] == (19, 24)  # the extra steps are parked at the end
    assert tr.done


def test_reference_configs():
    dc, tc = reference_configs()
    assert (dc.depth, dc.conn, dc.chains, dc.sweeps_awake, dc.sweeps_asleep) == (
        2,
        4,
        5,
        10,
        10,
    )
    assert not dc.persistent_asleep and dc.sliding_factor == 0.5
    assert (tc.optimizer, tc.lr, tc.opt_steps, tc.window, tc.move_every) == (
        "sgd",
        2.5e-6,
        980,
        10,
        2,
    )
    assert (tc.data_per_step, tc.asleep_init, tc.init, tc.moment_scale) == (
        5,
        "random",
        "reference",
        "count",
    )


def test_reference_initial_state(small):
    dc, tc = reference_configs(opt_steps=3, window=4)
    tr = Trainer(small, DBMConfig(**{**dc.to_dict(), "chains": 2}), tc, seed=0)
    assert np.allclose(tr.theta0[[0, 1]], -2.63) and np.all(tr.theta0[2:] == 0)
    assert np.allclose(tr.mu[:, 0], 0.0625) and np.allclose(tr.mu[:, 1:], 0.33)
    assert np.allclose(tr.fe.origin, tr.theta0[tr.domain] - 0.05)
    assert list(tr.domain) == [0, 1, 6, 7, 8, 9]


# -- the gradient ----------------------------------------------------------------------


@pytest.mark.parametrize("dbm_config", [DEEP, DEEP2, FLAT])
def test_step_gradient_equals_uncentered_adjoint(small, dbm_config):
    """With the exact variant the centered adjoint of the trainer returns the gradient
    of the uncentered adjoint on the same (uncentered) moment differences (5.5a)."""
    tc = _tc(adjoint_variant="exact", moment_scale="site", opt_steps=20, lr=3e-2)
    tr = Trainer(small, dbm_config, tc, seed=5)
    for _ in range(6):  # make F (and its Jacobian) non-zero
        tr.step()
    fe = tr.fe.copy()
    mu_before = tr.mu.copy()
    mu_before[tr.horizon + 1 :] = mu_before[
        tr.horizon
    ]  # a new time point copies the last
    rec = tr.step()
    tau0, tau1 = rec.window
    taus = np.arange(tau0, tau1 + 1)
    dE = np.zeros_like(rec.theta)
    dE[taus] = tr.last_asleep[taus] - tr.last_awake[taus]
    dE /= tr.N  # moment_scale = "site"
    res = adjoint(fe, rec.theta, dE, tau0, tau1, domain=tr.domain, dt=tr.dt)
    g = coefficient_gradient(fe, rec.theta, res, domain=tr.domain, dt=tr.dt)
    got = tr.last_gradient
    assert np.array_equal(np.sort(g.rows), np.sort(got.rows))
    a = g.values[np.argsort(g.rows)]
    b = got.values[np.argsort(got.rows)]
    assert np.abs(a).max() > 0
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * np.abs(a).max())
    # centers were slid towards the awake densities (3.6, sigma = 0.5)
    bi = tr.dbm.bias_index.ravel()
    new = tr.last_awake[taus][:, bi].reshape(-1, tr.n_layers, 2) / tr.N
    np.testing.assert_allclose(tr.mu[taus], 0.5 * mu_before[taus] + 0.5 * new)


def test_depth0_awake_is_the_data(small):
    """Depth 0 with all replicates: the awake statistics are the ensemble means."""
    tc = _tc(data_per_step=0)
    tr = Trainer(small, FLAT, tc, seed=0)
    rec = tr.step()
    taus = np.arange(rec.window[0], rec.window[1] + 1)
    obs = small.observables[:, taus].mean(axis=0)  # X, Y, nnXX, nnXY, nnYY
    np.testing.assert_allclose(tr.last_awake[taus], obs[:, :5])


# -- reproducibility, checkpoints, cancel ----------------------------------------------


@pytest.mark.parametrize(
    "dbm_config,asleep", [(DEEP, "persistent"), (FLAT, "data"), (DEEP2, "random")]
)
def test_same_seed_and_resume(small, tmp_path, dbm_config, asleep):
    tc = _tc(asleep_init=asleep, opt_steps=8)
    a = Trainer(small, dbm_config, tc, seed=11).run()
    b_tr = Trainer(small, dbm_config, tc, seed=11)
    for _ in range(3):
        b_tr.step()
    path = tmp_path / "ck.npz"
    b_tr.save_checkpoint(path)
    del b_tr
    c_tr = Trainer.resume(path, small)
    assert c_tr.step_index == 3
    b = c_tr.run()
    assert np.array_equal(a.theta, b.theta)
    assert np.array_equal(a.mu, b.mu)
    assert np.array_equal(a.fe.coef, b.fe.coef)
    for k in set(a.history) - {"elapsed"}:
        assert np.array_equal(a.history[k], b.history[k], equal_nan=True), k
    other = Trainer(small, dbm_config, tc, seed=12).run()
    assert not np.array_equal(a.theta, other.theta)


def test_resume_checks_data(small, tmp_path):
    tr = Trainer(small, FLAT, _tc(), seed=0)
    tr.step()
    tr.save_checkpoint(tmp_path / "ck.npz")
    other = simulate(
        preset("demo", size=8, init_x=6, init_y=6, steps=24, replicates=5, seed=3)
    )
    with pytest.raises(ValueError, match="other data"):
        Trainer.resume(tmp_path / "ck.npz", other)


def test_cancel_between_steps(small):
    tr = Trainer(small, FLAT, _tc(opt_steps=10), seed=0)
    ev = threading.Event()

    def cb(rec):
        if rec.step == 2:
            ev.set()

    m = tr.run(callback=cb, cancel=ev)
    assert tr.step_index == 2 and m.meta["cancelled"]
    ev.clear()
    m = tr.run()
    assert tr.done and not m.meta["cancelled"] and m.meta["steps_done"] == 10


def test_progress_record(small):
    tr = Trainer(small, DEEP, _tc(), seed=0)
    rec = tr.step()
    assert rec.step == 1 and rec.opt_steps == 8 and rec.window == (0, 4)
    assert rec.theta.shape == (5, tr.P) and rec.param_names == list(tr.dbm.param_names)
    assert set(rec.errors) == set(rec.param_names)
    assert all(np.isfinite(v) and v >= 0 for v in rec.errors.values())
    rec.theta[:] = 99.0  # a copy
    assert tr.model().theta.max() < 99


# -- divergence ------------------------------------------------------------------------


def test_divergence_raises(small):
    tc = _tc(optimizer="sgd", lr=10.0, opt_steps=50, max_abs_theta=10.0)
    tr = Trainer(small, FLAT, tc, seed=0)
    with pytest.raises(TrainingDiverged) as info:
        tr.run()
    err = info.value
    assert err.step >= 2 and 0 <= err.tau <= tr.horizon
    assert f"step {err.step}" in str(err) and f"time point {err.tau}" in str(err)
    assert np.all(np.isfinite(tr.fe.coef))


# -- the model -------------------------------------------------------------------------


def test_model_roundtrip(small, tmp_path):
    tr = Trainer(small, DEEP, _tc(), seed=0)
    m = tr.run()
    assert isinstance(m, DBDModel)
    np.testing.assert_array_equal(m.integrate(m.horizon), m.theta)
    assert m.t[-1] == m.horizon * small.config.dt
    m.save(tmp_path / "m.npz")
    m2 = DBDModel.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(m2.theta, m.theta)
    np.testing.assert_array_equal(
        m2.integrate(m.horizon + 5), m.integrate(m.horizon + 5)
    )
    assert m2.param_names == m.param_names and m2.dbm_config.depth == 1
    assert m2.data_config.size == 8 and set(m2.history) == set(m.history)
    assert m2.dbm().n_params == len(m.param_names)


def test_defaults_validate(small):
    dc, tc = default_configs()
    assert tc.opt_steps == 0  # auto: the horizon reaches the data's end
    tr = Trainer(small, seed=0)
    assert tr.dbm_config.to_dict() == dc.to_dict()
    assert (
        tr.data_steps == 24
        and schedule(tr.opt_steps, tc.window, tc.move_every, 24)[1] == 24
    )


# -- self-consistency and the paper case (slow) ----------------------------------------


def _flat_trajectory(T: int) -> np.ndarray:
    """A smooth known trajectory of (hX, hY, JXX, JXY, JYY) with J(0) = 0."""
    s = np.arange(T + 1) / T
    th = np.empty((T + 1, 5))
    # slow enough for the default learning rate: |dtheta/dt| <= 0.02 per step (the
    # Adam step bounds how fast F can grow, docs/training.md)
    th[:, 0] = -1.6 + 0.4 * np.sin(np.pi * s)
    th[:, 1] = -1.9 + 0.4 * s
    th[:, 2] = 0.6 * np.sin(0.5 * np.pi * s)
    th[:, 3] = -0.4 * s
    th[:, 4] = 0.4 * np.sin(np.pi * s)
    return th


def _dbm_moments(dbm, theta, chains, sweeps, seed):
    """Per time point, per chain visible observables of equilibrated chains."""
    n = theta.shape[0]
    st = dbm.init_chains(chains * n, seed=seed)
    dbm.sample(theta, st, sweeps, seed=seed + 1, rows=np.repeat(np.arange(n), chains))
    return st, dbm.visible_observables(st).reshape(n, chains, -1)


@pytest.mark.slow
def test_self_consistency_depth0():
    """Data sampled from a fully visible DBM whose parameters follow a known smooth
    trajectory: the learned model reproduces its moments within statistical error."""
    from dbdviz.dbm import DBM

    L, T, R = 12, 60, 200
    dc = DBMConfig(depth=0, visible_couplings=True, chains=20, sweeps_asleep=10)
    dbm = DBM(dc, L)
    true = _flat_trajectory(T)
    st, obs = _dbm_moments(dbm, true, R, 200, seed=1)
    snaps = st[:, 0].reshape(T + 1, R, L, L).transpose(1, 0, 2, 3).astype(np.uint8)
    cfg = LatticeLV(size=L, init_x=0, init_y=0, steps=T, replicates=R)
    data = Ensemble(
        cfg,
        1,
        np.arange(T + 1.0),
        obs.transpose(1, 0, 2).astype(np.int64),
        np.ascontiguousarray(snaps),
    )
    # the adjoint training's self-consistency (the refinement is tested elsewhere)
    _, tc = default_configs(move_every=4, refine="off")
    model = Trainer(data, dc, tc, seed=2).run()
    # truth and learned model with many equilibrated chains
    _, o_true = _dbm_moments(dbm, true, 1000, 200, seed=5)
    _, o_fit = _dbm_moments(dbm, model.theta, 1000, 200, seed=7)
    _, o_start = _dbm_moments(dbm, np.repeat(model.theta0[None], T + 1, 0), 200, 50, 9)
    se_data = obs.std(axis=1, ddof=1) / np.sqrt(R)  # (T + 1, 11)
    for j, name in enumerate(["X", "Y", "nnXX", "nnXY", "nnYY"]):
        z = (o_fit[:, :, j].mean(1) - o_true[:, :, j].mean(1)) / se_data[:, j]
        z0 = (o_start[:, :, j].mean(1) - o_true[:, :, j].mean(1)) / se_data[:, j]
        # RMS deviation of a few data standard errors (the fit follows the data's
        # noise), far below that of the untrained constant theta(0)
        rms, rms0 = np.sqrt(np.mean(z[1:] ** 2)), np.sqrt(np.mean(z0[1:] ** 2))
        print(f"{name}: RMS z learned {rms:.2f}, untrained theta(0) {rms0:.2f}")
        assert rms < 3.0, (name, z)
        assert rms0 > 2 * rms, name


@pytest.mark.slow
def test_paper_defaults_against_large_ensemble():
    """The default protocol (adjoint training, then the refinement phase) on the
    paper data (CLI default seed 0) against 10000 independent replicates meets the
    project's targets: NRMSE over t = 0..500 <= 10 % for X and Y, <= 15 % for the
    NN pairs; at the 100-replicate noise floor and far below the reference C++
    (docs/experiments/08-refinement-iterations-and-noise-floor.md).

    Measured: 4.8 / 9.3 / 7.9 / 10.5 / 12.2 % for X / Y / nnXX / nnXY / nnYY,
    floors (the training replicates against the same 10000) 4.0 / 8.7 / 7.1 / 10.2
    / 11.8 %, fit to the training data 2.4 - 4.7 %. A 1000-replicate reference is
    itself 4 - 8 % off the 10000 (seed 2024: 4.0 / 4.9 / 7.1 / 5.9 / 7.8 %), which
    is why this test uses 10000. The bounds: the targets, within 2.5 points of the
    floor for every observable (the adjoint training alone is about 3 points above
    it), fit <= 6 %, and below 0.8 x the C++ figures.
    """
    from dbdviz.compare import nrmse
    from dbdviz.dbd.evaluate import evaluate

    obs = ["X", "Y", "nnXX", "nnXY", "nnYY"]
    nnn = ["nnnXX", "nnnXY", "nnnYY"]
    data = simulate(preset("paper", seed=0))
    big = simulate(
        preset("paper", seed=777, replicates=10_000, snapshots=False)
    ).moments()
    # what `dbdviz train` does: the default protocol, whose last phase is the
    # static-path refinement (seeded like the trainer)
    model = Trainer(data, seed=0).run()
    assert model.meta["refine"]["seed"] == 0
    ev = evaluate(model, t_max=500)
    r = nrmse(ev.table, big, obs + nnn, 0, 500)
    floor = nrmse(data.moments(), big, obs + nnn, 0, 500)
    fit = nrmse(ev.table, data.moments(), obs, 0, 500)
    print({o: (round(100 * r[o], 1), round(100 * floor[o], 1)) for o in obs + nnn})
    print("fit", {o: round(100 * fit[o], 1) for o in obs})
    # the refined closure follows its training data closely (the adjoint training
    # alone: 3.7 / 5.6 / 4.1 / 9.4 / 9.6 %; 20 refinement iterations: up to 5.4 %)
    assert max(fit.values()) <= 0.06, fit
    cpp = {"X": 0.22, "Y": 0.20, "nnXX": 0.42, "nnXY": 1.59, "nnYY": 0.76}
    for o in obs:
        assert r[o] <= floor[o] + 0.025, (o, r[o], floor[o])
        assert r[o] < 0.8 * cpp[o], o
    assert r["X"] <= 0.10 and r["Y"] <= 0.10, r
    assert max(r["nnXX"], r["nnXY"], r["nnYY"]) <= 0.15, r


# -- extrapolation of F, new vertices (TrainConfig) ------------------------------------


@pytest.mark.parametrize("kind", ["q1", "q3c1"])
def test_integrate_extrapolated_zero_freezes_nearest_continues(kind):
    """F = 1 on the vertices 0..3 of a 1-D grid: "zero" tapers F to 0 in the cell
    [3, 4) (vertex 4 missing) so theta never passes 4; "nearest" uses the value 1
    of the nearest vertex there and beyond: theta(t) = theta(0) + t dt exactly."""
    from dbdviz.dbd.basis import FiniteElements
    from dbdviz.dbd.model import integrate_extrapolated

    fe = FiniteElements(1, spacing=1.0, origin=0.0, kind=kind)
    rows = fe.insert(np.arange(4)[:, None])
    fe.coef[rows, 0, 0] = 1.0  # slot 0 = value of F at the vertex
    kw = dict(domain=[0], dt=0.25, substeps=1)
    zero = integrate_extrapolated(fe, [0.5], 60, extrapolation="zero", **kw)
    near = integrate_extrapolated(fe, [0.5], 60, extrapolation="nearest", **kw)
    assert zero[:, 0].max() < 4.0 and zero[-1, 0] > 3.5
    np.testing.assert_array_equal(near[:, 0], 0.5 + 0.25 * np.arange(61))
    # start: the rule applies only from step `start` on (DBDModel: its horizon)
    late = integrate_extrapolated(
        fe, [0.5], 60, extrapolation="nearest", start=30, **kw
    )
    np.testing.assert_array_equal(late[:31], zero[:31])
    np.testing.assert_allclose(late[30:, 0], zero[30, 0] + 0.25 * np.arange(31))
    with pytest.raises(ValueError, match="extrapolation"):
        integrate_extrapolated(fe, [0.5], 5, extrapolation="linear", **kw)


def test_model_integrate_keeps_trained_trajectory(small):
    """DBDModel.integrate reproduces the trained theta up to the horizon with either
    rule and defaults to train_config.extrapolation."""
    tr = Trainer(small, FLAT, _tc(opt_steps=12, extrapolation="nearest"), seed=4)
    m = tr.run()
    n = m.horizon + 40
    for mode in ("zero", "nearest"):
        th = m.integrate(n, mode)
        assert th.shape == (n + 1, m.n_params)
        np.testing.assert_array_equal(th[: m.horizon + 1], m.theta)
    np.testing.assert_array_equal(m.integrate(n), m.integrate(n, "nearest"))


def test_vertex_init_nearest(small):
    """vertex_init = "nearest": every vertex an update creates starts with the value
    (slot 0) of F at the nearest older vertex in grid units (ties: lowest row)."""
    from dbdviz.dbd.optim import make_optimizer

    tr = Trainer(small, FLAT, _tc(opt_steps=40, vertex_init="nearest"), seed=6)
    for _ in range(6):
        tr.step()
    tr.optimizer = make_optimizer("sgd", 1e-300)  # no update: see the start values
    fe, created = tr.fe, 0
    while created == 0:
        old_keys, old_val = fe.keys.copy(), fe.coef[:, 0, :].copy()
        tr.step()
        created = fe.n_vertices - old_keys.shape[0]
    assert np.abs(old_val).max() > 0
    new_keys = fe.keys[old_keys.shape[0] :]
    for j, key in enumerate(new_keys):
        d2 = ((key - old_keys) ** 2).sum(axis=1)
        want = old_val[int(np.argmin(d2))]
        got = fe.coef[old_keys.shape[0] + j, 0, :]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    assert np.abs(fe.coef[old_keys.shape[0] :, 0, :]).max() > 0


# -- adaptive schedule: hold the window while the mismatch is significant --------------


def _positions(records) -> dict[int, int]:
    """Steps spent per window start."""
    out: dict[int, int] = {}
    for r in records:
        out[r.window[0]] = out.get(r.window[0], 0) + 1
    return out


def test_hold_always_and_never(small):
    """A tolerance below any mismatch holds positions for at most max_holds extra
    steps (bounded step count, the end still reached); one above every mismatch
    gives the fixed schedule bit for bit."""
    base = _tc(opt_steps=0, window=5, move_every=2, extra_end_steps=3, lr=3e-3)
    fixed = Trainer(small, FLAT, base, seed=2)
    recs_fixed = []
    m_fixed = fixed.run(callback=recs_fixed.append)
    never = Trainer(
        small,
        FLAT,
        _tc(**{**base.to_dict(), "hold_tolerance": 1e6, "max_holds": 5}),
        seed=2,
    )
    m_never = never.run()
    assert never.step_index == fixed.step_index == auto_opt_steps(24, 5, 2, 3)
    assert np.array_equal(m_never.theta, m_fixed.theta)
    assert np.array_equal(m_never.fe.coef, m_fixed.fe.coef)
    assert not any(r.held for r in recs_fixed)
    assert all(np.isfinite(r.mismatch) and r.mismatch > 0 for r in recs_fixed)

    tc = TrainConfig(**{**base.to_dict(), "hold_tolerance": 1e-9, "max_holds": 3})
    tr = Trainer(small, FLAT, tc, seed=2)
    recs = []
    model = tr.run(callback=recs.append)
    per = _positions(recs)
    last = 24 - 5
    assert sorted(per) == list(range(last + 1))
    assert all(2 <= per[k] <= 2 + 3 for k in range(last))  # move_every + max_holds
    assert sum(per[k] == 2 + 3 for k in range(last)) >= last // 4  # cap reached
    assert per[last] == 2 + 3  # the parked end: move_every + extra_end_steps
    assert tr.step_index == sum(per.values()) == tr.opt_steps and tr.done
    assert model.horizon == 24
    assert sum(r.held for r in recs) == sum(per[k] - 2 for k in range(last)) > last
    # the reported total is the fewest steps still possible: never below the steps
    # done, reaching the final count at the end
    assert all(r.opt_steps >= r.step for r in recs)
    assert recs[-1].opt_steps == tr.step_index


def test_hold_decision_follows_mismatch(small):
    """Held exactly when the position's move_every steps are done, the mismatch
    exceeds the tolerance, holding still makes progress (the mismatch is not above
    its value when holding began at this position) and fewer than max_holds holds
    were spent there."""
    recs_probe = []
    Trainer(small, FLAT, _tc(opt_steps=0, lr=3e-3), seed=3).run(
        callback=recs_probe.append
    )
    tol = float(np.median([r.mismatch for r in recs_probe]))
    tc = _tc(opt_steps=0, lr=3e-3, hold_tolerance=tol, max_holds=4)
    recs = []
    Trainer(small, FLAT, tc, seed=3).run(callback=recs.append)
    at, ref = 0, np.inf
    n_held = n_stopped = 0
    for i, r in enumerate(recs):
        at += 1
        parked = r.window[1] == 24
        want = (
            (not parked) and at >= 2 and r.mismatch > tol and at < 2 + 4
        ) and r.mismatch <= ref
        assert r.held == want, (i, at, r.mismatch, tol, ref)
        n_held += r.held
        n_stopped += (not parked) and at > 2 and r.mismatch > max(tol, ref)
        if at == 2:
            ref = r.mismatch
        if i + 1 < len(recs) and recs[i + 1].window != r.window:
            at, ref = 0, np.inf
    assert n_held > 0 and n_stopped > 0
    assert any((not r.held) and r.mismatch <= tol for r in recs)


def test_mismatch_is_rms_z():
    """The mismatch is the RMS z-score of the mean difference with the asleep
    chains' standard error (all replicates: the data term is exact), plus the data
    term with a finite-population correction when a subset is drawn."""
    rng = np.random.default_rng(0)
    ns, na, nd, P = 4, 6, 8, 3
    Ss = rng.normal(size=(ns, na, P))
    Sa = rng.normal(size=(ns, nd, P))
    tr = Trainer.__new__(Trainer)

    class _D:
        depth = 0

    tr.dbm, tr.n_reps = _D(), nd
    diff = Ss.mean(1) - Sa.mean(1)
    z_all = np.sqrt(np.mean(diff**2 / (Ss.var(1, ddof=1) / na)))
    assert tr._mismatch(Sa, Ss) == pytest.approx(z_all, rel=1e-12)
    tr.n_reps = 4 * nd  # a quarter of the replicates drawn
    var = Ss.var(1, ddof=1) / na + Sa.var(1, ddof=1) / nd * 0.75
    assert tr._mismatch(Sa, Ss) == pytest.approx(
        np.sqrt(np.mean(diff**2 / var)), rel=1e-12
    )
    # a shifted asleep mean raises it; a statistic that never varies is left out
    Ss2 = Ss + 3.0
    Ss2[:, :, 2] = 0.0
    Sa2 = Sa.copy()
    Sa2[:, :, 2] = 1.0
    tr.n_reps = nd
    assert tr._mismatch(Sa2, Ss2) > 3 * z_all


def test_hold_resume_bit_exact(small, tmp_path):
    """Checkpoint in the middle of held positions: resuming continues the adaptive
    schedule (position, steps there, projected total) exactly."""
    tc = _tc(opt_steps=0, lr=3e-3, extra_end_steps=2, hold_tolerance=1.5, max_holds=3)
    recs_a = []
    a = Trainer(small, FLAT, tc, seed=9).run(callback=recs_a.append)
    assert 0 < sum(r.held for r in recs_a) < len(recs_a)
    cut = next(i for i, r in enumerate(recs_a) if r.held) + 1  # right after a hold
    b = Trainer(small, FLAT, tc, seed=9)
    for _ in range(cut):
        b.step()
    b.save_checkpoint(tmp_path / "ck.npz")
    c = Trainer.resume(tmp_path / "ck.npz", small)
    assert (c._k, c._at, c.opt_steps) == (b._k, b._at, b.opt_steps)
    recs_c = []
    m = c.run(callback=recs_c.append)
    assert [(r.window, r.held, r.opt_steps) for r in recs_c] == [
        (r.window, r.held, r.opt_steps) for r in recs_a[cut:]
    ]
    assert np.array_equal(a.theta, m.theta) and np.array_equal(a.fe.coef, m.fe.coef)
    for k in set(a.history) - {"elapsed"}:
        assert np.array_equal(a.history[k], m.history[k], equal_nan=True), k


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(hold_tolerance=-1.0), "hold_tolerance"),
        (dict(max_holds=-1), "max_holds"),
        (dict(replay_windows=-1), "replay_windows"),
        (dict(replay_windows=9), "replay_windows"),
        (dict(replay_span=-1), "replay_span"),
        (dict(lr_boost=0.5), "lr_boost"),
        (dict(boost_fraction=1.5), "boost_fraction"),
        (dict(boost_fraction=float("nan")), "boost_fraction"),
    ],
)
def test_hold_options_validate(kw, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw).validate()


# -- replay of earlier windows (TrainConfig.replay_windows) ----------------------------


def _by_key(fe, grad) -> dict[tuple, np.ndarray]:
    """Gradient rows keyed by their vertex (rows differ between FE copies)."""
    return {tuple(fe._keys[r]): grad.values[j] for j, r in enumerate(grad.rows)}


def test_replay_zero_draws_nothing_and_none_at_the_start(small):
    """replay_windows = 0 draws one permutation per step from the pick stream (as
    before the option); while the window starts at 0 a replay run draws no
    positions and (with SGD: no Adam moment decay) is bit-identical to replay 0."""
    tc = _tc(opt_steps=6)
    tr = Trainer(small, FLAT, tc, seed=4)
    tr.run()
    ref = np.random.Generator(np.random.PCG64(0))
    ref.bit_generator.state = Trainer(small, FLAT, tc, seed=4).rng.bit_generator.state
    for _ in range(6):
        ref.permutation(small.n_reps)
    assert tr.rng.bit_generator.state == ref.bit_generator.state
    # the window stays at 0 for 6 steps: no replay positions exist
    kw = dict(opt_steps=6, move_every=10, optimizer="sgd", lr=1e-3)
    a = Trainer(small, DEEP, _tc(**kw), seed=4)
    b = Trainer(small, DEEP, _tc(replay_windows=3, **kw), seed=4)
    ma, mb = a.run(), b.run()
    assert len(b.last_windows) == 1
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert np.array_equal(ma.theta, mb.theta) and np.array_equal(ma.fe.coef, mb.fe.coef)


def test_replay_positions_earlier_and_reproducible(small):
    tc = _tc(opt_steps=0, window=4, move_every=2, extra_end_steps=2, replay_windows=2)

    def positions(seed):
        tr, out = Trainer(small, FLAT, tc, seed=seed), []
        while not tr.done:
            rec = tr.step()
            ws = tr.last_windows
            assert (ws[0].tau0, ws[0].tau1) == rec.window
            for w in ws[1:]:
                assert w.tau1 - w.tau0 == 4
            out.append((rec.window[0], [w.tau0 for w in ws[1:]]))
        return out

    a = positions(3)
    for tau0, starts in a:
        assert len(starts) == (2 if tau0 > 0 else 0)
        assert all(0 <= r < tau0 for r in starts)
    assert a == positions(3)
    assert a != positions(4)
    # uniform over 0 .. tau0 - 1: the earliest and the latest start both occur
    late = [r for tau0, st in a for r in st if tau0 >= 10]
    assert min(late) <= 2 and max(r - t for t, st in a for r in st if t >= 10) == -1


def test_replay_span_limits_how_far_back(small):
    tc = _tc(opt_steps=0, window=4, extra_end_steps=2, replay_windows=2, replay_span=3)
    tr, seen = Trainer(small, FLAT, tc, seed=3), []
    while not tr.done:
        tau0 = tr.step().window[0]
        starts = [w.tau0 for w in tr.last_windows[1:]]
        assert len(starts) == (2 if tau0 > 0 else 0)
        assert all(max(0, tau0 - 3) <= r < tau0 for r in starts)
        seen += [tau0 - r for r in starts]
    assert set(seen) == {1, 2, 3}


@pytest.mark.parametrize(
    "dbm_config,asleep",
    [(FLAT, "random"), (DEEP, "persistent"), (DEEP2, "data"), (DEEP, "random")],
)
def test_replay_resume_bit_exact(small, tmp_path, dbm_config, asleep):
    tc = _tc(opt_steps=12, asleep_init=asleep, replay_windows=2)
    a_tr = Trainer(small, dbm_config, tc, seed=8)
    a = a_tr.run()
    assert a.history["tau0"][-1] > 0  # replay windows were used
    b = Trainer(small, dbm_config, tc, seed=8)
    for _ in range(7):
        b.step()
    b.save_checkpoint(tmp_path / "ck.npz")
    c = Trainer.resume(tmp_path / "ck.npz", small)
    assert c.train_config.replay_windows == 2
    m = c.run()
    assert np.array_equal(a.theta, m.theta) and np.array_equal(a.mu, m.mu)
    assert np.array_equal(a.fe.coef, m.fe.coef)
    for k in set(a.history) - {"elapsed"}:
        assert np.array_equal(a.history[k], m.history[k], equal_nan=True), k
    plain = Trainer(small, dbm_config, _tc(opt_steps=12, asleep_init=asleep), seed=8)
    assert not np.array_equal(plain.run().theta, a.theta)


@pytest.mark.parametrize("dbm_config", [FLAT, DEEP])
def test_replay_gradient_is_sum_of_window_adjoints(small, dbm_config):
    """The step's gradient is the sum over its windows of the uncentered adjoint
    gradient of each window alone (exact variant, 5.5a), on that window's own
    moment differences; each replay window contributes its own adjoint."""
    tc = _tc(
        adjoint_variant="exact",
        moment_scale="site",
        opt_steps=30,
        lr=3e-2,
        replay_windows=2,
    )
    tr = Trainer(small, dbm_config, tc, seed=5)
    for _ in range(12):  # F non-zero, window well past 0
        tr.step()
    fe = tr.fe.copy()
    rec = tr.step()
    ws = tr.last_windows
    assert len(ws) == 3 and all(w.tau1 < rec.window[1] for w in ws[1:])
    total: dict[tuple, np.ndarray] = {}
    parts = []
    for w in ws:
        dE = np.zeros_like(rec.theta)
        dE[w.tau0 : w.tau1 + 1] = (w.Ms - w.Ma) / tr.N
        res = adjoint(fe, rec.theta, dE, w.tau0, w.tau1, domain=tr.domain, dt=tr.dt)
        g = coefficient_gradient(fe, rec.theta, res, domain=tr.domain, dt=tr.dt)
        parts.append(_by_key(fe, g))
        for k, v in parts[-1].items():
            total[k] = total.get(k, 0.0) + v
    got = _by_key(tr.fe, tr.last_gradient)
    assert set(got) == set(total)
    scale = max(np.abs(v).max() for v in total.values())
    for k, v in total.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-9, atol=1e-12 * scale)
    # the replay windows contribute: without them the gradient differs
    replay = [k for p in parts[1:] for k, v in p.items() if np.abs(v).max() > 0]
    assert replay
    assert any(
        not np.allclose(got[k], parts[0].get(k, 0.0), atol=1e-6 * scale) for k in replay
    )


def test_replay_decays_stale_adam_momentum(small):
    """With replay, a row's Adam moments decay over the steps that did not touch it
    (m1 *= beta1**gap, m2 *= beta2**gap); rows touched on the previous step stay."""
    tr = Trainer(small, FLAT, _tc(replay_windows=1), seed=0)
    tr.step()
    opt, rows = tr.optimizer, tr.last_gradient.rows[:2]
    assert np.abs(opt.m1[rows]).max() > 0
    m1, m2 = opt.m1[rows].copy(), opt.m2[rows].copy()
    tr._touched[rows] = [5, 9]
    tr._decay_moments(rows, 10)
    np.testing.assert_allclose(opt.m1[rows[0]], 0.9**4 * m1[0], rtol=1e-14)
    np.testing.assert_allclose(opt.m2[rows[0]], 0.999**4 * m2[0], rtol=1e-14)
    assert np.array_equal(opt.m1[rows[1]], m1[1])
    assert np.array_equal(opt.m2[rows[1]], m2[1])
    assert list(tr._touched[rows]) == [10, 10]


# -- early learning-rate boost (TrainConfig.lr_boost, boost_fraction) ------------------


def test_lr_boost_schedule_and_first_update(small):
    """The lr multiplier falls linearly from lr_boost at tau1 = 0 to 1 at
    boost_fraction * T; a step updates with lr times it: Adam's first update of a
    coefficient (|m / sqrt(v)| = 1) is exactly that large."""
    T = small.t.shape[0] - 1  # 24
    tr = Trainer(small, FLAT, _tc(opt_steps=10, lr_boost=10.0, boost_fraction=0.5))
    assert tr.lr_factor(0) == 10.0
    assert tr.lr_factor(6) == pytest.approx(1.0 + 9.0 * 0.5)
    assert tr.lr_factor(12) == 1.0 and tr.lr_factor(T) == 1.0
    rec = tr.step()
    f = tr.lr_factor(rec.window[1])
    assert 1.0 < f < 10.0
    moved = np.abs(tr.fe._coef[: tr.fe.n_vertices])
    assert moved.max() == pytest.approx(1e-2 * f, rel=1e-5)  # eps = 1e-8
    assert tr.optimizer.lr == 1e-2  # the base rate is kept; the factor is per step
    for kw in (dict(lr_boost=1.0), dict(boost_fraction=0.0)):
        off = Trainer(small, FLAT, _tc(**kw))
        assert all(off.lr_factor(t) == 1.0 for t in range(T + 1))


def test_lr_boost_off_is_constant_lr(small):
    """lr_boost = 1 and boost_fraction = 0 train bit-identically (constant lr)."""
    a = Trainer(small, FLAT, _tc(lr_boost=1.0), seed=4).run()
    b = Trainer(small, FLAT, _tc(lr_boost=10.0, boost_fraction=0.0), seed=4).run()
    c = Trainer(small, FLAT, _tc(lr_boost=10.0, boost_fraction=0.5), seed=4).run()
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)


# -- the refinement phase (TrainConfig.refine) -----------------------------------------

#: A short refinement on the small data: 3 iterations (+1 finish), 4 chains, stride 3.
REFINE = dict(refine_iterations=3, refine_chains=4, refine_stride=3)


def _refined_run(small, seed=5, **kw):
    tr = Trainer(small, FLAT, _tc(refine="on", **{**REFINE, **kw}), seed=seed)
    recs = []
    return tr, tr.run(callback=recs.append), recs


def test_refine_phase_steps_records_and_done(small):
    """opt_steps adjoint steps, then refine_iterations + 1 refinement steps; done
    only after both; records name their phase and the total."""
    tr = Trainer(small, FLAT, _tc(refine="auto", **REFINE), seed=5)
    assert tr.refining and tr.refine_steps == 4
    assert tr.opt_steps == 8 and tr.total_steps == 12 and tr.phase == "adjoint"
    recs = [tr.step() for _ in range(8)]
    assert not tr.done and tr.phase == "refine" and tr.refine_moments is None
    assert "refine" not in tr.model().meta  # still the adjoint-trained model
    while not tr.done:
        recs.append(tr.step())
        if recs[-1].step < 12:  # a moment-matching iteration: its sampled moments
            tab = tr.refine_moments
            np.testing.assert_array_equal(tab.t, [0, 3, 6, 7])  # stride 3 + the last
            assert tab.n == 4 and np.all(np.isfinite(tab.mean["X"]))
    assert tr.phase == "done" and tr.step_index == 12 and tr.refine_moments is None
    with pytest.raises(RuntimeError, match="done"):
        tr.step()
    assert [r.step for r in recs] == list(range(1, 13))
    assert [r.phase for r in recs] == ["adjoint"] * 8 + ["refine"] * 4
    assert all(r.total_steps == 12 and r.opt_steps == 8 for r in recs)
    horizon = recs[7].horizon
    for r in recs[8:]:
        assert r.window == (0, horizon) and r.horizon == horizon
        assert r.theta.shape == (horizon + 1, tr.P) and not r.held
    for r in recs[8:11]:  # iterations: errors and mismatch of the sampled path
        assert set(r.errors) == set(tr.param_names)
        assert all(np.isfinite(v) and v >= 0 for v in r.errors.values())
        assert np.isfinite(r.mismatch) and r.mismatch > 0
    # iteration 1 samples the adjoint-trained path (at the fitted time points)
    adjoint_theta = Trainer(small, FLAT, _tc(), seed=5).run().theta
    np.testing.assert_array_equal(
        recs[8].theta[[0, 3, 6, 7]], adjoint_theta[[0, 3, 6, 7]]
    )
    assert not np.array_equal(recs[9].theta, recs[8].theta)  # the path moves
    # the last step: nothing sampled; its theta is the refined model's
    assert all(np.isnan(v) for v in recs[11].errors.values())
    m = tr.model()
    np.testing.assert_array_equal(recs[11].theta, m.theta)
    assert m.meta["refine"]["method"] == "static" and m.meta["refine"]["seed"] == 5
    assert m.meta["steps_done"] == m.meta["total_steps"] == 12
    assert m.meta["opt_steps"] == 8 and m.meta["evaluate"]["lowpass_taps"] == 0
    assert m.history["step"].tolist() == list(range(1, 9))  # adjoint steps only
    m.meta["refine"]["seed"] = -1  # model() hands out copies
    m.theta[:] = 99.0
    assert tr.model().meta["refine"]["seed"] == 5 and tr.model().theta.max() < 99


def test_refine_phase_equals_refine_static(small):
    """Trainer with the refinement = refine_static on the model of the same run
    without it, seeded with the trainer's seed (the seed rule of the phase)."""
    from dbdviz.dbd import refine_static

    tr, m, _ = _refined_run(small, seed=5)
    m_off = Trainer(small, FLAT, _tc(**REFINE), seed=5).run()
    assert "refine" not in m_off.meta
    r = refine_static(m_off, small, iterations=3, chains=4, stride=3, seed=5)
    for a, b in ((m.theta, r.theta), (m.theta0, r.theta0), (m.fe.coef, r.fe.coef)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(m.theta, m_off.theta)
    drop = {"seconds"}
    assert {k: v for k, v in m.meta["refine"].items() if k not in drop} == {
        k: v for k, v in r.meta["refine"].items() if k not in drop
    }
    # "auto" refines depth 0 the same way; another seed refines differently
    auto = Trainer(small, FLAT, _tc(refine="auto", **REFINE), seed=5).run()
    np.testing.assert_array_equal(auto.theta, m.theta)
    other = refine_static(m_off, small, iterations=3, chains=4, stride=3, seed=6)
    assert not np.array_equal(other.theta, m.theta)


@pytest.mark.parametrize("cut", [8, 10, 12])
def test_resume_in_the_refinement_is_bit_exact(small, tmp_path, cut):
    """Checkpoints at the phase boundary (8), mid-refinement (10) and after the
    finish (12) resume to the uninterrupted run's refined model."""
    _, a, recs_a = _refined_run(small)
    b = Trainer(small, FLAT, _tc(refine="on", **REFINE), seed=5)
    for _ in range(cut):
        b.step()
    b.save_checkpoint(tmp_path / "ck.npz")
    c = Trainer.resume(tmp_path / "ck.npz", small)
    assert c.step_index == cut and c.total_steps == 12 and c.done == (cut == 12)
    recs_c = []
    m = c.run(callback=recs_c.append)
    assert [r.step for r in recs_c] == list(range(cut + 1, 13))
    for ra, rc in zip(recs_a[cut:], recs_c, strict=True):
        np.testing.assert_array_equal(ra.theta, rc.theta)
        assert ra.errors == rc.errors or all(np.isnan(list(ra.errors.values())))
    for x, y in ((a.theta, m.theta), (a.theta0, m.theta0), (a.fe.coef, m.fe.coef)):
        np.testing.assert_array_equal(x, y)
    assert m.meta["refine"]["residual"] == a.meta["refine"]["residual"]


def test_refinement_divergence_names_step_time_and_advice(small):
    """A refinement whose path goes non-finite stops with TrainingDiverged naming
    the step, the first bad fitted time point and the refinement's own way out (not
    the adjoint's learning-rate advice)."""
    tr = Trainer(small, FLAT, _tc(refine="on", **REFINE), seed=5)
    while tr.phase == "adjoint":
        tr.step()
    tr.step()  # the refiner exists after its first iteration
    tr._refiner.lr = float("inf")  # the next Adam step leaves the finite numbers
    with pytest.raises(TrainingDiverged) as err:
        tr.step()
    assert err.value.step == tr.opt_steps + 2 and err.value.tau == 0
    msg = str(err.value)
    assert "static-path refinement" in msg and "refine = 'off'" in msg
    assert "max_abs_theta" not in msg


def test_cancel_in_the_refinement_keeps_the_adjoint_model(small):
    """Cancel mid-refinement: the adjoint-trained model, marked cancelled; run()
    again finishes the refinement as if never stopped."""
    _, a, _ = _refined_run(small)
    m_off = Trainer(small, FLAT, _tc(**REFINE), seed=5).run()
    tr = Trainer(small, FLAT, _tc(refine="on", **REFINE), seed=5)
    ev = threading.Event()

    def cb(rec):
        if rec.step == 10:
            ev.set()

    m = tr.run(callback=cb, cancel=ev)
    assert tr.step_index == 10 and tr.phase == "refine" and m.meta["cancelled"]
    assert "refine" not in m.meta
    np.testing.assert_array_equal(m.theta, m_off.theta)
    np.testing.assert_array_equal(m.fe.coef, m_off.fe.coef)
    ev.clear()
    m = tr.run()
    assert tr.done and not m.meta["cancelled"] and "refine" in m.meta
    np.testing.assert_array_equal(m.theta, a.theta)


def test_refine_setting_and_depth(small, tmp_path):
    """'on' needs depth <= 1 (ValueError at construction naming refine and its
    values); 'auto' with depth 1 and 'off' have no refinement phase; 'on' refines
    depth 1 too."""
    with pytest.raises(
        ValueError, match=r"refine = 'on'.*depth = 2.*\{auto, on, off\}"
    ):
        Trainer(small, DEEP2, _tc(refine="on"), seed=0)
    tr = Trainer(small, DEEP, _tc(refine="on", **REFINE), seed=0)
    m = tr.run()
    assert tr.refining and m.meta["refine"]["iterations"] == 3
    assert m.dbm_config.depth == 1
    for dbm_config, refine in ((DEEP, "auto"), (FLAT, "off")):
        tr = Trainer(small, dbm_config, _tc(refine=refine, **REFINE), seed=0)
        assert not tr.refining and tr.refine_steps == 0 and tr.total_steps == 8
        recs = []
        m = tr.run(callback=recs.append)
        assert tr.done and tr.step_index == 8 and "refine" not in m.meta
        assert {r.phase for r in recs} == {"adjoint"}
        assert all(r.total_steps == 8 for r in recs)
    # resume may change the setting before the refinement began, not after
    tr = Trainer(small, FLAT, _tc(**REFINE), seed=5)  # "off"
    for _ in range(8):
        tr.step()
    tr.save_checkpoint(tmp_path / "ck.npz")
    assert Trainer.resume(tmp_path / "ck.npz", small).done
    c = Trainer.resume(tmp_path / "ck.npz", small, refine="on")
    assert c.total_steps == 12 and not c.done
    _, a, _ = _refined_run(small)
    np.testing.assert_array_equal(c.run().theta, a.theta)
    c = Trainer(small, FLAT, _tc(refine="on", **REFINE), seed=5)
    for _ in range(9):
        c.step()
    c.save_checkpoint(tmp_path / "ck2.npz")
    with pytest.raises(ValueError, match="refinement phase"):
        Trainer.resume(tmp_path / "ck2.npz", small, refine="off")
    with pytest.raises(ValueError, match="refine"):
        Trainer.resume(tmp_path / "ck.npz", small, refine="sometimes")
