"""Adjoint gradients (ALGORITHM.md 5.4-5.5a, 7.3) against finite differences of the
truncated window objective, the naive twin, and each other; optimisers (5.5, P9)."""

from __future__ import annotations

import numpy as np
import pytest
from naive_fe import naive_adjoint

from dbdviz.dbd.adjoint import (
    WeightStructure,
    adjoint,
    adjoint_gradient,
    center_dE,
    centering_matrix,
    reference_domain,
    uncenter_dE,
)
from dbdviz.dbd.basis import FiniteElements, SparseGradient
from dbdviz.dbd.dynamics import integrate
from dbdviz.dbd.optim import SGD, Adam, make_optimizer


class Problem:
    """Synthetic smooth objective D(theta, tau) = 1/2 sum_k w_k (theta_k - y_k(tau))^2
    on a random C1 right-hand side, with smooth synthetic centers."""

    def __init__(
        self,
        n_layers=3,
        n_channels=1,
        spacing=0.2,
        dt=0.1,
        T=16,
        tau0=3,
        tau1=13,
        mu_amp=0.1,
        mu_omega=0.4,
        seed=0,
        coef_scale=0.3,
        box=(-3, 5),
        kind="q3c1",
    ):
        rng = np.random.default_rng(seed)
        self.ws = WeightStructure.channel_diagonal(n_layers, n_channels, q=4.0)
        self.domain = reference_domain(n_layers, n_channels)
        P = n_layers * n_channels + (n_layers - 1) * n_channels
        D = len(self.domain)
        self.P, self.D, self.dt, self.tau0, self.tau1 = P, D, dt, tau0, tau1
        self.theta0 = rng.normal(size=P) * 0.1
        x0 = self.theta0[self.domain]
        self.fe = FiniteElements(P, spacing, x0 - 0.5 * spacing, kind=kind)
        # random coefficients on a box of cells around x0 (the window stays inside)
        grid = np.stack(np.meshgrid(*[np.arange(*box)] * D, indexing="ij"), -1)
        keys = grid.reshape(-1, D)
        rows = self.fe.insert(keys)
        self.fe._coef[rows] = coef_scale * rng.normal(
            size=(len(rows), self.fe.n_slots, P)
        )
        self.traj = integrate(self.fe, self.theta0, T, domain=self.domain, dt=dt)
        t = np.arange(T + 1)[:, None]
        self.w = rng.uniform(0.5, 2.0, P)
        self.target = self.theta0 + 0.2 * np.sin(0.3 * t + rng.uniform(0, 6, P))
        C = n_layers * n_channels
        self.mu = 0.3 + mu_amp * np.sin(mu_omega * t + rng.uniform(0, 6, C))
        self.dE = self.w * (self.traj.theta - self.target)
        self.dEc = center_dE(self.dE, self.mu, self.ws)
        self.rng = rng

    def objective(self, fe):
        th = integrate(
            fe,
            self.traj.theta[self.tau0],
            self.tau1 - self.tau0,
            domain=self.domain,
            dt=self.dt,
        ).theta
        y = self.target[self.tau0 : self.tau1 + 1]
        return self.dt * 0.5 * np.sum(self.w * (th[1:] - y[1:]) ** 2)

    def gradient(self, centered, **kw):
        dE = self.dEc if centered else self.dE
        ws = self.ws if centered else None
        fe = self.fe.copy()
        _, g = adjoint_gradient(
            fe,
            self.traj.theta,
            dE,
            self.tau0,
            self.tau1,
            domain=self.domain,
            dt=self.dt,
            mu=self.mu,
            weights=ws,
            **kw,
        )
        assert fe.n_vertices == self.fe.n_vertices  # all visited vertices existed
        return g

    def fd_check(self, g, n=40, eps=1e-5):
        """Central differences on n random touched coefficients; returns (g, fd)."""
        idx = [
            (
                self.rng.integers(g.n_touched),
                self.rng.integers(self.fe.n_slots),
                self.rng.integers(self.P),
            )
            for _ in range(n)
        ]
        ga, fd = [], []
        for j, s, p in idx:
            r = g.rows[j]
            old = self.fe._coef[r, s, p]
            self.fe._coef[r, s, p] = old + eps
            sp = self.objective(self.fe)
            self.fe._coef[r, s, p] = old - eps
            sm = self.objective(self.fe)
            self.fe._coef[r, s, p] = old
            ga.append(g.values[j, s, p])
            fd.append((sp - sm) / (2 * eps))
        return np.array(ga), np.array(fd)


