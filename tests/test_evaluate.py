"""Evaluation of learned DBDs (ALGORITHM.md section 6): low-pass filter, sampling
along theta(t) against exact enumeration, covariances and closure channels, kernels
vs their twins."""

from __future__ import annotations

import math
import threading

import naive_dbm as nv
import numpy as np
import pytest
from scipy.signal import firwin

from dbdviz._numba import set_threads
from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig
from dbdviz.dbd.evaluate import (
    COV_OBSERVABLES,
    Cancelled,
    Evaluation,
    evaluate,
    lowpass,
    moment_derivative,
    sample_trajectory,
)
from dbdviz.dbm import DBM, PAPER_VISIBLE_BIAS
from dbdviz.dbm import _observables as K
from dbdviz.moments import OBSERVABLES, MomentTable, lattice_observables


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("evaluate")


#: The architecture the tests were written for (the reference's, not the
#: measured defaults of DBMConfig).
_PAPER_ARCH = dict(depth=2, visible_couplings=False)


def make(size, **cfg):
    return DBM(DBMConfig(**{**_PAPER_ARCH, **cfg}), size, tiny_ok=True)


def zmax(est, exact, se):
    """Largest |z| of estimates against exact values (se > 0 where compared)."""
    est, exact, se = map(np.asarray, (est, exact, se))
    ok = se > 1e-12
    # where the estimator has no spread it must be exact
    assert np.allclose(est[~ok], exact[~ok], rtol=1e-9, atol=1e-9)
    return float(np.max(np.abs(est[ok] - exact[ok]) / se[ok])) if ok.any() else 0.0


# ------------------------------------------------------------------------------------
# exact references (tiny lattices)
# ------------------------------------------------------------------------------------


def exact_visible(dbm, theta):
    """Visible configurations and their exact probabilities for depth 0 and 1."""
    if dbm.depth == 1:
        return nv.exact_visible_depth1(dbm, theta)
    assert dbm.depth == 0
    cfgs = nv.all_configs(1, dbm.size)
    logw = dbm.param_statistics(cfgs) @ np.asarray(theta, float)
    w = np.exp(logw - logw.max())
    return cfgs[:, 0], w / w.sum()


def exact_moments(dbm, theta):
    """Exact visible observables, float64 (T, 11), for every theta row."""
    out = []
    for row in np.atleast_2d(theta):
        cfgs, p = exact_visible(dbm, row)
        out.append(p @ lattice_observables(cfgs))
    return np.array(out)


def exact_covariances(dbm, theta):
    """Fully visible model: exact Cov(Q, M_k), float64 (11, P), and the exact variance
    of the per-chain product (Q - EQ)(M - EM) (for the SE of a sample covariance)."""
    assert dbm.depth == 0
    cfgs = nv.all_configs(1, dbm.size)
    M = dbm.param_statistics(cfgs)
    logw = M @ theta
    p = np.exp(logw - logw.max())
    p /= p.sum()
    Q = lattice_observables(cfgs[:, 0]).astype(float)
    Qc = Q - p @ Q
    Mc = M - p @ M
    prod = Qc[:, :, None] * Mc[:, None, :]
    cov = np.einsum("n,nqk->qk", p, prod)
    var = np.einsum("n,nqk->qk", p, prod**2) - cov**2
    return cov, var


def smooth_theta(dbm, T, base, amp, phase=0.0):
    """A smooth trajectory: base + amp * sin(tau / 3 + phase_k) per parameter."""
    tau = np.arange(T)[:, None]
    ph = phase + np.arange(dbm.n_params)[None, :]
    return np.asarray(base)[None, :] + np.asarray(amp)[None, :] * np.sin(tau / 3 + ph)


# ------------------------------------------------------------------------------------
# kernels vs their numpy twins
# ------------------------------------------------------------------------------------

