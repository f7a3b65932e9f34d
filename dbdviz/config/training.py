"""The deep Boltzmann machine (:class:`DBMConfig`) and its training
(:class:`TrainConfig`), with the named training protocols (:data:`PROTOCOLS`)."""

from __future__ import annotations

import param

from .base import Config, format_range

__all__ = [
    "DBMConfig",
    "TrainConfig",
    "DEPTH_DEFAULTS",
    "depth_parameters",
    "depth_defaults",
    "depth_configs",
    "training_error",
    "check_training",
    "PROTOCOLS",
    "protocol",
    "default_configs",
    "reference_configs",
    "equilibrium_configs",
    "EQUILIBRIUM_TRAIN",
    "REFERENCE_DBM",
    "REFERENCE_TRAIN",
]


class DBMConfig(Config):
    """Architecture and sampling settings of the lattice DBM (ALGORITHM.md section 3).

    ``depth`` hidden layers of L x L multinomial units (channels A, B per layer) above
    a visible layer (empty, X, Y); inter-layer weights through a ``conn`` patch
    (4 = 2 x 2, 9 = 3 x 3) with wrap.

    The defaults are the measured best protocol (docs/training.md): a fully visible
    machine with nearest-neighbour couplings, whose sufficient statistics are X, Y,
    nnXX, nnXY, nnYY, 10 asleep chains of 9 sweeps (the sampling of the evaluation).
    The reference's (depth 2, no couplings, 5 chains, 10 sweeps) is the
    ``"reference"`` protocol (:data:`PROTOCOLS`).
    """

    depth = param.Integer(
        0,
        bounds=(0, 3),
        label="DBM depth (hidden layers)",
        doc="Number of hidden layers (0 = fully visible Boltzmann machine).",
    )
    conn = param.Selector(
        default=4,
        objects=[4, 9],
        label="Connectivity q",
        doc="Units per inter-layer patch: 4 (2 x 2) or 9 (3 x 3), with periodic wrap.",
    )
    cross_channel = param.Boolean(
        False,
        label="Cross-channel weights",
        doc="Add X-Y1 and Y-X1 weights (and likewise between hidden layers).",
    )
    visible_couplings = param.Boolean(
        True,
        label="Visible NN couplings",
        doc="Add nearest-neighbour couplings J_XX, J_XY, J_YY on the visible layer.",
    )
    visible_nnn_couplings = param.Boolean(
        False,
        label="Visible diagonal couplings",
        doc="Add next-nearest-neighbour (diagonal: displacements (1, 1), (1, -1)) "
        "couplings JXX2, JXY2, JYY2 on the visible layer, so the diagonal pairs "
        "nnnXX, nnnXY, nnnYY are statistics of the machine; used with "
        "visible_couplings and conn = 4, ignored otherwise. They follow F but are "
        "not part of its domain.",
    )
    chains = param.Integer(
        10,
        bounds=(1, 10_000),
        softbounds=(1, 200),
        label="Chains",
        doc="Number of Markov chains per phase and time point.",
    )
    sweeps_awake = param.Integer(
        10,
        bounds=(1, 10_000),
        softbounds=(1, 100),
        label="Awake sweeps",
        doc="Gibbs sweeps with the visible layer clamped to data.",
    )
    sweeps_asleep = param.Integer(
        9,
        bounds=(1, 10_000),
        softbounds=(1, 100),
        label="Asleep sweeps",
        doc="Free-running Gibbs sweeps per asleep phase.",
    )
    persistent_asleep = param.Boolean(
        False,
        label="Persistent asleep chains",
        doc="Keep asleep chains between steps instead of restarting them at random.",
    )
    rungs = param.Integer(
        1,
        bounds=(1, 64),
        softbounds=(1, 16),
        label="Tempering rungs",
        doc="Sampler of the free chains (asleep phase, refinement, evaluation): 1 = "
        "plain Gibbs sweeps; K >= 2 = parallel tempering over the interaction "
        "strength with K rungs (dbdviz.dbm.tempering): every chain starts from "
        "exact samples without interactions, each sweep is a Gibbs sweep of K "
        "replicas plus exchanges, so the chains equilibrate near the critical "
        "couplings where plain sweeps do not; about K + 1 times the cost.",
    )
    sliding_factor = param.Number(
        0.5,
        bounds=(0.0, 1.0),
        label="Center sliding factor",
        doc="Sliding factor sigma of the center update "
        "mu <- (1 - sigma) mu + sigma mu_new.",
    )

    def _check_combination(self) -> None:
        pass

    def domain_size(self) -> int:
        """Dimension of the finite-element domain of F: the 2 visible biases, every
        inter-layer weight (2 per layer pair, 4 with ``cross_channel``) and the 3
        visible couplings (``DBM.domain_indices``)."""
        per_pair = 4 if self.cross_channel else 2
        return 2 + int(self.depth) * per_pair + (3 if self.visible_couplings else 0)

    def check_lattice(self, size: int) -> None:
        """Raise if the lattice is too small for the connectivity patch."""
        side = 2 if self.conn == 4 else 3
        if size < 2 * side:
            raise ValueError(
                f"size = {size} is too small for conn = {self.conn} ({side} x {side} "
                f"patch): allowed size >= {2 * side}"
            )


