"""Evaluation of a learned DBD: sample the DBM along theta(t) (ALGORITHM.md section 6).

* :func:`lowpass` - the zero-phase FIR low-pass of the learned parameters (6.1).
* :func:`sample_trajectory` - chains at every time point of a parameter trajectory, the
  final probability step, moments and the covariances Cov(Q, M_k) (6.2).
* :meth:`Evaluation.channels` - the moment-closure decomposition
  ``d<Q>/dt = sum_k Cov(Q, M_k) dtheta_k/dt`` (6.3), and :func:`moment_derivative`,
  the finite-difference derivative of a moment table to compare it with.
* :func:`evaluate` - the same for a trained :class:`~dbdviz.dbd.model.DBDModel`
  (optionally extrapolated beyond its horizon).

Estimators (pitfall P4, ambiguity A5)
-------------------------------------
After the binary sweeps every chain makes one *parallel* step in which every layer's
conditional probabilities are computed from the binary state of its neighbours
(:meth:`DBM.final_probabilities`). From these probabilities:

* counts ``X, Y`` and the bias statistics ``B``: sums of probabilities. Each term is
  the conditional expectation of a unit given all the others, so this is a
  Rao-Blackwellised, unbiased estimate for every architecture.
* visible pair observables: sums of products of probabilities. Without visible
  couplings the visible units are conditionally independent given layer 1, so the
  product is the conditional expectation of the pair: unbiased (and the reference's
  estimator). *With* visible couplings a unit's probability depends on its neighbours'
  states and the product is not an expectation; then the pair observables and the
  coupling statistics ``J`` are taken from the binary visible state the final step
  starts from instead.
* weight statistics ``P``: products of the probabilities of the two layers, as the
  reference (section 6.2 step 5). They are not model expectations (the two layers of
  one parallel step are not jointly model distributed; on a 2 x 2 depth-1 example
  with W = (1.2, 0.8) they came out 7 % low for wXX1 and 16 % high for wYY1); they
  are what the reference wrote and correlated.

Covariances across chains (step 6) use these per-chain values by default
(``cov_from="probabilities"``, the reference). Conditional expectations shrink
covariances (law of total covariance), so the identity
``d<Q>/dtheta_k = Cov(Q, M_k)`` holds exactly only for binary samples:
``cov_from="states"`` takes Q and M from the binary state after the sweeps.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._numba import check_threads, set_threads
from .._rng import seed_states
from ..config import EvalConfig
from ..dbm import DBM
from ..errors import Cancelled
from ..moments import OBSERVABLES, MomentTable, moment_table

__all__ = [
    "Evaluation",
    "Cancelled",
    "lowpass",
    "sample_trajectory",
    "evaluate",
    "moment_derivative",
    "COV_OBSERVABLES",
    "LOWPASS_TAPS",
]


#: Observables Q whose covariances with the parameter statistics are estimated (the
#: first five are the contract's X, Y, nnXX, nnXY, nnYY; the reference wrote X, nnXX
#: and nnn3XY).
COV_OBSERVABLES = OBSERVABLES

#: Chains per kernel call with random initialisation (several time points at once);
#: results do not depend on it (one stream per time point and chain).
_BATCH_CHAINS = 400

_INITS = ("random", "carry")

#: Defaults of the evaluation settings (their one definition, :class:`EvalConfig`).
_EVAL = EvalConfig.param
#: The reference's low-pass length (Mathematica ``LowpassFilter``, 6.1): the taps of
#: :func:`lowpass`, and of :func:`evaluate` when neither the caller nor the model say.
LOWPASS_TAPS = 63
_COV_FROM = ("probabilities", "states")


# ------------------------------------------------------------------------------------
# Low-pass filter (section 6.1)
# ------------------------------------------------------------------------------------


_PADDINGS = ("odd", "edge")


def _pad(x: np.ndarray, half: int, padding: str) -> np.ndarray:
    """``x`` extended by ``half`` rows at each end (:func:`lowpass`)."""
    if padding == "edge" or x.shape[0] == 1:
        return np.pad(x, half, mode="edge")
    # np.pad's odd reflection repeats itself for series shorter than ``half``
    return np.pad(x, half, mode="reflect", reflect_type="odd")


def lowpass(
    theta: np.ndarray,
    taps: int = LOWPASS_TAPS,
    cutoff: float = _EVAL["cutoff"].default,
    padding: str = _EVAL["lowpass_padding"].default,
) -> np.ndarray:
    """Zero-phase FIR low-pass of every column of a parameter trajectory.

    Parameters
    ----------
    theta : ndarray of float64, shape (T,) or (T, P)
        Series sampled at unit spacing (one row per time step).
    taps : int
        Filter length, odd (zero phase needs a centre tap); 0 or 1 = no filtering.
    cutoff : float
        Cutoff frequency in rad/sample, in (0, pi).
    padding : {"odd", "edge"}
        How the series is extended beyond its ends before filtering. ``"odd"``
        (default): point reflection about the end value, ``2 x_0 - x_k``, so a
        trend continues through the end and the filtered end values are unbiased
        (linear series are preserved exactly, ends included). ``"edge"``: copies
        of the end value, the reference's Mathematica "Fixed" padding; it pulls the
        first and last ``(taps - 1) / 2`` rows toward the interior (e.g. theta(0)
        toward the parameters of t ~ 10-30: on the paper data the DBD's Y error
        over t = 0..100 doubles, docs/training.md).

    Returns
    -------
    ndarray of float64, same shape as ``theta``

    Notes
    -----
    ALGORITHM.md 6.1 (Mathematica ``LowpassFilter[data, 0.1]``, ambiguity A6):
    ``h = scipy.signal.firwin(taps, cutoff / pi, window="hamming")`` (unit DC gain,
    symmetric), the series is extended by ``(taps - 1) / 2`` rows at each end
    (``padding``) and convolved with ``h`` centred, so output row tau is the
    weighted mean of rows tau - (taps-1)/2 ... tau + (taps-1)/2 of the extended
    series. Constants are preserved exactly by both paddings; linear series by
    ``"odd"`` everywhere and by ``"edge"`` away from the ends. A series shorter than
    the padding is extended by repeating its reflection (``"odd"``) or end value.
    """
    from scipy.signal import firwin

    if isinstance(taps, bool) or not float(taps).is_integer() or taps < 0:
        raise ValueError(f"taps = {taps!r} is out of range: allowed 0, 1 or odd >= 3")
    taps = int(taps)
    if taps > 1 and taps % 2 == 0:
        raise ValueError(
            f"taps = {taps} is even: allowed 0, 1 or an odd integer >= 3 (zero phase)"
        )
    if padding not in _PADDINGS:
        raise ValueError(f"padding = {padding!r}: allowed {list(_PADDINGS)}")
    cutoff = float(cutoff)
    if not 0.0 < cutoff < math.pi:
        raise ValueError(
            f"cutoff = {cutoff} is out of range: allowed (0, pi) rad/sample"
        )
    x = np.asarray(theta, dtype=np.float64)
    if x.ndim not in (1, 2) or x.shape[0] == 0:
        raise ValueError(
            f"theta must have shape (T,) or (T, P) with T >= 1, got {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("theta contains NaN or infinite values: allowed finite reals")
    if taps <= 1:
        return x.copy()
    h = firwin(taps, cutoff / math.pi, window="hamming")
    half = (taps - 1) // 2
    col = x.reshape(x.shape[0], -1)
    out = np.empty_like(col)
    for k in range(col.shape[1]):
        padded = _pad(col[:, k], half, padding)
        # h is symmetric, so convolution = correlation: no phase shift
        out[:, k] = np.convolve(padded, h, mode="valid")
    return out.reshape(x.shape)


# ------------------------------------------------------------------------------------
# Result
# ------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Model moments along a parameter trajectory (ALGORITHM.md 6.2).

    Attributes
    ----------
    table : MomentTable
        Mean over chains of the per-chain expected observables (final probability
        step), ``sd`` = SD across chains (ddof = 1), ``n`` = chains. The SD is the
        spread of conditional expectations, far below an ensemble SD of lattices.
    theta : ndarray of float64, shape (T, P)
        The trajectory sampled (low-pass filtered if the caller filtered it).
    cov : ndarray of float64, shape (T, len(observables), P)
        ``cov[tau, i, k]`` = Cov across chains (ddof = 1) of ``observables[i]`` and the
        parameter statistic ``M_k``. The reference divided by n instead of n - 1.
    stats : ndarray of float64, shape (T, P)
        Chain mean of the uncentered parameter statistics ``M_k`` (bias / weight /
        coupling moments, section 6.2 step 5).
    param_names : tuple of str
    observables : tuple of str
        Names of the second axis of ``cov`` (:data:`COV_OBSERVABLES`).
    stats_sd : ndarray of float64, shape (T, P), optional
        SD across chains (ddof = 1) of ``M_k``.
    meta : dict
        chains, sweeps, seed, init, burn_in, cov_from, lowpass settings, seconds.
    """

    table: MomentTable
    theta: np.ndarray
    cov: np.ndarray
    stats: np.ndarray
    param_names: tuple[str, ...]
    observables: tuple[str, ...] = COV_OBSERVABLES
    stats_sd: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def t(self) -> np.ndarray:
        """Times, float64 (T,)."""
        return self.table.t

    def covariance(self, obs: str) -> np.ndarray:
        """Cov(obs, M_k) for every parameter, float64 (T, P)."""
        if obs not in self.observables:
            raise ValueError(f"obs = {obs!r}: allowed {', '.join(self.observables)}")
        return self.cov[:, self.observables.index(obs)]

    def channels(
        self,
        observables: str | list[str] | tuple[str, ...] | None = None,
        *,
        lowpass_taps: int = LOWPASS_TAPS,
        cutoff: float = _EVAL["cutoff"].default,
        difference: str = "forward",
    ) -> dict[str, Any]:
        """Moment-closure channels ``Cov(Q, M_k) dtheta_k/dt`` (ALGORITHM.md 6.3).

        Parameters
        ----------
        observables : str or sequence of str, optional
            Q; default ``("X", "Y", "nnXX", "nnXY", "nnYY")``.
        lowpass_taps, cutoff : int, float
            Low-pass filter of the covariances along t (:func:`lowpass`; 0 = raw).
            ``theta`` is used as stored (filter it before sampling, as
            :func:`evaluate` does).
        difference : {"forward", "central"}
            ``"forward"`` (the reference notebook): ``(theta(tau+1) - theta(tau)) / dt``
            times ``Cov(tau)``, rows tau = 0 .. T-2. ``"central"``: second-order
            :func:`numpy.gradient` (one-sided at the ends), rows 0 .. T-1.

        Returns
        -------
        dict
            ``t`` float64 (T', ) times of the rows; ``param_names``;
            ``channels``: Q -> float64 (T', P), the per-parameter terms;
            ``sum``: Q -> float64 (T', ), their sum, the model's d<Q>/dt.
            Compare ``sum`` with :func:`moment_derivative` of the data (same
            ``difference``).
        """
        if observables is None:
            observables = ("X", "Y", "nnXX", "nnXY", "nnYY")
        elif isinstance(observables, str):
            observables = (observables,)
        for o in observables:
            if o not in self.observables:
                raise ValueError(
                    f"observable {o!r}: allowed {', '.join(self.observables)}"
                )
        t = self.t
        if t.shape[0] < 2:
            raise ValueError("channels need at least 2 time points")
        dtheta, rows = _derivative(self.theta, t, difference)
        out: dict[str, Any] = {
            "t": t[rows],
            "param_names": self.param_names,
            "channels": {},
            "sum": {},
        }
        for o in observables:
            c = self.covariance(o)
            if not np.all(np.isfinite(c)):
                raise ValueError(
                    f"covariances of {o!r} are not finite (chains = 1?): no channels"
                )
            c = lowpass(
                c, lowpass_taps, cutoff, self.meta.get("lowpass_padding", "odd")
            )
            ch = c[rows] * dtheta
            out["channels"][o] = ch
            out["sum"][o] = ch.sum(axis=1)
        return out


