"""numba kernels of the lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

Only jitted functions live here; :mod:`dbdviz.simulate.lattice` validates, allocates
and wraps. Every kernel has a pure-Python twin in ``tests/naive.py`` that replays the
same xoshiro256** draws and must give bit-identical lattices.

State of one replicate
----------------------
* ``lat[N + 64]`` (uint8, ``N`` sites and 64 spare bytes): the lattice,
  ``code | mark`` with code 0 empty, 1 X, 2 Y and a
  mark bit (4) that tells the two lattices of the hop sweep apart. The molecules not
  yet moved ("todo") carry the sweep's todo mark ``tm``, the moved or settled ones
  ("done") the other mark ``tm ^ 4``; the next sweep swaps the roles, so nothing is
  ever cleared or copied. The twin's ``todo[s]`` is ``lat[s]`` if its mark is ``tm``,
  its ``done[s]`` is ``lat[s]`` otherwise; one load answers both.
* The todo set of the hop sweep, built from the lattice right before every sweep
  (:func:`_build_rows`, :func:`_build_flat`) and emptied by it: molecules grouped in
  buckets with O(1) removal (swap with the bucket's last element) and a list ``nz``
  of the non-empty buckets (positions ``nzpos``). In the reference pick mode the
  buckets are the rows (``items[r * L + j]``, ``j < cnt[r]``, hold columns, in
  increasing order when built), so "a random non-empty bucket, then a random member"
  is exactly the nested-permutation scan RANDOM_SITE of section 1.5 (quirk Q3) at
  O(1) cost; the rare removal of a molecule that was not just picked (a reaction
  partner) scans its row. In the uniform mode one bucket holds every molecule (sites,
  row-major when built) with members' positions ``pos``. Moved molecules need no set:
  the done mark in ``lat`` is all the sweep asks of them. ``items`` uses the smallest
  unsigned type that fits (uint8 columns up to L = 256).
* Bit planes ``bits[2, (L + 2) * W]`` (uint64), rebuilt from ``lat`` at every record
  by :func:`_pack_lattice` (about one operation per site) and kept current by the
  unimolecular events (the spare copies excepted): plane 0 the X, plane 1 the
  Y; word-major: word ``i`` of row ``r`` is ``bits[a, i * S + r]`` (``S = L + 2``,
  ``W = (L + 65) // 64`` words per row), column ``c`` is bit ``c & 63`` of word
  ``c >> 6``; the spare columns ``L, L + 1`` and rows ``L, L + 1`` repeat columns
  and rows 0, 1 (periodic wrap). Word-major so that the record's loop over rows
  reads consecutive words (LLVM vectorises it).
  :func:`_record_bits` counts the pairs with popcounts, O(L * W) word operations
  instead of visiting every molecule with its six neighbours.
* ``rowcnt[L]``, ``rowy[L]``: molecules and Y per row of the current lattice, used by
  the occasional picks of empty sites, X or Y (births, deaths, initial placement);
  recomputed at every record because the hop sweep does not maintain them.

Site ``s = r * L + c``. Hop neighbours come from one small table instead of an
``(N, 4)`` table that does not fit in L1 for large lattices: direction ``e`` (0..3 =
(r-1, c), (r+1, c), (r, c-1), (r, c+1), periodic) leads to site
``s + hop[8 * r + e] + hop[8 * c + 4 + e]`` (row and column offsets, int32, the wrap
included). In the nested mode a molecule's row is its bucket; otherwise (and for a
reaction partner) ``r = (s * magic) >> 40`` with ``magic = 2**40 // L + 1``, exact
for ``s < 2**20`` and ``L <= 1000`` (the error ``s / 2**40 < 1 / L``).

Order of random draws (per replicate, one xoshiro256** stream)
-------------------------------------------------------------
1. Initial placement: ``init_x`` X then ``init_y`` Y, each one RANDOM_SITE(empty)
   (:func:`_pick_empty` documents the draws of these picks).
2. Every step, the unimolecular events (:func:`_events` lists their draws).
3. The hop sweep: per move ONE 64-bit output ``x`` (disjoint bit fields, so the
   three choices are independent): nested mode bucket (= row) index
   ``((x >> 32) * nnz) >> 32`` among the non-empty buckets, member index
   ``(((x >> 2) & (2**30 - 1)) * cnt) >> 30``; uniform mode member index
   ``((x >> 32) * cnt) >> 32``; both modes direction ``x & 3`` (exact). Then, only
   for an X-Y collision, one ``uniform`` (``< p3`` reacts). The multiply-shift bias
   is below ``n / 2**30``, i.e. < 1e-6 for every lattice allowed.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .._numba import jit, pjit, prange
from .._rng import below, randbelow, xoshiro_step

_M30 = np.uint64(0x3FFFFFFF)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U11 = np.uint64(11)
_U30 = np.uint64(30)
_U32 = np.uint64(32)
_U40 = np.uint64(40)
_U62 = np.uint64(62)
_U63 = np.uint64(63)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
_MARK = 4  # the mark bit of lat
_2M53 = 1.0 / 9007199254740992.0  # uniform = (x >> 11) * 2**-53, as _rng.uniform


# --------------------------------------------------------------------------------------
# machine-level helpers numba does not expose
# --------------------------------------------------------------------------------------


@intrinsic
def _popcount(typingctx, x):
    """Number of set bits of a uint64 (the LLVM ``ctpop`` instruction)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@intrinsic