class TrainConfig(Config):
    """Dynamic Boltzmann distribution training settings (ALGORITHM.md sections 4-5)."""

    opt_steps = param.Integer(
        0,
        bounds=(0, 10_000_000),
        softbounds=(0, 5000),
        label="Optimisation steps",
        doc="Number of optimisation steps (0 = auto: until the horizon reaches the "
        "data's last time, plus extra_end_steps).",
    )
    extra_end_steps = param.Integer(
        20,
        bounds=(0, 10_000_000),
        softbounds=(0, 200),
        label="Extra steps at the end",
        doc="With opt_steps = 0: extra steps with the window parked at the data's end "
        "(the last time points are otherwise under-trained, pitfall P11).",
    )
    window = param.Integer(
        10,
        bounds=(1, 10_000),
        softbounds=(2, 50),
        label="Window length",
        doc="Length of the sliding adjoint window in time steps.",
    )
    move_every = param.Integer(
        2,
        bounds=(1, 10_000),
        softbounds=(1, 20),
        label="Move window every",
        doc="Move the window (and grow the horizon) by one step every this many steps.",
    )
    hold_tolerance = param.Number(
        0.0,
        bounds=(0.0, 1e6),
        softbounds=(0.0, 10.0),
        label="Hold window while mismatch above",
        doc="Adaptive schedule: after its move_every steps the window only moves on "
        "when the moment mismatch over the window, RMS of (asleep - awake) in units "
        "of its standard error (chain spread / sqrt(chains), plus the data term when "
        "data_per_step draws a subset), is at most this; otherwise it is held while "
        "holding makes progress (the mismatch not above its value when holding began "
        "there), at most max_holds extra steps per position (0 = off: the fixed "
        "schedule).",
    )
    max_holds = param.Integer(
        0,
        bounds=(0, 10_000),
        softbounds=(0, 50),
        label="Max holds per window position",
        doc="With hold_tolerance > 0: at most this many extra steps at one window "
        "position (bounds the steps: at most (move_every + max_holds) per position).",
    )
    replay_windows = param.Integer(
        0,
        bounds=(0, 8),
        softbounds=(0, 4),
        label="Replayed earlier windows per step",
        doc="Extra windows per step at random earlier positions (start uniform in "
        "0 .. window start - 1; none while the window starts at 0): same statistics, "
        "centers and truncated adjoint as the current window, gradients summed "
        "before the update, so later windows cannot undo the fit of earlier time "
        "points unnoticed. Costs about (1 + replay_windows) x the sampling per step.",
    )
    replay_span = param.Integer(
        0,
        bounds=(0, 10_000_000),
        softbounds=(0, 200),
        label="Replay at most this far back",
        doc="With replay_windows > 0: replay windows start uniformly in "
        "max(0, tau0 - replay_span) .. tau0 - 1 for the current window start tau0 "
        "(0 = anywhere before it).",
    )
    optimizer = param.Selector(
        default="adam",
        objects=["sgd", "adam"],
        label="Optimiser",
        doc="Optimiser for the basis coefficients.",
    )
    lr = param.Number(
        3e-4,
        bounds=(0.0, 10.0),
        inclusive_bounds=(False, True),
        softbounds=(1e-7, 1e-2),
        label="Learning rate",
        doc="Learning rate of every basis function (reference: SGD 2.5e-6 on count "
        "moments; default: Adam 3e-4).",
    )
    lr_boost = param.Number(
        10.0,
        bounds=(1.0, 1000.0),
        softbounds=(1.0, 30.0),
        label="Early learning-rate boost",
        doc="The learning rate starts at lr x lr_boost and falls linearly to lr while "
        "the window's end moves over the first boost_fraction of the data's time "
        "span: the fast initial transient needs large dtheta/dt, which the base rate "
        "cannot build in the few updates a cell gets there (docs/training.md). "
        "1 = constant lr.",
    )
    boost_fraction = param.Number(
        0.3,
        bounds=(0.0, 1.0),
        label="Boost over this fraction of time",
        doc="Fraction of the data's time span over which the lr_boost decays to 1 "
        "(0 = no boost).",
    )
    adjoint_variant = param.Selector(
        default="exact",
        objects=["reference", "exact"],
        label="Adjoint variant",
        doc="'reference' as the C++ code (backward dmu, psi scaled by the spacing); "
        "'exact' the consistent discretisation (ALGORITHM.md 5.5a).",
    )
    basis = param.Selector(
        default="q3c1",
        objects=["q3c1", "q1"],
        label="Basis",
        doc="Finite elements of F: cubic Hermite (Q3 C1) or multilinear (Q1).",
    )
    spacing = param.Number(
        0.1,
        bounds=(1e-4, 100.0),
        softbounds=(0.01, 1.0),
        label="Grid spacing",
        doc="Finite-element grid spacing in every domain dimension.",
    )
    substeps = param.Integer(
        1,
        bounds=(1, 1000),
        label="Euler substeps",
        doc="Forward-Euler substeps per time step for theta(t).",
    )
    data_per_step = param.Integer(
        0,
        bounds=(0, 1_000_000),
        softbounds=(0, 100),
        label="Data replicates per step",
        doc="Data replicates drawn (without replacement) per optimisation step "
        "(0 = all replicates).",
    )
    asleep_init = param.Selector(
        default="random",
        objects=["random", "persistent", "data"],
        label="Asleep chain start",
        doc="Start of the asleep chains at every step: 'random' (reference, uniform "
        "categorical), 'persistent' (kept per time point between steps), 'data' "
        "(from data snapshots / the awake state: CD-k).",
    )
    moment_scale = param.Selector(
        default="site",
        objects=["count", "site"],
        label="Moment scale",
        doc="'count': moment differences as counts over the L x L sites (reference, "
        "pitfall P8); 'site': divided by L**2, so a learning rate suits any lattice.",
    )
    init = param.Selector(
        default="data",
        objects=["reference", "data"],
        label="Initial theta",
        doc="'reference': visible biases -2.63, centers 0.0625 / 0.33; 'data': biases "
        "and visible centers matching the data's densities at t = 0, hidden 1/3.",
    )
    extrapolation = param.Selector(
        default="zero",
        objects=["zero", "nearest"],
        label="Extrapolation of F",
        doc="F outside the cells training visited (DBDModel.integrate beyond the "
        "horizon): 'zero' (lazy grid: F tapers to 0, theta freezes), 'nearest' (the "
        "value of F at the nearest visited vertex).",
    )
    vertex_init = param.Selector(
        default="zero",
        objects=["zero", "nearest"],
        label="New vertices start at",
        doc="Value of F at finite-element vertices created by an update: 'zero' "
        "(reference) or 'nearest' (the value at the nearest existing vertex, so F "
        "in a newly visited cell continues instead of growing from 0).",
    )
    max_abs_theta = param.Number(
        50.0,
        bounds=(1.0, 1e6),
        label="Divergence bound",
        doc="Training stops with TrainingDiverged when |theta| exceeds this bound.",
    )
    fit_warning = param.Number(
        0.2,
        bounds=(0.0, 1e6),
        label="Poor-fit warning above",
        doc="After training, the learned closure is sampled once and compared with "
        "the data (mean over X, Y, nnXX, nnXY, nnYY of the RMS error relative to "
        "the data's mean); above this the fit is reported as poor (a warning, also "
        "with --quiet, and in the dashboard).",
    )
    refine = param.Selector(
        default="auto",
        objects=["auto", "on", "off"],
        label="Refine the closure",
        doc="After the adjoint steps, refine the learned closure on the data "
        "(static-path refinement, dbdviz.dbd.refine: theta fitted per time point by "
        "moment matching, F refitted to that path; refine_iterations + 1 more "
        "steps): 'auto' refines fully visible machines (depth 0) only, 'on' also "
        "hidden layers (the depth-1 default, DEPTH_DEFAULTS; beyond depth 1 only "
        "with refine_targets = 'observables'), 'off' never refines.",
    )
    refine_iterations = param.Integer(
        60,
        bounds=(1, 100_000),
        softbounds=(1, 100),
        label="Refinement iterations",
        doc="Moment-matching iterations of the refinement over all fitted time "
        "points (one trainer step each).",
    )
    refine_chains = param.Integer(
        50,
        bounds=(2, 100_000),
        softbounds=(2, 200),
        label="Refinement chains",
        doc="Chains per fitted time point in every refinement iteration (sampled "
        "as in evaluation: random start, the asleep sweeps).",
    )
    refine_init = param.Selector(
        default="random",
        objects=["random", "data", "persistent"],
        label="Refinement chain start",
        doc="How the refinement samples the model at a fitted time point: 'random' "
        "(uniform random chains, the asleep sweeps: theta is matched to that "
        "short-sampling procedure, which the evaluation then repeats), 'data' "
        "(chains started from the data's snapshots, refine_sweeps sweeps: theta "
        "is moved until the data do not drift under the model's own dynamics, "
        "CD-k), 'persistent' (chains started from the data once and carried "
        "through the iterations: theta is moved until the model's equilibrium "
        "matches the data); after 'data' or 'persistent' the model is evaluated "
        "with chains carried along t, which equilibrate.",
    )
    refine_sweeps = param.Integer(
        0,
        bounds=(0, 100_000),
        softbounds=(0, 100),
        label="Refinement sweeps",
        doc="Gibbs sweeps per chain and refinement iteration (0 = the asleep sweeps).",
    )
    refine_targets = param.Selector(
        default="statistics",
        objects=["statistics", "observables"],
        label="Refinement targets",
        doc="What the refinement matches at every fitted time point: "
        "'statistics' (the parameter statistics: the likelihood gradient) or "
        "'observables' (X, Y and the NN and diagonal NNN pairs in relative least "
        "squares through their covariance with the statistics: the diagonal pairs "
        "become targets the hidden weights can hold).",
    )
    refine_nn_weight = param.Number(
        1.0,
        bounds=(0.0, 1000.0),
        inclusive_bounds=(False, True),
        softbounds=(0.1, 10.0),
        label="Refinement weight of X, Y, NN pairs",
        doc="With refine_targets = 'observables': the weight of X, Y and the "
        "nearest-neighbour pairs relative to the diagonal (NNN) pairs in the "
        "least squares (1 = all equal; the depth-1 default 3 keeps the "
        "nearest-neighbour pairs near their floor, docs/experiments/13).",
    )
    refine_taps = param.Integer(
        31,
        bounds=(0, 1001),
        softbounds=(0, 63),
        label="Refinement low-pass taps",
        doc="Length of the zero-phase low-pass of the refinement's fitted path "
        "before F is refitted to it (0, 1 or odd; 0 and 1 = none). The depth-1 "
        "default 11: 31 taps shift the clustering pairs of a path fitted point by "
        "point to noisy chains (nnXX, nnnXX 2-5 points lower at t >= 300 on the "
        "paper data), 1 or 5 leave F a path it cannot carry (docs/experiments/21).",
    )
    refine_stride = param.Integer(
        5,
        bounds=(1, 10_000),
        softbounds=(1, 20),
        label="Refinement stride",
        doc="The refinement fits every refine_stride-th time point (and the last) "
        "and interpolates the path in between (1 = every time point).",
    )
    seed = param.Integer(
        0,
        bounds=(0, 2**63 - 1),
        allow_None=True,
        label="Seed",
        doc="Random seed of the trainer (None: fresh entropy).",
    )

    def _check_combination(self) -> None:
        taps = self.refine_taps
        if taps > 1 and taps % 2 == 0:
            raise ValueError(
                f"refine_taps = {taps} is invalid: allowed 0, 1 or odd in "
                f"{format_range(self.param['refine_taps'])} (Refinement low-pass taps)"
            )

    def refines(self, depth: int) -> bool:
        """Whether training a DBM of this ``depth`` ends with the static-path
        refinement (``refine``); ``ValueError`` for ``refine = 'on'`` with depth > 1.
        """
        error = _refine_error(
            self.refine, int(depth), str, self.refine_targets, self.refine_init
        )
        if error:
            raise ValueError(error)
        return self.refine == "on" or (self.refine == "auto" and int(depth) == 0)


