"""The two-phase mixture pieces (dbdviz.dbd.mixture): exact small cases of the
mixing plumbing, the hazard fit on a synthetic case with a known answer, and the
prey-only curve of the real simulator."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.config import preset
from dbdviz.dbd.mixture import (
    entry_ratio,
    extinct_fraction,
    extinct_moments,
    fit_hazard,
    mix_moments,
    prey_only_curve,
)


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
