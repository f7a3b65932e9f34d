"""Finite elements (ALGORITHM.md 4.2) and forward Euler (4.1) against exact cases and
the naive twins of tests/naive_fe.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from naive_fe import naive_eval, naive_grad, naive_integrate, store_from
from numpy.polynomial import polynomial as npoly

from dbdviz.dbd.adjoint import adjoint
from dbdviz.dbd.basis import FiniteElements
from dbdviz.dbd.dynamics import Integrator, integrate


def _tpoly(c, x, deriv=None):
    """Tensor polynomial with coefficients c[i_0, .., i_{D-1}] (mixed derivative)."""
    cc = c
    if deriv is not None:
        for d, n in enumerate(deriv):
            if n:
                cc = npoly.polyder(cc, n, axis=d)
    for d in range(len(x)):
        cc = npoly.polyval(x[d], cc)
    return float(cc)


def _grid_keys(lo, hi):
    """All integer vertices of the box of cells lo..hi (inclusive) plus one."""
    ranges = [range(a, b + 2) for a, b in zip(lo, hi, strict=True)]
    return np.array(list(itertools.product(*ranges)), np.int64)


def _interpolate(fe, polys, keys):
    """Set coefficients of fe from global tensor polynomials (one per function)."""
    rows = fe.insert(keys)
    pos = fe.origin + keys * fe.spacing
    for r, x in zip(rows, pos, strict=True):
        for kappa in itertools.product(range(fe.n_types), repeat=fe.dim):
            slot = sum(k * fe.n_types ** (fe.dim - 1 - d) for d, k in enumerate(kappa))
            scale = np.prod([fe.spacing[d] for d in range(fe.dim) if kappa[d] == 1])
            for p, c in enumerate(polys):
                fe._coef[r, slot, p] = scale * _tpoly(
                    c, x, kappa if fe.n_types == 2 else None
                )


def _random_points(fe, rng, n, lo, hi):
    lo_x = fe.origin + np.asarray(lo) * fe.spacing
    hi_x = fe.origin + (np.asarray(hi) + 1) * fe.spacing
    return lo_x + rng.random((n, fe.dim)) * (hi_x - lo_x)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_q3_reproduces_tensor_cubics(dim):
    rng = np.random.default_rng(10 + dim)
    spacing = rng.uniform(0.05, 0.3, dim)
    origin = rng.uniform(-1, 1, dim)
    fe = FiniteElements(2, spacing, origin, kind="q3c1")
    polys = [rng.normal(size=(4,) * dim) for _ in range(2)]
    lo, hi = [-3] * dim, [2] * dim
    _interpolate(fe, polys, _grid_keys(lo, hi))
    pts = _random_points(fe, rng, 40, lo, hi)
    val, grad = fe.gradient(pts)
    for i, x in enumerate(pts):
        for p, c in enumerate(polys):
            exact = _tpoly(c, x)
            assert val[i, p] == pytest.approx(exact, rel=1e-10, abs=1e-10)
            for m in range(dim):
                dd = [0] * dim
                dd[m] = 1
                assert grad[i, p, m] == pytest.approx(
                    _tpoly(c, x, dd), rel=1e-9, abs=1e-9
                )
    np.testing.assert_allclose(fe.evaluate(pts), val, rtol=1e-14, atol=1e-14)


def test_q3_does_not_reproduce_quartics():
    # the test above can fail: a quartic term is outside the Q3 space
    rng = np.random.default_rng(3)
    fe = FiniteElements(1, 0.2, 0.0, dim=1)
    c = np.array([0.0, 0, 0, 0, 1.0])
    _interpolate(fe, [c], _grid_keys([0], [3]))
    x = np.array([0.1])
    assert abs(fe.evaluate(x)[0] - 0.1**4) > 1e-6
    _ = rng


@pytest.mark.parametrize("dim", [1, 2, 4])
def test_q1_reproduces_multilinear(dim):
    rng = np.random.default_rng(20 + dim)
    fe = FiniteElements(
        3, rng.uniform(0.1, 0.5, dim), rng.uniform(-1, 1, dim), kind="q1"
    )
    polys = [rng.normal(size=(2,) * dim) for _ in range(3)]
    lo, hi = [-2] * dim, [1] * dim
    _interpolate(fe, polys, _grid_keys(lo, hi))
    pts = _random_points(fe, rng, 30, lo, hi)
    val, grad = fe.gradient(pts)
    for i, x in enumerate(pts):
        for p, c in enumerate(polys):
            assert val[i, p] == pytest.approx(_tpoly(c, x), rel=1e-11, abs=1e-11)
            for m in range(dim):
                dd = [0] * dim
                dd[m] = 1
                assert grad[i, p, m] == pytest.approx(
                    _tpoly(c, x, dd), rel=1e-10, abs=1e-10
                )


def _random_store(fe, rng, lo, hi, fill=1.0):
    keys = _grid_keys(lo, hi)
    if fill < 1.0:
        keys = keys[rng.random(len(keys)) < fill]
    rows = fe.insert(keys)
    fe._coef[rows] = rng.normal(size=(len(rows), fe.n_slots, fe.n_funcs))
    return keys


@pytest.mark.parametrize("kind", ["q3c1", "q1"])
def test_face_continuity(kind):
    """C1 (Q3) / C0 (Q1) across every face of a cell, from the naive per-cell
    polynomials evaluated exactly on the shared face."""
    rng = np.random.default_rng(5)
    dim = 3
    fe = FiniteElements(2, [0.1, 0.2, 0.15], [0.3, -0.1, 0.0], kind=kind)
    _random_store(fe, rng, [-1] * dim, [1] * dim)
    store = store_from(fe)
    args = (fe.origin, fe.spacing, fe.n_types, fe.n_funcs)
    jumps = []
    for m in range(dim):
        for _ in range(5):
            cell = rng.integers(-1, 1, dim)  # cell and its +1 neighbour along m exist
            f = rng.random(dim)
            f[m] = 1.0
            x = fe.origin + (cell + f) * fe.spacing
            right = cell.copy()
            right[m] += 1
            left_v = naive_eval(store, x, *args, cell=list(cell))
            right_v = naive_eval(store, x, *args, cell=list(right))
            np.testing.assert_allclose(left_v, right_v, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(fe.evaluate(x), right_v, rtol=1e-12, atol=1e-12)
            for mm in range(dim):
                gl = naive_eval(store, x, *args, deriv_dim=mm, cell=list(cell))
                gr = naive_eval(store, x, *args, deriv_dim=mm, cell=list(right))
                if mm == m:
                    jumps.append(np.max(np.abs(gl - gr)))
                else:  # tangential derivatives are continuous for C0 too
                    np.testing.assert_allclose(gl, gr, rtol=1e-9, atol=1e-9)
    if kind == "q3c1":
        assert max(jumps) < 1e-9
    else:
        assert max(jumps) > 1e-3  # normal derivative of Q1 jumps: the check can fail


@pytest.mark.parametrize("dim", [2, 6])
@pytest.mark.parametrize("kind", ["q3c1", "q1"])
def test_kernel_vs_naive(dim, kind):
    rng = np.random.default_rng(100 + dim)
    n_funcs = 10 if dim == 6 else 3
    fe = FiniteElements(
        n_funcs, rng.uniform(0.05, 0.2, dim), rng.uniform(-3, 0, dim), kind=kind
    )
    lo, hi = [-1] * dim, [0] * dim
    _random_store(fe, rng, lo, hi, fill=0.8)  # some vertices missing: read as 0
    store = store_from(fe)
    n_pts = 4 if dim == 6 else 20
    pts = _random_points(fe, rng, n_pts, lo, hi)
    val, grad = fe.gradient(pts)
    _, gref = fe.gradient(pts, "reference")
    ev = fe.evaluate(pts)
    for i, x in enumerate(pts):
        nv = naive_eval(store, x, fe.origin, fe.spacing, fe.n_types, n_funcs)
        ng = naive_grad(store, x, fe.origin, fe.spacing, fe.n_types, n_funcs)
        np.testing.assert_allclose(val[i], nv, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(ev[i], nv, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(grad[i], ng, rtol=1e-10, atol=1e-10)
        # reference scale (P1) = spacing * exact
        np.testing.assert_allclose(gref[i], ng * fe.spacing, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("kind", ["q3c1", "q1"])
def test_gradient_wrt_x_finite_differences(kind):
    rng = np.random.default_rng(7)
    dim = 3
    fe = FiniteElements(4, [0.1, 0.3, 0.2], [-0.05, 0.1, -0.3], kind=kind)
    _random_store(fe, rng, [-1] * dim, [1] * dim)
    h = 1e-6
    for _ in range(10):
        cell = rng.integers(-1, 2, dim)
        f = rng.uniform(0.1, 0.9, dim)  # away from faces (Q1 has kinks there)
        x = fe.origin + (cell + f) * fe.spacing
        _, g = fe.gradient(x)
        for m in range(dim):
            e = np.zeros(dim)
            e[m] = h
            fd = (fe.evaluate(x + e) - fe.evaluate(x - e)) / (2 * h)
            np.testing.assert_allclose(g[:, m], fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["q3c1", "q1"])
def test_basis_weights_are_dF_du(kind):
    rng = np.random.default_rng(8)
    dim = 3
    fe = FiniteElements(2, [0.1, 0.2, 0.3], [0.0, -1.0, 0.5], kind=kind)
    x = fe.origin + np.array([1.3, -0.4, 2.7]) * fe.spacing
    keys, w = fe.basis(x)
    np.testing.assert_array_equal(keys[0], [1, -1, 2])
    rows = fe.insert(keys)
    fe._coef[rows] = rng.normal(size=(len(rows), fe.n_slots, fe.n_funcs))
    base = fe.evaluate(x)
    for c in range(len(keys)):
        for s in range(fe.n_slots):
            old = fe._coef[rows[c], s, 1]
            fe._coef[rows[c], s, 1] = old + 0.5
            d = (fe.evaluate(x) - base) / 0.5
            fe._coef[rows[c], s, 1] = old
            assert d[0] == 0.0  # other functions untouched
            assert d[1] == pytest.approx(w[c, s], rel=1e-12, abs=1e-13)
    # derivative weights: d/df of the basis weights
    h = 1e-6
    for m in range(dim):
        _, wm = fe.basis(x, deriv_dim=m)
        e = np.zeros(dim)
        e[m] = h * fe.spacing[m]
        fd = (fe.basis(x + e)[1] - fe.basis(x - e)[1]) / (2 * h)
        np.testing.assert_allclose(wm, fd, rtol=1e-6, atol=1e-8)


def test_reads_do_not_allocate():
    rng = np.random.default_rng(9)
    fe = FiniteElements(10, 0.1, -2.68, dim=6)
    keys = _random_store(fe, rng, [0] * 6, [0] * 6)
    n0 = fe.n_vertices
    assert n0 == len(keys) == 64
    far = rng.normal(size=(5, 6)) * 3
    assert np.all(fe.evaluate(far + 20) == 0.0)
    fe.gradient(far)
    fe.basis(far[0])
    fe.find(np.zeros((3, 6), np.int64) + 7)
    dom = [0, 1, 6, 7, 8, 9]
    traj = integrate(fe, far[0][[0, 1, 2, 3, 4, 5, 0, 1, 2, 3]], 20, domain=dom)
    Integrator(fe, traj.theta[0], domain=dom).trajectory(20)
    adjoint(fe, traj.theta, np.ones_like(traj.theta), 0, 20, domain=dom)
    assert fe.n_vertices == n0
    assert np.all(fe.find(np.full((1, 6), 50)) == -1)


def test_hash_index_growth_and_lookup():
    rng = np.random.default_rng(11)
    fe = FiniteElements(2, 0.1, 0.0, dim=3, capacity=4)
    keys = rng.integers(-400, 400, (3000, 3))
    rows = fe.insert(keys)
    uniq, first = np.unique(keys, axis=0, return_index=True)
    assert fe.n_vertices == len(uniq)
    # same key -> same row; rows are consistent with stored keys
    np.testing.assert_array_equal(fe.keys[rows], keys)
    fe._coef[rows, 0, 1] = keys[:, 0] * 1000.0 + keys[:, 1]
    fe.reserve(10 * fe.capacity)  # rehash
    np.testing.assert_array_equal(fe.find(keys), rows)
    np.testing.assert_array_equal(fe.coef[rows, 0, 1], keys[:, 0] * 1000.0 + keys[:, 1])
    assert np.all(fe.find(keys + 1000) == -1)


def test_accumulate_matches_basis_weights():
    rng = np.random.default_rng(12)
    dim, P = 3, 4
    fe = FiniteElements(P, 0.2, -0.1, dim=dim)
    pts = rng.uniform(-0.3, 0.3, (7, dim))
    c = rng.normal(size=(7, P))
    g = fe.accumulate(pts, c)
    assert len(set(g.rows.tolist())) == g.n_touched
    dense = {}
    for x, ci in zip(pts, c, strict=True):
        keys, w = fe.basis(x)
        for k, wk in zip(keys, w, strict=True):
            dense.setdefault(tuple(k), np.zeros((fe.n_slots, P)))
            dense[tuple(k)] += wk[:, None] * ci[None, :]
    assert g.n_touched == len(dense) == fe.n_vertices
    for r, vals in zip(g.rows, g.values, strict=True):
        np.testing.assert_allclose(
            vals, dense[tuple(fe.keys[r])], rtol=1e-13, atol=1e-14
        )


def test_roundtrip_and_copy():
    rng = np.random.default_rng(13)
    fe = FiniteElements(3, [0.1, 0.2], [0.0, 1.0], kind="q3c1")
    _random_store(fe, rng, [-2, -2], [2, 2])
    fe2 = FiniteElements.from_arrays(fe.to_arrays())
    pts = _random_points(fe, rng, 10, [-2, -2], [2, 2])
    assert np.all(fe.evaluate(pts) != 0)
    np.testing.assert_array_equal(fe.evaluate(pts), fe2.evaluate(pts))
    tab = fe.reference_table(2)
    assert tab.shape == (fe.n_vertices, 2 + 4)
    np.testing.assert_allclose(tab[:, :2], fe.origin + fe.keys * fe.spacing)
    np.testing.assert_array_equal(tab[:, 2:], fe.coef[:, :, 2])
    fe3 = fe.copy()
    fe3._coef[:] = 0
    assert np.any(fe.evaluate(pts) != 0)


def test_validation():
    with pytest.raises(ValueError, match="kind"):
        FiniteElements(2, 0.1, 0.0, dim=2, kind="q2")
    with pytest.raises(ValueError, match="spacing"):
        FiniteElements(2, -0.1, 0.0, dim=2)
    fe = FiniteElements(2, 0.1, 0.0, dim=2)
    with pytest.raises(ValueError, match="shape"):
        fe.evaluate(np.zeros(3))
    with pytest.raises(ValueError, match="deriv_scale"):
        fe.gradient(np.zeros(2), "bogus")


@pytest.mark.parametrize("substeps", [1, 3])
def test_integrate_vs_naive(substeps):
    rng = np.random.default_rng(14)
    P, dim = 5, 3
    domain = np.array([0, 3, 4])
    fe = FiniteElements(P, 0.2, [-0.1, -0.1, -0.1], kind="q3c1")
    _random_store(fe, rng, [-3] * dim, [2] * dim)
    fe._coef *= 0.3
    theta0 = rng.normal(size=P) * 0.05
    traj = integrate(fe, theta0, 12, domain=domain, dt=0.5, substeps=substeps)
    ref = naive_integrate(
        store_from(fe),
        theta0,
        domain,
        0.5,
        substeps,
        12,
        fe.origin,
        fe.spacing,
        fe.n_types,
    )
    np.testing.assert_allclose(traj.theta, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(traj.x, traj.theta[:, domain])
    assert traj.theta.shape == (13, P)


def test_integrate_zero_rhs_is_constant():
    fe = FiniteElements(10, 0.1, 0.0, dim=6)
    th0 = np.array([-2.63, -2.63, 0, 0, 0, 0, 0, 0, 0, 0])
    traj = integrate(fe, th0, 50, domain=[0, 1, 6, 7, 8, 9])
    assert np.all(traj.theta == th0)


def test_incremental_integrator_is_bitwise_exact():
    from dbdviz.dbd.optim import SGD

    rng = np.random.default_rng(15)
    P = 5
    domain = np.array([0, 3, 4])
    fe = FiniteElements(P, 0.1, [-0.05] * 3, kind="q3c1")
    # a drift that carries the trajectory through many cells
    drift = np.array([0.01, 0.0, 0.0, -0.007, 0.004])
    path = np.arange(200)[:, None] * drift
    fe.accumulate(path[:, domain], np.ones((200, P)))
    fe._coef[: fe.n_vertices, 0, :] = drift
    for substeps in (1, 2):
        integ = Integrator(fe, np.zeros(P), domain=domain, dt=1.0, substeps=substeps)
        opt = SGD(0.05)
        recomputed = []
        for T in range(10, 60, 3):
            traj = integ.trajectory(T)
            ref = integrate(fe, np.zeros(P), T, domain=domain, substeps=substeps)
            np.testing.assert_array_equal(traj.theta, ref.theta)
            recomputed.append(integ.last_recomputed)
            # update the coefficients around the window end
            g = fe.accumulate(traj.x[-5:], rng.normal(size=(5, P)) * 1e-3)
            opt.step(fe, g)
            integ.mark_updated(g.rows)
        assert max(recomputed[5:]) < 30  # only the tail was re-integrated
        integ.invalidate()
        assert integ.trajectory(20).theta.shape == (21, P)
        assert integ.last_recomputed == 20
