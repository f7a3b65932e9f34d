"""The survivors' law fitted along its integrated paths (dbdviz.dbd.pathfit)."""

from __future__ import annotations

import numpy as np
import pytest

from dbdviz.dbd.kernel import KernelRHS
from dbdviz.dbd.pathfit import fit_along_paths, mixture_metric, path_distance


def _law(alpha, centers):
    P = centers.shape[1]
    return KernelRHS(
        centers,
        alpha,
        np.zeros(P),
        np.ones(P),
        centers,
        length=0.7,
        pull=0.0,
        bandwidth=0.15,
        radius=1.0,
        inputs=[f"p{i}" for i in range(P)],
        form="reactions",
        poly=np.array([[0.01, -0.02]]),
    )


def _rotation(rng):
    """Centers on a 5 x 5 grid and the coefficients of a damped rotation plus
    kernel bumps (one draw of ``rng``)."""
    g = np.linspace(-1.5, 1.5, 5)
    centers = np.array([(a, b) for a in g for b in g])
    rot = np.array([[-0.05, -0.3], [0.3, -0.05]])
    return centers, 0.2 * (centers @ rot.T) + 0.02 * rng.standard_normal(centers.shape)


def _check_gradient(wrong, paths, w, kw, grad):
    """The path fit's gradient in every second center's coefficients equals the
    central differences of its objective (four coefficients; rtol 1e-5)."""
    sel = np.arange(0, len(wrong.centers), 2)
    eps = 1e-6
    for j, q in [(0, 0), (3, 1), (6, 0), (12, 1)]:
        obj = []
        for sgn in (1, -1):
            a = wrong.alpha.copy()
            a[sel[j], q] += sgn * eps
            law = _law(a, wrong.centers)
            obj.append(fit_along_paths(law, paths, w, 0.5, **kw).info["objective"][0])
        fd = (obj[0] - obj[1]) / (2 * eps)
        np.testing.assert_allclose(grad[2 * j + q], fd, rtol=1e-5, atol=1e-9)


@pytest.fixture(scope="module")
def truth():
    """A 2-D law (a damped rotation plus kernel bumps), its paths from three starts
    and a wrong start law: the truth with every second center's coefficients
    perturbed (the correction can represent the truth exactly)."""
    rng = np.random.default_rng(3)
    centers, alpha = _rotation(rng)
    true = _law(alpha, centers)
    starts = [np.array([1.0, 0.0]), np.array([0.0, -1.2]), np.array([-0.8, 0.8])]
    paths = [true.integrate(s, 60, 0.5) for s in starts]
    wrong = alpha.copy()
    wrong[::2] += 0.05 * rng.standard_normal(wrong[::2].shape)
    return true, _law(wrong, centers), starts, paths


def test_fit_along_paths_recovers_the_integrated_paths(truth):
    true, wrong, starts, paths = truth
    scale = np.concatenate(paths).std(axis=0)
    before = [
        path_distance(wrong.integrate(s, 60, 0.5), p, scale)
        for s, p in zip(starts, paths, strict=True)
    ]
    fit = fit_along_paths(
        wrong,
        paths,
        [np.ones(61)] * 3,
        0.5,
        every=2,
        ridge=1e-10,
        iterations=8,
        stride=1,
    )
    after = [
        path_distance(fit.integrate(s, 60, 0.5), p, scale)
        for s, p in zip(starts, paths, strict=True)
    ]
    assert min(before) > 0.05
    # Gauss-Newton with exact sensitivities: the objective falls by orders of
    # magnitude (a wrong sensitivity stalls after the first step)
    obj = fit.info["objective"]
    assert obj[-1] < 1e-4 * obj[0]
    assert max(after) < 1e-2 * min(before)
    # only every second center changed; the layout is the input's
    np.testing.assert_array_equal(fit.alpha[1::2], wrong.alpha[1::2])
    assert fit.centers.shape == wrong.centers.shape and fit.poly is not None


