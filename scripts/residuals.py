"""One-step residuals of the step's equations on three kinds of lattices.

Usage (from the repository root, with ``PYTHONPATH=$PWD``)::

    python scripts/residuals.py [--lattices 40] [--reps 500] [--pick-mode MODE]

For each kind (``random``: 100 X and 100 Y placed uniformly on 40 x 40;
``clustered``: X in a 14 x 14 block and Y in a 9 x 9 block, 90 % filled, 20 sites
apart; ``paper``: the paper preset's lattices at t = 50, 150, 250, seed 5) the
simulator's step is replayed ``reps`` times from every lattice
(:func:`dbdviz.simulate.replay.replay_step`) and compared with

* ``pair level``: :func:`dbdviz.closures.hierarchy.step_expectation` with the
  lattice's measured counts, pairs and triplets (triplets closed within the sweep);
* ``triplet level``: :func:`dbdviz.closures.given_lattice.lattice_step_expectation`
  (events site by site, the sweep with its triplets evolved).

Prints the mean residual per step (replays - prediction) and, in brackets, in
standard errors of the replays. docs/hierarchy.md section 4 records a run (about
2 minutes on one core).
"""

from __future__ import annotations

import argparse

import numpy as np

from dbdviz.closures.given_lattice import lattice_step_expectation
from dbdviz.closures.hierarchy import lattice_triplets, step_expectation
from dbdviz.config import preset
from dbdviz.moments import lattice_observables
from dbdviz.simulate import simulate
from dbdviz.simulate.replay import replay_step

FIVE = ("X", "Y", "nnXX", "nnXY", "nnYY")


def lattices(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    L = 40
    rnd = np.zeros((n, L * L), np.uint8)
    for k in range(n):
        p = rng.permutation(L * L)
        rnd[k, p[:100]] = 1
        rnd[k, p[100:200]] = 2
    clu = np.zeros((n, L, L), np.uint8)
    for k in range(n):
        r, c = rng.integers(0, L, 2)
        blk = (rng.random((14, 14)) < 0.9).astype(np.uint8)
        clu[k][np.ix_((r + np.arange(14)) % L, (c + np.arange(14)) % L)] = blk
        blk = np.where(rng.random((9, 9)) < 0.9, 2, 0).astype(np.uint8)
        r2, c2 = (r + 20) % L, (c + 20) % L
        clu[k][np.ix_((r2 + np.arange(9)) % L, (c2 + np.arange(9)) % L)] = blk
    snaps = simulate(
        preset("paper", replicates=(n + 2) // 3, steps=250, seed=5)
    ).snapshots
    pap = np.array([snaps[i, t] for t in (50, 150, 250) for i in range(len(snaps))])
    return {"random": rnd.reshape(n, L, L), "clustered": clu, "paper": pap[:n]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lattices", type=int, default=40)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument(
        "--pick-mode", default="nested_permutation",
        choices=["nested_permutation", "uniform"],
    )  # fmt: skip
    a = ap.parse_args()
    cfg = preset("paper", pick_mode=a.pick_mode)
    print(f"{a.lattices} lattices x {a.reps} replays, {a.pick_mode} picks")
    for name, lat in lattices(a.lattices).items():
        after = replay_step(lat, cfg, a.reps, 3)[..., :5].astype(float)
        mean = after.mean(axis=1)
        se = np.sqrt((after.var(axis=1, ddof=1) / a.reps).sum(axis=0)) / len(lat)
        obs = lattice_observables(lat)[..., :5].astype(float)
        e = step_expectation(obs, cfg, triplets=lattice_triplets(lat))
        preds = {
            "pair level": np.stack([e[o] for o in FIVE], axis=-1),
            "triplet level": lattice_step_expectation(lat, cfg),
        }
        print(f"{name}: mean change", np.round((mean - obs).mean(axis=0), 2))
        for label, p in preds.items():
            res = (mean - p).mean(axis=0)
            cells = " ".join(
                f"{o} {r:+.3f} ({r / s:+.1f})"
                for o, r, s in zip(FIVE, res, se, strict=True)
            )
            print(f"  {label:13s} {cells}", flush=True)


if __name__ == "__main__":
    main()
