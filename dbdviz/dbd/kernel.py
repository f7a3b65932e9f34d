"""A right-hand side learned from several ensembles: Gaussian-kernel ridge regression
with a pull toward the visited region (issue 18; :mod:`dbdviz.dbd.predict` trains and
uses it, :class:`~dbdviz.dbd.model.DBDModel` stores it as ``rhs``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "KernelRHS",
    "fit_kernel_rhs",
    "RATES",
    "LENGTH",
    "RIDGE",
    "PULL",
    "BANDWIDTH",
    "SUBSAMPLE",
    "RADIUS",
    "rate_values",
]

#: The rates a model may take as inputs (LatticeLV fields).
RATES = ("birth", "death", "predation")
LENGTH = 2.0
RIDGE = 1e-3
PULL = 0.01
BANDWIDTH = 0.3
SUBSAMPLE = 3
#: Distance (standardised units) from the training paths beyond which a prediction
#: is an extrapolation.
RADIUS = 1.0


def rate_values(config, names: Sequence[str]) -> np.ndarray:
    """The logarithms of the named rates of a LatticeLV (the rate inputs of F)."""
    return np.array([math.log(float(getattr(config, n))) for n in names])


# ------------------------------------------------------------------------------------
# The right-hand side
# ------------------------------------------------------------------------------------


class KernelRHS:
    """``dtheta/dt = F(z)``, ``z = (theta, rates...)``: Gaussian-kernel ridge regression
    plus a pull toward the training inputs.

    ``F(z) = mean + sum_i alpha_i exp(-|z - c_i|^2 / (2 length^2))
    + pull (m(z) - theta)``, distances in units of ``scale``; ``m(z)`` is the
    Gaussian-weighted mean (``bandwidth``) of the anchors (all training inputs)
    around ``z``, restricted to the theta coordinates.

    Attributes
    ----------
    centers : ndarray (n, D)
    alpha : ndarray (n, P)
    mean : ndarray (P,)
    scale : ndarray (D,)
    anchors : ndarray (m, D)
    length, pull, bandwidth, radius : float
    inputs : list of str
        Names of the D input coordinates (parameter names, then rates).
    """

    def __init__(
        self,
        centers,
        alpha,
        mean,
        scale,
        anchors,
        *,
        length: float,
        pull: float,
        bandwidth: float,
        radius: float,
        inputs: Sequence[str],
    ):
        self.centers = np.ascontiguousarray(centers, dtype=np.float64)
        self.alpha = np.ascontiguousarray(alpha, dtype=np.float64)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.anchors = np.ascontiguousarray(anchors, dtype=np.float64)
        self.length = float(length)
        self.pull = float(pull)
        self.bandwidth = float(bandwidth)
        self.radius = float(radius)
        self.inputs = list(inputs)
        self.n_funcs = int(self.alpha.shape[1])
        self.dim = int(self.centers.shape[1])
        if self.scale.shape != (self.dim,) or self.mean.shape != (self.n_funcs,):
            raise ValueError("KernelRHS: inconsistent shapes")

    @property
    def rates(self) -> list[str]:
        """The rates among the inputs (empty: one rate setting)."""
        return [n for n in self.inputs if n in RATES]

    def _z(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) / self.scale

    def evaluate(self, z) -> np.ndarray:
        """``F`` at inputs ``z`` (n, D) -> (n, P)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        zs = self._z(z)
        cs = self._z(self.centers)
        d2 = ((zs[:, None, :] - cs[None]) ** 2).sum(-1)
        f = np.exp(-0.5 * d2 / self.length**2) @ self.alpha + self.mean
        if self.pull > 0:
            a = self._z(self.anchors)
            d2a = ((zs[:, None, :] - a[None]) ** 2).sum(-1)
            w = np.exp(
                -0.5 * (d2a - d2a.min(axis=1, keepdims=True)) / self.bandwidth**2
            )
            m = (w @ self.anchors) / w.sum(axis=1, keepdims=True)
            f = f + self.pull * (m[:, : self.n_funcs] - z[:, : self.n_funcs])
        return f

    def distance(self, z) -> np.ndarray:
        """Standardised distance of every input row (n, D) to the nearest anchor,
        over the parameter coordinates (rates between the training's are judged by
        :meth:`rates_outside`)."""
        P = self.n_funcs
        zs = self._z(np.atleast_2d(z))[:, :P]
        a = self._z(self.anchors)[:, :P]
        return np.sqrt(((zs[:, None, :] - a[None]) ** 2).sum(-1).min(axis=1))

    def rates_outside(self, rates) -> list[str]:
        """Names of the rate inputs (log values ``rates``) outside the training's
        range."""
        r = np.asarray(rates, dtype=np.float64)
        lo = self.anchors[:, self.n_funcs :].min(axis=0)
        hi = self.anchors[:, self.n_funcs :].max(axis=0)
        tol = 1e-9
        return [
            n
            for n, v, a, b in zip(self.rates, r, lo, hi, strict=True)
            if v < a - tol or v > b + tol
        ]

    def integrate(self, theta0, n_steps: int, dt: float, rates=()) -> np.ndarray:
        """Forward Euler from ``theta0`` (P,) over ``n_steps`` steps; ``rates`` are
        the values of :attr:`rates` (constant inputs). Returns (n_steps + 1, P)."""
        th = np.empty((int(n_steps) + 1, self.n_funcs))
        th[0] = theta0
        r = np.asarray(rates, dtype=np.float64)
        for t in range(int(n_steps)):
            z = np.concatenate([th[t], r])
            th[t + 1] = th[t] + dt * self.evaluate(z[None])[0]
            if not np.all(np.isfinite(th[t + 1])):
                raise FloatingPointError("theta(t) diverged (non-finite values)")
        return th

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "centers": self.centers,
            "alpha": self.alpha,
            "mean": self.mean,
            "scale": self.scale,
            "anchors": self.anchors,
            "settings": np.array(
                [self.length, self.pull, self.bandwidth, self.radius], np.float64
            ),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], inputs) -> KernelRHS:
        s = np.asarray(arrays["settings"], dtype=np.float64)
        return cls(
            arrays["centers"],
            arrays["alpha"],
            arrays["mean"],
            arrays["scale"],
            arrays["anchors"],
            length=s[0],
            pull=s[1],
            bandwidth=s[2],
            radius=s[3],
            inputs=inputs,
        )


