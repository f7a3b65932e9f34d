"""Parallel tempering over the interaction strength: a DBM sampler that equilibrates
where plain Gibbs sweeps do not.

Why: the couplings learned from lattice Lotka-Volterra data sit near the lattice
gas's critical coupling, where single-site Gibbs sweeps from a random start need
far more than the 9-10 sweeps of training and evaluation (pitfall P7): the moments
then depend on the number of sweeps.

How: every chain is ``K`` replicas at interaction strengths ``0 = lambda_0 < ... <
lambda_{K-1} = 1``. A replica at strength ``lambda`` samples
``exp(b . B(s) + lambda I(s))``: the biases ``b`` unscaled, every weight and
coupling multiplied by ``lambda`` (``I(s) = sum_k theta_k M_k(s)`` over the weights
and couplings). At ``lambda = 0`` all units are independent, so one sweep draws an
exact sample there; exchanges between adjacent rungs carry such fresh states up to
``lambda = 1``, the model. One *tempered sweep* = one Gibbs sweep of every replica
at its rung (:meth:`DBM.sample`'s kernel and draw order), then one round of
exchanges (pairs ``(k, k + 1)`` with ``k`` even on even sweeps, odd on odd ones; see
:func:`dbdviz.dbm._tempering._swap_rungs`). Replicas keep their states and trade
rungs (``ladder``), so no lattice is copied.

The top-rung replicas are samples of the model; with ``K`` rungs a tempered sweep
costs about ``K + 1`` plain sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import _gibbs, _tempering

__all__ = ["strengths", "init_tempered", "sample_tempered", "top_rung", "sample_fresh"]


def strengths(rungs: int) -> np.ndarray:
    """Interaction strengths ``1 - (1 - k / (rungs - 1))**2``, k = 0 .. rungs - 1.

    ``rungs`` >= 2; the first is 0 (independent units), the last 1 (the model). The
    rungs are denser near 1, where the exchanges are hardest (on the learned
    couplings of the paper data the acceptance of evenly spaced rungs fell from
    0.9 to 0.4 at the top pair).
    """
    if isinstance(rungs, bool) or not float(rungs).is_integer() or rungs < 2:
        raise ValueError(f"rungs = {rungs!r} is out of range: allowed integers >= 2")
    x = np.linspace(0.0, 1.0, int(rungs))
    return 1.0 - (1.0 - x) ** 2


def _check_strength(strength) -> np.ndarray:
    lam = np.ascontiguousarray(strength, dtype=np.float64)
    if (
        lam.ndim != 1
        or lam.size < 2
        or not np.all(np.isfinite(lam))
        or lam[-1] != 1.0
        or np.any(np.diff(lam) <= 0)
        or lam[0] < 0
    ):
        raise ValueError(
            "strength must be an increasing array of >= 2 values in [0, 1] ending "
            f"with 1, got {np.asarray(strength)!r}"
        )
    return lam


def init_tempered(
    dbm,
    theta: np.ndarray,
    n_chains: int,
    rungs: int,
    seed: int | None | np.ndarray = None,
    rows: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replicas of ``n_chains`` tempered chains with ``rungs`` rungs each, every one
    an exact sample at strength 0 (independent units with the biases of ``theta``).

    Parameters
    ----------
    theta, rows : as :func:`sample_tempered` (``rows`` per chain).
    seed : int, None or ndarray of uint64 (n_chains * rungs, 4)
        Advanced in place when an array (continue with it in
        :func:`sample_tempered`).

    Returns
    -------
    states : ndarray of int8, shape (n_chains * rungs, n_layers, L, L)
        Replica ``c rungs + j`` belongs to chain ``c``: uniform random
        (:meth:`DBM.init_chains`), then one sweep without interactions.
    ladder : ndarray of int64, shape (n_chains * rungs,)
        Rung of every replica (initially ``j``).
    """
    k = len(strengths(rungs))
    n = int(n_chains) * k
    t = dbm.check_theta(theta)
    r = dbm._rows(rows, t.shape[0], int(n_chains))
    rng = dbm._rng(seed, n)
    states = dbm.init_chains(n, rng)
    free = t.copy()
    free[:, _interaction_mask(dbm)] = 0.0
    thr, _ = dbm.tables(free)
    _gibbs._sweep_chains(
        states,
        thr,
        np.repeat(r, k),
        rng,
        dbm._order_asleep,
        1,
        dbm.side,
        dbm.coupling_mode,
    )
    ladder = np.tile(np.arange(k, dtype=np.int64), int(n_chains))
    return states, ladder


def _interaction_mask(dbm) -> np.ndarray:
    mask = np.ones(dbm.n_params, bool)
    mask[dbm.bias_index.ravel()] = False
    return mask


