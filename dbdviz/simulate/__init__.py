"""Lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

>>> from dbdviz.simulate import simulate
>>> ens = simulate(replicates=4, steps=20, seed=1)   # the ``paper`` preset otherwise
>>> ens.moments().mean["X"][:3]                     # doctest: +SKIP
"""

from functools import partial

from .._warmup import warmup as _warmup
from .lattice import (
    Cancelled,
    Ensemble,
    check_memory,
    memory_estimate,
    simulate,
)

#: ``dbdviz._warmup.warmup("simulate")``: compile the simulator's kernels.
warmup = partial(_warmup, "simulate")

__all__ = [
    "simulate",
    "Ensemble",
    "warmup",
    "Cancelled",
    "memory_estimate",
    "check_memory",
]
