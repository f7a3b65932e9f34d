"""Speed of the lattice Lotka-Volterra simulator (dbdviz.simulate).

Run ``python benchmarks/bench_simulate.py [--reps N] [--repeat K]``; prints a Markdown
table:

* CPU milliseconds per replicate on one thread (``time.process_time`` around
  ``simulate(threads=1)``, best of ``K`` repeats: the machine may be shared, and CPU
  time is far less sensitive to other processes than wall time) for the ``paper``
  preset (40 x 40, 100 X + 100 Y, 500 steps) and the ``large`` preset (100 x 100,
  625 X + 625 Y), with and without snapshots, both pick modes; molecule moves per
  replicate and CPU ns per move (everything included: events, record);
* wall time per replicate and replicates per second on one thread and on all cores
  (the speed-up is only meaningful on an otherwise idle machine), with the CPU time
  of all threads: equal CPU time per replicate on 1 and n threads means no
  contention, i.e. linear scaling where the cores are free;
* compile time of ``warmup()`` with a cold cache (fresh ``NUMBA_CACHE_DIR``) and with
  a warm cache (a second process reusing it), each in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def _compile_time(cache_dir: str) -> float:
    code = (
        "import time; t = time.perf_counter(); "
        "from dbdviz.simulate import warmup; warmup(); "
        "print(time.perf_counter() - t)"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, PYTHONPATH=REPO)
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--reps", type=int, default=40, help="replicates per paper measurement"
    )
    ap.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    ap.add_argument("--no-compile", action="store_true", help="skip compile timing")
    args = ap.parse_args()

    from dbdviz._numba import get_threads
    from dbdviz.config import preset
    from dbdviz.simulate import simulate, warmup

    if not args.no_compile:
        with tempfile.TemporaryDirectory() as d:
            cold = _compile_time(d)
            warm = _compile_time(d)
    warmup()

    rows = []

    def single(name, cfg, reps):
        simulate(cfg.copy(replicates=2), threads=1)  # first call of this shape
        best = float("inf")
        for _ in range(args.repeat):
            t = time.process_time()
            ens = simulate(cfg.copy(replicates=reps), threads=1)
            best = min(best, (time.process_time() - t) / reps)
        moves = ens.observables[:, :-1, :2].sum() / reps
        rows.append(
            (
                name,
                "1",
                f"{best * 1e3:.2f}",
                f"{moves / 1e3:.0f} k",
                f"{best / moves * 1e9:.1f}",
                "",
            )
        )

    paper = preset("paper", seed=1)
    large = preset("large", seed=1)
    single("paper, no snapshots", paper.copy(snapshots=False), args.reps)
    single("paper, snapshots", paper, args.reps)
    single(
        "paper, uniform picks",
        paper.copy(snapshots=False, pick_mode="uniform"),
        args.reps,
    )
    # a large replicate's moves vary by +-10 % between seeds: 8 replicates
    single(
        "large 100x100 625+625, no snapshots",
        large.copy(snapshots=False),
        max(args.reps // 5, 4),
    )
    single(
        "large, uniform picks",
        large.copy(snapshots=False, pick_mode="uniform"),
        max(args.reps // 5, 4),
    )

    # cost against lattice size at the paper's initial densities (6.25 % X, 6.25 % Y)
    for L in (20, 40, 70, 100, 140, 200):
        n0 = L * L // 16
        cfg = paper.copy(size=L, init_x=n0, init_y=n0, snapshots=False)
        single(
            f"{L}x{L}, {n0}+{n0}, paper rates",
            cfg,
            max(int(args.reps * 1600 / (L * L)), 3),
        )

    n_all = get_threads()
    reps = args.reps * 4
    cfg = paper.copy(replicates=reps, snapshots=False)
    for threads in (1, n_all):
        wall = cpu = float("inf")
        for _ in range(max(args.repeat // 2, 1)):
            t, c = time.perf_counter(), time.process_time()
            simulate(cfg, threads=threads)
            wall = min(wall, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        rows.append(
            (
                f"paper, {reps} reps: wall (CPU of all threads)",
                str(threads),
                f"{wall / reps * 1e3:.2f} ({cpu / reps * 1e3:.2f})",
                "",
                "",
                f"{reps / wall:.0f}",
            )
        )

    print(
        "| case | threads | ms / replicate | moves / replicate | ns / move "
        "| replicates / s |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    if not args.no_compile:
        print(
            f"compile (warmup) cold cache: {cold:.1f} s; warm cache: {warm:.2f} s "
            "(fresh interpreter each, import included)"
        )


if __name__ == "__main__":
    main()
