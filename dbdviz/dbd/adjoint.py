"""Adjoint of the windowed DBD objective and the gradient w.r.t. the FE coefficients.

ALGORITHM.md sections 5.2-5.5a (centered adjoint) and 7.3 (uncentered adjoint).

Objective of one window ``[tau0, tau1]`` (truncated back-propagation, 5.5a)::

    S_w(u) = dt * sum_{tau = tau0+1}^{tau1} D_KL(tau),   theta(tau0) frozen,

with ``theta`` advanced by forward Euler, ``theta(tau+1) = theta(tau) + dt F(x(tau))``
and ``dE(tau) = dD_KL/dtheta(tau)`` (asleep minus awake moments).

* ``weights=None``: uncentered adjoint ``phi(tau-1) = phi(tau) - dt (dE(tau) -
  J(tau)^T phi(tau))``; with ``deriv_scale="exact"`` the gradient is exactly
  ``dS_w/du``.
* ``weights`` given: centered adjoint (5.4) with ``dE`` holding the *centered*
  weight statistics ``dE[G]``. ``variant="exact"`` applies the index conventions
  (i)-(v) of 5.5a and equals the uncentered gradient; ``variant="reference"``
  reproduces the C++ code (mu(tau) everywhere, backward difference of mu, psi with
  the fractional-coordinate derivative P1).

The gradient is ``g_k = -dt sum_{tau=tau0}^{tau1} A_k(tau) dF_k(x(tau))/du_k``
(5.5), returned as a :class:`~dbdviz.dbd.basis.SparseGradient`.

Substeps: the adjoint differentiates one Euler step of ``dt`` per timepoint; with
``substeps > 1`` in the forward integration it is the usual coarse-step
approximation (exact only for ``substeps = 1``, the reference setting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._adjoint import _backward_adjoint_fe
from .basis import DERIV_SCALES, FiniteElements, SparseGradient

__all__ = [
    "WeightStructure",
    "AdjointResult",
    "VARIANTS",
    "adjoint",
    "coefficient_gradient",
    "adjoint_gradient",
    "center_dE",
    "uncenter_dE",
    "centering_matrix",
]

#: Adjoint variants (TrainConfig.adjoint_variant).
VARIANTS = ("reference", "exact")


@dataclass(frozen=True)
class WeightStructure:
    """Which parameters are centered weights and which biases/centers they couple.

    Attributes (all shape ``(n_weights,)``)
    ----------
    param : int64
        Parameter index of the weight.
    bias_lo, bias_hi : int64
        Parameter indices of the biases of the two coupled unit types (lower and
        upper layer).
    center_lo, center_hi : int64
        Indices of their centers in the flattened center array
        ``mu.reshape(T + 1, -1)`` (``layer * n_channels + channel``).
    q : float64
        Multiplicity: partners per unit through this weight (``conn_mult``).

    Notes
    -----
    Centered biases ``a~_lo = a_lo + q W mu_hi`` and ``a~_hi = a_hi + q W mu_lo``
    (ALGORITHM.md 3.3); a weight whose two ends are the same bias (an intra-layer
    coupling such as ``J_XX``) picks up both terms, so use ``q = z / 2`` for
    coordination number ``z``. Parameters that are neither biases nor listed
    weights (e.g. visible couplings one prefers not to center) are uncentered:
    their ``dE`` is the plain statistic and they enter only through psi.
    A weight may not itself be a bias of another weight.
    """

    param: np.ndarray
    bias_lo: np.ndarray
    bias_hi: np.ndarray
    center_lo: np.ndarray
    center_hi: np.ndarray
    q: np.ndarray

    def __post_init__(self):
        n = None
        for name in ("param", "bias_lo", "bias_hi", "center_lo", "center_hi"):
            a = np.ascontiguousarray(np.atleast_1d(getattr(self, name)), dtype=np.int64)
            object.__setattr__(self, name, a)
            if n is None:
                n = a.shape[0]
            elif a.shape != (n,):
                raise ValueError(
                    f"WeightStructure.{name} has shape {a.shape}: expected ({n},)"
                )
        q = np.broadcast_to(np.asarray(self.q, dtype=np.float64), (n,)).copy()
        object.__setattr__(self, "q", q)
        if len(set(self.param.tolist())) != n:
            raise ValueError("WeightStructure.param: weight indices must be distinct")
        biases = set(self.bias_lo.tolist()) | set(self.bias_hi.tolist())
        if biases & set(self.param.tolist()):
            raise ValueError(
                "WeightStructure: a weight parameter cannot also be a bias"
            )

    @property
    def n_weights(self) -> int:
        return int(self.param.shape[0])

    @classmethod
    def empty(cls) -> WeightStructure:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z, np.zeros(0))

    @classmethod
    def channel_diagonal(cls, n_layers: int, n_channels: int = 2, q: float = 4.0):
        """Reference DBM layout generalised to any depth (ALGORITHM.md section 0).

        Parameters are ordered biases first (``k = l * n_channels + alpha``), then
        the channel-diagonal weights between layers ``l`` and ``l + 1``
        (``k = n_layers * n_channels + l * n_channels + alpha``). For 3 layers and 2
        channels this is (hX, hY, bX1, bY1, bX2, bY2, wXX1, wYY1, wX1X2, wY1Y2).
        """
        nb = n_layers * n_channels
        par, lo, hi = [], [], []
        for l in range(n_layers - 1):
            for a in range(n_channels):
                par.append(nb + l * n_channels + a)
                lo.append(l * n_channels + a)
                hi.append((l + 1) * n_channels + a)
        return cls(par, lo, hi, lo, hi, q)

    def validate(self, n_params: int, n_centers: int) -> None:
        """Raise ValueError for indices outside ``P`` parameters / ``C`` centers."""
        for name in ("param", "bias_lo", "bias_hi"):
            a = getattr(self, name)
            if a.size and (a.min() < 0 or a.max() >= n_params):
                raise ValueError(
                    f"WeightStructure.{name}: allowed 0 <= index < {n_params}"
                )
        for name in ("center_lo", "center_hi"):
            a = getattr(self, name)
            if a.size and (a.min() < 0 or a.max() >= n_centers):
                raise ValueError(
                    f"WeightStructure.{name}: allowed 0 <= index < {n_centers}"
                )


def reference_domain(n_layers: int = 3, n_channels: int = 2) -> np.ndarray:
    """Domain of the channel-diagonal layout: visible biases, then all weights."""
    nb = n_layers * n_channels
    nw = (n_layers - 1) * n_channels
    return np.concatenate([np.arange(n_channels), nb + np.arange(nw)]).astype(np.int64)


__all__.append("reference_domain")


@dataclass(frozen=True)
class AdjointResult:
    """Adjoint on one window ``tau0 .. tau1`` (index ``i`` = ``tau - tau0``).

    Attributes
    ----------
    phi : ndarray of float64, shape (n_w, P)
        Adjoints (centered coordinates when centered); ``phi[-1] = 0``.
    A : ndarray of float64, shape (n_w, P)
        Effective adjoints of 5.5 (``A = phi`` for the uncentered adjoint).
    psi : ndarray of float64, shape (n_w, D)
        Derivative terms of 5.3.
    tau0, tau1 : int
    """

    phi: np.ndarray
    A: np.ndarray
    psi: np.ndarray
    tau0: int
    tau1: int


def _flat_mu(mu, n_times: int) -> np.ndarray:
    if mu is None:
        return np.zeros((n_times, 0))
    m = np.asarray(mu, dtype=np.float64)
    if m.ndim < 1 or m.shape[0] != n_times:
        raise ValueError(f"mu has shape {m.shape}: expected ({n_times}, ...)")
    return np.ascontiguousarray(m.reshape(n_times, -1))


def centering_matrix(mu_t, weights: WeightStructure, n_params: int) -> np.ndarray:
    """``M = I + B(mu)`` with ``theta~ = M theta`` (section 3.3), float64 (P, P)."""
    mu_t = np.asarray(mu_t, dtype=np.float64).ravel()
    M = np.eye(n_params)
    for j in range(weights.n_weights):
        w, q = weights.param[j], weights.q[j]
        M[weights.bias_lo[j], w] += q * mu_t[weights.center_hi[j]]
        M[weights.bias_hi[j], w] += q * mu_t[weights.center_lo[j]]
    return M


def center_dE(dE, mu, weights: WeightStructure) -> np.ndarray:
    """Centered moment differences from uncentered ones, ``dE~ = M(mu)^{-T} dE``.

    ``dE[G] = dE[P] - q mu_hi dE[B_lo] - q mu_lo dE[B_hi]`` for every weight (the
    identity of section 3.3), biases unchanged; ``mu(tau)`` at each ``tau``.

    Parameters
    ----------
    dE : array_like of float, shape (T + 1, P)
    mu : array_like of float, shape (T + 1, ...) centers
    """
    dE = np.asarray(dE, dtype=np.float64)
    m = _flat_mu(mu, dE.shape[0])
    out = dE.copy()
    for j in range(weights.n_weights):
        out[:, weights.param[j]] -= weights.q[j] * (
            m[:, weights.center_hi[j]] * dE[:, weights.bias_lo[j]]
            + m[:, weights.center_lo[j]] * dE[:, weights.bias_hi[j]]
        )
    return out


def uncenter_dE(dE_centered, mu, weights: WeightStructure) -> np.ndarray:
    """Inverse of :func:`center_dE`: ``dE = M(mu)^T dE~``."""
    dEc = np.asarray(dE_centered, dtype=np.float64)
    m = _flat_mu(mu, dEc.shape[0])
    out = dEc.copy()
    for j in range(weights.n_weights):
        out[:, weights.param[j]] += weights.q[j] * (
            m[:, weights.center_hi[j]] * dEc[:, weights.bias_lo[j]]
            + m[:, weights.center_lo[j]] * dEc[:, weights.bias_hi[j]]
        )
    return out


def adjoint(
    fe: FiniteElements,
    theta,
    dE,
    tau0: int,
    tau1: int,
    *,
    domain,
    dt: float = 1.0,
    mu=None,
    weights: WeightStructure | None = None,
    variant: str = "reference",
    deriv_scale: str | None = None,
) -> AdjointResult:
    """Backward adjoint sweep over the window ``[tau0, tau1]``.

    Parameters
    ----------
    fe : FiniteElements
        The right-hand sides ``F`` (``fe.n_funcs == P``, ``fe.dim == D``).
    theta : array_like of float, shape (T + 1, P)
        Forward trajectory (uncentered parameters); ``x = theta[:, domain]``.
    dE : array_like of float, shape (T + 1, P)
        Asleep minus awake moments. Rows outside ``tau0 + 1 .. tau1`` are unused.
        Weight columns hold centered statistics ``dE[G]`` when ``weights`` is given
        (see :func:`center_dE`).
    tau0, tau1 : int
        Window, ``0 <= tau0 < tau1 <= T``.
    domain : array_like of int, shape (D,)
        Parameter index of each domain coordinate (reference ``[0,1,6,7,8,9]``).
    dt : float
        Time step of the Euler recursion.
    mu : array_like of float, shape (T + 1, n_layers, n_channels) or (T + 1, C)
        Centers; required when ``weights`` is given.
    weights : WeightStructure, optional
        Centered weights; ``None`` or empty: the uncentered adjoint (7.3).
    variant : {"reference", "exact"}
        Time-index conventions of the centering terms (5.5a); irrelevant without
        weights.
    deriv_scale : {"reference", "exact"}, optional
        Derivative used in psi (P1). Default: ``"reference"`` for the reference
        variant, ``"exact"`` otherwise.

    Returns
    -------
    AdjointResult
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant = {variant!r}: allowed {VARIANTS}")
    centered = weights is not None and weights.n_weights > 0
    if deriv_scale is None:
        deriv_scale = "reference" if (variant == "reference" and centered) else "exact"
    if deriv_scale not in DERIV_SCALES:
        raise ValueError(f"deriv_scale = {deriv_scale!r}: allowed {DERIV_SCALES}")
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    dE = np.ascontiguousarray(dE, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] != fe.n_funcs:
        raise ValueError(
            f"theta has shape {theta.shape}: expected (T + 1, {fe.n_funcs})"
        )
    if dE.shape != theta.shape:
        raise ValueError(f"dE has shape {dE.shape}: expected {theta.shape}")
    n_times = theta.shape[0]
    tau0, tau1 = int(tau0), int(tau1)
    if not 0 <= tau0 < tau1 <= n_times - 1:
        raise ValueError(
            f"window [{tau0}, {tau1}]: allowed 0 <= tau0 < tau1 <= {n_times - 1}"
        )
    if not dt > 0:
        raise ValueError(f"dt = {dt}: allowed dt > 0")
    dom = _as_domain(domain, fe)
    if centered:
        if mu is None:
            raise ValueError("mu is required with weights")
        m = _flat_mu(mu, n_times)
        weights.validate(fe.n_funcs, m.shape[1])
        ws = weights
    else:
        m = np.zeros((n_times, 0))
        ws = WeightStructure.empty()
    x = np.ascontiguousarray(theta[tau0 : tau1 + 1][:, dom])
    n_w = tau1 - tau0 + 1
    phi = np.empty((n_w, fe.n_funcs))
    A = np.empty((n_w, fe.n_funcs))
    psi = np.empty((n_w, fe.dim))
    _backward_adjoint_fe(
        dE,
        m,
        x,
        dom,
        ws.param,
        ws.bias_lo,
        ws.bias_hi,
        ws.center_lo,
        ws.center_hi,
        ws.q,
        tau0,
        float(dt),
        variant == "exact",
        *fe.raw(),
        fe.derivative_scale(deriv_scale),
        phi,
        A,
        psi,
    )
    return AdjointResult(phi, A, psi, tau0, tau1)


