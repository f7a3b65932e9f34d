"""The moment hierarchy of the simulator's per-step rules (docs/hierarchy.md).

Exact (or explicitly approximated) one-step expectations of the change of the
singlet counts ``X, Y`` and of the nearest-neighbour pair counts ``nnXX, nnXY, nnYY``
given the lattice, written in terms of pair and triplet statistics. The same
functions serve three purposes:

* plugged with statistics measured on simulated lattices they give the hierarchy's
  prediction of the simulator's mean one-step change (tests, docs/hierarchy.md);
* with triplets closed by :func:`pair_closure_triplets` they are the right-hand side of
  the pair approximation (:mod:`.pair`);
* with pairs of a random placement (:func:`random_pairs`) they are the mean-field
  closure (:mod:`.mean_field`).

Species indices of all ``(..., 3)``-shaped arrays: 0 = empty, 1 = X, 2 = Y.

Statistics
----------
``b[i, j]`` (ordered bond counts)
    number of ordered (site, nearest neighbour) pairs with species (i, j); symmetric,
    ``sum_i b[i, j] = 4 n_j``, ``b[X, X] = 2 nnXX``, ``b[X, Y] = nnXY``.
``t[i, j, k]`` (ordered triplet counts)
    number of (centre j, ordered pair of two *distinct* nearest neighbours with species
    i and k) -- straight and bent 2-step paths i - j - k;
    ``sum_k t[i, j, k] = 3 b[i, j]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..config import LatticeLV

__all__ = [
    "E",
    "X",
    "Y",
    "ORDERS",
    "bond_matrix",
    "random_pairs",
    "lattice_triplets",
    "pair_closure_triplets",
    "diagonal_pairs_estimate",
    "predation_per_step",
    "predation_coefficient",
    "unimolecular_per_step",
    "one_step_expectation",
    "pair_rates",
]

#: Species indices of the bond / triplet arrays.
E, X, Y = 0, 1, 2

#: Approximation levels of the predation count of one hop sweep (docs/hierarchy.md 3).
ORDERS = ("sweep", "first-order")

_TINY = 1e-12


def _div(num, den):
    """``num / den`` with 0 where ``den`` is (numerically) zero: a ratio of counts whose
    denominator vanishes multiplies a term that vanishes with it."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    ok = den > _TINY
    return np.where(ok, num / np.where(ok, den, 1.0), 0.0)


# ------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------


def bond_matrix(n_x, n_y, nn_xx, nn_xy, nn_yy, n_sites: int) -> np.ndarray:
    """Ordered nearest-neighbour bond counts from counts and unordered pair counts.

    Parameters
    ----------
    n_x, n_y, nn_xx, nn_xy, nn_yy : float or ndarray, broadcastable shapes ``S``
        Counts of X, Y and of unordered XX, XY, YY nearest-neighbour pairs.
    n_sites : int
        ``N = L * L``.

    Returns
    -------
    b : ndarray of float64, shape ``S + (3, 3)``
        ``b[..., i, j]``; species 0 empty, 1 X, 2 Y. The bonds involving empty sites
        follow from the coordination number 4: ``b[X, E] = 4 X - 2 nnXX - nnXY``.
    """
    n_x, n_y, nn_xx, nn_xy, nn_yy = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (n_x, n_y, nn_xx, nn_xy, nn_yy))
    )
    n_e = n_sites - n_x - n_y
    b = np.empty(n_x.shape + (3, 3))
    b[..., X, X] = 2.0 * nn_xx
    b[..., Y, Y] = 2.0 * nn_yy
    b[..., X, Y] = b[..., Y, X] = nn_xy
    b[..., X, E] = b[..., E, X] = 4.0 * n_x - 2.0 * nn_xx - nn_xy
    b[..., Y, E] = b[..., E, Y] = 4.0 * n_y - 2.0 * nn_yy - nn_xy
    b[..., E, E] = 4.0 * n_e - b[..., E, X] - b[..., E, Y]
    return b


def _singlets(n_x, n_y, n_sites: int) -> np.ndarray:
    n_x = np.asarray(n_x, dtype=np.float64)
    n_y = np.asarray(n_y, dtype=np.float64)
    return np.stack(np.broadcast_arrays(n_sites - n_x - n_y, n_x, n_y), axis=-1)


