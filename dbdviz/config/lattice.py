"""The lattice Lotka-Volterra model and its simulation settings (:class:`LatticeLV`),
with the named presets (:data:`PRESETS`, :func:`preset`)."""

from __future__ import annotations

from typing import Any

import param

from .base import Config

__all__ = ["LatticeLV", "PRESETS", "PRESET_NOTES", "preset"]


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
    # Teaching regimes (issue 17), measured with 40 replicates, seed 1: three X
    # peaks in 300 steps (paper: two in 500).
    "fast-oscillations": dict(
        size=40,
        birth=0.08,
        death=0.15,
        predation=0.6,
        init_x=150,
        init_y=100,
        dt=1.0,
        steps=300,
        replicates=100,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
    # Y = 0 at t = 500 in 40 of 40 replicates.
    "predator-extinction": dict(
        size=40,
        birth=0.025,
        death=0.15,
        predation=0.2,
        init_x=100,
        init_y=100,
        dt=1.0,
        steps=500,
        replicates=100,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
    # Mean-field NRMSE X/Y 28/31 % (paper: 84/98 %).
    "weak-coupling": dict(
        size=40,
        birth=0.01,
        death=0.02,
        predation=0.1,
        init_x=300,
        init_y=150,
        dt=1.0,
        steps=500,
        replicates=100,
        pick_mode="nested_permutation",
        birth_mode="global",
    ),
}

#: One line per preset: what it shows (the dashboard prints it under the preset box).
PRESET_NOTES: dict[str, str] = {
    "paper": "The paper's case: slow, damped oscillations; both closures miss them.",
    "demo": "The paper's rates on a small lattice: quick, noisy.",
    "large": "The paper's rates on 100 x 100: patches, slower to simulate.",
    "fast-oscillations": "Faster births and deaths, likelier predation: three "
    "cycles in 300 steps.",
    "predator-extinction": "Predators die faster than they catch prey: Y dies out, "
    "X fills the lattice.",
    "weak-coupling": "Rare, slow reactions between many hops: the lattice stays "
    "mixed and mean field comes close.",
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
