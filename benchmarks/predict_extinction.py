"""Predator extinction in the prediction data (issue 18, docs/experiments/11).

    python benchmarks/predict_extinction.py [--cache /work/notes/i18data]

For the training grid of ``predict_heldout.py`` (cached ensembles) and the held-out
initial counts (``--replicates`` new replicates each, seed ``--seed``): the fraction of
replicates without predators at t = 100 ... 500, the mean nnXX at t = 500 of the
surviving and the extinct replicates, and the share of the mean nnXX that the extinct
ones carry. Then, on the cached fitted paths (``predict_screen.py paths``), the
nearest points of the other training paths to the 150,150 path at t = 350 / 400 / 450
and their velocities (standardised): theta does not determine the velocity.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TIMES = (100, 200, 300, 400, 500)


def table(obs: np.ndarray) -> str:
    o = np.asarray(obs, dtype=np.float64)
    ext = o[:, :, 1] == 0
    pe = " ".join(f"{ext[:, t].mean():.2f}" for t in TIMES)
    last = ext[:, 500]
    alive = o[~last, 500, 2].mean() if (~last).any() else float("nan")
    dead = o[last, 500, 2].mean() if last.any() else float("nan")
    share = (o[:, 500, 2] * last).sum() / o[:, 500, 2].sum()
    return (
        f"Y extinct {pe} | nnXX(500) alive {alive:6.0f} extinct {dead:6.0f} "
        f"all {o[:, 500, 2].mean():6.0f} | share of the extinct {share:.2f}"
    )


def main(argv=None) -> None:
    from predict_heldout import GRID, HELDOUT, cache_dir, train_ensemble

    from dbdviz.config import preset
    from dbdviz.dbd.evaluate import lowpass
    from dbdviz.simulate import simulate

    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default="/work/notes/i18data")
    ap.add_argument("--replicates", type=int, default=400)
    ap.add_argument("--seed", type=int, default=777)
    a = ap.parse_args(argv)
    cache = cache_dir(a.cache)
    print(f"Y extinct at t = {TIMES}")
    for x, y in GRID:
        print(
            f"training {x:3d},{y:3d}  " + table(train_ensemble(x, y, cache).observables)
        )
    for x, y in HELDOUT:
        cfg = preset(
            "paper",
            init_x=x,
            init_y=y,
            replicates=a.replicates,
            seed=a.seed,
            snapshots=False,
        )
        print(f"held-out {x:3d},{y:3d}  " + table(simulate(cfg, threads=1).observables))
    p = os.path.join(cache, "paths_grid.npz")
    if not os.path.exists(p):
        print("no fitted paths (python benchmarks/predict_screen.py paths)")
        return
    d = np.load(p)
    idx, th = d["idx"], d["theta"]
    every = np.arange(501)
    paths = [
        lowpass(
            np.column_stack([np.interp(every, idx, th[e, :, k]) for k in range(5)]), 61
        )
        for e in range(len(GRID))
    ]
    sc = np.concatenate(paths).std(axis=0)
    vel = [np.diff(q, axis=0) for q in paths]
    sv = np.concatenate(vel).std(axis=0)
    own = GRID.index((150, 150))
    for t in (350, 400, 450):
        here = paths[own][t] / sc
        print(f"150,150 t = {t}: velocity {np.round(vel[own][t] / sv, 2)}")
        near = []
        for e in range(len(GRID)):
            if e == own:
                continue
            dist = np.sqrt((((paths[e][:-1] / sc) - here) ** 2).sum(axis=1))
            i = int(dist.argmin())
            near.append((dist[i], e, i))
        for dist, e, i in sorted(near)[:3]:
            print(
                f"    {GRID[e]} t = {i}: {dist:.2f} away, velocity "
                f"{np.round(vel[e][i] / sv, 2)}"
            )


if __name__ == "__main__":
    main()
