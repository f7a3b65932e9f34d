"""1-D fully visible DBD: the sanity-check model of ALGORITHM.md section 7.

Chain of sites ``s_i in {0, 1}``, ``p(s) ~ exp(h sum_i s_i + J sum_i s_i s_{i+1})``,
parameters ``theta = (h, J)``. Everything is per site in the thermodynamic limit
(transfer matrix): ``rho = <N>/n = d ln(lambda)/dh``, ``nu = <NN>/n = d ln(lambda)/dJ``,
covariance ``M = Hessian of ln(lambda)``.

Dynamics ``d(h, J)/dt = F(h, J)`` are learned from moment trajectories with the
uncentered adjoint (7.3), either on a Q3 C1 finite-element basis on ``(h, J)``
(:func:`learn_fe`) or as a combination of "motif" functions (:func:`learn_motif`).
The test problem T-1D: pure decay ``A -> 0`` at rate ``k``, whose exact moment
trajectory is ``rho0 exp(-k t)``, ``nu0 exp(-2 k t)`` and whose exact right-hand
side along the moment-matched trajectory is ``k * decay_motif = -k M^{-1}(rho, 2 nu)``.

All functions of ``(h, J)`` broadcast over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .adjoint import adjoint_gradient
from .basis import FiniteElements
from .dynamics import integrate
from .optim import Adam

__all__ = [
    "log_lambda",
    "moments",
    "moments_closed_form",
    "covariance",
    "periodic_moments",
    "invert_moments",
    "kl_per_site",
    "decay_motif",
    "moment_matching_rhs",
    "decay_data",
    "MotifFit",
    "learn_motif",
    "FEFit",
    "learn_fe",
]


def _parts(h, J):
    """a = e^{h+J}, b = e^h, s = sqrt((1-a)^2 + 4b) and the first derivatives of s."""
    h = np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    a = np.exp(h + J)
    b = np.exp(h)
    s = np.sqrt((1.0 - a) ** 2 + 4.0 * b)
    n_h = -(1.0 - a) * a + 2.0 * b  # d/dh of (1-a)^2/2 + 2b
    n_j = -(1.0 - a) * a
    return a, b, s, n_h / s, n_j / s, n_h, n_j


def log_lambda(h, J):
    """``ln`` of the largest transfer-matrix eigenvalue,
    ``lambda = (1 + e^{h+J} + sqrt((1 - e^{h+J})^2 + 4 e^h)) / 2`` (7.1)."""
    a, _, s, *_ = _parts(h, J)
    return np.log(0.5 * (1.0 + a + s))


def moments(h, J):
    """Per-site moments ``(rho, nu) = grad ln(lambda)``, each broadcast over h, J."""
    a, _, s, s_h, s_j, _, _ = _parts(h, J)
    lam2 = 1.0 + a + s
    return (a + s_h) / lam2, (a + s_j) / lam2


def moments_closed_form(h, J):
    """The closed forms of ``[JCP:barw.nb m1Analytic, m2Analytic]`` (section 7.1)."""
    h = np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    ehj = np.exp(h + J)
    S = np.exp(-(h + J)) * np.sqrt((1.0 - ehj) ** 2 + 4.0 * np.exp(h))
    R = 1.0 + ehj * (1.0 + S)
    rho = np.exp(-J) * (2.0 + np.exp(J) * (ehj * (1.0 + S) - 1.0)) / (S * R)
    nu = (ehj * (1.0 + S) - 1.0) / (S * R)
    return rho, nu


def covariance(h, J):
    """Per-site covariance of ``(N, NN)``: the Hessian of ``ln(lambda)``.

    Returns
    -------
    ndarray of float64, shape broadcast(h, J).shape + (2, 2)
    """
    a, b, s, s_h, s_j, _, _ = _parts(h, J)
    da = a * a - (1.0 - a) * a  # d n_j/dh = d n_j/dJ = d n_h/dJ
    s_hh = (da + 2.0 * b - s_h * s_h) / s
    s_hj = (da - s_h * s_j) / s
    s_jj = (da - s_j * s_j) / s
    lam2 = 1.0 + a + s
    l_h, l_j = (a + s_h) / lam2, (a + s_j) / lam2
    m = np.empty(np.shape(a) + (2, 2))
    m[..., 0, 0] = (a + s_hh) / lam2 - l_h * l_h
    m[..., 0, 1] = m[..., 1, 0] = (a + s_hj) / lam2 - l_h * l_j
    m[..., 1, 1] = (a + s_jj) / lam2 - l_j * l_j
    return m


def periodic_moments(h, J, n: int):
    """Exact per-site moments of a periodic ring of ``n`` sites,
    ``Z = lambda_1^n + lambda_2^n`` (differs from :func:`moments` by
    ``O((lambda_2/lambda_1)^n)``)."""
    a, _, s, s_h, s_j, _, _ = _parts(h, J)
    l1, l2 = 0.5 * (1.0 + a + s), 0.5 * (1.0 + a - s)
    r = (l2 / l1) ** n
    r1 = (l2 / l1) ** (n - 1)
    den = l1 * (1.0 + r)
    rho = (0.5 * (a + s_h) + r1 * 0.5 * (a - s_h)) / den
    nu = (0.5 * (a + s_j) + r1 * 0.5 * (a - s_j)) / den
    return rho, nu


def invert_moments(rho, nu, h0=0.0, J0=0.0, tol: float = 1e-13, max_iter: int = 100):
    """``(h, J)`` with ``moments(h, J) = (rho, nu)`` by Newton's method (scalars)."""
    rho, nu = float(rho), float(nu)
    if not (0.0 < nu < rho < 1.0 and nu > 2.0 * rho - 1.0):
        raise ValueError(
            f"(rho, nu) = ({rho}, {nu}): allowed 0 < nu < rho < 1, nu > 2 rho - 1"
        )
    th = np.array([h0, J0], dtype=np.float64)
    for _ in range(max_iter):
        r, v = moments(th[0], th[1])
        res = np.array([float(r) - rho, float(v) - nu])
        step = np.linalg.solve(covariance(th[0], th[1]), res)
        # damped: stay where the chain is well defined
        fac = min(1.0, 1.0 / max(np.max(np.abs(step)), 1e-300))
        th -= fac * step
        if np.max(np.abs(res)) < tol:
            return float(th[0]), float(th[1])
    raise RuntimeError(f"invert_moments did not converge for ({rho}, {nu})")


