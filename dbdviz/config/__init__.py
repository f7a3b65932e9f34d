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

from .base import Config, format_range
from .evaluation import EvalConfig
from .lattice import PRESET_NOTES, PRESETS, LatticeLV, preset
from .serve import ServeLimits
from .training import (
    DEPTH_DEFAULTS,
    EQUILIBRIUM_TRAIN,
    PROTOCOLS,
    REFERENCE_DBM,
    REFERENCE_TRAIN,
    DBMConfig,
    TrainConfig,
    check_training,
    default_configs,
    depth_configs,
    depth_defaults,
    depth_parameters,
    equilibrium_configs,
    protocol,
    reference_configs,
    training_error,
)

__all__ = [
    "Config",
    "LatticeLV",
    "DBMConfig",
    "TrainConfig",
    "EvalConfig",
    "ServeLimits",
    "DEPTH_DEFAULTS",
    "depth_parameters",
    "depth_defaults",
    "depth_configs",
    "training_error",
    "check_training",
    "PRESETS",
    "PRESET_NOTES",
    "preset",
    "PROTOCOLS",
    "protocol",
    "default_configs",
    "reference_configs",
    "equilibrium_configs",
    "EQUILIBRIUM_TRAIN",
    "REFERENCE_DBM",
    "REFERENCE_TRAIN",
    "format_range",
]
