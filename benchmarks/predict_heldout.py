"""Does the learned closure predict? Held-out initial counts (issue 18).

    NUMBA_NUM_THREADS=1 python benchmarks/predict_heldout.py data
    python benchmarks/predict_heldout.py ...

Training set: a 3 x 3 grid of initial counts X0, Y0 in {50, 150, 250} (paper rates,
40 x 40, 500 steps, 100 replicates each, data seeds 100 + i); held-out initial counts
inside the grid, each with a reference ensemble of 2000 replicates (no snapshots).
Cached under --cache (default /work/notes/i18data/<simulator commit>).
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
#: Held-out counts created in session 9 (experiments/16) before the survivors' path
#: fit was tuned and scored only after its settings were fixed (``run --sealed``).
SEALED = [(80, 120), (210, 110), (130, 65)]
#: Held-out counts of session 10 in the prey-poor, predator-rich band, chosen before
#: any result on them (docs/experiments/20) and scored once (``run --new-sealed``).
NEW_SEALED = [(70, 110), (100, 140), (65, 190)]
#: Held-out counts of session 11, drawn before any result (docs/experiments/22):
#: numpy.random.default_rng(2026120711), uniform in 60..140 x 100..200 (``run
#: --sealed11``); scored once with the default and the group paths.
SEALED11 = [(97, 106), (131, 159), (68, 186)]
#: Held-out counts of session 12, drawn before any result (docs/experiments/24):
#: ``rng = numpy.random.default_rng(2026120812)``, ``rng.integers(60, 141, 3)``
#: then ``rng.integers(100, 201, 3)`` (``run --sealed12``); scored once.
SEALED12 = [(112, 122), (91, 136), (103, 172)]
#: Held-out counts of session 13, drawn before any result (docs/experiments/25):
#: ``rng = numpy.random.default_rng(2026120813)``, ``rng.integers(60, 141, 3)``
#: then ``rng.integers(100, 201, 3)`` (``run --sealed13``); scored once.
SEALED13 = [(113, 160), (60, 182), (88, 105)]
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


def floor_ensemble(x0: int, y0: int, cache: str):
    """An independent 100-replicate ensemble of a held-out count (seed 9000 + ...):
    its distance from the reference is the noise floor of a 100-replicate training
    set there."""
    from dbdviz.config import preset
    from dbdviz.moments import read_moment_table
    from dbdviz.simulate import simulate

    p = os.path.join(cache, f"floor_{x0}_{y0}.csv")
    if os.path.exists(p):
        return read_moment_table(p)
    cfg = preset(
        "paper", seed=9000 + 7 * x0 + y0, init_x=x0, init_y=y0, snapshots=False
    )
    m = simulate(cfg, threads=1).moments()
    m.to_csv(p)
    return m


def truncated(e, steps: int):
    """The ensemble's first ``steps`` steps (a training set that ends earlier)."""
    import dataclasses

    cfg = e.config.copy() if hasattr(e.config, "copy") else e.config
    cfg = type(e.config)(**{**e.config.to_dict(), "steps": steps})
    return dataclasses.replace(
        e,
        config=cfg,
        t=e.t[: steps + 1],
        observables=e.observables[:, : steps + 1],
        snapshots=None,
    )


def pct(d: dict) -> list[float]:
    return [round(100 * d[o], 1) for o in OBS]


