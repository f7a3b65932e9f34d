"""Slow, obvious twins of the finite-element, Euler and adjoint kernels of dbdviz.dbd.

Everything here is plain Python over dicts and loops, written straight from
ALGORITHM.md sections 4.1, 4.2, 5.4 and 5.5, for comparisons on small inputs.
A store is a dict ``tuple(vertex) -> ndarray (S, P)``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def hermite(kappa: int, v: int, f: float, n_types: int, deriv: bool = False) -> float:
    """1-D factor of basis type ``kappa`` at local vertex ``v`` (section 4.2)."""
    if n_types == 1:
        if deriv:
            return -1.0 if v == 0 else 1.0
        return 1.0 - f if v == 0 else f
    if not deriv:
        return [
            [1 - 3 * f**2 + 2 * f**3, f - 2 * f**2 + f**3],
            [3 * f**2 - 2 * f**3, f**3 - f**2],
        ][v][kappa]
    return [
        [-6 * f + 6 * f**2, 1 - 4 * f + 3 * f**2],
        [6 * f - 6 * f**2, 3 * f**2 - 2 * f],
    ][v][kappa]


def store_from(fe) -> dict:
    """Dict copy of a FiniteElements store."""
    return {tuple(int(a) for a in k): fe.coef[i].copy() for i, k in enumerate(fe.keys)}


def naive_cell(x, origin, spacing):
    cell = [math.floor((x[d] - origin[d]) / spacing[d]) for d in range(len(x))]
    frac = [(x[d] - origin[d]) / spacing[d] - cell[d] for d in range(len(x))]
    return cell, frac


def naive_eval(store, x, origin, spacing, n_types, n_funcs, deriv_dim=None, cell=None):
    """F(x) for all functions (or dF/df_m with ``deriv_dim = m``), straight sum.

    ``cell`` forces the cell (the fractional coordinate may then be 1 or negative),
    used to evaluate a cell's polynomial on its boundary.
    """
    dim = len(x)
    if cell is None:
        cell, frac = naive_cell(x, origin, spacing)
    else:
        frac = [(x[d] - origin[d]) / spacing[d] - cell[d] for d in range(dim)]
    out = np.zeros(n_funcs)
    for v in itertools.product((0, 1), repeat=dim):
        key = tuple(cell[d] + v[d] for d in range(dim))
        if key not in store:
            continue
        u = store[key]
        for kappa in itertools.product(range(n_types), repeat=dim):
            slot = sum(kappa[d] * n_types ** (dim - 1 - d) for d in range(dim))
            b = 1.0
            for d in range(dim):
                b *= hermite(kappa[d], v[d], frac[d], n_types, deriv=(d == deriv_dim))
            out += u[slot] * b
    return out


def naive_grad(store, x, origin, spacing, n_types, n_funcs):
    """dF_k/dx_m, shape (P, D), exact scale."""
    dim = len(x)
    return np.stack(
        [
            naive_eval(store, x, origin, spacing, n_types, n_funcs, deriv_dim=m)
            / spacing[m]
            for m in range(dim)
        ],
        axis=1,
    )


def naive_integrate(
    store, theta0, domain, dt, substeps, n_steps, origin, spacing, n_types
):
    theta = [np.array(theta0, dtype=float)]
    th = theta[0].copy()
    for _ in range(n_steps):
        for _ in range(substeps):
            f = naive_eval(store, th[domain], origin, spacing, n_types, len(th))
            th = th + (dt / substeps) * f
        theta.append(th.copy())
    return np.array(theta)


def naive_adjoint(dE, mu, dF, domain, weights, tau0, tau1, dt, exact):
    """Centered adjoint of section 5.4 with the conventions of 5.5a, by the book.

    ``weights`` is a list of tuples ``(w, lo, hi, c_lo, c_hi, q)``; ``mu`` has shape
    (T + 1, C); ``dF`` (n_w, P, D). Returns (phi, A) of shape (n_w, P).
    """
    n_w = tau1 - tau0 + 1
    P = dE.shape[1]
    T = mu.shape[0] - 1
    phi = np.zeros((n_w, P))
    A = np.zeros((n_w, P))

    def effective(i, tau):
        t = min(tau + 1, T) if exact else tau
        a = phi[i].copy()
        for w, lo, hi, clo, chi, q in weights:
            a[w] += q * (mu[t, chi] * phi[i, lo] + mu[t, clo] * phi[i, hi])
        return a

    for tau in range(tau1, tau0, -1):
        i = tau - tau0
        A[i] = effective(i, tau)
        psi = np.zeros(P)
        for m, k in enumerate(domain):
            psi[k] += sum(A[i, j] * dF[i, j, m] for j in range(P))
        new = phi[i] - dt * (dE[tau] - psi)
        for w, lo, hi, clo, chi, q in weights:
            if exact:
                t1, t0 = min(tau + 1, T), tau
            else:
                t1, t0 = tau, tau - 1
            dmu_lo = (mu[t1, clo] - mu[t0, clo]) / dt
            dmu_hi = (mu[t1, chi] - mu[t0, chi]) / dt
            mix = q * (mu[tau, chi] * psi[lo] + mu[tau, clo] * psi[hi])
            ctr = q * (phi[i, lo] * dmu_hi + phi[i, hi] * dmu_lo)
            new[w] -= dt * (mix - ctr)
        phi[i - 1] = new
    A[0] = effective(0, tau0)
    return phi, A
