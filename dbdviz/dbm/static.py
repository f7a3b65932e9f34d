"""Static learning: fit one theta of a lattice DBM to a set of snapshots.

The building block of the dynamic (DBD) trainer, and a check of the sampler and
statistics: the maximum-likelihood gradient of an exponential family is
``E_data[M] - E_model[M]`` (awake minus asleep, ALGORITHM.md section 3.5-3.6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._rng import seed_states
from .model import DBM

__all__ = ["StaticFit", "fit_static"]


@dataclass
class StaticFit:
    """Result of :func:`fit_static`.

    Attributes
    ----------
    theta : ndarray of float64, shape (n_params,)
        Estimate: average of the iterates over the last ``average`` fraction of the
        steps (Polyak-Ruppert averaging damps the Monte Carlo noise of the iterates).
    theta_last : ndarray of float64, shape (n_params,)
        Last iterate.
    history : ndarray of float64, shape (steps + 1, n_params)
        ``history[0]`` = initial theta, ``history[t]`` = theta after step t.
    mu : ndarray of float64, shape (steps + 1, n_layers, 2)
        Centers used at each step (``mu[0]`` initial).
    awake, asleep : ndarray of float64, shape (steps, n_params)
        Chain-averaged uncentered statistics M of each step (data / model side).
    states : ndarray of int8, shape (chains, n_layers, L, L)
        Final persistent asleep chains (continue sampling the fitted model).
    settings : dict
        The arguments of the fit.
    """

    theta: np.ndarray
    theta_last: np.ndarray
    history: np.ndarray
    mu: np.ndarray
    awake: np.ndarray
    asleep: np.ndarray
    states: np.ndarray
    settings: dict = field(default_factory=dict)


def fit_static(
    dbm: DBM,
    data: np.ndarray,
    theta0: np.ndarray | None = None,
    steps: int = 500,
    lr: float = 0.02,
    optimizer: str = "adam",
    chains: int | None = None,
    sweeps_awake: int | None = None,
    sweeps_asleep: int | None = None,
    seed: int | None = 0,
    centered: bool = True,
    sliding_factor: float | None = None,
    average: float = 0.25,
    mu0: np.ndarray | None = None,
) -> StaticFit:
    """Fit theta to snapshots with persistent chains and the (centered) gradient.

    Parameters
    ----------
    dbm : DBM
    data : ndarray of uint8/int8, shape (n_data, L, L)
        Visible snapshots (codes 0 empty, 1 X, 2 Y).
    theta0 : ndarray, shape (n_params,), optional
        Start; default :meth:`DBM.initial_theta` at the data densities.
    steps : int
        Optimisation steps.
    lr : float
        Learning rate. The gradient is divided by the number of sites N (per-site
        moments), so ``lr`` does not depend on the lattice size.
    optimizer : {"adam", "sgd"}
        Adam (beta1 0.9, beta2 0.999, eps 1e-8, bias corrected) or plain SGD.
    chains : int, optional
        Awake and asleep chains per step (default ``dbm.config.chains``); each step
        clamps the awake chains to ``chains`` snapshots drawn without replacement
        (with replacement if there are fewer snapshots).
    sweeps_awake, sweeps_asleep : int, optional
        Gibbs sweeps per step (defaults from ``dbm.config``). Asleep chains are
        persistent (PCD): started at random once, then continued, which is what
        a static fit needs (ALGORITHM.md pitfall P7).
    seed : int or None
    centered : bool
        Gradient steps in centered coordinates (section 3.3): the step is computed
        from the centered statistics (B for biases, G for weights) and mapped back
        with ``theta += inv(A(mu)) step``. ``False``: plain gradient on theta.
        Both have the same fixed point (the MLE); centering conditions the problem.
    sliding_factor : float, optional
        Center update ``mu <- (1 - s) mu + s mu_awake`` after each awake phase
        (default ``dbm.config.sliding_factor``; order of pitfall P13).
    average : float in [0, 1)
        Fraction of final iterates averaged into ``theta``.
    mu0 : ndarray, shape (n_layers, 2), optional
        Initial centers (default: data densities and 1/3 for hidden layers).

    Returns
    -------
    StaticFit
    """
    cfg = dbm.config
    d = np.asarray(data)
    L = dbm.size
    if d.ndim != 3 or d.shape[1:] != (L, L):
        raise ValueError(f"data must have shape (n_data, {L}, {L}), got {d.shape}")
    if d.shape[0] == 0:
        raise ValueError("data has no snapshots")
    if d.min() < 0 or d.max() > 2:
        raise ValueError("data codes must be 0 (empty), 1 (X) or 2 (Y)")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer = {optimizer!r} is invalid: allowed {{adam, sgd}}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps = {steps} is out of range: allowed [1, inf)")
    if not (lr > 0 and np.isfinite(lr)):
        raise ValueError(f"lr = {lr} is out of range: allowed (0, inf)")
    if not 0.0 <= average < 1.0:
        raise ValueError(f"average = {average} is out of range: allowed [0, 1)")
    chains = int(cfg.chains if chains is None else chains)
    if chains < 1:
        raise ValueError(f"chains = {chains} is out of range: allowed [1, inf)")
    sw_a = int(cfg.sweeps_awake if sweeps_awake is None else sweeps_awake)
    sw_s = int(cfg.sweeps_asleep if sweeps_asleep is None else sweeps_asleep)
    sigma = float(cfg.sliding_factor if sliding_factor is None else sliding_factor)

    dens = np.array([(d == 1).mean(), (d == 2).mean()])
    if theta0 is None:
        lo = 0.5 / dbm.n_sites  # keep the log finite for a species absent from data
        dx, dy = np.clip(dens, lo, 1.0)
        if dx + dy >= 1:
            dx, dy = dx / (dx + dy) * (1 - lo), dy / (dx + dy) * (1 - lo)
        theta = dbm.initial_theta(dx, dy)
    else:
        theta = dbm.check_theta(theta0)[0].copy()
    mu = dbm.initial_centers(*dens) if mu0 is None else np.array(mu0, dtype=float)
    if mu.shape != (dbm.n_layers, 2):
        raise ValueError(f"mu0 must have shape ({dbm.n_layers}, 2), got {mu.shape}")

    ss = np.random.SeedSequence(seed)
    s_pick, s_init, s_awake, s_asleep = ss.spawn(4)
    pick = np.random.default_rng(s_pick)
    rng_awake = seed_states(int(s_awake.generate_state(1)[0]), chains)
    rng_asleep = seed_states(int(s_asleep.generate_state(1)[0]), chains)
    init_seed = int(s_init.generate_state(1)[0])
    awake_states = dbm.init_chains(chains, init_seed)
    asleep_states = dbm.init_chains(chains, init_seed + 1)

    P = dbm.n_params
    hist = np.empty((steps + 1, P))
    mus = np.empty((steps + 1, dbm.n_layers, 2))
    m_awake = np.empty((steps, P))
    m_asleep = np.empty((steps, P))
    hist[0] = theta
    mus[0] = mu
    m1 = np.zeros(P)
    m2 = np.zeros(P)
    b1, b2, eps = 0.9, 0.999, 1e-8
    eye2 = 2.0 * np.eye(P)
    n_data = d.shape[0]
    for t in range(1, steps + 1):
        idx = pick.choice(n_data, size=chains, replace=n_data < chains)
        dbm.sample(theta, awake_states, sw_a, seed=rng_awake, clamp=d[idx])
        dbm.sample(theta, asleep_states, sw_s, seed=rng_asleep)
        Ma = dbm.param_statistics(awake_states)
        Ms = dbm.param_statistics(asleep_states)
        # P13: bias statistics -> slide centers -> centered weight statistics
        mu = dbm.slide_centers(
            mu,
            dbm.estimate_centers(Ma[:, : 2 * dbm.n_layers].reshape(chains, -1, 2)),
            sigma,
        )
        if centered:
            g = dbm.centered_statistics(Ma, mu).mean(axis=0) - dbm.centered_statistics(
                Ms, mu
            ).mean(axis=0)
        else:
            g = Ma.mean(axis=0) - Ms.mean(axis=0)
        g /= dbm.n_sites
        if optimizer == "adam":
            m1 = b1 * m1 + (1 - b1) * g
            m2 = b2 * m2 + (1 - b2) * g * g
            step = lr * (m1 / (1 - b1**t)) / (np.sqrt(m2 / (1 - b2**t)) + eps)
        else:
            step = lr * g
        if centered:
            step = (eye2 - dbm.centering_matrix(mu)) @ step
        theta = theta + step
        hist[t] = theta
        mus[t] = mu
        m_awake[t - 1] = Ma.mean(axis=0)
        m_asleep[t - 1] = Ms.mean(axis=0)
    n_avg = max(1, int(round(average * steps)))
    est = hist[steps + 1 - n_avg :].mean(axis=0)
    settings = dict(
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        chains=chains,
        sweeps_awake=sw_a,
        sweeps_asleep=sw_s,
        seed=seed,
        centered=centered,
        sliding_factor=sigma,
        average=average,
        n_data=n_data,
    )
    return StaticFit(est, theta, hist, mus, m_awake, m_asleep, asleep_states, settings)
