"""Expected statistics of clamped lattices under a one-hidden-layer machine, for
many theta at the cost of one table look-up.

Given the visible layer, the hidden units of a depth-1 DBM are independent and a
unit's conditional probabilities depend only on the *patch code* ``nA + K nB`` of
the visible units it sees (``nA``, ``nB`` the X and Y counts of its patch, ``K =
q + 1``; the convention of :mod:`dbdviz.dbm._gibbs`). So the conditional
expectation of every hidden statistic over a set of lattices is a sum over the
``K**2`` codes of (how many patches have that code) x (a function of theta):
:func:`patch_histograms` counts once, :func:`expected_statistics` evaluates for
any theta. Equal to :meth:`DBM.clamped_statistics` averaged over the lattices
(``tests/test_refine_targets.py``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["patch_histograms", "expected_statistics"]


def patch_histograms(dbm, lattices: np.ndarray) -> np.ndarray:
    """Patch-code counts of every lattice: float64 ``(..., K**2)`` for uint8/int8
    ``lattices (..., L, L)`` (codes 0, 1 = X, 2 = Y); a hidden unit at ``j`` sees
    the visible sites ``j - delta``, ``delta`` in ``[0, side)^2``, with wrap."""
    v = np.asarray(lattices)
    K = dbm.side * dbm.side + 1
    shape = v.shape[:-2]
    v = v.reshape(-1, v.shape[-2], v.shape[-1])
    code = np.zeros(v.shape, np.int64)
    for dr in range(dbm.side):
        for dc in range(dbm.side):
            s = np.roll(v, shift=(dr, dc), axis=(1, 2))
            code += (s == 1) + K * (s == 2)
    off = (np.arange(v.shape[0]) * K * K)[:, None]
    h = np.bincount((code.reshape(v.shape[0], -1) + off).ravel(), minlength=0)
    h = np.pad(h, (0, v.shape[0] * K * K - h.size)).reshape(v.shape[0], K * K)
    return h.reshape(*shape, K * K).astype(np.float64)


def expected_statistics(
    dbm, theta: np.ndarray, hist: np.ndarray, visible: np.ndarray
) -> np.ndarray:
    """The hidden statistics' conditional expectations, float64 (n, P).

    Parameters
    ----------
    dbm : DBM
        Depth 1.
    theta : float64 (n, P)
    hist : float64 (n, K**2)
        (Mean) patch-code counts of the lattices of row ``i``
        (:func:`patch_histograms`).
    visible : float64 (n, P)
        Their (mean) statistics; the visible entries (biases, couplings) are
        copied, the hidden ones (hidden biases, weights) computed.
    """
    if dbm.depth != 1:
        raise ValueError(f"depth = {dbm.depth}: expected_statistics needs depth 1")
    K = dbm.side * dbm.side + 1
    _, prob = dbm.tables(theta)
    p = prob[:, 1, :: K * K][:, : K * K]  # (n, K**2, 2): no upper layer
    codes = np.arange(K * K)
    n_a = np.stack([codes % K, codes // K], axis=1).astype(np.float64)  # (K**2, 2)
    hp = hist[:, :, None] * p  # (n, K**2, 2): count x P(b | code)
    out = np.array(visible, dtype=np.float64, copy=True)
    out[:, dbm.bias_index[1]] = hp.sum(axis=1)
    w = np.einsum("ncb,ca->nab", hp, n_a)  # w[a, b] = sum p_b n_a
    for k, _l, a, b in dbm.weight_layout:
        out[:, k] = w[:, a, b]
    return out
