"""Does the learned closure predict? Held-out initial counts (issue 18).

    NUMBA_NUM_THREADS=1 python benchmarks/predict_heldout.py data
    python benchmarks/predict_heldout.py ...

Training set: a 3 x 3 grid of initial counts X0, Y0 in {50, 150, 250} (paper rates,
40 x 40, 500 steps, 100 replicates each, data seeds 100 + i); held-out initial counts
inside the grid, each with a reference ensemble of 2000 replicates (no snapshots).
Cached under --cache (default /tmp/dbdviz_predict/<simulator commit>).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY"]
GRID = [(x, y) for x in (50, 150, 250) for y in (50, 150, 250)]
HELDOUT = [(100, 100), (90, 170), (170, 90), (160, 160), (120, 220)]
BIG = 2000
BIG_TRAIN = 1000


def cache_dir(root: str) -> str:
    from accuracy_configs import simulator_version

    d = os.path.join(root, simulator_version())
    os.makedirs(d, exist_ok=True)
    return d


def train_ensemble(x0: int, y0: int, cache: str, seed: int | None = None):
    from dbdviz.config import preset
    from dbdviz.simulate import Ensemble, simulate

    seed = 100 + GRID.index((x0, y0)) if seed is None else seed
    p = os.path.join(cache, f"train_{x0}_{y0}_s{seed}.npz")
    if os.path.exists(p):
        return Ensemble.load(p)
    e = simulate(preset("paper", seed=seed, init_x=x0, init_y=y0), threads=1)
    e.save(p)
    return e


def reference(x0: int, y0: int, cache: str, reps: int = BIG):
    """MomentTable of ``reps`` independent replicates (seed 5000 + ...)."""
    from dbdviz.config import preset
    from dbdviz.moments import read_moment_table
    from dbdviz.simulate import simulate

    p = os.path.join(cache, f"ref_{x0}_{y0}_{reps}.csv")
    if os.path.exists(p):
        return read_moment_table(p)
    cfg = preset(
        "paper",
        seed=5000 + 7 * x0 + y0,
        init_x=x0,
        init_y=y0,
        replicates=reps,
        snapshots=False,
    )
    m = simulate(cfg, threads=1).moments()
    m.to_csv(p)
    return m


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["data"])
    ap.add_argument("--cache", default="/tmp/dbdviz_predict")
    a = ap.parse_args(argv)
    cache = cache_dir(a.cache)
    if a.what == "data":
        t0 = time.perf_counter()
        for x0, y0 in GRID:
            train_ensemble(x0, y0, cache)
            print("train", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)
        for x0, y0 in HELDOUT:
            reference(x0, y0, cache)
            print("ref", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)
        for x0, y0 in GRID:
            reference(x0, y0, cache, BIG_TRAIN)
            print("ref-train", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
