"""Two-phase (predator extinction) mixture prediction (issue 18, experiments/11 s. 4).

    python benchmarks/predict_mixture.py [--cache /work/notes/i18data] [--out J.json]

Needs the cache of ``predict_heldout.py`` (training grid, references) and the
survivors' fitted paths ``paths_alive.npz`` (``fit_paths`` on the mean of the
replicates that still have predators at every t; training grid, then the five
held-out counts from 1000 new replicates each). For every held-out count and three
training counts, NRMSE (%) over t = 0..500 of X / Y / nnXX / nnXY / nnYY of

* ``alive``: the survivors' ``F`` (kernel fitted on the 9 training survivor paths)
  integrated from the random placement and sampled (100 chains), alone;
* ``mix``: the same mixed with the extinct lattices (``dbdviz.dbd.mixture``: hazard
  on the survivors' theta, prey-only curve of the simulator, entry ratio);
* ``mix_trueq``: the same with the true extinct fraction (held-out: of its 1000
  replicates; training: of its 100);
* ``blend``: the alive path integrated with ``(1 - w) F_whole + w F_alive``, ``w =
  min(1, q / 0.05)``: the whole-ensemble law of the cached default model
  (``multi_500.npz``, trained on all replicates) while few lattices have lost their
  predators (then the two laws agree and the whole one is better estimated), the
  survivors' ``F`` (ridge 1e-2, pull 0.02) from 5 % extinct on;
* ``oracle_*``: the survivors' own fitted path (not a prediction) sampled and mixed,
  with the true and with the hazard's ``q``: what the mixture can do when the alive
  part is right.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

KERNELS = {"default": {}, "ridge 1e-2, pull 0.02": {"ridge": 1e-2, "pull": 0.02}}


def main(argv=None) -> None:
    from predict_heldout import GRID, HELDOUT, OBS, cache_dir, train_ensemble

    from dbdviz.compare import nrmse
    from dbdviz.config import DBMConfig, preset
    from dbdviz.dbd.evaluate import lowpass
    from dbdviz.dbd.kernel import fit_kernel_rhs
    from dbdviz.dbd.mixture import (
        entry_ratio,
        extinct_fraction,
        fit_hazard,
        mix_moments,
    )
    from dbdviz.dbd.mixture_fit import CURVE_STEPS, prey_only_curve
    from dbdviz.dbd.predict import sample_moments
    from dbdviz.dbm import DBM
    from dbdviz.moments import MomentTable, read_moment_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/work/notes/i18data")
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--out")
    ap.add_argument("--only-blend", action="store_true")
    ap.add_argument("--blend-q", type=float, default=0.05)
    a = ap.parse_args(argv)
    cache = cache_dir(a.cache)
    z = np.load(os.path.join(cache, "paths_alive.npz"))
    idx, t = z["idx"], np.arange(501)
    dbm = DBM(DBMConfig(depth=0, visible_couplings=True, chains=10), size=40)
    names = list(dbm.param_names)
    paths = [
        lowpass(
            np.column_stack([np.interp(t, idx, z["theta"][k, :, j]) for j in range(5)]),
            61,
        )
        for k in range(len(z["theta"]))
    ]
    obs = [
        np.asarray(train_ensemble(x, y, cache).observables[:, :, :5]) for x, y in GRID
    ]
    alive = [(o[:, :, 1] > 0).sum(axis=0) for o in obs]
    coef = fit_hazard(paths[:9], alive)
    ratio = entry_ratio(obs)
    t0 = time.perf_counter()
    curve = prey_only_curve(preset("paper", steps=CURVE_STEPS))
    print(
        f"hazard {np.round(coef, 3)}  entry ratio {ratio:.3f}  prey-only curve "
        f"{time.perf_counter() - t0:.1f} s "
        f"(full at t = {int(np.argmax(curve[:, 0] >= 1600))})"
    )
    rhs = {
        k: fit_kernel_rhs(paths[:9], paths[:9], 1.0, names=names, **kw)
        for k, kw in KERNELS.items()
    }
    if a.only_blend:
        rhs = {}
    from dbdviz.dbd import DBDModel

    whole = DBDModel.load(os.path.join(cache, "multi_500.npz")).rhs
    alive_rhs = fit_kernel_rhs(
        paths[:9], paths[:9], 1.0, names=names, ridge=1e-2, pull=0.02
    )

    def blend(th0):
        th = np.empty((501, 5))
        th[0], cum = th0, 0.0
        for i in range(500):
            w = min(1.0, (1 - np.exp(-cum)) / a.blend_q)
            z = th[i][None]
            th[i + 1] = th[i] + (1 - w) * whole.evaluate(z)[0]
            th[i + 1] += w * alive_rhs.evaluate(z)[0]
            cum += float(np.exp(coef[0] + th[i] @ coef[1:]))
        return th

    pct = lambda d: [round(100 * d[o], 1) for o in OBS]  # noqa: E731

    def table(M):
        return MomentTable(
            t=t.astype(float), n=a.chains, mean={o: M[:, i] for i, o in enumerate(OBS)}
        )

    def sample(th):
        m = sample_moments(
            dbm,
            np.ascontiguousarray(th),
            t.astype(float),
            chains=a.chains,
            sweeps=9,
            seed=0,
        )
        return np.column_stack([m.mean[o] for o in OBS])

    cases = [(x, y, f"ref_{x}_{y}_2000.csv", 9 + i) for i, (x, y) in enumerate(HELDOUT)]
    cases += [
        (x, y, f"ref_{x}_{y}_1000.csv", GRID.index((x, y)))
        for x, y in ((150, 150), (50, 50), (250, 250))
    ]
    res = {}
    for x, y, refn, k in cases:
        ref = read_moment_table(os.path.join(cache, refn))
        qtrue = 1 - z["p_alive"][k]
        score = lambda M, ref=ref: pct(nrmse(table(M), ref, OBS, 0, 500))  # noqa: E731
        r = {"q500 true": round(float(qtrue[500]), 3)}
        for name, f in rhs.items():
            th = f.integrate(dbm.initial_theta(x / 1600, y / 1600), 500, 1.0)
            A, q = sample(th), extinct_fraction(coef, th)
            r[name] = {
                "q500": round(float(q[500]), 3),
                "distance": round(float(f.distance(th).max()), 2),
                "alive": score(A),
                "mix": score(mix_moments(A, q, curve, ratio)),
                "mix_trueq": score(mix_moments(A, qtrue, curve, ratio)),
            }
        th = blend(dbm.initial_theta(x / 1600, y / 1600))
        A, q = sample(th), extinct_fraction(coef, th)
        r["blend"] = {
            "q500": round(float(q[500]), 3),
            "distance": round(float(alive_rhs.distance(th).max()), 2),
            "mix": score(mix_moments(A, q, curve, ratio)),
            "mix_trueq": score(mix_moments(A, qtrue, curve, ratio)),
        }
        if a.only_blend:
            print(f"{x},{y}", json.dumps(r), flush=True)
            res[f"{x},{y}"] = r
            continue
        A = sample(paths[k])
        r["oracle_trueq"] = score(mix_moments(A, qtrue, curve, ratio))
        r["oracle_hazq"] = score(
            mix_moments(A, extinct_fraction(coef, paths[k]), curve, ratio)
        )
        print(f"{x},{y}", json.dumps(r), flush=True)
        res[f"{x},{y}"] = r
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