# ------------------------------------------------------------------------------------
# Named training protocols: presets applied on top of the param defaults
# ------------------------------------------------------------------------------------

#: The reference protocol of arXiv 1905.12122 (ALGORITHM.md 5.8).
REFERENCE_DBM = dict(
    depth=2,
    conn=4,
    cross_channel=False,
    visible_couplings=False,
    chains=5,
    sweeps_awake=10,
    sweeps_asleep=10,
    persistent_asleep=False,
    sliding_factor=0.5,
)
REFERENCE_TRAIN = dict(
    opt_steps=980,
    extra_end_steps=0,
    window=10,
    move_every=2,
    optimizer="sgd",
    lr=2.5e-6,
    adjoint_variant="reference",
    basis="q3c1",
    spacing=0.1,
    substeps=1,
    data_per_step=5,
    asleep_init="random",
    moment_scale="count",
    init="reference",
    lr_boost=1.0,
)

#: The equilibrium protocol: the default architecture and adjoint phase, refined
#: with chains started from the data so that the model's Boltzmann distribution,
#: not a short sampler, holds the data; evaluated with chains carried along t.
#: Equilibrated (moments after 10 / 100 / 1000 sweeps agree within the noise of
#: exact samples on paper data draws 0 and 1, 400 chains, none condensed) but
#: farther from the data than the default (X 21-26 % against 7-10): one phase at
#: every t, where the late data are a mixture (docs/training.md, "Equilibrium";
#: docs/experiments/23).
EQUILIBRIUM_TRAIN = dict(refine_init="data", refine_sweeps=30)

