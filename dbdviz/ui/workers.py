"""Background work of the dashboard: ``work(cancel, emit)`` factories for :class:`Job`.

A worker runs in a :class:`~dbdviz.ui.jobs.Job` thread and only emits records
(tuples) into the job's queue; the component that started it turns them into widget
and plot updates in the session thread. Workers touch no Panel or Bokeh object, so
this module imports neither. The settings a test or benchmark tunes are arguments
(the components pass their own parameters), with the defaults below.
"""

from __future__ import annotations

import dataclasses
import math
import time

from ..config import DBMConfig, LatticeLV, TrainConfig
from ..errors import Cancelled

__all__ = [
    "SITE_STEPS_PER_BATCH",
    "LIVE_PERIOD",
    "LIVE_LABEL",
    "batch_size",
    "simulation_work",
    "training_work",
    "evaluation_work",
]

#: Site updates per simulator batch (~0.2 s on one 2-core VM): the simulator checks
#: Stop and reports progress between batches, so this sets both latencies.
SITE_STEPS_PER_BATCH = 1.6e7

#: Live learned curve while training: the current model is sampled again at most every
#: LIVE_PERIOD seconds, counted from the end of the previous estimate (so estimates
#: take a bounded share of the worker's time), with
#: :func:`dbdviz.dbd.procedure.live_moments` (its chains and time points, a fixed
#: seed: successive curves differ by the model, not by sampling noise).
LIVE_PERIOD = 1.0
#: Label prefix of the live learned curves (the moments view recognises it).
LIVE_LABEL = "DBD live"


