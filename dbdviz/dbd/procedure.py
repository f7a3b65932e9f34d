"""How a trained model is sampled after training: the rules every front end shares.

A model records in ``meta["evaluate"]`` the sampling procedure its asleep phase was
trained to match; :func:`sampling_procedure` reads it, :func:`live_moments` is the
cheap estimate shown while a model trains, :func:`full_evaluation` the evaluation
shown afterwards (with :func:`lowpass_taps_for`, the reference's low-pass shortened
for short trajectories). No UI here: the dashboard (:mod:`dbdviz.ui`) calls these.
"""

from __future__ import annotations

import numpy as np

from ..config import EvalConfig
from ..moments import MomentTable
from .evaluate import LOWPASS_TAPS, evaluate, sample_trajectory

__all__ = [
    "LIVE_CHAINS",
    "LIVE_POINTS",
    "EVAL_CHAINS",
    "sampling_procedure",
    "live_moments",
    "lowpass_taps_for",
    "full_evaluation",
]

#: Chains and time points of the live estimate (:func:`live_moments`).
LIVE_CHAINS = 8
LIVE_POINTS = 60
#: Chains per time point of the full evaluation after training (the CLI's default,
#: :class:`~dbdviz.config.EvalConfig`).
EVAL_CHAINS = EvalConfig.param["chains"].default


def sampling_procedure(model) -> tuple[str, int]:
    """``(init, sweeps)``: how the model's asleep phase sampled it in training
    (``model.meta["evaluate"]``), so every view samples it the same way."""
    trained = (getattr(model, "meta", None) or {}).get("evaluate", {})
    sweeps = int(trained.get("sweeps", model.dbm_config.sweeps_asleep))
    return str(trained.get("init", "random")), sweeps


def live_moments(
    model,
    chains: int = LIVE_CHAINS,
    points: int = LIVE_POINTS,
    seed: int = 0,
    cancel=None,
    label: str | None = None,
) -> MomentTable:
    """Cheap moments of a (partly) trained model, for a live learned curve.

    ``chains`` chains at most ``points`` evenly spread times of the trained horizon,
    sampled as in training (:func:`sampling_procedure`), raw theta (no low-pass).
    With a fixed ``seed`` successive estimates differ by the model, not by sampling
    noise.

    Returns
    -------
    MomentTable
        Label ``label`` (default ``"live step <k>"``); ``t`` float64 (<= points,).
    """
    if label is None:
        label = f"live step {model.meta.get('steps_done', '?')}"
    T = int(model.horizon)
    idx = np.unique(
        np.round(np.linspace(0, T, min(int(points), T + 1))).astype(np.int64)
    )
    init, sweeps = sampling_procedure(model)
    ev = sample_trajectory(
        model.dbm(),
        model.theta[idx],
        idx * float(model.dt),
        chains=int(chains),
        sweeps=sweeps,
        init=init,
        seed=seed,
        cancel=cancel,
        label=label,
    )
    return ev.table


def lowpass_taps_for(n_times: int, taps: int = LOWPASS_TAPS) -> int:
    """The reference's 63-tap low-pass, shortened for short trajectories.

    A filter longer than a third of the series is mostly edge padding and flattens
    theta(t) (and so every closure channel): use the largest odd length <= n / 3,
    or no filter below 3 taps.
    """
    if n_times >= 3 * taps:
        return taps
    k = int(n_times) // 3
    k -= 1 - k % 2  # largest odd <= n / 3
    return k if k >= 3 else 0


def full_evaluation(model, chains: int = EVAL_CHAINS, progress=None, cancel=None):
    """The evaluation shown after training: :func:`dbdviz.dbd.evaluate` sampling
    the model as it was trained to match (its defaults), the reference low-pass
    (:func:`lowpass_taps_for`) and seed 0.

    Covariances come from the binary states (``cov_from="states"``), for which
    ``Cov(Q, M_k) = d<Q>/dtheta_k`` holds, so the closure channels add up to the
    model's d<Q>/dt; conditional probabilities shrink them (to about zero for the
    default fully visible machine with couplings). The moments do not depend on it.
    """
    return evaluate(
        model,
        chains=int(chains),
        lowpass_taps=lowpass_taps_for(
            int(model.horizon) + 1,
            int(
                (model.meta or {}).get("evaluate", {}).get("lowpass_taps", LOWPASS_TAPS)
            ),
        ),
        cov_from="states",
        seed=0,
        progress=progress,
        cancel=cancel,
    )
