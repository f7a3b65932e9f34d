"""Lattice deep Boltzmann machine (ALGORITHM.md section 3).

``DBM`` (architecture, parameters, sampling, statistics), ``warmup`` (compile every
kernel) and ``fit_static`` (static learning of one theta from snapshots).
"""

from .model import DBM, PAPER_VISIBLE_BIAS, warmup
from .static import StaticFit, fit_static

__all__ = ["DBM", "PAPER_VISIBLE_BIAS", "warmup", "fit_static", "StaticFit"]