def kl_per_site(h, J, rho_d, nu_d, h_d, J_d):
    """``KL(p_d || p_theta)`` per site between chains with parameters
    ``(h_d, J_d)`` (moments ``rho_d, nu_d``) and ``(h, J)``; its gradient in
    ``(h, J)`` is ``(rho - rho_d, nu - nu_d)``."""
    return (
        log_lambda(h, J) - log_lambda(h_d, J_d) - (h - h_d) * rho_d - (J - J_d) * nu_d
    )


def decay_motif(h, J):
    """Motif of ``A -> 0`` at unit rate (7.2(b)): ``(b_h, b_J) = -M^{-1}(rho, 2 nu)``.

    With ``S = e^{-(h+J)} sqrt((1 - e^{h+J})^2 + 4 e^h)``, ``Q = e^{h+J}(1+S) - 1``:
    ``b_h = e^{-h}(e^h (3 e^J - 4) - 1) Q / 2``, ``b_J = (1 - e^J) Q``.
    """
    h = np.asarray(h, dtype=np.float64)
    J = np.asarray(J, dtype=np.float64)
    ehj = np.exp(h + J)
    S = np.exp(-(h + J)) * np.sqrt((1.0 - ehj) ** 2 + 4.0 * np.exp(h))
    Q = ehj * (1.0 + S) - 1.0
    bh = 0.5 * np.exp(-h) * (np.exp(h) * (3.0 * np.exp(J) - 4.0) - 1.0) * Q
    bj = (1.0 - np.exp(J)) * Q
    return bh, bj


