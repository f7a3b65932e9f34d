"""Benchmark of the DBD trainer (dbdviz.dbd.train) on the paper data.

Seconds per optimisation step at the start and the end of the adjoint training, the
refinement phase (the defaults' last phase for depth 0), and the whole protocol, for
the default settings and the reference protocol (ALGORITHM.md 5.8; the
C++ reference needs 0.5 - 2 s per step, 21 min in total on this machine class).

    python benchmarks/bench_train.py [--data paper.npz] [--threads N] [--quick]
        [--protocols default,reference,depth1,depth2,depth3]

Without ``--data`` the paper ensemble (100 replicates, seed 1) is simulated first.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from dbdviz._numba import set_threads
from dbdviz._warmup import warmup
from dbdviz.config import depth_configs, preset
from dbdviz.dbd.train import Trainer, default_configs, reference_configs
from dbdviz.simulate import Ensemble, simulate


def _per_step(tr: Trainer, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        tr.step()
    return (time.perf_counter() - t) / n


def bench(name: str, data: Ensemble, dc, tc, quick: bool) -> list[str]:
    t0 = time.perf_counter()
    tr = Trainer(data, dc, tc, seed=1)
    setup = time.perf_counter() - t0
    n = 20 if quick else 50
    cpu0 = time.process_time()
    start = _per_step(tr, n)
    while tr.step_index < tr.opt_steps - n:
        tr.step()
    end = _per_step(tr, n)
    adjoint = time.perf_counter() - t0
    # the refinement phase (TrainConfig.refine; depth 0 by default): the rest
    t1 = time.perf_counter()
    while not tr.done:
        tr.step()
    refine = time.perf_counter() - t1
    total = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    ref = f"{refine:.1f} ({tr.refine_steps} steps)" if tr.refine_steps else "-"
    return [
        f"| {name} | {tr.opt_steps} | {setup:.2f} | {1e3 * start:.1f} "
        f"| {1e3 * end:.1f} | {adjoint:.1f} | {ref} "
        f"| {total:.1f} | {cpu:.1f} |"
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="paper ensemble .npz (default: simulate it)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true", help="fewer timed steps")
    ap.add_argument(
        "--protocols",
        default="default,reference",
        help="comma-separated: default, reference, depth1, depth2, depth3 (the "
        "defaults of that depth, DEPTH_DEFAULTS; default: default,reference)",
    )
    args = ap.parse_args()
    if args.threads:
        set_threads(args.threads)
    if args.data and os.path.exists(args.data):
        data = Ensemble.load(args.data)
    else:
        data = simulate(preset("paper", seed=1))
    warmup("dbm", "basis", "train")
    rows = [
        "| protocol | adjoint steps | set-up (s) | ms/step (start) | ms/step (end) "
        "| adjoint (s) | refinement (s) | total (s) | CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    chosen = args.protocols.split(",")
    if "default" in chosen:
        rows += bench("default", data, *default_configs(), args.quick)
    if "reference" in chosen:
        rows += bench(
            "reference (depth 2, SGD, 980 steps)",
            data,
            *reference_configs(),
            args.quick,
        )
    for d in (1, 2, 3):
        if f"depth{d}" in chosen:
            rows += bench(f"--depth {d} defaults", data, *depth_configs(d), args.quick)
    print("\n".join(rows))
    print(f"\nthreads: {args.threads or 'all'}; numpy {np.__version__}")


if __name__ == "__main__":
    main()
