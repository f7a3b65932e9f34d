"""Checkpoints of the trainer: its complete state, saved atomically, and restored.

:func:`save` writes everything a :class:`~dbdviz.dbd.train.Trainer` needs to go on
(parameters, centers, chains, every random stream, optimiser moments, history, the
refinement's state) as a ``"checkpoint"`` file of :mod:`dbdviz.io`; :func:`restore`
builds a trainer that continues exactly as if training had not stopped (bit for bit).
``Trainer.save_checkpoint`` and ``Trainer.resume`` call them.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from ..config import DBMConfig, TrainConfig
from ..io import load_meta, load_npz, save_npz
from .basis import FiniteElements
from .optim import Adam

__all__ = [
    "save",
    "restore",
    "ensemble_meta",
    "data_digest",
    "settings",
    "conflicts",
]


def data_digest(data) -> str:
    """SHA-256 of an ensemble's config, seed and arrays (times, observables,
    lattices): what a checkpoint was trained on. Computed once per ensemble
    object (about 0.2 s for the paper's 80 MB of lattices)."""
    cached = getattr(data, "_dbdviz_digest", None)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    head = {"config": data.config.to_dict(), "seed": data.seed}
    h.update(json.dumps(head, sort_keys=True).encode())
    for a in (data.t, data.observables, data.snapshots):
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    digest = h.hexdigest()
    try:
        data._dbdviz_digest = digest
    except AttributeError:  # pragma: no cover - a read-only stand-in
        pass
    return digest


def ensemble_meta(data) -> dict:
    """What identifies the training data in checkpoints and model files."""
    return {
        "seed": data.seed,
        "n_reps": int(data.n_reps),
        "n_times": int(data.t.shape[0]),
        "config": data.config.to_dict(),
        "digest": data_digest(data),
    }


def settings(path: str | os.PathLike) -> dict:
    """The settings a checkpoint was trained with, read without its arrays:
    ``{"dbm_config": {...}, "train_config": {...}, "seed": ..., "data": {...}}``."""
    meta = load_meta(path, kind="checkpoint")
    return {k: meta.get(k) for k in ("dbm_config", "train_config", "seed", "data")}


def conflicts(path: str | os.PathLike, **given) -> list[tuple[str, object, object]]:
    """Settings given for a resumed run that differ from the checkpoint's:
    ``[(name, given, checkpoint's), ...]`` for DBMConfig / TrainConfig names and
    ``seed``."""
    ck = settings(path)
    have = {**(ck["train_config"] or {}), **(ck["dbm_config"] or {})}
    have["seed"] = ck["seed"]
    return [(n, v, have.get(n)) for n, v in given.items() if have.get(n) != v]


def _describe(d: dict) -> str:
    cfg = d.get("config") or {}
    rates = ", ".join(
        f"{k} {cfg[k]}" for k in ("size", "birth", "death", "predation") if k in cfg
    )
    return f"{d.get('n_reps')} replicates, {d.get('n_times')} times, seed " + (
        f"{d.get('seed')}" + (f"; {rates}" if rates else "")
    )


def save(trainer, path: str | os.PathLike) -> None:
    """Write the complete training state atomically (kind ``"checkpoint"``).

    :func:`restore` (:meth:`Trainer.resume`) from it continues exactly as if
    training had not stopped.
    """
    arrays = {
        "theta0": trainer.theta0,
        "mu": trainer.mu,
        "awake": trainer.awake,
        "asleep": trainer.asleep,
        "awake_rng": trainer.awake_rng,
        "asleep_rng": trainer.asleep_rng,
        "last_awake": trainer.last_awake,
        "last_asleep": trainer.last_asleep,
    }
    for k, v in trainer.fe.to_arrays().items():
        arrays["fe_" + k] = v
    for k, v in trainer._hist.items():
        arrays["hist_" + k] = np.asarray(v, dtype=float)
    if trainer._touched.shape[0]:
        arrays["touched"] = trainer._touched
    opt = trainer.optimizer
    if isinstance(opt, Adam) and opt.m1.shape[0]:
        n = trainer.fe.n_vertices
        arrays["adam_m1"] = opt.m1[:n]
        arrays["adam_m2"] = opt.m2[:n]
    refine_state = {}
    if trainer._refiner is not None:
        r_arrays, refine_state = trainer._refiner.state()
        for k, v in r_arrays.items():
            arrays["refine_" + k] = v
    meta = {
        "dbm_config": trainer.dbm_config.to_dict(),
        "train_config": trainer.train_config.to_dict(),
        "seed": trainer.seed,
        "step_index": trainer.step_index,
        "horizon": trainer.horizon,
        "tau0": trainer.tau0,
        "window_k": trainer._k,
        "window_at": trainer._at,
        "hold_ref": trainer._hold_ref,
        "opt_steps": trainer.opt_steps,
        "elapsed": trainer.elapsed,
        "opt_n_steps": opt.n_steps,
        "pick_state": trainer.rng.bit_generator.state,
        "data": ensemble_meta(trainer.data),
        "hist_keys": list(trainer._hist),
        "refine_state": refine_state,
    }
    save_npz(path, arrays, kind="checkpoint", meta=meta)


def restore(cls, path: str | os.PathLike, data, *, refine: str | None = None):
    """A trainer of class ``cls`` continuing from a checkpoint of :func:`save`.

    ``data`` must be the ensemble the checkpoint was trained on. ``refine``
    (``"auto"``, ``"on"``, ``"off"``) replaces the checkpoint's
    ``TrainConfig.refine``; not possible once its refinement phase began.
    """
    arrays, meta = load_npz(path, kind="checkpoint")
    dmeta = ensemble_meta(data)
    want = meta["data"]
    same = (
        dmeta["digest"] == want["digest"]
        if "digest" in want  # older checkpoints: shape, seed and config
        else (dmeta["n_reps"], dmeta["n_times"], dmeta["seed"], dmeta["config"])
        == (want["n_reps"], want["n_times"], want["seed"], want.get("config"))
    )
    if not same:
        raise ValueError(
            f"{path} was trained on other data ({_describe(want)}), not on these "
            f"({_describe(dmeta)})"
        )
    tc = TrainConfig.from_dict(meta["train_config"])
    refine_state = meta.get("refine_state") or {}
    if refine is not None and refine != tc.refine:
        if refine_state:
            raise ValueError(
                f"refine = {refine!r}: {path} is in the refinement phase "
                f"(step {meta['step_index']}); allowed only the checkpoint's "
                f"refine = {tc.refine!r}"
            )
        tc = tc.copy(refine=refine)
    tr = cls(data, DBMConfig.from_dict(meta["dbm_config"]), tc, seed=meta["seed"])
    tr.fe = FiniteElements.from_arrays(
        {k[3:]: arrays[k] for k in arrays if k.startswith("fe_")}
    )
    tr._new_integrator()
    tr.theta0 = arrays["theta0"].copy()
    tr.mu = arrays["mu"].copy()
    tr.awake = np.ascontiguousarray(arrays["awake"])
    tr.asleep = np.ascontiguousarray(arrays["asleep"])
    tr.awake_rng = np.ascontiguousarray(arrays["awake_rng"], dtype=np.uint64)
    tr.asleep_rng = np.ascontiguousarray(arrays["asleep_rng"], dtype=np.uint64)
    tr.last_awake = arrays["last_awake"].copy()
    tr.last_asleep = arrays["last_asleep"].copy()
    if "touched" in arrays:
        tr._touched = arrays["touched"].astype(np.int64)
    tr.rng.bit_generator.state = meta["pick_state"]
    tr.step_index = int(meta["step_index"])
    tr.horizon = int(meta["horizon"])
    tr.tau0 = int(meta["tau0"])
    if "window_k" in meta:
        tr._k, tr._at = int(meta["window_k"]), int(meta["window_at"])
        tr._hold_ref = float(meta["hold_ref"])
        tr.opt_steps = int(meta["opt_steps"])
    else:  # checkpoints of the fixed schedule (before hold_tolerance)
        m = int(tr.train_config.move_every)
        tr._k = min(tr.step_index // m, tr.data_steps - tr.W)
        tr._at = tr.step_index - tr._k * m
    tr.elapsed = float(meta["elapsed"])
    tr.optimizer.n_steps = int(meta["opt_n_steps"])
    if "adam_m1" in arrays:
        tr.optimizer._grow(tr.fe)
        n = arrays["adam_m1"].shape[0]
        tr.optimizer.m1[:n] = arrays["adam_m1"]
        tr.optimizer.m2[:n] = arrays["adam_m2"]
    tr._hist = {k: list(arrays["hist_" + k]) for k in meta["hist_keys"]}
    for k in ("mismatch", "held"):  # absent in older checkpoints
        tr._hist.setdefault(k, [float("nan")] * tr.step_index)
    for k in ("step", "tau0", "tau1", "horizon"):
        tr._hist[k] = [int(v) for v in tr._hist[k]]
    if refine_state:  # the refiner starts from the (restored) adjoint model
        tr._refiner = tr._new_refiner()
        tr._refiner.restore(
            {k[7:]: arrays[k] for k in arrays if k.startswith("refine_")},
            refine_state,
        )
        if tr.step_index >= tr.total_steps:  # finished: deterministic, redo it
            tr._refined = tr._refiner.finish()
    return tr
