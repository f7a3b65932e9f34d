"""Timings of multi-ensemble training and prediction (issue 18).

    python benchmarks/bench_predict.py [--threads 1] [--cache /work/notes/i18data]

``train_multi`` on the 9 cached grid ensembles of ``predict_heldout.py`` (100
replicates each) and one ``predict`` (500 steps x 100 and x 10 chains), medians of
repeated runs (``--repeat``), wall and CPU seconds (CPU of this process: with
``--threads 1`` the single-thread cost, comparable on a loaded machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> None:
    from predict_heldout import GRID, cache_dir, train_ensemble

    from dbdviz._numba import set_threads
    from dbdviz.config import preset
    from dbdviz.dbd import predict, train_multi

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--repeat-train", type=int, default=3)
    ap.add_argument(
        "--ui", action="store_true", help="also the dashboard's re-prediction"
    )
    ap.add_argument("--cache", default="/work/notes/i18data")
    ap.add_argument(
        "--model",
        default=None,
        help="time predictions of this model (e.g. the cached multi_500.npz of "
        "predict_heldout.py) instead of training one",
    )
    a = ap.parse_args(argv)
    if a.threads:
        set_threads(a.threads)
    cache = cache_dir(a.cache)
    ens = [train_ensemble(x, y, cache) for x, y in GRID]
    # compile outside the timing
    train_multi(
        [e for e in ens[:2]], chains=2, iterations=1, stride=250, taps=0, seed=0
    )

    def timed(f, n):
        walls, cpus = [], []
        for _ in range(n):
            w, c = time.perf_counter(), time.process_time()
            out = f()
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
        return out, statistics.median(walls), statistics.median(cpus)

    if a.model:
        from dbdviz.dbd import DBDModel

        model = DBDModel.load(a.model)
    else:
        model, w, c = timed(lambda: train_multi(ens, seed=0), a.repeat_train)
        print(
            f"train_multi 9 x 100 replicates (median of {a.repeat_train}): wall "
            f"{w:.1f} s, CPU {c:.1f} s",
            flush=True,
        )
    cfg = preset("paper", init_x=160, init_y=160)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict(model, preset("paper", steps=5), chains=2)
        forms = ["two-phase", "one-path"] if model.mixture is not None else [None]
        for form in forms:
            for chains, what in ((100, ""), (10, " (the dashboard's re-prediction)")):
                _, w, c = timed(
                    lambda n=chains, f=form: predict(
                        model, cfg, chains=n, seed=0, form=f
                    ),
                    a.repeat,
                )
                print(
                    f"predict {form or ''} 500 steps x {chains} chains{what}, median "
                    f"of {a.repeat}: wall {w:.2f} s, CPU {c:.2f} s",
                    flush=True,
                )
        _, w, c = timed(lambda: model.rhs.integrate(model.theta0, 500, 1.0), a.repeat)
        print(f"  of which integrating F: wall {w:.2f} s", flush=True)
        if model.mixture is not None:
            _, w, c = timed(
                lambda: model.mixture.integrate(model.rhs, model.theta0, 500, 1.0),
                a.repeat,
            )
            print(f"  two-phase: integrating the blended F: wall {w:.2f} s", flush=True)
    if a.ui:
        ui_repredict(model, a.repeat, every=1)
        ui_repredict(model, a.repeat)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def ui_repredict(model, repeat: int, every: int | None = None) -> None:
    """The dashboard (server side, no browser): with "Re-predict on changes" on,
    move the X0 slider and time until the prediction reaches the session (the
    panel's ``first_draw_seconds``: job start -> the prediction handed to the
    plots)."""
    from dbdviz.ui.app import App
    from dbdviz.ui.jobs import JobState

    app = App("demo")
    app.session.config.param.update(size=40, steps=500, dt=1.0, init_x=150, init_y=150)
    app.session.model = model
    if every is not None:
        app.predict.live_every = every
    app.predict.live = True
    times = []
    for i in range(repeat + 1):
        w = time.perf_counter()
        app.session.config.init_x = 140 + i  # the slider move
        job = app.predict.job
        assert job is not None and job.wait(120) == JobState.FINISHED, job.error
        if i:  # the first one warms the closures' caches
            times.append((app.predict.first_draw_seconds, time.perf_counter() - w))
    med = statistics.median(t for t, _ in times)
    print(
        f"dashboard re-prediction after a slider move ({app.predict.live_chains} "
        f"chains, every {app.predict.live_every}. time point), median of {repeat}: "
        f"{med:.2f} s to the prediction in the session "
        f"(job start -> plots' data), {statistics.median(t for _, t in times):.2f} s "
        "to the end of the job (with the closures)",
        flush=True,
    )


if __name__ == "__main__":
    main()
