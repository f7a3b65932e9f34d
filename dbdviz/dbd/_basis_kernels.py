"""numba kernels of the finite elements of ``F(x)`` (ALGORITHM.md section 4.2).

Only kernels live here; :mod:`dbdviz.dbd.basis` wraps them.

Storage shared by all kernels (one vertex index for all ``P`` functions, because the
functions share the grid geometry and every update touches the same vertices):

* ``keys``  : int64 ``(capacity, D)`` integer grid coordinates of vertex ``row``;
  rows ``0 .. count[0]-1`` are in use, in insertion order.
* ``table`` : int64 ``(2**b,)`` open-addressing hash table (linear probing) of row
  indices, ``-1`` = empty; kept at most half full.
* ``count`` : int64 ``(1,)`` number of rows in use.
* ``coef``  : float64 ``(capacity, S, P)`` coefficients ``u_k[vertex, slot]`` with
  the function index last, so that the inner loops over ``P`` are elementwise
  (vectorisable without reassociating sums).

Element kinds are encoded by ``K`` = basis types per dimension: ``K = 2`` is the
cubic Hermite Q3 C1 element (types V, D), ``K = 1`` the multilinear Q1 element.
``S = K**D`` slots per vertex, slot index ``sum_d kappa_d K**(D-1-d)`` (dimension 0
most significant: for Q3 exactly the slot order of section 4.2). A cell has
``2**D`` corners, corner index ``sum_d v_d 2**(D-1-d)``. Basis weights of one cell
are stored flat, ``w[corner * S + slot]``.
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, jit_fast

_HASH_SEED = np.uint64(0x9E3779B97F4A7C15)
_HASH_MUL = np.uint64(0xBF58476D1CE4E5B9)
_HASH_MUL2 = np.uint64(0x94D049BB133111EB)
_SHIFT_A = np.uint64(30)
_SHIFT_B = np.uint64(27)
_SHIFT_C = np.uint64(31)
_OFFSET = np.int64(1) << np.int64(40)  # makes small negative indices non-negative


# ----------------------------------------------------------------------------------
# Sparse vertex index (open addressing)
# ----------------------------------------------------------------------------------


@jit
def _hash_slot(key, mask):
    """Table position of an integer vertex key (splitmix64-style mixing)."""
    h = _HASH_SEED
    for d in range(key.shape[0]):
        h ^= np.uint64(key[d] + _OFFSET)
        h ^= h >> _SHIFT_A
        h *= _HASH_MUL
        h ^= h >> _SHIFT_B
        h *= _HASH_MUL2
        h ^= h >> _SHIFT_C
    return np.int64(h & np.uint64(mask))


@jit
def _find_row(key, keys, table):
    """Row of vertex ``key`` or -1 (never allocates: pitfall P15)."""
    mask = table.shape[0] - 1
    pos = _hash_slot(key, mask)
    dim = key.shape[0]
    while True:
        r = table[pos]
        if r < 0:
            return -1
        same = True
        for d in range(dim):
            if keys[r, d] != key[d]:
                same = False
                break
        if same:
            return r
        pos = (pos + 1) & mask


@jit
def _insert_row(key, keys, table, count):
    """Row of vertex ``key``, appended (zero coefficients) when missing.

    The caller guarantees ``count[0] < keys.shape[0]`` and a table at most half full.
    """
    mask = table.shape[0] - 1
    pos = _hash_slot(key, mask)
    dim = key.shape[0]
    while True:
        r = table[pos]
        if r < 0:
            r = count[0]
            for d in range(dim):
                keys[r, d] = key[d]
            table[pos] = r
            count[0] = r + 1
            return r
        same = True
        for d in range(dim):
            if keys[r, d] != key[d]:
                same = False
                break
        if same:
            return r
        pos = (pos + 1) & mask


@jit
def _rehash(keys, count, table):
    """Rebuild ``table`` (already filled with -1) from the first ``count`` keys."""
    mask = table.shape[0] - 1
    for r in range(count):
        pos = _hash_slot(keys[r], mask)
        while table[pos] >= 0:
            pos = (pos + 1) & mask
        table[pos] = r


@jit
def _find_rows(query, keys, table, rows):
    """``rows[i]`` = row of ``query[i]`` or -1."""
    for i in range(query.shape[0]):
        rows[i] = _find_row(query[i], keys, table)


@jit
def _insert_rows(query, keys, table, count, rows):
    """``rows[i]`` = row of ``query[i]``, inserted when missing."""
    for i in range(query.shape[0]):
        rows[i] = _insert_row(query[i], keys, table, count)


# ----------------------------------------------------------------------------------
# Geometry and basis weights of one point
# ----------------------------------------------------------------------------------


@jit_fast
def _locate(x, origin, inv_spacing, cell, frac):
    """Cell index ``floor((x - z) / spacing)`` (P16) and fractional coordinate."""
    for d in range(x.shape[0]):
        r = (x[d] - origin[d]) * inv_spacing[d]
        c = np.floor(r)
        cell[d] = np.int64(c)
        frac[d] = r - c


@jit_fast
def _factor_tables(frac, n_types, tab, dtab):
    """Per-dimension 1-D factors ``tab[d, v, kappa]`` and their ``f``-derivatives.

    Q3 (``n_types = 2``): H_{V,0} = 1 - 3f^2 + 2f^3, H_{V,1} = 3f^2 - 2f^3,
    H_{D,0} = f - 2f^2 + f^3, H_{D,1} = f^3 - f^2 (ALGORITHM.md 4.2).
    Q1 (``n_types = 1``): 1 - f, f.
    """
    for d in range(frac.shape[0]):
        f = frac[d]
        if n_types == 2:
            f2 = f * f
            f3 = f2 * f
            tab[d, 0, 0] = 1.0 - 3.0 * f2 + 2.0 * f3
            tab[d, 1, 0] = 3.0 * f2 - 2.0 * f3
            tab[d, 0, 1] = f - 2.0 * f2 + f3
            tab[d, 1, 1] = f3 - f2
            dtab[d, 0, 0] = -6.0 * f + 6.0 * f2
            dtab[d, 1, 0] = 6.0 * f - 6.0 * f2
            dtab[d, 0, 1] = 1.0 - 4.0 * f + 3.0 * f2
            dtab[d, 1, 1] = 3.0 * f2 - 2.0 * f
        else:
            tab[d, 0, 0] = 1.0 - f
            tab[d, 1, 0] = f
            dtab[d, 0, 0] = -1.0
            dtab[d, 1, 0] = 1.0


@jit_fast
def _outer_weights(tab, dtab, deriv_dim, n_types, w):
    """Basis weights of a cell: ``w[corner*S + slot] = prod_d T_d[v_d, kappa_d]``.

    ``T_d`` is ``dtab[d]`` for ``d == deriv_dim`` and ``tab[d]`` otherwise
    (``deriv_dim = -1``: plain values); i.e. the Kronecker product of the 2 x K
    tables, dimension 0 most significant. Built dimension by dimension in place:
    the entry at old flat index ``i = corner*ns + slot`` only writes to new indices
    ``>= i``, so walking ``i`` downwards never overwrites an unread entry.
    """
    dim = tab.shape[0]
    w[0] = 1.0
    nc = 1
    ns = 1
    for d in range(dim):
        t = dtab[d] if d == deriv_dim else tab[d]
        nsk = ns * n_types
        for corner in range(nc - 1, -1, -1):
            for slot in range(ns - 1, -1, -1):
                val = w[corner * ns + slot]
                b0 = (2 * corner) * nsk + slot * n_types
                b1 = b0 + nsk
                for k in range(n_types):
                    w[b0 + k] = val * t[0, k]
                    w[b1 + k] = val * t[1, k]
        nc *= 2
        ns = nsk


@jit
def _cell_rows(cell, keys, table, key, rows):
    """Rows of the ``2**D`` corners of ``cell`` (-1 where missing); no allocation."""
    dim = cell.shape[0]
    for c in range(rows.shape[0]):
        for d in range(dim):
            key[d] = cell[d] + ((c >> (dim - 1 - d)) & 1)
        rows[c] = _find_row(key, keys, table)


@jit_fast
def _contract(rows, w, coef, out):
    """``out[p] += sum_corner sum_slot coef[row, slot, p] * w[corner*S + slot]``."""
    n_slots = coef.shape[1]
    n_funcs = coef.shape[2]
    for c in range(rows.shape[0]):
        r = rows[c]
        if r < 0:
            continue  # missing vertex = zero coefficients
        base = c * n_slots
        for s in range(n_slots):
            ws = w[base + s]
            for p in range(n_funcs):
                out[p] += coef[r, s, p] * ws


@jit_fast
def _contract_grad(rows, wall, coef, acc):
    """Value and all ``D`` spatial derivatives in one pass over the coefficients.

    ``wall[0]`` are the value weights, ``wall[1 + m]`` the weights with the
    ``f``-derivative factor in dimension ``m``; ``acc[j, p] += sum coef * wall[j]``.
    """
    n_slots = coef.shape[1]
    n_funcs = coef.shape[2]
    n_sets = wall.shape[0]
    for c in range(rows.shape[0]):
        r = rows[c]
        if r < 0:
            continue
        base = c * n_slots
        for s in range(n_slots):
            for j in range(n_sets):
                wj = wall[j, base + s]
                for p in range(n_funcs):
                    acc[j, p] += coef[r, s, p] * wj


# ----------------------------------------------------------------------------------
# Many points
# ----------------------------------------------------------------------------------


@jit
def _same_cell(a, b):
    for d in range(a.shape[0]):
        if a[d] != b[d]:
            return False
    return True


@jit
def _evaluate_points(points, origin, inv_spacing, n_types, keys, table, coef, out):
    """``out[i, p] = F_p(points[i])`` for all ``P`` functions.

    Parameters
    ----------
    points : float64 (n, D)
    out : float64 (n, P), overwritten.
    """
    n, dim = points.shape
    n_corners = 1 << dim
    n_slots = coef.shape[1]
    cell = np.empty(dim, np.int64)
    last = np.empty(dim, np.int64)
    frac = np.empty(dim)
    key = np.empty(dim, np.int64)
    rows = np.empty(n_corners, np.int64)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    w = np.empty(n_corners * n_slots)
    have = False
    for i in range(n):
        _locate(points[i], origin, inv_spacing, cell, frac)
        if not have or not _same_cell(cell, last):
            _cell_rows(cell, keys, table, key, rows)
            last[:] = cell
            have = True
        _factor_tables(frac, n_types, tab, dtab)
        _outer_weights(tab, dtab, -1, n_types, w)
        out[i, :] = 0.0
        _contract(rows, w, coef, out[i])


@jit
def _gradient_points(
    points, origin, inv_spacing, n_types, keys, table, coef, scale, out_val, out_grad
):
    """Values and gradients of all functions at ``points``.

    ``out_grad[i, p, m] = scale[m] * dF_p/df_m`` where ``f_m`` is the fractional
    coordinate: ``scale = 1 / spacing`` gives the true derivative ``dF/dx_m``,
    ``scale = 1`` the reference library's derivative (pitfall P1).

    Parameters
    ----------
    points : float64 (n, D)
    scale : float64 (D,)
    out_val : float64 (n, P), overwritten.
    out_grad : float64 (n, P, D), overwritten.
    """
    n, dim = points.shape
    n_corners = 1 << dim
    n_slots = coef.shape[1]
    n_funcs = coef.shape[2]
    cell = np.empty(dim, np.int64)
    last = np.empty(dim, np.int64)
    frac = np.empty(dim)
    key = np.empty(dim, np.int64)
    rows = np.empty(n_corners, np.int64)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    wall = np.empty((dim + 1, n_corners * n_slots))
    acc = np.empty((dim + 1, n_funcs))
    have = False
    for i in range(n):
        _locate(points[i], origin, inv_spacing, cell, frac)
        if not have or not _same_cell(cell, last):
            _cell_rows(cell, keys, table, key, rows)
            last[:] = cell
            have = True
        _factor_tables(frac, n_types, tab, dtab)
        for m in range(-1, dim):
            _outer_weights(tab, dtab, m, n_types, wall[m + 1])
        acc[:, :] = 0.0
        _contract_grad(rows, wall, coef, acc)
        for p in range(n_funcs):
            out_val[i, p] = acc[0, p]
            for m in range(dim):
                out_grad[i, p, m] = acc[1 + m, p] * scale[m]


@jit
def _basis_point(x, origin, inv_spacing, n_types, deriv_dim, cell, w):
    """Cell of ``x`` and its basis weights (``deriv_dim >= 0``: ``d/df`` weights)."""
    dim = x.shape[0]
    frac = np.empty(dim)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    _locate(x, origin, inv_spacing, cell, frac)
    _factor_tables(frac, n_types, tab, dtab)
    _outer_weights(tab, dtab, deriv_dim, n_types, w)


@jit
def _integrate_euler(
    out,
    t_start,
    domain,
    dt,
    substeps,
    origin,
    inv_spacing,
    n_types,
    keys,
    table,
    coef,
    cells,
):
    """Forward Euler ``theta <- theta + (dt/substeps) F(theta[domain])`` (section 4.1).

    Integrates from ``out[t_start]`` (given) to the last row of ``out``. All ``F_k``
    are evaluated at the current point before any parameter moves (Jacobi);
    ``out[t]`` is the state after ``t`` steps of ``dt`` (each made of ``substeps``
    Euler substeps). The cell of every evaluation ``e = t * substeps + j`` is
    recorded in ``cells[e]`` (used to re-integrate only from the first evaluation
    whose cell had coefficients changed).

    Parameters
    ----------
    out : float64 (T + 1, P); rows ``t_start + 1 ..`` are overwritten.
    domain : int64 (D,) parameter index of each domain coordinate.
    cells : int64 (>= T * substeps, D), out.
    """
    n_steps = out.shape[0] - 1
    dim = domain.shape[0]
    n_funcs = out.shape[1]
    n_corners = 1 << dim
    n_slots = coef.shape[1]
    h = dt / substeps
    cell = np.empty(dim, np.int64)
    last = np.empty(dim, np.int64)
    frac = np.empty(dim)
    x = np.empty(dim)
    key = np.empty(dim, np.int64)
    rows = np.empty(n_corners, np.int64)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    w = np.empty(n_corners * n_slots)
    f = np.empty(n_funcs)
    th = out[t_start].copy()
    have = False
    for t in range(t_start, n_steps):
        for j in range(substeps):
            for m in range(dim):
                x[m] = th[domain[m]]
            _locate(x, origin, inv_spacing, cell, frac)
            cells[t * substeps + j, :] = cell
            if not have or not _same_cell(cell, last):
                _cell_rows(cell, keys, table, key, rows)
                last[:] = cell
                have = True
            _factor_tables(frac, n_types, tab, dtab)
            _outer_weights(tab, dtab, -1, n_types, w)
            f[:] = 0.0
            _contract(rows, w, coef, f)
            for p in range(n_funcs):
                th[p] += h * f[p]
        out[t + 1, :] = th


@jit
def _first_dirty_eval(cells, n_evals, keys, table, dirty):
    """First evaluation whose cell has a corner vertex flagged in ``dirty``.

    ``dirty`` is indexed by store row; vertices created after the evaluation are
    flagged too (they only come into existence through an update). Returns
    ``n_evals`` when no evaluation is affected.
    """
    dim = cells.shape[1]
    n_corners = 1 << dim
    key = np.empty(dim, np.int64)
    rows = np.empty(n_corners, np.int64)
    for e in range(n_evals):
        if e > 0 and _same_cell(cells[e], cells[e - 1]):
            continue
        _cell_rows(cells[e], keys, table, key, rows)
        for c in range(n_corners):
            r = rows[c]
            if r >= 0 and dirty[r]:
                return e
    return n_evals


# ----------------------------------------------------------------------------------
# Accumulation of sum_i c[i, p] dF_p(points[i]) / du_p   (gradients, section 5.5)
# ----------------------------------------------------------------------------------


@jit
def _collect_vertices(
    points, origin, inv_spacing, keys, table, count, local_of, touched, corner_local
):
    """Insert the corner vertices of every point's cell and number them locally.

    ``local_of`` (length >= capacity, all -1 on entry and on exit) maps a store row
    to its local index; ``touched[j]`` is the store row of local vertex ``j``;
    ``corner_local[i, c]`` the local index of corner ``c`` of point ``i``'s cell.
    Returns the number of distinct vertices. The caller reserved room for
    ``n * 2**D`` new rows.
    """
    n, dim = points.shape
    n_corners = 1 << dim
    cell = np.empty(dim, np.int64)
    frac = np.empty(dim)
    key = np.empty(dim, np.int64)
    n_touched = 0
    for i in range(n):
        _locate(points[i], origin, inv_spacing, cell, frac)
        for c in range(n_corners):
            for d in range(dim):
                key[d] = cell[d] + ((c >> (dim - 1 - d)) & 1)
            r = _insert_row(key, keys, table, count)
            j = local_of[r]
            if j < 0:
                j = n_touched
                local_of[r] = j
                touched[j] = r
                n_touched += 1
            corner_local[i, c] = j
    for j in range(n_touched):
        local_of[touched[j]] = -1
    return n_touched


@jit
def _accumulate_weights(points, cvals, origin, inv_spacing, n_types, corner_local, g):
    """``g[local, slot, p] += sum_i cvals[i, p] * w_i[corner*S + slot]``.

    Parameters
    ----------
    points : float64 (n, D)
    cvals : float64 (n, P) multiplier of each point and function.
    g : float64 (n_touched, S, P), accumulated into.
    """
    n, dim = points.shape
    n_corners = 1 << dim
    n_slots = g.shape[1]
    cell = np.empty(dim, np.int64)
    frac = np.empty(dim)
    tab = np.empty((dim, 2, n_types))
    dtab = np.empty((dim, 2, n_types))
    w = np.empty(n_corners * n_slots)
    for i in range(n):
        _locate(points[i], origin, inv_spacing, cell, frac)
        _factor_tables(frac, n_types, tab, dtab)
        _outer_weights(tab, dtab, -1, n_types, w)
        _scatter(corner_local[i], w, cvals[i], g)


@jit_fast
def _scatter(local, w, cv, g):
    n_slots = g.shape[1]
    n_funcs = g.shape[2]
    for c in range(local.shape[0]):
        j = local[c]
        base = c * n_slots
        for s in range(n_slots):
            ws = w[base + s]
            for p in range(n_funcs):
                g[j, s, p] += cv[p] * ws
