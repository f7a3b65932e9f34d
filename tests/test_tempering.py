"""Parallel tempering (dbdviz.dbm.tempering) against exact enumeration."""

from __future__ import annotations

import math

import naive_dbm as nv
import numpy as np
import pytest
from test_dbm import chi2_pvalue, make

from dbdviz._rng import seed_states
from dbdviz._warmup import warmup
from dbdviz.dbm import tempering as tp

N = 4000
RUNGS = 8
# 3 x 3 fully visible machine with strong couplings (19683 states): X and Y
# clusters, 10 plain Gibbs sweeps from a random start are far from equilibrium.
THETA = np.array([-3.0, -2.0, 1.4, -1.5, 1.1])


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("dbm")


def _z(samples, exact):
    se = samples.std(axis=0) / math.sqrt(samples.shape[0])
    return (samples.mean(axis=0) - exact) / np.where(se > 0, se, 1.0)


def _tempered(dbm, theta, sweeps, seed=5, n=N):
    rng = seed_states(seed, n * RUNGS)
    states, ladder = tp.init_tempered(dbm, theta, n, RUNGS, rng)
    acc = tp.sample_tempered(
        dbm, theta, states, ladder, sweeps, strength=tp.strengths(RUNGS), seed=rng
    )
    return tp.top_rung(states, ladder, RUNGS), acc


def test_equilibrates_to_the_exact_distribution():
    dbm = make(3, depth=0, visible_couplings=True)
    st, pr = nv.exact_joint(dbm, THETA)
    exact = pr @ nv.statistics(dbm, st)
    top, acc = _tempered(dbm, THETA, 30)
    assert top.shape == (N, 1, 3, 3)
    assert np.all(acc > 0.5), acc
    assert chi2_pvalue(nv.config_index(top), pr, N) > 1e-3
    z = _z(dbm.param_statistics(top), exact)
    assert np.all(np.abs(z) < 4.5), z
    # the test can fail: 10 plain sweeps from a random start are far off
    s = dbm.init_chains(N, 1)
    dbm.sample(THETA, s, 10, seed=2)
    z = _z(dbm.param_statistics(s), exact)
    assert np.max(np.abs(z)) > 6, z


def test_hidden_layer_exact():
    """Depth 1 with couplings on 2 x 2: the tempered top rung is the joint law."""
    dbm = make(2, depth=1, visible_couplings=True, cross_channel=True)
    th = np.random.default_rng(3).normal(0, 0.35, dbm.n_params)
    st, pr = nv.exact_joint(dbm, th)
    top, _ = _tempered(dbm, th, 20, seed=7)
    assert chi2_pvalue(nv.config_index(top), pr, N) > 1e-3
    z = _z(dbm.param_statistics(top), pr @ nv.statistics(dbm, st))
    assert np.all(np.abs(z) < 4.5), z


def test_rows_ladder_and_reproducible():
    dbm = make(3, depth=0, visible_couplings=True)
    theta = np.stack([THETA, THETA * 0.5])
    rows = np.array([0, 1, 1])
    out = []
    for _ in range(2):
        rng = seed_states(11, 3 * RUNGS)
        s, lad = tp.init_tempered(dbm, theta, 3, RUNGS, rng, rows=rows)
        tp.sample_tempered(
            dbm, theta, s, lad, 5, strength=tp.strengths(RUNGS), seed=rng, rows=rows
        )
        assert np.array_equal(
            np.sort(lad.reshape(3, RUNGS), axis=1), np.tile(np.arange(RUNGS), (3, 1))
        )
        out.append(tp.top_rung(s, lad, RUNGS))
    assert np.array_equal(out[0], out[1])
    lam = tp.strengths(RUNGS)
    assert lam[0] == 0 and lam[-1] == 1 and np.all(np.diff(lam) > 0)


def test_bad_inputs():
    dbm = make(3, depth=0, visible_couplings=True)
    s, lad = tp.init_tempered(dbm, THETA, 2, 3, 0)
    with pytest.raises(ValueError, match="rungs"):
        tp.strengths(1)
    with pytest.raises(ValueError, match="strength"):
        tp.sample_tempered(dbm, THETA, s, lad, 1, strength=[0.0, 0.5])
    with pytest.raises(ValueError, match="ladder"):
        tp.sample_tempered(dbm, THETA, s, lad * 0, 1, strength=tp.strengths(3))
    with pytest.raises(ValueError, match="replicas"):
        tp.sample_tempered(dbm, THETA, s[:5], lad[:5], 1, strength=tp.strengths(3))


def test_dbm_with_rungs_samples_free_chains_by_tempering():
    """DBMConfig.rungs > 1: DBM.sample's free chains are tempered (exact law, as
    above); a chain's result depends on its own stream only."""
    dbm = make(3, depth=0, visible_couplings=True, rungs=RUNGS)
    st, pr = nv.exact_joint(dbm, THETA)
    s = dbm.init_chains(N, 1)
    dbm.sample(THETA, s, 30, seed=2)
    assert chi2_pvalue(nv.config_index(s), pr, N) > 1e-3
    z = _z(dbm.param_statistics(s), pr @ nv.statistics(dbm, st))
    assert np.all(np.abs(z) < 4.5), z
    rng = seed_states(2, N)
    part = dbm.init_chains(7, 0)
    dbm.sample(THETA, part, 30, seed=np.ascontiguousarray(rng[100:107]))
    assert np.array_equal(part, s[100:107])
    # clamped (awake) chains are plain Gibbs sweeps whatever the rungs
    plain = make(3, depth=1, visible_couplings=True)
    temp = make(3, depth=1, visible_couplings=True, rungs=RUNGS)
    th = np.random.default_rng(0).normal(0, 0.3, plain.n_params)
    a, b = plain.init_chains(5, 3), temp.init_chains(5, 3)
    plain.sample(th, a, 3, seed=4, clamp=a[:, 0].copy())
    temp.sample(th, b, 3, seed=4, clamp=b[:, 0].copy())
    assert np.array_equal(a, b)
