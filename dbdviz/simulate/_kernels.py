"""numba kernels of the lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

Only jitted functions live here; :mod:`dbdviz.simulate.lattice` validates, allocates
and wraps. Every kernel has a pure-Python twin in ``tests/naive.py`` that replays the
same xoshiro256** draws and must give bit-identical lattices.

State of one replicate
----------------------
* ``lat[Np]`` (uint8, ``N`` sites zero-padded to whole 64-site words): the lattice,
  ``code | mark`` with code 0 empty, 1 X, 2 Y and a
  mark bit (4) that tells the two lattices of the hop sweep apart. The molecules not
  yet moved ("todo") carry the sweep's todo mark ``tm``, the moved or settled ones
  ("done") the other mark ``tm ^ 4``; the next sweep swaps the roles, so nothing is
  ever cleared or copied. The twin's ``todo[s]`` is ``lat[s]`` if its mark is ``tm``,
  its ``done[s]`` is ``lat[s]`` otherwise; one load answers both.
* Bucket sets ``cnt, items, pos, nz, nzpos, nnz`` (two, first axis: ``k`` the todo set
  of this sweep, ``1 - k`` the done set; ``items`` and ``pos`` uint16 when the sites
  fit, uint32 otherwise): the molecules grouped in buckets, with O(1)
  insertion, O(1) removal (swap with the bucket's last element) and a list ``nz`` of
  the non-empty buckets (with positions ``nzpos``). In the reference pick mode the
  buckets are the rows, so "a random non-empty bucket, then a random member" is exactly
  the nested-permutation scan RANDOM_SITE of section 1.5 (quirk Q3) at O(1) cost; in
  the uniform mode there is a single bucket holding every molecule. The members'
  positions ``pos`` are kept in the uniform mode only; in the nested mode the rare
  removal of a molecule that was not just picked (a reaction partner) scans its row.
* Bit planes ``bits[2, (L + 2) * W]`` (uint64), rebuilt from ``lat`` at every record
  by :func:`_pack_lattice` (about one operation per site): plane 0 the X, plane 1 the
  Y; row ``r`` occupies words ``r * W .. r * W + W - 1`` with ``W = (L + 65) // 64``,
  column ``c`` is bit ``c & 63`` of word ``c >> 6``; the spare columns ``L, L + 1``
  and rows ``L, L + 1`` repeat columns and rows 0, 1 (periodic wrap).
  :func:`_record_bits` counts the pairs with popcounts, O(L * W) word operations
  instead of visiting every molecule with its six neighbours.
* ``rowcnt[L]``, ``rowy[L]``: molecules and Y per row of the current lattice, used by
  the occasional picks of empty sites, X or Y (births, deaths, initial placement);
  recomputed at every record because the hop sweep does not maintain them.

Site ``s = r * L + c``. Hop neighbours come from one small table instead of an
``(N, 4)`` table that does not fit in L1 for large lattices: direction ``e`` (0..3 =
(r-1, c), (r+1, c), (r, c-1), (r, c+1), periodic) leads to row ``hop[8 * r + e]``
and column ``hop[8 * c + 4 + e]``. In the nested mode a molecule's row is its
bucket; in the uniform mode ``r = (s * magic) >> 40`` with ``magic = 2**40 // L + 1``,
exact for ``s < 2**20`` and ``L <= 1000`` (the error ``s / 2**40 < 1 / L``).

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
from numba import types
from numba.extending import intrinsic

from .._numba import jit, pjit, prange
from .._rng import randbelow

_M30 = np.uint64(0x3FFFFFFF)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U6 = np.uint64(6)
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
# bucket sets
# --------------------------------------------------------------------------------------


@jit
def _bucket_add(cnt, items, pos, nz, nzpos, nnz, k, b, cap, s):
    """Append site ``s`` to bucket ``b`` of set ``k``."""
    c = cnt[k, b]
    if c == 0:
        n = nnz[k]
        nz[k, n] = b
        nzpos[k, b] = n
        nnz[k] = n + 1
    items[k, b * cap + c] = s
    pos[k, s] = c
    cnt[k, b] = c + 1


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


@jit
def _fill_hop_table(L, hop):
    """Hop table ``hop`` (uint32, shape (8 * L,)); see the module notes."""
    dr = (-1, 1, 0, 0)
    dc = (0, 0, -1, 1)
    for i in range(L):
        for e in range(4):
            hop[8 * i + e] = (i + dr[e]) % L
            hop[8 * i + 4 + e] = (i + dc[e]) % L


# --------------------------------------------------------------------------------------
# occasional picks and the record
# --------------------------------------------------------------------------------------


@jit
def _pick_empty(st, cur, L, rowcnt, nested):
    """RANDOM_SITE over the empty sites (initial placement); the lattice must have one.

    Nested mode (quirk Q3): a row uniformly among the rows with an empty site, then an
    empty site uniformly within it, by exact rejection: ``r = randbelow(L)`` until row
    ``r`` has an empty site, then ``c = randbelow(L)`` until ``(r, c)`` is empty.
    Uniform mode: ``s = randbelow(N)`` until ``s`` is empty.
    """
    if nested:
        r = randbelow(st, L)
        while rowcnt[r] >= L:
            r = randbelow(st, L)
        c = randbelow(st, L)
        while cur[r * L + c] != 0:
            c = randbelow(st, L)
        return r * L + c
    N = L * L
    s = randbelow(st, N)
    while cur[s] != 0:
        s = randbelow(st, N)
    return s


_BYTE_LSB = np.uint64(0x0101010101010101)
_GATHER = np.uint64(0x0102040810204080)
_U56 = np.uint64(56)


@jit
def _pack_lattice(lat, flat, bits, L, W):
    """Bit planes ``bits`` (module notes) of the lattice ``lat``.

    Parameters
    ----------
    lat : ndarray of uint8, shape (Np,)
        The lattice (``code | mark``), zero-padded to a multiple ``Np`` of 64 sites.
    flat : ndarray of uint64, shape (2, Np // 64 + 1)
        Workspace: X and Y bits of the flat site sequence (last word zero).
    bits : ndarray of uint64, shape (2, (L + 2) * W)
        Output: X and Y planes with the periodic copies (spare columns ``L, L + 1``
        = columns 0, 1; rows ``L, L + 1`` = rows 0, 1).

    Notes
    -----
    Eight sites per 64-bit load: ``((v & 0x0101..01) * 0x0102040810204080) >> 56``
    gathers bit 0 of the eight bytes (bit 1 for Y after ``v >> 1``) into one byte,
    site order kept. Then every row's ``L`` bits are cut out of the flat sequence.
    """
    lw = lat.view(np.uint64)
    nw = lat.shape[0] // 64
    for g in range(nw):
        fx = _U0
        fy = _U0
        for b in range(8):
            v = lw[8 * g + b]
            sh = np.uint64(8 * b)
            fx |= (((v & _BYTE_LSB) * _GATHER) >> _U56) << sh
            fy |= ((((v >> _U1) & _BYTE_LSB) * _GATHER) >> _U56) << sh
        flat[0, g] = fx
        flat[1, g] = fy
    flat[0, nw] = _U0
    flat[1, nw] = _U0
    hi0 = L >> 6
    hi1 = (L + 1) >> 6
    sh0 = np.uint64(L & 63)
    sh1 = np.uint64((L + 1) & 63)
    if W == 1:  # L <= 62: one word per row, spare columns in the same word
        vm = (_U1 << np.uint64(L)) - _U1
        for a in range(2):
            fa = flat[a]
            ba = bits[a]
            for r in range(L):
                o = r * L
                q = o >> 6
                sh = np.uint64(o & 63)
                w = ((fa[q] >> sh) | ((fa[q + 1] << _U1) << (_U63 - sh))) & vm
                ba[r] = w | ((w & _U3) << sh0)
            ba[L] = ba[0]
            ba[L + 1] = ba[1]
        return
    for a in range(2):
        for r in range(L):
            for i in range(W):
                nvalid = L - 64 * i
                if nvalid >= 64:
                    vm = _ONES
                elif nvalid > 0:
                    vm = (_U1 << np.uint64(nvalid)) - _U1
                else:
                    vm = _U0
                o = r * L + 64 * i
                q = o >> 6
                sh = np.uint64(o & 63)
                # bits o .. o + 63 of the flat sequence (two shifts: sh may be 0)
                w = (flat[a, q] >> sh) | ((flat[a, q + 1] << _U1) << (_U63 - sh))
                bits[a, r * W + i] = w & vm
            w0 = bits[a, r * W]
            bits[a, r * W + hi0] |= (w0 & _U1) << sh0
            bits[a, r * W + hi1] |= ((w0 >> _U1) & _U1) << sh1
        for i in range(2 * W):
            bits[a, L * W + i] = bits[a, i]


@jit
def _record_bits(bits, L, W, rowcnt, rowy, out):
    """Observables of the lattice held in ``bits`` into ``out`` (int64, 11), row counts.

    Parameters
    ----------
    bits : ndarray of uint64, shape (2, (L + 2) * W)
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
    they are OR-ed before one popcount. Straight-line code over the rows, so that
    LLVM may vectorise it (``vpopcntq``).
    """
    X = bits[0]
    Y = bits[1]
    if W == 1:
        _record_one_word(X, Y, L, rowcnt, rowy, out)
        return
    nx = 0
    ny = 0
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
        cx = 0
        cy = 0
        for i in range(W):
            nvalid = L - 64 * i
            if nvalid >= 64:
                vm = _ONES
            elif nvalid > 0:
                vm = (_U1 << np.uint64(nvalid)) - _U1
            else:
                vm = _U0
            o0 = r * W + i
            o1 = o0 + W
            o2 = o1 + W
            x0 = X[o0]
            y0 = Y[o0]
            x1 = X[o1]
            y1 = Y[o1]
            x2 = X[o2]
            y2 = Y[o2]
            if i + 1 < W:
                x0n = X[o0 + 1]
                y0n = Y[o0 + 1]
                x1n = X[o1 + 1]
                y1n = Y[o1 + 1]
            else:
                x0n = _U0
                y0n = _U0
                x1n = _U0
                y1n = _U0
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
            cx += _popcount(xa)
            cy += _popcount(ya)
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
        rowcnt[r] = cx + cy
        rowy[r] = cy
        nx += cx
        ny += cy
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


@jit
def _record_one_word(X, Y, L, rowcnt, rowy, out):
    """:func:`_record_bits` for ``L <= 62`` (one word per row): the same counts,
    without the word loop, shifts from the next word or masks but one."""
    vm = (_U1 << np.uint64(L)) - _U1
    nx = 0
    ny = 0
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
        x0 = X[r]
        y0 = Y[r]
        x1 = X[r + 1]
        y1 = Y[r + 1]
        x2 = X[r + 2]
        y2 = Y[r + 2]
        x0s = x0 >> _U1
        y0s = y0 >> _U1
        x0ss = x0 >> _U2
        y0ss = y0 >> _U2
        x1s = x1 >> _U1
        y1s = y1 >> _U1
        xa = x0 & vm
        ya = y0 & vm
        x1a = x1 & vm
        y1a = y1 & vm
        cx = _popcount(xa)
        cy = _popcount(ya)
        nn_xx += _popcount(xa & x0s) + _popcount(xa & x1)
        nn_yy += _popcount(ya & y0s) + _popcount(ya & y1)
        nn_xy += _popcount((xa & y0s) | (ya & x0s)) + _popcount((xa & y1) | (ya & x1))
        e_xx = _popcount(xa & x1s)
        e_yy = _popcount(ya & y1s)
        e_xy = _popcount((xa & y1s) | (ya & x1s))
        dg_xx += e_xx + _popcount(x0s & x1a)
        dg_yy += e_yy + _popcount(y0s & y1a)
        dg_xy += e_xy + _popcount((x0s & y1a) | (y0s & x1a))
        d3_xx += e_xx + _popcount(xa & x0ss) + _popcount(xa & x2)
        d3_yy += e_yy + _popcount(ya & y0ss) + _popcount(ya & y2)
        d3_xy += (
            e_xy
            + _popcount((xa & y0ss) | (ya & x0ss))
            + _popcount((xa & y2) | (ya & x2))
        )
        rowcnt[r] = cx + cy
        rowy[r] = cy
        nx += cx
        ny += cy
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
# register-resident xoshiro256** for the hot loops
# --------------------------------------------------------------------------------------


@jit
def _xoshiro(s0, s1, s2, s3):
    """One xoshiro256** step on a state held in scalars: ``(out, s0, s1, s2, s3)``.

    The same generator as :func:`dbdviz._rng.next_u64`; keeping the state in
    registers instead of the ``uint64[4]`` array removes a store/load chain per draw.
    """
    x = s1 * np.uint64(5)
    out = ((x << np.uint64(7)) | (x >> np.uint64(57))) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    return out, s0, s1, s2, s3


# --------------------------------------------------------------------------------------
# unimolecular events
# --------------------------------------------------------------------------------------


@jit
def _rb(x, n):
    """``randbelow`` on a drawn 64-bit ``x``: ``((x >> 32) * n) >> 32``."""
    return np.int64(((x >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@jit
def _events(
    st,
    lat,
    tm,
    cnt_k,
    items_k,
    pos_k,
    nz_k,
    nzpos_k,
    nnz,
    k,
    rowcnt,
    rowy,
    hop,
    cap,
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
    Returns ``(t_int, rxn, t_rxn, nx, ny)``; ``rxn`` 0 = none pending, 1 = birth,
    2 = death.

    Draws (same stream as ``_rng``; ``rb(n) = ((x >> 32) * n) >> 32``):

    * SCHEDULE: ``uniform`` (``u * a0 < a1`` -> birth), then ``exponential``
      (waiting time ``E / a0``); nothing if ``a0 = 0`` (quirk Q5 guard);
    * birth, global: RANDOM_SITE(empty) as :func:`_pick_empty` (no draw if full);
    * birth, local: RANDOM_SITE(X) then ``rb(4)`` for the neighbour (hop order); no
      birth if it is occupied or there is no X;
    * death: RANDOM_SITE(Y);
    * RANDOM_SITE(X or Y), nested mode: ``r = rb(L)`` until row ``r`` holds one, then
      ``j = rb(#in row)`` and the ``j``-th such molecule in the order of the row's
      bucket; uniform mode: ``j = rb(total)`` and the ``j``-th in row-major order.

    Everything is inlined in this one function (called once per step) because numba
    calls with array arguments pay atomic reference counting.
    """
    N = L * L
    s0 = st[0]
    s1 = st[1]
    s2 = st[2]
    s3 = st[3]
    nnz_k = nnz[k]
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
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                u = np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)
                rxn = 1 if u * a0 < a1 else 2
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
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
        j = 0  # the site's position in its bucket (nested X or Y picks)
        if total > 0:
            if code == 0:
                if nested:
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    r = _rb(x, L)
                    while rowcnt[r] >= L:
                        x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                        r = _rb(x, L)
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    c = _rb(x, L)
                    while lat[r * L + c] != 0:
                        x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                        c = _rb(x, L)
                    site = r * L + c
                else:
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    site = _rb(x, N)
                    while lat[site] != 0:
                        x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                        site = _rb(x, N)
            elif nested:
                while True:
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    r = _rb(x, L)
                    nc = rowy[r] if code == 2 else rowcnt[r] - rowy[r]
                    if nc > 0:
                        break
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                jj = _rb(x, nc)
                base = r * cap
                for q in range(cnt_k[r]):
                    sq = items_k[base + q]
                    if lat[sq] & 3 == code:
                        if jj == 0:
                            site = np.int64(sq)
                            j = np.int64(q)
                            break
                        jj -= 1
            else:
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                jj = _rb(x, total)
                for r in range(L):
                    nc = rowy[r] if code == 2 else rowcnt[r] - rowy[r]
                    if jj < nc:
                        for c in range(L):
                            if lat[r * L + c] & 3 == code:
                                if jj == 0:
                                    site = r * L + c
                                    break
                                jj -= 1
                        break
                    jj -= nc
            if rxn == 1 and local_birth and site >= 0:
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                e = _rb(x, 4)
                site = np.int64(hop[8 * (site // L) + e]) * L + np.int64(
                    hop[8 * (site % L) + 4 + e]
                )
                if lat[site] != 0:
                    site = -1
        if site >= 0:
            r = site // L
            b = r if nested else 0
            if rxn == 1:  # a new X at site
                lat[site] = 1 | tm
                c = cnt_k[b]
                if c == 0:
                    nz_k[nnz_k] = b
                    nzpos_k[b] = nnz_k
                    nnz_k += 1
                items_k[b * cap + c] = site
                pos_k[site] = c
                cnt_k[b] = c + 1
                rowcnt[r] += 1
                nx += 1
            else:  # the Y at site dies
                lat[site] = 0
                if not nested:
                    j = np.int64(pos_k[site])
                c = cnt_k[b] - 1
                last = items_k[b * cap + c]
                items_k[b * cap + j] = last
                pos_k[last] = j
                cnt_k[b] = c
                if c == 0:
                    nnz_k -= 1
                    q = nzpos_k[b]
                    lb = nz_k[nnz_k]
                    nz_k[q] = lb
                    nzpos_k[lb] = q
                rowcnt[r] -= 1
                rowy[r] -= 1
                ny -= 1
        t_int = t_rxn
    st[0] = s0
    st[1] = s1
    st[2] = s2
    st[3] = s3
    nnz[k] = nnz_k
    return t_int, rxn, t_rxn, nx, ny


# --------------------------------------------------------------------------------------
# the hop sweep
# --------------------------------------------------------------------------------------


@jit
def _sweep_rows(st, lat, tm, cnt, items, nz, nzpos, nnz, k, hop, L, p3):
    """DIFFUSE_AND_REACT of section 1.4, nested picks: set ``k`` (todo) into ``1 - k``.

    Parameters
    ----------
    st : ndarray of uint64, shape (4,)
        Generator state (advanced in place).
    lat : ndarray of uint8, shape (Np,)
        The lattice; the todo molecules carry the mark ``tm`` (0 or 4), the sweep
        gives every molecule the mark ``tm ^ 4``.
    cnt, items, nz, nzpos, nnz
        The two row-bucket sets (module notes); ``items`` of shape (2, N).
    hop : ndarray of uint32, shape (8 * L,)
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
    buckets and is mirrored by the twin). Tuned hot loop (about 9 ns per move):

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
    drawn, hence which output the next move uses. (Drawing the uniform on every move
    to remove that branch was measured: no faster, and it would change the order
    of draws.)
    """
    t = k
    d = 1 - k
    cnt_t = cnt[t]
    cnt_d = cnt[d]
    items_t = items[t]
    items_d = items[d]
    nz_t = nz[t]
    nz_d = nz[d]
    nzpos_t = nzpos[t]
    nzpos_d = nzpos[d]
    nnz_t = np.uint64(nnz[t])
    nnz_d = np.uint64(nnz[d])
    Lu = np.uint64(L)
    tmu = np.uint8(tm)
    dm = np.uint8(tm ^ _MARK)
    s0 = st[0]
    s1 = st[1]
    s2_ = st[2]
    s3 = st[3]
    n_pred = 0
    while nnz_t > _U0:
        x, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
        r = np.uint64(nz_t[((x >> _U32) * nnz_t) >> _U32])
        base = r * Lu
        c = np.uint64(cnt_t[r])
        j = (((x >> _U2) & _M30) * c) >> _U30
        s = np.uint64(items_t[base + j])
        col = s - base
        e = x & _U3
        r2 = np.uint64(hop[(r << _U3) | e])
        c2 = np.uint64(hop[(col << _U3) | _U4 | e])
        s2 = r2 * Lu + c2
        m = lat[s] & np.uint8(3)
        p = lat[s2]
        # remove the mover from todo: swap with the bucket's last member
        c -= _U1
        items_t[base + j] = items_t[base + c]
        cnt_t[r] = c
        if c == _U0:
            nnz_t -= _U1
            q = nzpos_t[r]
            lb = nz_t[nnz_t]
            nz_t[q] = lb
            nzpos_t[lb] = q
        lat[s] = 0
        react = False
        if m + (p & np.uint8(3)) == 3:  # X-Y collision: draw the reaction uniform
            u, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
            react = np.float64(u >> _U11) * _2M53 < p3
        if react:
            # X + Y -> Y + Y, products at both sites
            if p & np.uint8(_MARK) == tmu:
                # the partner loses its own move: todo -> done (found in its row)
                base2 = r2 * Lu
                j2 = _U0
                while items_t[base2 + j2] != s2:
                    j2 += _U1
                c2b = np.uint64(cnt_t[r2]) - _U1
                items_t[base2 + j2] = items_t[base2 + c2b]
                cnt_t[r2] = c2b
                if c2b == _U0:
                    nnz_t -= _U1
                    q = nzpos_t[r2]
                    lb = nz_t[nnz_t]
                    nz_t[q] = lb
                    nzpos_t[lb] = q
                c2b = np.uint64(cnt_d[r2])
                if c2b == _U0:
                    nz_d[nnz_d] = r2
                    nzpos_d[r2] = nnz_d
                    nnz_d += _U1
                items_d[base2 + c2b] = s2
                cnt_d[r2] = c2b + _U1
            lat[s2] = np.uint8(2) | dm
            m = np.uint8(2)
            p = np.uint8(2)  # not free: the mover stays
            n_pred += 1
        # add the destination (s2 after a free hop, s otherwise) to done
        free = p == 0
        tgt = _select(free, s2, s)
        tr = _select(free, r2, r)
        lat[tgt] = m | dm
        c = np.uint64(cnt_d[tr])
        if c == _U0:
            nz_d[nnz_d] = tr
            nzpos_d[tr] = nnz_d
            nnz_d += _U1
        items_d[tr * Lu + c] = tgt
        cnt_d[tr] = c + _U1
    st[0] = s0
    st[1] = s1
    st[2] = s2_
    st[3] = s3
    nnz[t] = nnz_t
    nnz[d] = nnz_d
    return n_pred


@jit
def _sweep_flat(st, lat, tm, cnt, items, pos, nnz, k, hop, L, p3):
    """DIFFUSE_AND_REACT of section 1.4, uniform picks: set ``k`` (todo) into ``1 - k``.

    As :func:`_sweep_rows` with one bucket per set (``items`` of shape (2, N),
    ``cnt`` and ``nnz`` of shape (2, 1) and (2,)), members' positions ``pos`` kept
    (shape (2, N)), the mover's row computed as ``(s * magic) >> 40``.
    """
    t = k
    d = 1 - k
    items_t = items[t]
    items_d = items[d]
    pos_t = pos[t]
    pos_d = pos[d]
    n_t = np.uint64(cnt[t, 0])
    n_d = np.uint64(cnt[d, 0])
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
        x, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
        j = ((x >> _U32) * n_t) >> _U32
        s = np.uint64(items_t[j])
        r = (s * magic) >> _U40
        col = s - r * Lu
        e = x & _U3
        r2 = np.uint64(hop[(r << _U3) | e])
        c2 = np.uint64(hop[(col << _U3) | _U4 | e])
        s2 = r2 * Lu + c2
        m = lat[s] & np.uint8(3)
        p = lat[s2]
        n_t -= _U1
        last = items_t[n_t]
        items_t[j] = last
        pos_t[last] = j
        lat[s] = 0
        react = False
        if m + (p & np.uint8(3)) == 3:  # X-Y collision: draw the reaction uniform
            u, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
            react = np.float64(u >> _U11) * _2M53 < p3
        if react:
            if p & np.uint8(_MARK) == tmu:
                j2 = np.uint64(pos_t[s2])
                n_t -= _U1
                last = items_t[n_t]
                items_t[j2] = last
                pos_t[last] = j2
                items_d[n_d] = s2
                pos_d[s2] = n_d
                n_d += _U1
            lat[s2] = np.uint8(2) | dm
            m = np.uint8(2)
            p = np.uint8(2)
            n_pred += 1
        free = p == 0
        tgt = _select(free, s2, s)
        lat[tgt] = m | dm
        items_d[n_d] = tgt
        pos_d[tgt] = n_d
        n_d += _U1
    st[0] = s0
    st[1] = s1
    st[2] = s2_
    st[3] = s3
    cnt[t, 0] = n_t
    cnt[d, 0] = n_d
    nnz[t] = 0
    nnz[d] = 1 if n_d > _U0 else 0
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
    hop : ndarray of uint32, shape (8 * L,)
        Hop table from :func:`_fill_hop_table`.
    item_proto : ndarray of uint16 or uint32, shape (0,)
        Its dtype is that of the member lists and positions: uint16 when the sites
        fit (``N <= 65536``; a smaller working set, about 5 % faster at 100 x 100).
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
    schedule Q2), hop sweep; a final RECORD after the last step. Time accumulates as
    ``t_int + dt`` like the reference. See the module notes for the order of draws.
    The record packs the lattice into bit planes (:func:`_pack_lattice`, about one
    operation per site) and counts pairs on them (:func:`_record_bits`).
    """
    N = L * L
    W = (L + 65) // 64
    nbuckets = L if nested else 1
    cap = L if nested else N
    Np = (N + 63) // 64 * 64  # whole 64-site words for _pack_lattice
    lat = np.zeros(Np, np.uint8)
    cnt = np.zeros((2, nbuckets), np.uint32)
    items = np.zeros((2, N), item_proto.dtype)
    pos = np.zeros((2, N), item_proto.dtype)
    nz = np.zeros((2, nbuckets), np.uint32)
    nzpos = np.zeros((2, nbuckets), np.uint32)
    nnz = np.zeros(2, np.int64)
    rowcnt = np.zeros(L, np.int32)
    rowy = np.zeros(L, np.int32)
    bits = np.zeros((2, (L + 2) * W), np.uint64)
    flat = np.zeros((2, Np // 64 + 1), np.uint64)
    k = 0
    tm = 0

    # initial placement: X first, then Y, each on RANDOM_SITE(empty)
    nx = 0
    ny = 0
    for i in range(init_x + init_y):
        code = 1 if i < init_x else 2
        s = _pick_empty(st, lat, L, rowcnt, nested)
        r = s // L
        lat[s] = code
        _bucket_add(cnt, items, pos, nz, nzpos, nnz, k, r if nested else 0, cap, s)
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
        _pack_lattice(lat, flat, bits, L, W)
        _record_bits(bits, L, W, rowcnt, rowy, obs[step])
        if keep:
            _copy_codes(lat, snap[step], N)
        t_int, rxn, t_rxn, nx, ny = _events(
            st,
            lat,
            tm,
            cnt[k],
            items[k],
            pos[k],
            nz[k],
            nzpos[k],
            nnz,
            k,
            rowcnt,
            rowy,
            hop,
            cap,
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
            n_pred = _sweep_rows(st, lat, tm, cnt, items, nz, nzpos, nnz, k, hop, L, p3)
        else:
            n_pred = _sweep_flat(st, lat, tm, cnt, items, pos, nnz, k, hop, L, p3)
        nx -= n_pred
        ny += n_pred
        k = 1 - k
        tm ^= _MARK
        t_int = t_target
    _pack_lattice(lat, flat, bits, L, W)
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
