"""Screen representations of the learned F in parameter space (issue 18).

    NUMBA_NUM_THREADS=1 python benchmarks/predict_screen.py paths   # once, ~2 x 100 s
    python benchmarks/predict_screen.py grid  '{"length": 1.5}' ...
    python benchmarks/predict_screen.py rates '{"pull": 0.01}' ...

``paths`` fits (``fit_paths``) the parameter paths of the training ensembles of
``predict_heldout.py`` (the 3 x 3 grid of initial counts; the 8 rate corners) and of
the held-out references (2000 replicates), cached in the cache directory. A candidate
(keyword arguments of ``fit_kernel_rhs``, JSON; ``"taps"`` sets the low-pass) is then
scored without sampling: the standardised RMS distance of its integrated path from the
held-out reference path at the fitted times (and from two training paths). Seconds per
candidate; the ones that matter are then sampled with ``predict_heldout.py``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY"]


def _dbm():
    from dbdviz.config import DBMConfig
    from dbdviz.dbm import DBM

    return DBM(DBMConfig(depth=0, visible_couplings=True, chains=10), size=40)


def fit_all(cache: str) -> None:
    from predict_heldout import GRID, HELDOUT, RATE_BOX, train_ensemble

    from dbdviz.dbd.multi import fit_paths, fit_times
    from dbdviz.moments import read_moment_table
    from dbdviz.simulate import Ensemble

    idx = fit_times(500)

    def ref(p):
        m = read_moment_table(p)
        return np.column_stack([m.mean[o] for o in OBS])[idx]

    def mean(e):
        return e.observables[:, :, :5].astype(float).mean(0)[idx]

    grid = [mean(train_ensemble(x, y, cache)) for x, y in GRID]
    grid += [ref(os.path.join(cache, f"ref_{x}_{y}_2000.csv")) for x, y in HELDOUT]
    rates = [
        mean(Ensemble.load(os.path.join(cache, f"rates_{i}.npz"))) for i in range(8)
    ]
    rates += [ref(os.path.join(cache, f"rates_ref_{j}.csv")) for j in range(2)]
    del RATE_BOX
    for name, tg in (("grid", grid), ("rates", rates)):
        fr = fit_paths(_dbm(), tg, idx, seed=0)
        np.savez(os.path.join(cache, f"paths_{name}.npz"), idx=fr.idx, theta=fr.theta)
        print(
            name, "residual", fr.relative_residual().mean(axis=0).round(3), flush=True
        )


def screen(cache: str, what: str, candidates: list[dict]) -> None:
    from predict_heldout import GRID, HELDOUT, RATE_BOX, RATE_HELDOUT

    from dbdviz.dbd import kernel
    from dbdviz.dbd.evaluate import lowpass
    from dbdviz.dbd.kernel import fit_kernel_rhs

    dbm = _dbm()
    data = np.load(os.path.join(cache, f"paths_{what}.npz"))
    idx, TH = data["idx"], data["theta"]
    n_train = 9 if what == "grid" else 8
    every = np.arange(501)
    names = list(dbm.param_names)
    if what == "grid":
        starts = [(x, y, ()) for x, y in HELDOUT] + [(*GRID[0], ()), (*GRID[4], ())]
        rates = [()] * n_train
    else:
        corners = [
            np.array(list(RATE_BOX.values())) * np.array(f)
            for f in itertools.product((0.7, 1.3), repeat=3)
        ]
        rates = [np.log(c) for c in corners]
        held = [np.log(list(r.values())) for r in RATE_HELDOUT[: TH.shape[0] - n_train]]
        starts = [(100, 100, h) for h in held] + [
            (100, 100, rates[0]),
            (100, 100, rates[7]),
        ]
        names += ["birth", "death", "predation"]
    targets = list(range(n_train, TH.shape[0])) + ([0, 4] if what == "grid" else [0, 7])
    for cand in candidates:
        kw = {}
        if what == "rates":  # train_multi's defaults across rates
            kw = dict(
                length=kernel.RATE_LENGTH,
                ridge=kernel.RATE_RIDGE,
                degree=kernel.RATE_DEGREE,
                pull=kernel.RATE_PULL,
            )
        kw.update(cand)
        taps = int(kw.pop("taps", 61))

        def smooth(th, taps=taps):
            full = np.column_stack([np.interp(every, idx, th[:, k]) for k in range(5)])
            return lowpass(full, taps) if taps > 1 else full

        paths = [smooth(TH[e]) for e in range(n_train)]
        inputs = [
            np.column_stack([p, np.tile(r, (len(p), 1))]) if len(r) else p
            for p, r in zip(paths, rates, strict=True)
        ]
        rhs = fit_kernel_rhs(inputs, paths, 1.0, names=names, **kw)
        sc = np.concatenate(paths).std(axis=0)
        out = []
        for (x, y, r), j in zip(starts, targets, strict=True):
            ref = smooth(TH[j], 0) if j >= n_train else paths[j]
            try:
                th = rhs.integrate(dbm.initial_theta(x / 1600, y / 1600), 500, 1.0, r)
                out.append(np.sqrt(np.mean(((th[idx] - ref[idx]) / sc) ** 2)))
            except FloatingPointError:
                out.append(np.inf)
        n_held = len(out) - 2
        print(
            f"{json.dumps(cand):50s} held-out "
            + " ".join(f"{v:5.2f}" for v in out[:n_held])
            + " | training "
            + " ".join(f"{v:5.2f}" for v in out[n_held:]),
            flush=True,
        )


def main(argv=None) -> None:
    from predict_heldout import cache_dir

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["paths", "grid", "rates"])
    ap.add_argument("candidates", nargs="*", default=["{}"])
    ap.add_argument("--cache", default="/work/notes/i18data")
    a = ap.parse_args(argv)
    cache = cache_dir(a.cache)
    if a.what == "paths":
        fit_all(cache)
    else:
        screen(cache, a.what, [json.loads(c) for c in a.candidates])


if __name__ == "__main__":
    main()
