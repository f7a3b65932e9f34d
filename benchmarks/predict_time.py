"""Beyond the trained times (issue 18, the time tier; docs/experiments/17).

    NUMBA_NUM_THREADS=1 python benchmarks/predict_time.py oracle MODEL.npz
    NUMBA_NUM_THREADS=1 python benchmarks/predict_time.py sealed MODEL.npz [...]

``oracle``: the two-phase prediction of a model trained to ``--t-lo`` (default 300)
on the 3 x 3 grid of ``predict_heldout.py``, taken apart on t = t_lo..500 at the five
held-out counts: every piece replaced by its truth (the extinct fraction ``q`` and
the survivors' means of 1000 other replicates, their fitted survivors' path:
``paths_alive.npz`` of docs/experiments/11), NRMSE (%) of X / Y / nnXX / nnXY / nnYY
against the 2000-replicate references.

``sealed``: held-out counts that no screen looked at (default 80,200 and 140,130),
references of 2000 replicates and 100-replicate floors cached under ``--cache``;
every model given is scored (two-phase, one-path) with the pair approximation and
the floor, over t = t_lo..500.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY"]
SEALED = [(80, 200), (140, 130)]
DATA = "/work/notes/i18data/3ae73b1"


def _nrmse(a: np.ndarray, r: np.ndarray, lo: int, hi: int = 500) -> np.ndarray:
    s = slice(lo, hi + 1)
    return 100 * np.sqrt(((a[s] - r[s]) ** 2).mean(axis=0)) / r[s].mean(axis=0)


def _fmt(v) -> str:
    return " / ".join(f"{x:.1f}" for x in v)


def _array(table) -> np.ndarray:
    return np.column_stack([table.mean[o] for o in OBS])


def oracle(model_path: str, t_lo: int, data: str, chains: int) -> None:
    """The decomposition of the module notes (printed)."""
    from predict_heldout import HELDOUT, reference

    from dbdviz.dbd.model import DBDModel
    from dbdviz.dbd.predict import sample_moments

    al = np.load(os.path.join(data, "paths_alive.npz"))
    idx, every = al["idx"], np.arange(501)
    model = DBDModel.load(model_path)
    mix, dbm = model.mixture, model.dbm()
    n = float(dbm.n_sites)

    def sample(theta):
        tab = sample_moments(
            dbm, np.ascontiguousarray(theta), every * 1.0, chains=chains, sweeps=9
        )
        return _array(tab)

    for k, (x, y) in enumerate(HELDOUT):
        ref = _array(reference(x, y, data))
        q_true = 1.0 - al["p_alive"][9 + k]
        m_true, th_fit = (
            np.column_stack([np.interp(every, idx, a[9 + k][:, j]) for j in range(5)])
            for a in (al["targets"], al["theta"])
        )
        th = mix.integrate(model.rhs, dbm.initial_theta(x / n, y / n), 500, model.dt)
        q = mix.extinct(th)
        alive, fitted = sample(th), sample(th_fit)
        rows = {
            "default (model alive, hazard q)": (alive, q),
            "model alive + true q": (alive, q_true),
            "data alive + hazard q": (m_true, q),
            "data alive + true q": (m_true, q_true),
            "fitted alive path + true q": (fitted, q_true),
        }
        sel = [t_lo, 400, 500]
        print(
            f"== {x},{y}: q at t = {sel}: hazard {np.round(q[sel], 3).tolist()}, "
            f"true {np.round(q_true[sel], 3).tolist()}"
        )
        for name, (a, qq) in rows.items():
            print(f"  {name:32s} {_fmt(_nrmse(mix.mix(a, a * 0, qq)[0], ref, t_lo))}")
        print(
            f"  {'alive part vs data alive':32s} {_fmt(_nrmse(alive, m_true, t_lo))}"
            f" (fitted path {_fmt(_nrmse(fitted, m_true, t_lo))})"
        )
        print(
            "  survivors' Y, t = 300..500 every 25: model "
            f"{np.round(alive[300::25, 1]).astype(int).tolist()}, data "
            f"{np.round(m_true[300::25, 1]).astype(int).tolist()}",
            flush=True,
        )


def sealed(models: list[str], t_lo: int, cache: str, chains: int, counts) -> None:
    """Score every model on the sealed counts (printed)."""
    from predict_heldout import floor_ensemble, reference

    from dbdviz.closures import pair_approximation
    from dbdviz.config import preset
    from dbdviz.dbd import predict
    from dbdviz.dbd.model import DBDModel

    os.makedirs(cache, exist_ok=True)
    loaded = [(m, DBDModel.load(m)) for m in models]
    for x, y in counts:
        ref = _array(reference(x, y, cache))
        cfg = preset("paper", init_x=x, init_y=y)
        print(f"== {x},{y} (t = {t_lo}..500)")
        for name, model in loaded:
            for form in ("two-phase", "one-path"):
                if form == "two-phase" and model.mixture is None:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    p = predict(model, cfg, chains=chains, seed=0, form=form)
                print(
                    f"  {os.path.basename(name)} {form:9s} "
                    f"{_fmt(_nrmse(_array(p), ref, t_lo))}  left at {p.left_at}, "
                    f"max distance {float(p.distance.max()):.2f}"
                )
        print(f"  pair {_fmt(_nrmse(_array(pair_approximation(cfg)), ref, t_lo))}")
        floor = _array(floor_ensemble(x, y, cache))
        print(f"  floor {_fmt(_nrmse(floor, ref, t_lo))}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["oracle", "sealed"])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--t-lo", type=int, default=300)
    ap.add_argument("--data", default=DATA, help="the held-out cache (oracle)")
    ap.add_argument("--cache", default="/work/notes/cache9/i18t/sealed")
    ap.add_argument("--chains", type=int, default=100)
    ap.add_argument(
        "--counts",
        default=";".join(f"{x},{y}" for x, y in SEALED),
        help="sealed counts, 'X,Y;X,Y'",
    )
    a = ap.parse_args(argv)
    if a.what == "oracle":
        for m in a.models:
            oracle(m, a.t_lo, a.data, a.chains)
        return
    counts = [tuple(int(v) for v in c.split(",")) for c in a.counts.split(";")]
    sealed(a.models, a.t_lo, a.cache, a.chains, counts)


if __name__ == "__main__":
    main()