def random_pairs(n_x, n_y, n_sites: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected ``(nnXX, nnXY, nnYY)`` of a uniformly random placement.

    ``n_x`` X and ``n_y`` Y on distinct sites chosen uniformly at random: each of the
    ``2N`` bonds holds a given ordered species pair with the hypergeometric
    probability, ``nnXX = 2N X (X - 1) / (N (N - 1))``, ``nnXY = 4 X Y / (N - 1)``.
    The same numbers hold for the ``2N`` diagonal pairs. ``(X - 1)`` is floored at 0
    so the expression stays physical for the real-valued counts of an ODE.
    """
    n_x = np.asarray(n_x, dtype=np.float64)
    n_y = np.asarray(n_y, dtype=np.float64)
    f = 2.0 / (n_sites - 1)
    return (
        f * n_x * np.maximum(n_x - 1.0, 0.0),
        2.0 * f * n_x * n_y,
        f * n_y * np.maximum(n_y - 1.0, 0.0),
    )


def lattice_triplets(lattices: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Exact ordered triplet counts ``t[i, j, k]`` of lattice configurations.

    Parameters
    ----------
    lattices : ndarray of uint8, shape ``S + (L, L)``
        Codes 0 empty, 1 X, 2 Y; periodic.
    chunk : int
        Lattices processed at a time (memory bound).

    Returns
    -------
    t : ndarray of float64, shape ``S + (3, 3, 3)``
        ``t[i, j, k] = sum over centres of species j of (m_i m_k - [i == k] m_i)``
        with ``m_i`` the number of the centre's 4 neighbours holding species i.
    """
    s = np.asarray(lattices)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"lattices must have shape (..., L, L), got {s.shape}")
    lead = s.shape[:-2]
    L = s.shape[-1]
    flat = s.reshape((-1, L, L))
    out = np.empty((flat.shape[0], 3, 3, 3))
    for a in range(0, flat.shape[0], chunk):
        g = flat[a : a + chunk]
        one = np.stack([(g == k) for k in range(3)], axis=1).astype(np.float64)
        m = np.zeros_like(one)
        for sh, ax in ((1, -2), (-1, -2), (1, -1), (-1, -1)):
            m += np.roll(one, sh, axis=ax)
        # sum_centre one[j] * m[i] * m[k]
        tt = np.einsum("njab,niab,nkab->nijk", one, m, m, optimize=True)
        diag = np.einsum("njab,niab->nij", one, m)
        for i in range(3):
            tt[:, i, :, i] -= diag[:, i, :]
        out[a : a + chunk] = tt
    return out.reshape(lead + (3, 3, 3))


