"""Finite-element right-hand sides ``dtheta_k/dt = F_k(x)`` (ALGORITHM.md section 4.2).

:class:`FiniteElements` holds ``P`` scalar functions of a ``D``-dimensional domain on
one lazily grown sparse grid: tensor-product cubic Hermite elements (``"q3c1"``, C1,
``2**D`` coefficients per vertex) or multilinear elements (``"q1"``, C0, one
coefficient per vertex).

Design
------
* One vertex index is shared by all ``P`` functions (they share the geometry, and a
  gradient step touches the same vertices of every function: the cells visited by
  the trajectory), so one hash look-up serves all functions and the coefficient
  array is ``coef[row, slot, k]`` with the function index last.
* The index is an open-addressing hash table of integer vertex coordinates kept in
  plain arrays (any ``D``, no packing limit on the index range, picklable, readable
  from any kernel).
* Reads of missing vertices return 0 and never allocate (pitfall P15): evaluation,
  gradients and trajectories leave the store unchanged. Vertices are created, with
  zero coefficients, only by :meth:`FiniteElements.insert` and by
  :meth:`FiniteElements.accumulate` (the gradient of an update step).

A Q3 coefficient ``u[g, kappa]`` is the mixed derivative of ``F`` at vertex ``g``
with respect to the *fractional* coordinates of the dimensions where
``kappa_d = D``, i.e. ``prod_{d: kappa_d = D} spacing_d`` times the mixed
``x``-derivative (section 4.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _basis_kernels as _k

__all__ = ["FiniteElements", "SparseGradient", "KINDS", "DERIV_SCALES"]

#: Element kinds and their number of basis types per dimension.
KINDS = {"q3c1": 2, "q1": 1}
#: ``"exact"``: dF/dx; ``"reference"``: dF/df = spacing * dF/dx (pitfall P1).
DERIV_SCALES = ("exact", "reference")


@dataclass(frozen=True)
class SparseGradient:
    """Gradient with respect to the coefficients of the vertices it touches.

    Attributes
    ----------
    rows : ndarray of int64, shape (n,)
        Store rows (of the :class:`FiniteElements` that made it) of the touched
        vertices, distinct.
    values : ndarray of float64, shape (n, S, P)
        ``values[j, s, k] = dObjective / du_k[rows[j], s]``.
    """

    rows: np.ndarray
    values: np.ndarray

    @property
    def n_touched(self) -> int:
        return int(self.rows.shape[0])


class FiniteElements:
    """``P`` functions ``F_k : R^D -> R`` in sparse Q3 C1 or Q1 finite elements.

    Parameters
    ----------
    n_funcs : int
        Number of functions ``P`` (one per parameter in the DBD).
    spacing : float or array_like of float, shape (D,)
        Grid spacing per dimension (reference: 0.1).
    origin : float or array_like of float, shape (D,)
        Grid origin ``z`` (reference: ``x(0) - spacing / 2``).
    dim : int, optional
        Domain dimension ``D``; inferred from ``spacing``/``origin`` when they are
        arrays.
    kind : {"q3c1", "q1"}
        Element type.
    capacity : int
        Initial number of vertex rows (grows by doubling).

    Notes
    -----
    ALGORITHM.md section 4.2 (geometry, Hermite factors, slot order ``slot(kappa) =
    sum_d [kappa_d = D] 2**(D-1-d)``), pitfalls P1, P15, P16. The cell of ``x`` is
    ``floor((x - z) / spacing)``; evaluation costs ``(P + 4/3) 4**D`` multiply-adds
    for Q3.
    """

    def __init__(
        self,
        n_funcs: int,
        spacing=0.1,
        origin=0.0,
        *,
        dim: int | None = None,
        kind: str = "q3c1",
        capacity: int = 256,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind = {kind!r}: allowed {sorted(KINDS)}")
        n_funcs = int(n_funcs)
        if n_funcs < 1:
            raise ValueError(f"n_funcs = {n_funcs}: allowed n_funcs >= 1")
        sp = np.atleast_1d(np.asarray(spacing, dtype=np.float64))
        org = np.atleast_1d(np.asarray(origin, dtype=np.float64))
        if dim is None:
            dim = max(sp.shape[0], org.shape[0])
        dim = int(dim)
        if not 1 <= dim <= 20:
            raise ValueError(f"dim = {dim}: allowed 1 <= dim <= 20")
        sp = np.broadcast_to(sp, (dim,)).copy() if sp.shape[0] in (1, dim) else None
        org = np.broadcast_to(org, (dim,)).copy() if org.shape[0] in (1, dim) else None
        if sp is None or org is None:
            raise ValueError("spacing and origin must be scalars or have length dim")
        if not np.all(np.isfinite(sp)) or np.any(sp <= 0):
            raise ValueError(f"spacing = {sp}: allowed spacing > 0")
        if not np.all(np.isfinite(org)):
            raise ValueError(f"origin = {org}: allowed finite values")
        self.kind = kind
        self.n_types = KINDS[kind]
        self.dim = dim
        self.n_funcs = n_funcs
        self.n_slots = self.n_types**dim
        self.n_corners = 2**dim
        self.spacing = sp
        self.origin = org
        self.inv_spacing = 1.0 / sp
        capacity = max(int(capacity), 1)
        self._keys = np.zeros((capacity, dim), np.int64)
        self._coef = np.zeros((capacity, self.n_slots, n_funcs))
        self._table = np.full(_table_size(capacity), -1, np.int64)
        self._count = np.zeros(1, np.int64)
        self._local_of = np.full(capacity, -1, np.int64)

    # -- storage -------------------------------------------------------------------

    @property
    def n_vertices(self) -> int:
        """Number of allocated vertices."""
        return int(self._count[0])

    @property
    def capacity(self) -> int:
        return int(self._keys.shape[0])

    @property
    def keys(self) -> np.ndarray:
        """int64 (n_vertices, D): integer grid coordinates of every vertex (view)."""
        return self._keys[: self.n_vertices]

    @property
    def coef(self) -> np.ndarray:
        """float64 (n_vertices, S, P): coefficients ``u_k[row, slot]`` (view)."""
        return self._coef[: self.n_vertices]

    def coefficients(self, k: int) -> np.ndarray:
        """float64 (n_vertices, S): coefficients of function ``k`` (view)."""
        return self._coef[: self.n_vertices, :, k]

    def vertex_positions(self) -> np.ndarray:
        """float64 (n_vertices, D): abscissas ``origin + key * spacing``."""
        return self.origin + self.keys * self.spacing

    def reference_table(self, k: int) -> np.ndarray:
        """float64 (n_vertices, D + S): per vertex its abscissas, then the
        coefficients of function ``k`` in slot order (the reference's
        ``diff_eq_rhs/<name>_%05d.txt`` layout, ALGORITHM.md 5.9)."""
        return np.hstack([self.vertex_positions(), self.coefficients(k)])

    def raw(self):
        """Arrays for kernels: ``(origin, inv_spacing, n_types, keys, table, coef)``.

        ``keys``/``coef`` are the full-capacity arrays; they are replaced (not
        resized in place) when the store grows, so fetch them again after
        :meth:`insert`, :meth:`reserve` or :meth:`accumulate`.
        """
        return (
            self.origin,
            self.inv_spacing,
            self.n_types,
            self._keys,
            self._table,
            self._coef,
        )

    def reserve(self, n_extra: int) -> None:
        """Make room for ``n_extra`` more vertices (doubling growth)."""
        need = self.n_vertices + int(n_extra)
        if need <= self.capacity:
            return
        cap = self.capacity
        while cap < need:
            cap *= 2
        n = self.n_vertices
        keys = np.zeros((cap, self.dim), np.int64)
        keys[:n] = self._keys[:n]
        coef = np.zeros((cap, self.n_slots, self.n_funcs))
        coef[:n] = self._coef[:n]
        table = np.full(_table_size(cap), -1, np.int64)
        _k._rehash(keys, n, table)
        self._keys, self._coef, self._table = keys, coef, table
        self._local_of = np.full(cap, -1, np.int64)

    def find(self, keys) -> np.ndarray:
        """Rows of integer vertex keys, -1 where missing (no allocation).

        Parameters
        ----------
        keys : array_like of int, shape (n, D) or (D,)

        Returns
        -------
        ndarray of int64, shape (n,) (or a 0-d array for one key)
        """
        q, single = self._as_keys(keys)
        rows = np.empty(q.shape[0], np.int64)
        _k._find_rows(q, self._keys, self._table, rows)
        return rows[0] if single else rows

    def insert(self, keys) -> np.ndarray:
        """Rows of integer vertex keys; missing vertices are created (zero coefs)."""
        q, single = self._as_keys(keys)
        self.reserve(q.shape[0])
        rows = np.empty(q.shape[0], np.int64)
        _k._insert_rows(q, self._keys, self._table, self._count, rows)
        return rows[0] if single else rows

    def copy(self) -> FiniteElements:
        """Deep copy."""
        new = FiniteElements.__new__(FiniteElements)
        new.__dict__.update(self.__dict__)
        for name in (
            "_keys",
            "_coef",
            "_table",
            "_count",
            "_local_of",
            "spacing",
            "origin",
            "inv_spacing",
        ):
            setattr(new, name, getattr(self, name).copy())
        return new

    def to_arrays(self) -> dict:
        """Plain arrays describing the store (for :func:`dbdviz.io.save_npz`)."""
        return {
            "keys": self.keys.copy(),
            "coef": self.coef.copy(),
            "spacing": self.spacing.copy(),
            "origin": self.origin.copy(),
            "kind": np.array(self.kind),
        }

    @classmethod
    def from_arrays(cls, arrays: dict) -> FiniteElements:
        """Inverse of :meth:`to_arrays`."""
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        keys = np.asarray(arrays["keys"], dtype=np.int64)
        fe = cls(
            coef.shape[2],
            arrays["spacing"],
            arrays["origin"],
            kind=str(arrays["kind"]),
            capacity=max(keys.shape[0], 1),
        )
        if coef.shape[1] != fe.n_slots or keys.shape[1] != fe.dim:
            raise ValueError("coef/keys shapes do not match kind and dim")
        rows = fe.insert(keys)
        fe._coef[rows] = coef
        return fe

    # -- evaluation ----------------------------------------------------------------

    def cell_of(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Cell index (int64, (D,)) and fractional coordinate (float64, (D,)) of x."""
        x = self._as_point(x)
        cell = np.empty(self.dim, np.int64)
        frac = np.empty(self.dim)
        _k._locate(x, self.origin, self.inv_spacing, cell, frac)
        return cell, frac

    def evaluate(self, x) -> np.ndarray:
        """Values of all functions.

        Parameters
        ----------
        x : array_like of float, shape (n, D) or (D,)

        Returns
        -------
        ndarray of float64, shape (n, P) (or (P,) for one point)
        """
        pts, single = self._as_points(x)
        out = np.empty((pts.shape[0], self.n_funcs))
        _k._evaluate_points(pts, *self.raw(), out)
        return out[0] if single else out

    def gradient(self, x, deriv_scale: str = "exact") -> tuple[np.ndarray, np.ndarray]:
        """Values and spatial gradients of all functions.

        Parameters
        ----------
        x : array_like of float, shape (n, D) or (D,)
        deriv_scale : {"exact", "reference"}
            ``"exact"``: ``dF/dx``; ``"reference"``: derivative with respect to the
            fractional coordinate, ``spacing * dF/dx`` (pitfall P1).

        Returns
        -------
        values : ndarray of float64, shape (n, P) (or (P,))
        grad : ndarray of float64, shape (n, P, D) (or (P, D)),
            ``grad[i, k, m] = dF_k/dx_m`` at ``x[i]`` (times ``spacing[m]`` for
            ``"reference"``).
        """
        pts, single = self._as_points(x)
        scale = self.derivative_scale(deriv_scale)
        val = np.empty((pts.shape[0], self.n_funcs))
        grad = np.empty((pts.shape[0], self.n_funcs, self.dim))
        _k._gradient_points(pts, *self.raw(), scale, val, grad)
        return (val[0], grad[0]) if single else (val, grad)

    def derivative_scale(self, deriv_scale: str) -> np.ndarray:
        """float64 (D,): factor turning ``dF/df`` into the requested derivative."""
        if deriv_scale == "exact":
            return self.inv_spacing.copy()
        if deriv_scale == "reference":
            return np.ones(self.dim)
        raise ValueError(f"deriv_scale = {deriv_scale!r}: allowed {DERIV_SCALES}")

    def basis(self, x, deriv_dim: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Basis weights ``dF_k(x)/du_k[vertex, slot]`` of the cell holding ``x``.

        The weights are the same for every function ``k``; vertices outside the
        cell have weight 0.

        Parameters
        ----------
        x : array_like of float, shape (D,)
        deriv_dim : int, optional
            Return instead ``d/df_m`` of the weights for ``m = deriv_dim``
            (multiply by ``1/spacing[m]`` for ``d/dx_m``).

        Returns
        -------
        vertex_keys : ndarray of int64, shape (2**D, D), corner order
            ``sum_d v_d 2**(D-1-d)``.
        weights : ndarray of float64, shape (2**D, S)
        """
        x = self._as_point(x)
        m = -1 if deriv_dim is None else int(deriv_dim)
        if not -1 <= m < self.dim:
            raise ValueError(
                f"deriv_dim = {deriv_dim}: allowed 0 <= deriv_dim < {self.dim}"
            )
        cell = np.empty(self.dim, np.int64)
        w = np.empty(self.n_corners * self.n_slots)
        _k._basis_point(x, self.origin, self.inv_spacing, self.n_types, m, cell, w)
        return cell + _corner_offsets(self.dim), w.reshape(self.n_corners, self.n_slots)

    def accumulate(self, x, c) -> SparseGradient:
        """``sum_i c[i, k] * dF_k(x[i])/du_k`` over the vertices of the visited cells.

        Missing corner vertices are created (zero coefficients) so that the result
        can be applied by an optimiser (allocation on update, P15).

        Parameters
        ----------
        x : array_like of float, shape (n, D)
        c : array_like of float, shape (n, P)

        Returns
        -------
        SparseGradient
        """
        pts, _ = self._as_points(x)
        cv = np.ascontiguousarray(c, dtype=np.float64)
        if cv.shape != (pts.shape[0], self.n_funcs):
            raise ValueError(
                f"c has shape {cv.shape}: expected {(pts.shape[0], self.n_funcs)}"
            )
        self.reserve(pts.shape[0] * self.n_corners)
        touched = np.empty(pts.shape[0] * self.n_corners, np.int64)
        corner_local = np.empty((pts.shape[0], self.n_corners), np.int64)
        n = _k._collect_vertices(
            pts,
            self.origin,
            self.inv_spacing,
            self._keys,
            self._table,
            self._count,
            self._local_of,
            touched,
            corner_local,
        )
        g = np.zeros((n, self.n_slots, self.n_funcs))
        _k._accumulate_weights(
            pts, cv, self.origin, self.inv_spacing, self.n_types, corner_local, g
        )
        return SparseGradient(touched[:n].copy(), g)

    # -- helpers -------------------------------------------------------------------

    def _as_point(self, x) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"x has shape {x.shape}: expected ({self.dim},)")
        if not np.all(np.isfinite(x)):
            raise ValueError("x must be finite")
        return x

    def _as_points(self, x) -> tuple[np.ndarray, bool]:
        x = np.ascontiguousarray(x, dtype=np.float64)
        single = x.ndim == 1
        pts = x.reshape(1, -1) if single else x
        if pts.ndim != 2 or pts.shape[1] != self.dim:
            raise ValueError(f"x has shape {x.shape}: expected (n, {self.dim})")
        if not np.all(np.isfinite(pts)):
            raise ValueError("x must be finite")
        return pts, single

    def _as_keys(self, keys) -> tuple[np.ndarray, bool]:
        q = np.ascontiguousarray(keys, dtype=np.int64)
        single = q.ndim == 1
        q = q.reshape(1, -1) if single else q
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise ValueError(f"keys have shape {q.shape}: expected (n, {self.dim})")
        return q, single

    def __repr__(self) -> str:
        return (
            f"FiniteElements(kind={self.kind!r}, dim={self.dim}, "
            f"n_funcs={self.n_funcs}, n_vertices={self.n_vertices})"
        )


def _table_size(capacity: int) -> int:
    """Power of two >= 2 * capacity: load factor at most 1/2."""
    size = 16
    while size < 2 * capacity:
        size *= 2
    return size


def _corner_offsets(dim: int) -> np.ndarray:
    """int64 (2**D, D): bits of the corner index, dimension 0 most significant."""
    c = np.arange(2**dim)[:, None]
    return (c >> (dim - 1 - np.arange(dim))[None, :]) & 1
