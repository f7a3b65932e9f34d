"""Configuration objects: one definition per parameter.

Each parameter is declared once, as a ``param`` parameter with bounds, a readable
label and a doc string. The same objects validate API calls, generate the CLI options
(``dbdviz.cli``), are stored in file sidecars (``dbdviz.io``) and become dashboard
widgets through ``pn.Param`` (``dbdviz.ui``).

Validation raises ``ValueError`` naming the parameter and its allowed range, before
any work starts::

    >>> LatticeLV(birth=-1)
    Traceback (most recent call last):
    ValueError: birth = -1 is out of range: allowed [0, 10] (birth rate ...)
"""

from __future__ import annotations

import json
import math
from typing import Any

import param

__all__ = [
    "Config",
    "LatticeLV",
    "DBMConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "format_range",
]


def format_range(p: param.Parameter) -> str:
    """Human-readable allowed range of a parameter, e.g. ``[0, 1]`` or ``{a, b}``."""
    if isinstance(p, param.Selector):
        return "{" + ", ".join(str(o) for o in p.objects) + "}"
    if isinstance(p, param.Boolean):
        return "{True, False}"
    bounds = getattr(p, "bounds", None)
    if bounds is None:
        return "any value"
    lo, hi = bounds
    incl = getattr(p, "inclusive_bounds", (True, True))
    left = ("[" if incl[0] else "(") if lo is not None else "("
    right = ("]" if incl[1] else ")") if hi is not None else ")"
    los = "-inf" if lo is None else _num(lo)
    his = "inf" if hi is None else _num(hi)
    return f"{left}{los}, {his}{right}"


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 2**64:
        return str(int(v))
    return f"{v:g}"


