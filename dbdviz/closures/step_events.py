"""The events' joint outcome sampled by the simulator's own kernel
(docs/hierarchy.md section 13).

:func:`.given_lattice.lattice_step_expectation` applies the unimolecular events of a
step site by site to an *expected* lattice whose sites are independent, each with
its marginal approximated by :func:`.given_lattice.site_event_probabilities`. With
the paper's nested picks neither holds: the deaths of one row are correlated (a
death makes the row's other Y likelier to be picked next), the pick probabilities
change after every event, and a birth can land on a site a death freed in the
same step. Here the events are drawn ``draws`` times by the simulator's kernel
(:func:`dbdviz.simulate._kernels._events`, the same draws as
:func:`dbdviz.simulate.replay.replay_step`: Gillespie within the step, both pick
modes), and every 2-step path ``a - b - c`` of the lattice gets the *empirical*
joint distribution of its three sites after the events (states empty / X / Y, all
molecules todo at the start of the sweep) as the start of the site sweeps of
:mod:`.site_triplets` and :mod:`.site_plaquettes`, instead of the product of
independent site distributions. Every expectation of a count or bond after the
events is then the sample mean of the drawn lattices' (unbiased; its Monte-Carlo
standard error is returned).

Births more than ``radius`` sites from every molecule of the lattice before the
events end the sweep as lone X (each molecule moves at most once), as in
:func:`.given_lattice._site_sweep`: they are counted and set empty in the paths
(two such births adjacent to each other is the one term dropped; its expected
number of bonds is returned, :attr:`EventSample.lone_bonds`).
"""

from __future__ import annotations

import numpy as np

from .._numba import jit
from .._rng import seed_states
from ..config import LatticeLV
from ..simulate._kernels import _events, _pack_lattice, _record_bits
from ..simulate.lattice import _hop_table
from .site_triplets import PAIRS, neighbour_table

__all__ = ["EventSample", "sample_events", "sampled_paths"]


@jit
def _draw(codes, lat, bits, rowcnt, rowy, tmp, st, L, W, hop, nested, birth, death,
          dt):  # fmt: skip
    """One draw of the events of a step from ``codes`` into ``lat`` (codes 0-2)."""
    N = L * L
    for i in range(N):
        lat[i] = codes[i]
    _pack_lattice(lat, bits, L, W)
    _record_bits(bits, L, W, rowcnt, rowy, tmp)
    _events(st, lat, 0, bits, W, rowcnt, rowy, hop, L, nested, False, birth, death,
            0.0, dt, 0, 0.0, tmp[0], tmp[1])  # fmt: skip
    for i in range(N):
        lat[i] &= np.uint8(3)


@jit
def _buffers(L):
    """The work arrays of :func:`_draw` for an ``L x L`` lattice: words per row
    ``W``, the lattice, the per-row counts, the bit planes and the scratch."""
    W = (L + 65) // 64
    return (
        W,
        np.zeros(L * L + 64, np.uint8),
        np.zeros(L, np.int32),
        np.zeros(L, np.int32),
        np.zeros((2, W * (L + 2)), np.uint64),
        np.zeros(16, np.int64),
    )


@jit
def _sample(codes, st, L, hop, nested, birth, death, dt, draws, out):
    """``draws`` lattices after the events from ``codes`` (one stream ``st``)."""
    N = L * L
    W, lat, rowcnt, rowy, bits, tmp = _buffers(L)
    for k in range(draws):
        _draw(codes, lat, bits, rowcnt, rowy, tmp, st, L, W, hop, nested, birth,
              death, dt)  # fmt: skip
        for i in range(N):
            out[k, i] = lat[i]


@jit
def _tally(codes, st, L, hop, nested, birth, death, dt, draws, far, nb, pairs, Q,
           obs, lone):  # fmt: skip
    """Counts of every path's states over ``draws`` draws (``Q``, float64, shape
    ``(N, 6, 3, 3, 3)``), the draws' observables ``obs`` (``(draws, 5)``: X, Y,
    nnXX, nnXY, nnYY of the whole lattice) and ``lone`` (``(draws, 2)``: X on the
    ``far`` sites, X-X bonds between two far sites)."""
    N = L * L
    W, lat, rowcnt, rowy, bits, tmp = _buffers(L)
    g = np.zeros(N, np.int64)
    for k in range(draws):
        _draw(codes, lat, bits, rowcnt, rowy, tmp, st, L, W, hop, nested, birth,
              death, dt)  # fmt: skip
        nx = 0
        ny = 0
        b = np.zeros((3, 3))
        nlone = 0
        ff = 0
        for s in range(N):
            c = np.int64(lat[s])
            nx += c == 1
            ny += c == 2
            for d in (0, 2):  # down, right: every bond once
                t = nb[s, d]
                c2 = np.int64(lat[t])
                b[c, c2] += 1.0
                if far[s] and far[t] and c == 1 and c2 == 1:
                    ff += 1
            if far[s]:
                nlone += c == 1
                c = 0
            g[s] = c
        obs[k, 0] = nx
        obs[k, 1] = ny
        obs[k, 2] = b[1, 1]
        obs[k, 3] = b[1, 2] + b[2, 1]
        obs[k, 4] = b[2, 2]
        lone[k, 0] = nlone
        lone[k, 1] = ff
        for s in range(N):
            for j in range(6):
                Q[s, j, g[nb[s, pairs[j, 0]]], g[s], g[nb[s, pairs[j, 1]]]] += 1.0


