"""What training reports and raises: :class:`ProgressRecord` (one step),
:class:`WindowResult` (one window of an adjoint step), :class:`TrainingDiverged`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .adjoint import AdjointResult

__all__ = ["ProgressRecord", "WindowResult", "TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """Training produced non-finite or runaway parameters or moments.

    Attributes
    ----------
    step : int
        1-based optimisation step.
    tau : int
        First offending time point.
    """

    _ADVICE = (
        "lower the learning rate, or raise max_abs_theta if the bound is too tight"
    )

    def __init__(self, step: int, tau: int, reason: str, advice: str | None = None):
        self.step, self.tau, self.reason = int(step), int(tau), reason
        super().__init__(
            f"training diverged at optimisation step {step}, time point {tau}: "
            f"{reason} ({self._ADVICE if advice is None else advice})"
        )


@dataclass
class ProgressRecord:
    """What one step reports (adjoint or refinement phase).

    Attributes
    ----------
    step : int
        1-based index of the step just done, counted over both phases
        (``1 .. total_steps``).
    opt_steps : int
        Number of adjoint steps of the run (the adaptive schedule may raise it).
    window : tuple of int
        ``(tau0, tau1)`` of the step; ``(0, horizon)`` in the refinement.
    horizon : int
        Current horizon T.
    theta : ndarray of float64, shape (T + 1, P)
        Trajectory used in this step (a copy). Refinement: the path this iteration
        sampled (the fitted time points, interpolated in between); its last step:
        the refined model's re-integrated trajectory.
    param_names : list of str
    errors : dict of str -> float
        Per parameter statistic, RMS over the window of asleep minus awake divided by
        the mean |awake| (relative moment-matching error). Refinement: the same of
        the sampled path's statistics against the data's over the fitted time
        points; NaN in its last step (nothing sampled).
    elapsed : float
        Seconds of training so far.
    mismatch : float
        RMS over the window and the parameters of ``(asleep - awake)`` in units of
        its standard error (about 1 when the model matches within sampling noise;
        ``hold_tolerance`` compares it). Refinement: the same over the fitted time
        points (the standard error of the refinement's chains); NaN in its last step.
    held : bool
        The window stays where it is for the next step although its
        ``move_every`` steps are done (adaptive schedule, ``hold_tolerance``).
    phase : {"adjoint", "refine"}
        The phase of the step.
    total_steps : int
        Steps of both phases (``opt_steps`` plus ``refine_iterations + 1`` when
        refining).
    """

    step: int
    opt_steps: int
    window: tuple[int, int]
    horizon: int
    theta: np.ndarray
    param_names: list[str]
    errors: dict[str, float]
    elapsed: float
    mismatch: float = float("nan")
    held: bool = False
    phase: str = "adjoint"
    total_steps: int = 0


@dataclass
class WindowResult:
    """One window of a step (the current one or a replay): what its gradient is
    made of.

    Attributes
    ----------
    tau0, tau1 : int
        The window.
    Ma, Ms : ndarray of float64, shape (tau1 - tau0 + 1, P)
        Awake and asleep statistics per time point of the window.
    mismatch : float
        RMS z-score of ``Ms - Ma`` (see :attr:`ProgressRecord.mismatch`).
    dE : ndarray of float64, shape (horizon + 1, P)
        Centered (and scaled) moment differences, zero outside the window.
    mu : ndarray of float64, shape (horizon + 1, n_layers, 2)
        Centers the adjoint used (after this window's slide).
    adjoint : AdjointResult
        Truncated adjoint on the window; the step's gradient is the sum of
        ``coefficient_gradient`` over its windows.
    """

    tau0: int
    tau1: int
    Ma: np.ndarray
    Ms: np.ndarray
    mismatch: float
    dE: np.ndarray
    mu: np.ndarray
    adjoint: AdjointResult
