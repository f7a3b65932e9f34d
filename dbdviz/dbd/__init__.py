"""Dynamic Boltzmann distributions (ALGORITHM.md sections 4-7).

Finite elements (``basis``), theta(t) (``dynamics``), adjoint gradients (``adjoint``),
optimisers (``optim``), the learned model (``model``); training: the loop
(``train``), one window's awake/asleep phases and adjoint (``window``), the
refinement phase (``refine``), what a step reports (``records``), checkpoints
(``checkpoint``); evaluation (``evaluate``); one model from several ensembles and its
predictions (``multi``, ``kernel``, ``predict``); the 1-D sanity model (``onedim``).
"""

from functools import partial

from .._warmup import warmup as _warmup
from .adjoint import (
    AdjointResult,
    WeightStructure,
    adjoint,
    adjoint_gradient,
    center_dE,
    coefficient_gradient,
    reference_domain,
    uncenter_dE,
)
from .basis import FiniteElements, SparseGradient
from .dynamics import Integrator, Trajectory, integrate
from .evaluate import (
    Evaluation,
    evaluate,
    lowpass,
    moment_derivative,
    sample_trajectory,
)
from .kernel import KernelRHS
from .model import DBDModel
from .optim import SGD, Adam, make_optimizer
from .predict import ExtrapolationWarning, Prediction, predict, train_multi
from .records import ProgressRecord, TrainingDiverged, WindowResult
from .refine import StaticRefiner, refine_static
from .train import (
    Trainer,
    auto_opt_steps,
    default_configs,
    equilibrium_configs,
    reference_configs,
    schedule,
)

#: ``dbdviz._warmup.warmup()``: compile every kernel (``panel serve --setup
#: apps/warmup.py`` finds it here); ``adjoint_warmup`` and ``train_warmup`` compile
#: the finite elements and adjoint, and the trainer.
warmup = _warmup
adjoint_warmup = partial(_warmup, "basis")
train_warmup = partial(_warmup, "dbm", "basis", "train")


__all__ = [
    "train_multi",
    "predict",
    "Prediction",
    "ExtrapolationWarning",
    "KernelRHS",
    "FiniteElements",
    "SparseGradient",
    "Trajectory",
    "integrate",
    "Integrator",
    "WeightStructure",
    "AdjointResult",
    "adjoint",
    "adjoint_gradient",
    "coefficient_gradient",
    "center_dE",
    "uncenter_dE",
    "reference_domain",
    "SGD",
    "Adam",
    "make_optimizer",
    "Evaluation",
    "evaluate",
    "lowpass",
    "moment_derivative",
    "sample_trajectory",
    "warmup",
    "DBDModel",
    "refine_static",
    "StaticRefiner",
    "Trainer",
    "ProgressRecord",
    "WindowResult",
    "TrainingDiverged",
    "schedule",
    "auto_opt_steps",
    "default_configs",
    "equilibrium_configs",
    "reference_configs",
    "train_warmup",
    "adjoint_warmup",
]
