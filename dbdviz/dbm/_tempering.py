"""Numba kernel of the parallel-tempering sampler (:mod:`dbdviz.dbm.tempering`).

Private: :func:`dbdviz.dbm.tempering.sample_tempered` validates, allocates and calls.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, pjit, prange
from .._rng import next_u64, uniform

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@jit
def _splitmix64(x):
    """``(output, next x)`` of SplitMix64, the generator Vigna recommends for
    seeding xoshiro256** from a 64-bit value."""
    x = x + _GOLDEN
    z = x
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31)), x


@jit
def _replica_streams(rng, K, out):
    """Streams of the ``K`` replicas of every chain: chain ``c`` draws one word
    ``w`` from its stream ``rng[c]``; replica ``j`` takes the outputs ``4 j .. 4 j
    + 3`` of SplitMix64 started at ``w`` times the golden ratio constant.

    rng : uint64 (C, 4), in/out; out : uint64 (C * K, 4), out.
    """
    C = rng.shape[0]
    for c in range(C):
        x = next_u64(rng[c]) * _GOLDEN
        for j in range(K):
            for i in range(4):
                v, x = _splitmix64(x)
                out[c * K + j, i] = v


@pjit
def _swap_rungs(inter, ladder, strength, parity, rng, accepted):
    """One round of replica exchanges between adjacent rungs, in place.

    Parameters
    ----------
    inter : float64 (C * K,)
        Interaction part ``I(s) = sum_k theta_k M_k(s)`` (weights and couplings, at
        full strength) of every replica's current state.
    ladder : int64 (C * K,), in/out
        Rung of every replica; replicas ``c K .. c K + K - 1`` belong to chain ``c``
        and hold the rungs ``0 .. K - 1`` in some order.
    strength : float64 (K,)
        Interaction strength ``lambda_k`` of every rung, increasing, last 1.
    parity : int
        Pairs ``(k, k + 1)`` with ``k % 2 == parity`` are attempted (deterministic
        even-odd scheme: alternate the parity between rounds).
    rng : uint64 (C * K, 4), in/out
        The replicas' streams; chain ``c`` draws its uniforms from replica ``c K``.
    accepted : int64 (C, K - 1), in/out
        Accepted exchanges per chain and rung pair (incremented).

    Notes
    -----
    A replica at strength ``lambda`` has the weight ``exp(b . B(s) + lambda I(s))``
    (biases unscaled), so exchanging the states ``s_a`` (rung k) and ``s_b``
    (rung k + 1) is accepted with probability
    ``min(1, exp((lambda_{k+1} - lambda_k) (I(s_a) - I(s_b))))``. One uniform is
    drawn per attempted pair, accepted or not, in increasing k.
    """
    K = strength.shape[0]
    C = ladder.shape[0] // K
    for c in prange(C):
        base = c * K
        who = np.empty(K, np.int64)
        for j in range(K):
            who[ladder[base + j]] = base + j
        s = rng[base]
        for k in range(parity, K - 1, 2):
            a = who[k]
            b = who[k + 1]
            log_r = (strength[k + 1] - strength[k]) * (inter[a] - inter[b])
            u = uniform(s)
            if log_r >= 0.0 or u < np.exp(log_r):
                ladder[a] = k + 1
                ladder[b] = k
                who[k] = b
                who[k + 1] = a
                accepted[c, k] += 1
