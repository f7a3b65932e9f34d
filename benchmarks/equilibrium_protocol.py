"""The equilibrium protocol's model: accuracy and equilibration side by side
(issue 14, item 3; docs/experiments/23-equilibrated-protocol.md).

Subcommands (results appended as JSON lines to ``OUT/results.jsonl``, models
cached as ``OUT/<name>.npz``):

* ``adj D [key=val ...]``: the default protocol with ``refine = "off"`` (and the
  DBMConfig overrides given) on data draw D (the adjoint phase every refinement
  below starts from): ``OUT/adj<tag>_dD.npz`` (``--tag``);
* ``refine NAME D key=val ...``: :func:`dbdviz.dbd.refine_static` of
  ``adj<tag>_dD`` with the given keywords (e.g. ``init=data sweeps=20``), seed 0,
  then scored (NRMSE % against the 1000-replicate reference, t = 0..499; also
  against the reference's survivors, :func:`survivors`, and ``phase_floor``: the
  training data's survivors against all reference replicates);
* ``train NAME D PROTOCOL``: the whole named protocol through ``Trainer`` (timed);
* ``score NAME D``: the scores of a cached model again;
* ``check NAME D``: :func:`dbdviz.dbd.equilibrium.equilibration` (``--chains``,
  ``--seed``) with the phase fractions of every chain set
  (``Equilibration.phases``).

Example::

    NUMBA_NUM_THREADS=1 python benchmarks/equilibrium_protocol.py refine cd20 0 \\
        init=data sweeps=20 --out /work/notes/cache11/i14q
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from dbdviz.compare import nrmse
from dbdviz.config import default_configs, protocol
from dbdviz.dbd import evaluate
from dbdviz.dbd.equilibrium import EQ_OBSERVABLES, equilibration
from dbdviz.dbd.model import DBDModel
from dbdviz.dbd.refine import refine_static
from dbdviz.dbd.train import Trainer
from dbdviz.moments import MomentTable
from dbdviz.simulate import Ensemble

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY", "nnnXX", "nnnXY", "nnnYY"]
DATA = "/tmp/depth/paper{}_train.npz"
BIG = "/tmp/depth/paper_big.npz"


def _val(v):
    for c in (int, float):
        try:
            return c(v)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(v, v)


def survivors(ens) -> MomentTable:
    """Mean over the replicates that still hold predators (Y > 0) at each time:
    the predator-prey phase alone, without the absorbed (prey-filled) lattices."""
    o = ens.observables
    alive = o[:, :, 1] > 0
    mean = {
        name: np.array(
            [
                o[alive[:, t], t, k].mean() if alive[:, t].any() else np.nan
                for t in range(o.shape[1])
            ]
        )
        for k, name in enumerate(OBS)
    }
    return MomentTable(ens.t, None, mean, label="survivors")


def _score(model, data, big_ens):
    c0, w0 = time.process_time(), time.perf_counter()
    ev = evaluate(model)
    secs = dict(eval_cpu=round(time.process_time() - c0, 1))
    secs["eval_wall"] = round(time.perf_counter() - w0, 1)
    tm = data.moments()
    big = big_ens.moments()
    r = lambda a, b: {o: round(100 * v, 1) for o, v in nrmse(a, b, OBS, 0, 499).items()}  # noqa: E731
    return dict(
        nrmse=r(ev.table, big),
        floor=r(tm, big),
        fit=r(ev.table, tm),
        # a single-phase model at best: the survivors' mean against all replicates
        phase_floor=r(survivors(data), big),
        vs_survivors=r(ev.table, survivors(big_ens)),
        **secs,
    )


def _carry(model, sweeps):
    """``model`` with its carried chains' sweeps per time point set (0: as is)."""
    if sweeps <= 0:
        return model
    meta = dict(model.meta)
    meta["evaluate"] = {**meta.get("evaluate", {}), "sweeps": int(sweeps)}
    return dataclasses.replace(model, meta=meta)