def test_fit_along_paths_metric_is_the_parameter_distance(truth):
    """The default residual is the standardised parameter distance: a metric
    ``diag(1 / scale)`` with zero offset gives the same fit."""
    _, wrong, _, paths = truth
    scale = np.concatenate(paths).std(axis=0)
    kw = dict(every=2, ridge=1e-3, iterations=2, stride=3)
    a = fit_along_paths(wrong, paths, [np.ones(61)] * 3, 0.5, **kw)
    M = np.tile(np.diag(1 / scale), (61, 1, 1))
    b = fit_along_paths(
        wrong,
        paths,
        [np.ones(61)] * 3,
        0.5,
        metric=[M] * 3,
        offset=[np.zeros((61, 2))] * 3,
        **kw,
    )
    np.testing.assert_allclose(b.alpha, a.alpha, rtol=1e-9, atol=1e-12)
    # a zero weight on every step: nothing to fit, the law is unchanged
    c = fit_along_paths(wrong, paths, [np.zeros(61)] * 3, 0.5, **kw)
    np.testing.assert_array_equal(c.alpha, wrong.alpha)


def test_fit_along_paths_meets_a_cumulative_hazard(truth):
    """With only the hazard term (zero parameter metric), the fit moves the paths so
    that the cumulative hazard along them meets the one along the true paths."""
    true, wrong, starts, paths = truth
    P = 2
    hz = np.array([-3.0, 0.8, -0.5, 0.3, 0.2])  # theta and its squares

    def cum(path):
        c = np.column_stack([path, path**2]) @ hz[1:] + hz[0]
        return np.r_[0.0, np.cumsum(np.exp(c))[:-1]]

    target = [cum(p) for p in paths]
    kw = dict(
        every=2,
        ridge=1e-10,
        iterations=6,
        stride=1,
        starts=starts,
        metric=[np.zeros((61, P, P))] * 3,
        hazard=hz,
        hazard_metric=[np.ones((61, P))] * 3,
    )
    fit = fit_along_paths(wrong, paths, [np.ones(61)] * 3, 0.5, **kw)
    err = lambda F: max(  # noqa: E731
        np.abs(cum(F.integrate(s, 60, 0.5)) - t).max()
        for s, t in zip(starts, target, strict=True)
    )
    assert err(wrong) > 0.01
    assert err(fit) < 0.05 * err(wrong)
    # exact sensitivities of the cumulative hazard: three Gauss-Newton steps take
    # the objective below 1e-4 of its start (without the squares' derivative 4e-3)
    obj = fit.info["objective"]
    assert obj[3] < 1e-3 * obj[0]


def test_mixture_metric_exact():
    cov = np.arange(2 * 4, dtype=float).reshape(2, 2, 2)
    am = np.array([[1.0, 2.0], [3.0, 4.0]])
    ext = np.array([[5.0, 6.0], [7.0, 9.0]])
    share = np.array([1.0, 0.5])
    scale = np.array([2.0, 4.0])
    m, h = mixture_metric(cov, am, share, ext, scale)
    np.testing.assert_allclose(m[1], 0.5 * cov[1] / scale[:, None])
    np.testing.assert_allclose(m[0], cov[0] / scale[:, None])
    np.testing.assert_allclose(h, [[2.0, 1.0], [1.0, 0.625]])


def test_fit_along_paths_refuses_rate_inputs(truth):
    _, wrong, _, paths = truth
    r = KernelRHS(
        np.c_[wrong.centers, np.zeros(len(wrong.centers))],
        wrong.alpha,
        np.zeros(2),
        np.ones(3),
        np.c_[wrong.centers, np.zeros(len(wrong.centers))],
        length=1.0,
        pull=0.0,
        bandwidth=0.15,
        radius=1.0,
        inputs=["p0", "p1", "birth"],
        form="reactions",
        poly=np.zeros((1, 2)),
    )
    with pytest.raises(ValueError, match="no rates"):
        fit_along_paths(r, paths, [np.ones(61)] * 3, 0.5)


def _singlet_setup(truth, stride=2, window=6):
    """Linearised moments ``m = base + jac theta`` along every path whose balance
    ``m0(t) - m0(t - w) = trapz(m1)`` (G = e0, D = e1) holds exactly on the true
    paths (base chosen so: ``m1 = h(t)``, ``m0 = the trapezoid integral of h``)."""
    _, _, starts, paths = truth
    rng = np.random.default_rng(11)
    jac = np.array([[1.0, 0.3], [-0.2, 0.8]])
    t = np.arange(61)
    moments = []
    for p in paths:
        h = 0.5 + 0.3 * np.sin(0.1 * t + rng.uniform(0, 3))
        H = np.zeros(61)
        for k in range(stride, 61, stride):  # trapezoid on the stride grid
            H[k] = H[k - stride] + 0.5 * stride * 0.5 * (h[k - stride] + h[k])
        m = np.column_stack([H, h])
        moments.append((m - p @ jac.T, np.tile(jac, (61, 1, 1))))
    G, D = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    return moments, (G, D)


