"""Pair approximation: counts and nearest-neighbour pairs, triplets closed.

State ``(X, Y, nnXX, nnXY, nnYY)`` advanced one simulator step at a time by the
hierarchy of the step (:func:`.hierarchy.step_expectation`), every triplet -- at the
start of the step and within the sweep -- closed by the pairs
(:func:`.hierarchy.pair_closure_triplets`, ``rho_ijk = rho_ij rho_jk / rho_j`` with
its finite-size correction). Initial pairs are the exact expectations of the random
initial placement, where the closure is exact: the first step equals the simulated
mean within its standard errors (docs/hierarchy.md sections 4-6).
"""

from __future__ import annotations

import numpy as np

from ..config import LatticeLV
from ..moments import MomentTable
from ._ode import iterate, time_grid
from .hierarchy import (
    _singlets,
    bond_matrix,
    diagonal_pairs_estimate,
    random_pairs,
    step_expectation,
)
from .mean_field import _check_config

__all__ = ["pair_approximation", "pair_step", "initial_state"]

NAME = "pair"


def initial_state(config: LatticeLV) -> np.ndarray:
    """``(X, Y, nnXX, nnXY, nnYY)`` at t = 0: the expectations of the simulator's
    initial placement.

    ``pick_mode="uniform"``: a uniformly random placement (:func:`.hierarchy.
    random_pairs`). ``"nested_permutation"`` (quirk Q3): every molecule goes to a
    uniformly random row (among rows with an empty site), then to a uniformly random
    empty site of it, so rows hold binomial numbers of molecules and pairs in a row
    are more frequent: with ``f = 1 / (L (L - 1)) + 1 / L^2`` (horizontal and
    vertical pairs), ``nnXX = X (X - 1) f``, ``nnXY = 2 X Y f``,
    ``nnYY = Y (Y - 1) f``, 1.2 % above the uniform values on 40 x 40 (exact while
    no row is full; the paper ensemble's t = 0 agrees within 1.4 SE).
    """
    nx, ny = float(config.init_x), float(config.init_y)
    if config.pick_mode != "nested_permutation":
        return np.array(
            [nx, ny, *random_pairs(nx, ny, config.n_sites)], dtype=np.float64
        )
    L = float(config.size)
    f = 1.0 / (L * (L - 1.0)) + 1.0 / L**2
    return np.array(
        [nx, ny, nx * max(nx - 1.0, 0.0) * f, 2.0 * nx * ny * f,
         ny * max(ny - 1.0, 0.0) * f],
        dtype=np.float64,
    )  # fmt: skip


def pair_step(config: LatticeLV):
    """``y -> y'``: one step of the pair approximation, ``y = (X, Y, nnXX, nnXY,
    nnYY)``."""
    names = ("X", "Y", "nnXX", "nnXY", "nnYY")

    def step(y: np.ndarray) -> np.ndarray:
        e = step_expectation(y, config, triplets="pair", floor="ode")
        return np.array([e[o] for o in names], dtype=np.float64)

    return step


def _check_state(n_sites: int):
    tol = 1e-6 * n_sites

    def check(y: np.ndarray) -> str | None:
        if y[0] < -tol or y[1] < -tol or y[0] + y[1] > n_sites + tol:
            return (
                f"counts out of range (X = {y[0]:.6g}, Y = {y[1]:.6g}, N = {n_sites})"
            )
        b = bond_matrix(*y, n_sites)
        if np.any(b < -4e-5 * n_sites):  # 1e-5 of all bonds: the sweep's RK4
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
    y0: np.ndarray | None = None,
) -> MomentTable:
    """Iterate the pair approximation on the simulator's time grid.

    Parameters
    ----------
    config : LatticeLV
    t : ndarray of float64, shape (n_times,), optional
        Output times starting at 0; default ``0, dt, ..., steps * dt`` (other times:
        linear interpolation between steps).
    y0 : ndarray, shape (5,), optional
        Initial ``(X, Y, nnXX, nnXY, nnYY)``; default :func:`initial_state` (e.g. a
        correlated start to watch hops relax the pairs).

    Returns
    -------
    MomentTable
        ``label="pair"``, ``n=None``, no ``sd``. ``X, Y, nnXX, nnXY, nnYY`` from the
        step map; diagonal pairs ``nnn*`` estimated by the closure's own Markov
        assumption (:func:`.hierarchy.diagonal_pairs_estimate`), ``nnn3* = 1.5 nnn*``.

    Raises
    ------
    ValueError
        Invalid config, grid or initial state.
    ClosureError
        A step left the physical range.
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
    ys = iterate(NAME, pair_step(config), y0, tt, config.dt, _check_state(N))
    ys = np.maximum(ys, 0.0)
    b = bond_matrix(*(ys[:, k] for k in range(5)), N)
    nnn = diagonal_pairs_estimate(np.maximum(b, 0.0), _singlets(ys[:, 0], ys[:, 1], N))
    names = ("X", "Y", "nnXX", "nnXY", "nnYY")
    mean = {o: ys[:, k] for k, o in enumerate(names)}
    for k, s in enumerate(("XX", "XY", "YY")):
        mean["nnn" + s] = nnn[:, k]
        mean["nnn3" + s] = 1.5 * nnn[:, k]
    return MomentTable(t=tt, n=None, mean=mean, label=NAME)
