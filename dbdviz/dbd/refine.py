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
of the velocity fit and the seconds. Fully visible machines (depth 0) and machines
with one hidden layer (depth 1): the hidden units of a depth-1 machine are
independent given the visible layer, so the data's statistics at theta are exact
conditional expectations (:meth:`StaticRefiner.awake_stats`), and so are the
model's given its sampled visible layers. Deeper machines would need hidden sampling.

Equilibrium (``init``, ``TrainConfig.refine_init``): ``"random"`` samples the model
as its evaluation does (short chains from a random start: theta is matched to that
procedure); ``"data"`` starts the chains from the data's snapshots (CD-k) and
``"persistent"`` carries them through the iterations (PCD), so that the model's
Boltzmann distribution holds the data (depth 0 or 1: data-started chains draw their
hidden layer given the data in their first sweep); such a model is evaluated with
chains carried along t (docs/experiments/10-equilibrium.md, 13).

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
from ..dbm.clamped import expected_statistics, patch_histograms
from ..moments import (
    CONTRACT_OBSERVABLES,
    lattice_observables,
)
from .datachains import sample_from_data
from .dynamics import integrate
from .evaluate import Evaluation, _check_int, lowpass, sample_trajectory
from .model import DBDModel
from .optim import Adam

__all__ = [
    "refine_static",
    "sample_from_data",
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
INIT = TrainConfig.param["refine_init"].default
SWEEPS = TrainConfig.param["refine_sweeps"].default
TARGETS = TrainConfig.param["refine_targets"].default
NN_WEIGHT = TrainConfig.param["refine_nn_weight"].default
TAPS = TrainConfig.param["refine_taps"].default
_TARGETS = ("statistics", "observables")
#: ``"observables"`` targets: the fraction of the Gauss-Newton step taken per
#: iteration, its largest change of one parameter, and the damping of the normal
#: equations (relative to their mean diagonal; the directions the observables do
#: not determine stay put).
GN_STEP = 0.5
GN_MAX_STEP = 0.1
GN_DAMPING = 1e-3
#: The observables the ``"observables"`` targets match (the scored ones).
TARGET_OBSERVABLES = CONTRACT_OBSERVABLES
#: How a model refined with ``init = "data"`` is evaluated (``meta["evaluate"]``):
#: chains carried along t, ``CARRY_SWEEPS`` sweeps per time point after
#: ``CARRY_BURN_IN`` at t = 0 (docs/training.md, "Equilibrium"). 30: with 10 the
#: carried chains lag where theta(t) moves fast (400 chains on the paper data: 10
#: more sweeps vs 1000 up to 3.4 standard errors at t = 200, 82 % of the z within
#: 2; with 30: 2.5, 89 %; docs/experiments/23).
CARRY_SWEEPS = 30
CARRY_BURN_IN = 100
_INITS = ("random", "data", "persistent")
LR = 0.005
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
threads, init, sweeps
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
        init: str = INIT,
        sweeps: int = SWEEPS,
        targets: str = TARGETS,
        nn_weight: float = NN_WEIGHT,
    ) -> None:
        if not isinstance(model, DBDModel):
            raise ValueError("model must be a DBDModel (dbdviz.dbd.Trainer(...).run())")
        if model.dbm_config.depth > 1 and (
            targets != "observables" or init != "random"
        ):
            raise ValueError(
                f"depth = {model.dbm_config.depth}: refine_static needs a fully "
                "visible machine (depth 0) or one hidden layer (depth 1), or "
                "targets = 'observables' with init = 'random' (got "
                f"{targets!r}, {init!r})"
            )
        self.iterations = _check_int("iterations", iterations, 1)
        self.chains = _check_int("chains", chains, 2)
        self.fit_iterations = _check_int("fit_iterations", fit_iterations, 1)
        self.lr = _check_pos("lr", lr)
        self.fit_lr = _check_pos("fit_lr", fit_lr)
        self.stride = _check_int("stride", stride, 1)
        if init not in _INITS:
            raise ValueError(f"init = {init!r}: allowed {', '.join(map(repr, _INITS))}")
        self.init = init
        if targets not in _TARGETS:
            raise ValueError(
                f"targets = {targets!r}: allowed {', '.join(map(repr, _TARGETS))}"
            )
        self.targets = targets
        self.nn_weight = _check_pos("nn_weight", nn_weight)
        sweeps = _check_int("sweeps", sweeps, 0)
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
        self.scale = float(model.size) ** 2
        self.idx = np.unique(np.append(np.arange(0, T + 1, self.stride), T))
        self.depth = int(model.dbm_config.depth)
        if self.depth == 0:
            D = snapshot_statistics(self.dbm, snaps[:, : T + 1]).mean(axis=0)
            self.data_stats = D[self.idx]
        elif self.depth == 1:  # the data's statistics depend on theta (hidden)
            self._awake_setup(snaps[:, self.idx])
            self.data_stats = self.awake_stats(model.theta[self.idx])
        self.t = self.idx * model.dt
        K = len(TARGET_OBSERVABLES)
        #: the data's observables at ``idx`` (n, 8): the ``"observables"`` targets
        self.data_obs = lattice_observables(snaps[:, self.idx]).mean(axis=0)[:, :K]
        if self.depth > 1:  # only the visible statistics are the data's own
            self.data_stats = self._visible_data_stats()
        self._obs_scale = np.abs(self.data_obs).mean(axis=0)
        self._obs_scale[self._obs_scale == 0] = 1.0
        self._obs_scale[:5] /= self.nn_weight  # X, Y, nnXX, nnXY, nnYY
        trained = int(model.meta.get("evaluate", {}).get("sweeps", 9))
        self.sweeps = sweeps if sweeps > 0 else trained
        self.snaps = (
            np.ascontiguousarray(snaps[:, self.idx]) if init != "random" else None
        )
        self.states: np.ndarray | None = None  # persistent chains
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
        ev = self._sample(self.theta, i, cancel)
        if self.depth == 1:  # the awake side at the theta sampled
            self.data_stats = self.awake_stats(self.theta)
        # log-likelihood gradient per site; from the data: the data's drift (CD-k)
        target = ev.meta["start_stats"] if self.init == "data" else self.data_stats
        if self.targets == "observables":
            self.theta += self._gauss_newton(ev)
        else:
            g = (target - ev.stats) / self.scale
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
            self.start_error = self._error(ev)
        self.seconds += time.perf_counter() - t_start
        if not np.all(np.isfinite(self.theta)):
            raise ValueError(
                f"refine_static diverged at iteration {i}: lower lr (now {self.lr})"
            )
        return ev

    def _observables(self, ev: Evaluation) -> np.ndarray:
        """The sampled means of :data:`TARGET_OBSERVABLES`, float64 (n, 8)."""
        return np.column_stack([ev.table.mean[o] for o in TARGET_OBSERVABLES])

    def _gauss_newton(self, ev: Evaluation) -> np.ndarray:
        """The ``"observables"`` update per time point: a damped Gauss-Newton step
        on ``sum_k ((data_k - model_k) / scale_k)^2``, with the Jacobian
        ``d model_k / d theta = Cov(o_k, M)`` (an exponential family) estimated
        from the chains (``ev.cov``); :data:`GN_STEP` of it, each parameter
        moved at most :data:`GN_MAX_STEP`."""
        K = len(TARGET_OBSERVABLES)
        r = (self.data_obs - self._observables(ev)) / self._obs_scale  # (n, K)
        J = ev.cov[:, :K, :] / self._obs_scale[None, :, None]  # (n, K, P)
        A = np.einsum("nkp,nkq->npq", J, J)
        b = np.einsum("nkp,nk->np", J, r)
        P = A.shape[1]
        lam = GN_DAMPING * np.trace(A, axis1=1, axis2=2) / P
        A = A + (lam[:, None, None] + 1e-12) * np.eye(P)
        step = GN_STEP * np.linalg.solve(A, b[:, :, None])[:, :, 0]
        return np.clip(step, -GN_MAX_STEP, GN_MAX_STEP)

    def _error(self, ev: Evaluation) -> float:
        """:func:`fit_error` of a sampling against the targets (statistics or
        observables): what the refinement's check compares."""
        if self.targets != "statistics":
            return fit_error(self._observables(ev), self.data_obs)
        return fit_error(ev.stats, self.data_stats)

    def _visible_data_stats(self) -> np.ndarray:
        """Depth > 1: the data's statistics of the visible parameters (counts and
        bonds: the observables X ... nnnYY), NaN for every parameter touching
        a hidden layer (their data statistics would need sampling; the
        ``"observables"`` targets do not use them)."""
        out = np.full((self.idx.size, self.dbm.n_params), np.nan)
        out[:, self.dbm.bias_index[0]] = self.data_obs[:, :2]
        c = self.dbm.coupling_index  # NN bonds, then diagonal ones: nnXX ... nnnYY
        out[:, c] = self.data_obs[:, 2 : 2 + c.size]
        return out

    def _awake_setup(self, snaps: np.ndarray) -> None:
        """Per fitted time point, the data's visible statistics and mean patch-code
        counts (:mod:`dbdviz.dbm.clamped`): all :meth:`awake_stats` needs."""
        R, n, L = snaps.shape[0], snaps.shape[1], snaps.shape[-1]
        theta = np.ascontiguousarray(self.model.theta[self.idx], dtype=np.float64)
        self._visible = np.empty((n, theta.shape[1]))
        self._hist = np.empty((n, (self.dbm.side**2 + 1) ** 2))
        per = max(1, 2000 // R)
        for j0 in range(0, n, per):
            nb = min(per, n - j0)
            v = snaps[:, j0 : j0 + nb].transpose(1, 0, 2, 3).reshape(-1, L, L)
            states = np.zeros((nb * R, self.dbm.n_layers, L, L), np.int8)
            states[:, 0] = v
            rows = np.repeat(np.arange(nb, dtype=np.int64), R)
            M = self.dbm.clamped_statistics(theta[j0 : j0 + nb], states, rows)
            self._visible[j0 : j0 + nb] = M.reshape(nb, R, -1).mean(axis=1)
            h = patch_histograms(self.dbm, v).reshape(nb, R, -1)
            self._hist[j0 : j0 + nb] = h.mean(axis=1)

    def awake_stats(self, theta: np.ndarray) -> np.ndarray:
        """The data's mean parameter statistics at ``theta`` (n, P) at the fitted
        time points: for one hidden layer the exact conditional expectation given
        each snapshot (the hidden units are independent given the visible layer;
        their conditional probabilities replace their states), so no sampling:
        a sum over the patch codes the data hold
        (:func:`dbdviz.dbm.clamped.expected_statistics`)."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        return expected_statistics(self.dbm, theta, self._hist, self._visible)

    def _sample(self, theta: np.ndarray, i: int, cancel) -> Evaluation:
        """The sampling of iteration ``i`` (``iterations + 1``: the final check):
        random chains as in evaluation, or chains from the data (``init``), the
        ``i``-th block of ``chains`` replicates."""
        seed = None if self.seed is None else int(self.seed) + i
        common = dict(
            chains=self.chains,
            sweeps=self.sweeps,
            seed=seed,
            threads=self.threads,
            cancel=cancel,
        )
        if self.init == "persistent" and i <= self.iterations:
            ev = sample_from_data(
                self.dbm, theta, self.t, self.snaps, states=self.states, **common
            )
            self.states = ev.meta["states"]
            return ev
        if self.init != "random" or self.depth > 0 or self.targets != "statistics":
            return sample_from_data(
                self.dbm,
                theta,
                self.t,
                self.snaps,
                offset=(i - 1) * self.chains,
                **common,
            )
        return sample_trajectory(self.dbm, theta, self.t, **common)

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
        if self.states is not None:  # persistent chains
            arrays["states"] = self.states
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
        if "states" in arrays:
            self.states = np.array(arrays["states"], dtype=np.int8)
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
        check = self._sample(
            np.ascontiguousarray(new_theta[self.idx]), self.iterations + 1, cancel
        )
        if self.depth == 1:
            self.data_stats = self.awake_stats(new_theta[self.idx])
        end_error = self._error(check)
        accepted = accepts(self.start_error, end_error)
        self.seconds += time.perf_counter() - t_start
        meta = dict(model.meta)
        if accepted:
            # the path is low-passed already: evaluate() samples it as it is
            meta["evaluate"] = {**dict(meta.get("evaluate", {})), "lowpass_taps": 0}
            # matched to the refinement's sampling: evaluated with its sweeps
            meta["evaluate"]["sweeps"] = int(self.sweeps)
            if self.init != "random":  # matched to equilibrium: sample it there
                meta["evaluate"].update(
                    init="carry", sweeps=CARRY_SWEEPS, burn_in=CARRY_BURN_IN
                )
        meta["refine"] = {
            "method": "static",
            "iterations": self.iterations,
            "chains": self.chains,
            "sweeps": self.sweeps,
            "init": self.init,
            "targets": self.targets,
            "nn_weight": self.nn_weight,
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
    init: str = INIT,
    sweeps: int = SWEEPS,
    targets: str = TARGETS,
    nn_weight: float = NN_WEIGHT,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
) -> DBDModel:
    """Refine a trained DBD of depth 0 or 1 on its training data (module notes).

    ``Trainer`` does the same as its last phase (``TrainConfig.refine``, seeded
    with the trainer's seed); this function refines any depth-0 model in one call.

    Parameters
    ----------
    model : DBDModel
        Trained model, depth 0 or 1 (``Trainer(...).run()``).
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
        Low-pass filter of the fitted path before ``F`` is refitted (0, 1 or odd;
        0 or 1 = none). Default: ``TrainConfig.refine_taps`` (31; the depth-1
        default 11, ``DEPTH_DEFAULTS``).
    fit_iterations, fit_lr : int, float
        Adam steps and rate of the velocity fit of ``F``.
    stride : int
        Fit every ``stride``-th time point (and the last); the path in between is
        interpolated linearly before the low-pass. Divides the sampling cost (paper
        data, 2 cores: 46 s with 1, 11 s with 5, accuracy within 1 point). Default:
        ``TrainConfig.refine_stride``.
    seed : int or None
        Seeds of the sampler (``seed + i`` at iteration ``i``).
    init : {"random", "data"}
        ``"random"``: every iteration samples as the evaluation does (random
        chains, the model's sweeps), so theta is matched to that procedure.
        ``"data"``: chains start from the data's snapshots (the ``i``-th block of
        ``chains`` replicates at iteration ``i``) and theta follows their drift
        (CD-``sweeps``), which vanishes when the model's Boltzmann distribution
        holds the data; the refined model is then evaluated with chains carried
        along t (``meta["evaluate"]``: ``init = "carry"``, :data:`CARRY_SWEEPS`).
        Default: ``TrainConfig.refine_init``.
    sweeps : int
        Sweeps per chain and iteration; 0 = the model's evaluation sweeps.
    targets : {"statistics", "observables"}
        What theta is moved to match at every fitted time point:
        ``"statistics"``, the parameter statistics (the likelihood gradient;
        hidden units by their expectation given the visible layer);
        ``"observables"``, the scored observables X ... nnnYY
        (:data:`TARGET_OBSERVABLES`) in relative least squares, through
        ``d<o_k>/dtheta = Cov(o_k, M)`` estimated from the chains: the diagonal
        pairs become targets that the hidden units' weights can hold. Default:
        ``TrainConfig.refine_targets``.
    nn_weight : float
        With ``"observables"``: the weight of X, Y and the NN pairs relative to
        the diagonal pairs (> 0). Default: ``TrainConfig.refine_nn_weight``.
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
        init=init,
        sweeps=sweeps,
        targets=targets,
        nn_weight=nn_weight,
    )
    while not refiner.done:
        refiner.step(cancel=cancel)
        if progress is not None:
            progress(refiner.iteration, refiner.iterations)
    return refiner.finish(cancel=cancel)
