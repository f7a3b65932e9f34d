"""One-step residuals of the step's equations on three kinds of lattices.

Usage (from the repository root, with ``PYTHONPATH=$PWD``)::

    python scripts/residuals.py [--lattices 40] [--reps 500] [--pick-mode MODE]
                                [--seed 1] [--decompose] [--exact K]
                                [--closure-from VARIANT ...] [--sweep SWEEP ...]
                                [--events sampled] [--draws 20000] [--only I,J,...]
                                [--order nested] [--replay-seed S]

For each kind (``random``: 100 X and 100 Y placed uniformly on 40 x 40;
``clustered``: X in a 14 x 14 block and Y in a 9 x 9 block, 90 % filled, 20 sites
apart; ``paper``: the paper preset's lattices at t = 50, 150, 250, seed 4 + --seed) the
simulator's step is replayed ``reps`` times from every lattice
(:func:`dbdviz.simulate.replay.replay_step`) and compared with

* ``pair level``: :func:`dbdviz.closures.hierarchy.step_expectation` with the
  lattice's measured counts, pairs and triplets (triplets closed within the sweep);
* ``triplet level``: :func:`dbdviz.closures.given_lattice.lattice_step_expectation`
  (events site by site, the sweep with its triplets evolved).

Prints the mean residual per step (replays - prediction) and, in brackets, in
standard errors of the replays. docs/hierarchy.md section 4 records a run (about
2 minutes on one core). ``--seed`` draws other lattices (the recorded table: 1).

``--decompose`` splits the triplet level's residual in two and adds the per-group
variant (about 10 minutes):

* ``pure sweep``: the same lattices with births and deaths off (the sweep's
  closure alone);
* ``events sampled``: the events drawn by the simulator's own kernel
  (:func:`_events_only`, 10 draws per lattice), the sweep from each drawn lattice
  by the triplet level, averaged (control variate: the drawn lattices' counts,
  whose expectation is the expected lattice's): the expected lattice's error
  removed, the sweep's closure error left;
* ``per group``: ``lattice_step_expectation(..., per_group=True)``.

``--exact K`` adds the row ``exact <= K``: ``lattice_step_expectation(...,
exact_groups=K)``, the components of molecules within 4 sites with at most K
molecules computed exactly (dbdviz/closures/exact_groups.py), the rest by the
triplet level.

``--closure-from VARIANT`` (repeatable) adds the row of
``lattice_step_expectation(..., closure_from=VARIANT)``: the four-site ratios from
the lattice ``before events`` or ``before deaths``, or the ``lone births out`` of
the integration (docs/hierarchy.md section 4, "The events' expected lattice").

``--sweep SWEEP`` (repeatable: ``site pairs``, ``site triplets``, ``site
plaquettes``, ``classes``) adds the row of ``lattice_step_expectation(...,
sweep=SWEEP)``, the sweep on the lattice's own bonds or 2-step paths
(docs/hierarchy.md section 10; ``site pairs`` about 2 s per lattice, ``site
triplets`` 20-100 s), or the paths with the square's four-site closure (section 11,
about 10 s), or the triplet level by classes of sites (section 12, 1-3 s).
``--events sampled`` (with ``--sweep "site triplets"`` or ``"site plaquettes"``)
replaces those rows' start of the sweep by the events' joint drawn ``--draws`` times
by the simulator's kernel (``lattice_step_expectation(..., events="sampled")``,
dbdviz/closures/step_events.py, docs/hierarchy.md section 13; lattice ``i`` of a
kind draws from stream ``i``); the Monte-Carlo error of such a prediction is
about 0.1-0.2 of the replays' SE at 20000 draws (section 13).
``--order nested`` (with ``--sweep "site plaquettes"``) takes the sweep's order of
moves as the simulator's nested picks (``lattice_step_expectation(...,
order="nested")``: every todo molecule moves at the rate of its row's count,
docs/hierarchy.md section 14) instead of uniform.
``--only`` keeps the listed lattice indices of each kind (e.g.
``0,7,14,21,28,35`` for the site triplets).
``--replay-seed S`` seeds the replays (default ``1000 + --seed``, so that lattice
sets of different ``--seed`` get independent replays: with one stream for every set
the random lattices, which all hold 100 X and 100 Y, repeat the same events' noise
in every set, docs/hierarchy.md section 15). The tables of docs/hierarchy.md
sections 4-14 used ``--replay-seed 3``.
"""

from __future__ import annotations

import argparse

import numpy as np

