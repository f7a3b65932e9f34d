"""Static-path refinement of the DBD defaults, measured (issue 5).

For one configuration of ``accuracy_configs.py``: train the defaults without their
refinement phase (``Trainer(data, seed=0)`` with ``refine="off"``) and evaluate them,
then refine the model with
:func:`dbdviz.dbd.refine_static` (theta(t) fitted per time point by moment matching
under the evaluation's sampling procedure, low-passed, ``F`` refitted to the path's
velocities and re-integrated) and evaluate that.

Printed: NRMSE (%) X / Y / nnXX / nnXY / nnYY against the training data ("fit") and
against the 1000 independent replicates ("big"), and the seconds of each part.

    NUMBA_NUM_THREADS=2 python benchmarks/static_path.py paper0 \\
        [--iters N] [--chains C] [--lr R] [--taps K] [--fit-iters N] [--stride S]

(defaults: those of :func:`dbdviz.dbd.refine_static`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from accuracy_configs import OBS, ensembles  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    from dbdviz.dbd import refine as rf

    ap.add_argument("--iters", type=int, default=rf.ITERATIONS)
    ap.add_argument("--chains", type=int, default=rf.CHAINS)
    ap.add_argument("--lr", type=float, default=rf.LR)
    ap.add_argument("--taps", type=int, default=rf.TAPS)
    ap.add_argument("--fit-iters", type=int, default=rf.FIT_ITERATIONS)
    ap.add_argument("--fit-lr", type=float, default=rf.FIT_LR)
    ap.add_argument("--stride", type=int, default=rf.STRIDE)
    ap.add_argument("--cache", default="/tmp/dbdviz_accuracy")
    args = ap.parse_args()

    from dbdviz.compare import nrmse
    from dbdviz.dbd import Trainer, evaluate, refine_static
    from dbdviz.dbd.train import default_configs

    def fmt(d):
        return " / ".join(f"{100 * d[o]:.1f}" for o in OBS)

    data, big = ensembles(args.config, args.cache)
    tm = data.moments()
    T = int(data.t[-1])

    def report(label, table, secs):
        print(
            f"{label:38s} {secs:6.1f} s  fit {fmt(nrmse(table, tm, OBS, 0, T))}"
            f"  | big {fmt(nrmse(table, big, OBS, 0, T))}",
            flush=True,
        )

    print(f"{args.config}: floor {fmt(nrmse(tm, big, OBS, 0, T))}")
    c0 = time.perf_counter()
    tr = Trainer(data, *default_configs(refine="off"), seed=0)
    model = tr.run()
    report(
        "1. DBD defaults, adjoint only", evaluate(model).table, time.perf_counter() - c0
    )

    # 2-4. dbdviz.dbd.refine_static: per-time fit, low-pass, F refitted, integrated
    c0 = time.perf_counter()
    refined = refine_static(
        model,
        data,
        iterations=args.iters,
        chains=args.chains,
        lr=args.lr,
        taps=args.taps,
        fit_iterations=args.fit_iters,
        fit_lr=args.fit_lr,
        stride=args.stride,
    )
    secs = time.perf_counter() - c0
    resid = refined.meta["refine"]["residual"]
    report(f"2-4. refine_static (resid {resid:.3f})", evaluate(refined).table, secs)


if __name__ == "__main__":
    main()