def coefficient_gradient(
    fe: FiniteElements, theta, result: AdjointResult, *, domain, dt: float = 1.0
) -> SparseGradient:
    """``g_k = -dt sum_{tau0}^{tau1} A_k(tau) dF_k(x(tau))/du_k`` (section 5.5).

    Creates the (zero) vertices of the visited cells that are still missing.
    """
    theta = np.asarray(theta, dtype=np.float64)
    dom = _as_domain(domain, fe)
    x = theta[result.tau0 : result.tau1 + 1][:, dom]
    return fe.accumulate(x, -dt * result.A)


def adjoint_gradient(
    fe: FiniteElements, theta, dE, tau0, tau1, *, domain, dt=1.0, **kwargs
) -> tuple[AdjointResult, SparseGradient]:
    """:func:`adjoint` followed by :func:`coefficient_gradient`."""
    res = adjoint(fe, theta, dE, tau0, tau1, domain=domain, dt=dt, **kwargs)
    return res, coefficient_gradient(fe, theta, res, domain=domain, dt=dt)


def _as_domain(domain, fe: FiniteElements) -> np.ndarray:
    dom = np.ascontiguousarray(domain, dtype=np.int64)
    if dom.shape != (fe.dim,):
        raise ValueError(f"domain has shape {dom.shape}: expected ({fe.dim},)")
    if dom.min() < 0 or dom.max() >= fe.n_funcs:
        raise ValueError(f"domain indices: allowed 0 <= index < {fe.n_funcs}")
    return dom
