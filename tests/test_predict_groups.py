"""More survivors' paths from the same training data (docs/experiments/22): the
replicates of an ensemble grouped by their state at t0 (exact small cases) and the
group paths' plumbing in train_multi."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.config import preset
from dbdviz.dbd.mixture import alive_means, group_means


def _obs():
    # 4 replicates, 3 times, columns X, Y
    o = np.zeros((4, 3, 2))
    o[:, :, 0] = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    o[:, :, 1] = [[5, 3, 1], [2, 0, 0], [9, 8, 7], [4, 4, 0]]
    return o


def test_group_means_exact():
    o = _obs()
    lo, hi = group_means(o, 1, 2)  # alive at t = 1: replicates 0, 2, 3 (Y 3, 8, 4)
    # sorted by Y at t = 1: 0 (3), 3 (4), 2 (8); array_split -> [0, 3], [2]
    np.testing.assert_array_equal(lo[1], [2, 2, 1])  # replicate 3 dies at t = 2
    np.testing.assert_allclose(lo[0][:, 0], [5.5, 6.5, 3.0])
    np.testing.assert_array_equal(hi[1], [1, 1, 1])
    np.testing.assert_allclose(hi[0][:, 0], [7, 8, 9])
    # by X (column 0) at t = 1: 0 (2), 2 (8), 3 (11) -> [0, 2], [3]
    a, b = group_means(o, 1, 2, column=0)
    np.testing.assert_allclose(a[0][1], [5.0, 5.5])
    np.testing.assert_allclose(b[0][1], [11.0, 4.0])
    # one group is the survivors at t0 (from t0 on: the ensemble's survivors)
    ((m, n),) = group_means(o, 0, 1)
    m0, n0 = alive_means(o)
    np.testing.assert_array_equal(n, n0)
    np.testing.assert_allclose(m, m0)
    # more groups than survivors: empty groups are left out
    assert len(group_means(o, 2, 4)) == 2


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"t0": 3, "groups": 2}, "t0 = 3: allowed 0..2"),
        ({"t0": 1, "groups": 0}, "groups = 0: allowed 1..4"),
        ({"t0": 1, "groups": 2, "column": 2}, "column = 2: allowed 0..1"),
    ],
)
def test_group_means_refuses_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        group_means(_obs(), **kw)


@pytest.fixture(scope="module")
def dying():
    from dbdviz.simulate import simulate

    return [
        simulate(
            preset(
                "paper", size=8, init_x=x, init_y=y, steps=40, replicates=12, seed=s
            ),
            threads=1,
        )
        for x, y, s in ((10, 3, 3), (14, 2, 4))
    ]


def test_group_paths_plumbing(dying, monkeypatch):
    """The group paths add centers to F_alive (rows from t0 on), their alive counts
    add up to the ensembles' after t0, and the default (GROUPS None) is unchanged."""
    from dbdviz.config import DBMConfig
    from dbdviz.dbd import mixture_fit
    from dbdviz.dbd.kernel import SUBSAMPLE
    from dbdviz.dbd.multi import fit_times
    from dbdviz.dbd.predict import train_multi
    from dbdviz.dbm import DBM

    kw = dict(chains=4, iterations=1, threads=1, taps=0, path_fit=False)
    T, t0, G = 40, 10, 2
    base = train_multi(dying, **kw)
    monkeypatch.setattr(mixture_fit, "GROUPS", (t0, G, 1))
    grouped = train_multi(dying, **kw)
    assert grouped.meta["multi"]["two_phase"]["groups"] == [2 * G, t0, G, 1]
    rows = 2 * T + 2 * G * (T - t0)  # the ensembles' rows + the groups' (last dropped)
    assert len(grouped.mixture.alive.centers) == -(-rows // SUBSAMPLE)
    assert len(base.mixture.alive.centers) == -(-2 * T // SUBSAMPLE)
    # the hazard stays the ensembles' (GROUP_HAZARD False); the whole law unchanged
    np.testing.assert_array_equal(grouped.mixture.hazard, base.mixture.hazard)
    np.testing.assert_array_equal(grouped.rhs.alpha, base.rhs.alpha)
    monkeypatch.setattr(mixture_fit, "GROUP_HAZARD", True)
    gh = train_multi(dying, **kw)
    assert not np.array_equal(gh.mixture.hazard, base.mixture.hazard)
    np.testing.assert_array_equal(gh.mixture.alive.alpha, grouped.mixture.alive.alpha)
    monkeypatch.setattr(mixture_fit, "GROUPS", None)
    again = train_multi(dying, **kw)
    np.testing.assert_array_equal(again.mixture.alive.alpha, base.mixture.alive.alpha)
    np.testing.assert_array_equal(again.mixture.hazard, base.mixture.hazard)

    dbm = DBM(DBMConfig(depth=0, visible_couplings=True, chains=10), size=8)
    obs = [np.asarray(e.observables, float) for e in dying]
    idx = fit_times(T)
    every = np.arange(T + 1)

    def smooth(th):
        return np.column_stack([np.interp(every, idx, c) for c in th.T])

    paths, weights, covs, counts = mixture_fit.group_paths(
        dbm, obs, idx, (t0, G, 1), smooth, chains=4, iterations=1, threads=1
    )
    assert len(paths) == 2 * G
    for e in range(2):
        total = counts[G * e] + counts[G * e + 1]
        np.testing.assert_array_equal(total, alive_means(obs[e])[1][t0:])
        np.testing.assert_allclose(
            weights[G * e] ** 2 + weights[G * e + 1] ** 2, total / 12
        )
    assert all(p.shape == (T + 1 - t0, dbm.n_params) for p in paths)
    assert all(c.shape == (T + 1 - t0, 2 * dbm.n_params) for c in covs)


def test_group_correct_limits_the_path_fit(dying, monkeypatch):
    """GROUP_CORRECT False: the path fit changes F_alive only at the ensembles'
    centers (every EVERY-th of them); True: at the group paths' centers too."""
    from dbdviz.dbd import mixture_fit
    from dbdviz.dbd.kernel import SUBSAMPLE
    from dbdviz.dbd.pathfit import EVERY
    from dbdviz.dbd.predict import train_multi

    kw = dict(chains=4, iterations=1, threads=1, taps=0)
    monkeypatch.setattr(mixture_fit, "GROUPS", (10, 2, 1))
    velocity = train_multi(dying, path_fit=False, **kw).mixture.alive.alpha
    monkeypatch.setattr(mixture_fit, "GROUP_CORRECT", False)
    limited = train_multi(dying, **kw).mixture.alive.alpha
    monkeypatch.setattr(mixture_fit, "GROUP_CORRECT", True)
    full = train_multi(dying, **kw).mixture.alive.alpha
    upto = -(-2 * 40 // SUBSAMPLE)  # the two ensembles' centers come first
    idx = np.arange(len(velocity))
    fixed = (idx >= upto) | (idx % EVERY != 0)
    np.testing.assert_array_equal(limited[fixed], velocity[fixed])
    assert not np.array_equal(limited[~fixed], velocity[~fixed])
    moved = (idx >= upto) & (idx % EVERY == 0)
    assert moved.any() and not np.array_equal(full[moved], velocity[moved])
