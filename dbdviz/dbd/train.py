"""The DBD trainer: learn ``dtheta/dt = F(theta)`` from lattice snapshots.

:class:`Trainer` runs the loop of ALGORITHM.md section 5.7 for any DBM of
:mod:`dbdviz.dbm` (depth 0..3, cross-channel weights, q = 4 or 9, visible couplings):

1. move the window by the schedule of 5.6 (generalised: window length ``W``, move
   every ``m`` steps, horizon grows to the data's last time, then parks there);
2. re-integrate ``theta(0 .. T)`` with the current ``F`` (4.1, cached
   :class:`~dbdviz.dbd.dynamics.Integrator`);
3. per time point of the window: awake phase (visible clamped to data replicates
   drawn for this step, hidden chains persistent per time point) and asleep phase
   (free chains started at random, persistently, or from the data), all time points in
   one sampler call per phase (3.5);
4. per time point: bias statistics -> slide the centers -> centered weight statistics
   -> ``dE = asleep - awake`` (3.6, order P13); visible couplings are not centered;
5. centered adjoint on the window (5.4, ``adjoint_variant``), gradient (5.5),
   SGD/Adam step of every coefficient set. With ``replay_windows = n`` steps 3-5 also
   run on ``n`` earlier windows at random starts (fresh chains) and the gradients of
   all windows are summed before the update (:meth:`Trainer._window`).

For depth 0 the awake phase *is* the data (nothing to sample): the data statistics of
every replicate are computed once, and ``data_per_step = 0`` averages all of them.

Phases: the ``opt_steps`` adjoint steps above, then, when ``TrainConfig.refine``
says so (``"auto"``: depth 0), the static-path refinement of
:mod:`dbdviz.dbd.refine` as ``refine_iterations + 1`` further steps: one
moment-matching iteration of :class:`~dbdviz.dbd.refine.StaticRefiner` per step,
and a last step that low-passes the path, refits ``F`` and re-integrates. The
refinement starts from the adjoint-trained model and is seeded with the trainer's
seed, so ``Trainer(..., refine="on")`` gives what ``refine_static`` gives on the
model of the same run with ``refine="off"`` (with ``seed`` = the trainer's seed and
the configured iterations, chains and stride).

The API is made for live use: :meth:`Trainer.step` returns a :class:`ProgressRecord`,
:meth:`Trainer.run` takes a callback and a cancel event, :meth:`Trainer.model` gives
the current :class:`~dbdviz.dbd.model.DBDModel`, checkpoints are atomic and resuming
reproduces an uninterrupted run bit for bit (every random stream is saved).

Random numbers (one seed, reproducible, thread-count independent): the seed spawns a
numpy ``PCG64`` generator that draws the data replicates of every step
(``permutation(R)``, the first ``data_per_step`` are the awake runs, the first
``chains`` the asleep start for ``asleep_init = "data"``) and, with replay, the start
of every replay window and its own permutation; and xoshiro streams, one per
(window slot, chain), for the awake and the asleep chains (replay windows continue
the same streams).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from .._rng import seed_states
from ..config import (
    DBMConfig,
    TrainConfig,
    check_training,
    default_configs,
    depth_configs,
    equilibrium_configs,
    reference_configs,
)
from ..dbm import snapshot_statistics
from ..errors import Cancelled
from . import checkpoint
from .adjoint import WeightStructure, coefficient_gradient
from .basis import FiniteElements
from .dynamics import Integrator
from .model import DBDModel
from .optim import Adam, make_optimizer
from .records import ProgressRecord, TrainingDiverged, WindowResult
from .refine import StaticRefiner, relative_errors
from .window import WindowSampling, _rms_z

__all__ = [
    "Trainer",
    "ProgressRecord",
    "WindowResult",
    "TrainingDiverged",
    "schedule",
    "auto_opt_steps",
    "reference_configs",
    "default_configs",
    "equilibrium_configs",
    "weight_structure",
    "snapshot_statistics",
]


def schedule(
    step: int, window: int, move_every: int, data_steps: int
) -> tuple[int, int]:
    """Window ``(tau0, tau1)`` of the 1-based optimisation step ``step`` (5.6).

    During steps ``m k + 1 .. m (k + 1)`` the window is ``[k, k + W]`` and the
    horizon ``k + W``; the window stops (parks) when ``k + W`` reaches ``data_steps``.
    ``W = min(window, data_steps)``.
    """
    W = min(int(window), int(data_steps))
    k = min((int(step) - 1) // int(move_every), int(data_steps) - W)
    return k, k + W


def data_statistics(dbm, data) -> np.ndarray:
    """Statistics of every snapshot of ``data`` for a fully visible ``dbm``,
    float64 (R, T + 1, P), read-only.

    Kept on the ensemble object per machine (size, connectivity, parameters), so
    the next trainer of the same machine on it starts at once: the dashboard
    computes them when a simulation ends, not after the click on Train (0.3 s for
    the paper's 50,100 lattices on an idle machine, 1 s on a loaded one).
    """
    c = dbm.config
    key = (dbm.size, c.depth, c.conn, c.visible_couplings, tuple(dbm.param_names))
    cache = getattr(data, "_dbdviz_statistics", None)
    if cache is not None and cache[0] == key:
        return cache[1]
    stats = snapshot_statistics(dbm, data.snapshots)
    stats.flags.writeable = False
    try:
        data._dbdviz_statistics = (key, stats)
    except AttributeError:  # pragma: no cover - a read-only stand-in
        pass
    return stats


def auto_opt_steps(
    data_steps: int, window: int, move_every: int, extra: int = 0
) -> int:
    """Steps until the horizon reaches ``data_steps`` (its last ``move_every`` steps
    included), plus ``extra`` steps parked at the end."""
    W = min(int(window), int(data_steps))
    return int(move_every) * (int(data_steps) - W + 1) + int(extra)


def weight_structure(dbm) -> WeightStructure:
    """Centered weights of a :class:`~dbdviz.dbm.DBM` (3.3); couplings uncentered."""
    wl = dbm.weight_layout
    if wl.shape[0] == 0:
        return WeightStructure.empty()
    lo = dbm.bias_index[wl[:, 1], wl[:, 2]]
    hi = dbm.bias_index[wl[:, 1] + 1, wl[:, 3]]
    return WeightStructure(
        wl[:, 0],
        lo,
        hi,
        wl[:, 1] * 2 + wl[:, 2],
        (wl[:, 1] + 1) * 2 + wl[:, 3],
        float(dbm.q),
    )


def _relative_errors(
    Ms: np.ndarray, Ma: np.ndarray, names: list[str]
) -> dict[str, float]:
    """:func:`~dbdviz.dbd.refine.relative_errors` of ``Ms`` against ``Ma`` by
    parameter name (:attr:`ProgressRecord.errors`)."""
    return {n: float(e) for n, e in zip(names, relative_errors(Ms, Ma), strict=True)}


class Trainer(WindowSampling):
    """Learn a DBD from an ensemble of lattice snapshots (ALGORITHM.md 5.7).

    Parameters
    ----------
    data : dbdviz.simulate.Ensemble
        Replicates with snapshots, uint8 ``(R, T_data + 1, L, L)``.
    dbm_config : DBMConfig, optional
        Architecture and sampling; default :func:`default_configs`.
    train_config : TrainConfig, optional
        Schedule and optimiser; default: the defaults of ``dbm_config.depth``
        (:func:`dbdviz.config.depth_configs`).
    seed : int, optional
        Overrides ``train_config.seed``. Same seed, same result.

    Attributes
    ----------
    dbm : dbdviz.dbm.DBM
    fe : FiniteElements
    theta0 : ndarray of float64, shape (P,)
    mu : ndarray of float64, shape (T_data + 1, n_layers, 2)
        Centers; rows beyond the horizon are not yet meaningful.
    opt_steps : int
        Adjoint steps (``auto_opt_steps`` when ``train_config.opt_steps == 0``).
    refining : bool
        Whether the run ends with the refinement phase (``train_config.refine``).
    step_index : int
        Steps done, both phases.
    last_windows : list of WindowResult
        The windows of the last adjoint step: the current one first, then the
        replays.

    Raises
    ------
    ValueError
        A setting out of range, data without snapshots, or ``refine = "on"`` with
        depth > 0.
    """

    def __init__(self, data, dbm_config=None, train_config=None, *, seed=None):
        from ..dbm import DBM

        self.dbm_config = default_configs()[0] if dbm_config is None else dbm_config
        if not isinstance(self.dbm_config, DBMConfig):
            raise ValueError("dbm_config must be a DBMConfig")
        if train_config is None:  # the defaults of this depth (DEPTH_DEFAULTS)
            train_config = depth_configs(self.dbm_config.depth)[1]
        self.train_config = train_config
        if not isinstance(self.train_config, TrainConfig):
            raise ValueError("train_config must be a TrainConfig")
        self.dbm_config.validate()
        self.train_config.validate()
        tc = self.train_config
        check_training(self.dbm_config, tc)  # combinations that cannot train
        self.refining = tc.refines(self.dbm_config.depth)
        if seed is None:
            seed = tc.seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = int(seed)
        if getattr(data, "snapshots", None) is None:
            raise ValueError(
                "data has no snapshots: the trainer needs the lattices (simulate with "
                "snapshots=True, CLI without --no-snapshots)"
            )
        snaps = data.snapshots
        if snaps.ndim != 4 or snaps.shape[2] != snaps.shape[3]:
            raise ValueError(f"snapshots must be (R, T + 1, L, L), got {snaps.shape}")
        self.data = data
        self.snapshots = snaps
        R, nt, L, _ = snaps.shape
        if nt < 2:
            raise ValueError("data must have at least 2 time points")
        self.n_reps, self.data_steps, self.size = int(R), int(nt - 1), int(L)
        t = np.asarray(data.t, dtype=float)
        self.dt = float(t[1] - t[0]) if t.shape[0] > 1 else float(data.config.dt)
        if not self.dt > 0:
            raise ValueError("data times must increase")

        self.dbm = dbm = DBM(self.dbm_config, size=L)
        self.P, self.N, self.n_layers = dbm.n_params, dbm.n_sites, dbm.n_layers
        self.param_names = list(dbm.param_names)
        self.weights = weight_structure(dbm)
        self.domain = dbm.domain_indices.copy()
        self.W = min(int(tc.window), self.data_steps)
        self.n_slots = self.W + 1
        # window position k (window [k, k + W]) and steps done there
        self._k, self._at = 0, 0
        self._hold_ref = np.inf  # mismatch when holding began at this position
        # with replay: last step that touched each FE row (Adam moment decay)
        self._touched = np.zeros(0, np.int64)
        self.auto_steps = tc.opt_steps == 0
        self.opt_steps = (
            auto_opt_steps(
                self.data_steps, tc.window, tc.move_every, tc.extra_end_steps
            )
            if self.auto_steps
            else int(tc.opt_steps)
        )
        self.n_data = self.n_reps if tc.data_per_step == 0 else min(tc.data_per_step, R)
        self.n_asleep = int(self.dbm_config.chains)
        self.asleep_mode = (
            "persistent"
            if (tc.asleep_init == "random" and self.dbm_config.persistent_asleep)
            else tc.asleep_init
        )

        # initial parameters and centers (4.1, 3.6)
        if tc.init == "reference":
            self.theta0 = dbm.initial_theta(reference=True)
            mu0 = np.full((self.n_layers, 2), 0.33)
            mu0[0] = 0.0625
        else:
            dens = snaps[:, 0].reshape(R, -1)
            dx = max(float(np.mean(dens == 1)), 0.5 / self.N)
            dy = max(float(np.mean(dens == 2)), 0.5 / self.N)
            self.theta0 = dbm.initial_theta(dx, dy)
            mu0 = dbm.initial_centers(dx, dy)
        self.mu = np.empty((self.data_steps + 1, self.n_layers, 2))
        self.mu[:] = mu0

        # right-hand sides, integrator, optimiser
        sp = float(tc.spacing)
        self.fe = FiniteElements(
            self.P,
            sp,
            self.theta0[self.domain] - 0.5 * sp,
            dim=self.domain.size,
            kind=tc.basis,
        )
        self._new_integrator()
        self.optimizer = make_optimizer(tc.optimizer, tc.lr)

        # random streams
        ss = np.random.SeedSequence(self.seed)
        s_pick, s_awake, s_asleep = ss.spawn(3)
        self.rng = np.random.Generator(np.random.PCG64(s_pick))
        self.awake_rng = seed_states(
            int(s_awake.generate_state(1, np.uint64)[0]), self.n_slots * self.n_data
        )
        self.asleep_rng = seed_states(
            int(s_asleep.generate_state(1, np.uint64)[0]), self.n_slots * self.n_asleep
        )

        # chains: ring buffers over the window, slot = tau % n_slots
        nl = self.n_layers
        if self.dbm.depth > 0:
            self.awake = dbm.init_chains(
                self.n_slots * self.n_data, seed=self.awake_rng
            )
        else:
            self.awake = np.zeros((0, nl, L, L), np.int8)
        self.asleep = dbm.init_chains(
            self.n_slots * self.n_asleep, seed=self.asleep_rng
        )

        # depth 0: the awake statistics are those of the data, computed once
        self._data_stats = self._all_data_statistics() if dbm.depth == 0 else None

        self.step_index = 0
        self.horizon = self.W
        self.tau0 = 0
        self.elapsed = 0.0
        self.last_awake = np.full((self.data_steps + 1, self.P), np.nan)
        self.last_asleep = np.full((self.data_steps + 1, self.P), np.nan)
        self._hist: dict[str, list] = {
            k: []
            for k in ("step", "tau0", "tau1", "horizon", "elapsed", "mismatch", "held")
        }
        for n in self.param_names:
            self._hist["err_" + n] = []
        # refinement phase: the refiner (from its first step on), the refined model
        # (after its last), the moments sampled by the last refinement iteration
        self._refiner: StaticRefiner | None = None
        self._refined: DBDModel | None = None
        self._refine_moments = None

    # -- set-up helpers --------------------------------------------------------------
    def _new_integrator(self) -> None:
        self.integrator = Integrator(
            self.fe,
            self.theta0,
            domain=self.domain,
            dt=self.dt,
            substeps=self.train_config.substeps,
        )

    def _all_data_statistics(self) -> np.ndarray:
        """float64 (R, T_data + 1, P): statistics of every snapshot (depth 0)."""
        return data_statistics(self.dbm, self.data)

    # -- state -----------------------------------------------------------------------
    @property
    def refine_steps(self) -> int:
        """Steps of the refinement phase: ``refine_iterations + 1``, or 0."""
        return int(self.train_config.refine_iterations) + 1 if self.refining else 0

    @property
    def total_steps(self) -> int:
        """Steps of both phases, ``opt_steps + refine_steps``."""
        return self.opt_steps + self.refine_steps

    @property
    def phase(self) -> str:
        """Phase of the next step: ``"adjoint"``, ``"refine"`` or ``"done"``."""
        if self.step_index < self.opt_steps:
            return "adjoint"
        return "refine" if self.step_index < self.total_steps else "done"

    @property
    def done(self) -> bool:
        """True when the steps of both phases are done."""
        return self.step_index >= self.total_steps

    @property
    def refine_moments(self):
        """:class:`~dbdviz.moments.MomentTable` of the refining path's model moments
        sampled by the last step (at the fitted time points), when that step was a
        moment-matching iteration of the refinement; else None."""
        return self._refine_moments

    @property
    def window(self) -> tuple[int, int]:
        """Window of the next step."""
        return self._k, self._k + self.W

    def _remaining_min(self) -> int:
        """Fewest steps left on the automatic schedule (no further holds)."""
        tc, last = self.train_config, self.data_steps - self.W
        m, end = int(tc.move_every), int(tc.move_every) + int(tc.extra_end_steps)
        if self._k < last:
            return max(m - self._at, 0) + (last - self._k - 1) * m + end
        return max(end - self._at, 0)

    def _advance(self, mismatch: float) -> bool:
        """Count the step at the current window position and move the window on
        (5.6) after ``move_every`` steps unless the adaptive schedule holds it.
        Returns True when the window is held."""
        tc = self.train_config
        m = int(tc.move_every)
        self._at += 1
        held = False
        if self._k < self.data_steps - self.W and self._at >= m:
            held = (
                tc.hold_tolerance > 0
                and self._at < m + int(tc.max_holds)
                and not mismatch <= tc.hold_tolerance
                and mismatch <= self._hold_ref
            )
            if self._at == m:
                self._hold_ref = mismatch
            if not held:
                self._k += 1
                self._at = 0
                self._hold_ref = np.inf
        if self.auto_steps:
            self.opt_steps = self.step_index + 1 + self._remaining_min()
        return held

    def _diverged(self, theta: np.ndarray, what: str) -> None:
        bound = float(self.train_config.max_abs_theta)
        bad = ~np.isfinite(theta) | (np.abs(theta) > bound)
        if bad.any():
            tau = int(np.argmax(bad.any(axis=1)))
            row = theta[tau]
            k = int(np.argmax(~np.isfinite(row) | (np.abs(row) > bound)))
            raise TrainingDiverged(
                self.step_index + 1,
                tau,
                f"{what} {self.param_names[k]} = {row[k]} (allowed |theta| <= {bound})",
            )

    def _trajectory(self) -> np.ndarray:
        try:
            return self.integrator.trajectory(self.horizon).theta
        except FloatingPointError:
            # the integrator stopped at the first non-finite value: find it
            th = self.integrator._theta[: self.horizon + 1]
            self._diverged(th, "theta")
            raise TrainingDiverged(self.step_index + 1, 0, "non-finite theta") from None

    # -- one step --------------------------------------------------------------------
    def step(self) -> ProgressRecord:
        """Run one step and report it: an optimisation step (5.7) in the adjoint
        phase, a refinement step after it (module notes).

        Raises
        ------
        TrainingDiverged
            Non-finite or out-of-bound theta or moments.
        RuntimeError
            If the run is already done.
        """
        if self.done:
            raise RuntimeError(f"training is done ({self.total_steps} steps)")
        if self.step_index >= self.opt_steps:
            return self._refine_step()
        self._refine_moments = None
        t_start = time.perf_counter()
        tc = self.train_config
        s = self.step_index + 1
        tau0, tau1 = self.window
        self._grow(tau1)
        self.tau0 = tau0
        theta = self._trajectory()
        self._diverged(theta, "theta")

        windows = [
            self._window(s, theta, tau0, tau1, self.rng.permutation(self.n_reps))
        ]
        # replay (TrainConfig.replay_windows): earlier windows, uniform starts
        if tc.replay_windows > 0 and tau0 > 0:
            lo = max(0, tau0 - int(tc.replay_span)) if tc.replay_span > 0 else 0
            starts = self.rng.integers(lo, tau0, size=int(tc.replay_windows))
            for r in starts.tolist():
                perm = self.rng.permutation(self.n_reps)
                windows.append(self._window(s, theta, r, r + self.W, perm, replay=True))
        self.last_windows = windows
        cur = windows[0]
        Ma, Ms, mismatch = cur.Ma, cur.Ms, cur.mismatch

        # gradient (5.5) of the summed window objectives, update
        n_before = self.fe.n_vertices
        if len(windows) == 1:
            grad = coefficient_gradient(
                self.fe, theta, cur.adjoint, domain=self.domain, dt=self.dt
            )
        else:  # one accumulation over every window's points = the sum
            x = np.concatenate(
                [theta[w.tau0 : w.tau1 + 1][:, self.domain] for w in windows]
            )
            c = np.concatenate([-self.dt * w.adjoint.A for w in windows])
            grad = self.fe.accumulate(x, c)
        if tc.vertex_init == "nearest":
            self._start_from_nearest(grad.rows, n_before)
        self.last_gradient = grad
        if not np.all(np.isfinite(grad.values)):
            raise TrainingDiverged(s, tau0, "non-finite gradient")
        base_lr = self.optimizer.lr  # the early boost scales it for this step only
        self.optimizer.lr = np.asarray(base_lr) * self.lr_factor(tau1)
        try:
            if isinstance(self.optimizer, Adam):
                if tc.replay_windows > 0:
                    self._decay_moments(grad.rows, s)
                self.optimizer.step(self.fe, grad, step=s)
            else:
                self.optimizer.step(self.fe, grad)
        finally:
            self.optimizer.lr = base_lr
        self.integrator.mark_updated(grad.rows)

        # report, move the window on (or hold it)
        held = self._advance(mismatch)
        self.step_index = s
        self.elapsed += time.perf_counter() - t_start
        errors = _relative_errors(Ms, Ma, self.param_names)
        h = self._hist
        h["step"].append(s)
        h["tau0"].append(tau0)
        h["tau1"].append(tau1)
        h["horizon"].append(self.horizon)
        h["elapsed"].append(self.elapsed)
        h["mismatch"].append(mismatch)
        h["held"].append(float(held))
        for n, v in errors.items():
            h["err_" + n].append(v)
        return ProgressRecord(
            s,
            self.opt_steps,
            (tau0, tau1),
            self.horizon,
            theta.copy(),
            list(self.param_names),
            errors,
            self.elapsed,
            mismatch,
            held,
            "adjoint",
            self.total_steps,
        )

    def _new_refiner(self) -> StaticRefiner:
        """The refiner of the adjoint-trained model (the trainer's seed)."""
        tc = self.train_config
        return StaticRefiner(
            self.model(),
            self.data,
            iterations=int(tc.refine_iterations),
            chains=int(tc.refine_chains),
            stride=int(tc.refine_stride),
            seed=self.seed,
            init=tc.refine_init,
            sweeps=int(tc.refine_sweeps),
            targets=tc.refine_targets,
            nn_weight=float(tc.refine_nn_weight),
            taps=int(tc.refine_taps),
        )

    def _refine_step(self) -> ProgressRecord:
        """One step of the refinement phase: a moment-matching iteration of the
        refiner, or, after the last, its finish (low-pass, refit of ``F``)."""
        t_start = time.perf_counter()
        s = self.step_index + 1
        if self._refiner is None:
            self._refiner = self._new_refiner()
        r = self._refiner
        nan = float("nan")
        try:
            if not r.done:
                ev = r.step()
                theta = r.path(ev.theta)
                errors = _relative_errors(ev.stats, r.data_stats, self.param_names)
                mismatch = _rms_z(ev.stats - r.data_stats, ev.stats_sd**2 / r.chains)
                self._refine_moments = ev.table
            else:
                self._refined = r.finish()
                theta = self._refined.theta.copy()
                errors = {n: nan for n in self.param_names}
                mismatch = nan
                self._refine_moments = None
        except ValueError as exc:  # the refiner's path or F went non-finite
            bad = ~np.isfinite(r.theta).all(axis=1)
            tau = int(r.idx[np.argmax(bad)]) if bad.any() else 0
            raise TrainingDiverged(
                s,
                tau,
                f"static-path refinement: {exc}",
                advice="refine = 'off' keeps the adjoint-trained model; more "
                "refine_chains make the refinement's moments less noisy",
            ) from None
        self.step_index = s
        self.elapsed += time.perf_counter() - t_start
        return ProgressRecord(
            s,
            self.opt_steps,
            (0, self.horizon),
            self.horizon,
            theta,
            list(self.param_names),
            errors,
            self.elapsed,
            mismatch,
            False,
            "refine",
            self.total_steps,
        )

    def _decay_moments(self, rows: np.ndarray, s: int) -> None:
        """Adam with replay: the moments of a row decay over the steps that did not
        touch it (``m1 *= beta1**gap``, ``m2 *= beta2**gap``) before this step's
        update, i.e. they are those of dense Adam with zero gradients in between
        (the rows' coefficients still move only when touched).

        The optimiser is lazy (untouched rows keep their moments, P9). Without
        replay a row is touched on consecutive steps while the window covers it;
        replay touches it again long after, and a lazy ``m1`` would then re-apply
        the momentum it had when the window left, at every replay (measured: this
        alone makes replay run away; decaying ``m1`` only is worse on fast dynamics
        than decaying both, docs/training.md).
        """
        opt = self.optimizer
        opt._grow(self.fe)
        n = opt.m1.shape[0]
        if self._touched.shape[0] < n:
            t = np.zeros(n, np.int64)
            t[: self._touched.shape[0]] = self._touched
            self._touched = t
        last = self._touched[rows]
        gap = s - 1 - last
        sel = (last > 0) & (gap > 0)
        if sel.any():
            r, g = rows[sel], gap[sel].astype(np.float64)
            opt.m1[r] *= (opt.beta1**g)[:, None, None]
            opt.m2[r] *= (opt.beta2**g)[:, None, None]
        self._touched[rows] = s

    def lr_factor(self, tau1: int) -> float:
        """Learning-rate multiplier of a step whose window ends at ``tau1``:
        ``1 + (lr_boost - 1) * max(0, 1 - tau1 / (boost_fraction * T_data))``."""
        tc = self.train_config
        span = float(tc.boost_fraction) * self.data_steps
        if tc.lr_boost == 1.0 or span <= 0.0:
            return 1.0
        return 1.0 + (float(tc.lr_boost) - 1.0) * max(0.0, 1.0 - tau1 / span)

    def _start_from_nearest(self, rows: np.ndarray, n_before: int) -> None:
        """Vertices created by this step's gradient (rows >= ``n_before``) start with
        the value of ``F`` at the nearest older vertex instead of 0, so a newly
        visited cell continues ``F`` (``vertex_init = "nearest"``; distances in grid
        units, ties to the lowest row)."""
        new = rows[rows >= n_before]
        if new.size == 0 or n_before == 0:
            return
        fe = self.fe
        # integer key differences: exact distances, so ties go to the lowest row
        diff = fe._keys[new][:, None, :] - fe._keys[:n_before][None]
        d2 = (diff * diff).sum(axis=2)
        fe._coef[new, 0, :] = fe._coef[np.argmin(d2, axis=1), 0, :]

    # -- driving -----------------------------------------------------------------------
    def run(
        self,
        callback: Callable[[ProgressRecord], object] | None = None,
        cancel: threading.Event | None = None,
    ) -> DBDModel:
        """Run the remaining steps of both phases; returns :meth:`model`.

        Parameters
        ----------
        callback : callable, optional
            Called with every :class:`ProgressRecord`.
        cancel : threading.Event, optional
            Checked between steps: when set, stop and return the current model
            (``model.meta["cancelled"] = True``; during the refinement the
            adjoint-trained model); :meth:`run` may be called again.

        After the last step the model is sampled once and compared with the data:
        ``model.meta["fit"]`` (:func:`dbdviz.dbd.fit.check_fit`).
        """
        cancelled = False
        while not self.done:
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            rec = self.step()
            if callback is not None:
                callback(rec)
        m = self.model()
        m.meta["cancelled"] = cancelled
        if not cancelled:  # a poor fit is never silent (dbd.fit)
            from .fit import check_fit

            seed = None if self.seed is None else (int(self.seed) + 1) % 2**63
            try:
                m.meta["fit"] = check_fit(
                    m,
                    self.data,
                    self.train_config.fit_warning,
                    seed=seed,
                    cancel=cancel,
                )
            except Cancelled:  # every step is done; run() again repeats the check
                m.meta["cancelled"] = True
        return m

    @property
    def history(self) -> dict[str, np.ndarray]:
        """Per-step history arrays of the adjoint steps plus the last awake/asleep
        statistics per time."""
        h = {k: np.asarray(v, dtype=float) for k, v in self._hist.items()}
        for k in ("step", "tau0", "tau1", "horizon"):
            h[k] = h[k].astype(np.int64)
        h["awake"] = self.last_awake[: self.horizon + 1].copy()
        h["asleep"] = self.last_asleep[: self.horizon + 1].copy()
        return h

    def model(self) -> DBDModel:
        """The current state as a :class:`DBDModel` (copies).

        After the refinement phase the refined model (``meta["refine"]`` as
        :func:`~dbdviz.dbd.refine.refine_static` records it); before its end the
        adjoint-trained one.
        """
        if self._refined is not None:
            m = self._refined
            meta = copy.deepcopy(m.meta)
            meta.update(self._model_meta())
            return dataclasses.replace(
                m,
                fe=m.fe.copy(),
                domain=m.domain.copy(),
                theta0=m.theta0.copy(),
                theta=m.theta.copy(),
                mu=m.mu.copy(),
                param_names=list(m.param_names),
                history={k: v.copy() for k, v in m.history.items()},
                meta=meta,
            )
        theta = self._trajectory()
        return DBDModel(
            dbm_config=self.dbm_config,
            size=self.size,
            fe=self.fe.copy(),
            domain=self.domain.copy(),
            theta0=self.theta0.copy(),
            dt=self.dt,
            horizon=self.horizon,
            theta=theta,
            mu=self.mu[: self.horizon + 1].copy(),
            train_config=self.train_config,
            data_config=self.data.config,
            param_names=list(self.param_names),
            history=self.history,
            meta={
                **self._model_meta(),
                "data": checkpoint.ensemble_meta(self.data),
                # what the asleep phase matched: evaluate with the same procedure
                "evaluate": {
                    "init": "random" if self.asleep_mode == "random" else "carry",
                    "sweeps": int(self.dbm_config.sweeps_asleep),
                },
            },
        )

    def _model_meta(self) -> dict:
        return {
            "seed": self.seed,
            "steps_done": self.step_index,
            "opt_steps": self.opt_steps,
            "total_steps": self.total_steps,
            "elapsed": self.elapsed,
        }

    # -- checkpoints -------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write the complete training state atomically (kind ``"checkpoint"``,
        :func:`dbdviz.dbd.checkpoint.save`).

        :meth:`resume` from it continues exactly as if training had not stopped.
        """
        checkpoint.save(self, path)

    @classmethod
    def resume(
        cls, path: str | os.PathLike, data, *, refine: str | None = None
    ) -> Trainer:
        """A trainer continuing from a checkpoint of :meth:`save_checkpoint`
        (:func:`dbdviz.dbd.checkpoint.restore`).

        ``data`` must be the ensemble the checkpoint was trained on. ``refine``
        (``"auto"``, ``"on"``, ``"off"``) replaces the checkpoint's
        ``TrainConfig.refine``; not possible once its refinement phase began.
        """
        return checkpoint.restore(cls, path, data, refine=refine)
