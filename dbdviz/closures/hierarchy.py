"""The moment hierarchy of the simulator's step (docs/hierarchy.md).

Expected one-step change of the singlet counts ``X, Y`` and of the nearest-neighbour
pair counts ``nnXX, nnXY, nnYY`` given the lattice, for the step as the simulator
runs it: first the unimolecular events in continuous time (births on random empty
sites, deaths of random Y), then one hop sweep with predation on collisions.

* The events act on every site independently in expectation (:func:`event_matrix`):
  each Y dies with probability ``1 - exp(-kr2 dt)``, each empty site receives one of
  the expected births with probability ``births / n_empty``. Any pattern count (pairs,
  triplets) transforms exactly by this matrix, up to terms of order
  ``births^2 / N`` (two births in one pattern, births on sites freed in the step).
* The sweep is exact in *sweep time* given the current pairs and triplets
  (:mod:`._sweep`); its triplets at intermediate sweep times are closed by the pairs.

The same function, :func:`step_expectation`, serves three purposes:

* with triplets measured on a lattice, the hierarchy's prediction of the simulator's
  mean one-step change (tests, docs/hierarchy.md);
* with triplets closed by the pairs, one step of the pair approximation (:mod:`.pair`);
* with the pairs of a random placement of the counts, one step of the mean field
  (:mod:`.mean_field`).

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

import numpy as np

from ..config import LatticeLV
from ._sweep import integrate_sweep
from ._sweep3 import integrate_sweep3

__all__ = [
    "E",
    "X",
    "Y",
    "bond_matrix",
    "random_pairs",
    "lattice_triplets",
    "pair_closure_triplets",
    "diagonal_pairs_estimate",
    "predation_coefficient",
    "unimolecular_per_step",
    "event_matrix",
    "step_expectation",
    "one_step_expectation",
    "measured_step_table",
]

#: Species indices of the bond / triplet arrays.
E, X, Y = 0, 1, 2

#: Closures of the triplets accepted by :func:`step_expectation`.
TRIPLETS = ("pair", "random")

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


def lattice_triplets(
    lattices: np.ndarray, chunk: int = 2048, n_species: int = 3
) -> np.ndarray:
    """Exact ordered triplet counts ``t[i, j, k]`` of lattice configurations.

    Parameters
    ----------
    lattices : ndarray of uint8, shape ``S + (L, L)``
        Codes 0 empty, 1 X, 2 Y; periodic.
    chunk : int
        Lattices processed at a time (memory bound).
    n_species : int
        Number of site codes (3; 5 for the sweep states of :mod:`._sweep`).

    Returns
    -------
    t : ndarray of float64, shape ``S + (n_species,) * 3``
        ``t[i, j, k] = sum over centres of species j of (m_i m_k - [i == k] m_i)``
        with ``m_i`` the number of the centre's 4 neighbours holding species i.
    """
    s = np.asarray(lattices)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"lattices must have shape (..., L, L), got {s.shape}")
    lead = s.shape[:-2]
    L = s.shape[-1]
    flat = s.reshape((-1, L, L))
    ns = int(n_species)
    out = np.empty((flat.shape[0], ns, ns, ns))
    for a in range(0, flat.shape[0], chunk):
        g = flat[a : a + chunk]
        one = np.stack([(g == k) for k in range(ns)], axis=1).astype(np.float64)
        m = np.zeros_like(one)
        for sh, ax in ((1, -2), (-1, -2), (1, -1), (-1, -1)):
            m += np.roll(one, sh, axis=ax)
        # sum_centre one[j] * m[i] * m[k]
        tt = np.einsum("njab,niab,nkab->nijk", one, m, m, optimize=True)
        diag = np.einsum("njab,niab->nij", one, m)
        for i in range(ns):
            tt[:, i, :, i] -= diag[:, i, :]
        out[a : a + chunk] = tt
    return out.reshape(lead + (ns, ns, ns))


def pair_closure_triplets(b: np.ndarray, n: np.ndarray, n_sites: int) -> np.ndarray:
    """Triplets closed by the pairs (finite-size Kirkwood closure).

    Given a centre of species j with one neighbour of species i, each of its 3 other
    neighbours holds species k with probability
    ``P(k | j, i) = ((N - 1) b_jk / (4 n_j) - [i == k]) / (N - 2)``, so
    ``t_ijk = 3 b_ij P(k | j, i)``. For a uniformly random placement
    ``b_jk / (4 n_j) = (n_k - [j == k]) / (N - 1)`` and this is the exact
    ``(n_k - [j == k] - [i == k]) / (N - 2)``; for large N it is the Bethe-lattice
    (Kirkwood) closure ``rho_ijk = rho_ij rho_jk / rho_j``. Negative values (possible
    only for nearly absent species) are clipped to 0.

    Parameters
    ----------
    b : ndarray, shape ``S + (3, 3)``
    n : ndarray, shape ``S + (3,)``
        Singlet counts (empty, X, Y).
    n_sites : int

    Returns
    -------
    t : ndarray, shape ``S + (3, 3, 3)``
    """
    b = np.asarray(b, dtype=np.float64)
    cond = _div(b, 4.0 * np.asarray(n, dtype=np.float64)[..., :, None])  # [j, k]
    p = ((n_sites - 1.0) * cond[..., None, :, :] - np.eye(3)[:, None, :]) / (
        n_sites - 2.0
    )  # [i, j, k]
    return np.maximum(3.0 * b[..., :, :, None] * p, 0.0)


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
# one step
# ------------------------------------------------------------------------------------


def predation_coefficient(p3: float) -> float:
    """``c`` of ``E[#predations per sweep] = c p3 nnXY`` in the dilute limit.

    An isolated X-Y bond reacts with ``p3 (5 - p3) / 16`` (first mover picks the
    partner, or fails and the second one does); each of the ``3 (1 - rho)`` X-0-Y
    paths per bond of a random placement adds ``p3 / 16`` (one hops in, the other
    picks it), so ``c = (8 - p3) / 16`` as the density goes to 0. The exact sweep
    (:func:`step_expectation`) gives c = 0.471 at the paper's density (formula
    0.475). Used by the mean field's continuous-time limit (fixed point, period).
    """
    return (8.0 - p3) / 16.0


def unimolecular_per_step(
    n_x, n_y, birth: float, death: float, dt: float, n_sites: int, floor="exact"
) -> tuple[np.ndarray, np.ndarray]:
    """Expected births and deaths during the continuous-time part of one step.

    Births form a Yule process with propensity ``birth * max(n_X, 1)`` and deaths a
    pure death process with ``death * n_Y`` (independent: neither propensity depends
    on the other count)::

        E[births] = X (exp(kr1 dt) - 1)        (X >= 1)
        E[deaths] = Y (1 - exp(-kr2 dt))

    From ``X = 0`` the first birth comes at rate kr1 and
    ``E[X(dt)] = sinh(kr1 dt)`` (``floor="exact"``: ``dE[X]/dt = kr1 (E[X] +
    P(X = 0))``). The closures, whose X is a real number, use the deterministic
    ``dX/dt = kr1 max(X, 1)`` instead (``floor="ode"``): ``kr1 t`` until X = 1.
    Births are capped at the empty sites (a birth on a full lattice does nothing).

    Returns
    -------
    births, deaths : ndarray of float64
    """
    n_x = np.asarray(n_x, dtype=np.float64)
    n_y = np.asarray(n_y, dtype=np.float64)
    g = math.expm1(birth * dt)
    if floor == "exact":
        low = np.where(n_x > 0, n_x * g, math.sinh(birth * dt))
    elif floor == "ode":
        # time to reach X = 1 at rate kr1, then exponential growth from 1
        tau = np.clip((1.0 - n_x) / max(birth, _TINY), 0.0, dt)
        low = np.where(
            tau >= dt, birth * dt, (1.0 - n_x) + np.expm1(birth * (dt - tau))
        )
    else:
        raise ValueError(f"floor = {floor!r} is invalid: allowed 'exact', 'ode'")
    births = np.where(n_x >= 1.0, n_x * g, low)
    births = np.minimum(births, np.maximum(n_sites - n_x - n_y, 0.0))
    deaths = -n_y * math.expm1(-death * dt)
    return births, deaths


def event_matrix(n_e, n_y, births, deaths) -> np.ndarray:
    """Site-wise transition matrix ``T[i, j]`` of the events of one step.

    An empty site becomes X with probability ``births / n_e`` (the births land on
    uniformly random empty sites), a Y site becomes empty with ``deaths / n_y``
    (the Y die independently); X sites are untouched. Any pattern count transforms
    as ``b'_kl = sum_ij T_ik T_jl b_ij`` (triplets likewise), exactly in expectation
    up to two events in one pattern (order ``births^2 / N``).

    Returns
    -------
    T : ndarray, shape ``S + (3, 3)``
    """
    beta = np.clip(_div(births, n_e), 0.0, 1.0)
    q = np.clip(_div(deaths, n_y), 0.0, 1.0)
    T = np.zeros(np.shape(beta) + (3, 3))
    T[..., E, E] = 1.0 - beta
    T[..., E, X] = beta
    T[..., X, X] = 1.0
    T[..., Y, E] = q
    T[..., Y, Y] = 1.0 - q
    return T


def _physical(b: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Bonds with at most ``4 n_E`` bonds at empty sites (``b_EE >= 0``).

    A closure's real-valued state can violate it by rounding as the lattice fills
    (``n_E -> 0``); the excess X-0 and Y-0 bonds are turned into X-X and Y-Y bonds,
    which keeps every row sum ``4 n_j``. A measured lattice is never changed.
    """
    b = np.array(b, dtype=np.float64)
    s = b[..., E, X] + b[..., E, Y]
    f = np.where(s > 4.0 * n[..., E], _div(4.0 * np.maximum(n[..., E], 0.0), s), 1.0)
    for a in (X, Y):
        d = b[..., E, a] * (1.0 - f)
        b[..., E, a] -= d
        b[..., a, E] -= d
        b[..., a, a] += d
    b[..., E, E] = 4.0 * n[..., E] - b[..., E, X] - b[..., E, Y]
    return b


