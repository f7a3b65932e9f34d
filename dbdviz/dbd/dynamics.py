"""Forward integration of the parameter ODE ``dtheta/dt = F(theta[domain])`` (4.1)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._basis_kernels import _integrate_euler
from .basis import FiniteElements

__all__ = ["Trajectory", "integrate"]


@dataclass(frozen=True)
class Trajectory:
    """Parameter trajectory at the timepoints ``tau = 0 .. T`` (time ``tau * dt``).

    Attributes
    ----------
    theta : ndarray of float64, shape (T + 1, P)
    x : ndarray of float64, shape (T + 1, D)
        Domain coordinates ``theta[:, domain]``.
    domain : ndarray of int64, shape (D,)
    dt : float
    substeps : int
    """

    theta: np.ndarray
    x: np.ndarray
    domain: np.ndarray
    dt: float
    substeps: int


def integrate(
    fe: FiniteElements,
    theta0,
    n_steps: int,
    *,
    domain,
    dt: float = 1.0,
    substeps: int = 1,
) -> Trajectory:
    """Forward Euler from ``theta(0)`` over ``n_steps`` steps of ``dt``.

    ``theta(tau + 1) = theta(tau) + dt F(x(tau))`` with all ``F_k`` evaluated before
    any parameter moves (Jacobi); ``substeps`` Euler substeps of ``dt / substeps``
    per step. Reads only: no vertex is created (P15).

    Parameters
    ----------
    fe : FiniteElements
        ``P = fe.n_funcs`` functions on a ``D = fe.dim`` domain.
    theta0 : array_like of float, shape (P,)
    n_steps : int
        Horizon ``T`` (>= 0).
    domain : array_like of int, shape (D,)
    dt : float
    substeps : int

    Returns
    -------
    Trajectory

    Notes
    -----
    ALGORITHM.md section 4.1 (the trainer re-integrates the whole trajectory from
    ``tau = 0`` at every optimisation step).
    """
    theta0 = np.ascontiguousarray(theta0, dtype=np.float64)
    if theta0.shape != (fe.n_funcs,):
        raise ValueError(f"theta0 has shape {theta0.shape}: expected ({fe.n_funcs},)")
    if not np.all(np.isfinite(theta0)):
        raise ValueError("theta0 must be finite")
    n_steps = int(n_steps)
    if n_steps < 0:
        raise ValueError(f"n_steps = {n_steps}: allowed n_steps >= 0")
    substeps = int(substeps)
    if substeps < 1:
        raise ValueError(f"substeps = {substeps}: allowed substeps >= 1")
    if not dt > 0:
        raise ValueError(f"dt = {dt}: allowed dt > 0")
    dom = np.ascontiguousarray(domain, dtype=np.int64)
    if dom.shape != (fe.dim,) or dom.min() < 0 or dom.max() >= fe.n_funcs:
        raise ValueError(
            f"domain = {dom}: expected {fe.dim} indices in 0 .. {fe.n_funcs - 1}"
        )
    out = np.empty((n_steps + 1, fe.n_funcs))
    _integrate_euler(theta0, dom, float(dt), substeps, *fe.raw(), out)
    if not np.all(np.isfinite(out)):
        raise FloatingPointError("theta(t) diverged (non-finite values)")
    return Trajectory(out, out[:, dom], dom, float(dt), substeps)