def moment_matching_rhs(h, J, drho, dnu):
    """``F = M^{-1} (drho/dt, dnu/dt)``: the DBD right-hand side that reproduces
    given moment derivatives (the recipe behind every motif)."""
    m = covariance(h, J)
    rhs = np.stack(
        np.broadcast_arrays(np.asarray(drho, float), np.asarray(dnu, float)), -1
    )
    f = np.linalg.solve(m, rhs[..., None])[..., 0]
    return f[..., 0], f[..., 1]


def decay_data(h0: float, J0: float, k: float, n_steps: int, dt: float):
    """Exact moments and moment-matched parameters of decay at rate ``k``.

    Returns
    -------
    m : ndarray of float64, shape (n_steps + 1, 2)
        ``(rho0 e^{-k t}, nu0 e^{-2 k t})`` at ``t = tau * dt``.
    theta : ndarray of float64, shape (n_steps + 1, 2)
        ``(h, J)(t)`` with ``moments(h, J) = m(t)``.
    """
    rho0, nu0 = (float(v) for v in moments(h0, J0))
    t = np.arange(n_steps + 1) * dt
    m = np.stack([rho0 * np.exp(-k * t), nu0 * np.exp(-2.0 * k * t)], axis=1)
    theta = np.empty_like(m)
    hh, jj = h0, J0
    for i, (r, v) in enumerate(m):
        hh, jj = invert_moments(r, v, hh, jj)
        theta[i] = hh, jj
    return m, theta


# ----------------------------------------------------------------------------------
# Learners
# ----------------------------------------------------------------------------------


def _objective(theta, m_data, theta_data, dt):
    """``S = dt sum_{tau >= 1} KL(tau)`` and ``dE = (rho, nu)(theta) - m_data``."""
    rho, nu = moments(theta[:, 0], theta[:, 1])
    dE = np.stack([rho, nu], axis=1) - m_data
    kl = kl_per_site(
        theta[:, 0],
        theta[:, 1],
        m_data[:, 0],
        m_data[:, 1],
        theta_data[:, 0],
        theta_data[:, 1],
    )
    return dt * float(np.sum(kl[1:])), dE


@dataclass
class MotifFit:
    """Result of :func:`learn_motif`: coefficients per motif and the history."""

    coef: np.ndarray
    objective: list = field(default_factory=list)
    coef_history: list = field(default_factory=list)


def _motif_rhs(motifs, c, th, jac_eps=1e-6):
    """``F = sum_j c_j b_j``, the motif values ``B`` (n_motifs, 2) and ``dF/dtheta``."""
    B = np.array([np.asarray(b(th[0], th[1]), dtype=float) for b in motifs])
    F = c @ B
    J = np.empty((2, 2))
    for d in range(2):  # central differences: motifs are smooth closed forms
        e = np.zeros(2)
        e[d] = jac_eps
        Fp = c @ np.array([np.asarray(b(*(th + e)), float) for b in motifs])
        Fm = c @ np.array([np.asarray(b(*(th - e)), float) for b in motifs])
        J[:, d] = (Fp - Fm) / (2 * jac_eps)
    return F, B, J


def motif_objective_and_gradient(c, motifs, theta0, m_data, theta_data, dt):
    """Objective ``S(c)`` and ``dS/dc`` by the uncentered adjoint (7.3).

    The trajectory is forward Euler of ``F = sum_j c_j b_j`` from ``theta0``
    over ``len(m_data) - 1`` steps.
    """
    c = np.asarray(c, dtype=float)
    n = m_data.shape[0]
    th = np.empty((n, 2))
    th[0] = theta0
    Bs, Js = [], []
    for t in range(n - 1):
        F, B, J = _motif_rhs(motifs, c, th[t])
        Bs.append(B)
        Js.append(J)
        th[t + 1] = th[t] + dt * F
    S, dE = _objective(th, m_data, theta_data, dt)
    # exact discrete adjoint: phi(t-1) = phi(t) - dt (dE(t) - J(t)^T phi(t)), phi(T) = 0
    g = np.zeros(len(c))
    phi = np.zeros(2)
    for t in range(n - 1, 0, -1):
        Jt = Js[t] if t < n - 1 else np.zeros((2, 2))
        phi = phi - dt * (dE[t] - Jt.T @ phi)
        g -= dt * (Bs[t - 1] @ phi)  # -dt phi(t-1) . dF(t-1)/dc
    return S, g, th