#: Named protocols: ``name -> (DBMConfig overrides, TrainConfig overrides)`` of the
#: param defaults. ``"default"``, the measured best (docs/training.md), overrides
#: nothing: the param defaults are that protocol.
PROTOCOLS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "reference": (REFERENCE_DBM, REFERENCE_TRAIN),
    "equilibrium": ({}, EQUILIBRIUM_TRAIN),
}


def protocol(name: str, **train_overrides) -> tuple[DBMConfig, TrainConfig]:
    """The named protocol (:data:`PROTOCOLS`) as ``(DBMConfig, TrainConfig)``, with
    ``train_overrides`` applied to its ``TrainConfig``."""
    if name not in PROTOCOLS:
        raise ValueError(
            f"protocol = {name!r} is unknown: allowed {{{', '.join(PROTOCOLS)}}}"
        )
    dbm, train = PROTOCOLS[name]
    return DBMConfig(**dbm), TrainConfig(**{**train, **train_overrides})


def reference_configs(**train_overrides) -> tuple[DBMConfig, TrainConfig]:
    """The reference protocol (ALGORITHM.md 5.8) as ``(DBMConfig, TrainConfig)``.

    Depth 2, q = 4, channel-diagonal, 5 chains, 10 + 10 sweeps, non-persistent random
    asleep chains, SGD lr 2.5e-6 on count moments, 980 steps, window 10 moved every
    2 steps, sliding factor 0.5, theta(0) visible biases -2.63, centers 0.0625 / 0.33,
    Q3 C1 spacing 0.1, the reference adjoint (P1 and its mu conventions).
    """
    return protocol("reference", **train_overrides)


