"""Numba kernels of the lattice deep Boltzmann machine (ALGORITHM.md section 3).

Everything here is private: :mod:`dbdviz.dbm.model` validates, allocates and calls.

Conventions shared by all kernels
---------------------------------
* Chain states are ``int8[n_chains, n_layers, L, L]`` with codes 0 = empty, 1 = A
  (X, X1, ...), 2 = B (Y, Y1, ...).
* Inside a chain the kernels work on an *encoded, padded* copy ``buf[n_layers, Lp, Lp]``
  (uint8, ``Lp = L + 2 p``, ``p = side - 1``): code 0 -> 0, A -> 1, B -> K = q + 1.
  Lattice site (r, c) lives at ``buf[l, r + p, c + p]``; the ``p`` halo rows/columns
  on each side hold periodic images, so neighbour reads need no modulo. Summing the
  encoded values of q partners gives ``n_A + K n_B`` in one integer (the "code" of
  a neighbourhood, in ``[0, K**2)``).
* The activation of a unit depends only on (lower code, upper code), so the
  conditional probabilities are tabulated once per theta row and layer
  (:func:`_build_tables`), index ``up + K**2 * low``; for the visible layer with
  nearest-neighbour couplings the "low" slot holds the code of its 4 lattice
  neighbours instead (the visible layer has no lower layer); with diagonal
  (next-nearest-neighbour) couplings as well, the code of its 4 diagonal
  neighbours adds ``K**4 * diag`` (tables of ``K**6`` entries).
* ``coupled`` (an int, ``DBM.coupling_mode``): 0 no visible couplings, 1 NN
  couplings, 2 NN and diagonal couplings.
* Categorical draws use 32-bit uniforms ``u`` and integer thresholds
  ``tA = floor(pA 2**32)``, ``tAB = floor((eA + eB) / Z 2**32)``: A if ``u < tA``,
  else B if ``u < tAB``, else empty (order A, B, empty as the reference, section 3.4).
  The probabilities are therefore quantised to multiples of 2**-32.

Random draw order (replayed bit for bit by ``tests/naive_dbm.py``)
------------------------------------------------------------------
One xoshiro256** stream per chain (``rng[c]``). A sweep is a sequence of *passes*:
the layers in ``order`` (asleep: odd layers ascending, then even layers ascending;
awake: the same without layer 0); with visible couplings the visible layer is two
passes, colour ``(r + c) % 2 == 0`` then colour 1. Within a pass sites are visited in
row-major order and the k-th visited site (k = 0, 1, ...) uses the high 32 bits of a
fresh ``next_u64`` when k is even and the low 32 bits of the same word when k is odd;
a left-over half at the end of a pass is discarded.

Updates are in place, site by site, in that order. For layers without intra-layer
couplings this *is* block Gibbs (units of a layer are conditionally independent).
For the coupled visible layer it is a systematic-scan Gibbs sampler; with even L the
two colours are independent sets and it equals checkerboard block Gibbs, with odd L
(where a torus has no 2-colouring) it is still exact because every site is drawn
from its conditional given the current values of its neighbours.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, pjit, prange
from .._rng import randbelow, xoshiro_step

_TWO32 = 4294967296.0
_LO32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


# ------------------------------------------------------------------------------------
# Conditional probability tables
# ------------------------------------------------------------------------------------


@pjit
def _build_tables(theta, coef, q, coupled, thr, prob):
    """Tabulate the conditionals of every layer for every theta row.

    Parameters
    ----------
    theta : float64 (R, n_params)
    coef : int64 (n_layers, 2, 7)
        Parameter index (or -1) of, for channel alpha of the layer: its bias, the
        coefficient of n_A(low), n_B(low), n_A(up), n_B(up), n_A(diagonal),
        n_B(diagonal).
    q : int
        Patch size (4 or 9).
    coupled : int
        Visible couplings: 0 none, 1 NN (the visible "low" slot is then used),
        2 NN and diagonal (the visible layer's diagonal code too).
    thr : uint64 (R, n_layers, T, 2), out
        Integer thresholds (tA, tAB) on a 32-bit uniform; ``T = K**4``, or
        ``K**6`` with ``coupled = 2``.
    prob : float64 (R, n_layers, T, 2), out
        Probabilities (pA, pB).

    Notes
    -----
    z_alpha = a_alpha + sum_k c_k n_k, then the stable softmax of (0, zA, zB) with
    the maximum subtracted (pitfall P6). Only reachable entries are filled (n_A + n_B
    <= q; low = 0 for a layer without lower neighbours, up = 0 for the top layer);
    the others keep the caller's zeros.
    """
    R = theta.shape[0]
    nl = coef.shape[0]
    K = q + 1
    Kq = K * K
    for job in prange(R * nl):
        row = job // nl
        l = job - row * nl
        cA = np.zeros(7)
        cB = np.zeros(7)
        for k in range(7):
            ia = coef[l, 0, k]
            ib = coef[l, 1, k]
            if ia >= 0:
                cA[k] = theta[row, ia]
            if ib >= 0:
                cB[k] = theta[row, ib]
        n_low = Kq if (l > 0 or coupled > 0) else 1
        n_up = Kq if l < nl - 1 else 1
        n_dg = Kq if (l == 0 and coupled == 2) else 1
        for dg in range(n_dg):
            nad = dg % K
            nbd = dg // K
            if nad + nbd > 4:  # 4 diagonal neighbours
                continue
            for low in range(n_low):
                nal = low % K
                nbl = low // K
                if nal + nbl > q:
                    continue
                for up in range(n_up):
                    nau = up % K
                    nbu = up // K
                    if nau + nbu > q:
                        continue
                    zA = cA[0] + cA[1] * nal + cA[2] * nbl + cA[3] * nau + cA[4] * nbu
                    zB = cB[0] + cB[1] * nal + cB[2] * nbl + cB[3] * nau + cB[4] * nbu
                    if dg > 0:
                        zA += cA[5] * nad + cA[6] * nbd
                        zB += cB[5] * nad + cB[6] * nbd
                    m = max(zA, zB, 0.0)
                    eA = np.exp(zA - m)
                    eB = np.exp(zB - m)
                    Z = np.exp(-m) + eA + eB
                    idx = up + Kq * low + Kq * Kq * dg
                    prob[row, l, idx, 0] = eA / Z
                    prob[row, l, idx, 1] = eB / Z
                    thr[row, l, idx, 0] = np.uint64(eA / Z * _TWO32)
                    thr[row, l, idx, 1] = np.uint64((eA + eB) / Z * _TWO32)


# ------------------------------------------------------------------------------------
# Encoded, padded chain buffers
# ------------------------------------------------------------------------------------


@jit
def _refresh_halo(b, L, p):
    """Copy the periodic images into the halo of one padded layer ``b``."""
    for R in range(p, p + L):
        for i in range(p):
            b[R, i] = b[R, i + L]
            b[R, p + L + i] = b[R, p + i]
    W = L + 2 * p
    for i in range(p):
        for C in range(W):
            b[i, C] = b[i + L, C]
            b[p + L + i, C] = b[p + i, C]


@jit
def _encode_chain(sc, buf, L, p, K):
    """int8 codes ``sc[n_layers, L, L]`` -> encoded padded ``buf``."""
    nl = sc.shape[0]
    kk = np.uint8(K)
    for l in range(nl):
        for r in range(L):
            for c in range(L):
                v = sc[l, r, c]
                e = np.uint8(0)
                if v == 1:
                    e = np.uint8(1)
                elif v == 2:
                    e = kk
                buf[l, r + p, c + p] = e
        _refresh_halo(buf[l], L, p)


@jit
def _decode_chain(buf, sc, L, p, K):
    nl = sc.shape[0]
    for l in range(nl):
        for r in range(L):
            for c in range(L):
                e = buf[l, r + p, c + p]
                v = np.int8(0)
                if e == 1:
                    v = np.int8(1)
                elif e == K:
                    v = np.int8(2)
                sc[l, r, c] = v


@jit
def _write_site(b, r, c, e, L, p):
    """Write site (r, c) and all its halo images (in-place sequential updates)."""
    r0 = r + p
    c0 = c + p
    r1 = -1
    if r < p:
        r1 = r + p + L
    elif r >= L - p:
        r1 = r + p - L
    c1 = -1
    if c < p:
        c1 = c + p + L
    elif c >= L - p:
        c1 = c + p - L
    b[r0, c0] = e
    if c1 >= 0:
        b[r0, c1] = e
    if r1 >= 0:
        b[r1, c0] = e
        if c1 >= 0:
            b[r1, c1] = e


@jit
def _low_code(lo, R, C, side):
    """Code of the lower partners (R - dr, C - dc), dr, dc in [0, side)."""
    s = 0
    for dr in range(side):
        for dc in range(side):
            s += lo[R - dr, C - dc]
    return s


@jit
def _up_code(up, R, C, side):
    """Code of the upper partners (R + dr, C + dc), dr, dc in [0, side)."""
    s = 0
    for dr in range(side):
        for dc in range(side):
            s += up[R + dr, C + dc]
    return s


@jit
def _nn_code(b, R, C):
    """Code of the 4 lattice nearest neighbours (visible couplings)."""
    return np.int64(b[R - 1, C]) + b[R + 1, C] + b[R, C - 1] + b[R, C + 1]


@jit
def _diag_code(b, R, C):
    """Code of the 4 diagonal neighbours (visible diagonal couplings)."""
    return (
        np.int64(b[R - 1, C - 1]) + b[R - 1, C + 1] + b[R + 1, C - 1] + b[R + 1, C + 1]
    )


# ------------------------------------------------------------------------------------
# Passes (one layer, or one colour of the coupled visible layer)
# ------------------------------------------------------------------------------------


@jit
def _pass_layer_s2(buf, l, tab, s, L):
    """Sample layer ``l`` (no intra-layer couplings) given layers l +- 1; q = 4.

    Obvious form: ``z = a + W_low * box_sum_down(s[l-1]) + W_up * box_sum_up(s[l+1])``
    per channel, softmax, categorical draw. Here: the box sums are running sums of
    column pairs (lower partners use columns C-1, C, upper C, C+1), one table lookup,
    integer thresholds. Patch side, halo and K are literal constants on purpose:
    passing them at run time made this loop 3 to 5 x slower (no unrolling/unswitching).
    """
    nl = buf.shape[0]
    cur = buf[l]
    has_low = l > 0
    has_up = l < nl - 1
    lo = buf[l - 1] if has_low else buf[l]
    up = buf[l + 1] if has_up else buf[l]
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    x = np.uint64(0)
    k = 0
    for r in range(L):
        R = r + 1
        lprev = np.int64(0)
        ucur = np.int64(0)
        if has_low:
            lprev = np.int64(lo[R, 0]) + lo[R - 1, 0]
        if has_up:
            ucur = np.int64(up[R, 1]) + up[R + 1, 1]
        for c in range(L):
            C = c + 1
            low = np.int64(0)
            if has_low:
                lcol = np.int64(lo[R, C]) + lo[R - 1, C]
                low = lprev + lcol
                lprev = lcol
            upc = np.int64(0)
            if has_up:
                unext = np.int64(up[R, C + 1]) + up[R + 1, C + 1]
                upc = ucur + unext
                ucur = unext
            idx = upc + 25 * low
            if k & 1 == 0:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = x >> _S32
            else:
                u = x & _LO32
            k += 1
            # A (1) if u < tA, B (5) if tA <= u < tAB, else empty (0). (A branch-free
            # 5 [u < tAB] - 4 [u < tA] measured 8 % slower.)
            e = np.uint8(u < tab[idx, 1]) * np.uint8(5)
            if u < tab[idx, 0]:
                e = np.uint8(1)
            cur[R, C] = e
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    _refresh_halo(cur, L, 1)


@jit
def _pass_layer_s3(buf, l, tab, s, L):
    """As :func:`_pass_layer_s2` for q = 9 (3 x 3 patch, halo 2, K = 10)."""
    nl = buf.shape[0]
    cur = buf[l]
    has_low = l > 0
    has_up = l < nl - 1
    lo = buf[l - 1] if has_low else buf[l]
    up = buf[l + 1] if has_up else buf[l]
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    x = np.uint64(0)
    k = 0
    for r in range(L):
        R = r + 2
        # running sums of 3-row column sums: lower partners use columns C-2..C,
        # upper partners C..C+2
        l1 = np.int64(0)
        l2 = np.int64(0)
        u1 = np.int64(0)
        u2 = np.int64(0)
        if has_low:
            l1 = np.int64(lo[R, 0]) + lo[R - 1, 0] + lo[R - 2, 0]
            l2 = np.int64(lo[R, 1]) + lo[R - 1, 1] + lo[R - 2, 1]
        if has_up:
            u1 = np.int64(up[R, 2]) + up[R + 1, 2] + up[R + 2, 2]
            u2 = np.int64(up[R, 3]) + up[R + 1, 3] + up[R + 2, 3]
        for c in range(L):
            C = c + 2
            low = np.int64(0)
            if has_low:
                l3 = np.int64(lo[R, C]) + lo[R - 1, C] + lo[R - 2, C]
                low = l1 + l2 + l3
                l1 = l2
                l2 = l3
            upc = np.int64(0)
            if has_up:
                u3 = np.int64(up[R, C + 2]) + up[R + 1, C + 2] + up[R + 2, C + 2]
                upc = u1 + u2 + u3
                u1 = u2
                u2 = u3
            idx = upc + 100 * low
            if k & 1 == 0:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = x >> _S32
            else:
                u = x & _LO32
            k += 1
            e = np.uint8(u < tab[idx, 1]) * np.uint8(10)
            if u < tab[idx, 0]:
                e = np.uint8(1)
            cur[R, C] = e
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    _refresh_halo(cur, L, 2)


@jit
def _pass_visible_coupled(buf, colour, tab, s, L, p, side, K):
    """One colour of the visible layer with NN couplings (sequential, in place).

    The upper partners are summed with the patch side as a literal (2 or 3) so the
    loops unroll; the random state is held in locals as in :func:`_pass_layer_s2`.
    """
    nl = buf.shape[0]
    Kq = K * K
    cur = buf[0]
    has_up = nl > 1
    up = buf[1] if has_up else buf[0]
    kk = np.uint8(K)
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    x = np.uint64(0)
    k = 0
    for r in range(L):
        R = r + p
        for c in range((r + colour) & 1, L, 2):
            C = c + p
            nn = _nn_code(cur, R, C)
            upc = np.int64(0)
            if has_up:
                if side == 2:
                    upc = _up_code(up, R, C, 2)
                else:
                    upc = _up_code(up, R, C, 3)
            idx = upc + Kq * nn
            if k & 1 == 0:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = x >> _S32
            else:
                u = x & _LO32
            k += 1
            e = np.uint8(0)
            if u < tab[idx, 1]:
                e = kk
                if u < tab[idx, 0]:
                    e = np.uint8(1)
            _write_site(cur, r, c, e, L, p)
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3


@jit
def _pass_visible_diagonal(buf, colour, tab, s, L, p, side, K):
    """As :func:`_pass_visible_coupled` with diagonal couplings too: the code of
    the 4 diagonal neighbours enters the table index (``+ K**4 diag``). A separate
    kernel so that the NN-only pass keeps its inner loop. The two colours are not
    independent sets here (diagonal neighbours share a colour): a systematic-scan
    Gibbs sampler, every site drawn given the current values of its neighbours,
    exact as for odd L. Upper partners and the random state as there.
    """
    nl = buf.shape[0]
    Kq = K * K
    cur = buf[0]
    has_up = nl > 1
    up = buf[1] if has_up else buf[0]
    kk = np.uint8(K)
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    x = np.uint64(0)
    k = 0
    for r in range(L):
        R = r + p
        for c in range((r + colour) & 1, L, 2):
            C = c + p
            nn = _nn_code(cur, R, C)
            upc = np.int64(0)
            if has_up:
                if side == 2:
                    upc = _up_code(up, R, C, 2)
                else:
                    upc = _up_code(up, R, C, 3)
            idx = upc + Kq * nn + Kq * Kq * _diag_code(cur, R, C)
            if k & 1 == 0:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = x >> _S32
            else:
                u = x & _LO32
            k += 1
            e = np.uint8(0)
            if u < tab[idx, 1]:
                e = kk
                if u < tab[idx, 0]:
                    e = np.uint8(1)
            _write_site(cur, r, c, e, L, p)
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3


# ------------------------------------------------------------------------------------
# Public-facing kernels (called by model.py)
# ------------------------------------------------------------------------------------


@pjit
def _init_chains(states, rng):
    """Uniform categorical codes: ``randbelow(3)`` per unit, layer/row/column order."""
    C, nl, L, _ = states.shape
    for c in prange(C):
        s = rng[c]
        for l in range(nl):
            for r in range(L):
                for cc in range(L):
                    states[c, l, r, cc] = np.int8(randbelow(s, 3))


@pjit
def _sweep_chains(states, thr, rows, rng, order, sweeps, side, coupled):
    """``sweeps`` Gibbs sweeps of every chain, in place.

    Parameters
    ----------
    states : int8 (C, n_layers, L, L), in/out
    thr : uint64 (R, n_layers, T, 2)
        Thresholds from :func:`_build_tables`.
    rows : int64 (C,)
        Theta row of each chain.
    rng : uint64 (C, 4), in/out
        One xoshiro stream per chain.
    order : int64 (n_passes,)
        Layers in update order (awake chains: without 0).
    sweeps, side : int
    coupled : int
        Visible couplings (0, 1 NN, 2 NN + diagonal; layer 0 is then sampled in
        two colour passes).
    """
    C, nl, L, _ = states.shape
    p = side - 1
    K = side * side + 1
    Lp = L + 2 * p
    for c in prange(C):
        buf = np.empty((nl, Lp, Lp), np.uint8)
        _encode_chain(states[c], buf, L, p, K)
        s = rng[c]
        tabs = thr[rows[c]]
        for _ in range(sweeps):
            for i in range(order.shape[0]):
                l = order[i]
                if l == 0 and coupled == 2:
                    _pass_visible_diagonal(buf, 0, tabs[0], s, L, p, side, K)
                    _pass_visible_diagonal(buf, 1, tabs[0], s, L, p, side, K)
                elif l == 0 and coupled > 0:
                    _pass_visible_coupled(buf, 0, tabs[0], s, L, p, side, K)
                    _pass_visible_coupled(buf, 1, tabs[0], s, L, p, side, K)
                elif side == 2:
                    _pass_layer_s2(buf, l, tabs[l], s, L)
                else:
                    _pass_layer_s3(buf, l, tabs[l], s, L)
        _decode_chain(buf, states[c], L, p, K)


@jit
def _layer_probabilities(buf, l, tab, L, p, side, Kq, coupled, out):
    """``out[alpha, r, c]`` = P(unit (r, c) of layer ``l`` is alpha | neighbours in the
    encoded chain ``buf``), looked up in the conditional table ``tab`` of that layer.

    Shared by the final probability step (:func:`_final_probabilities`) and the fused
    evaluation kernel (``dbdviz.dbm._observables``).
    """
    nl = buf.shape[0]
    has_low = l > 0
    has_up = l < nl - 1
    lo = buf[l - 1] if has_low else buf[0]
    up = buf[l + 1] if has_up else buf[0]
    oa = out[0]
    ob = out[1]
    for r in range(L):
        R = r + p
        for cc in range(L):
            C_ = cc + p
            low = np.int64(0)
            upc = np.int64(0)
            # literal patch sides so the partner loops unroll
            if side == 2:
                if has_low:
                    low = _low_code(lo, R, C_, 2)
                if has_up:
                    upc = _up_code(up, R, C_, 2)
            else:
                if has_low:
                    low = _low_code(lo, R, C_, 3)
                if has_up:
                    upc = _up_code(up, R, C_, 3)
            if l == 0 and coupled > 0:
                low = _nn_code(buf[0], R, C_)
            idx = upc + Kq * low
            if l == 0 and coupled == 2:
                idx += Kq * Kq * _diag_code(buf[0], R, C_)
            oa[r, cc] = tab[idx, 0]
            ob[r, cc] = tab[idx, 1]


@pjit
def _final_probabilities(states, prob, rows, side, coupled, out):
    """One parallel update of every layer from the current state, kept as probabilities.

    ``out[c, l, alpha, r, c']`` = P(unit (r, c') of layer l is alpha | old state of its
    neighbours), alpha = 0 (A), 1 (B); ALGORITHM.md section 6.2 step 4. No state change.
    """
    C, nl, L, _ = states.shape
    p = side - 1
    K = side * side + 1
    Kq = K * K
    Lp = L + 2 * p
    for c in prange(C):
        buf = np.empty((nl, Lp, Lp), np.uint8)
        _encode_chain(states[c], buf, L, p, K)
        tabs = prob[rows[c]]
        for l in range(nl):
            _layer_probabilities(buf, l, tabs[l], L, p, side, Kq, coupled, out[c, l])


@pjit
def _chain_statistics(states, side, B, P, J):
    """Raw sufficient statistics per chain.

    Parameters
    ----------
    states : int8 (C, n_layers, L, L)
    side : int
    B : int64 (C, n_layers, 2), out
        ``B[c, l, alpha] = sum_i s^(l)_{i alpha}``.
    P : int64 (C, max(n_layers - 1, 1), 4), out
        ``P[c, l, k] = sum_{j in l+1} s^(l+1)_{j beta}``
        ``* sum_delta s^(l)_{(j - delta) alpha}``
        for (alpha, beta) = (A, A), (B, B), (A, B), (B, A), k = 0..3.
    J : int64 (C, 6), out
        Visible NN bond counts XX, XY (both orientations), YY over displacements
        (1, 0), (0, 1), the same numbers as ``nnXX, nnXY, nnYY`` of dbdviz.moments,
        then the diagonal ones over (1, 1), (1, -1) (``nnnXX, nnnXY, nnnYY``).

    Notes
    -----
    Units are encoded as A -> 1, B -> 2**32 in a padded int64 copy, so one sum over
    partners carries both channel counts (low and high 32 bits; counts stay far below
    2**32) and no modulo is needed.
    """
    C, nl, L, _ = states.shape
    p = side - 1
    Lp = L + 2 * p
    hi = np.int64(1) << 32
    mask = hi - 1
    for c in prange(C):
        buf = np.empty((nl, Lp, Lp), np.int64)
        for l in range(nl):
            tot = np.int64(0)
            for r in range(L):
                for cc in range(L):
                    v = states[c, l, r, cc]
                    e = np.int64(0)
                    if v == 1:
                        e = np.int64(1)
                    elif v == 2:
                        e = hi
                    buf[l, r + p, cc + p] = e
                    tot += e
            _refresh_halo(buf[l], L, p)
            B[c, l, 0] = tot & mask
            B[c, l, 1] = tot >> 32
        for l in range(nl - 1):
            lo = buf[l]
            sa = np.int64(
                0
            )  # sum over A units of layer l+1 of their lower partner codes
            sb = np.int64(0)
            for r in range(L):
                R = r + p
                for cc in range(L):
                    v = states[c, l + 1, r, cc]
                    if v == 0:
                        continue
                    C_ = cc + p
                    lowc = np.int64(0)
                    for dr in range(side):
                        for dc in range(side):
                            lowc += lo[R - dr, C_ - dc]
                    if v == 1:
                        sa += lowc
                    else:
                        sb += lowc
            P[c, l, 0] = sa & mask
            P[c, l, 1] = sb >> 32
            P[c, l, 2] = sb & mask
            P[c, l, 3] = sa >> 32
        b0 = buf[0]
        sx = np.int64(0)
        sy = np.int64(0)
        dx = np.int64(0)
        dy = np.int64(0)
        for r in range(L):
            R = r + p
            for cc in range(L):
                v = states[c, 0, r, cc]
                if v == 0:
                    continue
                C_ = cc + p
                nb = b0[R + 1, C_] + b0[R, C_ + 1]
                nd = b0[R + 1, C_ + 1] + b0[R + 1, C_ - 1]
                if v == 1:
                    sx += nb
                    dx += nd
                else:
                    sy += nb
                    dy += nd
        J[c, 0] = sx & mask
        J[c, 1] = (sx >> 32) + (sy & mask)
        J[c, 2] = sy >> 32
        J[c, 3] = dx & mask
        J[c, 4] = (dx >> 32) + (dy & mask)
        J[c, 5] = dy >> 32
