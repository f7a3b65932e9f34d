"""The fit check at the end of training: is the learned closure near the data?

A poor fit must never be silent (a model trained on data where the predators die out
predicted 13.4 of them; a too large learning rate 17.4 against 7.8). After the last
step the trainer samples the learned model once, as :func:`~dbdviz.dbd.evaluate`
does, with :data:`CHAINS` chains, and compares its moments with the data's:
:func:`check_fit` returns ``model.meta["fit"]``.
"""

from __future__ import annotations

import threading

import numpy as np

from .refine import relative_errors

__all__ = ["check_fit", "compare", "CHAINS", "OBSERVABLES"]

#: Chains of the check (sampling noise of the error: about 1 % on the paper data).
CHAINS = 20

#: The observables compared (what closures predict).
OBSERVABLES = ("X", "Y", "nnXX", "nnXY", "nnYY")


def check_fit(
    model,
    data,
    threshold: float,
    *,
    seed: int | None = 0,
    threads: int | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Sample ``model`` over its horizon and compare with ``data``'s moments.

    Parameters
    ----------
    model : DBDModel
    data : Ensemble
        The training data.
    threshold : float
        ``TrainConfig.fit_warning``: above it the fit is ``"poor"``.
    seed, threads, cancel
        As for :func:`~dbdviz.dbd.evaluate`.

    Returns
    -------
    dict
        ``error`` (mean over :data:`OBSERVABLES` of the RMS over time of model
        minus data, relative to the data's mean; :func:`~dbdviz.dbd.refine.
        relative_errors`), ``per_observable``, ``threshold``, ``poor``, ``chains``,
        ``seed``.
    """
    from .evaluate import evaluate

    ev = evaluate(model, chains=CHAINS, seed=seed, threads=threads, cancel=cancel)
    fit = compare(ev.table, data.moments(), threshold)
    fit.update(chains=CHAINS, seed=seed)
    return fit


def compare(learned, data, threshold: float) -> dict:
    """The fit of a learned moment table to the data's (:class:`~dbdviz.moments.
    MomentTable` each, over their common times): ``error``, ``per_observable``,
    ``threshold``, ``poor`` as :func:`check_fit` (the dashboard compares its own
    evaluation this way)."""
    n = min(len(learned.t), len(data.t))
    stats = np.column_stack([learned.mean[o][:n] for o in OBSERVABLES])
    target = np.column_stack([data.mean[o][:n] for o in OBSERVABLES])
    errors = relative_errors(stats, target)
    error = float(np.mean(errors))
    return {
        "error": error,
        "per_observable": {
            o: float(e) for o, e in zip(OBSERVABLES, errors, strict=True)
        },
        "threshold": float(threshold),
        "poor": bool(not error <= threshold),  # NaN is poor
    }
