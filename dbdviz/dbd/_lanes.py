"""Numba kernel of the prediction's sampler: many chains of a fully visible machine
side by side (issue 18, :func:`dbdviz.dbd.predict.sample_moments`).

Private. The reference procedure is :func:`dbdviz.dbd.evaluate.sample_trajectory`
with ``init="random"`` on a depth-0 machine with visible couplings: every chain
starts from uniform random codes (:func:`dbdviz.dbm._gibbs._init_chains`), takes
``sweeps`` checkerboard Gibbs sweeps (:func:`dbdviz.dbm._gibbs._sweep_chains`, two
colour passes of the visible layer) and one final probability step whose X and Y are
sums of probabilities and whose pair observables are the binary state's counts
(``evaluate._moments``). :func:`_sample_lanes` does the same with the chains in the
innermost axis of its buffers (``W`` = :data:`LANES` chains per block): the random
streams, the threshold comparisons and the site order of every chain are those of the
reference, so its observables are bitwise equal (``tests/test_predict.py``); the loops
over the chains of a block vectorise (the random streams and the neighbour sums), the
reference's per-chain loops do not. It computes no parameter statistics and no
covariances (a prediction reports moments only). Measured 2-3 times faster than
the reference per site update (``benchmarks/RESULTS.md``).

Buffers of a block: ``buf[(R * Lp + C) * W + j]`` (uint8, ``Lp = L + 2``, one halo
row/column of periodic images, codes 0 = empty, 1 = X, ``K`` = Y as the reference's
encoding), the thresholds ``tA/tB[nn * W + j]`` of chain ``j`` for the neighbour code
``nn``, the four xoshiro words ``s0..s3[j]``.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, pjit, prange
from .._rng import xoshiro_step

#: Chains per block (the innermost buffer axis). 16-128 measured within 10 %.
LANES = 32

_S32 = np.uint64(32)
_LO32 = np.uint64(0xFFFFFFFF)
_THREE = np.uint64(3)


@jit
def _step(s0, s1, s2, s3, x, W):
    """One xoshiro256** step of every lane; ``x[j]`` the output."""
    for j in range(W):
        o, a0, a1, a2, a3 = xoshiro_step(s0[j], s1[j], s2[j], s3[j])
        s0[j] = a0
        s1[j] = a1
        s2[j] = a2
        s3[j] = a3
        x[j] = o


@jit
def _copy(buf, dst, src, W):
    for j in range(W):
        buf[dst + j] = buf[src + j]


@jit
def _nsum(buf, ctr, Lp, W, j):
    """Sum of the four neighbour codes of lane ``j`` at buffer offset ``ctr``."""
    return (
        np.int64(buf[ctr - Lp * W + j])
        + np.int64(buf[ctr + Lp * W + j])
        + np.int64(buf[ctr - W + j])
        + np.int64(buf[ctr + W + j])
    )


@jit
def _update(buf, ctr, Lp, x, hi, tA, tB, W, kk):
    """Draw site ``ctr`` of every lane from its conditional (the reference's
    comparisons: X if ``u < tA``, else Y if ``u < tAB``, else empty)."""
    for j in range(W):
        nn = _nsum(buf, ctr, Lp, W, j)
        xv = x[j]
        u = (xv >> _S32) if hi else (xv & _LO32)
        e = np.uint8(0)
        if u < tB[nn * W + j]:
            e = kk
        if u < tA[nn * W + j]:
            e = np.uint8(1)
        buf[ctr + j] = e


@jit
def _images(buf, r, c, L, Lp, W):
    """Copy site (r, c) of every lane into its halo images."""
    ctr = ((r + 1) * Lp + c + 1) * W
    r1 = -1
    if r == 0:
        r1 = L + 1
    elif r == L - 1:
        r1 = 0
    c1 = -1
    if c == 0:
        c1 = L + 1
    elif c == L - 1:
        c1 = 0
    if c1 >= 0:
        _copy(buf, ((r + 1) * Lp + c1) * W, ctr, W)
    if r1 >= 0:
        _copy(buf, (r1 * Lp + c + 1) * W, ctr, W)
        if c1 >= 0:
            _copy(buf, (r1 * Lp + c1) * W, ctr, W)


@jit
def _pair_counts(buf, a, b, r, c, L, Lp, W, kk, acc, k0):
    """Add the X/Y pair counts of site (r, c) with its partners ``a`` and ``b``
    (buffer offsets of the partner sites, or ``b < 0`` for none) to ``acc[k0..k0+2]``
    (XX, XY, YY)."""
    ctr = ((r + 1) * Lp + c + 1) * W
    for j in range(W):
        e = buf[ctr + j]
        x = np.int64(e == 1)
        y = np.int64(e == kk)
        pa = buf[a + j]
        xa = np.int64(pa == 1)
        ya = np.int64(pa == kk)
        if b >= 0:
            pb = buf[b + j]
            xa += np.int64(pb == 1)
            ya += np.int64(pb == kk)
        acc[k0, j] += x * xa
        acc[k0 + 1, j] += x * ya + y * xa
        acc[k0 + 2, j] += y * ya


@pjit
def _sample_lanes(rng, rows, thr, prob, sweeps, L, K, W, obs):
    """Random start, ``sweeps`` sweeps and the final step of every chain.

    Parameters
    ----------
    rng : uint64 (C, 4), in/out
        One xoshiro stream per chain (advanced as the reference advances it).
    rows : int64 (C,)
        Table row (time point) of every chain.
    thr : uint64 (R, T, 2)
        Thresholds of the visible layer (``DBM.tables(theta)[0][:, 0]``).
    prob : float64 (R, T, 2)
        Probabilities of the visible layer (``DBM.tables(theta)[1][:, 0]``).
    sweeps, L, K, W : int
        Sweeps, lattice side, code of Y (``side**2 + 1``), lanes per block.
    obs : float64 (C, 11), written
        :data:`dbdviz.moments.OBSERVABLES` of every chain: X, Y from the final
        probabilities, the pair counts from the binary state.
    """
    C = rng.shape[0]
    Kq = K * K
    n_nn = 4 * K + 1
    Lp = L + 2
    kk = np.uint8(K)
    nb = (C + W - 1) // W
    for blk in prange(nb):
        c0 = blk * W
        n = min(W, C - c0)
        buf = np.zeros(Lp * Lp * W, np.uint8)
        tA = np.zeros(n_nn * W, np.uint64)
        tB = np.zeros(n_nn * W, np.uint64)
        pA = np.zeros(n_nn * W)
        pB = np.zeros(n_nn * W)
        s0 = np.zeros(W, np.uint64)
        s1 = np.zeros(W, np.uint64)
        s2 = np.zeros(W, np.uint64)
        s3 = np.zeros(W, np.uint64)
        x = np.zeros(W, np.uint64)
        for j in range(n):
            c = c0 + j
            s0[j] = rng[c, 0]
            s1[j] = rng[c, 1]
            s2[j] = rng[c, 2]
            s3[j] = rng[c, 3]
            for m in range(n_nn):
                tA[m * W + j] = thr[rows[c], Kq * m, 0]
                tB[m * W + j] = thr[rows[c], Kq * m, 1]
                pA[m * W + j] = prob[rows[c], Kq * m, 0]
                pB[m * W + j] = prob[rows[c], Kq * m, 1]
        # uniform random codes, row-major (randbelow(3): one word per site)
        for r in range(L):
            for c in range(L):
                _step(s0, s1, s2, s3, x, W)
                ctr = ((r + 1) * Lp + c + 1) * W
                for j in range(W):
                    v = ((x[j] >> _S32) * _THREE) >> _S32
                    e = np.uint8(0)
                    if v == 1:
                        e = np.uint8(1)
                    elif v == 2:
                        e = kk
                    buf[ctr + j] = e
        for r in range(L):
            for c in range(L):
                if r == 0 or r == L - 1 or c == 0 or c == L - 1:
                    _images(buf, r, c, L, Lp, W)
        # sweeps: colour 0 then colour 1, row-major; the k-th site of a pass uses
        # the high half of a fresh word (k even) or the low half (k odd)
        for _ in range(sweeps):
            for colour in range(2):
                k = 0
                for r in range(L):
                    for c in range((r + colour) & 1, L, 2):
                        hi = k & 1 == 0
                        if hi:
                            _step(s0, s1, s2, s3, x, W)
                        ctr = ((r + 1) * Lp + c + 1) * W
                        _update(buf, ctr, Lp, x, hi, tA, tB, W, kk)
                        if r == 0 or r == L - 1 or c == 0 or c == L - 1:
                            _images(buf, r, c, L, Lp, W)
                        k += 1
        # final step: probabilities of X and Y (row-major sums as the reference)
        sx = np.zeros(W)
        sy = np.zeros(W)
        acc = np.zeros((9, W), np.int64)
        for r in range(L):
            r1 = r + 1 if r + 1 < L else r + 1 - L
            r2 = r + 2 if r + 2 < L else r + 2 - L
            for c in range(L):
                ctr = ((r + 1) * Lp + c + 1) * W
                for j in range(W):
                    nn = _nsum(buf, ctr, Lp, W, j)
                    sx[j] += pA[nn * W + j]
                    sy[j] += pB[nn * W + j]
                c1 = c + 1 if c + 1 < L else c + 1 - L
                c2 = c + 2 if c + 2 < L else c + 2 - L
                cm = c - 1 if c > 0 else L - 1
                # nn: (1, 0), (0, 1); nnn: (1, 1), (1, -1); nnn3: (0, 2), (1, 1),
                # (2, 0) (dbdviz.moments.DISPLACEMENTS)
                a = ((r1 + 1) * Lp + c + 1) * W
                b = ((r + 1) * Lp + c1 + 1) * W
                _pair_counts(buf, a, b, r, c, L, Lp, W, kk, acc, 0)
                a = ((r1 + 1) * Lp + c1 + 1) * W
                b = ((r1 + 1) * Lp + cm + 1) * W
                _pair_counts(buf, a, b, r, c, L, Lp, W, kk, acc, 3)
                a = ((r + 1) * Lp + c2 + 1) * W
                b = ((r2 + 1) * Lp + c + 1) * W
                _pair_counts(buf, a, b, r, c, L, Lp, W, kk, acc, 6)
                a = ((r1 + 1) * Lp + c1 + 1) * W
                _pair_counts(buf, a, -1, r, c, L, Lp, W, kk, acc, 6)
        for j in range(n):
            c = c0 + j
            rng[c, 0] = s0[j]
            rng[c, 1] = s1[j]
            rng[c, 2] = s2[j]
            rng[c, 3] = s3[j]
            obs[c, 0] = sx[j]
            obs[c, 1] = sy[j]
            for i in range(9):
                obs[c, 2 + i] = np.float64(acc[i, j])
