"""Static-path refinement of a trained DBD (docs/training.md, "Static-path refinement").

The adjoint training (:mod:`dbdviz.dbd.train`) learns ``F`` while its window slides
over the data, and lags where the data move fast (the model's own error). A fully
visible machine can follow the data much more closely: fitted at every time point on
its own, its moments match the training data about twice as well. This module makes
that the closure's target:

1. starting from the trained trajectory ``theta(t)``, every time point is fitted on
   its own by moment matching under the evaluation's sampling procedure (``chains``
   chains, the model's sweeps from a random start): ``theta_t += lr * Adam(<M>_data(t)
   - <M>_model(theta_t))`` per site (the log-likelihood gradient of an exponential
   family), all time points in one sampler call per iteration;
2. the fitted path is low-passed (``taps``, odd padding) to remove the sampling noise;
3. the finite-element right-hand sides are refitted by least squares to the path's
   Euler velocities, ``F(theta(t)) ~ (theta(t + 1) - theta(t)) / dt`` (Adam over the
   coefficients, starting from zero on the model's grid), and ``theta(t)`` is
   re-integrated from the path's start with the new ``F``.

:class:`StaticRefiner` does this step by step (one moment-matching iteration per
:meth:`~StaticRefiner.step`, then :meth:`~StaticRefiner.finish` for 2-3), which is how
:class:`~dbdviz.dbd.train.Trainer` runs it as its last phase (``TrainConfig.refine``);
:func:`refine_static` is the same loop in one call.

The result is again a :class:`~dbdviz.dbd.model.DBDModel` (``dtheta/dt = F(theta)``,
evaluated as usual); ``meta["refine"]`` records the settings, the relative residual
of the velocity fit and the seconds. Fully visible machines (depth 0) only: their
data statistics need no hidden sampling.

Random numbers: iteration ``i`` (1-based) samples with
:func:`~dbdviz.dbd.evaluate.sample_trajectory` seeded ``seed + i``; nothing else is
random.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import TrainConfig
from ..dbm import snapshot_statistics
from .dynamics import integrate
from .evaluate import Evaluation, _check_int, lowpass, sample_trajectory
from .model import DBDModel
from .optim import Adam

__all__ = [
    "refine_static",
    "StaticRefiner",
    "fit_rhs",
    "fit_error",
    "relative_errors",
    "accepts",
]

# The settings TrainConfig exposes have their defaults there (one definition); the
# rest are defined here.
ITERATIONS = TrainConfig.param["refine_iterations"].default
CHAINS = TrainConfig.param["refine_chains"].default
STRIDE = TrainConfig.param["refine_stride"].default
LR = 0.005
TAPS = 31
FIT_ITERATIONS = 200
FIT_LR = 0.01

#: Adam's moment decay rates of the per-time-point fit.
_B1, _B2 = 0.9, 0.999


def relative_errors(stats: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per statistic, the RMS over time of ``stats - target`` divided by the mean
    ``|target|`` (the RMS itself where that mean is 0); float64 arrays ``(n, P)`` in,
    ``(P,)`` out. The trainer's progress records report it per parameter."""
    den = np.abs(target).mean(axis=0)
    rms = np.sqrt(((stats - target) ** 2).mean(axis=0))
    return np.where(den > 0, rms / np.where(den > 0, den, 1.0), rms)


def fit_error(stats: np.ndarray, target: np.ndarray) -> float:
    """The mean of :func:`relative_errors`: how far a sampled path is from the data,
    the measure the refinement's acceptance compares."""
    return float(np.mean(relative_errors(stats, target)))


def accepts(error_before: float | None, error_after: float) -> bool:
    """The refinement's acceptance rule: keep the refined model unless its sampled
    path is further from the data than the path it started from
    (``error_after <= error_before``; no start error recorded: accepted)."""
    return error_before is None or error_after <= error_before


def _check_pos(name: str, v) -> float:
    v = float(v)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"{name} = {v!r} is out of range: allowed finite > 0")
    return v


def fit_rhs(fe, path: np.ndarray, domain, dt: float, iterations: int, lr: float):
    """Least-squares fit of the finite elements ``fe`` (in place, from their current
    coefficients) to the Euler velocities of ``path``.

    Minimises ``mean_t |F(path[t, domain]) - (path[t + 1] - path[t]) / dt|^2`` with
    Adam (``lr``) over ``iterations`` full-batch steps; vertices of the visited cells
    are created as needed. Returns the relative RMS residual
    ``sqrt(mean |F - v|^2 / mean |v|^2)``.
    """
    path = np.asarray(path, dtype=np.float64)
    x = np.ascontiguousarray(path[:-1][:, np.asarray(domain)])
    v = (path[1:] - path[:-1]) / float(dt)
    opt = Adam(lr)
    n = float(x.shape[0])
    for i in range(1, int(iterations) + 1):
        opt.step(fe, fe.accumulate(x, (fe.evaluate(x) - v) / n), step=i)
    r = fe.evaluate(x) - v
    den = float(np.mean(v**2))
    return (
        float(np.sqrt(np.mean(r**2) / den))
        if den > 0
        else float(np.sqrt(np.mean(r**2)))
    )


