"""SHA-256 digests of the package's outputs for fixed seeds.

A refactor that claims "behaviour unchanged" runs this before and after and compares:
every digest must match (issue 12). Covered: ``simulate`` (the paper preset and the
other pick/birth modes), ``train`` with the measured defaults (API with no configs,
``default_configs`` and ``dbdviz train --data --out`` alone) and with the reference
protocol, a resumed run (checkpoints in both phases), ``evaluate`` of the trained
models (API and ``dbdviz evaluate``). Each run is small (about a minute in all on 2
cores) but exercises the adjoint phase and the refinement phase.

Usage::

    python scripts/check_identical.py OUT.json [--compare BEFORE.json]

Times (``elapsed``, ``seconds``) are left out of the digests; everything else a run
returns or writes is in them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

_TIMES = {"elapsed", "seconds", "created"}


def _feed(h, obj) -> None:
    """Hash ``obj`` (arrays, dicts, lists, scalars) in a canonical order; keys
    naming a time (``elapsed``, ``hist_elapsed`` ...) are left out."""
    if isinstance(obj, np.ndarray):
        a = np.ascontiguousarray(obj)
        h.update(f"nd{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            if str(k) in _TIMES or str(k).endswith(tuple("_" + t for t in _TIMES)):
                continue
            h.update(repr(k).encode())
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    elif isinstance(obj, (float, np.floating)):
        h.update(np.float64(obj).tobytes())
    else:
        h.update(repr(obj).encode())


def digest(obj) -> str:
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _ensemble(ens) -> dict:
    return {
        "observables": ens.observables,
        "snapshots": ens.snapshots,
        "t": ens.t,
        "seed": ens.seed,
        "config": ens.config.to_dict(),
    }


def _model(m) -> dict:
    return {
        "dbm_config": m.dbm_config.to_dict(),
        "train_config": m.train_config.to_dict(),
        "fe": m.fe.to_arrays(),
        "domain": m.domain,
        "theta0": m.theta0,
        "theta": m.theta,
        "mu": m.mu,
        "horizon": m.horizon,
        "param_names": m.param_names,
        "history": m.history,
        "meta": m.meta,
    }


def _evaluation(ev) -> dict:
    tb = ev.table
    return {
        "mean": {k: np.asarray(v) for k, v in tb.mean.items()},
        "sd": {k: np.asarray(v) for k, v in tb.sd.items()},
        "t": np.asarray(tb.t),
        "theta": ev.theta,
        "cov": ev.cov,
        "stats": ev.stats,
        "stats_sd": ev.stats_sd,
        "meta": ev.meta,
    }


def _file(path: Path) -> dict:
    """A written file: .npz arrays (the JSON sidecar's times dropped) or text."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            out = {}
            for k in z.files:
                a = z[k]
                if a.dtype.kind == "U" or k.startswith("_"):
                    try:
                        out[k] = json.loads(str(a))
                    except ValueError:
                        out[k] = str(a)
                else:
                    out[k] = a
            return out
    return {"text": path.read_text()}


def compute() -> dict[str, str]:
    from dbdviz.cli import main
    from dbdviz.config import preset
    from dbdviz.dbd import Trainer, evaluate
    from dbdviz.dbd.train import default_configs, reference_configs
    from dbdviz.simulate import simulate

    d: dict[str, str] = {}
    # simulate: the paper preset (a few replicates, snapshots + observables) ...
    d["simulate_paper"] = digest(
        _ensemble(simulate(preset("paper", replicates=4, steps=60, seed=7)))
    )
    d["simulate_paper_1thread"] = digest(
        _ensemble(simulate(preset("paper", replicates=4, steps=60, seed=7), threads=1))
    )
    # ... and the other pick and birth modes
    d["simulate_uniform_local"] = digest(
        _ensemble(
            simulate(
                preset(
                    "demo",
                    replicates=3,
                    steps=40,
                    seed=3,
                    pick_mode="uniform",
                    birth_mode="local",
                )
            )
        )
    )

    data = simulate(
        preset("demo", size=12, init_x=20, init_y=20, steps=30, replicates=6, seed=11)
    )
    d["data"] = digest(_ensemble(data))

    # the measured defaults: no configs at all (adjoint + 60 refinement steps)
    m_none = Trainer(data).run()
    d["train_default_noargs"] = digest(_model(m_none))
    dc, tc = default_configs(refine_iterations=4, refine_chains=8, extra_end_steps=3)
    m_def = Trainer(data, dc, tc, seed=5).run()
    d["train_default"] = digest(_model(m_def))
    # the reference protocol (depth 2, SGD, reference adjoint)
    rc, rt = reference_configs(opt_steps=30)
    m_ref = Trainer(data, rc, rt, seed=2).run()
    d["train_reference"] = digest(_model(m_ref))
    # with replay, adaptive hold, CD start, Q1 basis (other branches of the loop)
    dc2, tc2 = default_configs(
        replay_windows=1,
        hold_tolerance=1.0,
        max_holds=2,
        asleep_init="data",
        basis="q1",
        vertex_init="nearest",
        refine="off",
        opt_steps=30,
    )
    m_var = Trainer(data, dc2.copy(depth=1, cross_channel=True), tc2, seed=3).run()
    d["train_variant"] = digest(_model(m_var))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # checkpoints: one in the adjoint phase, one in the refinement phase
        for name, stop in (("adjoint", 12), ("refine", None)):
            tr = Trainer(data, dc, tc, seed=5)
            stop = tr.opt_steps + 2 if stop is None else stop
            while tr.step_index < stop:
                tr.step()
            ck = tmp / f"ck_{name}.npz"
            tr.save_checkpoint(ck)
            d[f"checkpoint_{name}_file"] = digest(_file(ck))
            d[f"checkpoint_{name}_resumed"] = digest(
                _model(Trainer.resume(ck, data).run())
            )

        d["evaluate_default"] = digest(_evaluation(evaluate(m_def, chains=20)))
        d["evaluate_noargs"] = digest(_evaluation(evaluate(m_none)))
        d["evaluate_reference"] = digest(
            _evaluation(evaluate(m_ref, chains=20, seed=4, t_max=40))
        )
        d["evaluate_carry"] = digest(
            _evaluation(
                evaluate(m_var, chains=10, init="carry", lowpass_taps=0, seed=1)
            )
        )

        # the CLI with only the required options (its defaults)
        ens_path = tmp / "ens.npz"
        assert (
            main(
                [
                    "simulate",
                    "--preset",
                    "demo",
                    "--size",
                    "12",
                    "--init-x",
                    "20",
                    "--init-y",
                    "20",
                    "--steps",
                    "30",
                    "--replicates",
                    "6",
                    "--seed",
                    "11",
                    "--out",
                    str(ens_path),
                    "--quiet",
                ]
            )
            == 0
        )
        d["cli_simulate"] = digest(_file(ens_path))
        model_path = tmp / "model.npz"
        argv = ["train", "--data", str(ens_path), "--out", str(model_path), "--quiet"]
        assert main(argv) == 0
        d["cli_train"] = digest(_file(model_path))
        ref_path = tmp / "ref.npz"
        argv = ["train", "--data", str(ens_path), "--out", str(ref_path), "--quiet"]
        argv += ["--depth", "2", "--visible-couplings", "false", "--chains", "5"]
        argv += ["--opt-steps", "20", "--optimizer", "sgd", "--lr", "1e-5"]
        assert main(argv) == 0
        d["cli_train_depth2"] = digest(_file(ref_path))
        csv = tmp / "learned.csv"
        argv = ["evaluate", str(model_path), "--out", str(csv), "--quiet"]
        assert main(argv) == 0
        d["cli_evaluate"] = digest(_file(csv))
        csv2 = tmp / "learned2.csv"
        argv = ["evaluate", str(ref_path), "--out", str(csv2), "--quiet"]
        argv += ["--chains", "12", "--sweeps", "3", "--seed", "9", "--init", "carry"]
        argv += ["--lowpass-taps", "5", "--lowpass-padding", "edge", "--t-max", "35"]
        assert main(argv) == 0
        d["cli_evaluate_options"] = digest(_file(csv2))
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="JSON file to write the digests to")
    ap.add_argument("--compare", help="digests to compare with (JSON)")
    args = ap.parse_args(argv)
    d = compute()
    Path(args.out).write_text(json.dumps(d, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(d)} digests to {args.out}")
    if args.compare:
        before = json.loads(Path(args.compare).read_text())
        diff = sorted(k for k in before.keys() | d.keys() if before.get(k) != d.get(k))
        for k in diff:
            print(f"DIFFERENT: {k}")
        print("identical" if not diff else f"{len(diff)} digests differ")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