def step_expectation(
    obs: np.ndarray,
    config: LatticeLV,
    triplets=None,
    floor: str = "exact",
    quads=None,
) -> dict[str, np.ndarray]:
    """Expected observables after one simulator step, given the lattice's statistics.

    Parameters
    ----------
    obs : ndarray, shape ``S + (k,)`` with ``k >= 5``
        ``X, Y, nnXX, nnXY, nnYY`` first (:data:`dbdviz.moments.OBSERVABLES` order).
    config : LatticeLV
        Rates, ``dt``, size.
    triplets : None, "pair", "random" or ndarray of shape ``S + (3, 3, 3)``
        Measured triplet counts of the lattice (:func:`lattice_triplets`); None or
        ``"pair"``: closed by the pairs (:func:`pair_closure_triplets`); ``"random"``:
        the pairs *and* triplets of a random placement of the counts (mean field).
    floor : {"exact", "ode"}
        Births from ``X < 1`` (:func:`unimolecular_per_step`).
    quads : tuple of two ndarrays of shape ``S + (3, 3, 3, 3)``, optional
        Measured four-site patterns ``(path, star)`` of the lattice
        (:func:`._sweep3.lattice_quads`), with measured ``triplets``: the sweep then
        evolves the triplets too (:func:`._sweep3.integrate_sweep3`), their
        four-site patterns closed only for the change within the sweep.

    Returns
    -------
    dict of ndarray, shape ``S``
        ``"X", "Y", "nnXX", "nnXY", "nnYY"`` after the step, ``"births", "deaths",
        "predations"`` (expected numbers).

    Notes
    -----
    docs/hierarchy.md. The events transform the statistics site by site
    (:func:`event_matrix`); the sweep is integrated in sweep time with its exact
    pair-level rates (:func:`._sweep.sweep_rates`), the triplets at intermediate
    sweep times closed by the pairs. With measured triplets the closed ones are
    multiplied by the measured / closed ratio at the start of the sweep (fixed
    through the sweep), so the start is exact and only the change of the
    correlations during the sweep is closed.
    """
    obs = np.asarray(obs, dtype=np.float64)
    if obs.shape[-1] < 5:
        raise ValueError(
            f"obs must have at least 5 observables on its last axis, got {obs.shape}"
        )
    measured = not (triplets is None or isinstance(triplets, str))
    if isinstance(triplets, str) and triplets not in TRIPLETS:
        raise ValueError(
            f"triplets = {triplets!r} is invalid: allowed None, 'pair', 'random' "
            "or an array of shape (..., 3, 3, 3)"
        )
    N = config.n_sites
    lead = obs.shape[:-1]
    nx, ny, xx, xy, yy = (obs[..., k] for k in range(5))
    if isinstance(triplets, str) and triplets == "random":
        xx, xy, yy = random_pairs(nx, ny, N)
    b = bond_matrix(nx, ny, xx, xy, yy, N)
    n = _singlets(nx, ny, N)
    births, deaths = unimolecular_per_step(
        nx, ny, config.birth, config.death, config.dt, N, floor=floor
    )
    T = event_matrix(n[..., E], ny, births, deaths)
    n1 = np.einsum("...ik,...i->...k", T, n)
    b1 = _physical(np.einsum("...ik,...ij,...jl->...kl", T, b, T), n1)
    if measured:
        t = np.asarray(triplets, dtype=np.float64)
        if t.shape != lead + (3, 3, 3):
            raise ValueError(
                f"triplets must have shape {lead + (3, 3, 3)}, got {t.shape}"
            )
        t1 = np.einsum("...ia,...jb,...kc,...ijk->...abc", T, T, T, t)
        ratio = np.where(
            (k1 := pair_closure_triplets(b1, n1, N)) > _TINY,
            _div(t1, k1),
            1.0,
        )
    if quads is not None:
        if not measured:
            raise ValueError("quads need measured triplets (an array)")
        sub = "...wx,...ia,...jb,...kc,...wijk->...xabc"
        path, star = (np.einsum(sub, T, T, T, T, np.asarray(q)) for q in quads)
    out = {k: np.empty(lead) for k in ("X", "Y", "nnXX", "nnXY", "nnYY")}
    pred = np.empty(lead)
    for idx in np.ndindex(*lead):
        if quads is not None:
            bb, nn, p = integrate_sweep3(
                b1[idx], n1[idx], t1[idx], config.predation, N, path[idx], star[idx]
            )
        else:
            bb, nn, p = integrate_sweep(
                b1[idx],
                n1[idx],
                config.predation,
                N,
                ratio[idx] if measured else None,
            )
        out["X"][idx] = nn[X]
        out["Y"][idx] = nn[Y]
        out["nnXX"][idx] = bb[X, X] / 2.0
        out["nnXY"][idx] = bb[X, Y]
        out["nnYY"][idx] = bb[Y, Y] / 2.0
        pred[idx] = p
    out.update(births=births, deaths=deaths, predations=pred)
    return out


