"""Ensembles on Dask (dbdviz.distributed) against the in-process simulator.

Run ``python benchmarks/bench_dask.py [--reps 10000] [--repeat 2] [--mem-reps 100000]``;
prints Markdown tables:

* wall time of ``--reps`` paper replicates (no snapshots) in-process on 2 numba
  threads and through a 2-worker LocalCluster (one single-threaded worker process
  per core, started and warmed before timing: the steady state of a cluster that is
  already running, as in the dashboard), alternating the two ``--repeat`` times (the
  machine may be shared) and comparing the best of each; the overhead in % and per
  task: (wall x worker threads - kernel seconds) / chunks; the round trip of an empty
  task; the cold ``scheduler="local"`` run (cluster start included) once;
* the dashboard's default regime map (8 x 6 cells x 50 paper replicates) through
  its component on a warm 2-worker LocalCluster: first cell and total seconds;
* peak memory of ``dbdviz simulate --scheduler local --no-snapshots --replicates
  --mem-reps`` (paper preset): resident memory of the whole process tree (client and
  scheduler, nannies, workers) sampled every 0.2 s, its peak sum and the largest
  single process; the output file (``mem-reps x 501 x 11`` int64) goes to a temporary
  folder and is deleted.
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


def _noop() -> int:
    return 0


class _Calls:
    """Counts progress calls (one per finished chunk)."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, done: int, total: int) -> None:
        self.n += 1


def speed(reps: int, repeat: int) -> list[str]:
    from dbdviz.config import preset
    from dbdviz.distributed import close_client, local_client, run_tasks
    from dbdviz.simulate import simulate, warmup

    warmup()
    cfg = preset("paper", replicates=reps, seed=1, snapshots=False)
    client = local_client(2)
    try:
        client.run(warmup)
        inproc, dask, kernel, chunks = [], [], [], 0
        for _ in range(repeat):
            t = time.perf_counter()
            a = simulate(cfg, threads=2)
            inproc.append(time.perf_counter() - t)
            calls = _Calls()
            t = time.perf_counter()
            b = simulate(cfg, scheduler=client, progress=calls)
            dask.append(time.perf_counter() - t)
            kernel.append(b.elapsed)
            chunks = calls.n
            assert (a.observables == b.observables).all()
        n_empty = 400
        t = time.perf_counter()
        run_tasks(client, _noop, [()] * n_empty, lambda i, r: None)
        empty = (time.perf_counter() - t) / n_empty
    finally:
        close_client(client)
    t = time.perf_counter()
    simulate(cfg, scheduler="local")
    cold = time.perf_counter() - t

    best_i, best_d = min(inproc), min(dask)
    i_best = dask.index(best_d)
    per_task = (best_d * 2 - kernel[i_best]) / chunks
    rows = [
        f"{reps} paper replicates (no snapshots), best of {repeat} alternating runs:",
        "",
        "| run | wall (s) | all runs (s) | replicates / s |",
        "|---|---|---|---|",
        f"| in-process, 2 numba threads | {best_i:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in inproc)} | {reps / best_i:.0f} |",
        f"| LocalCluster, 2 workers x 1 thread (warm) | {best_d:.2f} | "
        f"{', '.join(f'{x:.2f}' for x in dask)} | {reps / best_d:.0f} |",
        f"| scheduler='local' (cluster start + run + close) | {cold:.2f} | | |",
        "",
        f"Overhead of the warm cluster: {100 * (best_d / best_i - 1):+.1f} % "
        f"(target within 15 %); {chunks} chunks of about {reps // chunks} "
        f"replicates, kernel {kernel[i_best]:.2f} s summed over the workers, so "
        f"{1000 * per_task:.1f} ms per task beyond the kernel (scheduling, "
        f"transfer of {reps // chunks * 501 * 11 * 8 / 2**20:.1f} MB of observables "
        f"per chunk, gathering); an empty task's round trip {1000 * empty:.2f} ms.",
    ]
    return rows


def memory(reps: int) -> list[str]:
    import psutil

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        out = os.path.join(tmp, "big.npz")
        env = dict(os.environ, PYTHONPATH=REPO)
        cmd = [sys.executable, "-m", "dbdviz", "simulate", "--no-snapshots"]
        cmd += ["--replicates", str(reps), "--seed", "1", "--scheduler", "local"]
        cmd += ["--quiet", "--out", out]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env)
        root = psutil.Process(proc.pid)
        peak_sum = peak_one = 0
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = []
                for p in tree:
                    try:
                        rss.append(p.memory_info().rss)
                    except psutil.Error:
                        pass
                peak_sum = max(peak_sum, sum(rss))
                peak_one = max(peak_one, max(rss, default=0))
            except psutil.Error:
                pass
            time.sleep(0.2)
        wall = time.perf_counter() - t
        size = os.path.getsize(out) if proc.returncode == 0 else 0
    return [
        f"`dbdviz simulate --no-snapshots --replicates {reps} --scheduler local` "
        f"(paper): exit {proc.returncode}, {wall:.0f} s, file {size / 2**30:.2f} GiB; "
        f"peak resident memory of the process tree {peak_sum / 2**30:.2f} GiB "
        f"(target < 2 GB), largest process {peak_one / 2**30:.2f} GiB. The "
        f"in-process ensemble alone would hold {reps * 501 * 11 * 8 / 2**30:.2f} GiB "
        "of observables.",
    ]


def regime_map() -> list[str]:
    """The dashboard's default map (8 x 6 cells x 50 paper replicates) through the
    component and a warm 2-worker cluster, as after opening the tab."""
    from dbdviz.ui.cluster import SharedCluster
    from dbdviz.ui.components.regime_map import RegimeMap

    cluster = SharedCluster("local", n_workers=2).start()
    try:
        t = time.perf_counter()
        cluster.client()
        ready = time.perf_counter() - t
        m = RegimeMap(cluster=cluster)
        cells = m.x_cells * m.y_cells
        state = m.run().wait(timeout=1200)
    finally:
        cluster.close()
    return [
        f"Regime map, default grid ({m.x_cells} x {m.y_cells} cells x {m.replicates} "
        f"paper replicates, 500 steps; closures per cell), 2-worker LocalCluster: "
        f"{state}, first cell after {m.first_cell_seconds:.1f} s, all {cells} cells "
        f"in {m.seconds:.1f} s (targets 5 s and 60 s); the cluster was ready "
        f"{ready:.1f} s after it was started (opening the tab).",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--mem-reps", type=int, default=100_000)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-map", action="store_true")
    args = ap.parse_args()
    lines: list[str] = []
    if not args.skip_speed:
        lines += speed(args.reps, args.repeat) + [""]
    if not args.skip_map:
        lines += regime_map() + [""]
    if not args.skip_memory:
        lines += memory(args.mem_reps)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
