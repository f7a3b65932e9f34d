"""The survivors' law fitted along its integrated paths (issue 18, experiments/16).

:func:`dbdviz.dbd.mixture.fit_alive_rhs` fits ``F_alive`` to the Euler velocities of
the survivors' fitted paths. Integrated from the random placement, that law's first
predator rise comes 5-10 steps late and low although one-step residuals are small
(docs/experiments/14 section 6): errors in the velocities add up along the path.
:func:`fit_along_paths` corrects the law so that its *integrated* paths meet the
fitted ones: ``F = F_0 + sum_j beta_j K(theta, c_j)``, ``F_0`` the velocity fit, the
correction's centers ``c_j`` every ``every``-th center of ``F_0`` (the same kernel:
the result is a :class:`~dbdviz.dbd.kernel.KernelRHS` of the same layout with
``alpha`` changed at those centers; old readers load it).

The path is integrated as :meth:`dbdviz.dbd.mixture.TwoPhase.integrate` does: forward
Euler of ``(1 - w) F_whole + w F``, ``w = min(1, q / blend)``, ``q`` the hazard's
extinct fraction along the training path (held fixed within the fit). ``F`` is linear
in ``beta``; forward sensitivities ``S_t = d theta_t / d beta``,

    ``S_{t+1} = S_t + dt (J_t S_t + w_t dF/dbeta)``

(``J_t`` the Jacobian of the blended right-hand side, analytic) give
Gauss-Newton steps for the weighted squared standardised distance of the integrated
from the fitted paths plus ``ridge`` times the correction's RKHS norm (Levenberg-
Marquardt damping; a step that raises the objective is retried with more damping).
Segments (``window``) start on the fitted path every ``window`` steps and run
``window`` steps (multiple shooting); ``window=None``: whole paths from ``theta(0)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .balance import (
    balanced_paths,
    predation_coefficient,
    singlet_residual,
    singlet_rows,
)

__all__ = [
    "fit_along_paths",
    "path_distance",
    "singlet_rows",
    "predation_coefficient",
    "singlet_residual",
    "EVERY",
    "RIDGE",
    "ITERATIONS",
]

#: Correction centers (every ``EVERY``-th center of the velocity fit), its ridge
#: (RKHS norm, relative to the objective's mean per step), Gauss-Newton iterations.
EVERY = 10
RIDGE = 1e-2
ITERATIONS = 4
#: Outer iterations (sampled linearisations) of :func:`fit_alive_along_paths` and
#: their chains per time point.
OUTER = 2
CHAINS = 40
#: The singlet constraint (docs/experiments/24): its weight relative to the moment
#: residual (0: off, the fit of session 9 bit for bit), the window (steps) of the
#: balance ``Y(t) - Y(t - w) = int (a nnXY - death Y)``, and which singlet rows
#: (``"Y"``: the predators'; ``"XY"``: and the prey's ``dX = birth X - a nnXY``).
SINGLET_WEIGHT = 0.0
SINGLET_WINDOW = 25
SINGLET_ROWS = "Y"
#: The predators' balance inside the path fit's integration and the prediction's
#: (:mod:`dbdviz.dbd.balance`, docs/experiments/25): its gain (0: off).
BALANCE_GAIN = 0.0


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] - 2.0 * (a @ b.T) + (b * b).sum(1)[None, :]
    return np.maximum(d2, 0.0)


def fast_evaluate(rhs, x: np.ndarray, alpha=None, jacobian: bool = False):
    """:meth:`KernelRHS.evaluate` of a ``"reactions"`` law without rate inputs, the
    squared distances by one matrix product (many rows at once; equal to rounding),
    optionally with other kernel coefficients ``alpha`` and the Jacobian.

    Returns
    -------
    f : ndarray (m, P)
    J : ndarray (m, P, P), ``J[r, i, j] = dF_i / dtheta_j`` (``jacobian`` only)
    K : ndarray (m, n_centers), the kernel values (``jacobian`` only)
    """
    a = rhs.alpha if alpha is None else alpha
    P = rhs.n_funcs
    s = rhs.scale
    xs = x / s
    K = np.exp(-0.5 * _sqdist(xs, rhs._cs) / rhs.length**2)
    fk = K @ a
    f = fk + (rhs.mean if rhs.poly is None else rhs.features(x) @ rhs.poly)
    if jacobian:
        # d/dx_j sum_i a_ip k_i = sum_i a_ip k_i (c_ij - x_j / s_j) / (s_j L^2)
        ac = (a[:, :, None] * rhs._cs[:, None, :]).reshape(len(a), P * P)
        J = (K @ ac).reshape(-1, P, P) - fk[:, :, None] * xs[:, None, :]
        J /= (s * rhs.length**2)[None, None, :]
        if rhs.poly is not None and rhs.degree >= 1:
            J += (rhs.poly[1 : 1 + P] / s[:, None]).T[None]
    if rhs.pull > 0:
        d2 = _sqdist(xs, rhs._as)
        w = np.exp(-0.5 * (d2 - d2.min(axis=1, keepdims=True)) / rhs.bandwidth**2)
        w /= w.sum(axis=1, keepdims=True)
        A = rhs.anchors[:, :P]
        m = w @ A
        f = f + rhs.pull * (m - x)
        if jacobian:
            # dm_i/dx_j = Cov_w(a_i, a_j) / (s_j^2 bandwidth^2)
            AA = (A[:, :, None] * A[:, None, :]).reshape(len(A), P * P)
            cov = (w @ AA).reshape(-1, P, P) - m[:, :, None] * m[:, None, :]
            J += rhs.pull * (
                cov / (s**2 * rhs.bandwidth**2)[None, None, :] - np.eye(P)[None]
            )
    if jacobian:
        return f, J, K
    return f


def _segments(targets, window):
    T = min(len(p) for p in targets) - 1
    if window is None or window >= T:
        return [(e, 0) for e in range(len(targets))], T
    L = int(window)
    return [(e, t0) for e in range(len(targets)) for t0 in range(0, T - L + 1, L)], L


def fit_along_paths(
    rhs,
    targets: Sequence[np.ndarray],
    weights: Sequence[np.ndarray],
    dt: float,
    *,
    whole=None,
    blend_weights: Sequence[np.ndarray] | None = None,
    starts: Sequence[np.ndarray] | None = None,
    every: int = EVERY,
    ridge: float = RIDGE,
    iterations: int = ITERATIONS,
    window: int | None = None,
    stride: int = 5,
    metric: Sequence[np.ndarray] | None = None,
    hazard: np.ndarray | None = None,
    hazard_metric: Sequence[np.ndarray] | None = None,
    offset: Sequence[np.ndarray] | None = None,
    cum_target: Sequence[np.ndarray] | None = None,
    damping: float = 1e-3,
    upto: int | None = None,
    moments: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    singlet: tuple[np.ndarray, np.ndarray] | None = None,
    singlet_weight: float = 0.0,
    singlet_scale: np.ndarray | None = None,
    singlet_window: int = SINGLET_WINDOW,
    singlet_weights: Sequence[np.ndarray] | None = None,
    project: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    progress=None,
):
    """Correct a kernel right-hand side so that its integrated paths meet targets.

    Parameters
    ----------
    rhs : KernelRHS
        The velocity fit (``"reactions"`` form, no rate inputs): the start.
    targets : sequence of ndarray (T + 1, P)
        The fitted (smooth) paths, every step.
    weights : sequence of ndarray (T + 1,)
        Weight of every step's distance (e.g. ``sqrt(n_alive / n)``).
    dt : float
    whole : KernelRHS, optional
        The blend's other law (``F_whole``); None: ``rhs`` alone.
    blend_weights : sequence of ndarray (T + 1,), optional
        ``w_t`` of ``rhs`` in the blend along every path (default 1).
    starts : sequence of ndarray (P,), optional
        ``theta(0)`` of every whole path (default the targets' first rows; segments
        after the first always start on the target).
    every, ridge, iterations, window
        Module notes.
    stride : int
        The distance is measured every ``stride``-th step.
    metric : sequence of ndarray (T + 1, P, P), optional
        Per path and step a matrix ``M_t``: the residual is ``M_t (theta -
        target)`` (e.g. the statistics' covariance, the Jacobian ``d<stats>/dtheta``,
        divided by the moments' scale: a linearised moment error). Default: the
        parameter distance in units of the targets' SD.
    hazard, hazard_metric : ndarray (2 P + 1,), sequence of ndarray (T + 1, P)
        The extinction hazard on ``theta`` and its squares and per path and step a
        vector ``u_t``: the residual gains ``u_t (H - H_target)``, ``H`` the
        cumulative hazard along the integrated path (e.g. ``u_t = (1 - q_t)
        (m_extinct - m_alive) / scale``: the mixture's change with ``q``).
    offset : sequence of ndarray (T + 1, P), optional
        Added to the residual (with ``metric``): the residual at the targets when
        they are a linearisation point rather than the aim.
    cum_target : sequence of ndarray (T + 1,), optional
        The cumulative hazard aimed at (default: the hazard along the targets).
    damping : float
        Initial Levenberg-Marquardt damping (relative to the diagonal).
    upto : int, optional
        Only the first ``upto`` centers of ``rhs`` carry corrections (e.g. those of
        the ensembles' paths, not of the group paths: docs/experiments/22).
    moments : sequence of (ndarray (T + 1, P), ndarray (T + 1, P, P)), optional
        Per path the linearised moments ``m_t(theta) = base_t + jac_t theta`` (the
        sampled statistics and ``C = d<stats>/dtheta``); needed by ``singlet``.
    singlet : (ndarray (k, P), ndarray (k, P)), optional
        Rows ``(G, D)`` of exact balance equations ``d(G m)/dt = D m`` of the
        moments (:func:`singlet_rows`). With ``singlet_weight > 0`` the residual
        gains, at every ``stride``-th step ``t >= singlet_window``, the rows
        ``sqrt(singlet_weight w_t) (G m_t - G m_{t - window} - int D m dt) /
        singlet_scale`` (the integral by the trapezoid rule on the ``stride``
        grid; ``w_t`` from ``singlet_weights``, default 1), normalised as the
        moment rows. Whole paths only (``window=None``).
    singlet_weight, singlet_scale, singlet_window, singlet_weights
        Above (``singlet_scale`` default 1; ``singlet_window`` a multiple of
        ``stride``).
    project : sequence of (ndarray (T + 1, P, P), ndarray (T + 1, P, P), ndarray
        (T + 1, P)), optional
        Per path and step an affine map ``(Pm, Bm, Bv)``: the integrated velocity
        is ``Pm f + Bm theta + Bv`` (``f`` the blended right-hand side; the
        predators' balance of :mod:`dbdviz.dbd.balance`), its Jacobian and
        sensitivities with it. Whole paths only (``window=None``). None: the
        fit without it.
    progress : callable(iteration, objective), optional

    Returns
    -------
    KernelRHS
        ``rhs`` with ``alpha`` corrected; ``info`` attribute: the objective per
        iteration.
    """
    from .kernel import KernelRHS

    if rhs.form != "reactions" or rhs.dim != rhs.n_funcs:
        raise ValueError("rhs: fit_along_paths needs the reactions form, no rates")
    P = rhs.n_funcs
    tg = [np.asarray(p, dtype=np.float64) for p in targets]
    wt = [np.asarray(w, dtype=np.float64) for w in weights]
    bw = (
        [np.ones(len(p)) for p in tg]
        if blend_weights is None
        else [np.asarray(b, dtype=np.float64) for b in blend_weights]
    )
    segs, L = _segments(tg, window)
    S_ = len(segs)
    x0 = np.array([tg[e][t0] for e, t0 in segs])
    if starts is not None:
        for i, (e, t0) in enumerate(segs):
            if t0 == 0:
                x0[i] = starts[e]
    tgt = np.stack([tg[e][t0 : t0 + L + 1] for e, t0 in segs])  # (S, L+1, P)
    W = np.stack([wt[e][t0 : t0 + L + 1] for e, t0 in segs])  # (S, L+1)
    Bw = np.stack([bw[e][t0 : t0 + L + 1] for e, t0 in segs])
    Mt = Off = None
    if offset is not None:
        Off = np.stack(
            [np.asarray(offset[e], dtype=np.float64)[t0 : t0 + L + 1] for e, t0 in segs]
        )
    if metric is not None:
        Mt = np.stack(
            [np.asarray(metric[e], dtype=np.float64)[t0 : t0 + L + 1] for e, t0 in segs]
        )  # (S, L+1, P, P)
    U = cum0 = cumT = hb = None
    if hazard is not None:
        hb = np.asarray(hazard, dtype=np.float64)
        if len(hb) != 2 * P + 1:
            raise ValueError("hazard: theta and its squares expected (2 P + 1)")
        U = np.stack(
            [
                np.asarray(hazard_metric[e], dtype=np.float64)[t0 : t0 + L + 1]
                for e, t0 in segs
            ]
        )

        def _rate(x):
            c = np.column_stack([x, x * x]) @ hb[1:] + hb[0]
            return np.exp(np.minimum(c, 50.0))

        if cum_target is None:
            lt = np.stack([_rate(tgt[:, t]) for t in range(L + 1)], axis=1)
            cumT = np.concatenate([np.zeros((S_, 1)), np.cumsum(lt[:, :-1], axis=1)], 1)
        else:
            cumT = np.stack(
                [np.asarray(cum_target[e], float)[t0 : t0 + L + 1] for e, t0 in segs]
            )
        cum0 = cumT[:, 0].copy()
    else:
        cum0 = np.zeros(S_)
    scale = np.concatenate(tg).std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    sg = None
    if singlet is not None and float(singlet_weight) > 0:
        if moments is None:
            raise ValueError("singlet: the linearised moments are needed (moments=)")
        if window is not None and window < min(len(p) for p in tg) - 1:
            raise ValueError("singlet: whole paths only (window=None)")
        sw = max(1, int(singlet_window) // max(1, int(stride)))
        G_, D_ = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in singlet)
        ssc = (
            np.ones(len(G_))
            if singlet_scale is None
            else np.asarray(singlet_scale, dtype=np.float64)
        )
        Mb = np.stack([np.asarray(m[0], np.float64)[: L + 1] for m in moments])
        Mj = np.stack([np.asarray(m[1], np.float64)[: L + 1] for m in moments])
        Sw = np.stack(
            [
                np.ones(L + 1)
                if singlet_weights is None
                else np.asarray(singlet_weights[e], np.float64)[: L + 1]
                for e in range(S_)
            ]
        )
        sg = (G_ / ssc[:, None], D_ / ssc[:, None], Mb, Mj, Sw, sw)
    pr = None
    if project is not None:
        if window is not None and window < min(len(p) for p in tg) - 1:
            raise ValueError("project: whole paths only (window=None)")
        pr = tuple(
            np.stack([np.asarray(m[i], np.float64)[: L + 1] for m in project])
            for i in range(3)
        )
    n_sel = len(rhs.centers) if upto is None else min(int(upto), len(rhs.centers))
    sel = np.arange(0, n_sel, int(every))
    n = len(sel)
    cs = rhs._cs[sel]
    Kc = np.exp(
        -0.5 * ((cs[:, None] - cs[None]) ** 2).sum(-1) / rhs.length**2
    )  # (n, n)
    # objective normalisation: mean weighted squared distance per step
    stride = max(1, int(stride))
    norm = 1.0 / max(W[:, stride::stride].sum(), 1e-300)
    reg = ridge * np.kron(Kc, np.eye(P))  # vec(beta) row-major (j, q)

    def field(x, a_eff, w, jacobian=False):
        """Blended right-hand side at rows x (m, P) with weights w (m,) and the
        survivors' coefficients ``a_eff`` (and its Jacobian and kernel values)."""
        out = fast_evaluate(rhs, x, a_eff, jacobian)
        f = out[0] if jacobian else out
        part = w < 1.0
        if whole is not None and part.any():
            o2 = fast_evaluate(whole, x[part], None, jacobian)
            wp = w[part, None]
            f[part] = wp * f[part] + (1 - wp) * (o2[0] if jacobian else o2)
            if jacobian:
                J = out[1]
                J[part] = wp[:, :, None] * J[part] + (1 - wp[:, :, None]) * o2[1]
        return out if jacobian else f

    def run(beta, sens: bool):
        th = x0.copy()
        obj = 0.0
        nP = n * P
        rows, res = [], []
        S = np.zeros((S_, P, nP)) if sens else None
        cum = cum0.copy()
        Sc = np.zeros((S_, nP)) if sens and U is not None else None
        a_eff = rhs.alpha.copy()
        a_eff[sel] += beta
        if sg is not None:
            Gs, Ds, Mb, Mj, Sw, sw = sg
            half = 0.5 * stride * dt
            m = Mb[:, 0] + np.einsum("sij,sj->si", Mj[:, 0], th)
            d_prev = m @ Ds.T  # (S, k)
            integ = np.zeros_like(d_prev)
            hist = [m @ Gs.T]  # G m - int D m, every stride-th step
            if sens:
                dS_prev = np.zeros((S_, len(Gs), n * P))
                iS = np.zeros_like(dS_prev)
                hS = [np.zeros_like(dS_prev)]
        for t in range(L):
            w = Bw[:, t] if whole is not None else np.ones(S_)
            if U is not None:
                lam = _rate(th)
                if sens:
                    grad = lam[:, None] * (hb[1 : P + 1] + 2 * th * hb[P + 1 :])
                    Sc = Sc + np.matmul(grad[:, None, :], S)[:, 0]
                cum = cum + lam
            if sens:
                f, J, K = field(th, a_eff, w, jacobian=True)  # J (S, out, in)
                k = K[:, sel]  # (S, n)
                G = np.zeros((S_, P, n, P))
                for p in range(P):
                    G[:, p, :, p] = k * w[:, None]
                G = G.reshape(S_, P, nP)
                if pr is not None:  # the projected velocity's derivatives
                    J = np.matmul(pr[0][:, t], J) + pr[1][:, t]
                    G = np.matmul(pr[0][:, t], G)
                S = S + dt * (np.matmul(J, S) + G)
            else:
                f = field(th, a_eff, w)
            if pr is not None:
                f = np.einsum("sij,sj->si", pr[0][:, t], f) + pr[2][:, t]
                f = f + np.einsum("sij,sj->si", pr[1][:, t], th)
            th = th + dt * f
            if not np.all(np.isfinite(th)):
                return np.inf, None, None
            if (t + 1) % stride:
                continue
            wr = np.sqrt(norm * W[:, t + 1])[:, None]
            if Mt is None:
                r = (th - tgt[:, t + 1]) / scale  # (S, P)
                Sm = S / scale[None, :, None] if sens else None
            else:
                r = np.einsum("sij,sj->si", Mt[:, t + 1], th - tgt[:, t + 1])
                if Off is not None:
                    r = r + Off[:, t + 1]
                Sm = np.matmul(Mt[:, t + 1], S) if sens else None
            if U is not None:
                u = U[:, t + 1]  # (S, P)
                r = r + u * (cum - cumT[:, t + 1])[:, None]
                if sens:
                    Sm = Sm + u[:, :, None] * Sc[:, None, :]
            obj += float(((wr * r) ** 2).sum())
            if sens:
                rows.append((Sm * wr[:, :, None]).reshape(S_ * P, nP))
                res.append((wr * r).reshape(-1))
            if sg is not None:
                m = Mb[:, t + 1] + np.einsum("sij,sj->si", Mj[:, t + 1], th)
                d = m @ Ds.T
                integ = integ + half * (d_prev + d)
                d_prev = d
                hist.append(m @ Gs.T - integ)
                if sens:
                    mS = np.matmul(Mj[:, t + 1], S)  # (S, P, nP)
                    dS = np.einsum("kp,spn->skn", Ds, mS)
                    iS = iS + half * (dS_prev + dS)
                    dS_prev = dS
                    hS.append(np.einsum("kp,spn->skn", Gs, mS) - iS)
                if len(hist) > sw:
                    ws = np.sqrt(float(singlet_weight) * norm * Sw[:, t + 1])[:, None]
                    rs = ws * (hist[-1] - hist[-1 - sw])
                    obj += float((rs**2).sum())
                    if sens:
                        rows.append(
                            ((hS[-1] - hS[-1 - sw]) * ws[:, :, None]).reshape(-1, nP)
                        )
                        res.append(rs.reshape(-1))
        b = beta.reshape(-1)
        obj += float(b @ reg @ b)
        if not sens:
            return obj, None, None
        M, rr = np.vstack(rows), np.concatenate(res)
        return obj, M.T @ M, M.T @ rr

    beta = np.zeros((n, P))
    obj, A, g = run(beta, True)
    history = [obj]
    grad0 = None if g is None else 2.0 * g  # d objective / d vec(beta) at the start
    lam = float(damping)
    for it in range(int(iterations) if np.isfinite(obj) else 0):
        b = beta.reshape(-1)
        H = A + reg
        gt = g + reg @ b
        accepted = False
        for _ in range(8):
            step = np.linalg.solve(H + lam * np.diag(np.diag(H) + 1e-12), -gt)
            cand = (b + step).reshape(n, P)
            new = run(cand, False)[0]
            if new < obj:
                accepted = True
                lam = max(lam / 3, 1e-6)
                break
            lam *= 10
        if not accepted:
            break
        beta = cand
        obj, A, g = run(beta, True)
        history.append(obj)
        if progress is not None:
            progress(it + 1, obj)
        if history[-2] - obj < 1e-4 * history[-2]:
            break
    alpha = rhs.alpha.copy()
    alpha[sel] += beta
    out = KernelRHS(
        rhs.centers,
        alpha,
        rhs.mean,
        rhs.scale,
        rhs.anchors,
        length=rhs.length,
        pull=rhs.pull,
        bandwidth=rhs.bandwidth,
        radius=rhs.radius,
        inputs=rhs.inputs,
        form=rhs.form,
        rate_ref=rhs.rate_ref,
        poly=rhs.poly,
    )
    out.info = {"objective": history, "gradient": grad0}
    return out


def path_distance(path: np.ndarray, target: np.ndarray, scale: np.ndarray) -> float:
    """RMS over time of the standardised distance (summed over the parameters) of a
    path from a target path (rows at the same times)."""
    d = (np.asarray(path) - np.asarray(target)) / np.asarray(scale)
    return float(np.sqrt((d * d).sum(axis=1).mean()))


def mixture_metric(cov, alive_mean, share, extinct_mean, scale):
    """The residual matrices of :func:`fit_along_paths` for one training path: the
    linearised change of the two-phase mixture's moments, relative to ``scale``.

    ``m = (1 - q) m_alive + q m_extinct``: a change ``d theta`` of the alive path
    moves the moments by ``(1 - q) C d theta`` (``C = d<stats>/dtheta``, the
    statistics' covariance), a change ``dH`` of the cumulative hazard (``dq = (1 -
    q) dH``) by ``(1 - q) (m_extinct - m_alive) dH``.

    Parameters
    ----------
    cov : ndarray (T + 1, P, P)
        ``d<stats>/dtheta`` along the path.
    alive_mean, extinct_mean : ndarray (T + 1, P)
        Mean statistics of the lattices with and without predators.
    share : ndarray (T + 1,)
        ``1 - q``.
    scale : ndarray (P,)
        Moment scale (e.g. the time mean of the ensemble's means: the NRMSE's).

    Returns
    -------
    metric : ndarray (T + 1, P, P)
    hazard_metric : ndarray (T + 1, P)
    """
    s = np.asarray(share, dtype=np.float64)[:, None]
    sc = np.asarray(scale, dtype=np.float64)
    metric = s[:, :, None] * np.asarray(cov) / sc[None, :, None]
    hm = s * (np.asarray(extinct_mean) - np.asarray(alive_mean)) / sc
    return metric, hm


def fit_alive_along_paths(
    dbm,
    alive,
    whole,
    paths: Sequence[np.ndarray],
    observables: Sequence[np.ndarray],
    starts: Sequence[np.ndarray],
    mixture,
    dt: float,
    *,
    seed: int = 0,
    chains: int = CHAINS,
    every_t: int = 5,
    outer: int = OUTER,
    hazard_target: str = "fitted",
    clock: str = "theta",
    threads: int | None = None,
    singlet_weight: float | None = None,
    singlet_window: int | None = None,
    singlet_rows_: str | None = None,
    death: float | None = None,
    birth: float = 0.0,
    collocation: Sequence[np.ndarray] | None = None,
    balance_gain: float | None = None,
    progress=None,
    **kw,
):
    """The survivors' law corrected so that the prediction's mixture meets the
    training data (Gauss-Newton in the moments, linearised by sampling).

    ``outer`` times: the alive path of every training count is integrated from its
    random placement as :meth:`~dbdviz.dbd.mixture.TwoPhase.integrate` does, its
    statistics and their covariance ``C = d<stats>/dtheta`` are sampled every
    ``every_t`` steps (one sampler call, ``chains`` chains, 9 sweeps from a random
    start: the prediction's procedure) and interpolated, and
    :func:`fit_along_paths` corrects the law with the residual

        ``(1 - q) (stats + C (theta - theta_cur) - m_alive) / scale
        + (1 - q) (m_extinct - m_alive) / scale (H - H_target)``

    (:func:`mixture_metric`; ``q``, ``m_alive``, ``m_extinct`` the training data's,
    ``scale`` the time mean of the ensemble's means as in the NRMSE), ``H`` the
    cumulative hazard along the integrated path and ``H_target`` the hazard's along
    the survivors' fitted path (``hazard_target="fitted"``) or the data's ``-log(1
    - q)`` (``"data"``).

    Parameters
    ----------
    dbm : DBM
    alive, whole : KernelRHS
        The survivors' velocity fit (the start) and the whole ensembles' law.
    paths : sequence of ndarray (T + 1, P)
        The survivors' smooth fitted paths.
    observables : sequence of ndarray (R, T + 1, >= P)
        Per-replicate statistics of the training ensembles.
    starts : sequence of ndarray (P,)
        ``theta(0)`` of every prediction from the training initial counts.
    mixture : TwoPhase
        Its hazard, blend, ratio and curve (its ``alive`` is replaced).
    dt : float
    seed, chains, every_t, outer, hazard_target, threads
        Above; sampler call ``j`` has seed ``seed + j``.
    clock : {"theta", "passage"}
        What times the blend of the two laws: the hazard on ``theta`` (and the
        residual's hazard term), or the first passage (``mixture.passage``, a
        prediction's ``q``) along the sampled survivors' predator count of the
        previous outer iteration (the first: the ``theta`` clock); the blend
        weights follow the current iteration's sample, and the residual has no
        hazard term (docs/experiments/20 section 8).
    singlet_weight, singlet_window, singlet_rows_ : optional
        The singlet constraint (docs/experiments/24; defaults
        :data:`SINGLET_WEIGHT`, :data:`SINGLET_WINDOW`, :data:`SINGLET_ROWS`): the
        sampled alive moments linearised in ``theta`` must obey the balance
        equations of :func:`singlet_rows` (``a`` =
        :func:`predation_coefficient` of the training data), each row weighted
        by the survivors' share ``1 - q`` and relative to the moment's scale.
        Weight 0: the fit without it, bit for bit.
    death, birth : float
        The rates of the singlet rows (``death`` needed with a weight > 0).
    collocation : sequence of ndarray (P,), optional
        ``theta(0)`` of further alive paths without data (e.g. initial counts
        between the training's): integrated and sampled like the training's, they
        carry the singlet rows only (``q`` from the hazard along them). Ignored
        with weight 0.
    balance_gain : float, optional
        The predators' balance inside the integration (:mod:`dbdviz.dbd.balance`,
        docs/experiments/25; default :data:`BALANCE_GAIN`, 0: off, the fit
        without it bit for bit). Gain ``g > 0``: every alive path is
        :func:`~dbdviz.dbd.balance.balanced_paths`' (``a`` =
        :func:`predation_coefficient` of the data; its samples, every ``every_t``
        steps with ``chains`` chains, are the linearisation) and the law is fitted
        with its projection (:func:`fit_along_paths` ``project``);
        ``info["balance"]``: the model's ``TwoPhase.balance``. Needs ``death``.
    progress : callable(done, total), optional
        Called after every outer iteration (``total = outer``).
    **kw
        Passed on to :func:`fit_along_paths` (``every``, ``ridge``,
        ``iterations``).

    Returns
    -------
    KernelRHS
        ``info["objective"]``: the objective per outer and inner iteration.
    """
    from .evaluate import sample_trajectory
    from .mixture import TwoPhase, alive_means

    if hazard_target not in ("fitted", "data"):
        raise ValueError(
            f"hazard_target = {hazard_target!r}: allowed 'fitted' or 'data'"
        )
    if clock not in ("theta", "passage"):
        raise ValueError(f"clock = {clock!r}: allowed 'theta' or 'passage'")
    if clock == "passage" and mixture.passage is None:
        raise ValueError("clock = 'passage': the mixture has no first-passage hazard")
    gain = BALANCE_GAIN if balance_gain is None else float(balance_gain)
    bal = None
    if gain > 0:
        if death is None or clock != "theta":
            raise ValueError("balance_gain > 0: needs death= and the 'theta' clock")
        a_ = predation_coefficient(observables, death, dt)
        bal = np.array([a_, death, gain, every_t, chains], dtype=np.float64)
    P = alive.n_funcs
    T = min(len(p) for p in paths) - 1
    sw = SINGLET_WEIGHT if singlet_weight is None else float(singlet_weight)
    rows_sg = SINGLET_ROWS if singlet_rows_ is None else singlet_rows_
    sg_kw = {}
    colloc = []
    if sw > 0:
        if death is None:
            raise ValueError("singlet_weight > 0: the death rate is needed (death=)")
        a = predation_coefficient(observables, death, dt)
        G_, D_ = singlet_rows(a, death, birth, rows_sg)
        colloc = [np.asarray(c, dtype=np.float64) for c in (collocation or [])]
    ts = np.arange(0, T + 1, int(every_t))
    if ts[-1] != T:
        ts = np.r_[ts, T]
    t = np.arange(T + 1)
    data = []
    for e, o in enumerate(observables):
        o = np.asarray(o, dtype=np.float64)[:, : T + 1, :P]
        am, n = alive_means(o)
        share = n / max(int(n[0]), 1)
        whole_mean = o.mean(axis=0)
        q = 1.0 - share
        ext = np.where(
            q[:, None] > 1e-9,
            (whole_mean - share[:, None] * am) / np.maximum(q, 1e-9)[:, None],
            0.0,
        )
        if hazard_target == "data":
            cum = -np.log(np.maximum(share, 0.5 / max(int(n[0]), 1)))
        else:
            cum = -np.log1p(-mixture.extinct(np.asarray(paths[e])))
        data.append((am, share, ext, whole_mean.mean(axis=0), cum))
    F = alive
    history = []
    quad = mixture.quadratic and clock == "theta"
    y0s = [float(np.asarray(o)[:, 0, 1].mean()) for o in observables]
    clocks = [None] * len(starts)
    for it in range(int(outer)):
        mix = TwoPhase(
            F,
            mixture.hazard,
            mixture.ratio,
            mixture.curve,
            mixture.blend,
            mixture.passage,
            bal,
        )
        proj = None
        if bal is not None:
            cur, st, cov, proj = balanced_paths(
                mix, whole, dbm, list(starts) + colloc, T, dt, ts, seed, it, threads
            )
        else:
            cur = [
                mix.integrate(whole, s, T, dt, clocks[e]) for e, s in enumerate(starts)
            ]
            cur += [mix.integrate(whole, s, T, dt) for s in colloc]
            ev = sample_trajectory(
                dbm,
                np.ascontiguousarray(np.concatenate([c[ts] for c in cur])),
                chains=int(chains),
                sweeps=9,
                seed=int(seed) + it,
                cov_from="states",
                threads=threads,
            )
            cov = np.asarray(ev.cov)[:, :P, :P].reshape(len(cur), len(ts), P * P)
            st = np.asarray(ev.stats).reshape(len(cur), len(ts), P)
        E = len(cur) - len(colloc)
        metrics, offsets, hms, bws, lin, sws = [], [], [], [], [], []
        for e in range(len(cur)):
            full = np.column_stack(
                [np.interp(t, ts, cov[e][:, k]) for k in range(P * P)]
            ).reshape(T + 1, P, P)
            stats = np.column_stack([np.interp(t, ts, st[e][:, k]) for k in range(P)])
            if sw > 0:
                lin.append((stats - np.einsum("tij,tj->ti", full, cur[e]), full))
            if e >= E:  # a collocation path: the singlet rows only
                qc = mix.extinct(cur[e])
                sws.append(1.0 - qc)
                metrics.append(np.zeros((T + 1, P, P)))
                offsets.append(np.zeros((T + 1, P)))
                hms.append(np.zeros((T + 1, P)))
                bws.append(np.minimum(1.0, qc / mix.blend))
                continue
            am, share, ext, scale, _ = data[e]
            sws.append(share)
            m, h = mixture_metric(full, am, share, ext, scale)
            metrics.append(m)
            hms.append(h)
            offsets.append(share[:, None] * (stats - am) / scale)
            if clock == "passage":
                clocks[e] = mix.extinct_from_moments(stats, y0s[e], dt)
                bws.append(np.minimum(1.0, clocks[e] / mix.blend))
            else:
                bws.append(np.minimum(1.0, mix.extinct(cur[e]) / mix.blend))
        if sw > 0:
            sc = np.mean([d[3] for d in data], axis=0)[:5]
            sg_kw = dict(
                moments=lin,
                singlet=(G_, D_),
                singlet_weight=sw,
                singlet_scale=np.abs(G_) @ sc,
                singlet_window=(
                    SINGLET_WINDOW if singlet_window is None else int(singlet_window)
                ),
                singlet_weights=sws,
            )
        F = fit_along_paths(
            F,
            cur,
            [np.ones(T + 1)] * E + [np.zeros(T + 1)] * len(colloc),
            dt,
            whole=whole,
            blend_weights=bws,
            starts=list(starts) + colloc,
            metric=metrics,
            offset=offsets,
            hazard=mixture.hazard if quad else None,
            hazard_metric=hms if quad else None,
            cum_target=(
                [d[4] for d in data] + [np.zeros(T + 1)] * len(colloc) if quad else None
            ),
            **sg_kw,
            **({} if proj is None else {"project": proj}),
            **kw,
        )
        history.append(F.info["objective"])
        if progress is not None:
            progress(it + 1, int(outer))
    F.info = {"objective": history}
    if bal is not None:
        F.info["balance"] = bal
    return F
