"""Replay single steps of the simulator from given lattices (docs/hierarchy.md).

The moment hierarchy predicts the expected change of the observables over one step
*given the lattice*. :func:`replay_step` checks such predictions: it runs the real
simulator kernels (the unimolecular events of :func:`._kernels._events`, then the hop
sweep of :func:`._kernels._sweep_rows` or :func:`._kernels._sweep_flat`) ``reps``
times from each given lattice, with independent streams, and returns the observables
after the step.

The only difference from a step inside :func:`.simulate`: no event is pending at the
start (quirk Q2's stale event of the previous step does not exist here; by
memorylessness it only changes the type of one event per step, drawn from the
previous step's counts).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit, pjit, prange
from .._rng import seed_states
from ..config import LatticeLV
from ..moments import OBSERVABLES
from ._kernels import (
    _build_flat,
    _build_rows,
    _events,
    _pack_lattice,
    _record_bits,
    _sweep_flat,
    _sweep_rows,
)
from .lattice import _hop_table, _item_dtype

__all__ = ["replay_step"]


@jit
def _replay_one(
    codes,
    st,
    L,
    hop,
    item_proto,
    nested,
    local_birth,
    birth,
    death,
    p3,
    dt,
    out,
):
    N = L * L
    W = (L + 65) // 64
    nbuckets = L if nested else 1
    lat = np.zeros(N + 64, np.uint8)
    for i in range(N):
        lat[i] = codes[i]
    cnt = np.zeros(nbuckets, np.uint32)
    items = np.zeros(N + 8, item_proto.dtype)
    pos = np.zeros(N if not nested else 1, item_proto.dtype)
    nz = np.zeros(nbuckets, np.uint32)
    nzpos = np.zeros(nbuckets, np.uint32)
    rowcnt = np.zeros(L, np.int32)
    rowy = np.zeros(L, np.int32)
    bits = np.zeros((2, W * (L + 2)), np.uint64)
    tmp = np.zeros(len(out), np.int64)
    _pack_lattice(lat, bits, L, W)
    _record_bits(bits, L, W, rowcnt, rowy, tmp)
    nx = tmp[0]
    ny = tmp[1]
    tm = 0
    _events(
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
        0.0,
        dt,
        0,
        0.0,
        nx,
        ny,
    )
    if nested:
        nnz = _build_rows(bits, L, W, cnt, items, nz, nzpos)
        _sweep_rows(st, lat, tm, cnt, items, nz, nzpos, nnz, hop, L, p3)
    else:
        n = _build_flat(bits, L, W, items, pos)
        _sweep_flat(st, lat, tm, items, pos, n, hop, L, p3)
    for i in range(N):
        lat[i] &= np.uint8(3)
    _pack_lattice(lat, bits, L, W)
    _record_bits(bits, L, W, rowcnt, rowy, out)


@pjit
def _replay_batch(codes, reps, states, L, hop, item_proto, nested, local_birth,
                  birth, death, p3, dt, out):  # fmt: skip
    for i in prange(states.shape[0]):
        _replay_one(
            codes[i // reps],
            states[i],
            L,
            hop,
            item_proto,
            nested,
            local_birth,
            birth,
            death,
            p3,
            dt,
            out[i],
        )


def replay_step(
    lattices: np.ndarray, config: LatticeLV, reps: int, seed: int
) -> np.ndarray:
    """Observables after one simulator step, ``reps`` times from each lattice.

    Parameters
    ----------
    lattices : ndarray of uint8, shape ``(n, L, L)``
        Start lattices (0 empty, 1 X, 2 Y), ``L = config.size``.
    config : LatticeLV
        Rates, ``dt``, pick and birth modes (counts and steps are not used).
    reps : int
        Replays per lattice (independent streams).
    seed : int

    Returns
    -------
    obs : ndarray of int64, shape ``(n, reps, len(OBSERVABLES))``
    """
    lat = np.asarray(lattices)
    L = config.size
    if lat.ndim != 3 or lat.shape[1:] != (L, L):
        raise ValueError(f"lattices must have shape (n, {L}, {L}), got {lat.shape}")
    if lat.size and int(lat.max()) > 2:
        raise ValueError("lattices must hold codes 0 (empty), 1 (X), 2 (Y)")
    if int(reps) < 1:
        raise ValueError(f"reps = {reps!r} is invalid: allowed an integer >= 1")
    n = lat.shape[0]
    codes = np.ascontiguousarray(lat.reshape(n, L * L), dtype=np.uint8)
    nested = config.pick_mode == "nested_permutation"
    states = seed_states(seed, n * int(reps))
    out = np.zeros((n * int(reps), len(OBSERVABLES)), np.int64)
    _replay_batch(
        codes,
        int(reps),
        states,
        L,
        _hop_table(L),
        np.zeros(0, _item_dtype(L, nested)),
        nested,
        config.birth_mode == "local",
        float(config.birth),
        float(config.death),
        float(config.predation),
        float(config.dt),
        out,
    )
    return out.reshape(n, int(reps), len(OBSERVABLES))
