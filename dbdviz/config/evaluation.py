"""Evaluation settings of a learned DBD (:class:`EvalConfig`): how
:func:`dbdviz.dbd.evaluate` samples the DBM along the learned trajectory.

``None`` for ``sweeps``, ``init``, ``lowpass_taps`` and ``cov_from`` means "as the
model says": the sampling procedure it was trained to match
(``DBDModel.meta["evaluate"]``), the low-pass it recommends (a refined model is
smooth already: 0), and the covariance source that suits its architecture.
"""

from __future__ import annotations

import math

import param

from .base import Config

__all__ = ["EvalConfig"]


class EvalConfig(Config):
    """Evaluation of a learned DBD (ALGORITHM.md section 6): chains, sweeps,
    low-pass, horizon."""

    chains = param.Integer(
        100,
        bounds=(1, 100_000),
        softbounds=(2, 1000),
        label="Chains per time point",
        doc="Chains per time point (>= 2 for SDs and covariances).",
    )
    sweeps = param.Integer(
        None,
        bounds=(0, 100_000),
        softbounds=(0, 100),
        allow_None=True,
        label="Gibbs sweeps",
        doc="Binary Gibbs sweeps per time point before the final probability step "
        "(None: what the model was trained to match, else 9).",
    )
    seed = param.Integer(
        0,
        bounds=(0, 2**63 - 1),
        allow_None=True,
        label="Seed",
        doc="Random seed of the evaluation (None: fresh entropy).",
    )
    init = param.Selector(
        default=None,
        objects=["random", "carry"],
        allow_None=True,
        label="Chain start",
        doc="Chains per time point: 'random' (fresh random chains, the reference) or "
        "'carry' (continued from the previous time point; burn_in extra sweeps at "
        "the first); None: what the model was trained to match, else 'random'.",
    )
    burn_in = param.Integer(
        None,
        bounds=(0, 1_000_000),
        softbounds=(0, 1000),
        allow_None=True,
        label="Burn-in sweeps",
        doc="Extra sweeps at the first time point with init = 'carry' (None: 100); "
        "None or 0 with init = 'random'.",
    )
    cov_from = param.Selector(
        default=None,
        objects=["probabilities", "states"],
        allow_None=True,
        label="Covariances from",
        doc="Per-chain values of the covariances Cov(Q, M_k): 'probabilities' of the "
        "final step (the reference) or the binary 'states' (exact d<Q>/dtheta_k); "
        "None: 'states' with visible couplings or depth 0, else 'probabilities'.",
    )
    lowpass_taps = param.Integer(
        None,
        bounds=(0, 10_001),
        softbounds=(0, 201),
        allow_None=True,
        label="Low-pass taps",
        doc="Length of the zero-phase FIR low-pass of theta(t), 0, 1 or odd (0 = the "
        "raw learned parameters; None: the model's recommendation, else 63, the "
        "reference's).",
    )
    cutoff = param.Number(
        0.1,
        bounds=(0.0, math.pi),
        inclusive_bounds=(False, False),
        label="Low-pass cutoff (rad/sample)",
        doc="Cutoff frequency of the low-pass in rad/sample (reference 0.1).",
    )
    lowpass_padding = param.Selector(
        default="odd",
        objects=["odd", "edge"],
        label="Low-pass padding",
        doc="How theta(t) is extended beyond its ends for the filter: odd reflection "
        "(keeps the trend) or the end value (the reference's, biases the ends).",
    )
    t_max = param.Number(
        None,
        bounds=(0.0, None),
        allow_None=True,
        label="Last time",
        doc="Last time to evaluate (None: the trained horizon; beyond it theta is "
        "extrapolated with the learned right-hand sides).",
    )
