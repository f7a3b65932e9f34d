"""A right-hand side learned from several ensembles: Gaussian-kernel ridge regression
with a pull toward the visited region (issue 18; :mod:`dbdviz.dbd.predict` trains and
uses it, :class:`~dbdviz.dbd.model.DBDModel` stores it as ``rhs``).

Two forms (``KernelRHS.form``):

* ``"reactions"`` (the default): ``F(theta, k) = sum_r k_r G_r(theta)``, one term per
  reaction (birth, death, predation), each scaled by its rate ``k_r`` (relative to the
  reference rates ``rate_ref``), ``G_r`` a kernel expansion over ``theta`` plus a
  polynomial of degree ``degree``. This is the physics of the DBD: ``dtheta/dt =
  J(theta)^-1 d<M>/dt`` with ``d<M>/dt`` of the master equation linear in the rates,
  so at fixed ``theta`` ``F`` is linear in the rates. As a kernel regression it is one
  ridge regression with the kernel ``(k . k') K(theta, theta')``. With one rate
  setting there is one term (``k = 1``): plain kernel ridge regression over ``theta``.
* ``"inputs"`` (models of earlier versions): the log-rates are further kernel
  coordinates.
"""

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
    "RATE_LENGTH",
    "RATE_RIDGE",
    "RATE_DEGREE",
    "RATE_PULL",
]