def sample_tempered(
    dbm,
    theta: np.ndarray,
    states: np.ndarray,
    ladder: np.ndarray,
    sweeps: int,
    *,
    strength: Sequence[float] | np.ndarray,
    seed: int | None | np.ndarray = None,
    rows: Sequence[int] | np.ndarray | None = None,
    parity: int = 0,
) -> np.ndarray:
    """``sweeps`` tempered sweeps of every chain, in place (module notes).

    Parameters
    ----------
    dbm : DBM
    theta : ndarray of float64, shape (n_params,) or (R, n_params)
        The model's parameters (strength 1), one row or one per time point.
    states : ndarray of int8, shape (C * K, n_layers, L, L)
        Replicas (:func:`init_tempered`), updated in place.
    ladder : ndarray of int64, shape (C * K,)
        Rung of every replica, updated in place.
    sweeps : int
        Tempered sweeps (>= 0).
    strength : array of float, shape (K,)
        Interaction strength per rung, increasing, last 1 (:func:`strengths`).
    seed : int, None or ndarray of uint64 (C * K, 4)
        As :meth:`DBM.sample`; a stream array is advanced in place.
    rows : sequence of int, shape (C,), optional
        Theta row of every *chain* (as :meth:`DBM.sample`).
    parity : int
        Parity of the first exchange round (continue with ``parity + sweeps``).

    Returns
    -------
    acceptance : ndarray of float64, shape (K - 1,)
        Fraction of accepted exchanges per rung pair over these sweeps.
    """
    lam = _check_strength(strength)
    K = lam.size
    t = dbm.check_theta(theta)
    states = dbm.check_states(states)
    n = states.shape[0]
    if n % K:
        raise ValueError(f"states must hold chains x {K} replicas, got {n}")
    C = n // K
    lad = np.asarray(ladder)
    if lad.dtype != np.int64 or lad.shape != (n,) or not lad.flags.c_contiguous:
        raise ValueError(f"ladder must be C-contiguous int64 of shape ({n},)")
    if not np.array_equal(
        np.sort(lad.reshape(C, K), axis=1), np.broadcast_to(np.arange(K), (C, K))
    ):
        raise ValueError("ladder must hold every rung 0 .. K - 1 once per chain")
    if isinstance(sweeps, bool) or not float(sweeps).is_integer() or sweeps < 0:
        raise ValueError(f"sweeps = {sweeps!r} is out of range: allowed integers >= 0")
    r = dbm._rows(rows, t.shape[0], C)
    rng = dbm._rng(seed, n)
    accepted = np.zeros((C, K - 1), np.int64)
    attempts = np.zeros(K - 1)
    if sweeps == 0:
        return attempts
    mask = _interaction_mask(dbm)
    # theta of (row, rung) at index row * K + rung: interactions scaled by lambda
    ext = np.repeat(t, K, axis=0)
    ext[:, mask] *= np.tile(lam, t.shape[0])[:, None]
    thr, _ = dbm.tables(ext)
    full = t[np.repeat(r, K)][:, mask]  # (C * K, n_inter): strength-1 theta
    order = dbm._order_asleep
    for i in range(int(sweeps)):
        rows_ext = np.repeat(r, K) * K + lad
        _gibbs._sweep_chains(
            states, thr, rows_ext, rng, order, 1, dbm.side, dbm.coupling_mode
        )
        inter = np.einsum("ij,ij->i", dbm.param_statistics(states)[:, mask], full)
        p = (parity + i) % 2
        _tempering._swap_rungs(inter, lad, lam, p, rng, accepted)
        attempts[p::2] += 1
    return accepted.sum(axis=0) / (C * np.maximum(attempts, 1))


def top_rung(states: np.ndarray, ladder: np.ndarray, rungs: int) -> np.ndarray:
    """The replicas at the top rung (strength 1, the model), chain by chain.

    Returns
    -------
    ndarray of int8, shape (C, n_layers, L, L)
        A copy, chain ``c``'s top replica at index ``c``.
    """
    k = int(rungs)
    idx = np.flatnonzero(np.asarray(ladder) == k - 1)
    if idx.size * k != states.shape[0]:
        raise ValueError("ladder must hold the top rung once per chain")
    return states[idx]


def sample_fresh(
    dbm,
    theta: np.ndarray,
    states: np.ndarray,
    sweeps: int,
    rng: np.ndarray,
    rows: np.ndarray,
    rungs: int,
) -> None:
    """Replace every chain of ``states`` by the top rung of a tempered chain after
    ``sweeps`` tempered sweeps from exact samples at strength 0 (what
    :meth:`DBM.sample` does for free chains when ``DBMConfig.rungs`` > 1).

    ``rng`` (C, 4): one word drawn from chain ``c``'s stream seeds its replicas'
    streams (:func:`dbdviz.dbm._tempering._replica_streams`), so a chain's result
    depends on its own stream only, not on the batch it is sampled in. ``theta``
    (R, P) and ``rows`` (C,) are checked by the caller.
    """
    C, K = states.shape[0], int(rungs)
    rep = np.empty((C * K, 4), np.uint64)
    _tempering._replica_streams(rng, K, rep)
    reps, ladder = init_tempered(dbm, theta, C, K, rep, rows=rows)
    sample_tempered(
        dbm, theta, reps, ladder, sweeps, strength=strengths(K), seed=rep, rows=rows
    )
    states[:] = top_rung(reps, ladder, K)
