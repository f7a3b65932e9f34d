"""Benchmark of the DBD evaluation (ALGORITHM.md 6.2): paper architecture (depth 2,
40 x 40, q = 4), 500 time points x 100 chains, 9 sweeps + the final probability step.

Run ``python benchmarks/bench_evaluate.py [--time-points 500] [--chains 100]``; prints
Markdown tables. The reference C++ (sample_traj) needs about 7.7 min for this job.
The trajectory is synthetic but follows the qualitative ranges of ALGORITHM.md 6.3.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dbdviz._numba import get_threads, set_threads
from dbdviz._warmup import warmup
from dbdviz.config import DBMConfig
from dbdviz.dbd.evaluate import lowpass, sample_trajectory
from dbdviz.dbm import DBM, _observables


def paper_like_theta(T: int) -> np.ndarray:
    """Parameter trajectory in the ranges of the learned paper model (6.3)."""
    s = np.arange(T) / 500.0
    th = np.zeros((T, 10))
    th[:, 0] = -2.63 - 0.9 * s + 0.15 * np.sin(2 * np.pi * s * 2.2)
    th[:, 1] = -2.63 - 0.8 * s + 0.15 * np.cos(2 * np.pi * s * 2.2)
    th[:, 2] = -0.2 + 0.4 * np.sin(2 * np.pi * s * 1.5)
    th[:, 3] = -0.2 + 0.3 * np.cos(2 * np.pi * s * 1.5)
    th[:, 4] = 1.1 * s
    th[:, 5] = 0.5 * s
    th[:, 6] = 1.35 * (1 - np.exp(-4 * s))
    th[:, 7] = 0.2 + 0.7 * np.sin(2 * np.pi * s * 2.2)
    th[:, 8] = -1.7 * s
    th[:, 9] = -1.0 * s
    return lowpass(th)


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-points", type=int, default=500)
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--sweeps", type=int, default=9)
    args = ap.parse_args()
    warmup("evaluate")
    dbm = DBM(DBMConfig(depth=2, visible_couplings=False), 40)
    theta = paper_like_theta(args.time_points)
    n_thr = get_threads()

    print(
        f"Evaluation: paper architecture, {args.time_points} time points x "
        f"{args.chains} chains, {args.sweeps} sweeps + final probability step\n"
    )
    print("| init | threads | wall (s) | CPU (s) | X(t=499) |")
    print("|---|---|---|---|---|")
    for init in ("random", "carry"):
        for threads in sorted({1, n_thr}):
            prev = set_threads(threads)
            try:
                ev, wall, cpu = timed(
                    lambda init=init: sample_trajectory(
                        dbm,
                        theta,
                        chains=args.chains,
                        sweeps=args.sweeps,
                        seed=0,
                        init=init,
                    )
                )
            finally:
                set_threads(prev)
            print(
                f"| {init} | {threads} | {wall:.1f} | {cpu:.1f} | "
                f"{ev.table.mean['X'][-1]:.1f} |"
            )

    # final step + observables + statistics for 100 chains: numpy path vs kernels
    states = dbm.init_chains(args.chains, 1)
    dbm.sample(theta[-1], states, 9, seed=2)

    def numpy_path():
        p = dbm.final_probabilities(theta[-1], states)
        return dbm.visible_observables(p), dbm.param_statistics(p)

    def unfused():
        p = dbm.final_probabilities(theta[-1], states)
        o = np.empty((p.shape[0], 11))
        M = np.empty((p.shape[0], dbm.n_params))
        _observables._visible_observables(p, o)
        _observables._param_statistics(
            p, dbm.side, dbm.bias_index, dbm.weight_layout, dbm.coupling_index, M
        )
        return o, M

    def fused():
        _, prob = dbm.tables(theta[-1])
        o = np.empty((states.shape[0], 11))
        M = np.empty((states.shape[0], dbm.n_params))
        rows = np.zeros(states.shape[0], np.int64)
        _observables._final_moments(
            states,
            prob,
            rows,
            dbm.side,
            dbm.coupled,
            dbm.bias_index,
            dbm.weight_layout,
            dbm.coupling_index,
            o,
            M,
        )
        return o, M

    print(
        f"\nFinal step + 11 observables + 10 statistics, {args.chains} chains, "
        "one time point (best of 5)\n"
    )
    print("| path | threads | wall (ms) |")
    print("|---|---|---|")
    for name, fn in (
        ("numpy (final_probabilities + numpy sums)", numpy_path),
        ("final_probabilities + numba kernels", unfused),
        ("fused numba kernel (used)", fused),
    ):
        for threads in sorted({1, n_thr}):
            prev = set_threads(threads)
            try:
                fn()
                best = min(timed(fn)[1] for _ in range(5))
            finally:
                set_threads(prev)
            print(f"| {name} | {threads} | {1e3 * best:.1f} |")
    sweep = lambda: dbm.sample(theta[-1], states, args.sweeps, seed=3)  # noqa: E731
    for threads in sorted({1, n_thr}):
        prev = set_threads(threads)
        try:
            sweep()
            best = min(timed(sweep)[1] for _ in range(5))
        finally:
            set_threads(prev)
        print(
            f"| for comparison: {args.sweeps} sweeps | {threads} | {1e3 * best:.1f} |"
        )


if __name__ == "__main__":
    main()
