"""Does a trained model's sampling reach its Boltzmann distribution?

:func:`equilibration` samples a model at every ``every``-th time point the way its
evaluation does (``meta["evaluate"]``: random chains, or chains carried along t),
then continues with ``m`` sweeps at theta(t) for several ``m`` (10, 100, 1000):
independent chain sets per ``m``. If the sampler has equilibrated, the moments do
not depend on ``m`` beyond their standard errors (issue 14's criterion: 10 / 100 /
1000 sweeps agree within 2 standard errors). With carried chains a further set
starts at random and runs ``max(sweeps)`` sweeps: a metastable branch that the
carried chains follow but equilibrium does not shows there.

Two readings guard the criterion (docs/experiments/23): the phase fractions of
every set (``Equilibration.phases``: chains condensed into an X- or Y-filled
lattice; a set mixing phases has inflated standard errors and passes for the
wrong reason), and what noise alone gives (:meth:`Equilibration.null_max_z`):
with 11 time points x 5 observables even exact samples exceed 2 somewhere in
most comparisons, so a comparison fails beyond noise only above the null's
95 % quantile (about 3.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._rng import seed_states
from .evaluate import LOWPASS_TAPS, _check_int, lowpass

__all__ = ["Equilibration", "equilibration"]

#: Observables compared (counts, NN and NNN pairs).
EQ_OBSERVABLES = ("X", "Y", "nnXX", "nnXY", "nnYY", "nnnXX", "nnnXY", "nnnYY")
#: A chain is condensed into a species' filled phase above this fraction of sites
#: (the paper data's absorbed lattices and the models' condensed phase hold
#: 0.87-0.97; a broad dilute distribution near the critical density reaches 0.6).
CONDENSED = 0.75


@dataclass
class Equilibration:
    """Moments after ``m`` sweeps at theta(t) (:func:`equilibration`).

    Attributes
    ----------
    times : ndarray of int64 (n,)
        Time points checked.
    mean, se : dict
        ``m`` (int, or ``"random"``) -> float64 (n, 8): chain means and standard
        errors (SD / sqrt(chains)) of :data:`EQ_OBSERVABLES`.
    phases : dict
        ``m`` -> float64 (n, 2): the fraction of chains condensed into the X-filled
        and into the Y-filled phase (more than :data:`CONDENSED` of the sites X,
        resp. Y). A set that mixes phases has inflated standard errors, so a small
        ``z`` alone does not show equilibrium (docs/experiments/19).
    corr : dict
        ``m`` -> float64 (n, 8, 8): correlation of the observables across chains
        (identity where one does not vary): the null distribution of ``z``
        (:meth:`null_max_z`).
    meta : dict
        init, sweeps of the procedure, chains, seed.
    """

    times: np.ndarray
    mean: dict
    se: dict
    meta: dict = field(default_factory=dict)
    phases: dict = field(default_factory=dict)
    corr: dict = field(default_factory=dict)

    def z(self, a, b) -> np.ndarray:
        """``(mean[a] - mean[b]) / sqrt(se[a]^2 + se[b]^2)``, float64 (n, 8); 0
        where both are exact (zero spread and equal)."""
        d = self.mean[a] - self.mean[b]
        v = self.se[a] ** 2 + self.se[b] ** 2
        return np.where(v > 0, d / np.sqrt(np.where(v > 0, v, 1.0)), 0.0) + np.where(
            (v == 0) & (d != 0), np.inf, 0.0
        )

    def max_z(self, a, b, observables=EQ_OBSERVABLES[:5]) -> np.ndarray:
        """Max |z| over ``observables`` per time point, float64 (n,)."""
        cols = [EQ_OBSERVABLES.index(o) for o in observables]
        return np.abs(self.z(a, b)[:, cols]).max(axis=1)

    def null_max_z(
        self, key=None, q=0.95, observables=EQ_OBSERVABLES[:5], draws=20000, seed=0
    ) -> tuple[float, float]:
        """What sampling noise alone gives: if every set were an exact sample of
        one distribution, ``z`` at a time point is normal with the observables'
        correlation (:attr:`corr` of set ``key``, default the most sweeps) and
        independent between time points. Returns ``(quantile, p2)``: the ``q``
        quantile of the maximum ``|z|`` over every time point and observable (a
        comparison above it fails for more than noise), and the probability
        that this maximum is at most 2 (the issue's literal criterion: how
        often a perfectly equilibrated sampler passes it), by ``draws``
        Gaussian draws.
        """
        key = (
            max(k for k in self.corr if not isinstance(k, str)) if key is None else key
        )
        cols = [EQ_OBSERVABLES.index(o) for o in observables]
        rng = np.random.default_rng(seed)
        worst = np.zeros(int(draws))
        for R in self.corr[key][:, cols][:, :, cols]:
            w, V = np.linalg.eigh(R)
            A = V * np.sqrt(np.clip(w, 0.0, None))
            z = rng.standard_normal((int(draws), len(cols))) @ A.T
            worst = np.maximum(worst, np.abs(z).max(axis=1))
        return float(np.quantile(worst, q)), float(np.mean(worst <= 2.0))


def _observables(dbm, states) -> np.ndarray:
    return dbm.state_observables(states)[:, : len(EQ_OBSERVABLES)]


def equilibration(
    model,
    *,
    sweeps=(10, 100, 1000),
    every: int = 50,
    chains: int = 100,
    seed: int = 0,
    times=None,
) -> Equilibration:
    """Moments of ``model`` after ``m`` sweeps at theta(t), for every ``m`` in
    ``sweeps`` (module notes).

    Parameters
    ----------
    model : DBDModel
        Sampled along its evaluation trajectory (the low-pass of
        ``meta["evaluate"]``) with its evaluation procedure (``init``; for
        ``"carry"`` the chains arriving at t continue from t - 1 with the
        procedure's sweeps per time point and ``burn_in`` at t = 0).
    sweeps : sequence of int
        The ``m`` compared (each >= 1).
    every : int
        Check every ``every``-th time point and the last.
    chains : int
        Chains per set (>= 2).
    seed : int
        Set ``k`` uses seed ``seed + k``.
    times : sequence of int, optional
        The time points instead of ``every``.

    Returns
    -------
    Equilibration
    """
    sweeps = tuple(_check_int("sweeps", m, 1) for m in sweeps)
    chains = _check_int("chains", chains, 2)
    T = int(model.horizon)
    if times is None:
        every = _check_int("every", every, 1)
        times = np.unique(np.append(np.arange(0, T + 1, every), T))
    times = np.asarray(times, dtype=np.int64)
    if times.size == 0 or times.min() < 0 or times.max() > T:
        raise ValueError(f"times must lie in [0, {T}]")
    trained = (model.meta or {}).get("evaluate", {})
    init = str(trained.get("init", "random"))
    per_t = int(trained.get("sweeps", model.dbm_config.sweeps_asleep))
    burn_in = int(trained.get("burn_in", 100))
    taps = int(trained.get("lowpass_taps", LOWPASS_TAPS))
    theta = lowpass(np.asarray(model.theta, dtype=np.float64), taps)
    dbm = model.dbm()
    n = times.size
    mean, se, phases, corr = {}, {}, {}, {}

    def record(key, states):
        o = _observables(dbm, states).reshape(n, chains, -1)
        mean[key] = o.mean(axis=1)
        se[key] = o.std(axis=1, ddof=1) / np.sqrt(chains)
        phases[key] = (o[:, :, :2] > CONDENSED * dbm.size**2).mean(axis=1)
        corr[key] = _correlations(o)

    rows = np.repeat(np.arange(n, dtype=np.int64), chains)
    th = np.ascontiguousarray(theta[times])
    for k, m in enumerate(sweeps):
        rng = seed_states(seed + k, n * chains)
        if init == "carry":
            start = _carried_starts(dbm, theta, times, chains, per_t, burn_in, rng)
        else:
            start = dbm.init_chains(n * chains, rng)
        dbm.sample(th, start, m, seed=rng, rows=rows)
        record(m, start)
    if init == "carry":
        rng = seed_states(seed + len(sweeps), n * chains)
        start = dbm.init_chains(n * chains, rng)
        dbm.sample(th, start, max(sweeps), seed=rng, rows=rows)
        record("random", start)
    meta = {"init": init, "sweeps": per_t, "chains": chains, "seed": seed}
    return Equilibration(times, mean, se, meta, phases, corr)


def _correlations(o: np.ndarray) -> np.ndarray:
    """Correlation across chains per time point of ``o`` (n, chains, K): (n, K, K),
    with unit variance where an observable does not vary."""
    d = o - o.mean(axis=1, keepdims=True)
    c = np.einsum("nck,ncl->nkl", d, d) / max(o.shape[1] - 1, 1)
    sd = np.sqrt(np.einsum("nkk->nk", c))
    ok = sd > 0
    s = np.where(ok, sd, 1.0)
    r = c / (s[:, :, None] * s[:, None, :])
    K = o.shape[2]
    eye = np.broadcast_to(np.eye(K), r.shape)
    both = ok[:, :, None] & ok[:, None, :]
    return np.where(both, r, eye)


def _carried_starts(dbm, theta, times, chains, per_t, burn_in, rng) -> np.ndarray:
    """The carried chains as they arrive at every time point of ``times`` (before
    that time point's sweeps): ``(len(times) * chains, layers, L, L)``."""
    n = times.size
    states = dbm.init_chains(chains, rng[:chains])
    out = np.empty((n * chains,) + states.shape[1:], np.int8)
    stream = rng[:chains]
    want = {int(t): j for j, t in enumerate(times)}
    for tau in range(int(times.max()) + 1):
        if tau in want:
            j = want[tau]
            out[j * chains : (j + 1) * chains] = states
        n_sw = per_t + (burn_in if tau == 0 else 0)
        dbm.sample(theta[tau], states, n_sw, seed=stream)
    if 0 in want:  # at t = 0 the procedure starts at random with the burn-in
        j = want[0]
        out[j * chains : (j + 1) * chains] = dbm.init_chains(chains, rng[:chains])
    return out
