"""numba kernels of the lattice Lotka-Volterra simulator (ALGORITHM.md section 1).

Only jitted functions live here; :mod:`dbdviz.simulate.lattice` validates, allocates
and wraps. Every kernel has a pure-Python twin in ``tests/naive.py`` that replays the
same xoshiro256** draws and must give bit-identical lattices.

State of one replicate
----------------------
* ``lat[2, N]`` (uint8, codes 0 empty, 1 X, 2 Y): two lattices used as ping-pong
  buffers. ``lat[k]`` is the current lattice; during the hop sweep ``lat[k]`` is the
  "todo" lattice (molecules not yet moved) and ``lat[1 - k]`` the "done" lattice, which
  becomes current afterwards. The todo lattice ends the sweep empty, so it is the
  zeroed "done" buffer of the next sweep and nothing is ever copied.
* Bucket sets ``cnt, items, pos, nz, nzpos, nnz`` (one per buffer, first axis ``k``):
  the molecules of a lattice grouped in buckets, with O(1) insertion, O(1) removal
  (swap with the bucket's last element, positions kept in ``pos``) and a list ``nz`` of
  the non-empty buckets (with positions ``nzpos``). In the reference pick mode the
  buckets are the rows, so "a random non-empty bucket, then a random member" is exactly
  the nested-permutation scan RANDOM_SITE of section 1.5 (quirk Q3) at O(1) cost; in
  the uniform mode there is a single bucket holding every molecule.
* ``rowcnt[L]``, ``rowy[L]``: molecules and Y per row of the current lattice, used by
  the occasional picks of empty sites, X or Y (births, deaths, initial placement);
  recomputed at every record because the hop sweep does not maintain them.

Site ``s = r * L + c``; ``nbr[s, e]`` (uint32, shape (N, 8)) holds the periodic
neighbours: e = 0..3 the hops (r-1, c), (r+1, c), (r, c-1), (r, c+1), then the
displacements (1, 1), (1, -1), (0, 2), (2, 0) used by the pair observables.

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

from .._numba import jit, pjit, prange
from .._rng import randbelow

# Indices into nbr[s, :]
_DOWN = 1  # (1, 0)
_RIGHT = 3  # (0, 1)
_DIAG = 4  # (1, 1)
_ANTI = 5  # (1, -1)
_RIGHT2 = 6  # (0, 2)
_DOWN2 = 7  # (2, 0)


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


@jit
def _bucket_remove(cnt, items, pos, nz, nzpos, nnz, k, b, cap, s):
    """Remove site ``s`` from bucket ``b`` of set ``k`` (swap with the last member)."""
    j = pos[k, s]
    c = cnt[k, b] - 1
    last = items[k, b * cap + c]
    items[k, b * cap + j] = last
    pos[k, last] = j
    cnt[k, b] = c
    if c == 0:
        # same swap-remove in the list of non-empty buckets
        q = nzpos[k, b]
        n = nnz[k] - 1
        lb = nz[k, n]
        nz[k, q] = lb
        nzpos[k, lb] = q
        nnz[k] = n


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


@jit
def _fill_neighbours(L, nbr):
    """Periodic neighbour table ``nbr`` (uint32, shape (L*L, 8)); see module notes."""
    dr = (-1, 1, 0, 0, 1, 1, 0, 2)
    dc = (0, 0, -1, 1, 1, -1, 2, 0)
    for r in range(L):
        for c in range(L):
            s = r * L + c
            for e in range(8):
                nbr[s, e] = ((r + dr[e]) % L) * L + (c + dc[e]) % L


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


@jit
def _record(cur, cnt, items, k, nbuckets, cap, nbr, row_of, rowcnt, rowy, out):
    """Observables of the current lattice into ``out`` (int64, 11) and row counts.

    Iterates over the molecules only (not the N sites). For a molecule at ``i`` with
    indicators ``x_i, y_i`` and a displacement class ``D`` it adds the pairs
    ``(i, i + d), d in D``: with ``nX = sum_d x_{i+d}``, ``nY = sum_d y_{i+d}``,
    ``XX += x_i nX``, ``YY += y_i nY``, ``XY += x_i nY + y_i nX``; every unordered pair
    is counted once, as in ``moments.lattice_observables``. Written without
    data-dependent branches (occupancy is random, so branches mispredict).
    """
    for r in range(rowcnt.shape[0]):
        rowcnt[r] = 0
        rowy[r] = 0
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
    for b in range(nbuckets):
        base = b * cap
        for j in range(cnt[k, b]):
            s = items[k, base + j]
            m = np.int64(cur[s])
            xi = m & 1
            yi = m >> 1
            r = row_of[s]
            rowcnt[r] += 1
            rowy[r] += yi
            nx += xi
            ny += yi
            q1 = np.int64(cur[nbr[s, _DOWN]])
            q2 = np.int64(cur[nbr[s, _RIGHT]])
            q3 = np.int64(cur[nbr[s, _DIAG]])  # (1, 1) is in both NNN classes
            q4 = np.int64(cur[nbr[s, _ANTI]])
            q5 = np.int64(cur[nbr[s, _RIGHT2]])
            q6 = np.int64(cur[nbr[s, _DOWN2]])
            ax = (q1 & 1) + (q2 & 1)
            ay = (q1 >> 1) + (q2 >> 1)
            nn_xx += xi * ax
            nn_yy += yi * ay
            nn_xy += xi * ay + yi * ax
            dx = q3 & 1
            dy = q3 >> 1
            ax = dx + (q4 & 1)
            ay = dy + (q4 >> 1)
            dg_xx += xi * ax
            dg_yy += yi * ay
            dg_xy += xi * ay + yi * ax
            ax = dx + (q5 & 1) + (q6 & 1)
            ay = dy + (q5 >> 1) + (q6 >> 1)
            d3_xx += xi * ax
            d3_yy += yi * ay
            d3_xy += xi * ay + yi * ax
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
# register-resident xoshiro256** for the hot loop
# --------------------------------------------------------------------------------------

_M30 = np.uint64(0x3FFFFFFF)


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
    cur,
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
    bucket_of,
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
    schedule, quirk Q2). Returns ``(t_int, rxn, t_rxn, nx, ny)``; ``rxn`` 0 = none
    pending, 1 = birth, 2 = death.

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
                    while cur[r * L + c] != 0:
                        x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                        c = _rb(x, L)
                    site = r * L + c
                else:
                    x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                    site = _rb(x, N)
                    while cur[site] != 0:
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
                j = _rb(x, nc)
                base = r * cap
                for q in range(cnt_k[r]):
                    sq = items_k[base + q]
                    if cur[sq] == code:
                        if j == 0:
                            site = np.int64(sq)
                            break
                        j -= 1
            else:
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                j = _rb(x, total)
                for r in range(L):
                    nc = rowy[r] if code == 2 else rowcnt[r] - rowy[r]
                    if j < nc:
                        for c in range(L):
                            if cur[r * L + c] == code:
                                if j == 0:
                                    site = r * L + c
                                    break
                                j -= 1
                        break
                    j -= nc
            if rxn == 1 and local_birth and site >= 0:
                x, s0, s1, s2, s3 = _xoshiro(s0, s1, s2, s3)
                site = np.int64(hop[4 * site + _rb(x, 4)])
                if cur[site] != 0:
                    site = -1
        if site >= 0:
            b = bucket_of[site]
            r = site // L
            if rxn == 1:  # a new X at site
                cur[site] = 1
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
                cur[site] = 0
                j = pos_k[site]
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


_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U11 = np.uint64(11)
_U30 = np.uint64(30)
_U32 = np.uint64(32)
_U0 = np.uint64(0)
_U1 = np.uint64(1)


@jit
def _sweep(
    st, lat, cnt, items, pos, nz, nzpos, nnz, k, hop, bucket_of, cap, nested, p3
):
    """DIFFUSE_AND_REACT of section 1.4 from set ``k`` (todo) into ``1 - k`` (done).

    Parameters
    ----------
    hop : ndarray of uint32, shape (N * 4,)
        Flattened periodic hop neighbours ``nbr[:, :4]``.

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
    buckets and is mirrored by the twin). Tuned hot loop: the bucket operations are
    inlined by hand because numba calls with array arguments pay atomic reference
    counting (the obvious versions are :func:`_bucket_add`, :func:`_bucket_remove`);
    indices are unsigned so that numba
    emits no negative-index wraparound; the generator state lives in registers; one
    64-bit draw serves the bucket, member and direction picks.
    """
    t = k
    d = 1 - k
    lat_t = lat[t]
    lat_d = lat[d]
    cnt_t = cnt[t]
    cnt_d = cnt[d]
    items_t = items[t]
    items_d = items[d]
    pos_t = pos[t]
    pos_d = pos[d]
    nz_t = nz[t]
    nz_d = nz[d]
    nzpos_t = nzpos[t]
    nzpos_d = nzpos[d]
    nnz_t = np.uint64(nnz[t])
    nnz_d = np.uint64(nnz[d])
    capu = np.uint64(cap)
    s0 = st[0]
    s1 = st[1]
    s2_ = st[2]
    s3 = st[3]
    n_pred = 0
    while nnz_t > _U0:
        x, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
        if nested:
            b = np.uint64(nz_t[((x >> _U32) * nnz_t) >> _U32])
            base = b * capu
            c = np.uint64(cnt_t[b])
            j = (((x >> _U2) & _M30) * c) >> _U30
        else:
            b = _U0
            base = _U0
            c = np.uint64(cnt_t[0])
            j = ((x >> _U32) * c) >> _U32
        s = np.uint64(items_t[base + j])
        m = lat_t[s]
        s2 = np.uint64(hop[s * _U4 + (x & _U3)])
        p = lat_t[s2]
        in_todo = p != 0
        if not in_todo:
            p = lat_d[s2]
        # remove the mover from todo: swap with the bucket's last member
        c -= _U1
        last = items_t[base + c]
        items_t[base + j] = last
        pos_t[last] = j
        cnt_t[b] = c
        if c == _U0:
            nnz_t -= _U1
            q = nzpos_t[b]
            lb = nz_t[nnz_t]
            nz_t[q] = lb
            nzpos_t[lb] = q
        lat_t[s] = 0
        if p == 0:  # free hop
            target = s2
        else:
            react = False
            if m != p:
                u, s0, s1, s2_, s3 = _xoshiro(s0, s1, s2_, s3)
                react = np.float64(u >> _U11) * (1.0 / 9007199254740992.0) < p3
            if react:  # X + Y -> Y + Y, products at both sites
                if in_todo:  # the partner loses its own move: todo -> done
                    b2 = np.uint64(bucket_of[s2])
                    base2 = b2 * capu
                    j2 = np.uint64(pos_t[s2])
                    c2 = np.uint64(cnt_t[b2]) - _U1
                    last = items_t[base2 + c2]
                    items_t[base2 + j2] = last
                    pos_t[last] = j2
                    cnt_t[b2] = c2
                    if c2 == _U0:
                        nnz_t -= _U1
                        q = nzpos_t[b2]
                        lb = nz_t[nnz_t]
                        nz_t[q] = lb
                        nzpos_t[lb] = q
                    lat_t[s2] = 0
                    c2 = np.uint64(cnt_d[b2])
                    if c2 == _U0:
                        nz_d[nnz_d] = b2
                        nzpos_d[b2] = nnz_d
                        nnz_d += _U1
                    items_d[base2 + c2] = s2
                    pos_d[s2] = c2
                    cnt_d[b2] = c2 + _U1
                lat_d[s2] = 2
                m = np.uint8(2)
                n_pred += 1
            target = s  # blocked (or reacted): the mover's site is settled
        # add target to done
        lat_d[target] = m
        b = np.uint64(bucket_of[target])
        c = np.uint64(cnt_d[b])
        if c == _U0:
            nz_d[nnz_d] = b
            nzpos_d[b] = nnz_d
            nnz_d += _U1
        items_d[b * capu + c] = target
        pos_d[target] = c
        cnt_d[b] = c + _U1
    st[0] = s0
    st[1] = s1
    st[2] = s2_
    st[3] = s3
    nnz[t] = nnz_t
    nnz[d] = nnz_d
    return n_pred


# --------------------------------------------------------------------------------------
# one replicate, a batch of replicates
# --------------------------------------------------------------------------------------


@jit
def _simulate_replicate(
    st,
    L,
    nbr,
    row_of,
    bucket_of,
    nbuckets,
    cap,
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
    nbr : ndarray of uint32, shape (N, 8)
        Neighbour table from :func:`_fill_neighbours`.
    row_of, bucket_of : ndarray of int32, shape (N,)
        Row of each site; bucket of each site (= row, or 0 in the uniform mode).
    nbuckets, cap : int
        Number of buckets (L or 1) and capacity of one bucket (L or N).
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
    """
    N = L * L
    lat = np.zeros((2, N), np.uint8)
    cnt = np.zeros((2, nbuckets), np.uint32)
    items = np.zeros((2, nbuckets * cap), np.uint32)
    pos = np.zeros((2, N), np.uint32)
    nz = np.zeros((2, nbuckets), np.uint32)
    nzpos = np.zeros((2, nbuckets), np.uint32)
    nnz = np.zeros(2, np.int64)
    rowcnt = np.zeros(L, np.int32)
    rowy = np.zeros(L, np.int32)
    hop = np.empty(N * 4, np.uint32)
    for s in range(N):
        for e in range(4):
            hop[4 * s + e] = nbr[s, e]
    k = 0

    # initial placement: X first, then Y, each on RANDOM_SITE(empty)
    nx = 0
    ny = 0
    for i in range(init_x + init_y):
        code = 1 if i < init_x else 2
        s = _pick_empty(st, lat[k], L, rowcnt, nested)
        lat[k, s] = code
        _bucket_add(cnt, items, pos, nz, nzpos, nnz, k, bucket_of[s], cap, s)
        rowcnt[row_of[s]] += 1
        if code == 1:
            nx += 1
        else:
            ny += 1
            rowy[row_of[s]] += 1

    t_int = 0.0
    rxn = 0
    t_rxn = 0.0
    for step in range(steps):
        t_target = t_int + dt
        _record(
            lat[k], cnt, items, k, nbuckets, cap, nbr, row_of, rowcnt, rowy, obs[step]
        )
        if keep:
            snap[step, :] = lat[k]
        t_int, rxn, t_rxn, nx, ny = _events(
            st,
            lat[k],
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
            bucket_of,
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
        n_pred = _sweep(
            st, lat, cnt, items, pos, nz, nzpos, nnz, k, hop, bucket_of, cap, nested, p3
        )
        nx -= n_pred
        ny += n_pred
        k = 1 - k
        t_int = t_target
    _record(lat[k], cnt, items, k, nbuckets, cap, nbr, row_of, rowcnt, rowy, obs[steps])
    if keep:
        snap[steps, :] = lat[k]


@pjit
def _simulate_batch(
    states,
    L,
    nbr,
    row_of,
    bucket_of,
    nbuckets,
    cap,
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
            nbr,
            row_of,
            bucket_of,
            nbuckets,
            cap,
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