from dbdviz._numba import jit
from dbdviz._rng import seed_states
from dbdviz.closures.given_lattice import (
    lattice_step_expectation,
    site_event_probabilities,
    soft_statistics,
)
from dbdviz.closures.hierarchy import lattice_triplets, step_expectation
from dbdviz.config import preset
from dbdviz.moments import lattice_observables
from dbdviz.simulate import simulate
from dbdviz.simulate._kernels import _events, _pack_lattice, _record_bits
from dbdviz.simulate.lattice import _hop_table
from dbdviz.simulate.replay import replay_step

FIVE = ("X", "Y", "nnXX", "nnXY", "nnYY")


def lattices(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    L = 40
    rnd = np.zeros((n, L * L), np.uint8)
    for k in range(n):
        p = rng.permutation(L * L)
        rnd[k, p[:100]] = 1
        rnd[k, p[100:200]] = 2
    clu = np.zeros((n, L, L), np.uint8)
    for k in range(n):
        r, c = rng.integers(0, L, 2)
        blk = (rng.random((14, 14)) < 0.9).astype(np.uint8)
        clu[k][np.ix_((r + np.arange(14)) % L, (c + np.arange(14)) % L)] = blk
        blk = np.where(rng.random((9, 9)) < 0.9, 2, 0).astype(np.uint8)
        r2, c2 = (r + 20) % L, (c + 20) % L
        clu[k][np.ix_((r2 + np.arange(9)) % L, (c2 + np.arange(9)) % L)] = blk
    snaps = simulate(
        preset("paper", replicates=(n + 2) // 3, steps=250, seed=4 + seed)
    ).snapshots
    pap = np.array([snaps[i, t] for t in (50, 150, 250) for i in range(len(snaps))])
    return {"random": rnd.reshape(n, L, L), "clustered": clu, "paper": pap[:n]}


@jit
def _events_one(codes, st, L, hop, nested, birth, death, dt, out):
    """The simulator's unimolecular events of one step (no sweep) into ``out``."""
    N = L * L
    W = (L + 65) // 64
    lat = np.zeros(N + 64, np.uint8)
    for i in range(N):
        lat[i] = codes[i]
    rowcnt = np.zeros(L, np.int32)
    rowy = np.zeros(L, np.int32)
    bits = np.zeros((2, W * (L + 2)), np.uint64)
    tmp = np.zeros(16, np.int64)
    _pack_lattice(lat, bits, L, W)
    _record_bits(bits, L, W, rowcnt, rowy, tmp)
    _events(st, lat, 0, bits, W, rowcnt, rowy, hop, L, nested, False, birth, death,
            0.0, dt, 0, 0.0, tmp[0], tmp[1])  # fmt: skip
    for i in range(N):
        out[i] = lat[i] & 3


def _events_only(lat, cfg, draws, seed):
    """``draws`` lattices after the events of one step from each lattice."""
    n, L, _ = lat.shape
    st = seed_states(seed, n * draws)
    out = np.zeros((n * draws, L * L), np.uint8)
    hop = _hop_table(L)
    codes = np.ascontiguousarray(lat.reshape(n, L * L))
    nested = cfg.pick_mode == "nested_permutation"
    for i in range(n * draws):
        _events_one(codes[i // draws], st[i], L, hop, nested, float(cfg.birth),
                    float(cfg.death), float(cfg.dt), out[i])  # fmt: skip
    return out.reshape(n, draws, L, L)


def _expected_after_events(lat, cfg):
    """Expected counts and pairs after the events (the expected lattice's)."""
    out = []
    for g in lat:
        pb, pd = site_event_probabilities(g, cfg)
        one = np.stack([g == 0, g == 1, g == 2]).astype(float)
        one[0] += pd - pb
        one[1] += pb
        one[2] -= pd
        n, b, *_ = soft_statistics(one)
        out.append([n[1], n[2], b[1, 1] / 2, b[1, 2], b[2, 2] / 2])
    return np.array(out)


def decompose(lat, cfg, pure, reps, draws=10):
    """The two parts of the residual (module notes); ``pure``: ``cfg`` without
    births and deaths."""
    after = replay_step(lat, pure, reps, 7)[..., :5].astype(float)
    res_pure = (after.mean(axis=1) - lattice_step_expectation(lat, pure)).mean(0)
    se_pure = np.sqrt((after.var(axis=1, ddof=1) / reps).sum(axis=0)) / len(lat)
    drawn = _events_only(lat, cfg, draws, 9)
    flat = drawn.reshape((-1,) + lat.shape[1:])
    sweep = lattice_step_expectation(flat, pure) - lattice_observables(flat)[..., :5]
    sweep = sweep.reshape(len(lat), draws, 5)
    pred = _expected_after_events(lat, cfg) + sweep.mean(axis=1)
    se_draws = np.sqrt((sweep.var(axis=1, ddof=1) / draws).sum(axis=0)) / len(lat)
    return res_pure, se_pure, pred, se_draws


def _cells(res, se):
    se = np.where(se > 0, se, np.inf)
    return " ".join(
        f"{o} {r:+.3f} ({r / s:+.1f})" for o, r, s in zip(FIVE, res, se, strict=True)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lattices", type=int, default=40)
    ap.add_argument("--reps", type=int, default=500)
    ap.add_argument(
        "--pick-mode", default="nested_permutation",
        choices=["nested_permutation", "uniform"],
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--decompose", action="store_true")
    ap.add_argument("--exact", type=int, default=0, metavar="K")
    ap.add_argument(
        "--closure-from", action="append", default=[], metavar="VARIANT",
        choices=["before events", "before deaths", "lone births out"],
    )  # fmt: skip
    ap.add_argument(
        "--sweep", action="append", default=[], metavar="SWEEP",
        choices=["site pairs", "site triplets", "site plaquettes", "classes"],
    )  # fmt: skip
    ap.add_argument(
        "--events", default="independent", choices=["independent", "sampled"]
    )
    ap.add_argument("--draws", type=int, default=20000)
    ap.add_argument("--order", default="uniform", choices=["uniform", "nested"])
    ap.add_argument("--only", default="", metavar="I,J,...")
    ap.add_argument(
        "--replay-seed", type=int, default=None, metavar="S",
        help="seed of the replays (default: 1000 + --seed)",
    )  # fmt: skip
    a = ap.parse_args()
    if a.exact < 0:
        ap.error(f"--exact must be >= 0 (0: off), got {a.exact}")
    if a.draws < 2:
        ap.error(f"--draws must be >= 2, got {a.draws}")
    site = {"site triplets", "site plaquettes"}
    if a.events == "sampled" and not (a.sweep and set(a.sweep) <= site):
        ap.error("--events sampled needs --sweep 'site triplets' or 'site plaquettes'")
    if a.order == "nested" and a.sweep != ["site plaquettes"]:
        ap.error("--order nested needs --sweep 'site plaquettes' (alone)")
    cfg = preset("paper", pick_mode=a.pick_mode)
    pure = preset("paper", pick_mode=a.pick_mode, birth=0.0, death=0.0)
    only = [int(i) for i in a.only.split(",")] if a.only else None
    replay_seed = 1000 + a.seed if a.replay_seed is None else a.replay_seed
    print(
        f"{a.lattices} lattices x {a.reps} replays (seed {replay_seed}), "
        f"{a.pick_mode} picks"
    )
    for name, lat in lattices(a.lattices, a.seed).items():
        after = replay_step(lat, cfg, a.reps, replay_seed)[..., :5].astype(float)
        if only is not None:
            lat, after = lat[only], after[only]
        mean = after.mean(axis=1)
        se = np.sqrt((after.var(axis=1, ddof=1) / a.reps).sum(axis=0)) / len(lat)
        obs = lattice_observables(lat)[..., :5].astype(float)
        e = step_expectation(obs, cfg, triplets=lattice_triplets(lat))
        preds = {
            "pair level": np.stack([e[o] for o in FIVE], axis=-1),
            "triplet level": lattice_step_expectation(lat, cfg),
        }
        if a.exact > 0:
            p = lattice_step_expectation(lat, cfg, exact_groups=a.exact)
            preds[f"exact <= {a.exact}"] = p
        for cf in a.closure_from:
            preds[cf] = lattice_step_expectation(lat, cfg, closure_from=cf)
        for sw in a.sweep:
            tag = ", nested" if a.order == "nested" else ""
            if a.events == "sampled":
                preds[f"{sw}, sampled{tag}"] = np.array([
                    lattice_step_expectation(g, cfg, sweep=sw, events="sampled",
                                             draws=a.draws, seed=i, order=a.order)
                    for i, g in enumerate(lat)
                ])  # fmt: skip
            else:
                preds[sw + tag] = lattice_step_expectation(
                    lat, cfg, sweep=sw, order=a.order
                )
        print(f"{name}: mean change", np.round((mean - obs).mean(axis=0), 2))
        for label, p in preds.items():
            print(f"  {label:14s} {_cells((mean - p).mean(axis=0), se)}", flush=True)
        if a.decompose:
            res_pure, se_pure, p, se_draws = decompose(lat, cfg, pure, a.reps)
            print(f"  {'pure sweep':14s} {_cells(res_pure, se_pure)}")
            print(f"  {'events sampled':14s} {_cells((mean - p).mean(axis=0), se)}")
            print(f"  {'(draws SE)':14s}", np.round(se_draws, 3))
            p = lattice_step_expectation(lat, cfg, per_group=True)
            res = (mean - p).mean(axis=0)
            print(f"  {'per group':14s} {_cells(res, se)}", flush=True)


if __name__ == "__main__":
    main()