ARCHS = [
    (dict(depth=2), 40),
    (dict(depth=2), 5),
    (dict(depth=1, conn=9, cross_channel=True, visible_couplings=True), 7),
    (dict(depth=0, visible_couplings=True), 3),
    (dict(depth=3), 2),
]


@pytest.mark.parametrize("cfg,size", ARCHS)
def test_probability_kernels_match_numpy(cfg, size):
    dbm = make(size, **cfg)
    rng = np.random.default_rng(1)
    theta = rng.normal(size=(3, dbm.n_params))
    s = dbm.init_chains(9, 2)
    rows = np.arange(9) % 3
    dbm.sample(theta, s, 2, seed=3, rows=rows)
    p = dbm.final_probabilities(theta, s, rows=rows)
    obs = np.empty((9, 11))
    K._visible_observables(p, obs)
    M = np.empty((9, dbm.n_params))
    K._param_statistics(
        p, dbm.side, dbm.bias_index, dbm.weight_layout, dbm.coupling_index, M
    )
    np.testing.assert_allclose(obs, dbm.visible_observables(p), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(M, dbm.param_statistics(p), rtol=1e-12, atol=1e-12)
    # binary states as one-hot probabilities give the exact integer observables
    oh = np.zeros((9, 1, 2, size, size))
    oh[:, 0, 0] = s[:, 0] == 1
    oh[:, 0, 1] = s[:, 0] == 2
    K._visible_observables(oh, obs)
    assert np.array_equal(obs, lattice_observables(s[:, 0]))
    # the fused final step is bitwise the unfused path
    _, prob = dbm.tables(theta)
    obs2 = np.empty((9, 11))
    M2 = np.empty((9, dbm.n_params))
    K._final_moments(
        s,
        prob,
        rows.astype(np.int64),
        dbm.side,
        dbm.coupled,
        dbm.bias_index,
        dbm.weight_layout,
        dbm.coupling_index,
        obs2,
        M2,
    )
    K._visible_observables(p, obs)
    assert np.array_equal(obs2, obs) and np.array_equal(M2, M)


# ------------------------------------------------------------------------------------
# low-pass filter (6.1)
# ------------------------------------------------------------------------------------


def test_lowpass_constant_linear_and_alignment():
    T = 200
    tau = np.arange(T, dtype=float)
    x = np.column_stack([np.full(T, -2.63), 0.01 * tau - 1.0])
    y = lowpass(x)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[:, 0], -2.63, rtol=0, atol=1e-12)
    # linear: exact everywhere with the default odd padding (the trend continues
    # through the ends); the reference's edge padding bends it within 31 rows of
    # the ends, toward the interior, and is exact away from them
    np.testing.assert_allclose(y[:, 1], x[:, 1], rtol=0, atol=1e-12)
    ye = lowpass(x, padding="edge")
    np.testing.assert_allclose(ye[:, 0], -2.63, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ye[31:-31, 1], x[31:-31, 1], rtol=0, atol=1e-12)
    assert ye[0, 1] - x[0, 1] > 1e-3 and x[-1, 1] - ye[-1, 1] > 1e-3
    # edge padding = the series extended by copies of its end values, by hand
    h63 = firwin(63, 0.1 / np.pi, window="hamming")
    ext = np.concatenate([np.full(31, x[0, 1]), x[:, 1], np.full(31, x[-1, 1])])
    assert ye[0, 1] == pytest.approx(np.dot(h63, ext[:63]), abs=1e-13)
    # odd padding = point reflection 2 x_0 - x_k, by hand, on a curved series
    q = (tau / 50.0) ** 2
    ext = np.concatenate([2 * q[0] - q[31:0:-1], q, 2 * q[-1] - q[-2:-33:-1]])
    yq = lowpass(q)
    assert yq[0] == pytest.approx(np.dot(h63, ext[:63]), abs=1e-13)
    assert yq[-1] == pytest.approx(np.dot(h63, ext[-63:]), abs=1e-13)
    # zero phase: a slow sinusoid comes out in phase, scaled by the real gain
    # H(w) = sum_k h_k cos(w k) of the symmetric kernel (0.98 here: the cutoff 0.1
    # is the half-amplitude point of a ~0.3 rad/sample wide transition band)
    h = firwin(63, 0.1 / np.pi, window="hamming")
    w = 0.02
    gain = np.dot(h, np.cos(w * np.arange(-31, 32)))
    assert 0.97 < gain < 1.0
    s = np.sin(w * tau)
    ys = lowpass(s)
    np.testing.assert_allclose(ys[40:-40], gain * s[40:-40], rtol=0, atol=1e-12)
    # the filter is the documented firwin kernel, centred
    i = 100
    assert ys[i] == pytest.approx(np.dot(h, s[i - 31 : i + 32]), abs=1e-13)