def equilibrium_configs(**train_overrides) -> tuple[DBMConfig, TrainConfig]:
    """The equilibrium protocol (:data:`EQUILIBRIUM_TRAIN`) as ``(DBMConfig,
    TrainConfig)``: the measured defaults with a data-started refinement."""
    return protocol("equilibrium", **train_overrides)


def default_configs(**train_overrides) -> tuple[DBMConfig, TrainConfig]:
    """The measured defaults (docs/training.md) as ``(DBMConfig, TrainConfig)``."""
    return protocol("default", **train_overrides)


# ------------------------------------------------------------------------------------
# Settings that follow the DBM depth, and the combinations that cannot train
# ------------------------------------------------------------------------------------

#: Q3 C1 needs 4**D terms per evaluation of F on a D-dimensional domain: at most this.
Q3C1_MAX_DIMENSIONS = 8

#: The settings that follow the DBM depth: ``depth -> (DBMConfig, TrainConfig)``
#: overrides of the param defaults (which are depth 0's), measured side by side on
#: the same data and seeds (docs/training.md, "Depth"). ``dbdviz train --depth d``
#: and the dashboard's depth widget apply them, except the settings the user gave.
DEPTH_DEFAULTS: dict[int, tuple[dict, dict]] = {
    0: ({}, {}),
    # cross weights: hidden units that see X and Y of one 2 x 2 patch hold the
    # diagonal X-Y pairs (nnnXY 19 % against 44 % without); one awake sweep is
    # exact (the hidden units are independent given the visible layer); the
    # refinement (hidden units by their expectation) matches the scored
    # observables, X, Y and the NN pairs weighted 3x (30 Gauss-Newton iterations;
    # experiments/13); visible diagonal couplings: nnnYY within 1.5x its floor on
    # 4 of 4 data draws (1 without); with the refinement's 50 chains (the param
    # default) 24 of 32 targets against 20 (experiments/18); the fitted path
    # low-passed with 11 taps instead of 31 before F is refitted (the 31-tap
    # low-pass moved nnXX, nnnXX 2-5 points off the data at t >= 300): 26 of 32,
    # all eight on draws 2 and 3 (experiments/21)
    1: (
        {"cross_channel": True, "sweeps_awake": 1, "visible_nnn_couplings": True},
        {
            "basis": "q1",
            "refine": "on",
            "refine_iterations": 30,
            "refine_targets": "observables",
            "refine_nn_weight": 3.0,
            "refine_taps": 11,
        },
    ),
    2: ({}, {"basis": "q1"}),
    3: ({"sweeps_awake": 3}, {"basis": "q1"}),
}


