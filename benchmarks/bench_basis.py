"""Speed of the finite elements, forward Euler, adjoint and optimiser (dbdviz.dbd).

Reference sizes: P = 10 functions on a D = 6 domain (Q3 C1: 64 coefficients per
vertex and function), trajectories of 500 steps, windows of 11 timepoints, and the
default protocol of 980 optimisation steps with the horizon growing from 10 to 499
(ALGORITHM.md 5.6-5.7). The FE part of one training step is: re-integrate theta
over the horizon, adjoint + gradient accumulation on the window, one SGD update.

Run: ``python benchmarks/bench_basis.py``; prints a Markdown table.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from dbdviz.dbd import (  # noqa: E402
    SGD,
    Adam,
    FiniteElements,
    Integrator,
    WeightStructure,
    adjoint_gradient,
    integrate,
    reference_domain,
    warmup,
)

THETA0 = np.array([-2.63, -2.63, 0, 0, 0, 0, 0, 0, 0, 0.0])
DOMAIN = reference_domain()
WEIGHTS = WeightStructure.channel_diagonal(3)


def _best(f, n: int, rep: int = 5) -> float:
    """Best-of-``rep`` mean seconds per call."""
    f()
    best = np.inf
    for _ in range(rep):
        t = time.perf_counter()
        for _ in range(n):
            f()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def _drifting_store(kind: str) -> FiniteElements:
    """A store whose F is a constant drift along a 500-step path (crosses ~50 cells
    per dimension pair), so the trajectory visits many allocated cells."""
    fe = FiniteElements(10, 0.1, THETA0[DOMAIN] - 0.05, kind=kind)
    drift = np.array(
        [-0.002, -0.0015, 0.001, 0.0005, -0.0008, 0.0003, 0.003, 0.002, -0.0035, -0.002]
    )
    path = THETA0 + np.arange(501)[:, None] * drift
    fe.accumulate(path[:, DOMAIN], np.ones((501, 10)))
    fe._coef[: fe.n_vertices, 0, :] = drift  # value slots: F = drift, derivatives 0
    return fe


def _bench(kind: str) -> list[tuple[str, str, str]]:
    """Table rows for one element kind."""
    fe = _drifting_store(kind)
    traj = integrate(fe, THETA0, 500, domain=DOMAIN)
    x = traj.x
    rng = np.random.default_rng(0)
    xr = x[rng.integers(0, 501, 500)]  # same points, random order (no cell reuse)
    t_eval = _best(lambda: fe.evaluate(x), 5) / 500
    t_eval_r = _best(lambda: fe.evaluate(xr), 5) / 500
    t_grad = _best(lambda: fe.gradient(x[:11]), 20) / 11
    t_int = _best(lambda: integrate(fe, THETA0, 500, domain=DOMAIN), 5)
    mu = np.full((501, 3, 2), 0.3)
    dE = rng.normal(size=(501, 10)) * 10
    t_adj = _best(
        lambda: adjoint_gradient(
            fe, traj.theta, dE, 489, 499, domain=DOMAIN, mu=mu, weights=WEIGHTS
        ),
        20,
    )
    _, g = adjoint_gradient(
        fe, traj.theta, dE, 489, 499, domain=DOMAIN, mu=mu, weights=WEIGHTS
    )
    sgd, adam = SGD(1e-9), Adam(1e-9)
    t_sgd = _best(lambda: sgd.step(fe, g), 50)
    t_adam = _best(lambda: adam.step(fe, g), 50)

    # the FE part of the whole default protocol (980 steps, growing horizon), with
    # full re-integration every step and with the cached Integrator
    t_proto = {}
    for mode in ("full", "cached"):
        fe2 = _drifting_store(kind)
        opt = SGD(1e-9)
        integ = Integrator(fe2, THETA0, domain=DOMAIN)
        t0 = time.perf_counter()
        T, tau0 = 10, 0
        for s in range(1, 981):
            if s > 2 and s % 2 == 1:
                T += 1
                tau0 += 1
            if mode == "full":
                tr = integrate(fe2, THETA0, T, domain=DOMAIN)
            else:
                tr = integ.trajectory(T)
            _, g2 = adjoint_gradient(
                fe2,
                tr.theta,
                dE[: T + 1],
                tau0,
                T,
                domain=DOMAIN,
                mu=mu[: T + 1],
                weights=WEIGHTS,
            )
            opt.step(fe2, g2)
            integ.mark_updated(g2.rows)
        t_proto[mode] = time.perf_counter() - t0
    return [
        (
            kind,
            "evaluate 10 functions at a point (trajectory order)",
            f"{1 / t_eval:,.0f} /s ({t_eval * 1e6:.1f} us)",
        ),
        (
            kind,
            "evaluate 10 functions at a point (random order)",
            f"{1 / t_eval_r:,.0f} /s ({t_eval_r * 1e6:.1f} us)",
        ),
        (
            kind,
            "values + 6-D gradients of 10 functions at a point",
            f"{t_grad * 1e6:.1f} us",
        ),
        (kind, "forward Euler, 500 steps", f"{t_int * 1e3:.2f} ms"),
        (
            kind,
            "adjoint + gradient accumulation, 11-point window",
            f"{t_adj * 1e3:.2f} ms ({g.n_touched} vertices)",
        ),
        (
            kind,
            "SGD / Adam update of that gradient",
            f"{t_sgd * 1e3:.3f} / {t_adam * 1e3:.3f} ms",
        ),
        (
            kind,
            "FE part of the 980-step protocol, full re-integration every step",
            f"{t_proto['full']:.2f} s ({t_proto['full'] / 980 * 1e3:.2f} ms/step)",
        ),
        (
            kind,
            "same with the cached Integrator (bitwise identical trajectories)",
            f"{t_proto['cached']:.2f} s ({t_proto['cached'] / 980 * 1e3:.2f} ms/step)",
        ),
    ]


def main() -> None:
    warmup()
    rows = []
    for kind in ("q3c1", "q1"):
        rows += _bench(kind)
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, "
        f"date {time.strftime('%Y-%m-%d')}\n"
    )
    print("| element | operation | time |")
    print("|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