def pair_closure_triplets(b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Triplets closed by the pair approximation, ``t_ijk = (3/4) b_ij b_jk / n_j``.

    Given a centre of species j with one neighbour of species i, each of its 3 other
    neighbours is taken to hold species k independently with the pair-conditional
    probability ``b_jk / (4 n_j)`` (Bethe-lattice / Kirkwood closure
    ``rho_ijk = rho_ij rho_jk / rho_j``).

    Parameters
    ----------
    b : ndarray, shape ``S + (3, 3)``
    n : ndarray, shape ``S + (3,)``
        Singlet counts (empty, X, Y).

    Returns
    -------
    t : ndarray, shape ``S + (3, 3, 3)``
    """
    cond = _div(
        b, 4.0 * n[..., :, None]
    )  # P(k | j) = b[j, k] / (4 n_j), indexed [j, k]
    return 3.0 * b[..., :, :, None] * cond[..., None, :, :]


def diagonal_pairs_estimate(b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Distance-2 pairs estimated from nearest-neighbour pairs (Markov chain along a
    2-step path, the pair approximation's own assumption).

    ``P(c = k | a = i) = sum_j P(j | i) P(k | j)`` for any site c two steps from a, so
    the ordered count over the 4 diagonal neighbours is
    ``D_ik = sum_j b_ij b_jk / (4 n_j)``.

    Returns
    -------
    nnn : ndarray, shape ``S + (3,)``
        Unordered diagonal pair counts ``(nnnXX, nnnXY, nnnYY)``; the reference
        library's "NNN3" classes (three displacements instead of two) are 1.5 times
        these under the same assumption.
    """
    d = np.einsum("...ij,...jk->...ik", b, _div(b, 4.0 * n[..., :, None]))
    return np.stack([d[..., X, X] / 2.0, d[..., X, Y], d[..., Y, Y] / 2.0], axis=-1)


# ------------------------------------------------------------------------------------
# one-step expectations
# ------------------------------------------------------------------------------------


def predation_coefficient(p3: float, order: str = "sweep") -> float:
    """``c`` in ``E[#predations per sweep] = c * p3 * nnXY`` for a random placement.

    ``1/2`` at first order (each X-Y bond tried once from each end with probability
    1/4); ``(8 - p3) / 16`` for the two-attempt sweep expression
    (:func:`predation_per_step`), exactly, whatever the densities.
    """
    _check_order(order)
    return 0.5 if order == "first-order" else (8.0 - p3) / 16.0


def _check_order(order: str) -> None:
    if order not in ORDERS:
        raise ValueError(
            f"order = {order!r} is invalid: allowed {{{', '.join(ORDERS)}}}"
        )


def predation_per_step(
    b: np.ndarray, t: np.ndarray | None, p3: float, order: str = "sweep"
) -> np.ndarray:
    """Expected number of predations (X -> Y conversions) in one hop sweep.

    Parameters
    ----------
    b : ndarray, shape ``S + (3, 3)``
        Ordered bond counts at the start of the sweep (:func:`bond_matrix`).
    t : ndarray, shape ``S + (3, 3, 3)``, or None
        Ordered triplet counts (measured, :func:`lattice_triplets`, or closed,
        :func:`pair_closure_triplets`). Not used at ``order="first-order"``.
    p3 : float
        Predation probability per X-Y collision.
    order : {"sweep", "first-order"}

    Returns
    -------
    P : ndarray, shape ``S``

    Notes
    -----
    docs/hierarchy.md section 3. ``"first-order"``: ``p3 nnXY / 2``. ``"sweep"``
    (default) follows one X-Y bond through the sweep: the first of its two molecules
    to move picks the partner (1/4, reacts with p3); otherwise the bond survives to
    the partner's turn if the reaction failed or the hop was blocked, and breaks if
    the mover hopped away; hops onto an empty site next to a not-yet-moved opposite
    molecule create new contacts (the X-0-Y triplets)::

        P = p3 [ (5 - p3)/16 nnXY
                 + (1/32) (t[Y,X,X] + t[Y,X,Y] + t[X,Y,X] + t[X,Y,Y])
                 + (1/16) t[X,E,Y] ]

    Neglected (second order in p3 times a density, measured in docs/hierarchy.md):
    X eaten through another bond first (competition), chains through freshly made
    Y products, movers that lost their move as a converted partner, the non-uniform
    molecule order of quirk Q3.
    """
    _check_order(order)
    b = np.asarray(b, dtype=np.float64)
    nn_xy = b[..., X, Y]
    if order == "first-order":
        return 0.5 * p3 * nn_xy
    if t is None:
        raise ValueError("predation_per_step(order='sweep') needs triplet counts t")
    t = np.asarray(t, dtype=np.float64)
    occ = t[..., Y, X, X] + t[..., Y, X, Y] + t[..., X, Y, X] + t[..., X, Y, Y]
    return p3 * ((5.0 - p3) / 16.0 * nn_xy + occ / 32.0 + t[..., X, E, Y] / 16.0)


def unimolecular_per_step(
    n_x, n_y, birth: float, death: float, dt: float, n_sites: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact expected births and deaths during the continuous-time part of one step.

    Births form a Yule process with propensity ``birth * max(n_X, 1)`` and deaths a
    pure death process with ``death * n_Y`` (the two are independent: neither
    propensity depends on the other count)::

        E[births] = X (exp(kr1 dt) - 1)        (X >= 1)
                  = kr1 dt exp(kr1 dt)         (X = 0: rate kr1 until the first birth)
        E[deaths] = Y (1 - exp(-kr2 dt))

    Returns
    -------
    births, deaths : ndarray of float64

    Notes
    -----
    ALGORITHM.md 1.3. Births are capped at the empty sites ``N - X - Y`` (a birth on
    a full lattice does nothing; the cap is the exact limit only when the expected
    births are far from it). The stale schedule of quirk Q2 is ignored: by
    memorylessness it only mis-assigns the reaction type of one pending event per
    step after the sweep changed the counts, an O(kr * P * dt) effect.
    """
    n_x = np.asarray(n_x, dtype=np.float64)
    n_y = np.asarray(n_y, dtype=np.float64)
    g = math.exp(birth * dt)
    births = np.where(n_x >= 1.0, n_x * (g - 1.0), birth * dt * g)
    births = np.minimum(births, np.maximum(n_sites - n_x - n_y, 0.0))
    deaths = n_y * (1.0 - math.exp(-death * dt))
    return births, deaths


def one_step_expectation(
    obs: np.ndarray,
    config: LatticeLV,
    triplets: np.ndarray | None = None,
    order: str = "sweep",
) -> dict[str, np.ndarray]:
    """The hierarchy's expected change of X and Y over one simulator step.

    Parameters
    ----------
    obs : ndarray, shape ``S + (k,)`` with ``k >= 5``
        Observables in :data:`dbdviz.moments.OBSERVABLES` order (only X, Y, nnXX,
        nnXY, nnYY are used), e.g. ``Ensemble.observables[:, :-1]``.
    config : LatticeLV
    triplets : ndarray, shape ``S + (3, 3, 3)``, optional
        Measured triplet counts (:func:`lattice_triplets` of the snapshots); closed
        with :func:`pair_closure_triplets` from the pairs when omitted.
    order : {"sweep", "first-order"}

    Returns
    -------
    dict with ``"births", "deaths", "predations", "dX", "dY"`` (ndarrays of shape S)
        ``dX = births - predations``, ``dY = predations - deaths``.
    """
    obs = np.asarray(obs, dtype=np.float64)
    if obs.shape[-1] < 5:
        raise ValueError(
            f"obs must have at least 5 observables on its last axis, got {obs.shape}"
        )
    N = config.n_sites
    nx, ny, xx, xy, yy = (obs[..., k] for k in range(5))
    b = bond_matrix(nx, ny, xx, xy, yy, N)
    if triplets is None and order == "sweep":
        triplets = pair_closure_triplets(b, _singlets(nx, ny, N))
    births, deaths = unimolecular_per_step(
        nx, ny, config.birth, config.death, config.dt, N
    )
    pred = predation_per_step(b, triplets, config.predation, order)
    return {
        "births": births,
        "deaths": deaths,
        "predations": pred,
        "dX": births - pred,
        "dY": pred - deaths,
    }


def pair_rates(
    state: np.ndarray,
    config: LatticeLV,
    triplets: Any = "pair",
    order: str = "sweep",
    hops: bool = True,
) -> np.ndarray:
    """Right-hand side of the pair-level hierarchy, per unit time.

    Parameters
    ----------
    state : ndarray, shape ``S + (5,)``
        ``(X, Y, nnXX, nnXY, nnYY)``.
    config : LatticeLV
    triplets : "pair", "random" or ndarray of shape ``S + (3, 3, 3)``
        Measured triplets, the pair closure, or (mean-field) the pair closure of the
        random-placement pairs.
    order : {"sweep", "first-order"}
        Predation level (:func:`predation_per_step`).
    hops : bool
        Include the pair mixing of free hops (switch off to isolate reactions).

    Returns
    -------
    rates : ndarray, shape ``S + (5,)``
        ``d/dt`` of ``(X, Y, nnXX, nnXY, nnYY)``.

    Notes
    -----
    docs/hierarchy.md sections 2-5. The unimolecular part runs in continuous time
    (per unit time, exact in expectation given the pair counts: a birth lands on a
    uniformly random empty site, a death removes a uniformly random Y). The hop sweep
    happens once per step; its expected changes are spread over the step as a rate
    (divided by ``dt``). Per sweep:

    * predation ``P`` converts an X next to a Y: ``dnnXX = -t[Y,X,X]/nnXY``,
      ``dnnYY = 1 + t[Y,X,Y]/nnXY``, ``dnnXY = -(dnnXX + dnnYY)`` per event;
    * the ``b[A, E] / 4`` free hops of species A change ``nnAB`` by
      ``(t[A,E,B] - t[E,A,B]) / 4``.

    Births are ``birth * max(X, 1) * min(1, N - X - Y)`` per unit time: the cap
    switches births off smoothly as the last empty site fills.
    """
    state = np.asarray(state, dtype=np.float64)
    N = config.n_sites
    nx, ny, xx, xy, yy = (state[..., k] for k in range(5))
    n = _singlets(nx, ny, N)
    if isinstance(triplets, str) and triplets == "random":
        xx, xy, yy = random_pairs(nx, ny, N)
    b = bond_matrix(nx, ny, xx, xy, yy, N)
    if isinstance(triplets, str):
        if triplets not in ("pair", "random"):
            raise ValueError(
                f"triplets = {triplets!r} is invalid: allowed 'pair', "
                "'random' or an array of shape (..., 3, 3, 3)"
            )
        t = pair_closure_triplets(b, n)
    else:
        t = np.asarray(triplets, dtype=np.float64)
    dt = config.dt
    n_e = n[..., E]
    birth = config.birth * np.maximum(nx, 1.0) * np.clip(n_e, 0.0, 1.0)
    death = config.death * ny
    pred = predation_per_step(b, t, config.predation, order) / dt

    out = np.zeros(state.shape)
    out[..., 0] = birth - pred
    out[..., 1] = pred - death
    # births: the new X meets the X and Y neighbours of a random empty site
    out[..., 2] = birth * _div(b[..., E, X], n_e)
    out[..., 3] = birth * _div(b[..., E, Y], n_e) - config.death * xy
    out[..., 4] = -2.0 * config.death * yy
    # predation: the eaten X (chosen per X-Y bond) turns its bonds into Y bonds
    lose_xx = _div(t[..., Y, X, X], b[..., X, Y])
    gain_yy = 1.0 + _div(t[..., Y, X, Y], b[..., X, Y])
    out[..., 2] -= pred * lose_xx
    out[..., 4] += pred * gain_yy
    out[..., 3] += pred * (lose_xx - gain_yy)
    if hops:
        hop = (t[..., :, E, :] - t[..., E, :, :]) / (
            4.0 * dt
        )  # [A, B]: mover A, bond AB
        out[..., 2] += hop[..., X, X]
        out[..., 3] += hop[..., X, Y] + hop[..., Y, X]
        out[..., 4] += hop[..., Y, Y]
    return out