def fit_kernel_rhs(
    inputs: Sequence[np.ndarray],
    paths: Sequence[np.ndarray],
    dt: float,
    *,
    names: Sequence[str],
    length: float = LENGTH,
    ridge: float = RIDGE,
    pull: float = PULL,
    bandwidth: float = BANDWIDTH,
    subsample: int = SUBSAMPLE,
    radius: float = RADIUS,
) -> KernelRHS:
    """Fit :class:`KernelRHS` to the Euler velocities of smooth paths.

    Parameters
    ----------
    inputs : sequence of ndarray (T_e + 1, D)
        Inputs along every path (theta, then constant rates).
    paths : sequence of ndarray (T_e + 1, P)
        The parameter paths (every step, smooth).
    dt : float
    names : sequence of str
        Input names (length D).
    length, ridge, pull, bandwidth, subsample, radius
        Kernel length and ridge (in standardised units), pull rate per unit time and
        its bandwidth, every ``subsample``-th point as a kernel center, the
        extrapolation radius.
    """
    Z = np.concatenate([np.asarray(z, dtype=np.float64)[:-1] for z in inputs])
    V = np.concatenate(
        [(np.asarray(p)[1:] - np.asarray(p)[:-1]) / float(dt) for p in paths]
    )
    scale = Z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    C = Z[:: int(subsample)]
    Vs = V[:: int(subsample)]
    mean = Vs.mean(axis=0)
    cs = C / scale
    K = np.exp(-0.5 * ((cs[:, None, :] - cs[None]) ** 2).sum(-1) / length**2)
    alpha = np.linalg.solve(K + ridge * np.eye(K.shape[0]), Vs - mean)
    return KernelRHS(
        C,
        alpha,
        mean,
        scale,
        Z[:: max(1, int(subsample) // 2)],
        length=length,
        pull=pull,
        bandwidth=bandwidth,
        radius=radius,
        inputs=names,
    )
