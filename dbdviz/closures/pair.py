"""Pair approximation: counts and nearest-neighbour pairs, triplets closed.

State ``(X, Y, nnXX, nnXY, nnYY)`` evolved with the pair-level hierarchy
(:func:`.hierarchy.pair_rates`), every triplet closed as
``rho_ijk = rho_ij rho_jk / rho_j`` (:func:`.hierarchy.pair_closure_triplets`).
Initial pairs are the exact expectations of the random initial placement. Hops mix
pairs: each free hop replaces the mover's old neighbourhood by that of an empty
site, which relaxes the pair correlations toward random placement
(docs/hierarchy.md sections 4-5).
"""

from __future__ import annotations

import numpy as np

from ..config import LatticeLV
from ..moments import MomentTable
from ._ode import integrate, time_grid
from .hierarchy import (
    _singlets,
    bond_matrix,
    diagonal_pairs_estimate,
    pair_rates,
    random_pairs,
)
from .mean_field import _check_config

__all__ = ["pair_approximation", "pair_rhs", "initial_state"]

NAME = "pair"


def initial_state(config: LatticeLV) -> np.ndarray:
    """``(X, Y, nnXX, nnXY, nnYY)`` at t = 0: the random placement's expectations."""
    nx, ny = float(config.init_x), float(config.init_y)
    return np.array([nx, ny, *random_pairs(nx, ny, config.n_sites)], dtype=np.float64)


def pair_rhs(config: LatticeLV, order: str = "sweep", hops: bool = True):
    """``f(t, y) -> dy/dt`` for ``y = (X, Y, nnXX, nnXY, nnYY)``."""

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        return pair_rates(y, config, triplets="pair", order=order, hops=hops)

    return rhs


def _check_state(n_sites: int):
    tol = 1e-6 * n_sites

    def check(y: np.ndarray) -> str | None:
        if y[0] < -tol or y[1] < -tol or y[0] + y[1] > n_sites + tol:
            return (
                f"counts out of range (X = {y[0]:.6g}, Y = {y[1]:.6g}, N = {n_sites})"
            )
        b = bond_matrix(*y, n_sites)
        if np.any(b < -tol):
            i, j = np.unravel_index(np.argmin(b), b.shape)
            return (
                f"negative pair count b[{'0XY'[i]}{'0XY'[j]}] = {b[i, j]:.6g} "
                f"(state {np.array2string(y, precision=4)})"
            )
        return None

    return check


def pair_approximation(
    config: LatticeLV,
    t: np.ndarray | None = None,
    order: str = "sweep",
    hops: bool = True,
    y0: np.ndarray | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
) -> MomentTable:
    """Integrate the pair approximation on the simulator's time grid.

    Parameters
    ----------
    config : LatticeLV
    t : ndarray of float64, shape (n_times,), optional
        Output times starting at 0; default ``0, dt, ..., steps * dt``.
    order : {"sweep", "first-order"}
        Predation count of a sweep (:func:`.hierarchy.predation_per_step`).
    hops : bool
        Include the pair mixing by hops (switching it off is for diagnostics only).
    y0 : ndarray, shape (5,), optional
        Initial ``(X, Y, nnXX, nnXY, nnYY)``; default :func:`initial_state` (e.g. a
        correlated start to watch hops relax the pairs).
    rtol, atol : float
        Tolerances of ``solve_ivp`` (LSODA).

    Returns
    -------
    MomentTable
        ``label="pair"``, ``n=None``, no ``sd``. ``X, Y, nnXX, nnXY, nnYY`` from the
        ODE; diagonal pairs ``nnn*`` estimated by the closure's own Markov
        assumption (:func:`.hierarchy.diagonal_pairs_estimate`), ``nnn3* = 1.5 nnn*``.

    Raises
    ------
    ValueError
        Invalid config, grid or initial state.
    ClosureError
        The integration failed or left the physical range.
    """
    config = _check_config(config)
    tt = time_grid(config, t)
    N = config.n_sites
    if y0 is None:
        y0 = initial_state(config)
    else:
        y0 = np.asarray(y0, dtype=np.float64)
        if y0.shape != (5,):
            raise ValueError(
                f"y0 must have shape (5,) (X, Y, nnXX, nnXY, nnYY), got {y0.shape}"
            )
        why = _check_state(N)(y0)
        if why is not None:
            raise ValueError(f"y0 is not a physical state: {why}")
    ys = integrate(
        NAME,
        pair_rhs(config, order, hops),
        y0,
        tt,
        _check_state(N),
        rtol=rtol,
        atol=atol,
    )
    ys = np.maximum(ys, 0.0)
    b = bond_matrix(*(ys[:, k] for k in range(5)), N)
    nnn = diagonal_pairs_estimate(np.maximum(b, 0.0), _singlets(ys[:, 0], ys[:, 1], N))
    names = ("X", "Y", "nnXX", "nnXY", "nnYY")
    mean = {o: ys[:, k] for k, o in enumerate(names)}
    for k, s in enumerate(("XX", "XY", "YY")):
        mean["nnn" + s] = nnn[:, k]
        mean["nnn3" + s] = 1.5 * nnn[:, k]
    return MomentTable(t=tt, n=None, mean=mean, label=NAME)
