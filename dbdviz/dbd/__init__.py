"""Dynamic Boltzmann distributions: finite-element dynamics of the DBM parameters,
adjoint gradients, optimisers and the 1-D sanity model (ALGORITHM.md sections 4-7)."""

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
from .adjoint import warmup as adjoint_warmup
from .basis import FiniteElements, SparseGradient
from .dynamics import Integrator, Trajectory, integrate
from .evaluate import (
    Evaluation,
    evaluate,
    lowpass,
    moment_derivative,
    sample_trajectory,
)
from .model import DBDModel
from .optim import SGD, Adam, make_optimizer
from .refine import StaticRefiner, refine_static
from .train import (
    ProgressRecord,
    Trainer,
    TrainingDiverged,
    auto_opt_steps,
    default_configs,
    reference_configs,
    schedule,
)
from .train import warmup as train_warmup


def warmup() -> None:
    """Compile every DBD kernel (finite elements, adjoint, trainer, evaluation)."""
    from .evaluate import warmup as evaluate_warmup

    adjoint_warmup()
    train_warmup()
    evaluate_warmup()


__all__ = [
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
    "TrainingDiverged",
    "schedule",
    "auto_opt_steps",
    "default_configs",
    "reference_configs",
    "train_warmup",
    "adjoint_warmup",
]
