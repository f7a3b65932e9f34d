"""Forward integration of the parameter ODE ``dtheta/dt = F(theta[domain])`` (4.1).

:func:`integrate` runs forward Euler from ``theta(0)``; :class:`Integrator` gives the
same trajectories bitwise but re-integrates only from the first step whose cell had
coefficients changed since its previous call (the trainer's re-integration of the
whole horizon at every optimisation step then costs about the window length).
Both only read the finite-element store (no vertex is created, P15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._basis_kernels import _first_dirty_eval, _integrate_euler
from .basis import FiniteElements

__all__ = ["Trajectory", "integrate", "Integrator"]


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
    dom = _check_domain(domain, fe)
    out = np.empty((n_steps + 1, fe.n_funcs))
    out[0] = theta0
    cells = np.empty((n_steps * substeps, fe.dim), np.int64)
    _integrate_euler(out, 0, dom, float(dt), substeps, *fe.raw(), cells)
    _check_finite(out)
    return Trajectory(out, out[:, dom], dom, float(dt), substeps)


def _check_finite(theta: np.ndarray) -> None:
    if not np.all(np.isfinite(theta)):
        raise FloatingPointError("theta(t) diverged (non-finite values)")


def _check_domain(domain, fe: FiniteElements) -> np.ndarray:
    dom = np.ascontiguousarray(domain, dtype=np.int64)
    if dom.shape != (fe.dim,) or dom.min() < 0 or dom.max() >= fe.n_funcs:
        raise ValueError(
            f"domain = {dom}: expected {fe.dim} indices in 0 .. {fe.n_funcs - 1}"
        )
    return dom


class Integrator:
    """Forward Euler with a cache: re-integrates only from the first step whose
    cell had coefficients changed since the last call.

    The trainer re-integrates the whole trajectory from ``tau = 0`` at every
    optimisation step (4.1, P10), but an update changes ``F`` only on the cells
    around the window; every step before the trajectory first enters such a cell is
    bitwise unchanged and is reused.

    Parameters
    ----------
    fe : FiniteElements
    theta0 : array_like of float, shape (P,)
    domain : array_like of int, shape (D,)
    dt : float
    substeps : int

    Notes
    -----
    Call :meth:`mark_updated` with the rows of every update (the optimisers' step
    takes a :class:`~dbdviz.dbd.basis.SparseGradient` whose ``rows`` are exactly
    those), or :meth:`invalidate` after changing coefficients by other means.
    """

    def __init__(
        self, fe: FiniteElements, theta0, *, domain, dt: float = 1.0, substeps: int = 1
    ):
        theta0 = np.ascontiguousarray(theta0, dtype=np.float64)
        if theta0.shape != (fe.n_funcs,) or not np.all(np.isfinite(theta0)):
            raise ValueError(f"theta0 must be finite with shape ({fe.n_funcs},)")
        if not dt > 0:
            raise ValueError(f"dt = {dt}: allowed dt > 0")
        if int(substeps) < 1:
            raise ValueError(f"substeps = {substeps}: allowed substeps >= 1")
        self.fe = fe
        self.domain = _check_domain(domain, fe)
        self.dt = float(dt)
        self.substeps = int(substeps)
        self._theta = np.empty((1, fe.n_funcs))
        self._theta[0] = theta0
        self._cells = np.empty((0, fe.dim), np.int64)
        self._valid = 0  # steps 0 .. _valid of _theta are up to date
        self._dirty = np.zeros(fe.capacity, np.bool_)
        self._any_dirty = False
        #: Steps integrated by the last :meth:`trajectory` call.
        self.last_recomputed = 0

    def mark_updated(self, rows) -> None:
        """Flag store rows whose coefficients changed."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._dirty.shape[0] < self.fe.capacity:
            grown = np.zeros(self.fe.capacity, np.bool_)
            grown[: self._dirty.shape[0]] = self._dirty
            self._dirty = grown
        self._dirty[rows] = True
        self._any_dirty = self._any_dirty or rows.size > 0

    def invalidate(self) -> None:
        """Forget the cache (coefficients changed in an unknown way)."""
        self._valid = 0
        self._dirty[:] = False
        self._any_dirty = False

    def trajectory(self, n_steps: int) -> Trajectory:
        """``theta(0 .. n_steps)``, identical to :func:`integrate` from ``theta0``."""
        n_steps = int(n_steps)
        if n_steps < 0:
            raise ValueError(f"n_steps = {n_steps}: allowed n_steps >= 0")
        fe, sub = self.fe, self.substeps
        valid = min(self._valid, n_steps)
        if self._any_dirty and valid > 0:
            if self._dirty.shape[0] < fe.capacity:
                self.mark_updated(np.zeros(0, np.int64))
            first = _first_dirty_eval(
                self._cells, valid * sub, fe._keys, fe._table, self._dirty
            )
            valid = min(valid, first // sub)
        self._dirty[:] = False
        self._any_dirty = False
        if self._theta.shape[0] < n_steps + 1:
            grown = np.empty((max(n_steps + 1, 2 * self._theta.shape[0]), fe.n_funcs))
            grown[: self._theta.shape[0]] = self._theta
            self._theta = grown
            cells = np.empty(((grown.shape[0] - 1) * sub, fe.dim), np.int64)
            cells[: self._cells.shape[0]] = self._cells
            self._cells = cells
        out = self._theta[: n_steps + 1]
        if valid < n_steps:
            _integrate_euler(
                out, valid, self.domain, self.dt, sub, *fe.raw(), self._cells
            )
        _check_finite(out[valid:])
        self.last_recomputed = n_steps - valid
        self._valid = n_steps  # later rows (an earlier, longer horizon) are not checked
        theta = out.copy()
        return Trajectory(theta, theta[:, self.domain], self.domain, self.dt, sub)
