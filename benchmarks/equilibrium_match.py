"""Equilibrium moment matching of a depth-0 model at single time points (issue 14,
item 3; docs/experiments/19-equilibrium-moment-matching.md).

Subcommands (results as JSON under ``--out``):

* ``match T``: damped Newton on the five statistics (X, Y, nnXX, nnXY, nnYY) of the
  data at time T, moments and covariance from parallel tempering over the coupling
  strength (replicas carried between iterations), from the model's theta(T);
* ``longrun T``: the theta of Newton iteration ``--iteration`` sampled by plain Gibbs
  from random and from the data's snapshots (10 / 100 / 1000 / 3000 sweeps) and by
  tempering (2000 sweeps);
* ``hysteresis T K``: parameter K scanned, 400 sweeps from an empty and from a filled
  lattice;
* ``slab T K``: the same scan from a half-filled slab, 2000 sweeps: the coexistence
  point;
* ``check T --iteration i``: that check at one iterate of ``match T``;
* ``survey 0``: at t = 50, 100, ..., 500: 4 Newton iterations, then at the best
  iterate plain Gibbs from the data's snapshots (10 / 100 / 1000 sweeps) and X- and
  Y-filled half slabs (2000 sweeps): is the matched state the equilibrium?

Example::

    NUMBA_NUM_THREADS=1 python benchmarks/equilibrium_match.py match 300 \\
        --model m_d0.npz --data paper0_train.npz --out cache/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dbdviz._rng import seed_states
from dbdviz.dbd.model import DBDModel
from dbdviz.dbm import tempering as tp
from dbdviz.dbm.model import snapshot_statistics


def _setup(args):
    model = DBDModel.load(args.model)
    dbm = model.dbm()
    if dbm.n_params != 5:
        raise SystemExit("--model must be depth 0 with NN couplings (5 parameters)")
    snap = np.load(args.data)["snapshots"][:, args.T]
    D = snapshot_statistics(dbm, snap[:, None])[:, 0]
    return model, dbm, snap, D


class Tempered:
    """Carried tempered chains (C chains x K rungs)."""

    def __init__(self, dbm, theta, C=64, K=12, seed=11):
        self.dbm, self.K = dbm, K
        self.lam = tp.strengths(K)
        self.rng = seed_states(seed, C * K)
        self.S, self.lad = tp.init_tempered(dbm, theta, C, K, self.rng)
        self.parity = 0

    def run(self, theta, sweeps):
        acc = tp.sample_tempered(
            self.dbm,
            theta,
            self.S,
            self.lad,
            sweeps,
            strength=self.lam,
            seed=self.rng,
            parity=self.parity,
        )
        self.parity += sweeps
        return acc

    def stats(self):
        return self.dbm.param_statistics(tp.top_rung(self.S, self.lad, self.K))


def match(args, write=True):
    model, dbm, _, D = _setup(args)
    md, sed = D.mean(0), D.std(0, ddof=1) / np.sqrt(D.shape[0])
    theta = model.theta[args.T].astype(float).copy()
    pt = Tempered(dbm, theta)
    log, t0 = [], time.time()
    for it in range(args.iterations + 1):
        acc = pt.run(theta, 60 if it else 200)
        O = []
        for _ in range(40):
            pt.run(theta, 2)
            O.append(pt.stats())
        O = np.array(O)  # (40, C, 5)
        flat = O.reshape(-1, 5)
        mm = flat.mean(0)
        sem = O.mean(0).std(0, ddof=1) / np.sqrt(O.shape[1])
        z = (md - mm) / np.sqrt(sed**2 + sem**2)
        row = {
            "it": it,
            "theta": theta.round(4).tolist(),
            "model": mm.round(1).tolist(),
            "z": z.round(2).tolist(),
            "acc": acc.round(2).tolist(),
            "frac_dense": float((flat[:, :2].max(1) > 900).mean()),
            "s": round(time.time() - t0),
        }
        log.append(row)
        print(json.dumps(row), flush=True)
        if it < args.iterations:
            cov = np.cov(flat.T)
            step = np.linalg.solve(cov + 1e-6 * np.trace(cov) * np.eye(5), md - mm)
            theta = theta + min(1.0, args.cap / np.abs(step).max()) * step
    out = {"data": md.tolist(), "data_se": sed.tolist(), "log": log}
    if write:
        Path(args.out, f"match_t{args.T}.json").write_text(json.dumps(out))
    return out


def check(args, out, best):
    """Gibbs from the data's snapshots (10 / 100 / 1000 sweeps) and X- / Y-filled
    half slabs (2000 sweeps) at the Newton iterate ``best``."""
    theta = np.array(best["theta"])
    _, dbm, snap, D = _setup(args)
    sed = np.array(out["data_se"])
    row = {"t": args.T, "it": best["it"], "theta": best["theta"], "z": best["z"]}
    s = dbm.init_chains(100, 5)
    s[:, 0] = snap.astype(np.int8)
    rng, done, res = seed_states(22, 100), 0, {}
    for m in (10, 100, 1000):
        dbm.sample(theta, s, m - done, seed=rng)
        done = m
        o = dbm.param_statistics(s)
        res[m] = (o.mean(0), o.std(0, ddof=1) / 10)
        row[f"gibbs{m}"] = o.mean(0).round(1).tolist()
    for a in (10, 100):
        d = res[a][0] - res[1000][0]
        v = np.sqrt(res[a][1] ** 2 + res[1000][1] ** 2)
        row[f"z{a}_1000"] = float(np.abs(d / np.where(v > 0, v, 1)).max())
    row["z1000_data"] = (
        np.abs((res[1000][0] - out["data"]) / np.sqrt(res[1000][1] ** 2 + sed**2))
        .round(2)
        .tolist()
    )
    for k in (0, 1):
        sl = dbm.init_chains(32, 1)
        sl[:, 0] = snap[:32].astype(np.int8)
        sl[:, 0, : dbm.size // 2] = k + 1
        dbm.sample(theta, sl, 2000, seed=seed_states(41 + k, 32))
        c = dbm.param_statistics(sl)[:, k]
        row["slab_" + "XY"[k]] = float((c > 800).mean())
    return row


def survey(args):
    rows = []
    for T in range(50, 501, 50):
        args.T = min(T, 500)
        out = match(args, write=False)
        best = min(out["log"], key=lambda r: max(abs(z) for z in r["z"]))
        row = check(args, out, best)
        print(json.dumps(row), flush=True)
        rows.append(row)
    Path(args.out, "survey.json").write_text(json.dumps(rows))


def longrun(args):
    _, dbm, snap, D = _setup(args)
    log = json.loads(Path(args.out, f"match_t{args.T}.json").read_text())["log"]
    theta = np.array(log[args.iteration]["theta"])
    res = {"theta": theta.tolist()}
    for name in ("random", "data"):
        s = dbm.init_chains(100, 5)
        if name == "data":
            s[:, 0] = snap.astype(np.int8)
        rng, done = seed_states(21 if name == "random" else 22, 100), 0
        for m in (10, 100, 1000, 3000):
            dbm.sample(theta, s, m - done, seed=rng)
            done = m
            o = dbm.param_statistics(s)
            res[f"{name}_{m}"] = [o.mean(0).tolist(), (o.std(0, ddof=1) / 10).tolist()]
            print(name, m, o.mean(0).round(1), "Y>800:", int((o[:, 1] > 800).sum()))
    pt = Tempered(dbm, theta, seed=23)
    trace = []
    for _ in range(200):
        pt.run(theta, 10)
        trace.append(pt.stats().tolist())
    res["tempered_trace"] = trace
    Path(args.out, f"longrun_t{args.T}.json").write_text(json.dumps(res))


def _theta_for(args, dbm, model):
    if args.iteration is None:
        return model.theta[args.T].astype(float)
    log = json.loads(Path(args.out, f"match_t{args.T}.json").read_text())["log"]
    return np.array(log[args.iteration]["theta"])


def scan(args, slab):
    model, dbm, snap, _ = _setup(args)
    th = _theta_for(args, dbm, model)
    k, C = args.K, 32
    grid = np.round(th[k] + np.arange(-args.width, args.width + 1e-9, 0.05), 3)
    th_all = np.repeat(th[None], grid.size, 0)
    th_all[:, k] = grid
    rows = np.repeat(np.arange(grid.size), C)
    res = {"grid": grid.tolist()}
    starts = ("slab",) if slab else ("empty", "full")
    for start in starts:
        s = dbm.init_chains(grid.size * C, 1)
        if start == "slab":
            s[:, 0] = np.tile(snap[:C], (grid.size, 1, 1)).astype(np.int8)
            s[:, 0, : dbm.size // 2] = k + 1
        else:
            s[:, 0] = 0 if start == "empty" else k + 1
        sweeps = 2000 if slab else 400
        dbm.sample(th_all, s, sweeps, seed=seed_states(31, grid.size * C), rows=rows)
        o = dbm.param_statistics(s)[:, k].reshape(grid.size, C)
        res[start] = [o.mean(1).tolist(), (o > 800).mean(1).tolist()]
        print(start, grid.tolist(), o.mean(1).round(0).tolist())
    name = "slab" if slab else "hysteresis"
    Path(args.out, f"{name}_t{args.T}_k{k}.json").write_text(json.dumps(res))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "what", choices=("match", "longrun", "hysteresis", "slab", "survey", "check")
    )
    p.add_argument("T", type=int)
    p.add_argument("K", type=int, nargs="?", default=0, help="scanned parameter")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", default=".")
    p.add_argument("--iterations", type=int, default=15)
    p.add_argument("--iteration", type=int, default=None, help="Newton iterate")
    p.add_argument("--width", type=float, default=0.3)
    p.add_argument("--cap", type=float, default=0.15, help="max step per parameter")
    args = p.parse_args(argv)
    if args.what == "match":
        match(args)
    elif args.what == "survey":
        survey(args)
    elif args.what == "check":
        out = json.loads(Path(args.out, f"match_t{args.T}.json").read_text())
        row = check(args, out, out["log"][args.iteration])
        print(json.dumps(row))
        Path(args.out, f"check_t{args.T}.json").write_text(json.dumps(row))
    elif args.what == "longrun":
        args.iteration = 1 if args.iteration is None else args.iteration
        longrun(args)
    else:
        scan(args, args.what == "slab")


if __name__ == "__main__":
    main()
