"""Steps 3-5 of an adjoint step on one window (ALGORITHM.md 5.7), as methods of
:class:`~dbdviz.dbd.train.Trainer`.

:class:`WindowSampling` holds the part of the trainer's loop that works on one window
``[tau0, tau1]`` of the trajectory: the awake phase (visible clamped to data
replicates; the data statistics themselves at depth 0), the asleep phase, the
moment mismatch, the sliding centers, the centered ``dE`` and the truncated adjoint
(3.5, 3.6, 5.4), plus the growth of the horizon (5.6). It reads and writes the
trainer's state (chains, random streams, centers) and is not used on its own.
"""

from __future__ import annotations

import numpy as np

from .adjoint import adjoint, center_dE
from .records import TrainingDiverged, WindowResult

__all__ = ["WindowSampling"]


def _rms_z(diff: np.ndarray, var: np.ndarray) -> float:
    """RMS of ``diff / sqrt(var)`` over the entries with ``var > 0`` (0 if none)."""
    ok = var > 0
    if not ok.any():
        return 0.0
    return float(np.sqrt(np.mean(diff[ok] ** 2 / var[ok])))


class WindowSampling:
    """Mixin of :class:`~dbdviz.dbd.train.Trainer`: one window of an adjoint step."""

    def _window(
        self,
        s: int,
        theta: np.ndarray,
        tau0: int,
        tau1: int,
        perm: np.ndarray,
        *,
        replay: bool = False,
    ) -> WindowResult:
        """Phases 3-5 of a step on one window ``[tau0, tau1]``: awake and asleep
        statistics, centers slid, ``dE``, truncated adjoint (not yet the gradient).

        The current window (``replay=False``) uses the persistent ring buffers of
        chains; a replay window samples scratch chains: the awake hidden units and
        the asleep chains start at random (``asleep_init = "persistent"`` included:
        there is no carried state for earlier positions), or the asleep chains from
        the data (``"data"``). Both draw from the same random streams.
        """
        tc, dbm = self.train_config, self.dbm
        ns, nd, na = self.n_slots, self.n_data, self.n_asleep
        taus = np.arange(tau0, tau1 + 1)
        slot_tau = np.empty(ns, np.int64)  # time point held by each ring slot
        slot_tau[taus % ns] = taus
        theta_slot = np.ascontiguousarray(theta[slot_tau])
        runs = perm[:nd]

        # awake phase (3.5)
        if dbm.depth == 0:
            Sa = self._data_stats[runs[:, None], slot_tau[None, :]]  # (nd, ns, P)
            Ma = Sa.mean(axis=0)  # (ns, P)
            Sa = Sa.transpose(1, 0, 2)
        else:
            awake = (
                dbm.init_chains(ns * nd, seed=self.awake_rng) if replay else self.awake
            )
            clamp = self.snapshots[runs[None, :], slot_tau[:, None]]  # (ns, nd, L, L)
            clamp = clamp.reshape(ns * nd, self.size, self.size)
            dbm.sample(
                theta_slot,
                awake,
                self.dbm_config.sweeps_awake,
                seed=self.awake_rng,
                clamp=clamp,
                rows=np.repeat(np.arange(ns), nd),
            )
            Sa = dbm.param_statistics(awake).reshape(ns, nd, self.P)
            Ma = Sa.mean(axis=1)

        # asleep phase (3.5)
        mode = self.asleep_mode
        if replay:
            asleep = dbm.init_chains(ns * na, seed=self.asleep_rng)
        else:
            asleep = self.asleep
            if mode == "random":
                asleep[:] = dbm.init_chains(ns * na, seed=self.asleep_rng)
        if mode == "data":
            src = perm[np.arange(na) % self.n_reps]
            st = asleep.reshape(ns, na, self.n_layers, self.size, self.size)
            st[:, :, 0] = self.snapshots[src[None, :], slot_tau[:, None]]
            if dbm.depth > 0:  # hidden from the awake (conditional) chains: CD-k
                aw = awake.reshape(ns, nd, self.n_layers, self.size, self.size)
                st[:, :, 1:] = aw[:, np.arange(na) % nd, 1:]
        dbm.sample(
            theta_slot,
            asleep,
            self.dbm_config.sweeps_asleep,
            seed=self.asleep_rng,
            rows=np.repeat(np.arange(ns), na),
        )
        Ss = dbm.param_statistics(asleep).reshape(ns, na, self.P)
        Ms = Ss.mean(axis=1)
        mismatch = self._mismatch(Sa[taus % ns], Ss[taus % ns])

        # reap (3.6): window order, bias stats -> slide centers -> centered stats
        Ma, Ms = Ma[taus % ns], Ms[taus % ns]
        if not (np.all(np.isfinite(Ma)) and np.all(np.isfinite(Ms))):
            bad = ~(np.isfinite(Ma).all(1) & np.isfinite(Ms).all(1))
            raise TrainingDiverged(s, int(taus[np.argmax(bad)]), "non-finite moments")
        sigma = float(self.dbm_config.sliding_factor)
        bi = self.dbm.bias_index.ravel()
        mu_new = Ma[:, bi].reshape(-1, self.n_layers, 2) / self.N
        self.mu[taus] = (1.0 - sigma) * self.mu[taus] + sigma * mu_new
        dE = np.zeros((self.horizon + 1, self.P))
        dE[taus] = center_dE(Ms - Ma, self.mu[taus], self.weights)
        if tc.moment_scale == "site":
            dE /= self.N
        self.last_awake[taus] = Ma
        self.last_asleep[taus] = Ms

        # adjoint (5.4) on this window
        mu = self.mu[: self.horizon + 1]
        res = adjoint(
            self.fe,
            theta,
            dE,
            tau0,
            tau1,
            domain=self.domain,
            dt=self.dt,
            mu=mu,
            weights=self.weights,
            variant=tc.adjoint_variant,
        )
        return WindowResult(tau0, tau1, Ma, Ms, mismatch, dE, mu.copy(), res)

    def _mismatch(self, Sa: np.ndarray, Ss: np.ndarray) -> float:
        """RMS z-score of ``mean(Ss) - mean(Sa)`` over (time point, parameter).

        ``Sa`` (ns, nd, P) awake statistics per data replicate / awake chain, ``Ss``
        (ns, na, P) asleep statistics per chain. The standard error is the asleep
        chains' spread over sqrt(chains) plus, when the awake phase draws ``nd`` of
        ``R`` replicates, the data's (finite-population corrected); parameters whose
        statistics do not vary are left out.
        """
        na, nd = Ss.shape[1], Sa.shape[1]
        var = Ss.var(axis=1, ddof=1) / na if na > 1 else np.zeros(Ss.shape[::2])
        if nd > 1 and (self.dbm.depth > 0 or nd < self.n_reps):
            frac = 1.0 - nd / self.n_reps if self.dbm.depth == 0 else 1.0
            var = var + Sa.var(axis=1, ddof=1) / nd * frac
        return _rms_z(Ss.mean(axis=1) - Sa.mean(axis=1), var)

    def _grow(self, tau1: int) -> None:
        """Extend the horizon to ``tau1``: new centers and chain states copy the
        previous last time point's (5.6)."""
        ns = self.n_slots
        for tau in range(self.horizon + 1, tau1 + 1):
            self.mu[tau] = self.mu[tau - 1]
            src, dst = (tau - 1) % ns, tau % ns
            for arr, n in ((self.awake, self.n_data), (self.asleep, self.n_asleep)):
                if arr.shape[0]:
                    arr[dst * n : (dst + 1) * n] = arr[src * n : (src + 1) * n]
            self.horizon = tau
