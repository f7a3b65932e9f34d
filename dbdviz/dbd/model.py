"""The learned dynamic Boltzmann distribution: architecture, right-hand sides, theta(t).

A :class:`DBDModel` is what :class:`~dbdviz.dbd.train.Trainer` produces and what
:mod:`dbdviz.dbd.evaluate` samples: the DBM architecture, the learned finite-element
right-hand sides ``F_k`` (ALGORITHM.md 4.2), the initial parameters and the trajectory
``theta(t)`` integrated with the final ``F`` (4.1), the centers, the configs, and the
per-step training history. It carries no plotting methods (STYLE.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import DBMConfig, LatticeLV, TrainConfig
from ..io import FileFormatError, load_npz, save_npz
from ._basis_kernels import _integrate_euler
from .basis import FiniteElements, _corner_offsets
from .dynamics import integrate
from .kernel import KernelRHS, rate_values

__all__ = ["DBDModel", "EXTRAPOLATIONS", "integrate_extrapolated"]

#: How ``F`` is continued outside the cells the training visited
#: (``TrainConfig.extrapolation``).
EXTRAPOLATIONS = ("zero", "nearest")


@dataclass
class DBDModel:
    """A trained DBD (shared contract with :mod:`dbdviz.dbd.evaluate`).

    Attributes
    ----------
    dbm_config : DBMConfig
        Architecture (depth, connectivity, cross weights, visible couplings).
    size : int
        Lattice side L.
    fe : FiniteElements
        Learned right-hand sides ``F_k``, ``fe.n_funcs == P``.
    domain : ndarray of int64, shape (D,)
        Parameter index of each finite-element domain coordinate.
    theta0 : ndarray of float64, shape (P,)
        Initial parameters ``theta(0)``.
    dt : float
        Time step of ``theta(t)`` (the data's dt).
    horizon : int
        Trained horizon T (number of dt steps).
    theta : ndarray of float64, shape (T + 1, P)
        Trajectory integrated with the final ``F`` (forward Euler, 4.1).
    mu : ndarray of float64, shape (T + 1, n_layers, 2)
        Centers at the end of training (3.6).
    train_config : TrainConfig
    data_config : LatticeLV or None
        Configuration of the ensemble the model was trained on.
    param_names : list of str
        Parameter names in theta order (:attr:`dbdviz.dbm.DBM.param_names`).
    history : dict of str -> ndarray
        One entry per optimisation step: ``step``, ``tau0``, ``tau1``, ``horizon``,
        ``elapsed``, ``err_<name>`` (relative asleep-vs-awake error over the window),
        plus per time point the last ``awake``/``asleep`` statistics
        (``(T + 1, P)`` arrays, NaN where never reaped).
    meta : dict
        Seed, data file, timings, schedule ...
    rhs : KernelRHS or None
        A right-hand side learned from several ensembles
        (:func:`dbdviz.dbd.predict.train_multi`); when set it is ``F`` and ``fe`` is
        empty.
    mixture : dbdviz.dbd.mixture.TwoPhase or None
        The two-phase (predator extinction) pieces of a multi-ensemble model: the
        survivors' ``F``, the extinction hazard, the entry ratio and the prey-only
        curve (files of earlier versions: None, predictions follow one path).
    """

    dbm_config: DBMConfig
    size: int
    fe: FiniteElements
    domain: np.ndarray
    theta0: np.ndarray
    dt: float
    horizon: int
    theta: np.ndarray
    mu: np.ndarray
    train_config: TrainConfig
    data_config: LatticeLV | None = None
    param_names: list[str] = field(default_factory=list)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    rhs: Any = None
    mixture: Any = None

    def __post_init__(self) -> None:
        self.domain = np.ascontiguousarray(self.domain, dtype=np.int64)
        self.theta0 = np.ascontiguousarray(self.theta0, dtype=np.float64)
        self.theta = np.ascontiguousarray(self.theta, dtype=np.float64)
        self.mu = np.asarray(self.mu, dtype=np.float64)
        self.horizon = int(self.horizon)
        self.size = int(self.size)
        self.dt = float(self.dt)
        self.param_names = list(self.param_names)
        P = self.fe.n_funcs
        if self.theta0.shape != (P,):
            raise ValueError(f"theta0 has shape {self.theta0.shape}: expected ({P},)")
        if self.theta.shape != (self.horizon + 1, P):
            raise ValueError(
                f"theta has shape {self.theta.shape}: "
                f"expected ({self.horizon + 1}, {P})"
            )
        if self.domain.shape != (self.fe.dim,):
            raise ValueError(
                f"domain has shape {self.domain.shape}: expected ({self.fe.dim},)"
            )
        if self.param_names and len(self.param_names) != P:
            raise ValueError(f"param_names has {len(self.param_names)} names for {P}")

    # -- derived -------------------------------------------------------------------
    def dbm(self):
        """The DBM architecture, ``DBM(self.dbm_config, size=self.size)``."""
        from ..dbm import DBM

        # the size was checked when the model was trained (tiny: hand-made models
        # on exactly enumerable 2 x 2 / 3 x 3 lattices, tests/test_equilibrium.py)
        return DBM(self.dbm_config, size=self.size, tiny_ok=True)

    @property
    def t(self) -> np.ndarray:
        """float64 (T + 1,): times ``arange(horizon + 1) * dt``."""
        return np.arange(self.horizon + 1) * self.dt

    @property
    def n_params(self) -> int:
        return int(self.fe.n_funcs)

    def integrate(self, n_steps: int, extrapolation: str | None = None) -> np.ndarray:
        """``theta`` over ``0 .. n_steps`` with the learned ``F`` (forward Euler).

        Beyond the trained horizon this extrapolates. Where the trajectory leaves the
        visited cells, ``extrapolation = "zero"`` evaluates the lazy grid as it is
        (``F = 0`` far from visited cells: theta freezes, 4.2), ``"nearest"`` uses
        the value of ``F`` at the nearest visited vertex beyond the horizon
        (:func:`integrate_extrapolated` with ``start = horizon``): up to the horizon
        the trajectory is always the trained one.

        Parameters
        ----------
        n_steps : int
        extrapolation : {"zero", "nearest"}, optional
            Default ``train_config.extrapolation``.

        Returns
        -------
        theta : ndarray of float64, shape (n_steps + 1, P)
        """
        if self.rhs is not None:
            # the fitted path up to the horizon, then F from where it ends
            n, T = int(n_steps), self.horizon
            if n <= T:
                return self.theta[: n + 1].copy()
            rates = rate_values(self.data_config, self.rhs.rates)
            ext = self.rhs.integrate(self.theta[T], n - T, self.dt, rates)
            return np.concatenate([self.theta, ext[1:]])
        if extrapolation is None:
            extrapolation = getattr(self.train_config, "extrapolation", "zero")
        return integrate_extrapolated(
            self.fe,
            self.theta0,
            int(n_steps),
            domain=self.domain,
            dt=self.dt,
            substeps=int(self.train_config.substeps),
            extrapolation=extrapolation,
            start=self.horizon,
        )

    # -- files ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` (kind ``"model"``) atomically."""
        arrays = {
            "theta0": self.theta0,
            "theta": self.theta,
            "mu": self.mu,
            "domain": self.domain,
        }
        for k, v in self.fe.to_arrays().items():
            arrays["fe_" + k] = v
        for k, v in self.history.items():
            arrays["history_" + k] = np.asarray(v)
        if self.rhs is not None:
            for k, v in self.rhs.to_arrays().items():
                arrays["rhs_" + k] = v
        if self.mixture is not None:
            for k, v in self.mixture.to_arrays().items():
                arrays["mix_" + k] = v
        meta = {
            "dbm_config": self.dbm_config.to_dict(),
            "train_config": self.train_config.to_dict(),
            "data_config": None
            if self.data_config is None
            else self.data_config.to_dict(),
            "size": self.size,
            "dt": self.dt,
            "horizon": self.horizon,
            "param_names": self.param_names,
            "history_keys": sorted(self.history),
            "meta": self.meta,
            "rhs_inputs": None if self.rhs is None else self.rhs.inputs,
            "mixture_inputs": None
            if self.mixture is None
            else self.mixture.alive.inputs,
        }
        save_npz(path, arrays, kind="model", meta=meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DBDModel:
        """Read a file written by :meth:`save`.

        Raises
        ------
        FileNotFoundError, dbdviz.io.FileFormatError
        """
        arrays, meta = load_npz(path, kind="model")
        try:
            fe = FiniteElements.from_arrays(
                {k[3:]: arrays[k] for k in arrays if k.startswith("fe_")}
            )
            dc = meta.get("data_config")
            rhs = None
            if meta.get("rhs_inputs") is not None:
                rhs = KernelRHS.from_arrays(
                    {k[4:]: arrays[k] for k in arrays if k.startswith("rhs_")},
                    meta["rhs_inputs"],
                )
            mixture = None
            if meta.get("mixture_inputs") is not None:
                from .mixture import TwoPhase

                mixture = TwoPhase.from_arrays(
                    {k[4:]: arrays[k] for k in arrays if k.startswith("mix_")},
                    meta["mixture_inputs"],
                )
            return cls(
                dbm_config=DBMConfig.from_dict(meta["dbm_config"]),
                size=meta["size"],
                fe=fe,
                domain=arrays["domain"],
                theta0=arrays["theta0"],
                dt=meta["dt"],
                horizon=meta["horizon"],
                theta=arrays["theta"],
                mu=arrays["mu"],
                train_config=TrainConfig.from_dict(meta["train_config"]),
                data_config=None if dc is None else LatticeLV.from_dict(dc),
                param_names=meta.get("param_names", []),
                history={
                    k: arrays["history_" + k]
                    for k in meta.get("history_keys", [])
                    if "history_" + k in arrays
                },
                meta=meta.get("meta", {}),
                rhs=rhs,
                mixture=mixture,
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(f"{path} is not a valid model file ({exc})") from None

    def __repr__(self) -> str:
        return (
            f"DBDModel(depth={self.dbm_config.depth}, size={self.size}, "
            f"params={self.param_names}, horizon={self.horizon}, dt={self.dt})"
        )


def integrate_extrapolated(
    fe: FiniteElements,
    theta0,
    n_steps: int,
    *,
    domain,
    dt: float = 1.0,
    substeps: int = 1,
    extrapolation: str = "zero",
    start: int = 0,
) -> np.ndarray:
    """Forward Euler (4.1) with a rule for ``F`` outside the visited cells.

    Parameters
    ----------
    fe : FiniteElements
    theta0 : array_like of float, shape (P,)
    n_steps : int
    domain : array_like of int, shape (D,)
    dt : float
    substeps : int
    extrapolation : {"zero", "nearest"}
        ``"zero"``: :func:`~dbdviz.dbd.dynamics.integrate` (missing vertices count
        as 0, so ``F`` tapers to 0 around the visited cells and vanishes beyond).
        ``"nearest"``: wherever an Euler evaluation point lies in a cell that lacks
        one of its ``2**D`` corner vertices (a cell training never visited), ``F``
        is the value stored at the nearest existing vertex (distance in grid units);
        in complete cells ``F`` is the finite-element value, so the trajectory is
        bitwise that of ``"zero"`` until it first reaches an incomplete cell.
    start : int
        Apply the rule only from step ``start`` on (earlier steps as ``"zero"``).
        :meth:`DBDModel.integrate` passes its horizon: the trained trajectory may
        cross incomplete cells, and training matched it *with* the tapered ``F``.

    Returns
    -------
    theta : ndarray of float64, shape (n_steps + 1, P)

    Notes
    -----
    ``"nearest"`` continues ``theta`` with the velocity learned closest to where it
    is, instead of freezing it; it cannot know the dynamics of unvisited regions.
    Slot 0 of every vertex holds the value of ``F`` there (4.2, slot order), for
    Q3 C1 and Q1 alike. Reads only (no vertex is created, P15).
    """
    if extrapolation not in EXTRAPOLATIONS:
        raise ValueError(
            f"extrapolation = {extrapolation!r}: allowed {list(EXTRAPOLATIONS)}"
        )
    traj = integrate(fe, theta0, n_steps, domain=domain, dt=dt, substeps=substeps)
    theta = traj.theta
    n_steps, sub = theta.shape[0] - 1, int(substeps)
    if extrapolation == "zero" or n_steps == 0 or fe.n_vertices == 0:
        return theta
    dom = traj.domain
    off = _corner_offsets(fe.dim)
    # cells of every Euler evaluation (the kernel records them)
    cells = np.empty((n_steps * sub, fe.dim), np.int64)
    scratch = theta.copy()
    _integrate_euler(scratch, 0, dom, float(dt), sub, *fe.raw(), cells)
    complete = fe.find((cells[:, None, :] + off[None]).reshape(-1, fe.dim)) >= 0
    complete = complete.reshape(cells.shape[0], -1).all(axis=1)
    complete[: max(int(start), 0) * sub] = True
    if complete.all():
        return theta
    start = int(np.argmin(complete)) // sub
    pos = fe.vertex_positions()
    val = fe.coef[:, 0, :]
    h = float(dt) / sub
    th = theta[start].copy()
    for t in range(start, n_steps):
        for _ in range(sub):
            x = th[dom]
            cell, _ = fe.cell_of(x)
            if np.all(fe.find(cell + off) >= 0):
                f = fe.evaluate(x)
            else:
                d2 = (((pos - x) * fe.inv_spacing) ** 2).sum(axis=1)
                f = val[int(np.argmin(d2))]
            th = th + h * f
        if not np.all(np.isfinite(th)):
            raise FloatingPointError("theta(t) diverged (non-finite values)")
        theta[t + 1] = th
    return theta