def _dense(g: SparseGradient):
    return {int(r): v for r, v in zip(g.rows, g.values, strict=True)}


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_uncentered_adjoint_matches_finite_differences():
    pb = Problem()
    g = pb.gradient(False)
    ga, fd = pb.fd_check(g)
    assert np.linalg.norm(fd) > 1e-3
    assert _rel(ga, fd) < 1e-8


@pytest.mark.parametrize(
    "kw",
    [{}, {"T": 13}, {"kind": "q1"}, {"tau0": 0, "tau1": 1}],
    ids=["q3c1", "window-at-horizon", "q1", "shortest-window"],
)
def test_centered_exact_matches_fd_and_uncentered(kw):
    pb = Problem(**kw)
    g = pb.gradient(True, variant="exact")
    ga, fd = pb.fd_check(g)
    assert _rel(ga, fd) < 1e-8
    gu = pb.gradient(False)
    np.testing.assert_array_equal(g.rows, gu.rows)
    assert _rel(g.values, gu.values) < 1e-10


def test_wrong_conventions_fail_the_fd_check():
    # the FD check can fail: the reference variant is off by O(dt dmu/dt)
    pb = Problem(mu_amp=0.15, mu_omega=1.0)
    g = pb.gradient(True, variant="reference", deriv_scale="exact")
    ga, fd = pb.fd_check(g)
    assert _rel(ga, fd) > 1e-4


def test_reference_equals_exact_for_constant_centers():
    pb = Problem(mu_amp=0.0)
    ge = pb.gradient(True, variant="exact")
    gr = pb.gradient(True, variant="reference", deriv_scale="exact")
    assert _rel(gr.values, ge.values) < 1e-12
    # the reference derivative scale (P1) changes the gradient
    gp = pb.gradient(True, variant="reference")
    assert _rel(gp.values, ge.values) > 1e-3


def test_reference_discrepancy_shrinks_with_slower_centers():
    errs = []
    for amp in (0.2, 0.1, 0.05):
        pb = Problem(mu_amp=amp, mu_omega=0.5)
        ge = pb.gradient(True, variant="exact")
        gr = pb.gradient(True, variant="reference", deriv_scale="exact")
        errs.append(_rel(gr.values, ge.values))
    assert errs[0] > 1e-4
    for a, b in zip(errs[:-1], errs[1:], strict=True):
        assert 0.35 < b / a < 0.65  # first order in dmu/dt


def test_reference_architecture_p10_d6():
    pb = Problem(
        n_layers=3,
        n_channels=2,
        spacing=0.1,
        T=12,
        tau0=1,
        tau1=11,
        coef_scale=0.05,
        seed=4,
        box=(-1, 3),
    )
    assert (pb.P, pb.D) == (10, 6)
    np.testing.assert_array_equal(pb.domain, [0, 1, 6, 7, 8, 9])
    g = pb.gradient(True, variant="exact")
    ga, fd = pb.fd_check(g, n=20)
    assert _rel(ga, fd) < 1e-7
    gu = pb.gradient(False)
    assert _rel(g.values, gu.values) < 1e-10