def run(
    cache: str,
    chains: int,
    out: str | None,
    horizon: int,
    model_out: str | None,
    cases=HELDOUT,
    model_in: str | None = None,
) -> dict:
    """Train on the grid (to ``horizon``), predict every held-out count to t = 500,
    score learned / mean-field / pair / floor against the references ("learned":
    the model's default form; with a two-phase model also "one-path")."""
    import json
    import warnings

    from dbdviz.closures import mean_field, pair_approximation
    from dbdviz.compare import nrmse
    from dbdviz.config import preset
    from dbdviz.dbd import evaluate, predict, train_multi

    ens = [train_ensemble(x, y, cache) for x, y in GRID]
    if horizon < 500:
        ens = [truncated(e, horizon) for e in ens]
    t0 = time.perf_counter()
    if model_in:
        from dbdviz.dbd import DBDModel

        model = DBDModel.load(model_in)
    else:
        model = train_multi(ens, seed=0)
    secs = time.perf_counter() - t0
    if model_out:
        model.save(model_out)
    forms = {"learned": None}
    if model.mixture is not None:
        forms["one-path"] = "one-path"
    t_lo = 0 if horizon == 500 else horizon
    res = {"train_seconds": secs, "horizon": horizon, "heldout": {}, "training": {}}
    print(f"train_multi: {secs:.1f} s, window t = {t_lo}..500", flush=True)
    hdr = "case        what     " + " ".join(f"{o:>6}" for o in OBS)
    print(hdr)
    for x0, y0 in cases:
        ref = reference(x0, y0, cache)
        cfg = preset("paper", init_x=x0, init_y=y0)
        row = {}
        for name, form in forms.items():
            t1 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p = predict(model, cfg, chains=chains, seed=0, form=form)
            row[name] = pct(nrmse(p, ref, OBS, t_lo, 500))
            if name == "learned":
                ps, pl = time.perf_counter() - t1, p
        p = pl
        row |= {
            "mean-field": pct(
                nrmse(mean_field(cfg), ref, OBS[:2], t_lo, 500)
                | {o: float("nan") for o in OBS[2:]}
            ),
            "pair": pct(nrmse(pair_approximation(cfg), ref, OBS, t_lo, 500)),
            "floor": pct(nrmse(floor_ensemble(x0, y0, cache), ref, OBS, t_lo, 500)),
            "left_at": p.left_at,
            "max_distance": float(p.distance.max()),
            "predict_seconds": ps,
        }
        res["heldout"][f"{x0},{y0}"] = row
        for k in (*forms, "mean-field", "pair", "floor"):
            print(f"{x0:3d},{y0:3d}    {k:10s}" + " ".join(f"{v:6.1f}" for v in row[k]))
        print(
            f"            left at {p.left_at}, max distance {row['max_distance']:.2f}"
            f", predict {ps:.1f} s",
            flush=True,
        )
    if horizon == 500 and cases is HELDOUT:
        for x0, y0 in (GRID[4], GRID[0], GRID[8]):
            ref = reference(x0, y0, cache, BIG_TRAIN)
            cfg = preset("paper", init_x=x0, init_y=y0)
            row = {}
            for name, form in forms.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p = predict(model, cfg, chains=chains, seed=0, form=form)
                row["predicted" if form is None else name] = pct(
                    nrmse(p, ref, OBS, 0, 500)
                )
            e = ens[GRID.index((x0, y0))]
            row["floor"] = pct(nrmse(e.moments(), ref, OBS, 0, 500))
            if (x0, y0) == GRID[0]:
                row["replay"] = pct(nrmse(evaluate(model).table, ref, OBS, 0, 500))
            res["training"][f"{x0},{y0}"] = row
            for k, v in row.items():
                print(f"{x0:3d},{y0:3d}*   {k:10s}" + " ".join(f"{x:6.1f}" for x in v))
    if out:
        with open(out, "w") as f:
            json.dump(res, f, indent=1)
    return res


RATE_BOX = {"birth": 0.025, "death": 0.06, "predation": 0.4}
#: Held-out rates inside the box: its centre (the paper's) and three settings away
#: from it (the last two since 2026-12-07 11:00; docs/experiments/15).
RATE_HELDOUT = [
    {"birth": 0.025, "death": 0.06, "predation": 0.4},
    {"birth": 0.03, "death": 0.05, "predation": 0.35},
    {"birth": 0.02, "death": 0.07, "predation": 0.45},
    {"birth": 0.03, "death": 0.07, "predation": 0.32},
]
#: Times at which the fraction of replicates without predators is reported.
EXTINCTION_TIMES = (100, 200, 300, 400, 500)


def extinct(observables) -> list[float]:
    """Fraction of replicates with Y = 0 at :data:`EXTINCTION_TIMES`."""
    y = observables[:, :, 1]
    return [round(float((y[:, t] == 0).mean()), 3) for t in EXTINCTION_TIMES]


def rate_corners(cache: str) -> list:
    """The 8 training ensembles at the corners of the box (seed 300 + i)."""
    import itertools

    from dbdviz.config import preset
    from dbdviz.simulate import Ensemble, simulate

    ens = []
    for i, f in enumerate(itertools.product((0.7, 1.3), repeat=3)):
        r = {k: round(v * g, 6) for (k, v), g in zip(RATE_BOX.items(), f, strict=True)}
        p = os.path.join(cache, f"rates_{i}.npz")
        if os.path.exists(p):
            ens.append(Ensemble.load(p))
        else:
            e = simulate(preset("paper", seed=300 + i, snapshots=False, **r), threads=1)
            e.save(p)
            ens.append(e)
    return ens


