"""Lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

>>> from dbdviz.simulate import simulate
>>> ens = simulate(replicates=4, steps=20, seed=1)   # the ``paper`` preset otherwise
>>> ens.moments().mean["X"][:3]                     # doctest: +SKIP
"""

from .lattice import (
    Cancelled,
    Ensemble,
    check_memory,
    memory_estimate,
    simulate,
    warmup,
)

__all__ = [
    "simulate",
    "Ensemble",
    "warmup",
    "Cancelled",
    "memory_estimate",
    "check_memory",
]