def learn_motif(
    motifs,
    theta0,
    m_data,
    theta_data,
    dt: float,
    *,
    coef0=None,
    n_iter: int = 200,
    max_step=(0.5, 1e-4),
    nonneg: bool = True,
) -> MotifFit:
    """Fit ``F = sum_j c_j b_j(h, J)`` to moment data (JCP style, section 7.3).

    Gradient descent on ``S(c)`` with the step rescaled so that
    ``max_j |dc_j| <= lambda(iter)``, ``lambda`` decaying geometrically from
    ``max_step[0]`` to ``max_step[1]``; ``c`` projected to ``>= 0`` when
    ``nonneg``.

    Parameters
    ----------
    motifs : sequence of callables ``(h, J) -> (b_h, b_J)``
    theta0 : array_like of float, shape (2,)
    m_data, theta_data : ndarray of float64, shape (T + 1, 2)
        Data moments and their moment-matched parameters (for the KL offset).
    dt : float
    """
    c = np.zeros(len(motifs)) if coef0 is None else np.array(coef0, dtype=float)
    theta0 = np.asarray(theta0, dtype=float)
    lam = np.geomspace(max_step[0], max_step[1], n_iter)
    fit = MotifFit(c)
    for it in range(n_iter):
        S, g, _ = motif_objective_and_gradient(
            c, motifs, theta0, m_data, theta_data, dt
        )
        fit.objective.append(S)
        gmax = np.max(np.abs(g))
        if gmax == 0:
            break
        c = c - lam[it] * g / gmax
        if nonneg:
            c = np.maximum(c, 0.0)
        fit.coef_history.append(c.copy())
    fit.coef = c
    return fit


@dataclass
class FEFit:
    """Result of :func:`learn_fe`."""

    fe: FiniteElements
    theta: np.ndarray
    objective: list = field(default_factory=list)


def learn_fe(
    theta0,
    m_data,
    theta_data,
    dt: float,
    *,
    spacing: float = 0.2,
    kind: str = "q3c1",
    n_iter: int = 300,
    lr: float = 0.05,
) -> FEFit:
    """Learn ``F(h, J)`` on finite elements by the uncentered adjoint (7.2(a), 7.3).

    Every iteration integrates the whole horizon from ``theta0``, computes
    ``dE = (rho, nu)(theta) - m_data``, sweeps the exact uncentered adjoint over
    ``[0, T]`` and applies one Adam step to the touched coefficients.

    Parameters
    ----------
    theta0 : array_like of float, shape (2,)
    m_data, theta_data : ndarray of float64, shape (T + 1, 2)
    dt : float
    spacing : float
        Grid spacing in ``h`` and ``J``; the origin puts ``theta0`` at a cell centre.
    """
    theta0 = np.asarray(theta0, dtype=float)
    fe = FiniteElements(2, spacing, theta0 - 0.5 * spacing, kind=kind)
    opt = Adam(lr)
    n_steps = m_data.shape[0] - 1
    dom = np.array([0, 1])
    fit = FEFit(fe, np.empty(0))
    for _ in range(n_iter):
        th = integrate(fe, theta0, n_steps, domain=dom, dt=dt).theta
        S, dE = _objective(th, m_data, theta_data, dt)
        fit.objective.append(S)
        _, g = adjoint_gradient(fe, th, dE, 0, n_steps, domain=dom, dt=dt)
        opt.step(fe, g)
    fit.theta = integrate(fe, theta0, n_steps, domain=dom, dt=dt).theta
    fit.objective.append(_objective(fit.theta, m_data, theta_data, dt)[0])
    return fit