def rate_reference(j: int, cache: str):
    """The 2000-replicate reference of ``RATE_HELDOUT[j]`` (seed 7000 + j), its
    extinction fractions (simulated again when only the table is cached: the same
    seed gives the same ensemble) and the 100-replicate floor (seed 7100 + j)."""
    import json

    from dbdviz.config import preset
    from dbdviz.moments import read_moment_table
    from dbdviz.simulate import simulate

    cfg = preset("paper", **RATE_HELDOUT[j])
    p = os.path.join(cache, f"rates_ref_{j}.csv")
    px = os.path.join(cache, f"rates_ref_{j}_extinct.json")
    ref = read_moment_table(p) if os.path.exists(p) else None
    if ref is None or not os.path.exists(px):
        e = simulate(
            cfg.copy(replicates=BIG, seed=7000 + j, snapshots=False), threads=1
        )
        if ref is None:
            ref = e.moments()
            ref.to_csv(p)
        with open(px, "w") as f:
            json.dump(extinct(e.observables), f)
    with open(px) as f:
        ext = json.load(f)
    pf = os.path.join(cache, f"rates_floor_{j}.csv")
    if os.path.exists(pf):
        floor = read_moment_table(pf)
    else:
        floor = simulate(cfg.copy(seed=7100 + j, snapshots=False), threads=1).moments()
        floor.to_csv(pf)
    return ref, ext, floor