class Config(param.Parameterized):
    """Base class: uniform error messages, dict/JSON round trip, cross checks.

    Subclasses add cross-parameter checks in :meth:`_check_combination`.
    """

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.param) - {"name"})
        if unknown:
            raise ValueError(
                f"unknown parameter(s) for {type(self).__name__}: "
                f"{', '.join(unknown)}; "
                f"allowed: {', '.join(self.public_names())}"
            )
        for k, v in params.items():
            if k != "name":
                self._check_one(k, v)
        try:
            super().__init__(**params)
        except ValueError as exc:  # param's own message, re-worded with the range
            raise self._range_error_from(exc, params) from None
        self.validate()

    # -- introspection -------------------------------------------------------------
    @classmethod
    def public_names(cls) -> list[str]:
        """Names of the user-facing parameters, in declaration order."""
        return [n for n in cls.param if n != "name"]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of parameter values (JSON-serialisable)."""
        return {n: getattr(self, n) for n in self.public_names()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        """Build from a dict, ignoring keys this version does not know."""
        known = set(cls.public_names())
        return cls(**{k: v for k, v in d.items() if k in known})

    def copy(self, **changes: Any) -> Config:
        """A validated copy with some parameters changed."""
        d = self.to_dict()
        d.update(changes)
        return type(self)(**d)

    # -- validation ----------------------------------------------------------------
    def _check_one(self, name: str, value: Any) -> None:
        p = self.param[name]
        label = p.label or name
        rng = format_range(p)
        if isinstance(p, param.Boolean):
            if not isinstance(value, bool):
                raise ValueError(
                    f"{name} = {value!r} is invalid: allowed {{True, False}}"
                )
            return
        if isinstance(p, param.Selector):
            if value not in p.objects:
                raise ValueError(
                    f"{name} = {value!r} is invalid: allowed {rng} ({label})"
                )
            return
        if isinstance(p, param.Number):
            if value is None:
                if p.allow_None:
                    return
                raise ValueError(
                    f"{name} must be a number in {format_range(p)}, got None"
                )
            if isinstance(value, bool):  # True is an int to Python, not to users
                raise ValueError(
                    f"{name} = {value!r} is not a number: allowed {rng} ({label})"
                )
            if not isinstance(value, (int, float)):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{name} = {value!r} is not a number: allowed {rng} ({label})"
                    ) from None
            if isinstance(p, param.Integer) and not float(value).is_integer():
                raise ValueError(
                    f"{name} = {value!r} must be an integer in {rng} ({label})"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(
                    f"{name} = {value} is not finite: allowed {rng} ({label})"
                )
            lo, hi = p.bounds if p.bounds is not None else (None, None)
            incl = p.inclusive_bounds
            bad = (
                lo is not None and (value < lo or (value == lo and not incl[0]))
            ) or (hi is not None and (value > hi or (value == hi and not incl[1])))
            if bad:
                raise ValueError(
                    f"{name} = {value} is out of range: allowed {rng} ({label})"
                )

    def _range_error_from(self, exc: Exception, params: dict[str, Any]) -> ValueError:
        for k in params:
            if f"'{k}'" in str(exc) or f".{k}'" in str(exc):
                return ValueError(
                    f"{k} = {params[k]!r} is invalid: "
                    f"allowed {format_range(self.param[k])}"
                )
        return ValueError(str(exc))

    def validate(self) -> None:
        """Check every parameter and their combination; raise ``ValueError``."""
        for n in self.public_names():
            self._check_one(n, getattr(self, n))
        self._check_combination()

    def _check_combination(self) -> None:  # pragma: no cover - overridden
        pass


# ------------------------------------------------------------------------------------
# The lattice Lotka-Volterra model
# ------------------------------------------------------------------------------------


class LatticeLV(Config):
    """Lattice Lotka-Volterra model and simulation settings.

    Prey X, predator Y, single occupancy on a periodic ``size x size`` lattice.
    Reactions (ALGORITHM.md section 1): birth 0 -> X with global propensity
    ``birth * max(n_X, 1)`` (quirk Q1) placed on a random empty site; death Y -> 0
    with propensity ``death * n_Y``; every molecule attempts one hop per step and an
    X-Y collision turns the X into a Y with probability ``predation``.
    """

    size = param.Integer(
        40,
        bounds=(3, 1000),
        softbounds=(10, 200),
        label="Lattice side L",
        doc="Lattice side L (the lattice has L x L periodic sites).",
    )
    birth = param.Number(
        0.025,
        bounds=(0.0, 10.0),
        softbounds=(0.0, 0.2),
        label="Birth rate (0 -> X)",
        doc="Birth rate kr1 of 0 -> X, per X (propensity kr1 * max(n_X, 1)).",
    )
    death = param.Number(
        0.06,
        bounds=(0.0, 10.0),
        softbounds=(0.0, 0.3),
        label="Death rate (Y -> 0)",
        doc="Death rate kr2 of Y -> 0, per Y.",
    )
    predation = param.Number(
        0.4,
        bounds=(0.0, 1.0),
        label="Predation probability (X + Y -> 2Y)",
        doc="Predation probability p3 of X + Y -> Y + Y per X-Y collision.",
    )
    init_x = param.Integer(
        100,
        bounds=(0, None),
        softbounds=(0, 800),
        label="Initial X",
        doc="Initial number of prey X, placed at random empty sites.",
    )
    init_y = param.Integer(
        100,
        bounds=(0, None),
        softbounds=(0, 800),
        label="Initial Y",
        doc="Initial number of predators Y, placed at random empty sites after X.",
    )
    dt = param.Number(
        1.0,
        bounds=(0.0, 100.0),
        inclusive_bounds=(False, True),
        label="Time step dt",
        doc="Time step dt: one hop sweep per step; unimolecular events in "
        "continuous time.",
    )
    steps = param.Integer(
        500,
        bounds=(1, 1_000_000),
        softbounds=(10, 2000),
        label="Steps",
        doc="Number of steps; moments are recorded at t = 0, dt, ..., steps * dt.",
    )
    replicates = param.Integer(
        100,
        bounds=(1, 1_000_000),
        softbounds=(1, 2000),
        label="Replicates",
        doc="Number of independent replicates.",
    )
    seed = param.Integer(
        0,
        bounds=(0, 2**63 - 1),
        allow_None=True,
        label="Seed",
        doc="Random seed (None: fresh entropy). Same seed, same ensemble.",
    )
    pick_mode = param.Selector(
        default="nested_permutation",
        objects=["nested_permutation", "uniform"],
        label="Random site picks",
        doc="How 'random' sites are picked: the reference's nested permutation scan "
        "(quirk Q3) or uniformly.",
    )
    birth_mode = param.Selector(
        default="global",
        objects=["global", "local"],
        label="Birth placement",
        doc="Where a newborn X goes: 'global' = any random empty site (reference, Q1); "
        "'local' = a random empty neighbour of a random X (X -> X + X).",
    )
    snapshots = param.Boolean(
        True,
        label="Keep snapshots",
        doc="Keep the full lattice at every time point (uint8, replicates x times "
        "x L x L).",
    )

    def _check_combination(self) -> None:
        n_sites = self.size * self.size
        if self.init_x + self.init_y > n_sites:
            raise ValueError(
                f"init_x + init_y = {self.init_x + self.init_y} exceeds the number of "
                f"sites size**2 = {n_sites}: allowed init_x + init_y in [0, {n_sites}]"
            )
        if self.snapshots:
            nbytes = self.replicates * (self.steps + 1) * n_sites
            if nbytes > 8 * 2**30:
                raise ValueError(
                    f"snapshots would need {nbytes / 2**30:.1f} GiB (replicates x "
                    f"(steps + 1) x size**2 bytes); allowed at most 8 GiB: set "
                    f"snapshots=False (CLI --no-snapshots) or reduce replicates/steps"
                )

    @property
    def n_sites(self) -> int:
        return self.size * self.size

    @property
    def times(self):
        import numpy as np

        return np.arange(self.steps + 1) * self.dt


PRESETS: dict[str, dict[str, Any]] = {
    # arXiv 1905.12122 (CONTRACTS.md): reference semantics, 40 x 40, 500 steps,
    # 100 replicates.
    "paper": dict(
        size=40,
        birth=0.025,
        death=0.06,
        predation=0.4,
        init_x=100,
        init_y=100,
        dt=1.0,
        steps=500,
        replicates=100,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
    # Small and quick, for classrooms and tests.
    "demo": dict(
        size=20,
        birth=0.025,
        death=0.06,
        predation=0.4,
        init_x=25,
        init_y=25,
        dt=1.0,
        steps=300,
        replicates=50,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
    # The alternative regime listed in the reference main.cpp comments.
    "large": dict(
        size=100,
        birth=0.025,
        death=0.06,
        predation=0.4,
        init_x=625,
        init_y=625,
        dt=1.0,
        steps=500,
        replicates=100,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
}


def preset(name: str, **overrides: Any) -> LatticeLV:
    """A :class:`LatticeLV` for a named preset, with optional overrides."""
    if name not in PRESETS:
        raise ValueError(
            f"preset = {name!r} is unknown: allowed {{{', '.join(PRESETS)}}}"
        )
    d = dict(PRESETS[name])
    d.update({k: v for k, v in overrides.items() if v is not None})
    return LatticeLV(**d)


# ------------------------------------------------------------------------------------
# The deep Boltzmann machine
# ------------------------------------------------------------------------------------


class DBMConfig(Config):
    """Architecture and sampling settings of the lattice DBM (ALGORITHM.md section 3).

    ``depth`` hidden layers of L x L multinomial units (channels A, B per layer) above
    a visible layer (empty, X, Y); inter-layer weights through a ``conn`` patch
    (4 = 2 x 2, 9 = 3 x 3) with wrap.
    """

    depth = param.Integer(
        2,
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
        False,
        label="Visible NN couplings",
        doc="Add nearest-neighbour couplings J_XX, J_XY, J_YY on the visible layer.",
    )
    chains = param.Integer(
        5,
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
        10,
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
    sliding_factor = param.Number(
        0.5,
        bounds=(0.0, 1.0),
        label="Center sliding factor",
        doc="Sliding factor sigma of the center update "
        "mu <- (1 - sigma) mu + sigma mu_new.",
    )

    def _check_combination(self) -> None:
        pass

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
    refine = param.Selector(
        default="auto",
        objects=["auto", "on", "off"],
        label="Refine the closure",
        doc="After the adjoint steps, refine the learned closure on the data "
        "(static-path refinement, dbdviz.dbd.refine: theta fitted per time point by "
        "moment matching, F refitted to that path; refine_iterations + 1 more "
        "steps): 'auto' refines fully visible machines (depth 0) only, 'on' needs "
        "depth 0, 'off' never refines.",
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

    def refines(self, depth: int) -> bool:
        """Whether training a DBM of this ``depth`` ends with the static-path
        refinement (``refine``); ``ValueError`` for ``refine = 'on'`` with depth > 0.
        """
        if self.refine == "on" and int(depth) != 0:
            raise ValueError(
                f"refine = 'on' needs a fully visible machine (depth 0), got "
                f"depth = {int(depth)}: allowed {format_range(self.param['refine'])} "
                "('auto' refines depth 0 only)"
            )
        return self.refine == "on" or (self.refine == "auto" and int(depth) == 0)
