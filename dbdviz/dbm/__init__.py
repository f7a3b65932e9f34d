"""Lattice deep Boltzmann machine (ALGORITHM.md section 3).

``DBM`` (architecture, parameters, sampling, statistics), ``snapshot_statistics``
(the statistics of lattices) and ``fit_static`` (static learning of one theta from
snapshots). Its kernels compile with ``dbdviz._warmup.warmup("dbm")``.
"""

from .model import DBM, PAPER_VISIBLE_BIAS, snapshot_statistics
from .static import StaticFit, fit_static

__all__ = [
    "DBM",
    "PAPER_VISIBLE_BIAS",
    "snapshot_statistics",
    "fit_static",
    "StaticFit",
]
