"""Compile every numba kernel of the package on tiny inputs (STYLE.md: compile latency
is a user-visible cost).

:func:`warmup` compiles (or loads from numba's cache, ``cache=True``) the kernels of
the named parts, all of them by default. ``dbdviz simulate`` and ``dbdviz serve``
call it, ``panel serve --setup apps/warmup.py`` through ``dbdviz.dbd.warmup``, the
tests' fixtures and the benchmarks directly. It sits above the core (it imports the
simulator, the DBM and the trainer inside the function), so no core module imports
it; ``dbdviz.simulate.warmup`` and ``dbdviz.dbd.warmup`` are this function.
"""

from __future__ import annotations

__all__ = ["warmup", "PARTS"]

#: The parts :func:`warmup` knows, in the order it compiles them.
PARTS = ("simulate", "dbm", "basis", "train", "evaluate")


def warmup(*parts: str) -> None:
    """Compile the kernels of ``parts`` (default: all of :data:`PARTS`).

    Parameters
    ----------
    *parts : {"simulate", "dbm", "basis", "train", "evaluate"}
        ``"simulate"``: the lattice simulator (both pick modes' code paths run in
        one kernel); ``"dbm"``: Gibbs sweeps (clamped and free), final
        probabilities, statistics; ``"basis"``: finite elements (Q3 C1 and Q1),
        Euler integration, both adjoint variants, SGD and Adam; ``"train"``: a
        trainer at depth 0 with couplings (Adam, with the refinement) and at depth 1
        with cross weights (SGD); ``"evaluate"``: the evaluation sampler (random and
        carried chains, both covariance sources).

    Raises
    ------
    ValueError
        An unknown part.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(
            f"warmup part(s) {', '.join(map(repr, unknown))} unknown: allowed "
            f"{{{', '.join(PARTS)}}}"
        )
    chosen = set(parts or PARTS)
    for name in PARTS:
        if name in chosen:
            _PARTS[name]()


def _simulate() -> None:
    from .config import LatticeLV
    from .simulate.lattice import simulate

    simulate(LatticeLV(size=4, init_x=3, init_y=3, steps=3, replicates=2, seed=0))


def _dbm() -> None:
    from .config import DBMConfig
    from .dbm.model import DBM

    dbm = DBM(DBMConfig(depth=1, visible_couplings=True), 4)
    theta = dbm.initial_theta()
    s = dbm.init_chains(2, 0)
    dbm.sample(theta, s, 1, seed=0)
    dbm.sample(theta, s, 1, seed=1, clamp=s[:, 0])
    p = dbm.final_probabilities(theta, s)
    dbm.param_statistics(s)
    dbm.param_statistics(p)
    dbm.clamped_statistics(theta, s)
    from .dbm import tempering

    states, ladder = tempering.init_tempered(dbm, theta, 1, 2, seed=2)
    tempering.sample_tempered(
        dbm, theta, states, ladder, 2, strength=tempering.strengths(2), seed=3
    )


def _basis() -> None:
    import numpy as np

    from .dbd.adjoint import (
        VARIANTS,
        WeightStructure,
        adjoint_gradient,
        reference_domain,
    )
    from .dbd.basis import FiniteElements
    from .dbd.dynamics import Integrator, integrate
    from .dbd.optim import SGD, Adam

    ws = WeightStructure.channel_diagonal(2, 1, q=4.0)
    dom = reference_domain(2, 1)
    for kind in ("q3c1", "q1"):
        fe = FiniteElements(3, 0.1, -0.05, dim=2, kind=kind, capacity=4)
        traj = integrate(fe, np.zeros(3), 3, domain=dom)
        integ = Integrator(fe, np.zeros(3), domain=dom)
        integ.trajectory(3)
        integ.mark_updated([0])
        integ.trajectory(3)
        fe.evaluate(traj.x)
        fe.basis(traj.x[0])
        fe.find(np.zeros((1, 2), np.int64))
        dE = np.ones((4, 3))
        for variant in VARIANTS:
            _, g = adjoint_gradient(
                fe,
                traj.theta,
                dE,
                0,
                3,
                domain=dom,
                mu=np.full((4, 2), 0.3),
                weights=ws,
                variant=variant,
            )
        SGD(1e-3).step(fe, g)
        Adam(1e-3).step(fe, g)
        fe.reserve(2 * fe.capacity)


def _train() -> None:
    import numpy as np

    from .config import DBMConfig, LatticeLV, TrainConfig
    from .dbd.train import Trainer
    from .simulate.lattice import Ensemble

    L, T, R = 4, 3, 2
    rng = np.random.default_rng(0)
    snaps = rng.integers(0, 3, size=(R, T + 1, L, L)).astype(np.uint8)
    cfg = LatticeLV(size=L, init_x=2, init_y=2, steps=T, replicates=R)
    ens = Ensemble(
        cfg, 0, np.arange(T + 1.0), np.zeros((R, T + 1, 11), np.int64), snaps
    )
    for dc, opt in (
        (DBMConfig(depth=0, visible_couplings=True, chains=2), "adam"),
        (
            DBMConfig(depth=1, cross_channel=True, visible_couplings=False, chains=2),
            "sgd",
        ),
    ):
        # depth 0 refines ("auto"): the refinement's sampler and fit compile too
        tc = TrainConfig(
            opt_steps=2,
            window=2,
            optimizer=opt,
            lr=1e-4,
            refine_iterations=1,
            refine_chains=2,
        )
        Trainer(ens, dc, tc, seed=0).run()


def _evaluate() -> None:
    import numpy as np

    from .config import DBMConfig
    from .dbd.evaluate import sample_trajectory
    from .dbm.model import DBM

    for cfg in (
        DBMConfig(depth=1, visible_couplings=False),
        DBMConfig(depth=0, visible_couplings=True),
    ):
        dbm = DBM(cfg, 4)
        theta = np.tile(dbm.initial_theta(), (2, 1))
        for init in ("random", "carry"):
            sample_trajectory(dbm, theta, chains=2, sweeps=1, init=init, burn_in=None)
        sample_trajectory(dbm, theta, chains=2, sweeps=1, cov_from="states")


_PARTS = {
    "simulate": _simulate,
    "dbm": _dbm,
    "basis": _basis,
    "train": _train,
    "evaluate": _evaluate,
}
