"""Classical moment closures of the lattice Lotka-Volterra simulator.

One module per closure behind a registry (docs/hierarchy.md):

``mean-field``  counts X, Y; pairs of a random placement (:mod:`.mean_field`)
``pair``        counts and nearest-neighbour pairs; triplets closed (:mod:`.pair`)

Both iterate the expected one-step map of the simulator's actual step
(:mod:`.hierarchy`) on the simulator grid and return a
:class:`~dbdviz.moments.MomentTable` (no ``sd``, ``n = None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import LatticeLV
from ..moments import MomentTable
from ._ode import ClosureError
from .mean_field import fixed_point, interaction_rate, mean_field, oscillation_period
from .pair import pair_approximation

__all__ = [
    "CLOSURES",
    "ClosureError",
    "solve",
    "mean_field",
    "pair_approximation",
    "fixed_point",
    "oscillation_period",
    "interaction_rate",
]

#: Registered closures: name -> function(config, t=None, **opts) -> MomentTable.
CLOSURES = {
    "mean-field": mean_field,
    "pair": pair_approximation,
}


def solve(
    method: str, config: LatticeLV, t: np.ndarray | None = None, **opts: Any
) -> MomentTable:
    """Integrate the closure ``method`` for ``config``.

    Parameters
    ----------
    method : {"mean-field", "pair"}
    config : LatticeLV
    t : ndarray of float64, optional
        Output times from 0; default the simulator grid ``0 .. steps * dt``.
    **opts
        Passed to the closure (``y0`` for ``pair``).

    Raises
    ------
    ValueError
        Unknown method (the message lists the allowed ones), bad config or options.
    ClosureError
        A step left the physical range (a ``ValueError``).
    """
    if method not in CLOSURES:
        raise ValueError(
            f"method = {method!r} is unknown: allowed {{{', '.join(CLOSURES)}}}"
        )
    return CLOSURES[method](config, t=t, **opts)