def _derivative(y: np.ndarray, t: np.ndarray, difference: str):
    """Finite-difference derivative of the rows of y along t; returns (dy, rows)."""
    if difference == "forward":
        dy = np.diff(y, axis=0) / np.diff(t).reshape((-1,) + (1,) * (y.ndim - 1))
        return dy, np.arange(t.shape[0] - 1)
    if difference == "central":
        edge = 2 if t.shape[0] >= 3 else 1
        return np.gradient(y, t, axis=0, edge_order=edge), np.arange(t.shape[0])
    raise ValueError(f"difference = {difference!r}: allowed 'forward' or 'central'")


def moment_derivative(
    table: MomentTable,
    observables: str | list[str] | tuple[str, ...] | None = None,
    difference: str = "forward",
) -> dict[str, np.ndarray]:
    """Finite-difference time derivative of a moment table's means ("true derivative").

    Parameters
    ----------
    table : MomentTable
        E.g. the simulated ensemble (ALGORITHM.md 6.3 compares with the channel sum).
    observables : str or sequence of str, optional
        Default: ``X, Y, nnXX, nnXY, nnYY`` (those the table has).
    difference : {"forward", "central"}
        As in :meth:`Evaluation.channels`, so the rows line up.

    Returns
    -------
    dict
        ``t`` float64 (T',) and one float64 (T',) array per observable.
    """
    if observables is None:
        observables = [o for o in ("X", "Y", "nnXX", "nnXY", "nnYY") if o in table.mean]
    elif isinstance(observables, str):
        observables = [observables]
    t = table.t
    if t.shape[0] < 2 or np.any(np.diff(t) <= 0):
        raise ValueError("the table needs >= 2 strictly increasing times")
    out: dict[str, np.ndarray] = {}
    rows = None
    for o in observables:
        if o not in table.mean:
            raise ValueError(f"observable {o!r} is not in the table")
        d, rows = _derivative(table.mean[o], t, difference)
        out[o] = d
    if rows is None:
        rows = _derivative(t, t, difference)[1]
    out["t"] = t[rows]
    return out