#: The rates a model may take as inputs (LatticeLV fields).
RATES = ("birth", "death", "predation")
LENGTH = 2.0
RIDGE = 1e-3
PULL = 0.01
BANDWIDTH = 0.15
SUBSAMPLE = 3
#: Kernel length, ridge and polynomial degree of the per-reaction terms when the
#: ensembles differ in rates (docs/predict.md, "Rates").
RATE_LENGTH = 1.0
RATE_RIDGE = 1e-2
RATE_DEGREE = 1
RATE_PULL = 0.02
FORMS = ("reactions", "inputs")
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
    """``dtheta/dt = F(z)``, ``z = (theta, log-rates...)``: Gaussian-kernel ridge
    regression plus a pull toward the training inputs (module notes).

    ``"reactions"`` form: ``F(z) = sum_r k_r [poly_r(theta) + sum_i alpha_ir
    K(theta, c_i)] + pull (m(z) - theta)`` with ``k = exp(log-rates) / rate_ref``
    (``k = (1,)`` without rate inputs), ``K(a, b) = exp(-|a - b|^2 / (2 length^2))``
    over the theta coordinates in units of ``scale``; ``alpha_ir = k_r(c_i)
    alpha_i``. ``"inputs"`` form: ``F(z) = mean + sum_i alpha_i K(z, c_i) + pull
    (m(z) - theta)``, the kernel over all coordinates. ``m(z)`` is the
    Gaussian-weighted mean (``bandwidth``) of the anchors (training inputs) around
    ``z``, restricted to the theta coordinates.

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
    form : {"reactions", "inputs"}
    rate_ref : ndarray (R,)
        Reference rates (the rate factors are ``rate / rate_ref``).
    poly : ndarray (max(R, 1) * (1 + degree * P), P) or None
        Polynomial coefficients per reaction (``"reactions"``; None: ``mean``).
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
        form: str = "inputs",
        rate_ref=None,
        poly=None,
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
        if form not in FORMS:
            raise ValueError(f"form = {form!r}: allowed {', '.join(FORMS)}")
        self.form = form
        n_rates = self.dim - self.n_funcs
        self.rate_ref = (
            np.ones(n_rates)
            if rate_ref is None
            else np.asarray(rate_ref, dtype=np.float64).reshape(n_rates)
        )
        self.poly = None if poly is None else np.asarray(poly, dtype=np.float64)
        self.degree = 0
        if self.poly is not None:
            per = self.poly.shape[0] // max(n_rates, 1)
            self.degree = (per - 1) // self.n_funcs
        # centers in kernel units and their rate factors (precomputed)
        P = self.n_funcs
        if form == "reactions":
            self._cs = self.centers[:, :P] / self.scale[:P]
            self._ck = self.factors(self.centers[:, P:])
        else:
            self._cs = self.centers / self.scale
        self._as = self.anchors / self.scale

    @property
    def rates(self) -> list[str]:
        """The rates among the inputs (empty: one rate setting)."""
        return [n for n in self.inputs if n in RATES]

    def _z(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) / self.scale

    def factors(self, log_rates) -> np.ndarray:
        """Rate factors ``k`` (n, max(R, 1)) of log-rate rows (n, R): ``rate /
        rate_ref``, or ones without rate inputs."""
        lr = np.atleast_2d(np.asarray(log_rates, dtype=np.float64))
        if self.dim == self.n_funcs:
            return np.ones((lr.shape[0], 1))
        return np.exp(lr) / self.rate_ref

    def features(self, z) -> np.ndarray:
        """Polynomial features of the ``"reactions"`` form (n, max(R, 1) * (1 +
        degree * P)): ``k_r``, then ``k_r theta / scale`` (degree 1)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        P = self.n_funcs
        k = self.factors(z[:, P:])
        phi = np.ones((z.shape[0], 1))
        if self.degree >= 1:
            phi = np.hstack([phi, z[:, :P] / self.scale[:P]])
        return (k[:, :, None] * phi[:, None, :]).reshape(z.shape[0], -1)

    def evaluate(self, z) -> np.ndarray:
        """``F`` at inputs ``z`` (n, D) -> (n, P)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        zs = self._z(z)
        P = self.n_funcs
        if self.form == "reactions":
            d2 = ((zs[:, None, :P] - self._cs[None]) ** 2).sum(-1)
            w = np.exp(-0.5 * d2 / self.length**2) * (
                self.factors(z[:, P:]) @ self._ck.T
            )
            f = w @ self.alpha
            f = f + (self.mean if self.poly is None else self.features(z) @ self.poly)
        else:
            d2 = ((zs[:, None, :] - self._cs[None]) ** 2).sum(-1)
            f = np.exp(-0.5 * d2 / self.length**2) @ self.alpha + self.mean
        if self.pull > 0:
            a = self._as
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
        a = self._as[:, :P]
        # nearest anchor by |z|^2 - 2 z.a + |a|^2 (one matrix product), then the
        # distance to it computed directly (no cancellation in the result)
        d2 = (a * a).sum(axis=1)[None, :] - 2.0 * (zs @ a.T)
        near = d2.argmin(axis=1)
        return np.sqrt(((zs - a[near]) ** 2).sum(axis=1))

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

    def rate_ranges(self) -> str:
        """The training's range of every rate input, e.g. ``"birth 0.02-0.03, death
        0.06"`` (one value when the training did not vary it)."""
        lr = self.anchors[:, self.n_funcs :]
        out = []
        for n, a, b in zip(self.rates, lr.min(axis=0), lr.max(axis=0), strict=True):
            lo, hi = math.exp(a), math.exp(b)
            same = math.isclose(lo, hi, rel_tol=1e-9)
            out.append(f"{n} {lo:.6g}" if same else f"{n} {lo:.6g}-{hi:.6g}")
        return ", ".join(out)

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
        out = {
            "centers": self.centers,
            "alpha": self.alpha,
            "mean": self.mean,
            "scale": self.scale,
            "anchors": self.anchors,
            "settings": np.array(
                [
                    self.length,
                    self.pull,
                    self.bandwidth,
                    self.radius,
                    float(FORMS.index(self.form)),
                ],
                np.float64,
            ),
            "rate_ref": self.rate_ref,
        }
        if self.poly is not None:
            out["poly"] = self.poly
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], inputs) -> KernelRHS:
        """Inverse of :meth:`to_arrays` (files of earlier versions: four settings,
        the ``"inputs"`` form)."""
        s = np.asarray(arrays["settings"], dtype=np.float64)
        form = FORMS[int(s[4])] if s.size > 4 else "inputs"
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
            form=form,
            rate_ref=arrays.get("rate_ref"),
            poly=arrays.get("poly"),
        )