def _ctz(typingctx, x):
    """Number of trailing zero bits of a non-zero uint64 (LLVM ``cttz``)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


@intrinsic
def _select(typingctx, cond, a, b):
    """``a if cond else b`` on uint64, compiled to a conditional move.

    The select is marked ``!unpredictable`` so that LLVM does not turn it back into
    a branch: a free hop versus a blocked one is a coin flip at these densities, and
    a mispredicted branch costs more than the whole rest of a move.
    """
    if not isinstance(cond, types.Boolean):
        return None

    def codegen(context, builder, signature, args):
        inst = builder.select(args[0], args[1], args[2])
        inst.set_metadata("unpredictable", builder.module.add_metadata([]))
        return inst

    return types.uint64(types.boolean, types.uint64, types.uint64), codegen


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


@jit
def _fill_hop_table(L, hop):
    """Hop table ``hop`` (int32, shape (8 * L,)); see the module notes."""
    dr = (-1, 1, 0, 0)
    dc = (0, 0, -1, 1)
    for i in range(L):
        for e in range(4):
            hop[8 * i + e] = ((i + dr[e]) % L - i) * L
            hop[8 * i + 4 + e] = (i + dc[e]) % L - i


# --------------------------------------------------------------------------------------
# occasional picks and the record
# --------------------------------------------------------------------------------------


@jit
def _pick_empty(st, lat, bits, L, W, rowcnt, nested):
    """RANDOM_SITE over the empty sites (initial placement); the lattice must have one.

    Nested mode (quirk Q3): a row uniformly among the rows with an empty site (exact
    rejection: ``r = randbelow(L)`` until row ``r`` has one), then ``j =
    randbelow(#empty in row)`` and the ``j``-th empty site of the row in column order
    (:func:`_row_select` on the bit planes). Uniform mode: ``s = randbelow(N)`` until
    ``s`` is empty.
    """
    if nested:
        r = randbelow(st, L)
        while rowcnt[r] >= L:
            r = randbelow(st, L)
        jj = randbelow(st, L - rowcnt[r])
        return r * L + _row_select(bits, 0, r, L, W, jj)
    N = L * L
    s = randbelow(st, N)
    while lat[s] != 0:
        s = randbelow(st, N)
    return s


@intrinsic
def _bitmask64(typingctx, arr, idx, bit):
    """Bit ``bit`` of each of the 64 bytes ``arr[idx:idx + 64]``, as one uint64 in
    byte order (``arr`` uint8).

    One vector load, shift, compare and bit-cast of an ``<64 x i1>`` mask: LLVM emits
    ``pmovmskb`` (x86) or the equivalent of the target, 64 sites in a few
    instructions.
    """
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8):
        return None

    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, args[0])
        vt = ir.VectorType(ir.IntType(8), 64)
        ptr = builder.bitcast(builder.gep(a.data, [args[1]]), vt.as_pointer())
        v = builder.load(ptr, align=1)
        b = builder.trunc(args[2], ir.IntType(8))
        sh = builder.insert_element(
            ir.Constant(vt, None), b, ir.Constant(ir.IntType(32), 0)
        )
        sh = builder.shuffle_vector(
            sh,
            ir.Constant(vt, None),
            ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64),
        )
        m = builder.and_(builder.lshr(v, sh), ir.Constant(vt, [1] * 64))
        c = builder.icmp_unsigned("!=", m, ir.Constant(vt, [0] * 64))
        return builder.bitcast(c, ir.IntType(64))

    return types.uint64(arr, types.int64, types.int64), codegen


@jit
def _pack_lattice(lat, bits, L, W):
    """Bit planes ``bits`` (module notes) of the lattice ``lat``.

    Parameters
    ----------
    lat : ndarray of uint8, shape (N + 64,)
        The lattice (``code | mark``) with 64 spare bytes (loads of 64 sites may
        reach past the last row).
    bits : ndarray of uint64, shape (2, W * (L + 2))
        Output: X and Y planes with the periodic copies (spare columns ``L, L + 1``
        = columns 0, 1; rows ``L, L + 1`` = rows 0, 1).

    Notes
    -----
    Word ``i`` of row ``r`` is bit 0 (X) or bit 1 (Y) of the 64 bytes from site
    ``r * L + 64 i`` (:func:`_bitmask64`), masked to the row's columns.
    """
    if W == 1:  # L <= 62: one word per row, spare columns in the same word
        vm = (_U1 << np.uint64(L)) - _U1
        sl = np.uint64(L)
        for r in range(L):
            wx = _bitmask64(lat, r * L, 0) & vm
            wy = _bitmask64(lat, r * L, 1) & vm
            bits[0, r] = wx | ((wx & _U3) << sl)
            bits[1, r] = wy | ((wy & _U3) << sl)
    else:
        hi0 = L >> 6
        hi1 = (L + 1) >> 6
        sh0 = np.uint64(L & 63)
        sh1 = np.uint64((L + 1) & 63)
        S = L + 2
        for r in range(L):
            for i in range(W):
                vm = _row_mask(L, i)
                if vm == _U0:
                    bits[0, i * S + r] = _U0
                    bits[1, i * S + r] = _U0
                else:
                    bits[0, i * S + r] = _bitmask64(lat, r * L + 64 * i, 0) & vm
                    bits[1, i * S + r] = _bitmask64(lat, r * L + 64 * i, 1) & vm
            for a in range(2):
                w0 = bits[a, r]
                bits[a, hi0 * S + r] |= (w0 & _U1) << sh0
                bits[a, hi1 * S + r] |= ((w0 >> _U1) & _U1) << sh1
    S = L + 2
    for a in range(2):
        for i in range(W):
            bits[a, i * S + L] = bits[a, i * S]
            bits[a, i * S + L + 1] = bits[a, i * S + 1]


@jit
def _record_bits(bits, L, W, rowcnt, rowy, out):
    """Observables of the lattice held in ``bits`` into ``out`` (int64, 11), row counts.

    Parameters
    ----------
    bits : ndarray of uint64, shape (2, W * (L + 2))
        X and Y planes with periodic copies, from :func:`_pack_lattice`.
    L, W : int
        Lattice side and words per row.
    rowcnt, rowy : ndarray of int32, shape (L,)
        Output: molecules and Y per row.
    out : ndarray of int64, shape (11,)
        Output, in ``moments.OBSERVABLES`` order.

    Notes
    -----
    Obvious form (``moments.lattice_observables``): for each displacement class ``D``
    (NN: (0, 1), (1, 0); NNN: (1, 1), (1, -1); NNN3: (1, 1), (0, 2), (2, 0))
    ``AB = sum_i sum_{d in D} a_i b_{i+d}`` with ``XY = sum x_i y_{i+d} + y_i x_{i+d}``
    (every unordered pair once). Here ``sum_c a[r, c] b[r', c + k]`` is
    ``popcount(A_r & (B_r' >> k))`` on the row words, the shift pulling the wrapped
    columns from the spare bits; ``(1, -1)`` is written as ``a[r, c + 1] b[r + 1, c]``.
    The two terms of an XY count never share a bit (a site is not both X and Y), so
    they are OR-ed before one popcount. Per word column ``i`` a straight loop over
    the rows on consecutive words (word-major planes): LLVM vectorises it
    (``vpopcntq``), 2.4x faster than row by row at 100 x 100. One word per row
    (``L <= 62``) is the case ``W = 1``: the spare columns sit in the same word.
    """
    X = bits[0]
    Y = bits[1]
    S = L + 2
    nn_xx = 0
    nn_xy = 0
    nn_yy = 0
    dg_xx = 0
    dg_xy = 0
    dg_yy = 0
    d3_xx = 0
    d3_xy = 0
    d3_yy = 0
    for r in range(L):
        rowcnt[r] = 0
        rowy[r] = 0
    for i in range(W):
        vm = _row_mask(L, i)
        b0 = i * S
        last = i + 1 == W
        bn = b0 if last else b0 + S  # the next word's block (none after the last)
        for r in range(L):
            x0 = X[b0 + r]
            y0 = Y[b0 + r]
            x1 = X[b0 + r + 1]
            y1 = Y[b0 + r + 1]
            x2 = X[b0 + r + 2]
            y2 = Y[b0 + r + 2]
            if last:
                x0n = _U0
                y0n = _U0
                x1n = _U0
                y1n = _U0
            else:
                x0n = X[bn + r]
                y0n = Y[bn + r]
                x1n = X[bn + r + 1]
                y1n = Y[bn + r + 1]
            # rows shifted left by one or two columns: bit c holds column c + k
            x0s = (x0 >> _U1) | (x0n << _U63)
            y0s = (y0 >> _U1) | (y0n << _U63)
            x0ss = (x0 >> _U2) | (x0n << _U62)
            y0ss = (y0 >> _U2) | (y0n << _U62)
            x1s = (x1 >> _U1) | (x1n << _U63)
            y1s = (y1 >> _U1) | (y1n << _U63)
            xa = x0 & vm
            ya = y0 & vm
            x1a = x1 & vm
            y1a = y1 & vm
            cx = _popcount(xa)
            cy = _popcount(ya)
            rowcnt[r] += cx + cy
            rowy[r] += cy
            # NN: (0, 1) and (1, 0)
            nn_xx += _popcount(xa & x0s) + _popcount(xa & x1)
            nn_yy += _popcount(ya & y0s) + _popcount(ya & y1)
            nn_xy += _popcount((xa & y0s) | (ya & x0s)) + _popcount(
                (xa & y1) | (ya & x1)
            )
            # (1, 1), in both NNN classes
            e_xx = _popcount(xa & x1s)
            e_yy = _popcount(ya & y1s)
            e_xy = _popcount((xa & y1s) | (ya & x1s))
            # (1, -1): a[r, c + 1] b[r + 1, c]
            dg_xx += e_xx + _popcount(x0s & x1a)
            dg_yy += e_yy + _popcount(y0s & y1a)
            dg_xy += e_xy + _popcount((x0s & y1a) | (y0s & x1a))
            # (0, 2) and (2, 0)
            d3_xx += e_xx + _popcount(xa & x0ss) + _popcount(xa & x2)
            d3_yy += e_yy + _popcount(ya & y0ss) + _popcount(ya & y2)
            d3_xy += (
                e_xy
                + _popcount((xa & y0ss) | (ya & x0ss))
                + _popcount((xa & y2) | (ya & x2))
            )
    nx = 0
    ny = 0
    for r in range(L):
        nx += rowcnt[r] - rowy[r]
        ny += rowy[r]
    out[0] = nx
    out[1] = ny
    out[2] = nn_xx
    out[3] = nn_xy
    out[4] = nn_yy
    out[5] = dg_xx
    out[6] = dg_xy
    out[7] = dg_yy
    out[8] = d3_xx
    out[9] = d3_xy
    out[10] = d3_yy


# --------------------------------------------------------------------------------------
# unimolecular events
# --------------------------------------------------------------------------------------


@jit
def _row_mask(L, i):
    """Valid-column mask of word ``i`` of a row (the spare columns and the padding of
    the last words are cleared)."""
    nvalid = L - 64 * i
    if nvalid >= 64:
        return _ONES
    if nvalid > 0:
        return (_U1 << np.uint64(nvalid)) - _U1
    return _U0


def _select_in_byte_table() -> np.ndarray:
    """``T[8 * b + k]``: position of the ``k``-th set bit of byte ``b`` (8: none)."""
    t = np.full(2048, 8, np.uint8)
    for b in range(256):
        ones = [i for i in range(8) if b >> i & 1]
        for k, i in enumerate(ones):
            t[8 * b + k] = i
    return t


_SEL_BYTE = _select_in_byte_table()
_L8 = np.uint64(0x0101010101010101)
_H8 = np.uint64(0x8080808080808080)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_UFF = np.uint64(0xFF)
_U8 = np.uint64(8)


@jit
def _select64(w, k):
    """Position of the ``k``-th (from 0) set bit of ``w``; ``k < popcount(w)``.

    Branch-free broadword select (S. Vigna, "Broadword implementation of rank/select
    queries", 2008): byte-wise popcounts, their prefix sums by one multiply, the byte
    holding the bit by a parallel compare, then a 2 KiB table within the byte.
    """
    k = np.uint64(k)
    c = w - ((w >> _U1) & _M1)
    c = (c & _M2) + ((c >> _U2) & _M2)
    c = (c + (c >> np.uint64(4))) & _M4
    b = c * _L8  # byte i: set bits in bytes 0..i
    place = _popcount((((k * _L8) | _H8) - b) & _H8) * _U8  # bits before the byte
    rank = k - (((b << _U8) >> place) & _UFF)
    return np.int64(place) + np.int64(
        _SEL_BYTE[(((w >> place) & _UFF) << np.uint64(3)) | rank]
    )


@jit
def _row_select(bits, code, r, L, W, jj):
    """Column of the ``jj``-th (from 0) site holding ``code`` (0 empty, 1 X, 2 Y) of
    row ``r`` in column order, on the bit planes; the row must hold more than ``jj``.
    """
    S = L + 2
    i = 0
    while True:
        xw = bits[0, i * S + r]
        yw = bits[1, i * S + r]
        if code == 0:
            w = ~(xw | yw)
        elif code == 1:
            w = xw
        else:
            w = yw
        w &= _row_mask(L, i)
        pc = np.int64(_popcount(w))
        if jj < pc:
            return 64 * i + _select64(w, jj)
        jj -= pc
        i += 1


@jit
def _events(
    st,
    lat,
    tm,
    bits,
    W,
    rowcnt,
    rowy,
    hop,
    L,
    nested,
    local_birth,
    birth,
    death,
    t_int,
    t_target,
    rxn,
    t_rxn,
    nx,
    ny,
):
    """The unimolecular part of one step (ALGORITHM.md 1.2-1.3) on the current lattice.

    SCHEDULE if nothing is pending, then every event due before ``t_target``, each
    followed by a SCHEDULE; the event left pending survives the hop sweep (stale
    schedule, quirk Q2). New molecules get the todo mark ``tm`` of the coming sweep.
    ``lat``, the bit planes ``bits`` (columns only, not the spare copies), ``rowcnt``
    and ``rowy`` are kept up to date. Returns ``(t_int, rxn, t_rxn, nx, ny)``; ``rxn``
    0 = none pending, 1 = birth, 2 = death.

    Draws (same stream as ``_rng``; ``rb(n) = ((x >> 32) * n) >> 32``):

    * SCHEDULE: ``uniform`` (``u * a0 < a1`` -> birth), then ``exponential``
      (waiting time ``E / a0``); nothing if ``a0 = 0`` (quirk Q5 guard);
    * birth, global: RANDOM_SITE(empty) as :func:`_pick_empty` (no draw if full);
    * birth, local: RANDOM_SITE(X) then ``rb(4)`` for the neighbour (hop order); no
      birth if it is occupied or there is no X;
    * death: RANDOM_SITE(Y);
    * RANDOM_SITE(empty, X or Y), nested mode: ``r = rb(L)`` until row ``r`` holds
      one, then ``j = rb(#in row)`` and the ``j``-th such site of the row in column
      order; uniform mode, X or Y: ``j = rb(total)`` and the ``j``-th in row-major
      order (empty: ``rb(N)`` until empty). The ``j``-th is found on the bit planes
      (:func:`_row_select`).

    Everything is inlined in this one function (called once per step) because numba
    calls with array arguments pay atomic reference counting.
    """
    N = L * L
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    first = True
    while True:
        if rxn == 0 or not first:
            # SCHEDULE from the current counts
            if local_birth:
                a1 = birth * nx
            else:
                a1 = birth * max(nx, 1)
            a0 = a1 + death * ny
            if not a0 > 0.0:
                rxn = 0
            else:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                rxn = 1 if u * a0 < a1 else 2
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                u = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                t_rxn = t_int + (-np.log(1.0 - u)) / a0
        first = False
        if rxn == 0 or not t_rxn < t_target:
            break
        # the event: which code to pick and how many candidates there are
        if rxn == 1 and not local_birth:
            code = 0
            total = N - nx - ny
        elif rxn == 1:
            code = 1
            total = nx
        else:
            code = 2
            total = ny
        site = -1
        if total > 0:
            if code == 0:
                if nested:
                    x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                    r = below(x, L)
                    while rowcnt[r] >= L:
                        x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                        r = below(x, L)
                    x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                    jj = below(x, L - rowcnt[r])
                    site = r * L + _row_select(bits, 0, r, L, W, jj)
                else:
                    x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                    site = below(x, N)
                    while lat[site] != 0:
                        x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                        site = below(x, N)
            else:
                if nested:
                    while True:
                        x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                        r = below(x, L)
                        nc = rowy[r] if code == 2 else rowcnt[r] - rowy[r]
                        if nc > 0:
                            break
                    x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                    jj = below(x, nc)
                else:
                    x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                    jj = below(x, total)
                    r = 0
                    while True:
                        nc = rowy[r] if code == 2 else rowcnt[r] - rowy[r]
                        if jj < nc:
                            break
                        jj -= nc
                        r += 1
                site = r * L + _row_select(bits, code, r, L, W, jj)
            if rxn == 1 and local_birth and site >= 0:
                x, s0, s1, s2, s3 = xoshiro_step(s0, s1, s2, s3)
                e = below(x, 4)
                site += np.int64(hop[8 * (site // L) + e]) + np.int64(
                    hop[8 * (site % L) + 4 + e]
                )
                if lat[site] != 0:
                    site = -1
        if site >= 0:
            r = site // L
            c = site - r * L
            o = (c >> 6) * (L + 2) + r
            bit = _U1 << np.uint64(c & 63)
            if rxn == 1:  # a new X at site
                lat[site] = 1 | tm
                bits[0, o] |= bit
                rowcnt[r] += 1
                nx += 1
            else:  # the Y at site dies
                lat[site] = 0
                bits[1, o] &= ~bit
                rowcnt[r] -= 1
                rowy[r] -= 1
                ny -= 1
        t_int = t_rxn
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    return t_int, rxn, t_rxn, nx, ny


# --------------------------------------------------------------------------------------
# the todo set of a sweep
# --------------------------------------------------------------------------------------


def _columns_of_byte_table() -> np.ndarray:
    """``T[b]``: the positions of the set bits of byte ``b``, packed one per byte in
    increasing order (the unused high bytes 0)."""
    t = np.zeros(256, np.uint64)
    for b in range(256):
        for k, i in enumerate(i for i in range(8) if b >> i & 1):
            t[b] |= np.uint64(i << (8 * k))
    return t


_COLS_OF_BYTE = _columns_of_byte_table()


@intrinsic
def _store8(typingctx, arr, idx, val):
    """``arr[idx:idx + 8] = val`` as one unaligned little-endian 8-byte store
    (``arr`` uint8; for any other dtype a no-op that callers never reach)."""
    if not isinstance(arr, types.Array):
        return None
    is_u8 = arr.dtype == types.uint8

    def codegen(context, builder, signature, args):
        if is_u8:
            a = context.make_array(signature.args[0])(context, builder, args[0])
            ptr = builder.gep(a.data, [args[1]])
            st = builder.store(
                args[2], builder.bitcast(ptr, ir.IntType(64).as_pointer())
            )
            st.align = 1
        return context.get_dummy_value()

    return types.none(arr, types.int64, types.uint64), codegen


@jit
def _build_rows(bits, L, W, cnt, items, nz, nzpos):
    """Row buckets of every molecule (nested mode), from the bit planes.

    Row ``r``'s bucket holds the columns of its molecules in increasing order
    (``items[r * L + j]``, ``j < cnt[r]``); ``nz`` lists the non-empty rows in
    increasing order (``nzpos`` their positions). Returns their number.

    uint8 columns (``L <= 256``, ``items`` with 8 spare entries): per byte of the
    occupancy word ``X | Y`` one table lookup of its columns (:data:`_COLS_OF_BYTE`)
    plus the byte's first column in every byte lane, stored as 8 bytes at once; the
    entries beyond the count are overwritten by the next byte or row (3x faster than
    bit by bit at 100 x 100). Wider columns: bit by bit (count trailing zeros, clear
    the lowest bit).
    """
    X = bits[0]
    Y = bits[1]
    nnz = 0
    for r in range(L):
        c = 0
        base = r * L
        for i in range(W):
            w = (X[i * (L + 2) + r] | Y[i * (L + 2) + r]) & _row_mask(L, i)
            if items.itemsize == 1:
                col0 = np.uint64(64 * i)
                while w != _U0:
                    b = w & _UFF
                    _store8(items, base + c, _COLS_OF_BYTE[b] + col0 * _L8)
                    c += np.int64(_popcount(b))
                    w >>= _U8
                    col0 += _U8
            else:
                while w != _U0:
                    items[base + c] = 64 * i + _ctz(w)
                    c += 1
                    w &= w - _U1
        cnt[r] = c
        if c > 0:
            nz[nnz] = r
            nzpos[r] = nnz
            nnz += 1
    return nnz


@jit
def _build_flat(bits, L, W, items, pos):
    """One bucket of every molecule in row-major order (uniform mode), with the
    members' positions ``pos``; returns its size."""
    X = bits[0]
    Y = bits[1]
    n = 0
    for r in range(L):
        base = r * L
        for i in range(W):
            w = (X[i * (L + 2) + r] | Y[i * (L + 2) + r]) & _row_mask(L, i)
            while w != _U0:
                s = base + 64 * i + np.int64(_ctz(w))
                items[n] = s
                pos[s] = n
                n += 1
                w &= w - _U1
    return n


# --------------------------------------------------------------------------------------
# the hop sweep
# --------------------------------------------------------------------------------------


@jit
def _sweep_rows(st, lat, tm, cnt, items, nz, nzpos, nnz, hop, L, p3):
    """DIFFUSE_AND_REACT of section 1.4, nested picks, on the todo set from
    :func:`_build_rows` (``nnz`` non-empty rows).

    Parameters
    ----------
    st : ndarray of uint64, shape (4,)
        Generator state (advanced in place).
    lat : ndarray of uint8, shape (N + 64,)
        The lattice; the todo molecules carry the mark ``tm`` (0 or 4), the sweep
        gives every molecule the mark ``tm ^ 4``.
    cnt, items, nz, nzpos
        The row buckets of the todo set (module notes); emptied by the sweep.
    hop : ndarray of int32, shape (8 * L,)
        Hop table from :func:`_fill_hop_table`.

    Returns the number of predation events (each turns one X into a Y).

    Notes
    -----
    Obvious form (the twin's)::

        while todo:
            s = RANDOM_SITE(todo); s2 = random neighbour of s
            partner = todo[s2] or done[s2]
            free            -> move to s2
            X-Y and u < p3  -> remove both, Y at s2 and Y at s
            otherwise       -> stay at s
        G = done

    The mover leaves ``todo`` before the partner (order matters for the swap-remove
    buckets and is mirrored by the twin). The done molecules need no set: they only
    get the done mark in ``lat``, and the next sweep's todo set is built from the
    lattice. Tuned hot loop:

    * the bucket operations are inlined by hand (numba calls with array arguments pay
      atomic reference counting); members' positions are not kept: the rare removal
      of a partner scans its row;
    * one load of ``lat`` tells the partner's species and set (mark bit);
    * the destination (the neighbour after a free hop, the own site otherwise) is a
      conditional move (:func:`_select`), not a coin-flip branch;
    * the generator state lives in registers; one 64-bit draw serves the bucket,
      member and direction picks; indices are unsigned so that numba emits no
      negative-index wraparound.

    The X-Y collision stays a branch: it decides whether the reaction uniform is
    drawn, hence which output the next move uses.
    """
    nnz_t = np.uint64(nnz)
    Lu = np.uint64(L)
    magic = np.uint64((1 << 40) // L + 1)
    tmu = np.uint8(tm)
    dm = np.uint8(tm ^ _MARK)
    s0 = st[0]
    s1 = st[1]
    s2_ = st[2]
    s3 = st[3]
    n_pred = 0
    while nnz_t > _U0:
        x, s0, s1, s2_, s3 = xoshiro_step(s0, s1, s2_, s3)
        r = np.uint64(nz[((x >> _U32) * nnz_t) >> _U32])
        base = r * Lu
        c = np.uint64(cnt[r])
        j = (((x >> _U2) & _M30) * c) >> _U30
        col = np.uint64(items[base + j])
        s = base + col
        e = x & _U3
        s2 = (
            s
            + np.uint64(np.int64(hop[(r << _U3) | e]))
            + np.uint64(np.int64(hop[(col << _U3) | _U4 | e]))
        )
        m = lat[s] & np.uint8(3)
        p = lat[s2]
        # remove the mover from todo: swap with the bucket's last member
        c -= _U1
        items[base + j] = items[base + c]
        cnt[r] = c
        if c == _U0:
            nnz_t -= _U1
            q = nzpos[r]
            lb = nz[nnz_t]
            nz[q] = lb
            nzpos[lb] = q
        lat[s] = 0
        react = False
        if m + (p & np.uint8(3)) == 3:  # X-Y collision: draw the reaction uniform
            u, s0, s1, s2_, s3 = xoshiro_step(s0, s1, s2_, s3)
            react = np.float64(u >> _U11) * _2M53 < p3
        if react:
            # X + Y -> Y + Y, products at both sites
            if p & np.uint8(_MARK) == tmu:
                # the partner loses its own move: out of todo (found in its row)
                r2 = (s2 * magic) >> _U40
                base2 = r2 * Lu
                c2 = s2 - base2
                j2 = _U0
                while np.uint64(items[base2 + j2]) != c2:
                    j2 += _U1
                c2b = np.uint64(cnt[r2]) - _U1
                items[base2 + j2] = items[base2 + c2b]
                cnt[r2] = c2b
                if c2b == _U0:
                    nnz_t -= _U1
                    q = nzpos[r2]
                    lb = nz[nnz_t]
                    nz[q] = lb
                    nzpos[lb] = q
            lat[s2] = np.uint8(2) | dm
            m = np.uint8(2)
            p = np.uint8(2)  # not free: the mover stays
            n_pred += 1
        # the mover is done at its destination (s2 after a free hop, s otherwise)
        lat[_select(p == 0, s2, s)] = m | dm
    st[0] = s0
    st[1] = s1
    st[2] = s2_
    st[3] = s3
    return n_pred


@jit
def _sweep_flat(st, lat, tm, items, pos, n, hop, L, p3):
    """DIFFUSE_AND_REACT of section 1.4, uniform picks, on the todo set of
    :func:`_build_flat` (``n`` members, positions ``pos``).

    As :func:`_sweep_rows` with one bucket, members' positions kept, the mover's row
    computed as ``(s * magic) >> 40``.
    """
    n_t = np.uint64(n)
    Lu = np.uint64(L)
    magic = np.uint64((1 << 40) // L + 1)
    tmu = np.uint8(tm)
    dm = np.uint8(tm ^ _MARK)
    s0 = st[0]
    s1 = st[1]
    s2_ = st[2]
    s3 = st[3]
    n_pred = 0
    while n_t > _U0:
        x, s0, s1, s2_, s3 = xoshiro_step(s0, s1, s2_, s3)
        j = ((x >> _U32) * n_t) >> _U32
        s = np.uint64(items[j])
        r = (s * magic) >> _U40
        col = s - r * Lu
        e = x & _U3
        s2 = (
            s
            + np.uint64(np.int64(hop[(r << _U3) | e]))
            + np.uint64(np.int64(hop[(col << _U3) | _U4 | e]))
        )
        m = lat[s] & np.uint8(3)
        p = lat[s2]
        n_t -= _U1
        last = items[n_t]
        items[j] = last
        pos[last] = j
        lat[s] = 0
        react = False
        if m + (p & np.uint8(3)) == 3:  # X-Y collision: draw the reaction uniform
            u, s0, s1, s2_, s3 = xoshiro_step(s0, s1, s2_, s3)
            react = np.float64(u >> _U11) * _2M53 < p3
        if react:
            if p & np.uint8(_MARK) == tmu:
                j2 = np.uint64(pos[s2])
                n_t -= _U1
                last = items[n_t]
                items[j2] = last
                pos[last] = j2
            lat[s2] = np.uint8(2) | dm
            m = np.uint8(2)
            p = np.uint8(2)
            n_pred += 1
        lat[_select(p == 0, s2, s)] = m | dm
    st[0] = s0
    st[1] = s1
    st[2] = s2_
    st[3] = s3
    return n_pred


# --------------------------------------------------------------------------------------
# one replicate, a batch of replicates
# --------------------------------------------------------------------------------------


@jit
def _copy_codes(lat, out, N):
    """``out[:N] = lat[:N] & 3``: the species codes without the mark bit."""
    for i in range(N):
        out[i] = lat[i] & 3


@jit
def _simulate_replicate(
    st,
    L,
    hop,
    item_proto,
    nested,
    local_birth,
    init_x,
    init_y,
    birth,
    death,
    p3,
    dt,
    steps,
    obs,
    snap,
    keep,
):
    """Run one replicate (ALGORITHM.md 1.2-1.5) writing ``obs`` and ``snap``.

    Parameters
    ----------
    st : ndarray of uint64, shape (4,)
        xoshiro256** state of this replicate (advanced in place).
    L : int
        Lattice side; ``N = L * L``.
    hop : ndarray of int32, shape (8 * L,)
        Hop table from :func:`_fill_hop_table`.
    item_proto : ndarray, shape (0,)
        Its dtype is that of the member lists (and positions): they hold columns in
        the nested mode, sites in the uniform mode; the smallest unsigned type that
        fits (``simulate`` chooses it: a smaller working set is faster on large
        lattices).
    nested, local_birth : bool
        ``pick_mode == "nested_permutation"``; ``birth_mode == "local"``.
    init_x, init_y : int
    birth, death, p3, dt : float
    steps : int
    obs : ndarray of int64, shape (steps + 1, 11)
        Output: observables at t = 0, dt, ..., steps * dt (``moments.OBSERVABLES``).
    snap : ndarray of uint8, shape (steps + 1, N)
        Output lattices if ``keep``; ignored otherwise.
    keep : bool

    Notes
    -----
    Step loop of section 1.2: RECORD, SCHEDULE if nothing is pending, unimolecular
    events while due before ``t + dt`` (the pending event survives the sweep: stale
    schedule Q2), the todo set built from the lattice, hop sweep; a final RECORD
    after the last step. Time accumulates as ``t_int + dt`` like the reference. See
    the module notes for the order of draws. The record packs the lattice into bit
    planes (:func:`_pack_lattice`, about one operation per site) and counts pairs on
    them (:func:`_record_bits`); the events keep the planes current and the todo set
    is read off them.
    """
    N = L * L
    W = (L + 65) // 64
    nbuckets = L if nested else 1
    lat = np.zeros(N + 64, np.uint8)  # 64 spare: _pack_lattice
    cnt = np.zeros(nbuckets, np.uint32)
    items = np.zeros(N + 8, item_proto.dtype)  # 8 spare: _build_rows
    pos = np.zeros(N if not nested else 1, item_proto.dtype)
    nz = np.zeros(nbuckets, np.uint32)
    nzpos = np.zeros(nbuckets, np.uint32)
    rowcnt = np.zeros(L, np.int32)
    rowy = np.zeros(L, np.int32)
    bits = np.zeros((2, W * (L + 2)), np.uint64)
    tm = 0

    # initial placement: X first, then Y, each on RANDOM_SITE(empty)
    nx = 0
    ny = 0
    for i in range(init_x + init_y):
        code = 1 if i < init_x else 2
        s = _pick_empty(st, lat, bits, L, W, rowcnt, nested)
        r = s // L
        lat[s] = code
        c = s - r * L
        bits[code - 1, (c >> 6) * (L + 2) + r] |= _U1 << np.uint64(c & 63)
        rowcnt[r] += 1
        if code == 1:
            nx += 1
        else:
            ny += 1
            rowy[r] += 1

    t_int = 0.0
    rxn = 0
    t_rxn = 0.0
    for step in range(steps):
        t_target = t_int + dt
        _pack_lattice(lat, bits, L, W)
        _record_bits(bits, L, W, rowcnt, rowy, obs[step])
        if keep:
            _copy_codes(lat, snap[step], N)
        t_int, rxn, t_rxn, nx, ny = _events(
            st,
            lat,
            tm,
            bits,
            W,
            rowcnt,
            rowy,
            hop,
            L,
            nested,
            local_birth,
            birth,
            death,
            t_int,
            t_target,
            rxn,
            t_rxn,
            nx,
            ny,
        )
        if nested:
            nnz = _build_rows(bits, L, W, cnt, items, nz, nzpos)
            n_pred = _sweep_rows(st, lat, tm, cnt, items, nz, nzpos, nnz, hop, L, p3)
        else:
            n = _build_flat(bits, L, W, items, pos)
            n_pred = _sweep_flat(st, lat, tm, items, pos, n, hop, L, p3)
        nx -= n_pred
        ny += n_pred
        tm ^= _MARK
        t_int = t_target
    _pack_lattice(lat, bits, L, W)
    _record_bits(bits, L, W, rowcnt, rowy, obs[steps])
    if keep:
        _copy_codes(lat, snap[steps], N)


@pjit
def _simulate_batch(
    states,
    L,
    hop,
    item_proto,
    nested,
    local_birth,
    init_x,
    init_y,
    birth,
    death,
    p3,
    dt,
    steps,
    obs,
    snaps,
    keep,
):
    """Replicates ``i = 0 .. len(states) - 1`` in parallel (one stream each).

    Parameters
    ----------
    states : ndarray of uint64, shape (n, 4)
    obs : ndarray of int64, shape (n, steps + 1, 11)
    snaps : ndarray of uint8, shape (n, steps + 1, N) if ``keep`` else (1, 1, 1)
    Other parameters as :func:`_simulate_replicate`.
    """
    for i in prange(states.shape[0]):
        j = np.int64(i) if keep else np.int64(0)
        _simulate_replicate(
            states[i],
            L,
            hop,
            item_proto,
            nested,
            local_birth,
            init_x,
            init_y,
            birth,
            death,
            p3,
            dt,
            steps,
            obs[i],
            snaps[j],
            keep,
        )