# ------------------------------------------------------------------------------------
# Sampling (section 6.2)
# ------------------------------------------------------------------------------------


def _check_int(name: str, v: Any, lo: int) -> int:
    if (
        isinstance(v, bool)
        or not isinstance(v, (int, np.integer, float))
        or not float(v).is_integer()
    ):
        raise ValueError(f"{name} = {v!r} is not an integer: allowed [{lo}, inf)")
    if v < lo:
        raise ValueError(f"{name} = {v!r} is out of range: allowed [{lo}, inf)")
    return int(v)


def _moments(
    dbm: DBM, theta: np.ndarray, states: np.ndarray, rows: np.ndarray, cov_from: str
):
    """Per-chain observables and statistics of the final step (section 6.2 steps 4-5).

    Returns (obs (C, 11), M (C, P), Q for covariances (C, 11), M for covariances).
    """
    obs, M = dbm.final_moments(theta, states, rows)
    if not (dbm.coupled or cov_from == "states"):
        return obs, M, obs, M
    obs_bin = dbm.state_observables(states)  # exact counts of the binary state
    M_bin = dbm.param_statistics(states)
    if dbm.coupled:
        # products of coupled visible probabilities are no expectations (module notes)
        obs[:, 2:] = obs_bin[:, 2:]
        M[:, dbm.coupling_index] = M_bin[:, dbm.coupling_index]
    if cov_from == "states":
        return obs, M, obs_bin, M_bin
    return obs, M, obs, M