@pytest.mark.parametrize("exact", [False, True])
def test_kernel_vs_naive_adjoint(exact):
    rng = np.random.default_rng(21)
    P, D, T = 10, 6, 20
    ws = WeightStructure.channel_diagonal(3, 2, q=4.0)
    domain = reference_domain(3, 2)
    tau0, tau1 = 5, 15
    n_w = tau1 - tau0 + 1
    dE = rng.normal(size=(T + 1, P))
    mu = rng.uniform(0, 1, (T + 1, 6))
    dF = rng.normal(size=(n_w, P, D))
    from dbdviz.dbd._adjoint import _backward_adjoint

    phi = np.empty((n_w, P))
    A = np.empty((n_w, P))
    psi = np.empty((n_w, D))
    _backward_adjoint(
        dE,
        mu,
        dF,
        domain,
        ws.param,
        ws.bias_lo,
        ws.bias_hi,
        ws.center_lo,
        ws.center_hi,
        ws.q,
        tau0,
        0.7,
        exact,
        phi,
        A,
        psi,
    )
    wl = list(
        zip(
            ws.param,
            ws.bias_lo,
            ws.bias_hi,
            ws.center_lo,
            ws.center_hi,
            ws.q,
            strict=True,
        )
    )
    nphi, nA = naive_adjoint(dE, mu, dF, domain, wl, tau0, tau1, 0.7, exact)
    np.testing.assert_allclose(phi, nphi, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A, nA, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(psi, np.einsum("ik,ikm->im", A, dF), rtol=1e-12)
    assert np.all(phi[-1] == 0)


def test_centering_maps():
    rng = np.random.default_rng(3)
    ws = WeightStructure.channel_diagonal(3, 2, q=4.0)
    dE = rng.normal(size=(5, 10))
    mu = rng.uniform(size=(5, 3, 2))
    dEc = center_dE(dE, mu, ws)
    np.testing.assert_allclose(uncenter_dE(dEc, mu, ws), dE, rtol=1e-13)
    for t in range(5):
        M = centering_matrix(mu[t], ws, 10)
        np.testing.assert_allclose(dEc[t], np.linalg.solve(M.T, dE[t]), rtol=1e-12)
    # hX bias of the reference picks up q * wXX1 * mu_X1 (section 3.3)
    M = centering_matrix(mu[0], ws, 10)
    assert M[0, 6] == pytest.approx(4 * mu[0, 1, 0])
    assert M[2, 6] == pytest.approx(4 * mu[0, 0, 0])
    assert M[2, 8] == pytest.approx(4 * mu[0, 2, 0])


def test_sign_of_the_gradient():
    # too few prey in the model (dE_hX < 0) -> phi_hX > 0 -> g < 0 -> F_hX grows
    fe = FiniteElements(10, 0.1, np.full(6, -0.05) + [-2.63, -2.63, 0, 0, 0, 0])
    theta = np.tile([-2.63, -2.63, 0, 0, 0, 0, 0, 0, 0, 0.0], (11, 1))
    dE = np.zeros((11, 10))
    dE[:, 0] = -1.0
    res, g = adjoint_gradient(
        fe,
        theta,
        dE,
        0,
        10,
        domain=reference_domain(),
        dt=1.0,
        mu=np.full((11, 3, 2), 0.3),
        weights=WeightStructure.channel_diagonal(3),
        variant="reference",
    )
    np.testing.assert_allclose(res.phi[:, 0], np.arange(10, -1, -1.0))
    assert np.all(g.values[:, 0, 0] < 0)  # value slots of F_hX
    opt = SGD(lr=1.0)
    opt.step(fe, g)
    theta_new = integrate(fe, theta[0], 10, domain=reference_domain()).theta
    assert theta_new[-1, 0] > theta[-1, 0]


def test_validation():
    fe = FiniteElements(3, 0.1, 0.0, dim=2)
    th = np.zeros((5, 3))
    with pytest.raises(ValueError, match="variant"):
        adjoint(fe, th, th, 0, 4, domain=[0, 1], variant="x")
    with pytest.raises(ValueError, match="window"):
        adjoint(fe, th, th, 3, 3, domain=[0, 1])
    with pytest.raises(ValueError, match="mu"):
        adjoint(
            fe,
            th,
            th,
            0,
            4,
            domain=[0, 1],
            weights=WeightStructure([2], [0], [1], [0], [1], 4.0),
        )
    with pytest.raises(ValueError, match="bias"):
        WeightStructure([0], [0], [1], [0], [1], 4.0)


# -- optimisers ------------------------------------------------------------------------


def _sparse(fe, rng, keys):
    rows = fe.insert(keys)
    return SparseGradient(rows, rng.normal(size=(len(rows), fe.n_slots, fe.n_funcs)))


def test_sgd_updates_touched_rows_only():
    rng = np.random.default_rng(0)
    fe = FiniteElements(3, 0.1, 0.0, dim=2)
    fe.insert([[5, 5], [6, 6]])
    g = _sparse(fe, rng, [[0, 0], [0, 1]])
    lr = np.array([0.1, 0.2, 0.3])
    SGD(lr).step(fe, g)
    np.testing.assert_allclose(fe.coef[g.rows], -lr * g.values)
    assert np.all(fe.coef[:2] == 0)


def test_adam_matches_naive_and_skips_untouched():
    rng = np.random.default_rng(1)
    fe = FiniteElements(2, 0.1, 0.0, dim=2, capacity=2)
    opt = make_optimizer("adam", 0.01)
    keys_a = np.array([[0, 0], [1, 0]])
    keys_b = np.array([[1, 0], [7, 7], [8, 8]])  # forces store (and moment) growth
    ref_u, ref_m, ref_v = {}, {}, {}
    for step, keys in enumerate([keys_a, keys_b, keys_a, keys_b], start=1):
        g = _sparse(fe, rng, keys)
        opt.step(fe, g)
        b1, b2, eps = 0.9, 0.999, 1e-8
        for k, gv in zip(map(tuple, keys), g.values, strict=True):
            m = b1 * ref_m.get(k, 0.0) + (1 - b1) * gv
            v = b2 * ref_v.get(k, 0.0) + (1 - b2) * gv**2
            ref_m[k], ref_v[k] = m, v
            mh = m / (1 - b1**step)  # global step index (P9)
            vh = v / (1 - b2**step)
            ref_u[k] = ref_u.get(k, 0.0) - 0.01 * mh / (np.sqrt(vh) + eps)
    for k, u in ref_u.items():
        np.testing.assert_allclose(
            fe.coef[fe.find(np.array(k))], u, rtol=1e-12, atol=1e-15
        )


def test_optimizer_validation():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop", 0.1)
    with pytest.raises(ValueError, match="beta1"):
        Adam(0.1, beta1=1.0)
    fe = FiniteElements(2, 0.1, 0.0, dim=2)
    with pytest.raises(ValueError, match="lr"):
        SGD(-1.0).step(fe, SparseGradient(np.zeros(0, np.int64), np.zeros((0, 4, 2))))


def test_warmup_runs():
    from dbdviz.dbd import warmup

    warmup()


@pytest.mark.parametrize("variant", ["reference", "exact"])
def test_fused_psi_matches_gradients(variant):
    # the public adjoint contracts A with the coefficients before differentiating
    pb = Problem(seed=2)
    res = adjoint(
        pb.fe,
        pb.traj.theta,
        pb.dEc,
        pb.tau0,
        pb.tau1,
        domain=pb.domain,
        dt=pb.dt,
        mu=pb.mu,
        weights=pb.ws,
        variant=variant,
    )
    scale = "reference" if variant == "reference" else "exact"
    _, dF = pb.fe.gradient(pb.traj.x[pb.tau0 : pb.tau1 + 1], scale)
    np.testing.assert_allclose(
        res.psi, np.einsum("ik,ikm->im", res.A, dF), rtol=1e-10, atol=1e-12
    )
    assert np.abs(res.psi).max() > 1e-3
