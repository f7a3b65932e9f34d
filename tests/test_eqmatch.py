"""Equilibrium moment matching against exact enumeration (issue 14, item 3).

A 3 x 3 fully visible machine with strong couplings (19683 states): from theta with
weakened couplings, damped Newton with tempered moments reaches a theta whose
*exact* moments are the target's, and its sampled moments agree with the exact
ones within their standard errors.
"""

from __future__ import annotations

import naive_dbm as nv
import numpy as np
import pytest
from test_dbm import make

from dbdviz._warmup import warmup
from dbdviz.dbd.eqmatch import match_moments

THETA = np.array([-3.0, -2.0, 1.4, -1.5, 1.1])  # as test_equilibrium.py


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup("dbm")


def _exact(dbm, theta):
    st, pr = nv.exact_joint(dbm, theta)
    return pr @ nv.statistics(dbm, st)


def test_newton_reaches_the_exact_match():
    dbm = make(3, depth=0, visible_couplings=True)
    target = _exact(dbm, THETA)
    theta0 = THETA + np.array([0.3, -0.3, -0.5, 0.5, -0.4])
    r = match_moments(
        dbm, theta0, target, iterations=10, cap=0.5, chains=200, rungs=4, seed=1
    )
    # the test can fail: the start's exact moments are far from the target
    first = r.history[0]
    assert np.abs(first["z"]).max() > 20, first["z"]
    exact = _exact(dbm, r.theta)
    # the sampler at the result: its moments are the exact ones within SE
    assert np.all(np.abs(r.mean - exact) < 3 * r.se + 1e-9), (r.mean, exact, r.se)
    # the result's exact moments are the target's within the sampler's SE
    assert np.all(np.abs(exact - target) < 3 * r.se + 1e-9), (exact, target, r.se)
    assert np.abs(r.z).max() < 3
    assert np.allclose(r.theta, THETA, atol=0.15), r.theta


def test_refuses_hidden_layers_and_bad_options():
    with pytest.raises(ValueError, match="depth 0"):
        match_moments(make(4, depth=1), np.zeros(make(4, depth=1).n_params), [0])
    dbm = make(3, depth=0, visible_couplings=True)
    with pytest.raises(ValueError, match="cap"):
        match_moments(dbm, THETA, THETA, cap=0)
    with pytest.raises(ValueError, match="shape"):
        match_moments(dbm, THETA, THETA[:3])
