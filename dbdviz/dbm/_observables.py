"""Numba kernels for observables and statistics of final-step probabilities.

Private: :mod:`dbdviz.dbd.evaluate` validates, allocates and calls. The numpy
versions in :meth:`dbdviz.dbm.DBM.visible_observables` and
:meth:`dbdviz.dbm.DBM.param_statistics` are the slow twins
(``tests/test_evaluate.py`` compares them).

``_visible_observables`` and ``_param_statistics`` take the output of
:meth:`dbdviz.dbm.DBM.final_probabilities`, ``probs[c, l, alpha, r, col]`` (float64,
C-contiguous, alpha 0 = A, 1 = B); ``_final_moments`` fuses that final probability
step with both, chain by chain, so the large probability array is never stored (the
evaluation of 500 time points x 100 chains would need 3.8 GB for it). All loop over
chains with ``prange``, draw no random numbers and accumulate every sum in a fixed
order, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, pjit, prange
from ._gibbs import _encode_chain, _layer_probabilities, _low_code


@pjit
def _visible_observables(probs, out):
    """The 11 visible observables of every chain from probabilities.

    Parameters
    ----------
    probs : float64 (C, n_layers, 2, L, L)
    out : float64 (C, 11), written
        ``X, Y, nnXX, nnXY, nnYY, nnnXX, nnnXY, nnnYY, nnn3XX, nnn3XY, nnn3YY``:
        sums of probabilities and of products of probabilities,
        ``XY = sum_i sum_d [pX_i pY_{i+d} + pY_i pX_{i+d}]`` over the displacements
        d of :data:`dbdviz.moments.DISPLACEMENTS` (ALGORITHM.md 6.2 step 5).
    """
    for c in prange(probs.shape[0]):
        _chain_observables(probs[c], out[c])


@pjit
def _param_statistics(probs, side, bias, weights, couplings, out):
    """Uncentered statistics ``M_k`` of every chain from probabilities.

    Parameters
    ----------
    probs : float64 (C, n_layers, 2, L, L)
    side : int
        Patch side (2 for q = 4, 3 for q = 9).
    bias : int64 (n_layers, 2)
        Theta index of each (layer, channel) bias.
    weights : int64 (n_weights, 4)
        Rows (theta index, lower layer l, channel in l, channel in l + 1).
    couplings : int64 (3,), (6,) or (0,)
        Theta indices of JXX, JXY, JYY (then JXX2, JXY2, JYY2).
    out : float64 (C, n_params), written

    Notes
    -----
    ``B = sum_i p_i``; weight
    ``P = sum_j p^(l+1)_{j b} sum_delta p^(l)_{(j - delta) a}`` over delta in
    [0, side)^2 with wrap; couplings as the nn pair observables. The
    same estimator as :meth:`DBM.param_statistics` on probabilities (section 6.2).
    """
    for c in prange(probs.shape[0]):
        _chain_statistics(probs[c], side, bias, weights, couplings, out[c])


@pjit
def _final_moments(states, prob, rows, side, coupled, bias, weights, couplings, obs, M):
    """Final parallel probability step fused with :func:`_visible_observables` and
    :func:`_param_statistics` (no (C, n_layers, 2, L, L) array is stored).

    Parameters
    ----------
    states : int8 (C, n_layers, L, L)
    prob : float64 (R, n_layers, (q+1)**4, 2)
        Conditional tables (:meth:`DBM.tables`).
    rows : int64 (C,)
        Theta row of every chain.
    side : int
    coupled : int
        ``DBM.coupling_mode``.
    bias, weights, couplings
        As in :func:`_param_statistics`.
    obs : float64 (C, 11), written
    M : float64 (C, n_params), written

    Notes
    -----
    The probabilities are exactly those of ``dbdviz.dbm._gibbs._final_probabilities``
    (same table entries), and the sums run in the same order as the two kernels
    above, so the results are bitwise equal to the unfused path.
    """
    C, nl, L, _ = states.shape
    p = side - 1
    K = side * side + 1
    Kq = K * K
    Lp = L + 2 * p
    for c in prange(C):
        buf = np.empty((nl, Lp, Lp), np.uint8)
        pr = np.empty((nl, 2, L, L))
        _encode_chain(states[c], buf, L, p, K)
        tabs = prob[rows[c]]
        for l in range(nl):
            _layer_probabilities(buf, l, tabs[l], L, p, side, Kq, coupled, pr[l])
        _chain_observables(pr, obs[c])
        _chain_statistics(pr, side, bias, weights, couplings, M[c])


@pjit
def _clamped_statistics(states, prob, rows, side, bias, weights, couplings, M):
    """Statistics with the visible layer as it is and every hidden layer replaced
    by its conditional probabilities given the current states of its neighbours.

    For one hidden layer these are the exact conditional expectations
    ``E[M | visible]`` (the hidden units are independent given the visible layer).
    Arguments as :func:`_final_moments` (no ``coupled``: the visible layer is not
    recomputed); ``M`` float64 (C, n_params), written.

    One hidden layer takes a fused path (:func:`_clamped_one_layer`); deeper
    machines the probability arrays and :func:`_chain_statistics`.
    """
    C, nl, L, _ = states.shape
    p = side - 1
    K = side * side + 1
    Kq = K * K
    Lp = L + 2 * p
    for c in prange(C):
        buf = np.empty((nl, Lp, Lp), np.uint8)
        tabs = prob[rows[c]]
        if nl == 2:  # the hidden layer's state does not enter
            _encode_chain(states[c, :1], buf[:1], L, p, K)
            _clamped_one_layer(
                buf[0], tabs[1], L, p, side, K, bias, weights, couplings, M[c]
            )
            continue
        _encode_chain(states[c], buf, L, p, K)
        pr = np.zeros((nl, 2, L, L))
        for r in range(L):
            for cc in range(L):
                v = states[c, 0, r, cc]
                if v == 1:
                    pr[0, 0, r, cc] = 1.0
                elif v == 2:
                    pr[0, 1, r, cc] = 1.0
        for l in range(1, nl):
            _layer_probabilities(buf, l, tabs[l], L, p, side, Kq, 0, pr[l])
        _chain_statistics(pr, side, bias, weights, couplings, M[c])


@jit
def _clamped_one_layer(b0, tab, L, p, side, K, bias, weights, couplings, out):
    """:func:`_clamped_statistics` of one chain of a one-hidden-layer machine from
    its encoded visible layer ``b0``.

    A hidden unit's patch code ``nA + K nB`` gives both its probabilities
    (``tab[K**2 * code]``, no upper layer) and the visible counts its weights
    multiply, so one pass counts the patches per code and
    ``P_ab = sum_code count(code) p_b(code) n_a(code)``.
    """
    Kq = K * K
    hist = np.zeros(Kq, np.int64)
    nx = 0
    ny = 0
    jxx = 0
    jxy = 0
    jyy = 0
    dxx = 0
    dxy = 0
    dyy = 0
    for r in range(L):
        R = r + p
        for cc in range(L):
            C_ = cc + p
            if side == 2:
                hist[_low_code(b0, R, C_, 2)] += 1
            else:
                hist[_low_code(b0, R, C_, 3)] += 1
            e = b0[R, C_]
            if e == 0:
                continue
            nn = np.int64(b0[R + 1, C_]) + b0[R, C_ + 1]  # forward neighbours
            nd = np.int64(b0[R + 1, C_ + 1]) + b0[R + 1, C_ - 1]  # forward diagonal
            if e == 1:
                nx += 1
                jxx += nn % K
                jxy += nn // K
                dxx += nd % K
                dxy += nd // K
            else:
                ny += 1
                jxy += nn % K
                jyy += nn // K
                dxy += nd % K
                dyy += nd // K
    sp = np.zeros(2)
    w = np.zeros((2, 2))  # w[a, b] = sum_j p_b(j) n_a(j)
    for code in range(Kq):
        h = hist[code]
        if h == 0:
            continue
        pa = h * tab[Kq * code, 0]
        pb = h * tab[Kq * code, 1]
        na = code % K
        nb = code // K
        sp[0] += pa
        sp[1] += pb
        w[0, 0] += pa * na
        w[0, 1] += pb * na
        w[1, 0] += pa * nb
        w[1, 1] += pb * nb
    out[bias[0, 0]] = nx
    out[bias[0, 1]] = ny
    out[bias[1, 0]] = sp[0]
    out[bias[1, 1]] = sp[1]
    for k in range(weights.shape[0]):
        out[weights[k, 0]] = w[weights[k, 2], weights[k, 3]]
    if couplings.shape[0] >= 3:
        out[couplings[0]] = jxx
        out[couplings[1]] = jxy
        out[couplings[2]] = jyy
    if couplings.shape[0] == 6:
        out[couplings[3]] = dxx
        out[couplings[4]] = dxy
        out[couplings[5]] = dyy


@jit
def _chain_observables(pc, out):
    """Observables of one chain, ``pc`` float64 (n_layers, 2, L, L), ``out`` (11,).

    Obvious form (the numpy twin): for every displacement class, with
    ``x2 = roll(px, -d)``, ``XX += sum(px x2)``, ``XY += sum(px y2 + py x2)``.
    """
    L = pc.shape[3]
    px = pc[0, 0]
    py = pc[0, 1]
    acc = np.zeros(11)
    for r in range(L):
        # wrapped neighbours without modulo in the inner loop
        r1 = r + 1 if r + 1 < L else r + 1 - L
        r2 = r + 2 if r + 2 < L else r + 2 - L
        for cc in range(L):
            c1 = cc + 1 if cc + 1 < L else cc + 1 - L
            c2 = cc + 2 if cc + 2 < L else cc + 2 - L
            cm = cc - 1 if cc > 0 else L - 1
            x = px[r, cc]
            y = py[r, cc]
            acc[0] += x
            acc[1] += y
            # nn: (1, 0), (0, 1)
            xa = px[r1, cc] + px[r, c1]
            ya = py[r1, cc] + py[r, c1]
            acc[2] += x * xa
            acc[3] += x * ya + y * xa
            acc[4] += y * ya
            # nnn: (1, 1), (1, -1)
            xd = px[r1, c1]
            yd = py[r1, c1]
            xa = xd + px[r1, cm]
            ya = yd + py[r1, cm]
            acc[5] += x * xa
            acc[6] += x * ya + y * xa
            acc[7] += y * ya
            # nnn3: (0, 2), (1, 1), (2, 0)
            xa = px[r, c2] + xd + px[r2, cc]
            ya = py[r, c2] + yd + py[r2, cc]
            acc[8] += x * xa
            acc[9] += x * ya + y * xa
            acc[10] += y * ya
    for j in range(11):
        out[j] = acc[j]


@jit
def _chain_statistics(pc, side, bias, weights, couplings, out):
    """Statistics of one chain, ``pc`` float64 (n_layers, 2, L, L), ``out`` (P,).

    Obvious form: ``P = sum(up_b * sum_delta roll(lo_a, delta))``.
    """
    nl = pc.shape[0]
    L = pc.shape[3]
    back = np.empty((L, side), np.int64)  # back[i, d] = (i - d) mod L
    for i in range(L):
        for d in range(side):
            back[i, d] = (i - d) % L
    for l in range(nl):
        for a in range(2):
            s = 0.0
            for r in range(L):
                for cc in range(L):
                    s += pc[l, a, r, cc]
            out[bias[l, a]] = s
    rowbox = np.empty(L)
    for w in range(weights.shape[0]):
        lo = pc[weights[w, 1], weights[w, 2]]
        up = pc[weights[w, 1] + 1, weights[w, 3]]
        s = 0.0
        for r in range(L):
            # sums over the patch rows, then over the patch columns
            for cc in range(L):
                t = 0.0
                for dr in range(side):
                    t += lo[back[r, dr], cc]
                rowbox[cc] = t
            for cc in range(L):
                box = 0.0
                for dc in range(side):
                    box += rowbox[back[cc, dc]]
                s += up[r, cc] * box
        out[weights[w, 0]] = s
    if couplings.shape[0] >= 3:
        px = pc[0, 0]
        py = pc[0, 1]
        jxx = 0.0
        jxy = 0.0
        jyy = 0.0
        dxx = 0.0
        dxy = 0.0
        dyy = 0.0
        for r in range(L):
            r1 = r + 1 if r + 1 < L else 0
            for cc in range(L):
                c1 = cc + 1 if cc + 1 < L else 0
                cm = cc - 1 if cc > 0 else L - 1
                x = px[r, cc]
                y = py[r, cc]
                xn = px[r1, cc] + px[r, c1]
                yn = py[r1, cc] + py[r, c1]
                jxx += x * xn
                jxy += x * yn + y * xn
                jyy += y * yn
                xd = px[r1, c1] + px[r1, cm]
                yd = py[r1, c1] + py[r1, cm]
                dxx += x * xd
                dxy += x * yd + y * xd
                dyy += y * yd
        out[couplings[0]] = jxx
        out[couplings[1]] = jxy
        out[couplings[2]] = jyy
        if couplings.shape[0] == 6:
            out[couplings[3]] = dxx
            out[couplings[4]] = dxy
            out[couplings[5]] = dyy
