"""The 1-D fully visible DBD (ALGORITHM.md section 7): exact moments against
enumeration and transfer matrices, motifs, and the decay test T-1D."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.dbd import onedim as od

GRID = [(-1.5, -0.8), (-0.3, 0.0), (0.2, 0.7), (0.7, -0.4), (1.2, 1.1), (-2.0, 1.5)]


def _enumerate_ring(h, J, n):
    """Brute-force per-site <N>/n, <NN>/n of the periodic ring of n sites."""
    states = (np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1
    N = states.sum(1)
    NN = (states * np.roll(states, -1, axis=1)).sum(1)
    logw = h * N + J * NN
    p = np.exp(logw - logw.max())
    p /= p.sum()
    return p @ N / n, p @ NN / n


@pytest.mark.parametrize("h,J", GRID)
def test_closed_forms_and_transfer_matrix(h, J):
    rho, nu = od.moments(h, J)
    rc, nc = od.moments_closed_form(h, J)
    assert rho == pytest.approx(rc, rel=1e-12) and nu == pytest.approx(nc, rel=1e-12)
    # largest eigenvalue of T = [[1, e^{h/2}], [e^{h/2}, e^{h+J}]]
    lam = np.linalg.eigvalsh(
        np.array([[1.0, np.exp(h / 2)], [np.exp(h / 2), np.exp(h + J)]])
    )
    assert od.log_lambda(h, J) == pytest.approx(np.log(lam[-1]), rel=1e-13)
    e = 1e-6
    assert rho == pytest.approx(
        (od.log_lambda(h + e, J) - od.log_lambda(h - e, J)) / (2 * e), rel=1e-8
    )
    assert nu == pytest.approx(
        (od.log_lambda(h, J + e) - od.log_lambda(h, J - e)) / (2 * e), rel=1e-8
    )


@pytest.mark.parametrize("h,J", GRID)
def test_covariance_is_hessian(h, J):
    M = od.covariance(h, J)
    e = 1e-6
    fd = np.empty((2, 2))
    fd[:, 0] = (np.array(od.moments(h + e, J)) - np.array(od.moments(h - e, J))) / (
        2 * e
    )
    fd[:, 1] = (np.array(od.moments(h, J + e)) - np.array(od.moments(h, J - e))) / (
        2 * e
    )
    np.testing.assert_allclose(M, fd, rtol=1e-7, atol=1e-10)
    assert M[0, 1] == M[1, 0]
    assert np.all(np.linalg.eigvalsh(M) > 0)


@pytest.mark.parametrize("h,J", GRID)
def test_periodic_chain_enumeration(h, J):
    n = 12
    rho_e, nu_e = _enumerate_ring(h, J, n)
    rho_p, nu_p = od.periodic_moments(h, J, n)
    assert rho_p == pytest.approx(rho_e, rel=1e-12)
    assert nu_p == pytest.approx(nu_e, rel=1e-12)
    # thermodynamic limit within O((lambda2/lambda1)^(n-1))
    lam = np.linalg.eigvalsh(
        np.array([[1.0, np.exp(h / 2)], [np.exp(h / 2), np.exp(h + J)]])
    )
    ratio = abs(lam[0] / lam[1]) ** (n - 1)
    rho, nu = od.moments(h, J)
    assert abs(rho - rho_e) <= 2 * ratio + 1e-14
    assert abs(nu - nu_e) <= 2 * ratio + 1e-14


def test_inversion_roundtrip():
    for h, J in GRID:
        rho, nu = od.moments(h, J)
        hh, jj = od.invert_moments(rho, nu)
        assert hh == pytest.approx(h, abs=1e-9) and jj == pytest.approx(J, abs=1e-9)
    with pytest.raises(ValueError, match="rho"):
        od.invert_moments(0.3, 0.4)


@pytest.mark.parametrize("h,J", GRID)
def test_decay_motif_is_moment_matching(h, J):
    rho, nu = od.moments(h, J)
    bh, bj = od.decay_motif(h, J)
    fh, fj = od.moment_matching_rhs(h, J, -rho, -2 * nu)
    assert bh == pytest.approx(fh, rel=1e-10) and bj == pytest.approx(
        fj, rel=1e-10, abs=1e-12
    )


def test_decay_motif_at_zero_coupling():
    h = np.linspace(-2, 2, 7)
    bh, bj = od.decay_motif(h, 0.0)
    np.testing.assert_allclose(bh, -(1 + np.exp(h)), rtol=1e-12)
    np.testing.assert_allclose(bj, 0.0, atol=1e-13)


def test_motif_adjoint_gradient_matches_finite_differences():
    dt, n = 0.05, 20
    m, th = od.decay_data(0.5, 0.2, 1.0, n, dt)
    motifs = [od.decay_motif, lambda h, J: (np.sin(h) * 0.3, 0.2 * np.cos(J + h))]
    c = np.array([0.7, 0.4])
    S, g, _ = od.motif_objective_and_gradient(c, motifs, th[0], m, th, dt)
    eps = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = eps
        sp = od.motif_objective_and_gradient(c + e, motifs, th[0], m, th, dt)[0]
        sm = od.motif_objective_and_gradient(c - e, motifs, th[0], m, th, dt)[0]
        assert g[j] == pytest.approx((sp - sm) / (2 * eps), rel=1e-5)
    assert S > 0


def test_t1d_motif_learns_decay_rate():
    """T-1D (7.2): theta_decay -> k, with an O(dt) Euler bias that halves with dt."""
    k = 1.0
    errs = []
    for dt, n in ((0.02, 50), (0.01, 100)):
        m, th = od.decay_data(1.0, 0.3, k, n, dt)
        fit = od.learn_motif(
            [od.decay_motif], th[0], m, th, dt, coef0=[0.5], n_iter=150
        )
        errs.append(fit.coef[0] - k)
        assert fit.objective[-1] < 1e-3 * fit.objective[0]
    assert abs(errs[0]) < 0.03
    assert 0.4 < errs[1] / errs[0] < 0.6


def test_t1d_fe_learner_reproduces_decay_rhs():
    """Q3 C1 on (h, J) (7.2(a)): the learned F matches k * decay_motif along the
    trajectory away from the initial transient (fast variation on the grid scale)
    and the last points (P11)."""
    dt, n = 0.02, 50
    m, th = od.decay_data(0.5, -0.3, 1.0, n, dt)
    fit = od.learn_fe(th[0], m, th, dt, spacing=0.2, lr=0.1, n_iter=3000)
    assert fit.objective[-1] < 1e-4 * fit.objective[0]
    assert np.max(np.abs(fit.theta - th)) < 0.03
    F = fit.fe.evaluate(th[:-1])
    Ft = np.stack(od.decay_motif(th[:-1, 0], th[:-1, 1]), axis=1)
    rel = np.linalg.norm(F - Ft, axis=1) / np.linalg.norm(Ft, axis=1)
    assert np.max(rel[n // 3 : n - 2]) < 0.05