def rates(cache: str, chains: int, out: str | None) -> dict:
    """The rates tier: 8 ensembles at the corners of a +-30 % box of rates around
    the paper's (100 X + 100 Y, 100 replicates each), held-out rates inside."""
    import json
    import warnings

    from dbdviz.closures import pair_approximation
    from dbdviz.compare import nrmse
    from dbdviz.config import preset
    from dbdviz.dbd import predict, train_multi

    ens = rate_corners(cache)
    for e in ens:
        r = [getattr(e.config, k) for k in RATE_BOX]
        print(f"corner {r}: Y = 0 at t = 100..500: {extinct(e.observables)}")
    t0 = time.perf_counter()
    model = train_multi(ens, seed=0)
    res = {"train_seconds": time.perf_counter() - t0, "heldout": {}}
    print(f"train_multi (8 rate corners): {res['train_seconds']:.1f} s", flush=True)
    for j, r in enumerate(RATE_HELDOUT):
        cfg = preset("paper", **r)
        ref, ext, floor = rate_reference(j, cache)
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pr = predict(model, cfg, chains=chains, seed=0)
        row = {
            "learned": pct(nrmse(pr, ref, OBS, 0, 500)),
            "pair": pct(nrmse(pair_approximation(cfg), ref, OBS, 0, 500)),
            "floor": pct(nrmse(floor, ref, OBS, 0, 500)),
            "extinct": ext,
            "warning": pr.warning,
            "max_distance": float(pr.distance.max()),
            "predict_seconds": time.perf_counter() - t1,
        }
        res["heldout"][json.dumps(r)] = row
        for k in ("learned", "pair", "floor"):
            print(f"{r}  {k:8s}" + " ".join(f"{v:6.1f}" for v in row[k]), flush=True)
        print(
            f"    Y = 0 at t = 100..500: {ext}; max distance "
            f"{row['max_distance']:.2f}; {pr.warning}",
            flush=True,
        )
    if out:
        with open(out, "w") as f:
            json.dump(res, f, indent=1)
    return res


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["data", "run", "rates"])
    ap.add_argument("--cache", default="/work/notes/i18data")
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument("--horizon", type=int, default=500)
    ap.add_argument("--json")
    ap.add_argument("--model-out", help="save the trained model there (run)")
    ap.add_argument("--model", help="score this model instead of training (run)")
    ap.add_argument(
        "--sealed", action="store_true", help="score the SEALED counts (run)"
    )
    ap.add_argument(
        "--new-sealed",
        action="store_true",
        help="score the NEW_SEALED counts of session 10 (run)",
    )
    ap.add_argument(
        "--sealed11",
        action="store_true",
        help="score the SEALED11 counts of session 11 (run)",
    )
    ap.add_argument(
        "--sealed12",
        action="store_true",
        help="score the SEALED12 counts of session 12 (run)",
    )
    ap.add_argument(
        "--sealed13",
        action="store_true",
        help="score the SEALED13 counts of session 13 (run)",
    )
    ap.add_argument(
        "--passage",
        choices=("clustering", "constant", "pure", "none"),
        help="the extinct fraction: the first-passage hazard with this calibration, "
        "or none (the hazard on theta); default: mixture_fit.PASSAGE",
    )
    ap.add_argument(
        "--path-fit",
        type=int,
        choices=(0, 1),
        help="1/0: the survivors' law with/without the path fit (default: "
        "mixture_fit.PATH_FIT)",
    )
    ap.add_argument(
        "--groups",
        help="t0,groups,column: group paths for the survivors' law (default: "
        "mixture_fit.GROUPS; 'none': without)",
    )
    ap.add_argument(
        "--group-weight",
        type=float,
        help="the group paths' weight exponent (default: mixture_fit.GROUP_POWER)",
    )
    ap.add_argument(
        "--group-correct",
        type=int,
        choices=(0, 1),
        help="1/0: the path fit corrects the group paths' centers too / only the "
        "ensembles' (default: mixture_fit.GROUP_CORRECT)",
    )
    ap.add_argument(
        "--singlet-weight",
        type=float,
        help="the path fit's singlet constraint weight (default: "
        "pathfit.SINGLET_WEIGHT; docs/experiments/24)",
    )
    ap.add_argument("--singlet-window", type=int, help="its window (steps)")
    ap.add_argument("--singlet-rows", choices=("Y", "XY"), help="its rows")
    ap.add_argument(
        "--collocation",
        help="x,y;x,y;...: initial counts of alive paths without data carrying the "
        "singlet rows (default: mixture_fit.COLLOCATION)",
    )
    ap.add_argument(
        "--balance-gain",
        type=float,
        help="the predators' balance inside the path fit's integration and the "
        "prediction's, its gain (default: pathfit.BALANCE_GAIN, 0: off; "
        "docs/experiments/25)",
    )
    a = ap.parse_args(argv)
    cache = cache_dir(a.cache)
    if a.balance_gain is not None:
        from dbdviz.dbd import pathfit

        pathfit.BALANCE_GAIN = a.balance_gain
    if a.singlet_weight is not None or a.singlet_window or a.singlet_rows:
        from dbdviz.dbd import pathfit

        if a.singlet_weight is not None:
            pathfit.SINGLET_WEIGHT = a.singlet_weight
        if a.singlet_window:
            pathfit.SINGLET_WINDOW = a.singlet_window
        if a.singlet_rows:
            pathfit.SINGLET_ROWS = a.singlet_rows
    if a.collocation is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.COLLOCATION = (
            None
            if a.collocation == "none"
            else [tuple(int(v) for v in c.split(",")) for c in a.collocation.split(";")]
        )
    if a.group_correct is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.GROUP_CORRECT = bool(a.group_correct)
    if a.groups is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.GROUPS = (
            None if a.groups == "none" else tuple(int(v) for v in a.groups.split(","))
        )
    if a.group_weight is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.GROUP_POWER = a.group_weight
    if a.path_fit is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.PATH_FIT = bool(a.path_fit)
    if a.passage is not None:
        from dbdviz.dbd import mixture_fit

        mixture_fit.PASSAGE = None if a.passage == "none" else a.passage
    if a.what == "run":
        cases = (
            SEALED13
            if a.sealed13
            else SEALED12
            if a.sealed12
            else SEALED11
            if a.sealed11
            else NEW_SEALED
            if a.new_sealed
            else SEALED
            if a.sealed
            else HELDOUT
        )
        run(cache, a.chains, a.json, a.horizon, a.model_out, cases, a.model)
        return
    if a.what == "rates":
        rates(cache, a.chains, a.json)
        return
    if a.what == "data":
        t0 = time.perf_counter()
        for x0, y0 in GRID:
            train_ensemble(x0, y0, cache)
            print("train", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)
        for x0, y0 in HELDOUT + SEALED + NEW_SEALED + SEALED11 + SEALED12 + SEALED13:
            reference(x0, y0, cache)
            floor_ensemble(x0, y0, cache)
            print("ref", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)
        for x0, y0 in GRID:
            reference(x0, y0, cache, BIG_TRAIN)
            print("ref-train", x0, y0, f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