def test_singlet_rows_gradient_matches_finite_differences(truth):
    """The Gauss-Newton gradient of the objective with moment and singlet rows (at
    the start) equals central differences of the objective in the corrected
    coefficients: the singlet rows' sensitivities are exact."""
    _, wrong, starts, paths = truth
    moments, sg = _singlet_setup(truth)
    kw = dict(
        every=2,
        ridge=0.0,
        iterations=0,
        stride=2,
        starts=starts,
        moments=moments,
        singlet=sg,
        singlet_weight=0.7,
        singlet_scale=np.array([2.0]),
        singlet_window=6,
        singlet_weights=[np.linspace(1.0, 0.5, 61)] * 3,
    )
    base = fit_along_paths(wrong, paths, [np.ones(61)] * 3, 0.5, **kw)
    grad = base.info["gradient"]
    assert np.abs(grad).max() > 1e-3
    _check_gradient(wrong, paths, [np.ones(61)] * 3, kw, grad)
    # without the singlet rows the gradient is another
    other = fit_along_paths(
        wrong, paths, [np.ones(61)] * 3, 0.5, **{**kw, "singlet_weight": 0.0}
    )
    assert np.abs(other.info["gradient"] - grad).max() > 1e-3 * np.abs(grad).max()


def test_singlet_weight_zero_is_the_fit_without(truth):
    _, wrong, starts, paths = truth
    moments, sg = _singlet_setup(truth)
    kw = dict(every=2, ridge=1e-3, iterations=2, stride=2, starts=starts)
    a = fit_along_paths(wrong, paths, [np.ones(61)] * 3, 0.5, **kw)
    b = fit_along_paths(
        wrong,
        paths,
        [np.ones(61)] * 3,
        0.5,
        moments=moments,
        singlet=sg,
        singlet_weight=0.0,
        **kw,
    )
    np.testing.assert_array_equal(b.alpha, a.alpha)
    assert a.info["objective"] == b.info["objective"]


def test_singlet_rows_alone_are_met(truth):
    """Only the singlet rows (zero moment metric): the fit makes the balance hold
    along the integrated paths (it holds exactly on the true ones)."""
    _, wrong, starts, paths = truth
    moments, sg = _singlet_setup(truth)
    fit = fit_along_paths(
        wrong,
        paths,
        [np.ones(61)] * 3,
        0.5,
        every=2,
        ridge=1e-10,
        iterations=6,
        stride=2,
        starts=starts,
        metric=[np.zeros((61, 2, 2))] * 3,
        moments=moments,
        singlet=sg,
        singlet_weight=1.0,
        singlet_window=6,
    )
    obj = fit.info["objective"]
    assert obj[0] > 1e-4
    assert obj[-1] < 1e-3 * obj[0]
    with pytest.raises(ValueError, match="moments"):
        fit_along_paths(
            wrong, paths, [np.ones(61)] * 3, 0.5, singlet=sg, singlet_weight=1.0
        )


def test_singlet_rows_and_coefficient():
    from dbdviz.dbd.pathfit import predation_coefficient, singlet_residual, singlet_rows

    G, D = singlet_rows(0.2, 0.06, 0.025, "XY")
    np.testing.assert_array_equal(G, [[0, 1, 0, 0, 0], [1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(D, [[0, -0.06, 0, 0.2, 0], [0.025, 0, 0, -0.2, 0]])
    # moments that obey dY = 0.2 nnXY - 0.06 Y exactly (Euler): residual 0 and the
    # least-squares coefficient recovers 0.2
    rng = np.random.default_rng(0)
    m = np.zeros((30, 5))
    m[:, 3] = rng.uniform(5, 20, 30)
    m[0, 1] = 40.0
    for t in range(29):
        m[t + 1, 1] = m[t, 1] + 0.2 * m[t, 3] - 0.06 * m[t, 1]
    np.testing.assert_allclose(
        singlet_residual(m, singlet_rows(0.2, 0.06), 1.0), 0.0, atol=1e-12
    )
    obs = np.repeat(m[None], 3, axis=0)
    assert predation_coefficient([obs], 0.06, 1.0) == pytest.approx(0.2, rel=1e-12)
    with pytest.raises(ValueError, match="rows"):
        singlet_rows(0.2, 0.06, rows="X")