def _write(out, rec):
    print(json.dumps(rec), flush=True)
    with open(Path(out) / "results.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cmd", choices=["adj", "refine", "train", "check", "score"])
    p.add_argument("args", nargs="*")
    p.add_argument("--out", default="/work/notes/cache11/i14q")
    p.add_argument("--chains", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tag", default="", help="adjoint-phase model adj<tag>_dD")
    p.add_argument(
        "--carry-sweeps",
        type=int,
        default=0,
        help="check / score: the carried chains' sweeps per time point instead of "
        "the model's meta['evaluate']['sweeps']",
    )
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.cmd == "adj":
        D = int(a.args[0])
        over = {k: _val(v) for k, v in (s.split("=", 1) for s in a.args[1:])}
        data = Ensemble.load(DATA.format(D))
        dc, tc = default_configs(refine="off")
        dc = dc.copy(**over)
        c0, w0 = time.process_time(), time.perf_counter()
        model = Trainer(data, dc, tc, seed=0).run()
        model.save(out / f"adj{a.tag}_d{D}.npz")
        rec = dict(cmd="adj", tag=a.tag, data=D, dbm=over)
        rec["cpu"] = round(time.process_time() - c0, 1)
        rec["wall"] = round(time.perf_counter() - w0, 1)
        rec.update(_score(model, data, Ensemble.load(BIG)))
        _write(out, rec)
    elif a.cmd == "score":
        name, D = a.args[0], int(a.args[1])
        model = _carry(DBDModel.load(out / f"{name}_d{D}.npz"), a.carry_sweeps)
        rec = dict(cmd="score", name=name, data=D, carry_sweeps=a.carry_sweeps)
        rec.update(_score(model, Ensemble.load(DATA.format(D)), Ensemble.load(BIG)))
        _write(out, rec)
    elif a.cmd in ("refine", "train"):
        name, D = a.args[0], int(a.args[1])
        data = Ensemble.load(DATA.format(D))
        c0, w0 = time.process_time(), time.perf_counter()
        if a.cmd == "refine":
            kw = {k: _val(v) for k, v in (s.split("=", 1) for s in a.args[2:])}
            adj = DBDModel.load(out / f"adj{a.tag}_d{D}.npz")
            model = refine_static(adj, data, seed=0, **kw)
        else:
            kw = {"protocol": a.args[2]}
            over = {k: _val(v) for k, v in (s.split("=", 1) for s in a.args[3:])}
            kw.update(over)
            dc, tc = protocol(a.args[2], **over)
            model = Trainer(data, dc, tc, seed=0).run()
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        model.save(out / f"{name}_d{D}.npz")
        rec = dict(cmd=a.cmd, name=name, data=D, kw=kw, tag=a.tag, cpu=round(cpu, 1))
        rec["wall"] = round(wall, 1)
        rec["refine"] = {
            k: v
            for k, v in model.meta.get("refine", {}).items()
            if k in ("accepted", "error_before", "error_after", "residual", "seconds")
        }
        rec["evaluate"] = model.meta.get("evaluate", {})
        rec.update(_score(model, data, Ensemble.load(BIG)))
        _write(out, rec)
    else:
        name, D = a.args[0], int(a.args[1])
        model = _carry(DBDModel.load(out / f"{name}_d{D}.npz"), a.carry_sweeps)
        w0 = time.perf_counter()
        eq = equilibration(model, chains=a.chains, seed=a.seed)
        rec = dict(cmd="check", name=name, data=D, chains=a.chains, seed=a.seed)
        rec["carry_sweeps"] = a.carry_sweeps
        rec["wall"] = round(time.perf_counter() - w0, 1)
        rec["times"] = eq.times.tolist()
        keys = [k for k in eq.mean if k != 1000]
        rec["max_z"] = {
            f"{k} vs 1000": np.round(eq.max_z(k, 1000), 2).tolist() for k in keys
        }
        rec["X"] = {str(k): np.round(eq.mean[k][:, 0], 1).tolist() for k in eq.mean}
        rec["phases"] = {str(k): np.round(v, 3).tolist() for k, v in eq.phases.items()}
        rec["within2"] = {
            f"{k} vs 1000": float(
                np.mean(np.abs(eq.z(k, 1000)[:, : len(EQ_OBSERVABLES[:5])]) <= 2)
            )
            for k in keys
        }
        q95, p2 = eq.null_max_z()
        rec["null"] = {"q95": round(q95, 2), "p_within2": round(p2, 3)}
        _write(out, rec)


if __name__ == "__main__":
    main()