def _cov(Q: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Cov across chains (ddof = 1), Q (C, nq), M (C, P) -> (nq, P); NaN for C = 1."""
    n = Q.shape[0]
    if n < 2:
        return np.full((Q.shape[1], M.shape[1]), np.nan)
    Qc = Q - Q.mean(axis=0)
    Mc = M - M.mean(axis=0)
    return Qc.T @ Mc / (n - 1)


def sample_trajectory(
    dbm: DBM,
    theta: np.ndarray,
    t: np.ndarray | None = None,
    *,
    chains: int = _EVAL["chains"].default,
    sweeps: int = 9,
    seed: int | None = _EVAL["seed"].default,
    init: str = "random",
    burn_in: int | None = None,
    cov_from: str = "probabilities",
    label: str = "DBD",
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
) -> Evaluation:
    """Sample the DBM at every time point of a parameter trajectory (ALGORITHM.md 6.2).

    Parameters
    ----------
    dbm : DBM
        Architecture (and lattice side).
    theta : ndarray of float64, shape (T, dbm.n_params)
        Parameters at every time point (uncentered, section 3.2).
    t : ndarray of float64, shape (T,), optional
        Strictly increasing times; default ``arange(T)``.
    chains : int
        Chains per time point (>= 1; >= 2 for SDs and covariances).
    sweeps : int
        Binary block Gibbs sweeps per time point before the final probability step
        (>= 0).
    seed : int or None
        ``init="random"``: chain c of time point tau draws from stream
        ``tau * chains + c`` of :func:`dbdviz._rng.seed_states` (seed, T * chains), so
        a time point's result does not depend on T, the batching or the threads.
        ``init="carry"``: one stream per chain, continued along t.
    init : {"random", "carry"}
        ``"random"`` (the reference): every time point starts from uniform random
        chains (pitfall P7: biased if 9 sweeps do not mix). ``"carry"``: the chains at
        tau continue from the binary chains of tau - 1 with ``sweeps`` more sweeps at
        theta(tau) - far better mixing when theta changes slowly; at tau = 0 they start
        at random with ``burn_in`` extra sweeps. A model trained with restarted
        asleep chains (the reference) was fitted through the biased short-chain
        sampler, so ``"random"`` with the training sweep count is its consistent
        evaluation; ``"carry"`` shows its actual Boltzmann distribution.
    burn_in : int, optional
        Extra sweeps at the first time point with ``init="carry"`` (default 100);
        must be None or 0 with ``init="random"``.
    cov_from : {"probabilities", "states"}
        Per-chain Q and M of the covariances: from the final probabilities (the
        reference) or from the binary state before the final step (unbiased
        ``Cov(Q, M_k) = d<Q>/dtheta_k``); see the module notes.
    label : str
        Label of the moment table.
    threads : int, optional
        numba threads for this call (None: the current setting); results do not
        depend on it.
    progress : callable(done: int, total: int), optional
        Called with time points done, after every batch.
    cancel : threading.Event, optional
        Checked between batches; when set, :class:`Cancelled` is raised.

    Returns
    -------
    Evaluation

    Raises
    ------
    ValueError
        Bad shapes, NaN parameters, out-of-range settings (before any work).
    Cancelled
        ``cancel`` was set.

    Notes
    -----
    Steps per time point (section 6.2): random chains (section 3.4) or the carried
    ones, ``sweeps`` binary sweeps (odd layers, then even layers), one parallel
    probability step of every layer (:meth:`DBM.final_probabilities`, pitfall P4),
    observables and parameter statistics from the probabilities (module notes),
    chain means, SDs and covariances. Random initialisation runs many time points in
    one kernel call (one theta row per time point); carrying runs all chains of one
    time point per call.
    """
    if not isinstance(dbm, DBM):
        raise ValueError(f"dbm must be a dbdviz.dbm.DBM, got {type(dbm).__name__}")
    th = np.asarray(theta, dtype=np.float64)
    if th.ndim != 2 or th.shape[1] != dbm.n_params or th.shape[0] < 1:
        raise ValueError(
            f"theta must have shape (T, {dbm.n_params}) with T >= 1 "
            f"({', '.join(dbm.param_names)}), got {th.shape}"
        )
    if not np.all(np.isfinite(th)):
        bad = np.argwhere(~np.isfinite(th))[0]
        raise ValueError(
            f"theta contains NaN or infinite values (first at row {bad[0]}, "
            f"{dbm.param_names[bad[1]]}): allowed finite reals"
        )
    th = np.ascontiguousarray(th)
    T = th.shape[0]
    if t is None:
        tt = np.arange(T, dtype=np.float64)
    else:
        tt = np.asarray(t, dtype=np.float64)
        if tt.shape != (T,):
            raise ValueError(
                f"t must have shape ({T},) like theta's rows, got {tt.shape}"
            )
        if not np.all(np.isfinite(tt)) or np.any(np.diff(tt) <= 0):
            raise ValueError("t must be finite and strictly increasing")
    chains = _check_int("chains", chains, 1)
    sweeps = _check_int("sweeps", sweeps, 0)
    if init not in _INITS:
        raise ValueError(f"init = {init!r}: allowed {', '.join(map(repr, _INITS))}")
    if cov_from not in _COV_FROM:
        raise ValueError(
            f"cov_from = {cov_from!r}: allowed {', '.join(map(repr, _COV_FROM))}"
        )
    if init == "carry":
        burn_in = 100 if burn_in is None else _check_int("burn_in", burn_in, 0)
    elif burn_in not in (None, 0):
        raise ValueError("burn_in applies to init='carry' only: allowed None or 0")
    else:
        burn_in = 0
    if threads is not None:
        threads = check_threads(threads)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r}: allowed None or an integer >= 0")
    seed = int(seed)

    n_obs, P = len(OBSERVABLES), dbm.n_params
    obs_all = np.empty((chains, T, n_obs))
    stats = np.empty((T, P))
    stats_sd = np.full((T, P), np.nan)
    cov = np.empty((T, len(COV_OBSERVABLES), P))
    started = time.perf_counter()

    def record(tau0: int, tb: int, obs, M, Qc, Mc) -> None:
        for j in range(tb):
            sl = slice(j * chains, (j + 1) * chains)
            obs_all[:, tau0 + j] = obs[sl]
            stats[tau0 + j] = M[sl].mean(axis=0)
            if chains > 1:
                stats_sd[tau0 + j] = M[sl].std(axis=0, ddof=1)
            cov[tau0 + j] = _cov(Qc[sl], Mc[sl])

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("evaluation cancelled")

    prev = set_threads(threads) if threads is not None else None
    try:
        if init == "random":
            rng = seed_states(seed, T * chains)
            per = max(1, _BATCH_CHAINS // chains)
            for tau0 in range(0, T, per):
                check_cancel()
                tb = min(per, T - tau0)
                r = rng[tau0 * chains : (tau0 + tb) * chains]  # contiguous view
                rows = np.repeat(np.arange(tb, dtype=np.int64), chains)
                rows_theta = th[tau0 : tau0 + tb]
                states = dbm.init_chains(tb * chains, r)
                dbm.sample(rows_theta, states, sweeps, seed=r, rows=rows)
                record(tau0, tb, *_moments(dbm, rows_theta, states, rows, cov_from))
                if progress is not None:
                    progress(tau0 + tb, T)
        else:
            rng = seed_states(seed, chains)
            states = dbm.init_chains(chains, rng)
            # the final steps of several time points run in one kernel call
            per = max(1, _BATCH_CHAINS // chains)
            batch = np.empty((per * chains,) + states.shape[1:], np.int8)
            for tau0 in range(0, T, per):
                tb = min(per, T - tau0)
                for j in range(tb):
                    check_cancel()
                    tau = tau0 + j
                    n_sw = sweeps + (burn_in if tau == 0 else 0)
                    dbm.sample(th[tau], states, n_sw, seed=rng)
                    batch[j * chains : (j + 1) * chains] = states
                rows = np.repeat(np.arange(tb, dtype=np.int64), chains)
                record(
                    tau0,
                    tb,
                    *_moments(
                        dbm, th[tau0 : tau0 + tb], batch[: tb * chains], rows, cov_from
                    ),
                )
                if progress is not None:
                    progress(tau0 + tb, T)
    finally:
        if prev is not None:
            set_threads(prev)

    table = moment_table(obs_all, tt, label=label)
    meta = {
        "chains": chains,
        "sweeps": sweeps,
        "seed": seed,
        "init": init,
        "burn_in": burn_in,
        "cov_from": cov_from,
        "seconds": time.perf_counter() - started,
    }
    return Evaluation(
        table=table,
        theta=th.copy(),
        cov=cov,
        stats=stats,
        param_names=tuple(dbm.param_names),
        observables=COV_OBSERVABLES,
        stats_sd=stats_sd,
        meta=meta,
    )


# ------------------------------------------------------------------------------------
# Learned model
# ------------------------------------------------------------------------------------


def memory_estimate(n_times: int, n_params: int, chains: int) -> int:
    """Peak bytes of :func:`evaluate` over ``n_times`` time points: per chain and
    time point the observables (9 float64) and a random stream (32 bytes), per time
    point the trajectory, its filtered copy and padding, statistics, their SDs and
    the covariance rows (float64 each)."""
    per_time = chains * (len(OBSERVABLES) * 8 + 32)
    per_time += n_params * 8 * (5 + len(COV_OBSERVABLES))
    return int(n_times) * per_time


def _check_memory(n_times: int, n_params: int, chains: int) -> None:
    from .._memory import require

    require(
        memory_estimate(n_times, n_params, chains),
        f"sampling {chains} chains at {n_times} time points",
        "reduce t_max or chains",
    )


def evaluate(
    model: Any,
    *,
    chains: int | None = None,
    sweeps: int | None = None,
    seed: int | None = _EVAL["seed"].default,
    lowpass_taps: int | None = None,
    cutoff: float = _EVAL["cutoff"].default,
    lowpass_padding: str = _EVAL["lowpass_padding"].default,
    t_max: float | None = None,
    init: str | None = None,
    burn_in: int | None = None,
    cov_from: str | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    cancel: threading.Event | None = None,
) -> Evaluation:
    """Evaluate a trained DBD model along its (filtered) parameter trajectory.

    Parameters
    ----------
    model : DBDModel
        Trained model (:mod:`dbdviz.dbd.model`).
    chains, sweeps, seed, init, burn_in, cov_from, threads, progress, cancel
        As in :func:`sample_trajectory`; ``None`` for chains means
        :class:`~dbdviz.config.EvalConfig`'s default (100); ``None`` for
        sweeps or init means the procedure the model was trained to match
        (``model.meta["evaluate"]``, e.g. 9 sweeps from a random start), else 9 /
        ``"random"``. Sampling a model differently from how it was trained is a
        different (usually worse) closure: the learned couplings can be strong
        enough that the chains do not reach equilibrium in a few sweeps (P7).
    lowpass_taps, cutoff : int, float
        Low-pass filter of theta before sampling (:func:`lowpass`; the reference:
        63 taps, 0.1 rad/sample; 0 = the raw learned parameters; None = the
        model's ``meta["evaluate"]["lowpass_taps"]`` if set, else 63: a model from
        :func:`~dbdviz.dbd.refine_static` is smooth already and says 0).
    lowpass_padding : {"odd", "edge"}
        Extension of theta beyond its ends for the filter (:func:`lowpass`):
        ``"odd"`` (default) keeps the trend through the ends, ``"edge"`` is the
        reference's ("Fixed"), which biases the first and last 31 rows.
    t_max : float, optional
        Last time to evaluate; default the trained horizon. Beyond the horizon theta
        is extrapolated with the learned right-hand sides (``model.integrate``).

    Returns
    -------
    Evaluation
        ``theta`` is the filtered trajectory that was sampled, ``meta`` also records
        the low-pass settings and whether the trajectory was extrapolated.

    Notes
    -----
    The filter is applied to the trajectory over ``0 .. t_max`` (so the last
    ``(taps - 1) / 2`` rows of a shortened trajectory differ from the full one's).
    """
    for attr in ("dbm", "theta", "dt", "horizon", "integrate"):
        if not hasattr(model, attr):
            raise ValueError(f"model must be a DBDModel (missing {attr!r})")
    # None = the default (front ends pass unset options through)
    # sampling procedure the model was trained to match (DBDModel.meta["evaluate"])
    trained = (getattr(model, "meta", None) or {}).get("evaluate", {})
    chains = _EVAL["chains"].default if chains is None else chains
    sweeps = int(trained.get("sweeps", 9)) if sweeps is None else sweeps
    if lowpass_taps is None:  # the model's recommendation (refined models: 0)
        lowpass_taps = int(trained.get("lowpass_taps", LOWPASS_TAPS))
    init = str(trained.get("init", "random")) if init is None else init
    if burn_in is None and init == "carry" and "burn_in" in trained:
        burn_in = int(trained["burn_in"])
    if cov_from is None:
        # with visible couplings (or no hidden layer) the probability-based covariances
        # of the final step miss the visible-visible dependence and the channels come
        # out near zero; binary states give the exact Cov(Q, M_k) = d<Q>/dtheta_k
        cfg = model.dbm_config
        coupled = cfg.visible_couplings or cfg.depth == 0
        cov_from = "states" if coupled else "probabilities"
    lowpass_taps = _check_int("lowpass_taps", lowpass_taps, 0)
    dbm = model.dbm()
    dt = float(model.dt)
    horizon = int(model.horizon)
    if t_max is None:
        n_steps = horizon
    else:
        t_max = float(t_max)
        if not math.isfinite(t_max) or t_max < 0:
            raise ValueError(f"t_max = {t_max}: allowed finite >= 0")
        n_steps = int(math.floor(t_max / dt + 1e-9))
    _check_memory(n_steps + 1, dbm.n_params, _check_int("chains", chains, 1))
    extrapolated = n_steps > horizon
    if extrapolated:
        theta = np.asarray(model.integrate(n_steps), dtype=np.float64)
    else:
        theta = np.asarray(model.theta, dtype=np.float64)[: n_steps + 1]
    if theta.shape[0] != n_steps + 1:
        raise ValueError(
            f"the model's trajectory has {theta.shape[0]} rows, expected {n_steps + 1}"
        )
    theta_f = lowpass(theta, lowpass_taps, cutoff, lowpass_padding)
    t = np.arange(n_steps + 1) * dt
    label = "DBD" + (f" (low-pass {lowpass_taps})" if lowpass_taps > 1 else " (raw)")
    ev = sample_trajectory(
        dbm,
        theta_f,
        t,
        chains=chains,
        sweeps=sweeps,
        seed=seed,
        init=init,
        burn_in=burn_in,
        cov_from=cov_from,
        label=label,
        threads=threads,
        progress=progress,
        cancel=cancel,
    )
    ev.meta.update(
        lowpass_taps=int(lowpass_taps),
        cutoff=float(cutoff),
        lowpass_padding=lowpass_padding,
        extrapolated=extrapolated,
        horizon=horizon,
        t_max=float(t[-1]),
    )
    return ev
