"""Fitting the two-phase pieces from ensembles (issue 18; :mod:`dbdviz.dbd.mixture`
holds the pieces and the mixing, which need neither the simulator nor a sampler).

* :func:`prey_only_curve`: the mean prey-only dynamics (``Y = 0``: prey birth into
  empty neighbours and hops), simulated exactly with the project's simulator from a
  small random placement;
* :func:`fit_two_phase`: everything :func:`dbdviz.dbd.predict.train_multi` stores
  in ``model.mixture``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .mixture import OBS, TwoPhase

__all__ = ["prey_only_curve", "fit_two_phase", "group_paths", "CURVE_STEPS"]

#: The prey-only curve: steps (long enough to fill a 40 x 40 lattice: full at
#: t = 191 at paper rates), prey of its random placement, replicates, seed.
CURVE_STEPS = 1500
CURVE_INIT_X = 20
CURVE_REPLICATES = 40
CURVE_SEED = 5
#: Correct the survivors' law along its integrated paths (:mod:`dbdviz.dbd.pathfit`,
#: docs/experiments/16); False: the velocity fit alone (models before session 9).
PATH_FIT = True
#: The extinct fraction of a prediction (docs/experiments/20): ``"pure"`` the
#: first-passage hazard of the predators' birth-death process as it is (no fitted
#: coefficient), ``"constant"`` calibrated by a constant factor, ``"clustering"``
#: by a constant and the predators' clustering ``nnYY / Y``; None: the Poisson
#: regression on ``theta`` and its squares (models before session 10; it always
#: times the blend of the two laws).
PASSAGE = None
#: More survivors' paths from the same training data (docs/experiments/22): None,
#: or ``(t0, groups, column)``: every ensemble's replicates with predators at
#: ``t0`` sorted by observable ``column`` there and split into ``groups`` groups;
#: each group's survivors' mean path from ``t0`` on is fitted and trains ``F_alive``
#: beside the ensembles' paths (weights ``sqrt(n_alive / n)`` of the ensemble's
#: ``n``). ``GROUP_HAZARD``: the extinction hazard learns from the groups' paths
#: after ``t0`` (the ensembles' before) instead of the ensembles' alone.
GROUPS = None
GROUP_HAZARD = False
#: The group paths' weights ``(n_alive / n)^GROUP_POWER`` (``n`` the ensemble's).
GROUP_POWER = 0.5
#: The path fit corrects ``F_alive`` at the group paths' centers too (True) or only at
#: the ensembles' (False); either way the groups cost 2.5 times the training's CPU.
GROUP_CORRECT = True
#: Initial counts ``(X0, Y0)`` of further alive paths without data for the path
#: fit's singlet constraint (:data:`dbdviz.dbd.pathfit.SINGLET_WEIGHT`,
#: docs/experiments/24): None, or a sequence of counts (used only with a weight > 0).
COLLOCATION = None


def prey_only_curve(
    config,
    *,
    init_x: int = CURVE_INIT_X,
    replicates: int = CURVE_REPLICATES,
    seed: int = CURVE_SEED,
    columns: int | None = len(OBS),
):
    """Mean moments of prey-only lattices (``Y = 0``) from the project's simulator.

    Parameters
    ----------
    config : LatticeLV
        Size, rates, modes and ``steps`` (the curve has ``steps + 1`` rows; it must
        be long enough to reach a full lattice).
    init_x, replicates, seed
        The random placement it starts from.
    columns : int or None
        The first ``columns`` observables (:data:`dbdviz.moments.OBSERVABLES`
        order); None: all of them.

    Returns
    -------
    ndarray of float64 (steps + 1, columns)
        Mean X, Y, nnXX, nnXY, nnYY, ... (Y and its pairs are 0).
    """
    from ..simulate import simulate

    cfg = type(config)(
        **{
            **config.to_dict(),
            "init_x": int(init_x),
            "init_y": 0,
            "replicates": int(replicates),
            "seed": int(seed),
            "snapshots": False,
        }
    )
    o = simulate(cfg, threads=1).observables
    o = o if columns is None else o[:, :, : int(columns)]
    return np.asarray(o, dtype=np.float64).mean(axis=0)


def fit_two_phase(
    dbm,
    ensembles: Sequence,
    idx: np.ndarray,
    whole_paths: Sequence[np.ndarray],
    whole,
    *,
    smooth,
    seed: int = 0,
    chains: int,
    iterations: int,
    threads: int | None = None,
    progress=None,
    path_fit: bool | None = None,
    passage: str | None = "default",
    groups="default",
    group_hazard: bool | None = None,
) -> tuple[TwoPhase | None, dict]:
    """The two-phase pieces of :func:`dbdviz.dbd.predict.train_multi`.

    The survivors' paths are fitted (:func:`dbdviz.dbd.multi.fit_paths`) to
    :func:`alive_means` of every ensemble that lost predators somewhere (the others'
    are their whole paths: the same targets), smoothed like the whole ones; then
    :func:`fit_alive_rhs`, :func:`fit_hazard`, :func:`entry_ratio` and the prey-only
    curve of the first ensemble's rates; then (``path_fit``) the survivors' law is
    corrected along its integrated paths.

    Parameters
    ----------
    dbm : DBM
        Fully visible.
    ensembles : sequence of Ensemble
        One rate setting.
    idx : ndarray of int
        Fitted time indices.
    whole_paths : sequence of ndarray (T + 1, P)
        The smoothed whole-ensemble paths (every step).
    whole : KernelRHS
        The whole ensembles' ``F`` (only checked for its parameter names).
    smooth : callable(ndarray (n, P)) -> ndarray (T + 1, P)
        Interpolation to every step and low-pass, as for the whole paths.
    seed, chains, iterations, threads
        The survivors' path fit (seed ``seed + 7919``).
    progress : callable(done, total, part), optional
        Part 0: the survivors' path fit (``total`` its fitted times); part 1: the
        correction along the integrated paths (``total`` its outer iterations).
    path_fit : bool, optional
        Correct the survivors' law so that its integrated paths meet the fitted
        ones (:func:`dbdviz.dbd.pathfit.fit_alive_along_paths`; default
        :data:`PATH_FIT`).
    passage : {"pure", "constant", "clustering", None}, optional
        The first-passage hazard's calibration (default :data:`PASSAGE`; None:
        none, ``q`` from the hazard on ``theta``).
    groups : tuple (t0, groups, column) or None, optional
        Group paths for ``F_alive`` (default :data:`GROUPS`).
    group_hazard : bool, optional
        The hazard learns from the group paths too (default :data:`GROUP_HAZARD`).

    Returns
    -------
    TwoPhase or None
        None when no training replicate lost its predators (nothing to learn).
    dict
        ``events``, ``fit_residual`` of the survivors' path fit (or empty).
    """
    from .mixture import (
        alive_means,
        entry_ratio,
        fit_alive_rhs,
        fit_hazard,
        fit_passage,
        hazard_covariates,
        passage_covariates,
    )
    from .multi import fit_paths

    path_fit = PATH_FIT if path_fit is None else bool(path_fit)
    groups = GROUPS if isinstance(groups, str) and groups == "default" else groups
    group_hazard = GROUP_HAZARD if group_hazard is None else bool(group_hazard)
    passage = PASSAGE if passage == "default" else passage
    if passage not in ("pure", "constant", "clustering", None):
        raise ValueError(
            f"passage = {passage!r}: allowed 'pure', 'constant', 'clustering' or None"
        )

    P = dbm.n_params
    obs = [np.asarray(e.observables, dtype=np.float64) for e in ensembles]
    means, counts = zip(*(alive_means(o) for o in obs), strict=True)
    events = int(sum(c[0] - c[-1] for c in counts))
    if events == 0:
        return None, {"events": 0}
    lost = [e for e, c in enumerate(counts) if c[-1] < c[0]]
    fr = fit_paths(
        dbm,
        [means[e][idx, :P] for e in lost],
        idx,
        chains=chains,
        iterations=iterations,
        seed=int(seed) + 7919,
        threads=threads,
        progress=None if progress is None else (lambda d, t: progress(d, t, 0)),
    )
    paths = [np.asarray(p, dtype=np.float64) for p in whole_paths]
    for j, e in enumerate(lost):
        paths[e] = smooth(fr.theta[j])
    weights = [np.sqrt(c / max(int(c[0]), 1)) for c in counts]
    dt = float(ensembles[0].config.dt)
    cov_paths = [hazard_covariates(p) for p in paths]
    haz_counts = list(counts)
    info = {"events": events}
    upto = None
    if groups is not None:
        gp, gw, gc, gcounts = group_paths(
            dbm,
            obs,
            idx,
            groups,
            smooth,
            seed=seed,
            chains=chains,
            iterations=iterations,
            threads=threads,
        )
        info["groups"] = [len(gp), *map(int, groups)]
        alive = fit_alive_rhs(paths + gp, weights + gw, dt, names=whole.inputs)
        if not GROUP_CORRECT:
            from .kernel import SUBSAMPLE

            upto = -(-sum(len(p) - 1 for p in paths) // SUBSAMPLE)
        if group_hazard:
            t0 = int(groups[0])
            cov_paths = [c[: t0 + 1] for c in cov_paths] + gc
            haz_counts = [c[: t0 + 1] for c in haz_counts] + gcounts
    else:
        alive = fit_alive_rhs(paths, weights, dt, names=whole.inputs)
    hazard = fit_hazard(cov_paths, haz_counts)
    ratio = entry_ratio([o[:, :, :2] for o in obs])
    c0 = ensembles[0].config
    curve = prey_only_curve(
        type(c0)(**{**c0.to_dict(), "steps": CURVE_STEPS}),
        columns=None,
    )
    info["fit_residual"] = fr.relative_residual().mean(axis=0).tolist()
    pas = None
    if passage is not None:
        death = float(c0.death)
        coef = [0.0]
        if passage != "pure":
            coef = fit_passage(
                [o[:, :, 1].mean(axis=0) for o in obs],
                [float(e.config.init_y) for e in ensembles],
                counts,
                death,
                dt,
                None
                if passage == "constant"
                else [passage_covariates(m) for m in means],
            )
        pas = np.r_[death, coef]
        info["passage"] = pas.tolist()
    mix = TwoPhase(alive, hazard, ratio, curve, passage=pas)
    if path_fit:
        from .pathfit import fit_alive_along_paths

        N = float(dbm.n_sites)

        def start(x0, y0):
            return dbm.initial_theta(
                max(int(x0) / N, 0.5 / N), max(int(y0) / N, 0.5 / N)
            )

        starts = [start(e.config.init_x, e.config.init_y) for e in ensembles]
        colloc = [start(x, y) for x, y in (COLLOCATION or ())]
        fitted = fit_alive_along_paths(
            dbm,
            alive,
            whole,
            paths,
            obs,
            starts,
            mix,
            dt,
            seed=int(seed) + 104729,
            threads=threads,
            progress=None if progress is None else (lambda d, t: progress(d, t, 1)),
            upto=upto,
            death=float(c0.death),
            birth=float(c0.birth),
            collocation=colloc,
        )
        info["path_fit"] = fitted.info["objective"]
        mix = TwoPhase(
            fitted,
            hazard,
            ratio,
            curve,
            passage=pas,
            balance=fitted.info.get("balance"),
        )
    return mix, info


def group_paths(
    dbm,
    observables: Sequence[np.ndarray],
    idx: np.ndarray,
    groups,
    smooth,
    *,
    seed: int = 0,
    chains: int,
    iterations: int,
    threads: int | None = None,
):
    """The survivors' paths of the groups of :func:`~dbdviz.dbd.mixture.group_means`
    (one :func:`~dbdviz.dbd.multi.fit_paths` call for all groups of all ensembles,
    seed ``seed + 15485863``), from ``t0`` on.

    Parameters
    ----------
    dbm : DBM
    observables : sequence of ndarray (R, T + 1, >= P)
    idx : ndarray of int
        Fitted time indices.
    groups : tuple (t0, groups, column)
    smooth : callable
        Interpolation to every step and low-pass (as for the ensembles' paths).
    seed, chains, iterations, threads
        The path fit.

    Returns
    -------
    paths : list of ndarray (T + 1 - t0, P)
    weights : list of ndarray (T + 1 - t0,)
        ``(n_alive / n)^GROUP_POWER``, ``n`` the ensemble's replicates.
    covariates : list of ndarray (T + 1 - t0, 2 P)
        The hazard's covariates along the paths.
    counts : list of ndarray of int (T + 1 - t0,)
        The groups' replicates with predators.
    """
    from .mixture import group_means, hazard_covariates
    from .multi import fit_paths

    t0, n_groups, column = (int(g) for g in groups)
    P = dbm.n_params
    means, counts, totals = [], [], []
    for o in observables:
        for m, c in group_means(o, t0, n_groups, column):
            means.append(m[idx, :P])
            counts.append(c[t0:])
            totals.append(len(o))
    fr = fit_paths(
        dbm,
        means,
        idx,
        chains=chains,
        iterations=iterations,
        seed=int(seed) + 15485863,
        threads=threads,
    )
    paths = [smooth(th)[t0:] for th in fr.theta]
    weights = [(c / n) ** GROUP_POWER for c, n in zip(counts, totals, strict=True)]
    covs = [hazard_covariates(p) for p in paths]
    return paths, weights, covs, counts