def _fmt_err(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def batch_size(cfg: LatticeLV, site_steps: float = SITE_STEPS_PER_BATCH) -> int:
    """Replicates per simulator call: small batches for big lattices (fast Stop).

    About ``site_steps`` site updates per batch, at least one replicate per thread
    and at most 256.
    """
    from .._numba import get_threads

    per_rep = cfg.n_sites * (cfg.steps + 1)
    return int(max(get_threads(), min(256, site_steps // max(per_rep, 1))))


def throttled_progress(emit, kind: str):
    """A ``progress(done, total)`` callback that emits ``(kind, done, total)`` at most
    every 50 ms, and always the last one (the drain shows ~6 updates/s anyway)."""
    last = [0.0]

    def progress(done, total):
        now = time.perf_counter()
        if done >= total or now - last[0] > 0.05:
            last[0] = now
            emit((kind, int(done), int(total)))

    return progress


def simulation_work(
    simulate_fn,
    cfg: LatticeLV,
    *,
    site_steps_per_batch: float = SITE_STEPS_PER_BATCH,
    dbm_config: DBMConfig | None = None,
):
    """Worker: simulate, then moments, then the classical closures of ``cfg``;
    then what a Train on the ensemble with ``dbm_config`` needs first
    (:func:`_prepare_training`).

    Records: ``("progress", done, total)`` (replicates), ``("ensemble", Ensemble,
    MomentTable)``, then per closure ``("closure", key, MomentTable)`` or
    ``("closure-error", key, message)``.
    """

    def work(cancel, emit):
        progress = throttled_progress(emit, "progress")
        n_batch = batch_size(cfg, site_steps_per_batch)
        ens = simulate_fn(cfg, progress=progress, cancel=cancel, batch_size=n_batch)
        if cancel.is_set():
            return
        emit(("ensemble", ens, ens.moments()))
        try:
            from ..closures import solve
        except ImportError as exc:
            for key in ("mean-field", "pair"):
                emit(("closure-error", key, f"closures not available ({exc})"))
            return
        for key in ("mean-field", "pair"):
            if cancel.is_set():
                return
            try:
                emit(("closure", key, solve(key, cfg)))
            except Exception as exc:  # ClosureError or a solver failure: report it
                emit(("closure-error", key, _fmt_err(exc)))
        _prepare_training(ens, dbm_config, cancel)

    return work


def _prepare_training(ens, dbm_config: DBMConfig | None, cancel) -> None:
    """Compute now, and keep on the ensemble, what the first learned curve of a
    Train would otherwise wait for: the ensemble's digest (every model records it;
    0.1-0.4 s for the paper's lattices) and, for a fully visible machine, the
    statistics of every lattice (``dbdviz.dbd.train.data_statistics``; 0.3-1 s)."""
    if getattr(ens, "snapshots", None) is None or cancel.is_set():
        return
    try:
        from ..dbd.checkpoint import data_digest
        from ..dbd.train import data_statistics
        from ..dbm.model import DBM
    except ImportError:  # pragma: no cover - no training backend
        return
    data_digest(ens)
    if dbm_config is None or dbm_config.depth != 0 or cancel.is_set():
        return
    try:
        dbm = DBM(dbm_config, ens.config.size)
    except Exception:  # settings the training panel refuses (it says why)
        return
    data_statistics(dbm, ens)


def training_work(
    trainer_cls,
    ensemble,
    dbm_config: DBMConfig,
    train_config: TrainConfig,
    *,
    evaluate_after: bool = True,
    live_period: float = LIVE_PERIOD,
    live_chains: int | None = None,
    live_points: int | None = None,
    eval_chains: int | None = None,
):
    """Worker: train step by step (both phases of the trainer: adjoint steps, then
    the refinement when ``train_config.refine`` says so), estimate the learned
    moments now and then, hand over the model, then evaluate it fully.

    Records (tuples, in order): ``("start", opt_steps, param_names, total_steps)``;
    per step ``("step", ProgressRecord)``; now and then ``("live", step,
    MomentTable)``: in the adjoint phase a cheap sampling of the current model
    (:func:`dbdviz.dbd.procedure.live_moments`), in the refinement the moments of
    the refining path that the step sampled anyway (``Trainer.refine_moments``, at
    its fitted time points);
    at the end (also after Stop) ``("model", DBDModel)``; then ``("eval-progress",
    done, total)`` and ``("evaluation", Evaluation)``. Stop is checked between
    steps, so it takes effect after the current step (tens of ms on the paper
    lattice at depth 0, ~0.3 s at depth 2, ~0.5 s per refinement step; more with
    many chains or sweeps). Stopped during the refinement, the model is the
    adjoint-trained one.

    ``live_period`` is the least time in seconds between two live curves;
    ``live_chains``, ``live_points`` and ``eval_chains`` (None: the defaults of
    :mod:`dbdviz.dbd.procedure`) size the live estimates and the evaluation.
    """
    live_period = float(live_period)
    live_kw = {
        k: int(v)
        for k, v in (("chains", live_chains), ("points", live_points))
        if v is not None
    }

    def work(cancel, emit):
        from ..dbd import TrainingDiverged
        from ..dbd.procedure import live_moments

        tr = trainer_cls(ensemble, dbm_config=dbm_config, train_config=train_config)
        emit(
            (
                "start",
                int(tr.opt_steps),
                list(tr.param_names),
                int(tr.total_steps),
            )
        )
        last_live = -math.inf
        good = None  # the newest model known to be finite
        failure = None
        try:
            while not tr.done and not cancel.is_set():
                rec = tr.step()
                emit(("step", rec))
                now = time.perf_counter()
                refining = rec.phase == "refine"
                if refining and rec.step == rec.opt_steps + 1:
                    last_live = -math.inf  # show the phase's first path at once
                table = tr.refine_moments if refining else None
                if tr.done or (table is None and now - last_live >= live_period):
                    good = tr.model()
                    label = f"{LIVE_LABEL} step {good.meta.get('steps_done', '?')}"
                    live = live_moments(good, cancel=cancel, label=label, **live_kw)
                    emit(("live", rec.step, live))
                    last_live = time.perf_counter()
                elif table is not None and now - last_live >= live_period:
                    k, n = rec.step - rec.opt_steps, rec.total_steps - rec.opt_steps
                    label = f"{LIVE_LABEL} refinement {k} / {n}"
                    emit(("live", rec.step, dataclasses.replace(table, label=label)))
                    last_live = now
        except TrainingDiverged as exc:
            failure = exc
        except Exception as exc:
            if not isinstance(exc, Cancelled):
                raise
        try:
            # a failed refinement step leaves the adjoint-trained model intact
            refined_failed = failure is not None and tr.step_index >= tr.opt_steps
            model = tr.model() if failure is None or refined_failed else good
        except Exception:  # pragma: no cover - a trajectory that fails to integrate
            model = good
        if model is not None and tr.step_index > 0:
            model.meta["cancelled"] = cancel.is_set()
            emit(("model", model))
        if failure is not None:
            raise failure
        if cancel.is_set() or model is None or not evaluate_after:
            return
        evaluation_work(model, eval_chains)(cancel, emit)

    return work


def evaluation_work(model, chains: int | None = None):
    """Worker: full evaluation of ``model``
    (:func:`dbdviz.dbd.procedure.full_evaluation`, ``chains`` chains per time; None:
    its default) with progress records ``("eval-progress", done, total)``, then
    ``("evaluation", Evaluation)``."""
    kw = {} if chains is None else {"chains": int(chains)}

    def work(cancel, emit):
        from ..dbd.procedure import full_evaluation

        progress = throttled_progress(emit, "eval-progress")
        emit(("eval-progress", 0, int(model.horizon) + 1))
        ev = full_evaluation(model, progress=progress, cancel=cancel, **kw)
        emit(("evaluation", ev))

    return work
