"""dbdviz: physics-based machine learning of stochastic reaction networks.

Simulate a lattice Lotka-Volterra system, measure its moments, close the moment
hierarchy classically (mean field, pair approximation) and learn a closure from data
with dynamic Boltzmann distributions. See ``README.md`` and ``docs/``.
"""

from ._version import __version__

__all__ = ["__version__", "sweep"]


def __getattr__(name: str):
    # dbdviz.sweep(...) without importing xarray with the package
    if name == "sweep":
        from .sweeps import sweep

        return sweep
    raise AttributeError(f"module 'dbdviz' has no attribute {name!r}")
