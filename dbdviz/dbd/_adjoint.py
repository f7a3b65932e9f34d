"""numba kernel of the backward adjoint sweep (ALGORITHM.md sections 5.3-5.5a).

Generalised weight structure: weight ``j`` is parameter ``w_par[j]``; it couples
bias parameters ``w_lo[j]`` and ``w_hi[j]`` whose units have centers
``mu[:, c_lo[j]]`` and ``mu[:, c_hi[j]]``, with multiplicity ``w_q[j]``. The centered
biases are ``a~_lo = a_lo + q W mu_hi``, ``a~_hi = a_hi + q W mu_lo`` (section 3.3);
with no weights the sweep is the uncentered adjoint of section 7.3.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, jit_fast
from ._basis_kernels import _cell_rows, _factor_tables, _locate, _outer_weights


@jit
def _effective_adjoint(phi_row, mu_row, w_par, w_lo, w_hi, c_lo, c_hi, w_q, out):
    """``A = phi`` for biases, ``A_W = Lambda_W + q (mu_hi phi_lo + mu_lo phi_hi)``.

    This is ``A = M(mu)^T phi~`` with ``M = I + B(mu)`` the centering map (5.5).
    """
    out[:] = phi_row
    for j in range(w_par.shape[0]):
        out[w_par[j]] += w_q[j] * (
            mu_row[c_hi[j]] * phi_row[w_lo[j]] + mu_row[c_lo[j]] * phi_row[w_hi[j]]
        )


@jit
def _adjoint_step(
    phi, i, tau, dE, mu, psi_full, w_par, w_lo, w_hi, c_lo, c_hi, w_q, dt, exact, rhs
):
    """``phi[i - 1]`` from ``phi[i]`` and ``psi_full`` at ``tau`` (section 5.4)."""
    n_par = phi.shape[1]
    t_last = mu.shape[0] - 1
    for k in range(n_par):
        rhs[k] = dE[tau, k] - psi_full[k]
    if exact:
        t_hi = min(tau + 1, t_last)  # forward difference (ii); phi(tau1) = 0
        t_lo = tau
    else:
        t_hi = tau  # reference: backward difference
        t_lo = tau - 1
    for j in range(w_par.shape[0]):
        lo = w_lo[j]
        hi = w_hi[j]
        q = w_q[j]
        # (iv): the mix term uses mu(tau)
        mix = q * (mu[tau, c_hi[j]] * psi_full[lo] + mu[tau, c_lo[j]] * psi_full[hi])
        dmu_lo = (mu[t_hi, c_lo[j]] - mu[t_lo, c_lo[j]]) / dt
        dmu_hi = (mu[t_hi, c_hi[j]] - mu[t_lo, c_hi[j]]) / dt
        ctr = q * (phi[i, lo] * dmu_hi + phi[i, hi] * dmu_lo)
        rhs[w_par[j]] += mix - ctr
    for k in range(n_par):
        phi[i - 1, k] = phi[i, k] - dt * rhs[k]


@jit
def _backward_adjoint(
    dE,
    mu,
    dF,
    domain,
    w_par,
    w_lo,
    w_hi,
    c_lo,
    c_hi,
    w_q,
    tau0,
    dt,
    exact,
    phi,
    A,
    psi,
):
    """Backward sweep of the (centered) adjoint over one window.

    Parameters
    ----------
    dE : float64 (T + 1, P)
        Moment differences (asleep - awake) per parameter; centered statistics for
        the weights when ``w_par`` is not empty.
    mu : float64 (T + 1, C)
        Centers (``C`` may be 0 for the uncentered adjoint).
    dF : float64 (n_w, P, D)
        ``dF_k/dx_m`` at ``x(tau0 + i)`` at the scale wanted in psi (P1).
    domain : int64 (D,)
        Parameter index of each domain coordinate.
    tau0 : int
        First timepoint of the window; the window is ``tau0 .. tau0 + n_w - 1``.
    exact : bool
        ``True``: the consistent conventions (i)-(iv) of section 5.5a (mu(tau+1) in
        ``A`` and psi, forward difference of mu). ``False``: the reference code
        (mu(tau) everywhere, backward difference).
    phi : float64 (n_w, P), out
        Adjoints (centered coordinates) at ``tau0 .. tau1``; ``phi[-1] = 0``.
    A : float64 (n_w, P), out
        Effective adjoints entering the gradient ``-dt sum A_k dF_k/du``.
    psi : float64 (n_w, D), out
        ``psi_m = sum_k A_k dF_k/dx_m`` (section 5.3).

    Notes
    -----
    Jacobi (P14): every quantity at ``tau`` is computed from ``phi(tau)`` before
    ``phi(tau - 1)`` is written.
    """
    n_w = phi.shape[0]
    n_par = phi.shape[1]
    dim = domain.shape[0]
    t_last = mu.shape[0] - 1
    psi_full = np.zeros(n_par)
    rhs = np.empty(n_par)
    phi[n_w - 1, :] = 0.0
    for i in range(n_w - 1, -1, -1):
        tau = tau0 + i
        # time index of the centers inside A and psi: (i) and (iii) of 5.5a
        t_a = min(tau + 1, t_last) if exact else tau
        _effective_adjoint(phi[i], mu[t_a], w_par, w_lo, w_hi, c_lo, c_hi, w_q, A[i])
        psi_full[:] = 0.0
        for m in range(dim):
            s = 0.0
            for k in range(n_par):
                s += A[i, k] * dF[i, k, m]
            psi[i, m] = s
            psi_full[domain[m]] += s
        if i == 0:
            break
        _adjoint_step(
            phi,
            i,
            tau,
            dE,
            mu,
            psi_full,
            w_par,
            w_lo,
            w_hi,
            c_lo,
            c_hi,
            w_q,
            dt,
            exact,
            rhs,
        )


@jit
def _backward_adjoint_fe(
    dE,
    mu,
    x,
    domain,
    w_par,
    w_lo,
    w_hi,
    c_lo,
    c_hi,
    w_q,
    tau0,
    dt,
    exact,
    origin,
    inv_spacing,
    n_types,
    keys,
    table,
    coef,
    scale,
    phi,
    A,
    psi,
):
    """:func:`_backward_adjoint` with psi contracted directly from the coefficients.

    ``psi_m = sum_k A_k dF_k/dx_m = d/dx_m (sum_k A_k F_k)``: contracting the
    coefficients with ``A`` first costs ``(P + D) 4**D`` per timepoint instead of
    ``P (D + 1) 4**D`` for all ``dF_k/dx_m``.

    Parameters
    ----------
    x : float64 (n_w, D)
        Domain points ``x(tau0 .. tau1)``.
    scale : float64 (D,)
        ``1/spacing`` for the exact derivative, ``1`` for the reference one (P1).
    Other parameters as :func:`_backward_adjoint` and the FE store layout of
    ``_basis_kernels``.
    """
    n_w = phi.shape[0]
    n_par = phi.shape[1]
    dim = domain.shape[0]
    t_last = mu.shape[0] - 1
    n_corners = 1 << dim
    n_slots = coef.shape[1]
    psi_full = np.zeros(n_par)
    rhs = np.empty(n_par)
    cell = np.empty(dim, np.int64)
    frac = np.empty(dim)
    key = np.empty(dim, np.int64)
    rows = np.empty(n_corners, np.int64)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    wall = np.empty((dim, n_corners * n_slots))
    phi[n_w - 1, :] = 0.0
    for i in range(n_w - 1, -1, -1):
        tau = tau0 + i
        t_a = min(tau + 1, t_last) if exact else tau
        _effective_adjoint(phi[i], mu[t_a], w_par, w_lo, w_hi, c_lo, c_hi, w_q, A[i])
        _locate(x[i], origin, inv_spacing, cell, frac)
        _cell_rows(cell, keys, table, key, rows)
        _factor_tables(frac, n_types, tab, dtab)
        for m in range(dim):
            _outer_weights(tab, dtab, m, n_types, wall[m])
        psi[i, :] = 0.0
        _contract_psi(rows, wall, coef, A[i], psi[i])
        psi_full[:] = 0.0
        for m in range(dim):
            psi[i, m] *= scale[m]
            psi_full[domain[m]] += psi[i, m]
        if i == 0:
            break
        _adjoint_step(
            phi,
            i,
            tau,
            dE,
            mu,
            psi_full,
            w_par,
            w_lo,
            w_hi,
            c_lo,
            c_hi,
            w_q,
            dt,
            exact,
            rhs,
        )


@jit_fast
def _contract_psi(rows, wall, coef, a, out):
    """``out[m] += sum_c sum_s (sum_k a_k coef[row_c, s, k]) * wall[m, c*S + s]``."""
    n_slots = coef.shape[1]
    n_funcs = coef.shape[2]
    dim = wall.shape[0]
    for c in range(rows.shape[0]):
        r = rows[c]
        if r < 0:
            continue
        base = c * n_slots
        for s in range(n_slots):
            ua = 0.0
            for k in range(n_funcs):
                ua += a[k] * coef[r, s, k]
            if ua != 0.0:
                for m in range(dim):
                    out[m] += ua * wall[m, base + s]