def gram(cs: np.ndarray, length: float) -> np.ndarray:
    """Gaussian kernel matrix of the standardised centers ``cs`` (n, D) with
    ``length``: ``exp(-|c_i - c_j|^2 / (2 length^2))`` (the fits' normal equations)."""
    return np.exp(-0.5 * ((cs[:, None, :] - cs[None]) ** 2).sum(-1) / length**2)


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
    form: str = "reactions",
    degree: int = 0,
    rate_ref=None,
) -> KernelRHS:
    """Fit :class:`KernelRHS` to the Euler velocities of smooth paths.

    Parameters
    ----------
    inputs : sequence of ndarray (T_e + 1, D)
        Inputs along every path (theta, then constant log-rates).
    paths : sequence of ndarray (T_e + 1, P)
        The parameter paths (every step, smooth).
    dt : float
    names : sequence of str
        Input names (length D).
    length, ridge, pull, bandwidth, subsample, radius
        Kernel length and ridge (in standardised units), pull rate per unit time and
        its bandwidth, every ``subsample``-th point as a kernel center, the
        extrapolation radius.
    form : {"reactions", "inputs"}
        :class:`KernelRHS` (module notes).
    degree : {0, 1}
        ``"reactions"``: polynomial per reaction fitted first (least squares), the
        kernel fits what it leaves.
    rate_ref : array_like (R,), optional
        Reference rates of the rate factors (default: the geometric mean of the
        training rates).
    """
    if form not in FORMS:
        raise ValueError(f"form = {form!r}: allowed {', '.join(FORMS)}")
    if degree not in (0, 1):
        raise ValueError(f"degree = {degree}: allowed 0 or 1")
    Z = np.concatenate([np.asarray(z, dtype=np.float64)[:-1] for z in inputs])
    V = np.concatenate(
        [(np.asarray(p)[1:] - np.asarray(p)[:-1]) / float(dt) for p in paths]
    )
    P = V.shape[1]
    scale = Z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    C = Z[:: int(subsample)]
    Vs = V[:: int(subsample)]
    if rate_ref is None:
        rate_ref = np.exp(Z[:, P:].mean(axis=0))
    settings = dict(
        length=length,
        pull=pull,
        bandwidth=bandwidth,
        radius=radius,
        inputs=names,
        form=form,
        rate_ref=rate_ref,
    )
    if form == "inputs":
        mean = Vs.mean(axis=0)
        cs = C / scale
        K = gram(cs, length)
        alpha = np.linalg.solve(K + ridge * np.eye(K.shape[0]), Vs - mean)
        return KernelRHS(
            C, alpha, mean, scale, Z[:: max(1, int(subsample) // 2)], **settings
        )
    # the reactions form: polynomial per reaction, then the kernel on the residual
    probe = KernelRHS(
        C,
        np.zeros((len(C), P)),
        np.zeros(P),
        scale,
        C[:1],
        poly=np.zeros((max(Z.shape[1] - P, 1) * (1 + degree * P), P)),
        **settings,
    )
    X = probe.features(C)
    A = X.T @ X + 1e-6 * len(X) * np.eye(X.shape[1])
    poly = np.linalg.solve(A, X.T @ Vs)
    cs = C[:, :P] / scale[:P]
    k = probe.factors(C[:, P:])
    K = gram(cs, length)
    K *= k @ k.T
    alpha = np.linalg.solve(K + ridge * np.eye(K.shape[0]), Vs - X @ poly)
    return KernelRHS(
        C,
        alpha,
        np.zeros(P),
        scale,
        Z[:: max(1, int(subsample) // 2)],
        poly=poly,
        **settings,
    )
