"""The learned closure as a dynamical law: one model from many ensembles, predictions
for initial counts it never saw (issue 18, docs/predict.md).

Training (:func:`train_multi`), for a fully visible DBD (depth 0, visible couplings):

1. every ensemble's ``theta(t)`` is fitted to its mean statistics at the times of
   :func:`~dbdviz.dbd.multi.fit_times` (:func:`~dbdviz.dbd.multi.fit_paths`), then
   interpolated to every step and low-passed (``taps``);
2. one right-hand side ``F`` is fitted to the Euler velocities of all paths together:
   :class:`KernelRHS`, Gaussian-kernel ridge regression on the standardised inputs
   (``theta``) plus a weak pull toward the visited region; when the ensembles differ
   in rates, ``F`` is a sum over the reactions, each term scaled by its rate (the
   physics-based form, :mod:`dbdviz.dbd.kernel`).

Why not the finite elements of the paper: they are supported only on cells a training
path crossed, and a held-out initial count runs between the training paths, where
``F = 0``. Measured on a 3 x 3 grid of initial counts (benchmarks/predict_heldout.py,
docs/predict.md): Q3 C1 elements fit the training paths (X 7 %) but predict held-out
counts at X 61-101 %; coarse elements (spacing 0.5), polynomials of degree 2-3 and
narrow kernels either drift or run away (Y up to 600 %); wide kernels (length 2 in
standard deviations of the training inputs) with the pull are bounded everywhere.

With one rate setting, :func:`train_multi` also fits the two-phase pieces
(:mod:`dbdviz.dbd.mixture`: the paths and ``F`` of the replicates that still have
predators, the extinction hazard, the prey-only curve), and :func:`predict` mixes
the lattices with and without predators by default (``form``).

Prediction (:func:`predict`, ``form="one-path"``): ``theta(0)`` of the random
placement of the given counts (visible biases from the densities, couplings 0),
forward Euler with ``F`` to the
config's ``steps``, sampled like ``evaluate`` (``sweeps`` sweeps from a random start at
every time point). The distance of the path from the training paths (standardised
units) is reported; beyond :attr:`KernelRHS.radius` the prediction extrapolates and
says so (:class:`Prediction`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..moments import OBSERVABLES, MomentTable
from .balance import alive_path
from .evaluate import _check_int, lowpass, sample_trajectory
from .kernel import (
    BANDWIDTH,
    LENGTH,
    PULL,
    RADIUS,
    RATE_DEGREE,
    RATE_LENGTH,
    RATE_PULL,
    RATE_RIDGE,
    RATES,
    RIDGE,
    KernelRHS,
    fit_kernel_rhs,
    rate_values,
)
from .multi import fit_paths, fit_times

__all__ = [
    "KernelRHS",
    "fit_kernel_rhs",
    "train_multi",
    "predict",
    "Prediction",
    "ExtrapolationWarning",
    "RATES",
    "check_ensembles",
    "sample_moments",
    "FORMS",
]

#: LatticeLV fields that must agree between training ensembles (rates and initial
#: counts may differ; replicates and seed do not matter).
SAME_FIELDS = ("size", "dt", "steps", "pick_mode", "birth_mode")

#: Chains per kernel call of :func:`sample_moments` (whole time points; between
#: calls ``progress`` and ``cancel`` are served). Results do not depend on it.
BATCH_CHAINS = 1600

#: How a multi-ensemble model predicts: the two-phase mixture of lattices with and
#: without predators (the default when the model has it), or one parameter path.
FORMS = ("two-phase", "one-path")

#: Low-pass of the fitted paths (taps at unit spacing): 61 taps gave held-out theta
#: paths 10-20 % closer than 31 (docs/predict.md).
TAPS = 61


class ExtrapolationWarning(UserWarning):
    """A prediction left the region of parameter space the training visited."""


# ------------------------------------------------------------------------------------
# Training on several ensembles
# ------------------------------------------------------------------------------------


def check_ensembles(ensembles: Sequence[Any]) -> list[Any]:
    """Validate a list of training ensembles: at least one, every one with
    observables, and the same :data:`SAME_FIELDS` (rates and initial counts may
    differ). Raises ValueError naming the first field that differs."""
    ens = list(ensembles)
    if not ens:
        raise ValueError("data: at least one ensemble is needed")
    for i, e in enumerate(ens):
        if (
            getattr(e, "observables", None) is None
            or getattr(e, "config", None) is None
        ):
            raise ValueError(f"data[{i}] is not an ensemble (dbdviz.simulate.Ensemble)")
    c0 = ens[0].config
    for i, e in enumerate(ens[1:], start=1):
        for f in SAME_FIELDS:
            a, b = getattr(c0, f), getattr(e.config, f)
            if a != b:
                raise ValueError(
                    f"data: the ensembles differ in {f} ({a} in the first, {b} in "
                    f"ensemble {i + 1}): allowed only the same {f} (ensembles may "
                    "differ in initial counts and rates)"
                )
    return ens


def train_multi(
    ensembles: Sequence[Any],
    dbm_config=None,
    *,
    seed: int = 0,
    chains: int | None = None,
    iterations: int | None = None,
    stride: int = 5,
    taps: int = TAPS,
    length: float | None = None,
    ridge: float | None = None,
    degree: int | None = None,
    pull: float | None = None,
    bandwidth: float = BANDWIDTH,
    two_phase: bool = True,
    path_fit: bool | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
):
    """One fully visible DBD learned from several ensembles (module notes).

    Parameters
    ----------
    ensembles : sequence of Ensemble
        Same size, dt, steps and simulator modes; initial counts and rates may differ
        (differing rates become inputs of ``F``). Snapshots are not needed: the
        statistics of a depth-0 machine are the contract's X, Y, nnXX, nnXY, nnYY.
    dbm_config : DBMConfig, optional
        Depth 0 with visible couplings (the default's architecture).
    seed : int
        Sampler seeds of the path fit.
    chains, iterations, stride
        Path fit (:func:`~dbdviz.dbd.multi.fit_paths`, :func:`fit_times`).
    taps : int
        Low-pass of the fitted paths (odd; 0 or 1 = none).
    length, ridge, degree, pull, bandwidth
        :func:`fit_kernel_rhs` (the ``"reactions"`` form). Defaults: ``LENGTH``,
        ``RIDGE``, degree 0, ``PULL`` for one rate setting; ``RATE_LENGTH``,
        ``RATE_RIDGE``, ``RATE_DEGREE``, ``RATE_PULL`` when the ensembles differ in
        rates (then all rates are inputs, each reaction's term scaled by its rate).
    two_phase : bool
        Fit the two-phase (predator extinction) pieces when some training replicate
        lost its predators (one rate setting only).
    path_fit : bool, optional
        Correct the survivors' law along its integrated paths
        (:func:`dbdviz.dbd.pathfit.fit_alive_along_paths`); default
        :data:`dbdviz.dbd.mixture_fit.PATH_FIT` (True); False: session 8's velocity
        fit.
    threads, progress
        Sampler threads; ``progress(done, total)`` over the fitted time points
        (twice with extinctions in the data: the survivors' paths too; three times
        with the survivors' law corrected along its paths).

    Returns
    -------
    DBDModel
        ``rhs`` is the learned :class:`KernelRHS`; ``theta``, ``theta0``,
        ``data_config`` are those of the first ensemble (``evaluate`` replays its
        fitted path, low-passed); ``meta["ensembles"]`` lists every ensemble's
        config, ``meta["paths"]`` nothing large (the paths are the anchors).
    """
    from ..config import DBMConfig
    from ..dbm import DBM
    from .basis import FiniteElements
    from .model import DBDModel
    from .multi import CHAINS, ITERATIONS

    t_start = time.perf_counter()
    ens = check_ensembles(ensembles)
    if dbm_config is None:
        dbm_config = DBMConfig(depth=0, visible_couplings=True, chains=10)
    if (
        dbm_config.depth != 0
        or not dbm_config.visible_couplings
        or dbm_config.visible_nnn_couplings
    ):
        raise ValueError(
            "dbm_config: training on several ensembles needs depth = 0 with "
            "visible_couplings = True and visible_nnn_couplings = False"
        )
    c0 = ens[0].config
    dbm = DBM(dbm_config, size=int(c0.size))
    P = dbm.n_params
    steps = int(ens[0].observables.shape[1]) - 1
    if steps < 2:
        raise ValueError("data: the ensembles need at least 3 time points")
    dt = float(c0.dt)
    idx = fit_times(steps, stride=_check_int("stride", stride, 1))
    targets = [
        np.asarray(e.observables[:, :, :P], dtype=np.float64).mean(axis=0)[idx]
        for e in ens
    ]
    across = any(len({float(getattr(e.config, r)) for e in ens}) > 1 for r in RATES)
    two_phase = bool(two_phase) and not across
    lost = two_phase and any(
        np.any(
            (np.asarray(e.observables[:, 0, 1]) > 0) & (e.observables[:, -1, 1] == 0)
        )
        for e in ens
    )
    if path_fit is None:
        from .mixture_fit import PATH_FIT

        path_fit = PATH_FIT
    path_fit = bool(path_fit)
    if progress is not None and lost:
        # the whole paths, the survivors' paths and (path fit) the correction along
        # the integrated paths, each len(idx) units of the bar
        report, n_idx = progress, len(idx)
        units = (3 if path_fit else 2) * n_idx

        def progress(done, total, part=0):
            report(part * n_idx + (done * n_idx) // max(int(total), 1), units)

    fr = fit_paths(
        dbm,
        targets,
        idx,
        chains=CHAINS if chains is None else chains,
        iterations=ITERATIONS if iterations is None else iterations,
        seed=int(seed),
        threads=threads,
        progress=progress,
    )
    every = np.arange(steps + 1)

    def smooth(theta):
        full = np.column_stack([np.interp(every, idx, theta[:, k]) for k in range(P)])
        return lowpass(full, taps) if taps > 1 else full

    paths = [smooth(fr.theta[e]) for e in range(len(ens))]
    varying = list(RATES) if across else []
    if length is None:
        length = RATE_LENGTH if across else LENGTH
    if ridge is None:
        ridge = RATE_RIDGE if across else RIDGE
    if degree is None:
        degree = RATE_DEGREE if across else 0
    if pull is None:
        pull = RATE_PULL if across else PULL
    inputs = [
        np.column_stack([p, np.tile(rate_values(e.config, varying), (len(p), 1))])
        for p, e in zip(paths, ens, strict=True)
    ]
    rhs = fit_kernel_rhs(
        inputs,
        paths,
        dt,
        names=list(dbm.param_names) + varying,
        length=length,
        ridge=ridge,
        degree=degree,
        pull=pull,
        bandwidth=bandwidth,
    )
    mixture, mix_info = None, {}
    if two_phase:
        from .mixture_fit import fit_two_phase

        mixture, mix_info = fit_two_phase(
            dbm,
            ens,
            idx,
            paths,
            rhs,
            smooth=smooth,
            seed=int(seed),
            chains=CHAINS if chains is None else chains,
            iterations=ITERATIONS if iterations is None else iterations,
            threads=threads,
            progress=None
            if progress is None or not lost
            else (lambda d, t, part: progress(d, t, 1 + part)),
            path_fit=path_fit,
        )
    theta0 = paths[0][0].copy()
    fe = FiniteElements(P, 0.1, theta0 - 0.05, dim=P)  # empty: F is rhs
    seconds = time.perf_counter() - t_start
    meta = {
        "method": "multi",
        "seed": int(seed),
        "ensembles": [{**e.config.to_dict(), "replicates": int(e.n_reps)} for e in ens],
        "evaluate": {"sweeps": 9, "init": "random", "lowpass_taps": 0},
        "multi": {
            "chains": CHAINS if chains is None else int(chains),
            "iterations": ITERATIONS if iterations is None else int(iterations),
            "stride": int(stride),
            "taps": int(taps),
            "fit_residual": fr.relative_residual().mean(axis=0).tolist(),
            "seconds": seconds,
            "two_phase": mix_info,
        },
    }
    _, tc = _train_config()
    return DBDModel(
        dbm_config=dbm_config,
        size=int(c0.size),
        fe=fe,
        domain=dbm.domain_indices.copy(),
        theta0=theta0,
        dt=dt,
        horizon=steps,
        theta=paths[0],
        mu=np.tile(dbm.initial_centers(), (steps + 1, 1, 1)),
        train_config=tc,
        data_config=c0,
        param_names=list(dbm.param_names),
        meta=meta,
        rhs=rhs,
        mixture=mixture,
    )


def _train_config():
    from .train import default_configs

    return default_configs(refine="off")


# ------------------------------------------------------------------------------------
# Prediction
# ------------------------------------------------------------------------------------


@dataclass
class Prediction(MomentTable):
    """The moment table of a prediction (a :class:`~dbdviz.moments.MomentTable`, ``n``
    = chains) with what the prediction did.

    Attributes
    ----------
    theta : ndarray of float64, shape (n_times, P)
        The integrated parameters that were sampled.
    distance : ndarray of float64, shape (n_times,)
        Distance of ``theta`` from the training paths (standardised units for a
        multi-ensemble model, grid cells for finite elements).
    radius : float
        Distance beyond which the prediction extrapolates.
    left_at : float or None
        First time with ``distance > radius`` (None: never left).
    warning : str or None
        The extrapolation warning (None when the path stayed inside).
    form : {"two-phase", "one-path"}
        How it was predicted (:data:`FORMS`).
    extinct : ndarray of float64, shape (n_times,) or None
        Two-phase: the predicted fraction of lattices without predators (``theta``
        is then the path of the lattices that have them).
    trained_to : float or None
        The training's last time (``horizon x dt`` of the model; None: unknown).
        A prediction that runs past it extrapolates in time, and ``warning`` says so
        (:attr:`past_training`).
    """

    theta: np.ndarray | None = None
    distance: np.ndarray | None = None
    radius: float = RADIUS
    left_at: float | None = None
    warning: str | None = None
    form: str = "one-path"
    extinct: np.ndarray | None = None
    trained_to: float | None = None

    @property
    def extrapolated(self) -> bool:
        return self.left_at is not None

    @property
    def past_training(self) -> bool:
        """True when the prediction runs past the training's last time."""
        return self.trained_to is not None and float(self.t[-1]) > self.trained_to


def known_rates(model) -> list[tuple[float, float, float]]:
    """The (birth, death, predation) settings the model was trained on."""
    confs = (model.meta or {}).get("ensembles")
    if confs:
        rates = [tuple(float(c[r]) for r in RATES) for c in confs]
    elif model.data_config is not None:
        rates = [tuple(float(getattr(model.data_config, r)) for r in RATES)]
    else:
        rates = []
    return sorted(set(rates))


def _is_known(rates, known) -> bool:
    """True when ``rates`` equal one of the ``known`` settings (to 1e-9)."""
    return any(
        all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(rates, k, strict=True))
        for k in known
    )


def _format_rates(rates) -> str:
    return "; ".join(
        ", ".join(f"{n} {v:g}" for n, v in zip(RATES, r, strict=True)) for r in rates
    )


def has_learned_rhs(model) -> bool:
    """True when the model has a learned ``F`` (kernel or finite elements)."""
    return getattr(model, "rhs", None) is not None or model.fe.n_vertices > 0


def resolve_form(model, form: str | None) -> str:
    """The form a prediction of ``model`` takes (:data:`FORMS`; None: two-phase when
    the model has that fit, else one-path); ValueError naming ``form`` when the
    model cannot predict in it (before any work)."""
    has_mixture = getattr(model, "mixture", None) is not None
    if form is None:
        return "two-phase" if has_mixture else "one-path"
    if form not in FORMS:
        raise ValueError(f"form = {form!r}: allowed {', '.join(FORMS)}")
    if form == "two-phase" and not has_mixture:
        raise ValueError(
            "form = 'two-phase': the model has no two-phase fit (one ensemble, "
            "several rates, no extinctions in its training or an older file); "
            "allowed 'one-path'"
        )
    return form


def check_prediction(model, config) -> None:
    """Raise ValueError naming the option when ``config`` cannot be predicted by
    ``model`` (before any work)."""
    if not has_learned_rhs(model):
        raise ValueError(
            "model: it has no learned right-hand side F (trained for 0 steps?): "
            "allowed a model from dbdviz train"
        )
    if int(config.size) != int(model.size):
        raise ValueError(
            f"size = {config.size}: the model was trained on a {model.size} x "
            f"{model.size} lattice; allowed size = {model.size}"
        )
    if not math.isclose(float(config.dt), float(model.dt)):
        raise ValueError(
            f"dt = {config.dt:g}: the model was trained with dt = {model.dt:g}; "
            f"allowed dt = {model.dt:g}"
        )
    rhs = getattr(model, "rhs", None)
    if rhs is not None and rhs.rates:
        return  # rates are inputs: any rates (the distance says when it extrapolates)
    rates = tuple(float(getattr(config, r)) for r in RATES)
    known = known_rates(model)
    if known and not _is_known(rates, known):
        raise ValueError(
            f"rates {_format_rates([rates])}: the model knows only "
            f"{_format_rates(known)} (it was not trained across rates)"
        )


def _fe_distance(fe, x: np.ndarray) -> np.ndarray:
    if fe.n_vertices == 0:
        return np.full(x.shape[0], np.inf)
    pos = fe.vertex_positions()
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = np.sqrt((((pos - x[i]) * fe.inv_spacing) ** 2).sum(axis=1).min())
    return out


def predict(
    model,
    config=None,
    *,
    chains: int = 100,
    seed: int | None = 0,
    sweeps: int | None = None,
    every: int = 1,
    form: str | None = None,
    threads: int | None = None,
    warn: bool = True,
    progress: Callable[[int, int], Any] | None = None,
    cancel=None,
) -> Prediction:
    """Predict the moments of a lattice configuration with the learned closure.

    Parameters
    ----------
    model : DBDModel
        From :func:`train_multi` (kernel ``F``) or the single-ensemble trainer
        (finite elements, supported only along its one training path).
    config : LatticeLV, optional
        Size, rates, initial counts, dt and steps of the prediction; default the
        model's first training ensemble. Same size and dt as the model; rates the
        model knows (or any, for a model trained across rates).
    chains, seed, sweeps, threads, progress, cancel
        Sampling (:func:`~dbdviz.dbd.evaluate.sample_trajectory`); ``sweeps``
        default: the model's training procedure.
    every : int
        Sample every ``every``-th time point (and the last) of the integrated path:
        a cheaper preview (the dashboard's live re-prediction). The path, its
        distance and ``left_at`` are those of every step either way.
    form : {"two-phase", "one-path"}, optional
        ``"two-phase"`` (the default for a model with ``mixture``): the lattices
        with predators follow the blended survivors' path, which is sampled; the
        hazard along it gives the fraction without predators, which follow the
        prey-only curve; the table is the mixture (:mod:`dbdviz.dbd.mixture`).
        ``"one-path"`` (the default otherwise): the ensemble's moments follow one
        path of ``F``.
    warn : bool
        Emit :class:`ExtrapolationWarning` when the path leaves the visited region
        (the result carries the same message in ``warning`` either way).

    Returns
    -------
    Prediction
        A MomentTable (``n`` = chains, label ``"DBD prediction"``) with the
        integrated ``theta``, its distance from the training and the warning.

    Raises
    ------
    ValueError
        Not a model, a model without learned ``F``, another size or dt, unknown
        rates, out-of-range chains (before any work).
    """
    from .dynamics import integrate
    from .model import DBDModel

    if not isinstance(model, DBDModel):
        raise ValueError("model must be a DBDModel (dbdviz.dbd.DBDModel.load)")
    if config is None:
        if model.data_config is None:
            raise ValueError("config: the model records no training configuration")
        config = model.data_config
    chains = _check_int("chains", chains, 1)
    every = _check_int("every", every, 1)
    mixture = getattr(model, "mixture", None)
    form = resolve_form(model, form)
    check_prediction(model, config)
    if model.dbm_config.depth != 0 and getattr(model, "rhs", None) is not None:
        raise ValueError("model: a kernel right-hand side needs depth 0")
    dbm = model.dbm()
    N = float(dbm.n_sites)
    dx = max(int(config.init_x) / N, 0.5 / N)
    dy = max(int(config.init_y) / N, 0.5 / N)
    theta0 = dbm.initial_theta(dx, dy)
    if model.dbm_config.depth != 0:
        theta0 = model.theta0.copy()  # hidden layers: no density-only theta(0)
    steps, dt = int(config.steps), float(model.dt)
    rhs = getattr(model, "rhs", None)
    q = None
    if form == "two-phase":
        theta = alive_path(mixture, rhs, dbm, theta0, steps, dt, seed, threads)
        q = mixture.extinct(theta)
        dist = np.minimum(rhs.distance(theta), mixture.alive.distance(theta))
        radius, unit = rhs.radius, "standard deviations"
        rates = rate_values(config, rhs.rates)
    elif rhs is not None:
        rates = rate_values(config, rhs.rates)
        theta = rhs.integrate(theta0, steps, dt, rates)
        z = np.column_stack([theta, np.tile(rates, (theta.shape[0], 1))])
        dist, radius, unit = rhs.distance(z), rhs.radius, "standard deviations"
    else:
        theta = integrate(
            model.fe,
            theta0,
            steps,
            domain=model.domain,
            dt=dt,
            substeps=int(model.train_config.substeps),
        ).theta
        dist = _fe_distance(model.fe, theta[:, model.domain])
        radius, unit = 1.0, "grid cells"
    t = np.arange(steps + 1) * dt
    out_idx = np.flatnonzero(dist > radius)
    left_at = float(t[out_idx[0]]) if out_idx.size else None
    msg = None
    outside = [] if rhs is None else rhs.rates_outside(rates)
    if outside:
        left_at = 0.0
        msg = (
            f"the rates {', '.join(outside)} are outside the range the training "
            f"covered ({rhs.rate_ranges()}): the whole prediction extrapolates"
        )
    elif left_at is not None:
        msg = (
            f"the prediction left the region the training visited at t = "
            f"{left_at:g} and went up to {float(dist.max()):.2f} {unit} from it "
            f"(inside: <= {radius:g}): from there on it extrapolates"
        )
    setting = tuple(float(getattr(config, r)) for r in RATES)
    known = known_rates(model)
    if rhs is not None and rhs.rates and not outside and not _is_known(setting, known):
        # inside the box of training rates but at none of its settings: the paths
        # near this one were visited at other rates, so F's rate dependence here is
        # an interpolation the training never checked (docs/predict.md, "Rates")
        between = (
            f"the rates {_format_rates([setting])} are none of the training's "
            f"settings (inside its range {rhs.rate_ranges()}): F's dependence on "
            "the rates is interpolated there, and held-out rates inside the range "
            "were predicted with 14-73 % error in X and Y (docs/predict.md, Rates)"
        )
        msg = between if msg is None else f"{msg}; {between}"
    trained_to = _trained_to(model)
    if trained_to is not None and steps * dt > trained_to * (1 + 1e-9):
        late = past_training_message(trained_to, steps * dt)
        msg = late if msg is None else f"{msg}; {late}"
    if msg is not None and warn:
        warnings.warn(msg, ExtrapolationWarning, stacklevel=2)
    sw = int((model.meta or {}).get("evaluate", {}).get("sweeps", 9))
    rows = np.unique(np.r_[np.arange(0, steps + 1, every), steps])
    t_all = t
    theta, t, dist = theta[rows], t[rows], dist[rows]
    tab = sample_moments(
        dbm,
        np.ascontiguousarray(theta),
        t,
        chains=chains,
        sweeps=sw if sweeps is None else sweeps,
        seed=seed,
        label="DBD prediction",
        threads=threads,
        progress=progress,
        cancel=cancel,
    )
    mean, sd = tab.mean, tab.sd
    if q is not None:
        if mixture.passage is not None:
            # the first-passage hazard along the sampled survivors' moments
            A = np.column_stack(
                [np.interp(t_all, tab.t, tab.mean[o]) for o in OBSERVABLES[:5]]
            )
            q = mixture.extinct_from_moments(A, int(config.init_y), dt)
        mean, sd = _mix_table(mixture, tab, t_all, rows, q)
        q = q[rows]
    return Prediction(
        t=tab.t,
        n=tab.n,
        mean=mean,
        sd=sd,
        extra=tab.extra,
        label="DBD prediction",
        theta=theta,
        distance=dist,
        radius=float(radius),
        left_at=left_at,
        warning=msg,
        form=form,
        extinct=q,
        trained_to=trained_to,
    )


def _trained_to(model) -> float | None:
    """The training's last time of ``model`` (None: not recorded)."""
    h = getattr(model, "horizon", None)
    return None if h is None or int(h) <= 0 else float(h) * float(model.dt)


def past_training_message(trained_to: float, t_end: float) -> str:
    """The warning of a prediction that runs past the training's last time.

    Measured (docs/experiments/17): the learned law is a function of ``theta``
    only, but a lattice's second predator trough is not its first: trained to
    t = 300 on the 3 x 3 grid, the held-out counts' survivors leave their second
    trough far too slowly, and the extinction hazard under-predicts the second
    trough's extinctions (``q(500)`` 3.5-3.8 times too low), also where the path
    stays inside the visited region."""
    return (
        f"the prediction runs past the training's last time t = {trained_to:g} "
        f"(to t = {t_end:g}): F and the extinction hazard were learned on earlier "
        "times only, and a later predator cycle differs from the first (trained to "
        "t = 300, held-out counts had Y errors of 19-86 % over t = 300..500, "
        "docs/predict.md, Beyond the trained times)"
    )


def _mix_table(mixture, tab, t_all, rows, q):
    """The two-phase mixture of a sampled alive table at the rows ``rows`` of every
    step (linear interpolation of the alive moments between sampled rows)."""
    names = []
    for o in OBSERVABLES[: mixture.curve.shape[1]]:
        if o not in tab.mean:
            break
        names.append(o)
    A = np.column_stack([np.interp(t_all, tab.t, tab.mean[o]) for o in names])
    S = np.column_stack([np.interp(t_all, tab.t, tab.sd[o]) for o in names])
    m, s = mixture.mix(A, S, q)
    mean = {**tab.mean, **{o: m[rows, i] for i, o in enumerate(names)}}
    sd = {**tab.sd, **{o: s[rows, i] for i, o in enumerate(names)}}
    return mean, sd


def sample_moments(
    dbm,
    theta: np.ndarray,
    t: np.ndarray,
    *,
    chains: int,
    sweeps: int,
    seed: int | None = 0,
    label: str = "DBD prediction",
    threads: int | None = None,
    progress: Callable[[int, int], Any] | None = None,
    cancel=None,
) -> MomentTable:
    """The moment table of :func:`~dbdviz.dbd.evaluate.sample_trajectory` with
    ``init="random"`` (bitwise the same), without its statistics and covariances.

    A fully visible machine with nearest-neighbour couplings only (every model of
    :func:`train_multi`) runs the chains side by side (:mod:`dbdviz.dbd._lanes`,
    measured 2-3 times faster per site update); any other machine goes through
    ``sample_trajectory``. Parameters as there (``theta`` (T, P), ``t`` (T,)).
    """
    from .._numba import check_threads, set_threads
    from .._rng import seed_states
    from ..errors import Cancelled
    from ..moments import moment_table
    from ._lanes import LANES, _sample_lanes

    th = np.ascontiguousarray(theta, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    # the side-by-side kernel knows the nearest-neighbour couplings only (mode 1)
    fast = dbm.n_layers == 1 and dbm.coupling_mode == 1 and dbm.rungs == 1
    if not fast:
        return sample_trajectory(
            dbm,
            th,
            tt,
            chains=chains,
            sweeps=sweeps,
            seed=seed,
            label=label,
            threads=threads,
            progress=progress,
            cancel=cancel,
        ).table
    chains = _check_int("chains", chains, 1)
    sweeps = _check_int("sweeps", sweeps, 0)
    th = dbm.check_theta(th)
    if tt.shape != (th.shape[0],):
        raise ValueError(f"t must have shape ({th.shape[0]},) like theta's rows")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r}: allowed None or an integer >= 0")
    T = th.shape[0]
    obs = np.empty((T * chains, len(OBSERVABLES)))
    rng = seed_states(int(seed), T * chains)  # chain c of time tau: tau * chains + c
    per = max(1, BATCH_CHAINS // chains)
    prev = set_threads(check_threads(threads)) if threads is not None else None
    try:
        for tau0 in range(0, T, per):
            if cancel is not None and cancel.is_set():
                raise Cancelled("prediction cancelled")
            tb = min(per, T - tau0)
            sl = slice(tau0 * chains, (tau0 + tb) * chains)
            thr, prob = dbm.tables(th[tau0 : tau0 + tb])
            rows = np.repeat(np.arange(tb, dtype=np.int64), chains)
            _sample_lanes(
                rng[sl],
                rows,
                np.ascontiguousarray(thr[:, 0]),
                np.ascontiguousarray(prob[:, 0]),
                sweeps,
                dbm.size,
                dbm.side * dbm.side + 1,
                LANES,
                obs[sl],
            )
            if progress is not None:
                progress(tau0 + tb, T)
    finally:
        if prev is not None:
            set_threads(prev)
    per_chain = obs.reshape(T, chains, -1).transpose(1, 0, 2)
    return moment_table(per_chain, tt, label=label)
