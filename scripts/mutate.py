"""Mutation check: every listed single-token bug must fail at least one test.

Usage (from the repository root, with ``PYTHONPATH=$PWD``)::

    python scripts/mutate.py            # all mutants
    python scripts/mutate.py -k sweep   # those whose name contains "sweep"

Each mutant replaces one exact snippet (it must occur exactly once) in one file, runs
the tests that cover that file (``pytest -x -q -p no:cacheprovider``), restores the
file and records "killed" (a test failed) or "SURVIVED". The exit status is 1 if any
mutant survived. The run takes several minutes (numba recompiles the mutated
kernels), so it is not part of the default test run; docs/hierarchy.md section 8
records the last run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CLOSURE_TESTS = ["tests/test_closures.py"]
EXACT_TESTS = ["tests/test_exact_groups.py"]
SITE_TESTS = ["tests/test_site_sweeps.py"]
EVENT_TESTS = ["tests/test_step_events.py"]
NESTED_TESTS = ["tests/test_nested_order.py"]

#: (name, file, snippet, replacement, tests)
MUTANTS = [
    # the sweep's pair equations (dbdviz/closures/_sweep.py)
    ("sweep: hop weight 1/4 -> 1/2", "dbdviz/closures/_sweep.py",
     "_outcome(b, t, m, q, 0, done, 0.25, db, dn)",
     "_outcome(b, t, m, q, 0, done, 0.5, db, dn)", CLOSURE_TESTS),
    ("sweep: predation partner not converted (YY gain dropped)",
     "dbdviz/closures/_sweep.py",
     "_outcome(b, t, m, q, 4, 4, 0.25 * p3, db, dn)",
     "_outcome(b, t, m, q, 4, q, 0.25 * p3, db, dn)", CLOSURE_TESTS),
    ("sweep: failed-reaction weight sign (1 - p3 -> 1 + p3)",
     "dbdviz/closures/_sweep.py", "0.25 * (1.0 - p3), db, dn)",
     "0.25 * (1.0 + p3), db, dn)", CLOSURE_TESTS),
    ("sweep: mover's neighbours counted by the wrong triplet",
     "dbdviz/closures/_sweep.py", "ta = w * t[q, m, k]", "ta = w * t[m, q, k]",
     CLOSURE_TESTS),
    ("sweep: partner's neighbour term dropped", "dbdviz/closures/_sweep.py",
     "tb = w * t[m, q, k]", "tb = 0.0 * t[m, q, k]", CLOSURE_TESTS),
    ("sweep: bond gain sign flipped", "dbdviz/closures/_sweep.py",
     "    db[u2, v2] += w\n", "    db[u2, v2] -= w\n", CLOSURE_TESTS),
    ("sweep: predation rate halved", "dbdviz/closures/_sweep.py",
     "pred += _outcome(", "pred += 0.5 * _outcome(", CLOSURE_TESTS),
    ("closure: finite-size term sign", "dbdviz/closures/_sweep.py",
     "c -= 1.0", "c += 1.0", CLOSURE_TESTS),
    ("closure: triplet factor 3 -> 2", "dbdviz/closures/_sweep.py",
     "v = 3.0 * b[i, j] * c", "v = 2.0 * b[i, j] * c", CLOSURE_TESTS),
    ("closure (numpy): finite-size term sign", "dbdviz/closures/hierarchy.py",
     "cond[..., None, :, :] - np.eye(3)", "cond[..., None, :, :] + np.eye(3)",
     CLOSURE_TESTS),
    # the triplet-level sweep (dbdviz/closures/_sweep3.py)
    ("triplet sweep: an end's outside neighbours 3 -> 2",
     "dbdviz/closures/_sweep3.py", "nout = 3.0", "nout = 2.0", CLOSURE_TESTS),
    ("triplet sweep: a hop into the triplet lands as todo",
     "dbdviz/closures/_sweep3.py", "_chg(dt, st, p, m + 2, -1, 0, w)",
     "_chg(dt, st, p, m, -1, 0, w)", CLOSURE_TESTS),
    ("triplet sweep: predation by an outside mover dropped",
     "dbdviz/closures/_sweep3.py",
     "elif _opposite(m, sp):\n" + " " * 28 + "_chg(dt, st, p, 4, -1, 0, w * p3)",
     "elif _opposite(m, sp):\n" + " " * 28 + "_chg(dt, st, p, 4, -1, 0, 0.0)",
     CLOSURE_TESTS),
    ("four-site closure: far-end finite-size term sign",
     "dbdviz/closures/_sweep3.py", "v = (N - 2.0) * p - (1.0 if",
     "v = (N - 2.0) * p + (1.0 if", CLOSURE_TESTS),
    ("four-site closure: star margin from the wrong triplet (centre swapped)",
     "dbdviz/closures/_sweep3.py", "f = 2.0 * t[a, j, c] / tot",
     "f = 2.0 * t[j, a, c] / tot", CLOSURE_TESTS),
    ("four-site closure: measured start ratios ignored",
     "dbdviz/closures/_sweep3.py",
     "r_path, r_star = start_ratios(b, n, t, path, star, n_sites)",
     "r_path = r_star = np.ones((_NS,) * 4)", CLOSURE_TESTS),
    ("four-site patterns: path end x may be the centre",
     "dbdviz/closures/_sweep3.py", " " * 16 + "if d3 != d1:\n" + " " * 20 + "path",
     " " * 16 + "if True:\n" + " " * 20 + "path", CLOSURE_TESTS),
    ("given lattice: nested row weights dropped", "dbdviz/closures/given_lattice.py",
     "den = rows * np.where(per_row > 0, per_row, 1)",
     "den = np.full_like(per_row, mask.sum())", CLOSURE_TESTS),
    ("groups: radius 3 -> 2", "dbdviz/closures/given_lattice.py",
     "GROUP_RADIUS = 3", "GROUP_RADIUS = 2", CLOSURE_TESTS),
    ("groups: lone molecules and births dropped", "dbdviz/closures/given_lattice.py",
     "total[:2] = one[X:, lone].sum(axis=1)", "total[:2] = 0.0", CLOSURE_TESTS),
    ("closure_from: lone births dropped", "dbdviz/closures/given_lattice.py",
     "total[0] += pb[far].sum()", "total[0] += 0.0", CLOSURE_TESTS),
    ("closure_from: 'before deaths' ratios without the births",
     "dbdviz/closures/given_lattice.py", "hard[X] += pb", "hard[X] += 0.0 * pb",
     CLOSURE_TESTS),
    ("groups: births do not join a molecule's group",
     "dbdviz/closures/given_lattice.py",
     "ok = mol & (other >= 0)", "ok = mol & np.roll(mol, (-dr, -dc), axis=(0, 1))",
     CLOSURE_TESTS),
    # the exact sweep of small groups (dbdviz/closures/exact_groups.py)
    ("exact groups: predation partner keeps its move",
     "dbdviz/closures/exact_groups.py", "(pos, eaten, rest & ~(1 << j), w * p3),",
     "(pos, eaten, rest, w * p3),", EXACT_TESTS),
    ("exact groups: move radius 2 -> 1", "dbdviz/closures/exact_groups.py",
     "MOVE_RADIUS = 2", "MOVE_RADIUS = 1", EXACT_TESTS),
    ("exact groups: deaths ignored", "dbdviz/closures/exact_groups.py",
     "ys = [i for i, p in enumerate(pdeath) if p > 0.0]", "ys = []", EXACT_TESTS),
    ("exact groups: births dropped", "dbdviz/closures/exact_groups.py",
     "w = float(pbf[s])", "w = 0.0", EXACT_TESTS),
    ("exact groups: joint bonds within a group dropped",
     "dbdviz/closures/exact_groups.py",
     "return rho, intra - _rho_bonds(rho, rho, L), n", "return rho, 0.0 * intra, n",
     EXACT_TESTS),
    # the sweep on the lattice's own bonds and paths (site_pairs.py, site_triplets.py)
    ("site paths: fourth corner closed by the end's path",
     "dbdviz/closures/site_triplets.py",
     "if od[da] != dc and e == (dc if p == 0 else da):",
     "if False and od[da] != dc and e == (dc if p == 0 else da):", SITE_TESTS),
    ("site paths: a hop into the path lands as todo",
     "dbdviz/closures/site_triplets.py",
     "_chg(dQ, b, k, st, p, m + 2, -1, 0, w)", "_chg(dQ, b, k, st, p, m, -1, 0, w)",
     SITE_TESTS),
    ("site paths: predation partner inside the path not converted",
     "dbdviz/closures/site_triplets.py",
     "_chg(dQ, b, k, st, p, 4, p2, 4, w * p3)",
     "_chg(dQ, b, k, st, p, 4, p2, q, w * p3)", SITE_TESTS),
    ("site paths: star closure's bond marginal dropped",
     "dbdviz/closures/site_triplets.py",
     "cz[z] = v / m if m > 1e-300 else 0.0", "cz[z] = v", SITE_TESTS),
    ("site paths: predations counted once per bond",
     "dbdviz/closures/site_triplets.py",
     "r += m * ((i == 1 or i == 2) + (j == 1 or j == 2))", "r += m", SITE_TESTS),
    ("site bonds: hop weight 1/4 -> 1/2", "dbdviz/closures/site_pairs.py",
     "J = 0.25 * P[a, d, m, q]", "J = 0.5 * P[a, d, m, q]", SITE_TESTS),
    ("site bonds: partner's other bonds not changed", "dbdviz/closures/site_pairs.py",
     "        _shift_bonds(P, dP, nb, od, b, ob, q, q2, f)",
     "        pass", SITE_TESTS),
    ("site sweeps: events ignored", "dbdviz/closures/given_lattice.py",
     "out[i] = _site_sweep(g, pb, one, config.predation, sweep, order)",
     "out[i] = _site_sweep(g, 0 * pb, one * 0 + np.stack([g == E, g == X, g == Y]), "
     "config.predation, sweep, order)", SITE_TESTS),
    ("site sweeps: lone births dropped", "dbdviz/closures/given_lattice.py",
     "return np.array([n[X] + pb[far].sum(), n[Y],",
     "return np.array([n[X] + 0 * pb[far].sum(), n[Y],", SITE_TESTS),
    # the site paths with the square's four-site closure (site_plaquettes.py)
    ("site plaquettes: fourth corner's P(x) factor dropped",
     "dbdviz/closures/site_plaquettes.py",
     "v = oac * num * PS[x, z] * tb / den", "v = oac * num * tb / den", SITE_TESTS),
    ("site plaquettes: a hop into the path lands as todo",
     "dbdviz/closures/site_plaquettes.py",
     "_move(Qf, dQ, b, k, idx, sd, 0, 3, wi * SL[p, 1])",
     "_move(Qf, dQ, b, k, idx, sd, 0, 1, wi * SL[p, 1])", SITE_TESTS),
    ("site plaquettes: predation by an outside predator dropped",
     "dbdviz/closures/site_plaquettes.py",
     "_move(Qf, dQ, b, k, idx, sd, sp, 4, wi * p3 * SL[p, 2])",
     "_move(Qf, dQ, b, k, idx, sd, sp, 4, 0.0 * SL[p, 2])", SITE_TESTS),
    ("site plaquettes: the centre's outside conditional not normalised",
     "dbdviz/closures/site_plaquettes.py",
     "S[1, z] += cz[z] / tot", "S[1, z] += cz[z]", SITE_TESTS),
    # the nested order of the sweep's moves (site_plaquettes.py, section 14)
    ("nested order: inflow to the centre at the path's rate",
     "dbdviz/closures/site_plaquettes.py",
     "SL[1, z] += le * cz[z] / tot", "SL[1, z] += ls[1] * cz[z] / tot", NESTED_TESTS),
    ("nested order: inflow over the fourth corner at the end's rate",
     "dbdviz/closures/site_plaquettes.py",
     "lx = lam[nb[nb[b, da], dc]] if bent else 0.0",
     "lx = lam[nb[b, da]] if bent else 0.0", NESTED_TESTS),
    ("nested order: predation rate of a todo end at the centre's rate",
     "dbdviz/closures/site_plaquettes.py",
     "ta = lam[a] * (i == 1 or i == 2)", "ta = lam[b] * (i == 1 or i == 2)",
     NESTED_TESTS),
    ("nested order: a row's rate 1 / n (the row's draining ignored)",
     "dbdviz/closures/site_plaquettes.py",
     "lam_k = np.where(ex > 1e-300, cdf / np.maximum(ex, 1e-300), 1.0)",
     "lam_k = 1.0 / ks", NESTED_TESTS),
    ("nested order: the rows' counts without the lone births",
     "dbdviz/closures/given_lattice.py",
     'return {"order": order, "rows": row_counts(one)}',
     'return {"order": order}', NESTED_TESTS),
    # the events' sampled joint as the start of the site sweeps (step_events.py)
    ("sampled events: a path's far end tallied at its near end",
     "dbdviz/closures/step_events.py",
     "g[s], g[nb[s, pairs[j, 1]]]] += 1.0", "g[s], g[nb[s, pairs[j, 0]]]] += 1.0",
     EVENT_TESTS),
    ("sampled events: the paths' joint ignored (product of marginals)",
     "dbdviz/closures/site_triplets.py", "    if paths is None:\n",
     "    if True:\n", EVENT_TESTS),
    ("sampled events: far births not counted as lone X",
     "dbdviz/closures/given_lattice.py", "return np.array([n[X] + es.lone, n[Y],",
     "return np.array([n[X] + 0 * es.lone, n[Y],", EVENT_TESTS),
    # the triplet level by site classes (regional.py)
    ("classes: predation partner not converted",
     "dbdviz/closures/regional.py",
     "b, t, m, q, cm * _NS + 4, cq + 4, 0.25 * p3, db, dn",
     "b, t, m, q, cm * _NS + 4, q, 0.25 * p3, db, dn",
     ["tests/test_regional_closure.py"]),
    ("classes: far-end finite-size term sign", "dbdviz/closures/regional.py",
     "v = (N - 2.0) * p - (1.0 if z == c else 0.0)",
     "v = (N - 2.0) * p + (1.0 if z == c else 0.0)",
     ["tests/test_regional_closure.py"]),
    ("classes: predation inside the triplet dropped",
     "dbdviz/closures/regional.py",
     "_chg(dt, st, p, cp + 4, p2, cq + 4, w * p3)",
     "_chg(dt, st, p, cp + 4, p2, cq + 4, 0.0 * w)",
     ["tests/test_regional_closure.py"]),
    # events and singlets (dbdviz/closures/hierarchy.py)
    ("events: births on empty sites doubled", "dbdviz/closures/hierarchy.py",
     "T[..., E, X] = beta", "T[..., E, X] = 2.0 * beta", CLOSURE_TESTS),
    ("events: Y survival sign", "dbdviz/closures/hierarchy.py",
     "T[..., Y, Y] = 1.0 - q", "T[..., Y, Y] = 1.0 + q", CLOSURE_TESTS),
    ("events: births halved", "dbdviz/closures/hierarchy.py",
     "births = np.where(n_x >= 1.0, n_x * g, low)",
     "births = np.where(n_x >= 1.0, 0.5 * n_x * g, low)", CLOSURE_TESTS),
    ("events: deaths sign", "dbdviz/closures/hierarchy.py",
     "deaths = -n_y * math.expm1(-death * dt)",
     "deaths = n_y * math.expm1(-death * dt)", CLOSURE_TESTS),
    ("events: X = 0 births sinh -> k dt e^(k dt)", "dbdviz/closures/hierarchy.py",
     "math.sinh(birth * dt)", "birth * dt * math.exp(birth * dt)", CLOSURE_TESTS),
    ("statistics: random nnXY factor 2 dropped", "dbdviz/closures/hierarchy.py",
     "2.0 * f * n_x * n_y", "f * n_x * n_y", CLOSURE_TESTS),
    ("statistics: diagonal XX estimate not halved", "dbdviz/closures/hierarchy.py",
     "d[..., X, X] / 2.0", "d[..., X, X]", CLOSURE_TESTS),
    # the closures
    ("pair: nnn3 factor 1.5 -> 2", "dbdviz/closures/pair.py",
     'mean["nnn3" + s] = 1.5 * nnn[:, k]', 'mean["nnn3" + s] = 2.0 * nnn[:, k]',
     CLOSURE_TESTS),
    ("pair: nested placement's vertical pairs dropped", "dbdviz/closures/pair.py",
     "f = 1.0 / (L * (L - 1.0)) + 1.0 / L**2", "f = 1.0 / (L * (L - 1.0))",
     CLOSURE_TESTS),
    ("mean field: continuous-time k halved", "dbdviz/closures/mean_field.py",
     "return 4.0 * c * config.predation", "return 2.0 * c * config.predation",
     CLOSURE_TESTS),
    ("mean field: closed by pairs instead of densities",
     "dbdviz/closures/mean_field.py", 'triplets="random", floor="ode"',
     'triplets="pair", floor="ode"', CLOSURE_TESTS),
    # observables of lattices (dbdviz/moments.py)
    ("moments: X-Y pairs counted one way only", "dbdviz/moments.py",
     "xy += (x * ys + y * xs).sum(axis=ax)", "xy += (x * ys).sum(axis=ax)",
     ["tests/test_moments.py"]),
    # the refinement's acceptance (dbdviz/dbd/refine.py)
    ("refine: accepts a 1.5x worse result", "dbdviz/dbd/refine.py",
     "or error_after <= error_before", "or error_after <= 1.5 * error_before",
     ["tests/test_refine.py::test_acceptance_boundary"]),
]  # fmt: skip


def run(names: str | None, timeout: float) -> int:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    results = []
    for name, rel, old, new, tests in MUTANTS:
        if names and names not in name:
            continue
        path = ROOT / rel
        src = path.read_text()
        if src.count(old) != 1:
            results.append((name, f"NOT APPLICABLE ({src.count(old)} matches)", 0.0))
            print(results[-1], flush=True)
            continue
        t0 = time.perf_counter()
        try:
            path.write_text(src.replace(old, new))
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "pytest", "-x", "-q", "-p",
                     "no:cacheprovider", *tests],
                    cwd=ROOT, env=env, capture_output=True, text=True,
                    timeout=timeout,
                )  # fmt: skip
                status = "killed" if proc.returncode != 0 else "SURVIVED"
            except subprocess.TimeoutExpired:
                status = "killed (timeout)"
        finally:
            path.write_text(src)
        results.append((name, status, time.perf_counter() - t0))
        print(f"{status:16s} {results[-1][2]:6.0f} s  {name}", flush=True)
    print()
    print("| mutant | file | result |")
    print("|---|---|---|")
    files = {m[0]: m[1] for m in MUTANTS}
    for name, status, _ in results:
        print(f"| {name} | `{files[name]}` | {status} |")
    return int(any(s == "SURVIVED" for _, s, _ in results))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default=None, help="only mutants whose name contains K")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args()
    return run(a.k, a.timeout)


if __name__ == "__main__":
    sys.exit(main())