def _check(lattice: np.ndarray, config: LatticeLV, draws: int) -> np.ndarray:
    g = np.asarray(lattice)
    L = config.size
    if g.shape != (L, L):
        raise ValueError(f"lattice must have shape ({L}, {L}), got {g.shape}")
    if g.size and int(g.max()) > 2:
        raise ValueError("lattice must hold codes 0 (empty), 1 (X), 2 (Y)")
    if config.birth_mode != "global":
        raise ValueError(
            f"birth_mode = {config.birth_mode!r} is not supported by the sampled "
            "events: allowed 'global'"
        )
    if int(draws) < 2:
        raise ValueError(f"draws = {draws!r} is invalid: allowed an integer >= 2")
    return np.ascontiguousarray(g.reshape(-1), dtype=np.uint8)


def _args(config: LatticeLV):
    return (
        _hop_table(config.size),
        config.pick_mode == "nested_permutation",
        float(config.birth),
        float(config.death),
        float(config.dt),
    )


def sample_events(
    lattice: np.ndarray, config: LatticeLV, draws: int, seed: int
) -> np.ndarray:
    """Lattices after the unimolecular events of one step, drawn by the simulator.

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
        Codes 0 (empty), 1 (X), 2 (Y), ``L = config.size``.
    config : LatticeLV
        Rates, ``dt``, pick mode (``birth_mode`` must be ``"global"``).
    draws : int
        Number of draws (>= 2), all from one xoshiro256** stream.
    seed : int
        Seed of the stream (:func:`dbdviz._rng.seed_states`).

    Returns
    -------
    ndarray of uint8, shape (draws, L, L)
    """
    codes = _check(lattice, config, draws)
    L = config.size
    out = np.zeros((int(draws), L * L), np.uint8)
    st = seed_states(seed, 1)[0]
    _sample(codes, st, L, *_args(config), int(draws), out)
    return out.reshape(int(draws), L, L)


class EventSample:
    """The events' joint outcome of one lattice (:func:`sampled_paths`).

    Attributes
    ----------
    paths : ndarray, shape (N, 6, 5, 5, 5)
        Joint distribution of every 2-step path's sites after the events (path
        ``(s, k)``: ends ``nb[s, PAIRS[k, 0]]`` and ``nb[s, PAIRS[k, 1]]`` of
        :func:`.site_triplets.neighbour_table`, centre ``s``), on the five sweep
        states (only empty, todo X, todo Y carry mass); the far sites empty.
    sites : ndarray, shape (3, L, L)
        Site marginals (far sites empty).
    lone : float
        Mean number of X on the far sites (lone X after the sweep).
    lone_bonds : float
        Mean number of X-X bonds between two far sites (dropped).
    mean, se : ndarray, shape (5,)
        Mean and Monte-Carlo standard error of X, Y, nnXX, nnXY, nnYY of the whole
        lattice after the events.
    """

    def __init__(self, paths, sites, lone, lone_bonds, mean, se):
        self.paths = paths
        self.sites = sites
        self.lone = lone
        self.lone_bonds = lone_bonds
        self.mean = mean
        self.se = se


def sampled_paths(
    lattice: np.ndarray,
    config: LatticeLV,
    draws: int = 4000,
    seed: int = 0,
    far: np.ndarray | None = None,
) -> EventSample:
    """Empirical joint of every 2-step path after the events of one step.

    Parameters
    ----------
    lattice : ndarray of uint8, shape (L, L)
    config : LatticeLV
    draws : int
        Draws of the events (>= 2; one stream).
    seed : int
    far : ndarray of bool, shape (L, L), optional
        Sites whose births end the sweep as lone X (counted apart, set empty in the
        paths); default none.

    Returns
    -------
    EventSample
    """
    codes = _check(lattice, config, draws)
    L = config.size
    N = L * L
    K = int(draws)
    farf = np.zeros(N, np.bool_) if far is None else np.asarray(far).reshape(-1)
    if farf.shape != (N,):
        raise ValueError(f"far must have shape ({L}, {L})")
    nb, _, _ = neighbour_table(L)
    Q3 = np.zeros((N, 6, 3, 3, 3))
    obs = np.zeros((K, 5))
    lone = np.zeros((K, 2))
    st = seed_states(seed, 1)[0]
    _tally(codes, st, L, *_args(config), K, farf.astype(np.bool_), nb, PAIRS, Q3,
           obs, lone)  # fmt: skip
    paths = np.zeros((N, 6, 5, 5, 5))
    paths[:, :, :3, :3, :3] = Q3 / K
    sites = paths[:, 0].sum(axis=(1, 3))[:, :3].T.reshape(3, L, L)
    return EventSample(
        paths,
        sites,
        float(lone[:, 0].mean()),
        float(lone[:, 1].mean()),
        obs.mean(axis=0),
        obs.std(axis=0, ddof=1) / np.sqrt(K),
    )
