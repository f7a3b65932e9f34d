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
    warmup,
)
from .basis import FiniteElements, SparseGradient
from .dynamics import Integrator, Trajectory, integrate
from .evaluate import Evaluation, evaluate, lowpass, moment_derivative, sample_trajectory
from .optim import SGD, Adam, make_optimizer

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
]
