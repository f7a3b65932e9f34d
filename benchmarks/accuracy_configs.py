"""Accuracy of the DBD trainer's defaults on several lattice configurations (issue 5).

For every configuration: 100 training replicates (data seed ``s``) and 1000
independent replicates (seed 2024, no snapshots) are simulated, a model is trained
with the defaults (``Trainer(data, seed=0).run()``, optionally with TrainConfig
overrides; the defaults end with the refinement phase, ``--set refine=off`` measures
the adjoint training alone, as the tables of docs/experiments/ (01-06) before the
refinement did) and evaluated with ``dbdviz.dbd.evaluate(model)`` (defaults). Printed
per configuration: NRMSE (%) over t = 0..T of X, Y, nnXX, nnXY, nnYY against the 1000,
the noise floor (the 100 training replicates against the 1000), the model's own error
("fit": the evaluation against the 100 training replicates), the NRMSE per time block,
and the training seconds.

    NUMBA_NUM_THREADS=1 python benchmarks/accuracy_configs.py \
        [--configs paper0,fast] [--set key=value ...] [--json out.json] [--cache DIR]

Configurations (``preset("paper", **overrides)``):

* ``paper0``, ``paper1``, ``paper2``: the paper preset, data seeds 0, 1, 2;
* ``small``: 30 x 30 with 56 + 56 initial (the paper's density), paper rates;
* ``fast``: 40 x 40, birth 0.05, death 0.12 (twice the paper's rates);
* ``slow``: 40 x 40, birth 0.0125, death 0.03, predation 0.2 (half of them);
* ``large``: 60 x 60 with 225 + 225 initial, paper rates;
* ``tiny``: 20 x 20 with 25 + 25 initial, paper rates (Y dies out in 37 % of the
  replicates by t = 250, 80 % by t = 500);
* ``p08``: 30 x 30, 150 X + 30 Y initial, predation 0.8, 300 steps.

``--set hold_tolerance=2 --set max_holds=8`` gives the adaptive window schedule,
``--set replay_windows=1 --set replay_span=10`` the replay of the last window length
(docs/experiments/03-04); ``--seed`` changes the trainer's seed (run-to-run spread).

Simulated ensembles are cached as .npz under ``--cache`` (default
``/tmp/dbdviz_accuracy``), in a subdirectory named after the last git commit of
``dbdviz/simulate`` (a kernel change draws other random streams), so variants are
compared on the same data and a simulator change regenerates them.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY"]

CONFIGS: dict[str, tuple[int, dict]] = {
    "paper0": (0, {}),
    "paper1": (1, {}),
    "paper2": (2, {}),
    "small": (0, dict(size=30, init_x=56, init_y=56)),
    "fast": (0, dict(birth=0.05, death=0.12)),
    "slow": (0, dict(birth=0.0125, death=0.03, predation=0.2)),
    "large": (0, dict(size=60, init_x=225, init_y=225)),
    # two of the C++ cross-check configurations of tests/data/cpp
    "tiny": (0, dict(size=20, init_x=25, init_y=25)),
    "p08": (0, dict(size=30, init_x=150, init_y=30, predation=0.8, steps=300)),
}
BIG_SEED = 2024


def _parse_value(v: str):
    for conv in (int, float):
        try:
            return conv(v)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(v, v)


def simulator_version() -> str:
    """Short hash of the last commit touching dbdviz/simulate ("unknown" outside a
    git checkout), followed by "-dirty" when the simulator has local changes."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    git = ["git", "-C", root]
    try:
        h = subprocess.run(
            [*git, "log", "-1", "--format=%h", "--", "dbdviz/simulate"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "dbdviz/simulate"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return (h or "unknown") + ("-dirty" if dirty else "")


def ensembles(name: str, cache: str):
    """(training ensemble with snapshots, moments of the 1000 replicates)."""
    from dbdviz.config import preset
    from dbdviz.simulate import Ensemble, simulate

    seed, ov = CONFIGS[name]
    cache = os.path.join(cache, simulator_version())
    os.makedirs(cache, exist_ok=True)
    p_train = os.path.join(cache, f"{name}_train.npz")
    p_big = os.path.join(cache, f"{name}_big.npz")
    if os.path.exists(p_train):
        data = Ensemble.load(p_train)
    else:
        data = simulate(preset("paper", seed=seed, **ov), threads=1)
        data.save(p_train)
    if os.path.exists(p_big):
        big = Ensemble.load(p_big)
    else:
        cfg = preset("paper", seed=BIG_SEED, replicates=1000, snapshots=False, **ov)
        big = simulate(cfg, threads=1)
        big.save(p_big)
    return data, big.moments()


def blocks(T: int, n: int = 5) -> list[tuple[int, int]]:
    edges = np.linspace(0, T, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def run_one(name: str, overrides: dict, cache: str, seed: int = 0) -> dict:
    from dbdviz.compare import nrmse
    from dbdviz.dbd import evaluate
    from dbdviz.dbd.train import Trainer, default_configs

    data, big = ensembles(name, cache)
    T = int(data.t[-1])
    dc, tc = default_configs(**overrides)
    t0 = time.perf_counter()
    tr = Trainer(data, dc, tc, seed=seed)
    model = tr.run()
    secs = time.perf_counter() - t0
    ev = evaluate(model)
    train_m = data.moments()
    out = {
        "config": name,
        "overrides": overrides,
        "trainer_seed": seed,
        "steps": tr.step_index,
        "seconds": secs,
        "nrmse": nrmse(ev.table, big, OBS, 0, T),
        "floor": nrmse(train_m, big, OBS, 0, T),
        "fit": nrmse(ev.table, train_m, OBS, 0, T),
        "blocks": {f"{a}-{b}": nrmse(ev.table, big, OBS, a, b) for a, b in blocks(T)},
        "fit_blocks": {
            f"{a}-{b}": nrmse(ev.table, train_m, OBS, a, b) for a, b in blocks(T)
        },
    }
    return out


def fmt(d: dict) -> str:
    return " / ".join(f"{100 * d[o]:.1f}" for o in OBS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="TrainConfig override (repeatable)",
    )
    ap.add_argument("--json", help="append the results (one JSON line per run)")
    ap.add_argument("--cache", default="/tmp/dbdviz_accuracy")
    ap.add_argument("--seed", type=int, default=0, help="trainer seed")
    ap.add_argument("--blocks", action="store_true", help="print per-block NRMSE")
    args = ap.parse_args()
    from dbdviz._numba import set_threads
    from dbdviz._warmup import warmup

    set_threads(1)
    overrides = {}
    for kv in args.set:
        k, v = kv.split("=", 1)
        overrides[k] = _parse_value(v)
    warmup()
    print(f"overrides: {overrides or 'none (defaults)'}")
    print("| config | steps | s | X | Y | nnXX | nnXY | nnYY | floor | fit |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results = []
    for name in args.configs.split(","):
        r = run_one(name, overrides, args.cache, args.seed)
        results.append(r)
        n, f = r["nrmse"], r["floor"]
        cells = " | ".join(f"{100 * n[o]:.1f} ({100 * f[o]:.1f})" for o in OBS)
        print(
            f"| {name} | {r['steps']} | {r['seconds']:.1f} | {cells} "
            f"| {fmt(f)} | {fmt(r['fit'])} |",
            flush=True,
        )
        if args.blocks:
            for k, v in r["blocks"].items():
                print(f"|   t {k} | | | {fmt(v)} | fit {fmt(r['fit_blocks'][k])} |")
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps(r) + "\n")
    mean = {o: np.mean([r["nrmse"][o] for r in results]) for o in OBS}
    fl = {o: np.mean([r["floor"][o] for r in results]) for o in OBS}
    print(f"| mean | | | {fmt(mean)} | floor {fmt(fl)} |")


if __name__ == "__main__":
    main()