def depth_parameters() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the DBMConfig and TrainConfig parameters that follow the depth
    (every name :data:`DEPTH_DEFAULTS` sets for some depth)."""
    dbm = {n for d, _ in DEPTH_DEFAULTS.values() for n in d}
    train = {n for _, t in DEPTH_DEFAULTS.values() for n in t}
    order = DBMConfig.public_names(), TrainConfig.public_names()
    return tuple(n for n in order[0] if n in dbm), tuple(
        n for n in order[1] if n in train
    )


def depth_defaults(depth: int) -> tuple[dict, dict]:
    """Values of every depth-following parameter (:func:`depth_parameters`) for
    ``depth``: the table's, else the param default."""
    if isinstance(depth, bool) or depth not in DEPTH_DEFAULTS:
        raise ValueError(
            f"depth = {depth!r} is out of range: allowed "
            f"{format_range(DBMConfig.param['depth'])}"
        )
    dbm_over, train_over = DEPTH_DEFAULTS[int(depth)]
    dbm_names, train_names = depth_parameters()
    dbm = {n: dbm_over.get(n, DBMConfig.param[n].default) for n in dbm_names}
    train = {n: train_over.get(n, TrainConfig.param[n].default) for n in train_names}
    return dbm, train


def depth_configs(
    depth: int | None = None,
    dbm_overrides: dict | None = None,
    train_overrides: dict | None = None,
    name=str,
) -> tuple[DBMConfig, TrainConfig]:
    """The defaults for a DBM of ``depth`` hidden layers (param defaults, then
    :data:`DEPTH_DEFAULTS`), then the settings given explicitly; checked with
    :func:`check_training` before it returns.

    ``depth`` None: ``dbm_overrides["depth"]`` if given, else the param default.
    ``name`` names the settings in the combination error (:func:`training_error`).
    """
    dbm_over = dict(dbm_overrides or {})
    if depth is None:
        depth = dbm_over.get("depth", DBMConfig.param["depth"].default)
    dbm_over["depth"] = depth
    dbm_d, train_d = depth_defaults(depth)
    dbm = DBMConfig(**{**dbm_d, **dbm_over})
    train = TrainConfig(**{**train_d, **(train_overrides or {})})
    check_training(dbm, train, name)
    return dbm, train