class StaticRefiner:
    """The static-path refinement of a trained fully visible DBD, step by step.

    ``step()`` runs one moment-matching iteration over all fitted time points;
    after ``iterations`` of them ``finish()`` low-passes the path, refits ``F`` and
    returns the refined model (module notes). :func:`refine_static` is this loop.

    Parameters
    ----------
    model, data, iterations, chains, lr, taps, fit_iterations, fit_lr, stride, seed, \
threads
        As :func:`refine_static`.

    Attributes
    ----------
    model : DBDModel
        The model being refined (not modified).
    iteration : int
        Moment-matching iterations done.
    iterations, chains, stride : int
    idx : ndarray of int64, shape (n,)
        Fitted time points (every ``stride``-th and the last, ``0 .. model.horizon``).
    theta : ndarray of float64, shape (n, P)
        The fitted path at ``idx``, as of the iterations done.
    data_stats : ndarray of float64, shape (n, P)
        Mean parameter statistics of the data at ``idx`` (the fit's target).
    last : Evaluation or None
        The sampling of the last :meth:`step`: model moments of the path that step
        started from (``last.theta``), at the times ``idx * dt``.
    seconds : float
        Time spent so far (set-up, steps, finish).
    """

    def __init__(
        self,
        model: DBDModel,
        data: Any,
        *,
        iterations: int = ITERATIONS,
        chains: int = CHAINS,
        lr: float = LR,
        taps: int = TAPS,
        fit_iterations: int = FIT_ITERATIONS,
        fit_lr: float = FIT_LR,
        stride: int = STRIDE,
        seed: int | None = 0,
        threads: int | None = None,
    ) -> None:
        if not isinstance(model, DBDModel):
            raise ValueError("model must be a DBDModel (dbdviz.dbd.Trainer(...).run())")
        if model.dbm_config.depth != 0:
            raise ValueError(
                f"depth = {model.dbm_config.depth}: refine_static needs a fully "
                "visible machine (depth 0)"
            )
        self.iterations = _check_int("iterations", iterations, 1)
        self.chains = _check_int("chains", chains, 2)
        self.fit_iterations = _check_int("fit_iterations", fit_iterations, 1)
        self.lr = _check_pos("lr", lr)
        self.fit_lr = _check_pos("fit_lr", fit_lr)
        self.stride = _check_int("stride", stride, 1)
        snaps = getattr(data, "snapshots", None)
        if snaps is None or snaps.ndim != 4:
            raise ValueError("data must have snapshots of shape (R, T + 1, L, L)")
        T = int(model.horizon)
        if snaps.shape[-1] != model.size or snaps.shape[1] < T + 1:
            raise ValueError(
                f"data snapshots {snaps.shape} do not fit the model (lattice "
                f"{model.size} x {model.size}, {T + 1} time points)"
            )
        lowpass(np.zeros(3), taps)  # validates taps before any work
        self.taps = int(taps)
        self.seed = seed
        self.threads = threads

        t_start = time.perf_counter()
        self.model = model
        self.dbm = model.dbm()
        D = snapshot_statistics(self.dbm, snaps[:, : T + 1]).mean(axis=0)
        self.scale = float(model.size) ** 2
        self.idx = np.unique(np.append(np.arange(0, T + 1, self.stride), T))
        self.data_stats = D[self.idx]
        self.t = self.idx * model.dt
        self.sweeps = int(model.meta.get("evaluate", {}).get("sweeps", 9))
        self.theta = np.array(model.theta[self.idx], dtype=np.float64)
        self.m1 = np.zeros_like(self.theta)
        self.m2 = np.zeros_like(self.theta)
        self.iteration = 0
        self.last: Evaluation | None = None
        self.start_error: float | None = None
        self.seconds = time.perf_counter() - t_start

    @property
    def done(self) -> bool:
        """True when every moment-matching iteration is done (then :meth:`finish`)."""
        return self.iteration >= self.iterations

    def step(self, cancel: threading.Event | None = None) -> Evaluation:
        """One moment-matching iteration (module notes, 1): sample the path at every
        fitted time point, one Adam step of ``theta`` toward the data's statistics.

        Returns
        -------
        Evaluation
            The sampling (also :attr:`last`): ``stats`` against :attr:`data_stats`
            is the mismatch this iteration corrected.

        Raises
        ------
        ValueError
            The path became non-finite (lower ``lr``).
        RuntimeError
            Every iteration is done already.
        Cancelled
            ``cancel`` was set during the sampling (nothing changed).
        """
        if self.done:
            raise RuntimeError(
                f"the refinement's {self.iterations} iterations are done"
            )
        t_start = time.perf_counter()
        i = self.iteration + 1
        ev = sample_trajectory(
            self.dbm,
            self.theta,
            self.t,
            chains=self.chains,
            sweeps=self.sweeps,
            seed=None if self.seed is None else int(self.seed) + i,
            threads=self.threads,
            cancel=cancel,
        )
        g = (self.data_stats - ev.stats) / self.scale  # log-likelihood grad per site
        self.m1 = _B1 * self.m1 + (1 - _B1) * g
        self.m2 = _B2 * self.m2 + (1 - _B2) * g * g
        self.theta += (
            self.lr
            * (self.m1 / (1 - _B1**i))
            / (np.sqrt(self.m2 / (1 - _B2**i)) + 1e-8)
        )
        self.iteration = i
        self.last = ev
        if i == 1:  # the path it started from: the model being refined
            self.start_error = fit_error(ev.stats, self.data_stats)
        self.seconds += time.perf_counter() - t_start
        if not np.all(np.isfinite(self.theta)):
            raise ValueError(
                f"refine_static diverged at iteration {i}: lower lr (now {self.lr})"
            )
        return ev

    def path(self, theta: np.ndarray | None = None) -> np.ndarray:
        """A fitted path at every time point ``0 .. model.horizon``.

        ``theta`` (default :attr:`theta`), float64 ``(n, P)`` at :attr:`idx`, is
        interpolated linearly in between; returns float64 ``(horizon + 1, P)``.
        """
        theta = self.theta if theta is None else np.asarray(theta, dtype=np.float64)
        if self.stride == 1:
            return theta.copy()
        every = np.arange(int(self.model.horizon) + 1)
        return np.column_stack(
            [np.interp(every, self.idx, theta[:, k]) for k in range(theta.shape[1])]
        )

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``(arrays, scalars)`` from which :meth:`restore` continues bit for bit."""
        arrays = {"theta": self.theta, "m1": self.m1, "m2": self.m2}
        return arrays, {
            "iteration": self.iteration,
            "seconds": self.seconds,
            "start_error": self.start_error,
        }

    def restore(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        """Continue from a :meth:`state` of a refiner of the same model and data."""
        for k in ("theta", "m1", "m2"):
            a = np.array(arrays[k], dtype=np.float64)
            if a.shape != self.theta.shape:
                raise ValueError(
                    f"refiner state {k} has shape {a.shape}: expected "
                    f"{self.theta.shape} (another model or stride)"
                )
            setattr(self, k, a)
        self.iteration = int(scalars["iteration"])
        self.seconds = float(scalars["seconds"])
        e = scalars.get("start_error")  # absent in checkpoints before the check
        self.start_error = None if e is None else float(e)
        self.last = None

    def finish(self, cancel: threading.Event | None = None) -> DBDModel:
        """Low-pass the fitted path, refit ``F`` to it and re-integrate (module
        notes, 2-3), then check the result: the re-integrated path is sampled once
        at the fitted time points like an iteration, and if it is further from the
        data (:func:`fit_error`) than the path the first iteration started from,
        the refinement is rejected and the model being refined is returned
        (with ``meta["refine"]["accepted"] = False``).

        Returns a new model: refitted ``fe``, ``theta0`` and ``theta`` (or the
        input's when rejected) and ``meta["refine"]``; the rest copied.

        Raises
        ------
        ValueError
            The refitted ``F`` integrates to non-finite values.
        RuntimeError
            Iterations are left (:attr:`done` is False).
        Cancelled
            ``cancel`` was set during the check's sampling.
        """
        if not self.done:
            raise RuntimeError(
                f"finish() after the {self.iterations} iterations "
                f"({self.iteration} done)"
            )
        t_start = time.perf_counter()
        model, T = self.model, int(self.model.horizon)
        path = lowpass(self.path(), self.taps)
        fe = model.fe.copy()
        fe._coef[:] = 0.0
        resid = fit_rhs(
            fe, path, model.domain, model.dt, self.fit_iterations, self.fit_lr
        )
        new_theta = np.asarray(
            integrate(fe, path[0], T, domain=model.domain, dt=model.dt).theta
        )
        if not np.all(np.isfinite(new_theta)):
            raise ValueError(
                "refine_static: the refitted F integrates to non-finite theta"
            )
        # The velocity fit can be close while the re-integrated path drifts off
        # (fast dynamics: small velocity errors accumulate), so judge the result.
        check = sample_trajectory(
            self.dbm,
            np.ascontiguousarray(new_theta[self.idx]),
            self.t,
            chains=self.chains,
            sweeps=self.sweeps,
            seed=None if self.seed is None else int(self.seed) + self.iterations + 1,
            threads=self.threads,
            cancel=cancel,
        )
        end_error = fit_error(check.stats, self.data_stats)
        accepted = accepts(self.start_error, end_error)
        self.seconds += time.perf_counter() - t_start
        meta = dict(model.meta)
        if accepted:
            # the path is low-passed already: evaluate() samples it as it is
            meta["evaluate"] = {**dict(meta.get("evaluate", {})), "lowpass_taps": 0}
        meta["refine"] = {
            "method": "static",
            "iterations": self.iterations,
            "chains": self.chains,
            "sweeps": self.sweeps,
            "lr": self.lr,
            "taps": self.taps,
            "fit_iterations": self.fit_iterations,
            "fit_lr": self.fit_lr,
            "stride": self.stride,
            "seed": self.seed,
            "residual": resid,
            "error_before": self.start_error,
            "error_after": end_error,
            "accepted": bool(accepted),
            "seconds": self.seconds,
        }
        if not accepted:
            return dataclasses.replace(model, meta=meta)
        return dataclasses.replace(
            model, fe=fe, theta0=path[0].copy(), theta=new_theta, meta=meta
        )


def refine_static(
    model: DBDModel,
    data: Any,
    *,
    iterations: int = ITERATIONS,
    chains: int = CHAINS,
    lr: float = LR,
    taps: int = TAPS,
    fit_iterations: int = FIT_ITERATIONS,
    fit_lr: float = FIT_LR,
    stride: int = STRIDE,
    seed: int | None = 0,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
) -> DBDModel:
    """Refine a trained fully visible DBD on its training data (module notes).

    ``Trainer`` does the same as its last phase (``TrainConfig.refine``, seeded
    with the trainer's seed); this function refines any depth-0 model in one call.

    Parameters
    ----------
    model : DBDModel
        Trained model, depth 0 (``Trainer(...).run()``).
    data : Ensemble
        Its training data, with snapshots of the model's lattice size; the first
        ``model.horizon + 1`` time points are used.
    iterations, chains, lr : int, int, float
        Moment-matching iterations over all time points, chains per time point,
        Adam step on theta (per-site gradients). Cost: ``iterations`` samplings of
        ``(horizon / stride + 1) x chains`` chains. The defaults of ``iterations``
        and ``chains`` are those of ``TrainConfig.refine_iterations`` and
        ``refine_chains``.
    taps : int
        Low-pass filter of the fitted path (odd; 0 or 1 = none).
    fit_iterations, fit_lr : int, float
        Adam steps and rate of the velocity fit of ``F``.
    stride : int
        Fit every ``stride``-th time point (and the last); the path in between is
        interpolated linearly before the low-pass. Divides the sampling cost (paper
        data, 2 cores: 46 s with 1, 11 s with 5, accuracy within 1 point). Default:
        ``TrainConfig.refine_stride``.
    seed : int or None
        Seeds of the sampler (``seed + i`` at iteration ``i``).
    threads, progress, cancel
        As :func:`dbdviz.dbd.evaluate.sample_trajectory`; ``progress(i, iterations)``
        after every moment-matching iteration.

    Returns
    -------
    DBDModel
        A new model: refitted ``fe``, ``theta0`` and ``theta``; the rest copied. If
        the refined path fits the data worse than the model's own (the check of
        :meth:`StaticRefiner.finish`), the model itself with
        ``meta["refine"]["accepted"] = False``.

    Raises
    ------
    ValueError
        Not a depth-0 model, data that do not match it, or a setting out of range.
    """
    refiner = StaticRefiner(
        model,
        data,
        iterations=iterations,
        chains=chains,
        lr=lr,
        taps=taps,
        fit_iterations=fit_iterations,
        fit_lr=fit_lr,
        stride=stride,
        seed=seed,
        threads=threads,
    )
    while not refiner.done:
        refiner.step(cancel=cancel)
        if progress is not None:
            progress(refiner.iteration, refiner.iterations)
    return refiner.finish(cancel=cancel)
