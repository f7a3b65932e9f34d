"""Mean-field closure: pairs are those of a random placement of the current counts.

One step of the hierarchy (:func:`.hierarchy.step_expectation`) from the pairs and
triplets of ``X`` and ``Y`` placed uniformly at random, iterated on the simulator's
grid: the counts are the state, every correlation is closed by the densities at the
start of each step. In the dilute, small-``dt`` limit this is the Lotka-Volterra
system (:func:`mean_field_rhs`)

    dX/dt = kr1 max(X, 1) min(1, N - X - Y) - k X Y
    dY/dt = k X Y - kr2 Y,        k = 4 c p3 / ((N - 1) dt),  c = (8 - p3) / 16

(docs/hierarchy.md section 5), with the analytic fixed point and linearised period
of :func:`fixed_point` and :func:`oscillation_period`.
"""

from __future__ import annotations

import math

import numpy as np

from ..config import LatticeLV
from ..moments import MomentTable
from ._ode import iterate, time_grid
from .hierarchy import predation_coefficient, random_pairs, step_expectation

__all__ = [
    "mean_field",
    "mean_field_step",
    "mean_field_rhs",
    "interaction_rate",
    "fixed_point",
    "oscillation_period",
]

NAME = "mean-field"


def _check_config(config: LatticeLV) -> LatticeLV:
    if not isinstance(config, LatticeLV):
        raise ValueError(f"config must be a LatticeLV, got {type(config).__name__}")
    config.validate()
    return config


def interaction_rate(config: LatticeLV) -> float:
    """``k`` of the continuous-time mean-field law ``predations per unit time = k X Y``.

    A random placement has ``nnXY = 4 X Y / (N - 1)`` and a sweep makes
    ``c p3 nnXY`` predations, ``c`` in the dilute limit
    (:func:`.hierarchy.predation_coefficient`).
    """
    c = predation_coefficient(config.predation)
    return 4.0 * c * config.predation / ((config.n_sites - 1) * config.dt)


def fixed_point(config: LatticeLV) -> tuple[float, float]:
    """Coexistence fixed point ``(X*, Y*) = (kr2 / k, kr1 / k)`` of the continuous-time
    mean-field ODE (:func:`mean_field_rhs`).

    Raises
    ------
    ValueError
        No coexistence point: predation or a rate is zero, ``X* < 1`` (the birth
        propensity's floor ``max(X, 1)`` is active) or ``X* + Y* >= N - 1`` (the
        filling cap is active).
    """
    _check_config(config)
    if config.predation == 0 or config.birth == 0 or config.death == 0:
        raise ValueError(
            "no mean-field coexistence point: birth, death and predation "
            "must all be > 0"
        )
    k = interaction_rate(config)
    xs, ys = config.death / k, config.birth / k
    if xs < 1.0 or xs + ys >= config.n_sites - 1:
        raise ValueError(
            f"the mean-field fixed point X* = {xs:.4g}, Y* = {ys:.4g} is "
            f"outside the region X* >= 1, X* + Y* < N - 1 = "
            f"{config.n_sites - 1} where the equations are Lotka-Volterra"
        )
    return xs, ys


def oscillation_period(config: LatticeLV) -> float:
    """Period ``2 pi / sqrt(kr1 kr2)`` of small oscillations about :func:`fixed_point`.

    The Jacobian at the fixed point is ``[[0, -k X*], [k Y*, 0]]`` with eigenvalues
    ``+- i sqrt(kr1 kr2)``; the orbits are closed (Lotka-Volterra has the conserved
    quantity ``k (X + Y) - kr2 ln X - kr1 ln Y``), so the period does not depend on
    the grid and only larger orbits are slower.
    """
    fixed_point(config)  # raises where the formula does not apply
    return 2.0 * math.pi / math.sqrt(config.birth * config.death)


def mean_field_rhs(config: LatticeLV):
    """``f(t, [X, Y]) -> d[X, Y]/dt`` of the continuous-time (dilute, small ``dt``)
    mean field: ``kr1 max(X, 1) min(1, N - X - Y) - k X Y``, ``k X Y - kr2 Y``."""
    k = interaction_rate(config)
    n_sites = config.n_sites

    def rhs(t: float, y: np.ndarray) -> np.ndarray:
        x, yy = y[0], y[1]
        births = config.birth * max(x, 1.0) * min(max(n_sites - x - yy, 0.0), 1.0)
        return np.array([births - k * x * yy, k * x * yy - config.death * yy])

    return rhs


def mean_field_step(config: LatticeLV):
    """``y -> y'``: one step of the mean field on ``y = (X, Y)``."""

    def step(y: np.ndarray) -> np.ndarray:
        s = np.array([y[0], y[1], 0.0, 0.0, 0.0])
        e = step_expectation(s, config, triplets="random", floor="ode")
        return np.array([e["X"], e["Y"]], dtype=np.float64)

    return step


def _check_state(n_sites: int):
    tol = 1e-6 * n_sites

    def check(y: np.ndarray) -> str | None:
        if y[0] < -tol or y[1] < -tol:
            return f"negative count (X = {y[0]:.6g}, Y = {y[1]:.6g})"
        if y[0] + y[1] > n_sites + tol:
            return f"X + Y = {y[0] + y[1]:.6g} exceeds the {n_sites} sites"
        return None

    return check


def mean_field(config: LatticeLV, t: np.ndarray | None = None) -> MomentTable:
    """Iterate the mean-field closure on the simulator's time grid.

    Parameters
    ----------
    config : LatticeLV
        Rates, lattice size, initial counts, ``dt`` and ``steps``.
    t : ndarray of float64, shape (n_times,), optional
        Output times starting at 0; default ``0, dt, ..., steps * dt`` (other times:
        linear interpolation between steps).

    Returns
    -------
    MomentTable
        ``label="mean-field"``, ``n=None``, no ``sd``. ``X, Y`` from the step map; all
        pair observables (nn, diagonal nnn, and the reference's nnn3 = 1.5 x
        diagonal) as the random-placement expectations of the predicted counts --
        the closure's own assumption.

    Raises
    ------
    ValueError
        Invalid config or grid.
    ClosureError
        A step left the physical range.
    """
    config = _check_config(config)
    tt = time_grid(config, t)
    ys = iterate(
        NAME,
        mean_field_step(config),
        np.array([config.init_x, config.init_y], dtype=np.float64),
        tt,
        config.dt,
        _check_state(config.n_sites),
    )
    nx = np.clip(ys[:, 0], 0.0, config.n_sites)
    ny = np.clip(ys[:, 1], 0.0, config.n_sites)
    xx, xy, yy = random_pairs(nx, ny, config.n_sites)
    mean = {
        "X": nx,
        "Y": ny,
        "nnXX": xx,
        "nnXY": xy,
        "nnYY": yy,
        "nnnXX": xx,
        "nnnXY": xy,
        "nnnYY": yy,
        "nnn3XX": 1.5 * xx,
        "nnn3XY": 1.5 * xy,
        "nnn3YY": 1.5 * yy,
    }
    return MomentTable(t=tt, n=None, mean=mean, label=NAME)
