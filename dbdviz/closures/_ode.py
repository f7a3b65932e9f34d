"""Shared plumbing of the closures: the step map, ODE integration, range checks, the
error type."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from ..config import LatticeLV

__all__ = ["ClosureError", "time_grid", "integrate", "iterate"]


class ClosureError(ValueError):
    """A closure's integration failed or left the physical range.

    Attributes
    ----------
    closure : str
        Name of the closure (``"mean-field"``, ``"pair"``).
    time : float
        First time at which the problem was detected (NaN if unknown).
    """

    def __init__(self, closure: str, time: float, reason: str) -> None:
        self.closure = closure
        self.time = float(time)
        super().__init__(f"{closure} closure failed at t = {time:g}: {reason}")


def time_grid(config: LatticeLV, t: np.ndarray | None) -> np.ndarray:
    """The simulator grid ``0, dt, ..., steps * dt`` or a validated custom grid."""
    if t is None:
        return np.arange(config.steps + 1, dtype=np.float64) * config.dt
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or t.size < 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be a 1-D array of finite times, got shape {t.shape}")
    if t[0] != 0.0 or np.any(np.diff(t) <= 0):
        raise ValueError(
            "t must start at 0 and increase strictly (t[0] = 0 is the "
            "initial placement)"
        )
    return t


def integrate(
    name: str,
    rhs: Callable[[float, np.ndarray], np.ndarray],
    y0: np.ndarray,
    t: np.ndarray,
    check: Callable[[np.ndarray], str | None],
    method: str = "LSODA",
    rtol: float = 1e-8,
    atol: float = 1e-8,
) -> np.ndarray:
    """Integrate ``dy/dt = rhs(t, y)`` on the grid ``t``; raise :class:`ClosureError`.

    ``check(y)`` returns None for a physical state, else a reason; it is applied to
    every row of the output grid. ``LSODA`` switches to a stiff (BDF) method when
    the hop mixing of the pair equations makes the system stiff.

    Returns
    -------
    y : ndarray of float64, shape (len(t), len(y0))
    """
    y0 = np.asarray(y0, dtype=np.float64)
    if t.size == 1:
        ys = y0[None, :]
    else:

        def f(tt: float, y: np.ndarray) -> np.ndarray:
            return rhs(tt, y)

        try:
            with np.errstate(over="raise", invalid="raise"):
                sol = solve_ivp(
                    f, (t[0], t[-1]), y0, method=method, t_eval=t, rtol=rtol, atol=atol
                )
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            raise ClosureError(name, float("nan"), f"solver error: {exc}") from exc
        if sol.status != 0 or sol.y.shape[1] != t.size:
            last = sol.t[-1] if sol.t.size else t[0]
            raise ClosureError(name, last, f"integration stopped ({sol.message})")
        ys = sol.y.T.copy()
        ys[0] = y0  # the initial condition exactly, not the solver's echo of it
    for k in range(ys.shape[0]):
        if not np.all(np.isfinite(ys[k])):
            raise ClosureError(name, t[k], "non-finite state")
        why = check(ys[k])
        if why is not None:
            raise ClosureError(name, t[k], why)
    return ys


def iterate(
    name: str,
    step: Callable[[np.ndarray], np.ndarray],
    y0: np.ndarray,
    t: np.ndarray,
    dt: float,
    check: Callable[[np.ndarray], str | None],
) -> np.ndarray:
    """Iterate the one-step map ``y_{k+1} = step(y_k)`` on the grid ``t``.

    The simulator changes its lattice once per step, so the closures are maps on
    ``0, dt, 2 dt, ...``; values at other times of a custom grid are linear
    interpolations between the two enclosing steps.

    Returns
    -------
    y : ndarray of float64, shape (len(t), len(y0))

    Raises
    ------
    ClosureError
        ``check`` rejected a state or it is not finite.
    """
    y0 = np.asarray(y0, dtype=np.float64)
    k_max = int(np.ceil(t[-1] / dt - 1e-9))
    ys = np.empty((k_max + 1, y0.size))
    ys[0] = y0
    for k in range(1, k_max + 1):
        try:
            with np.errstate(over="raise", invalid="raise", divide="raise"):
                ys[k] = step(ys[k - 1])
        except (ValueError, ArithmeticError) as exc:
            raise ClosureError(name, k * dt, f"step error: {exc}") from exc
        if not np.all(np.isfinite(ys[k])):
            raise ClosureError(name, k * dt, "non-finite state")
        why = check(ys[k])
        if why is not None:
            raise ClosureError(name, k * dt, why)
    grid = np.arange(k_max + 1) * dt
    return np.stack([np.interp(t, grid, ys[:, j]) for j in range(y0.size)], axis=1)
