"""Optimisers updating the sparse coefficient store (ALGORITHM.md section 5.5).

Both act only on the vertices a :class:`~dbdviz.dbd.basis.SparseGradient` touches.
Learning rates may differ per function (``lr`` scalar or shape ``(P,)``).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from .basis import FiniteElements, SparseGradient

__all__ = ["SGD", "Adam", "make_optimizer"]


@jit
def _sgd_update(coef, rows, g, lr, max_update):
    """``u <- u - clip(lr * g, +-max_update)`` on the touched rows."""
    n_slots = g.shape[1]
    n_funcs = g.shape[2]
    for j in range(rows.shape[0]):
        r = rows[j]
        for s in range(n_slots):
            for p in range(n_funcs):
                step = lr[p] * g[j, s, p]
                if max_update > 0.0:
                    step = min(max(step, -max_update), max_update)
                coef[r, s, p] -= step


@jit
def _adam_update(coef, m1, m2, rows, g, lr, beta1, beta2, eps, step):
    """Adam on the touched rows only; bias correction with the global step (P9)."""
    n_slots = g.shape[1]
    n_funcs = g.shape[2]
    c1 = 1.0 - beta1**step
    c2 = 1.0 - beta2**step
    for j in range(rows.shape[0]):
        r = rows[j]
        for s in range(n_slots):
            for p in range(n_funcs):
                gi = g[j, s, p]
                a = beta1 * m1[r, s, p] + (1.0 - beta1) * gi
                b = beta2 * m2[r, s, p] + (1.0 - beta2) * gi * gi
                m1[r, s, p] = a
                m2[r, s, p] = b
                coef[r, s, p] -= lr[p] * (a / c1) / (np.sqrt(b / c2) + eps)


def _lr_vector(lr, n_funcs: int) -> np.ndarray:
    v = np.broadcast_to(np.asarray(lr, dtype=np.float64), (n_funcs,)).copy()
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"lr = {lr}: allowed lr >= 0")
    return v


def _check(fe: FiniteElements, grad: SparseGradient) -> None:
    if grad.values.shape[1:] != (fe.n_slots, fe.n_funcs):
        raise ValueError(
            f"gradient values have shape {grad.values.shape}: expected "
            f"(n, {fe.n_slots}, {fe.n_funcs})"
        )
    if grad.n_touched and (grad.rows.min() < 0 or grad.rows.max() >= fe.n_vertices):
        raise ValueError("gradient rows do not belong to this store")


class SGD:
    """Plain gradient descent ``u <- u - lr * g`` (the reference optimiser).

    Parameters
    ----------
    lr : float or array_like of float, shape (P,)
        Learning rate per function (reference 2.5e-6 with count moments).
    max_update : float, optional
        Clip every coefficient step to ``+-max_update`` (reference option, unused).
    """

    def __init__(self, lr=2.5e-6, max_update: float | None = None):
        self.lr = lr
        self.max_update = 0.0 if max_update is None else float(max_update)
        if self.max_update < 0:
            raise ValueError(f"max_update = {max_update}: allowed max_update > 0")
        self.n_steps = 0

    def step(self, fe: FiniteElements, grad: SparseGradient) -> None:
        """Apply one update to the rows touched by ``grad``."""
        _check(fe, grad)
        lr = _lr_vector(self.lr, fe.n_funcs)
        _sgd_update(fe._coef, grad.rows, grad.values, lr, self.max_update)
        self.n_steps += 1


class Adam:
    """Adam over the sparse store (``update_committ_stored_adam``, section 5.5).

    Moments are created at zero on first touch; moments of coefficients that a
    step does not touch are neither decayed nor applied; bias correction uses the
    global optimisation step ``max(step, 1)`` (pitfall P9), not per-coefficient
    counts.

    Parameters
    ----------
    lr : float or array_like of float, shape (P,)
    beta1, beta2, eps : float
    """

    def __init__(
        self, lr=1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        for name, v in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= v < 1.0:
                raise ValueError(f"{name} = {v}: allowed 0 <= {name} < 1")
        if not eps > 0:
            raise ValueError(f"eps = {eps}: allowed eps > 0")
        self.lr = lr
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.n_steps = 0
        self.m1 = np.zeros((0, 0, 0))
        self.m2 = np.zeros((0, 0, 0))

    def _grow(self, fe: FiniteElements) -> None:
        shape = (fe.capacity, fe.n_slots, fe.n_funcs)
        if self.m1.shape == shape:
            return
        if self.m1.shape[1:] not in ((0, 0), shape[1:]):
            raise ValueError("this Adam instance belongs to another store layout")
        n = min(self.m1.shape[0], shape[0])
        for name in ("m1", "m2"):
            new = np.zeros(shape)
            if n:
                new[:n] = getattr(self, name)[:n]
            setattr(self, name, new)

    def step(
        self, fe: FiniteElements, grad: SparseGradient, step: int | None = None
    ) -> None:
        """Apply one update; ``step`` is the global 1-based step index (default:
        this optimiser's own counter + 1)."""
        _check(fe, grad)
        self._grow(fe)
        self.n_steps += 1
        t = self.n_steps if step is None else max(int(step), 1)
        lr = _lr_vector(self.lr, fe.n_funcs)
        _adam_update(
            fe._coef,
            self.m1,
            self.m2,
            grad.rows,
            grad.values,
            lr,
            self.beta1,
            self.beta2,
            self.eps,
            float(t),
        )


def make_optimizer(name: str, lr, **kwargs):
    """``"sgd"`` -> :class:`SGD`, ``"adam"`` -> :class:`Adam` (TrainConfig.optimizer).

    Extra keyword arguments go to the optimiser.
    """
    if name == "sgd":
        return SGD(lr, **kwargs)
    if name == "adam":
        return Adam(lr, **kwargs)
    raise ValueError(f"optimizer = {name!r}: allowed ['sgd', 'adam']")
