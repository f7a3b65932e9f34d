"""Speed of the lattice DBM Gibbs sampler (``python benchmarks/bench_dbm.py``).

Unit updates per second = chains x sweeps x (units updated per sweep) / wall time,
for the paper architecture (3 layers of 40 x 40, q = 4) and variants, with 1 and 2
numba threads. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from dbdviz._numba import get_threads, set_threads
from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig
from dbdviz.dbm import DBM


def _best(fn, repeat):
    """Best wall time and best CPU time (all threads) over ``repeat`` runs."""
    wall = cpu = np.inf
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu


def bench(label, cfg, size, chains, sweeps, threads, repeat=3, awake=False, rows=1):
    dbm = DBM(DBMConfig(**cfg), size)
    rng = np.random.default_rng(0)
    theta = np.tile(dbm.initial_theta(reference=True), (rows, 1))
    nb = dbm.n_layers * 2
    theta[:, nb:] = rng.normal(0, 0.5, (rows, dbm.n_params - nb))
    states = dbm.init_chains(chains, 1)
    clamp = states[:, 0].copy() if awake else None
    rmap = np.arange(chains) % rows
    units = dbm.n_layers - (1 if awake else 0)
    prev = set_threads(threads)
    try:
        dbm.sample(theta, states, 1, seed=0, clamp=clamp, rows=rmap)
        wall, cpu = _best(
            lambda: dbm.sample(theta, states, sweeps, seed=1, clamp=clamp, rows=rmap),
            repeat,
        )
    finally:
        set_threads(prev)
    n = chains * sweeps * units * size * size
    return label, threads, chains, sweeps, wall, n / wall / 1e6, n / cpu / 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    a = ap.parse_args(argv)
    warmup("dbm")
    rep = 2 if a.quick else 5
    maxt = get_threads()
    rows = []
    cases = [
        (
            "paper: depth 2, q=4, 40x40, asleep",
            dict(depth=2, visible_couplings=False),
            40,
            100,
            100,
            {},
        ),
        (
            "paper: depth 2, awake (visible clamped)",
            dict(depth=2, visible_couplings=False),
            40,
            100,
            100,
            dict(awake=True),
        ),
        (
            "DBD batch: 11 rows x 5 chains, 10 sweeps",
            dict(depth=2, visible_couplings=False),
            40,
            55,
            10,
            dict(rows=11),
        ),
        (
            "depth 3, q=4, cross-channel",
            dict(depth=3, cross_channel=True, visible_couplings=False),
            40,
            100,
            50,
            {},
        ),
        (
            "depth 2, q=9",
            dict(depth=2, conn=9, visible_couplings=False),
            40,
            100,
            50,
            {},
        ),
        (
            "depth 0, visible couplings",
            dict(depth=0, visible_couplings=True),
            40,
            100,
            100,
            {},
        ),
        (
            "depth 1, cross-channel, visible couplings",
            dict(depth=1, cross_channel=True, visible_couplings=True),
            40,
            100,
            100,
            {},
        ),
        (
            "depth 1, cross-channel, NN + diagonal couplings",
            dict(
                depth=1,
                cross_channel=True,
                visible_couplings=True,
                visible_nnn_couplings=True,
            ),
            40,
            100,
            100,
            {},
        ),
    ]
    for label, cfg, size, chains, sweeps, kw in cases:
        for th in sorted({1, maxt}):
            rows.append(bench(label, cfg, size, chains, sweeps, th, rep, **kw))
    print(
        "| case | threads | chains | sweeps | wall (s) | M updates/s (wall) "
        "| M updates/s per CPU-s |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, th, c, s, t, r, rc in rows:
        print(f"| {label} | {th} | {c} | {s} | {t:.3f} | {r:.0f} | {rc:.0f} |")


if __name__ == "__main__":
    main()