def test_lowpass_removes_high_frequencies():
    tau = np.arange(300, dtype=float)
    fast = np.sin(0.8 * tau) + 0.5 * np.cos(2.0 * tau)
    slow = np.cos(0.005 * tau)
    y = lowpass(slow + fast)
    # Hamming stop band (~ -53 dB) away from the ends
    np.testing.assert_allclose(y[40:-40], slow[40:-40], rtol=0, atol=5e-3)
    assert np.abs(lowpass(fast)[40:-40]).max() < 5e-3
    # a shorter kernel / higher cutoff pass more: the cutoff argument is honoured
    mid = np.sin(0.3 * tau)
    assert np.abs(lowpass(mid)[40:-40]).max() < 0.01
    assert np.abs(lowpass(mid, cutoff=0.5)[40:-40]).max() > 0.9


def test_lowpass_identity_short_and_bad():
    x = np.random.default_rng(0).normal(size=(10, 3))
    assert np.array_equal(lowpass(x, taps=0), x) and np.array_equal(lowpass(x, 1), x)
    # shorter than the kernel: still defined, constants kept; edge padding stays
    # within the data's range, odd padding keeps a short linear series exactly
    y = lowpass(x, 63, padding="edge")
    assert y.shape == x.shape
    assert np.all(y <= x.max(axis=0) + 1e-12) and np.all(y >= x.min(axis=0) - 1e-12)
    assert np.all(np.isfinite(lowpass(x, 63)))
    np.testing.assert_allclose(
        lowpass(np.arange(5.0) - 2.0), np.arange(5.0) - 2.0, rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(lowpass(np.full((3, 2), 0.5)), 0.5, atol=1e-14)
    np.testing.assert_allclose(lowpass(np.array([1.5])), [1.5])
    for bad in (
        dict(taps=4),
        dict(taps=-1),
        dict(taps=2.5),
        dict(cutoff=0.0),
        dict(cutoff=4.0),
    ):
        with pytest.raises(ValueError):
            lowpass(x, **bad)
    with pytest.raises(ValueError, match="NaN"):
        lowpass(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="padding"):
        lowpass(x, padding="zeros")
    with pytest.raises(ValueError):
        lowpass(np.zeros((2, 2, 2)))


# ------------------------------------------------------------------------------------
# sampling against exact enumeration (6.2)
# ------------------------------------------------------------------------------------


def test_paper_initial_theta_gives_100_8():
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    theta = np.tile(dbm.initial_theta(reference=True), (3, 1))
    ev = sample_trajectory(dbm, theta, chains=6, sweeps=2)
    p = math.exp(PAPER_VISIBLE_BIAS) / (1 + 2 * math.exp(PAPER_VISIBLE_BIAS))
    # with zero weights the final visible probabilities are deterministic
    for o in ("X", "Y"):
        np.testing.assert_allclose(ev.table.mean[o], 1600 * p, rtol=1e-12)
        assert 1600 * p == pytest.approx(100.8, abs=0.01)
    np.testing.assert_allclose(ev.table.mean["nnXY"], 2 * 3200 * p * p, rtol=1e-12)
    np.testing.assert_allclose(ev.table.mean["nnn3YY"], 4800 * p * p, rtol=1e-12)
    # hidden layers are uniform (1/3 per state) whatever their random state
    np.testing.assert_allclose(ev.stats[:, 2:6], 1600 / 3, rtol=1e-12)
    assert np.allclose(ev.cov, 0.0, atol=1e-9)


@pytest.mark.parametrize("init", ["random", "carry"])
def test_depth1_matches_enumeration(init):
    dbm = make(3, depth=1)
    base = [-0.8, -1.1, -0.4, -0.6, 0.7, -0.5]
    theta = smooth_theta(dbm, 5, base, [0.2, 0.2, 0.3, 0.3, 0.2, 0.2])
    ev = sample_trajectory(dbm, theta, chains=3000, sweeps=20, seed=5, init=init)
    exact = exact_moments(dbm, theta)
    est = np.column_stack([ev.table.mean[o] for o in OBSERVABLES])
    se = np.column_stack([ev.table.se(o) for o in OBSERVABLES])
    assert zmax(est, exact, se) < 4.5  # 55 z-scores


def test_depth2_matches_enumeration():
    """The paper's depth on a 2 x 2 lattice (exact by forward-backward over layers);
    nnn3 is left out: on L = 2 its (0, 2) and (2, 0) pairs are a site with itself."""
    dbm = make(2, depth=2)
    rng = np.random.default_rng(3)
    theta = np.array([-0.7, -1.0, -0.3, 0.2, 0.4, -0.2, 0.8, -0.6, -0.9, 0.5])
    theta = theta + 0.1 * rng.normal(size=(3, 10))
    ev = sample_trajectory(dbm, theta, chains=4000, sweeps=20, seed=8)
    obs = OBSERVABLES[:8]
    for tau in range(3):
        cfgs, marg, _ = nv.layer_chain_marginals(dbm, theta[tau])
        exact = marg[0] @ lattice_observables(cfgs)[:, :8]
        est = np.array([ev.table.mean[o][tau] for o in obs])
        se = np.array([ev.table.se(o)[tau] for o in obs])
        assert zmax(est, exact, se) < 4.5


def test_coupled_visible_matches_enumeration_and_covariances():
    """Fully visible model with couplings: moments (pairs from binary states) and,
    with cov_from="states", Cov(Q, M_k) = d<Q>/dtheta_k against exact values."""
    dbm = make(3, depth=0, visible_couplings=True)
    base = [-0.6, -0.9, 0.4, -0.3, 0.5]
    theta = smooth_theta(dbm, 3, base, [0.2, 0.2, 0.2, 0.2, 0.2])
    ev = sample_trajectory(
        dbm, theta, chains=4000, sweeps=30, seed=11, cov_from="states"
    )
    est = np.column_stack([ev.table.mean[o] for o in OBSERVABLES])
    se = np.column_stack([ev.table.se(o) for o in OBSERVABLES])
    assert zmax(est, exact_moments(dbm, theta), se) < 4.5
    n = ev.meta["chains"]
    for tau in range(3):
        cov, var = exact_covariances(dbm, theta[tau])
        assert zmax(ev.cov[tau], cov, np.sqrt(var / n)) < 5.0  # 55 z-scores
    # the mean statistics: B from probabilities, J from states, both unbiased
    for tau in range(3):
        cfgs = nv.all_configs(1, 3)
        M = dbm.param_statistics(cfgs)
        logw = M @ theta[tau]
        p = np.exp(logw - logw.max())
        p /= p.sum()
        assert zmax(ev.stats[tau], p @ M, ev.stats_sd[tau] / math.sqrt(n)) < 4.5


def test_probability_covariances_shrink():
    """The reference's covariances from probabilities are conditional expectations
    (law of total covariance): Var of the expected count < Var of the count."""
    dbm = make(3, depth=0, visible_couplings=True)
    theta = np.array([[-0.6, -0.9, 0.4, -0.3, 0.5]])
    a = sample_trajectory(dbm, theta, chains=3000, sweeps=20, seed=2)
    b = sample_trajectory(dbm, theta, chains=3000, sweeps=20, seed=2, cov_from="states")
    # same chains, so the tables (probability estimators) are identical
    assert np.array_equal(a.table.mean["X"], b.table.mean["X"])
    assert a.cov[0, 0, 0] < 0.8 * b.cov[0, 0, 0]
    exact, _ = exact_covariances(dbm, theta[0])
    assert b.cov[0, 0, 0] == pytest.approx(exact[0, 0], rel=0.1)


def test_carry_and_random_agree_when_mixing_is_fast():
    dbm = make(3, depth=1)
    theta = smooth_theta(dbm, 6, [-1.0, -1.2, -0.8, -0.8, 0.3, 0.3], [0.1] * 6)
    r = sample_trajectory(dbm, theta, chains=2000, seed=1, init="random")
    c = sample_trajectory(dbm, theta, chains=2000, seed=2, init="carry")
    exact = exact_moments(dbm, theta)
    for ev in (r, c):
        for j, o in enumerate(OBSERVABLES[:5]):
            assert zmax(ev.table.mean[o], exact[:, j], ev.table.se(o)) < 4.5
    se = np.hypot(r.table.se("X"), c.table.se("X"))
    assert np.max(np.abs(r.table.mean["X"] - c.table.mean["X"]) / se) < 4.5


def test_carry_removes_the_bias_of_short_random_chains():
    """Pitfall P7: a strongly coupled model with two modes (all X / all Y near) does
    not equilibrate in 9 sweeps from random states; carried chains do."""
    dbm = make(3, depth=1)
    T = 8
    theta = np.tile([-1.0, -1.3, -1.0, -1.0, 0.0, 0.0], (T, 1))
    theta[:, 4:] = np.linspace(0.8, 1.0, T)[:, None]  # slowly strengthening weights
    exact = exact_moments(dbm, theta)[:, 0]
    r = sample_trajectory(dbm, theta, chains=2000, seed=4, init="random")
    c = sample_trajectory(dbm, theta, chains=2000, seed=4, init="carry", burn_in=100)
    z_r = (r.table.mean["X"] - exact) / r.table.se("X")
    z_c = (c.table.mean["X"] - exact) / c.table.se("X")
    assert np.abs(z_c).max() < 4.5
    assert z_r[-1] < -10  # random starts stay split between the X and Y modes
    assert (
        np.abs(c.table.mean["X"] - exact)[-1]
        < 0.2 * np.abs(r.table.mean["X"] - exact)[-1]
    )


# ------------------------------------------------------------------------------------
# reproducibility, batching, threads, progress, cancel, validation
# ------------------------------------------------------------------------------------


def _arrays(ev):
    return [ev.table.mean[o] for o in OBSERVABLES] + [ev.cov, ev.stats]


@pytest.mark.parametrize("init", ["random", "carry"])
def test_same_seed_same_result_and_prefix_stable(init):
    dbm = make(6, depth=2)
    theta = smooth_theta(dbm, 7, [-1.0] * 6 + [0.5] * 4, [0.2] * 10)
    a = sample_trajectory(dbm, theta, chains=70, seed=3, init=init)
    b = sample_trajectory(dbm, theta, chains=70, seed=3, init=init)
    for x, y in zip(_arrays(a), _arrays(b), strict=True):
        assert np.array_equal(x, y)
    c = sample_trajectory(dbm, theta, chains=70, seed=4, init=init)
    assert not np.array_equal(a.table.mean["X"], c.table.mean["X"])
    # the first time points do not depend on T (nor on the batching)
    d = sample_trajectory(dbm, theta[:3], chains=70, seed=3, init=init)
    assert np.array_equal(d.table.mean["nnXY"], a.table.mean["nnXY"][:3])
    assert np.array_equal(d.cov, a.cov[:3])


@pytest.mark.parametrize("init", ["random", "carry"])
def test_thread_count_does_not_matter(init):
    dbm = make(6, depth=2)
    theta = smooth_theta(dbm, 9, [-1.0] * 6 + [0.5] * 4, [0.2] * 10)
    out = []
    for threads in (1, 2):
        prev = set_threads(threads)
        try:
            out.append(sample_trajectory(dbm, theta, chains=60, seed=9, init=init))
        finally:
            set_threads(prev)
    out.append(sample_trajectory(dbm, theta, chains=60, seed=9, init=init, threads=1))
    for ev in out[1:]:
        for x, y in zip(_arrays(out[0]), _arrays(ev), strict=True):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("init", ["random", "carry"])
def test_progress_and_cancel(init):
    dbm = make(4, depth=1)
    theta = np.tile(dbm.initial_theta(), (30, 1))
    calls = []
    sample_trajectory(
        dbm, theta, chains=50, init=init, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (30, 30) and len(calls) >= 2
    assert all(t == 30 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    ev = threading.Event()
    ev.set()
    with pytest.raises(Cancelled):
        sample_trajectory(dbm, theta, chains=50, init=init, cancel=ev)
    ev = threading.Event()
    seen = []

    def stop(done, total):
        seen.append(done)
        ev.set()

    with pytest.raises(Cancelled):
        sample_trajectory(dbm, theta, chains=50, init=init, progress=stop, cancel=ev)
    assert len(seen) == 1 and seen[0] < 30


def test_bad_inputs():
    dbm = make(4, depth=1)
    th = np.tile(dbm.initial_theta(), (4, 1))
    bad = [
        (dict(theta=th[:, :5]), "shape"),
        (dict(theta=th[0]), "shape"),
        (dict(theta=np.where(np.arange(6) == 2, np.nan, th)), "NaN"),
        (dict(chains=0), "chains"),
        (dict(chains=2.5), "chains"),
        (dict(sweeps=-1), "sweeps"),
        (dict(init="warm"), "init"),
        (dict(cov_from="x"), "cov_from"),
        (dict(t=np.arange(3)), "t must"),
        (dict(t=np.array([0.0, 1.0, 1.0, 2.0])), "increasing"),
        (dict(burn_in=5), "burn_in"),
        (dict(init="carry", burn_in=-2), "burn_in"),
        (dict(seed=-1), "seed"),
        (dict(threads=0), "threads"),
    ]
    for kw, msg in bad:
        args = dict(theta=th)
        args.update(kw)
        with pytest.raises(ValueError, match=msg):
            sample_trajectory(dbm, **args)
    with pytest.raises(ValueError, match="DBM"):
        sample_trajectory("dbm", th)


# ------------------------------------------------------------------------------------
# channels (6.3)
# ------------------------------------------------------------------------------------


def _exact_evaluation(dbm, theta, t):
    """An Evaluation holding exact moments and covariances (fully visible model)."""
    mom = exact_moments(dbm, theta)
    cov = np.array([exact_covariances(dbm, row)[0] for row in theta])
    table = MomentTable(t, None, {o: mom[:, j] for j, o in enumerate(OBSERVABLES)})
    return Evaluation(table, theta, cov, np.zeros_like(theta), dbm.param_names)


def test_channels_identity_exact():
    """d<Q>/dt = sum_k Cov(Q, M_k) dtheta_k/dt holds exactly for a fully visible model
    (2 x 2 lattice, exact enumeration); checked against finite differences."""
    dbm = make(2, depth=0, visible_couplings=True)
    base = np.array([-0.6, -0.9, 0.4, -0.3, 0.5])
    amp = np.array([0.5, 0.3, -0.4, 0.6, 0.2])

    def errors(n):
        t = np.linspace(0.0, 2.0, n)
        theta = base + amp * np.sin(t[:, None] + np.arange(5))
        ev = _exact_evaluation(dbm, theta, t)
        out = {}
        for diff in ("central", "forward"):
            ch = ev.channels(lowpass_taps=0, difference=diff)
            true = moment_derivative(ev.table, difference=diff)
            assert np.array_equal(ch["t"], true["t"])
            err = 0.0
            for o in ("X", "Y", "nnXX", "nnXY", "nnYY"):
                np.testing.assert_allclose(ch["sum"][o], ch["channels"][o].sum(1))
                scale = np.abs(true[o]).max()
                err = max(err, np.abs(ch["sum"][o] - true[o]).max() / scale)
            out[diff] = err
        return out

    coarse, fine = errors(41), errors(161)
    assert fine["central"] < 2e-4 and fine["forward"] < 1e-2
    # second- and first-order convergence: the identity itself is exact
    assert coarse["central"] / fine["central"] > 10
    assert coarse["forward"] / fine["forward"] > 3


def test_channels_shapes_and_filter():
    dbm = make(3, depth=1)
    theta = smooth_theta(dbm, 12, [-1.0, -1.2, -0.8, -0.8, 0.3, 0.3], [0.1] * 6)
    ev = sample_trajectory(dbm, theta, np.arange(12) * 0.5, chains=50, seed=1)
    assert ev.cov.shape == (12, len(COV_OBSERVABLES), 6)
    ch = ev.channels()
    assert ch["param_names"] == dbm.param_names
    assert ch["channels"]["nnXY"].shape == (11, 6) and ch["sum"]["X"].shape == (11,)
    np.testing.assert_allclose(ch["t"], np.arange(11) * 0.5)
    raw = ev.channels("X", lowpass_taps=0)
    cov = ev.covariance("X")
    np.testing.assert_allclose(
        raw["channels"]["X"], cov[:-1] * np.diff(theta, axis=0) / 0.5
    )
    filt = ev.channels("X", lowpass_taps=5, cutoff=0.5)
    np.testing.assert_allclose(
        filt["channels"]["X"], lowpass(cov, 5, 0.5)[:-1] * np.diff(theta, axis=0) / 0.5
    )
    with pytest.raises(ValueError, match="allowed"):
        ev.channels("foo")
    with pytest.raises(ValueError, match="difference"):
        ev.channels(difference="backward")
    one = sample_trajectory(dbm, theta, chains=1)
    assert np.isnan(one.cov).all() and np.isnan(one.table.sd["X"]).all()
    with pytest.raises(ValueError, match="not finite"):
        one.channels()


# ------------------------------------------------------------------------------------
# evaluate(model)
# ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_model():
    """A real DBDModel from a short adjoint training on a small ensemble (dt = 0.5):
    its F is what training learned, not a stand-in."""
    from dbdviz.config import preset
    from dbdviz.dbd import Trainer
    from dbdviz.dbd.train import default_configs
    from dbdviz.simulate import simulate

    data = simulate(
        preset("paper", size=8, init_x=8, init_y=8, steps=20, dt=0.5, replicates=8),
        seed=4,
    )
    dc, tc = default_configs(opt_steps=4, refine="off")
    return Trainer(data, dc, tc, seed=1).run()


def test_evaluate_model_filters_and_extrapolates(short_model):
    m = short_model
    H = m.horizon  # the adjoint steps trained t = 0 .. H of the data's 20 steps
    assert 8 < H < 20 and m.dt == 0.5
    ev = evaluate(m, chains=20, seed=2, lowpass_taps=63)
    assert ev.table.t.shape == (H + 1,) and ev.table.t[-1] == 0.5 * H
    np.testing.assert_allclose(ev.theta, lowpass(m.theta, 63, 0.1))
    assert ev.meta["lowpass_taps"] == 63 and not ev.meta["extrapolated"]
    assert ev.meta["lowpass_padding"] == "odd"
    edge = evaluate(m, chains=20, seed=2, lowpass_taps=63, lowpass_padding="edge")
    np.testing.assert_allclose(edge.theta, lowpass(m.theta, 63, 0.1, "edge"))
    assert edge.meta["lowpass_padding"] == "edge"
    assert not np.allclose(edge.theta[0], ev.theta[0])
    with pytest.raises(ValueError, match="padding"):
        evaluate(m, chains=2, lowpass_padding="mirror")
    raw = evaluate(m, chains=20, seed=2, lowpass_taps=0)
    assert np.array_equal(raw.theta, m.theta)
    direct = sample_trajectory(
        m.dbm(), m.theta, np.arange(H + 1) * 0.5, chains=20, seed=2
    )
    assert np.array_equal(raw.table.mean["X"], direct.table.mean["X"])
    short = evaluate(m, chains=20, seed=2, lowpass_taps=0, t_max=4.0)
    assert short.table.t[-1] == 4.0 and short.theta.shape[0] == 9
    long = evaluate(m, chains=20, seed=2, lowpass_taps=0, t_max=13.0)
    assert long.meta["extrapolated"] and long.theta.shape[0] == 27
    np.testing.assert_allclose(long.theta, m.integrate(26))
    # the trained path up to the horizon, the learned F beyond it (it moves theta)
    np.testing.assert_array_equal(long.theta[: H + 1], m.theta)
    assert not np.allclose(long.theta[26], long.theta[H])
    with pytest.raises(ValueError, match="t_max"):
        evaluate(m, t_max=-1.0)
    with pytest.raises(ValueError, match="DBDModel"):
        evaluate(object())


def test_evaluate_real_model_with_zero_dynamics():
    """A DBDModel with F = 0: theta stays at theta0, also when extrapolated."""
    from dbdviz.config import TrainConfig
    from dbdviz.dbd.basis import FiniteElements
    from dbdviz.dbd.model import DBDModel

    dbm = DBM(DBMConfig(depth=1, visible_couplings=False), 4)
    theta0 = dbm.initial_theta()
    model = DBDModel(
        dbm_config=DBMConfig(depth=1, visible_couplings=False),
        size=4,
        fe=FiniteElements(dbm.n_params, 0.1, 0.0, dim=len(dbm.domain_indices)),
        domain=dbm.domain_indices,
        theta0=theta0,
        dt=1.0,
        horizon=5,
        theta=np.tile(theta0, (6, 1)),
        mu=np.tile(dbm.initial_centers(), (6, 1, 1)),
        train_config=TrainConfig(),
        param_names=list(dbm.param_names),
    )
    ev = evaluate(model, chains=30, seed=1, t_max=9, sweeps=None, lowpass_taps=None)
    assert ev.meta["extrapolated"] and ev.table.t.tolist() == list(range(10))
    np.testing.assert_allclose(ev.theta, np.tile(theta0, (10, 1)), atol=1e-12)
    # independent visible sites with density 0.0625 each
    np.testing.assert_allclose(ev.table.mean["X"], 1.0, rtol=1e-9)


@pytest.mark.slow
def test_paper_scale_nine_random_sweeps_are_biased():
    """Pitfall P7 at the paper's size: with parameters in the range of the learned
    model (ALGORITHM.md 6.3), 9 sweeps from random states are far from equilibrium;
    long random chains and carried chains agree with each other."""
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    row = [-3.04, -3.17, -0.43, 0.04, 0.66, 0.3, 1.23, 0.81, -1.02, -0.6]
    theta = np.tile(row, (3, 1))
    short = sample_trajectory(dbm, theta, chains=100, sweeps=9, seed=1)
    long = sample_trajectory(dbm, theta, chains=100, sweeps=400, seed=2)
    carry = sample_trajectory(
        dbm, theta, chains=100, sweeps=9, seed=3, init="carry", burn_in=400
    )
    for o in ("X", "nnXX", "Y"):
        se = np.hypot(long.table.se(o), carry.table.se(o))
        assert np.max(np.abs(long.table.mean[o] - carry.table.mean[o]) / se) < 4.5
    se = np.hypot(long.table.se("X"), short.table.se("X"))
    assert np.min((long.table.mean["X"] - short.table.mean["X"]) / se) > 20