def one_step_expectation(
    obs: np.ndarray, config: LatticeLV, triplets=None
) -> dict[str, np.ndarray]:
    """Expected *change* of the observables over one step (:func:`step_expectation`).

    Returns
    -------
    dict of ndarray
        ``"dX", "dY", "dnnXX", "dnnXY", "dnnYY"`` and ``"births", "deaths",
        "predations"``.
    """
    obs = np.asarray(obs, dtype=np.float64)
    e = step_expectation(obs, config, triplets)
    out = {
        "d" + o: e[o] - obs[..., k]
        for k, o in enumerate(("X", "Y", "nnXX", "nnXY", "nnYY"))
    }
    out.update(births=e["births"], deaths=e["deaths"], predations=e["predations"])
    return out


def measured_step_table(ensemble, max_replicates: int = 20):
    """One step of the exact equations from the *measured* statistics at every time.

    At each time t the step's equations (:func:`step_expectation`) are applied to the
    ensemble-mean counts, pairs and triplets measured on the simulated lattices; the
    result is the prediction for t + 1. This is the hierarchy without a closure at
    the start of each step (only the sweep's internal correlations are closed): it
    tracks the simulation, while the pair approximation, which closes the triplets
    by the pairs, drifts away as predators and prey segregate.

    Parameters
    ----------
    ensemble : dbdviz.simulate.Ensemble
        With snapshots.
    max_replicates : int
        Replicates whose lattices are measured (the first ones; triplets cost about
        one pass over every lattice).

    Returns
    -------
    MomentTable
        ``label="measured triplets"``; X, Y, nnXX, nnXY, nnYY at the ensemble's times
        (t = 0: the measured means).

    Raises
    ------
    ValueError
        The ensemble has no snapshots.
    """
    from ..moments import MomentTable

    if ensemble.snapshots is None:
        raise ValueError(
            "the equations with measured triplets need the ensemble's lattices "
            "(simulate with snapshots on)"
        )
    n = max(1, min(int(max_replicates), ensemble.n_reps))
    obs = ensemble.observables[:n, :, :5].astype(np.float64).mean(axis=0)
    trip = lattice_triplets(ensemble.snapshots[:n]).mean(axis=0)
    e = step_expectation(obs[:-1], ensemble.config, triplets=trip[:-1])
    names = ("X", "Y", "nnXX", "nnXY", "nnYY")
    mean = {o: np.concatenate([obs[:1, k], e[o]]) for k, o in enumerate(names)}
    return MomentTable(
        t=np.asarray(ensemble.t, dtype=np.float64),
        n=None,
        mean=mean,
        label="measured triplets",
    )