def _refine_error(
    refine: str, depth: int, name, targets: str = "observables", init: str = "random"
) -> str | None:
    # deeper machines: only the observables' Gauss-Newton from random chains (it
    # needs no data statistics, which the hidden layers would make a sampling)
    if refine == "on" and depth > 1 and (targets != "observables" or init != "random"):
        return (
            f"{name('refine')} = 'on' with {name('depth')} = {depth} > 1 needs "
            f"{name('refine_targets')} = 'observables' and {name('refine_init')} = "
            f"'random' (got {targets!r}, {init!r}): the data's parameter statistics "
            "of a machine with more than one hidden layer are not exact; allowed "
            f"{name('refine')} = {format_range(TrainConfig.param['refine'])}"
        )
    return None


def training_error(dbm: DBMConfig, train: TrainConfig, name=str) -> str | None:
    """The first combination of settings that cannot train, as one plain-text line
    naming the settings through ``name(parameter)`` (the CLI's options, the
    dashboard's widget labels), or None.

    Checked: the Q3 C1 basis on a domain of more than
    :data:`Q3C1_MAX_DIMENSIONS` dimensions, ``refine = 'on'`` with hidden layers.
    """
    D = dbm.domain_size()
    if train.basis == "q3c1" and D > Q3C1_MAX_DIMENSIONS:
        parts = [f"{name('depth')} = {dbm.depth}"]
        if dbm.visible_couplings:
            parts.append(f"{name('visible_couplings')} = True")
        if dbm.cross_channel:
            parts.append(f"{name('cross_channel')} = True")
        return (
            f"{name('basis')} = 'q3c1' cannot be used with {' and '.join(parts)}: "
            f"F then has a {D}-dimensional domain and Q3 C1 needs 4^{D} = "
            f"{4**D} terms per evaluation (allowed at most "
            f"{Q3C1_MAX_DIMENSIONS} dimensions); use {name('basis')} = 'q1' "
            f"(2^{D} = {2**D} terms) or fewer hidden layers"
        )
    return _refine_error(
        train.refine, int(dbm.depth), name, train.refine_targets, train.refine_init
    )


def check_training(dbm: DBMConfig, train: TrainConfig, name=str) -> None:
    """``ValueError`` with :func:`training_error`'s message, if any."""
    error = training_error(dbm, train, name)
    if error:
        raise ValueError(error)
