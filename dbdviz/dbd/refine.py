"""Static-path refinement of a trained DBD (opt-in; docs/training.md, session 3).

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

The result is again a :class:`~dbdviz.dbd.model.DBDModel` (``dtheta/dt = F(theta)``,
evaluated as usual); ``meta["refine"]`` records the settings, the relative residual
of the velocity fit and the seconds. Fully visible machines (depth 0) only: their
data statistics need no hidden sampling.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .dynamics import integrate
from .evaluate import _check_int, lowpass, sample_trajectory
from .model import DBDModel
from .optim import Adam

__all__ = ["refine_static"]


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


def refine_static(
    model: DBDModel,
    data: Any,
    *,
    iterations: int = 20,
    chains: int = 50,
    lr: float = 0.005,
    taps: int = 31,
    fit_iterations: int = 200,
    fit_lr: float = 0.01,
    stride: int = 5,
    seed: int | None = 0,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
) -> DBDModel:
    """Refine a trained fully visible DBD on its training data (module notes).

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
        ``(horizon + 1) x chains`` chains.
    taps : int
        Low-pass filter of the fitted path (odd; 0 or 1 = none).
    fit_iterations, fit_lr : int, float
        Adam steps and rate of the velocity fit of ``F``.
    stride : int
        Fit every ``stride``-th time point (and the last); the path in between is
        interpolated linearly before the low-pass. Divides the sampling cost (paper
        data, 2 cores: 46 s with 1, 11 s with 5, accuracy within 1 point).
    seed : int or None
        Seeds of the sampler (``seed + i`` at iteration ``i``).
    threads, progress, cancel
        As :func:`dbdviz.dbd.evaluate.sample_trajectory`; ``progress(i, iterations)``
        after every moment-matching iteration.

    Returns
    -------
    DBDModel
        A new model: refitted ``fe``, ``theta0`` and ``theta``; the rest copied.

    Raises
    ------
    ValueError
        Not a depth-0 model, data that do not match it, or a setting out of range.
    """
    if not isinstance(model, DBDModel):
        raise ValueError("model must be a DBDModel (dbdviz.dbd.Trainer(...).run())")
    if model.dbm_config.depth != 0:
        raise ValueError(
            f"depth = {model.dbm_config.depth}: refine_static needs a fully visible "
            "machine (depth 0)"
        )
    iterations = _check_int("iterations", iterations, 1)
    chains = _check_int("chains", chains, 2)
    fit_iterations = _check_int("fit_iterations", fit_iterations, 1)
    lr = _check_pos("lr", lr)
    fit_lr = _check_pos("fit_lr", fit_lr)
    stride = _check_int("stride", stride, 1)
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

    from .train import snapshot_statistics

    t_start = time.perf_counter()
    dbm = model.dbm()
    D = snapshot_statistics(dbm, snaps[:, : T + 1]).mean(axis=0)
    scale = float(model.size) ** 2
    idx = np.unique(np.append(np.arange(0, T + 1, stride), T))
    D = D[idx]
    t = idx * model.dt
    sweeps = int(model.meta.get("evaluate", {}).get("sweeps", 9))
    theta = np.array(model.theta[idx], dtype=np.float64)
    m1 = np.zeros_like(theta)
    m2 = np.zeros_like(theta)
    b1, b2 = 0.9, 0.999
    for i in range(1, iterations + 1):
        ev = sample_trajectory(
            dbm,
            theta,
            t,
            chains=chains,
            sweeps=sweeps,
            seed=None if seed is None else int(seed) + i,
            threads=threads,
            cancel=cancel,
        )
        g = (D - ev.stats) / scale  # log-likelihood gradient per site
        m1 = b1 * m1 + (1 - b1) * g
        m2 = b2 * m2 + (1 - b2) * g * g
        theta += lr * (m1 / (1 - b1**i)) / (np.sqrt(m2 / (1 - b2**i)) + 1e-8)
        if not np.all(np.isfinite(theta)):
            raise ValueError(
                f"refine_static diverged at iteration {i}: lower lr (now {lr})"
            )
        if progress is not None:
            progress(i, iterations)
    if stride > 1:
        every = np.arange(T + 1)
        theta = np.column_stack(
            [np.interp(every, idx, theta[:, k]) for k in range(theta.shape[1])]
        )
    path = lowpass(theta, taps)
    fe = model.fe.copy()
    fe._coef[:] = 0.0
    resid = fit_rhs(fe, path, model.domain, model.dt, fit_iterations, fit_lr)
    new_theta = np.asarray(
        integrate(fe, path[0], T, domain=model.domain, dt=model.dt).theta
    )
    if not np.all(np.isfinite(new_theta)):
        raise ValueError("refine_static: the refitted F integrates to non-finite theta")
    meta = dict(model.meta)
    # the path is low-passed already: evaluate() samples it as it is by default
    meta["evaluate"] = {**dict(meta.get("evaluate", {})), "lowpass_taps": 0}
    meta["refine"] = {
        "method": "static",
        "iterations": iterations,
        "chains": chains,
        "sweeps": sweeps,
        "lr": lr,
        "taps": int(taps),
        "fit_iterations": fit_iterations,
        "fit_lr": fit_lr,
        "stride": stride,
        "seed": seed,
        "residual": resid,
        "seconds": time.perf_counter() - t_start,
    }
    return dataclasses.replace(
        model, fe=fe, theta0=path[0].copy(), theta=new_theta, meta=meta
    )
