"""The lattice deep Boltzmann machine: layers, parameters, sampling, statistics.

A :class:`DBM` is built from a :class:`~dbdviz.config.DBMConfig` and the lattice side
L. It owns no chain state: chains are ``int8[n_chains, n_layers, L, L]`` arrays held by
the caller (persistent chains are simply arrays kept between calls) and every method
is a plain function of its arguments, so one DBM serves any number of time points.

Parameter vector theta (fixed order, :attr:`DBM.param_names`)
-------------------------------------------------------------
1. biases layer by layer, channel A then B: ``hX, hY`` (visible), ``bX1, bY1``,
   ``bX2, bY2``, ...;
2. weights layer pair by layer pair (0-1, 1-2, ...): diagonal A, diagonal B, then,
   with ``cross_channel``, A-B' and B-A' (``wXX1, wYY1[, wXY1, wYX1], wX1X2, ...``);
3. ``JXX, JXY, JYY`` (``visible_couplings``), ``JXX2, JXY2, JYY2`` (diagonal).

For depth 2, q = 4, no cross weights and no couplings this is exactly the reference
order of ALGORITHM.md section 0 (hX, hY, bX1, bY1, bX2, bY2, wXX1, wYY1, wX1X2, wY1Y2).

Energy (section 3.2, generalised in section 3.3)::

    -E(s) = sum_k theta_k M_k(s)

with the sufficient statistics ``M`` in the same order: ``B`` (counts of a channel in
a layer) for biases, ``P = sum_{(i,j) in C^(l)} s^(l)_{i alpha} s^(l+1)_{j beta}`` for
weights (unit (r, c) of layer l is connected to (r + dr, c + dc) of layer l + 1,
dr, dc in [0, side), with wrap), and the nearest-neighbour bond counts (displacements
(1, 0), (0, 1); ``JXY`` counts both orientations) for couplings, over (1, 1),
(1, -1) (the ``nnn`` pairs of :mod:`dbdviz.moments`) for the diagonal couplings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._rng import seed_states
from ..config import DBMConfig
from ..moments import DISPLACEMENTS, OBSERVABLES, lattice_observables
from . import _gibbs, _observables

__all__ = ["DBM", "PAPER_VISIBLE_BIAS", "snapshot_statistics"]

#: Initial visible bias of the reference run (learn_centered.cpp, section 4.1); the
#: exact density match ln(0.0625 / 0.875) = -2.639 was rounded to -2.63 there.
PAPER_VISIBLE_BIAS = -2.63

# column of the per-pair statistic array P[..., k] for (alpha_low, alpha_up)
_PAIR_COL = {(0, 0): 0, (1, 1): 1, (0, 1): 2, (1, 0): 3}


def _channel_name(layer: int, ch: int) -> str:
    return ("X" if ch == 0 else "Y") + (str(layer) if layer > 0 else "")


class DBM:
    """A lattice DBM architecture (ALGORITHM.md section 3).

    Parameters
    ----------
    config : DBMConfig, optional
        Depth (0..3 hidden layers), connectivity ``conn`` (q = 4 or 9),
        ``cross_channel``, ``visible_couplings``. Default ``DBMConfig()``.
    size : int
        Lattice side L; every layer has L x L units.
    tiny_ok : bool
        Allow ``side <= size < 2 side`` (``DBMConfig.check_lattice`` asks for
        ``size >= 2 side``). Every unit still has q distinct partners then; used by
        the exact-enumeration tests on 2 x 2 and 3 x 3 lattices.

    Attributes
    ----------
    n_layers, n_params, q, side : int
    param_names : tuple of str
    domain_indices : ndarray of int64
        Default finite-element domain: visible biases, all weights, couplings
        (hidden biases excluded, section 0 / ambiguity A2).
    bias_index : ndarray of int64, shape (n_layers, 2)
        Theta index of the bias of (layer, channel).
    weight_layout : ndarray of int64, shape (n_weights, 4)
        Rows ``(theta index, lower layer l, channel in l, channel in l + 1)``.
    coupling_index : ndarray of int64, shape (3,), (6,) or (0,)
        Theta indices of ``JXX, JXY, JYY`` (then ``JXX2, JXY2, JYY2``).
    """

    def __init__(
        self, config: DBMConfig | None = None, size: int = 40, tiny_ok: bool = False
    ) -> None:
        config = DBMConfig() if config is None else config
        if not isinstance(config, DBMConfig):
            raise ValueError(f"config must be a DBMConfig, got {type(config).__name__}")
        config.validate()
        if isinstance(size, bool) or not float(size).is_integer():
            raise ValueError(f"size = {size!r} must be an integer lattice side")
        size = int(size)
        self.config = config
        self.size = size
        self.q = int(config.conn)
        self.side = 2 if self.q == 4 else 3
        if tiny_ok:
            if size < max(self.side, 2):
                raise ValueError(
                    f"size = {size} is too small for conn = {self.q} ({self.side} x "
                    f"{self.side} patch): allowed size >= {max(self.side, 2)}"
                )
        else:
            config.check_lattice(size)
        self.depth = int(config.depth)
        self.rungs = int(config.rungs)
        self.n_layers = self.depth + 1
        self.cross = bool(config.cross_channel)
        self.coupled = bool(config.visible_couplings)
        self.diagonal = self.coupled and config.visible_nnn_couplings and self.q == 4
        #: the kernels' visible-coupling mode: 0 none, 1 NN, 2 NN and diagonal
        self.coupling_mode = 2 if self.diagonal else int(self.coupled)
        self.n_sites = size * size
        self._build_layout()

    # -- layout --------------------------------------------------------------------
    def _build_layout(self) -> None:
        nl = self.n_layers
        names: list[str] = []
        bias = np.zeros((nl, 2), np.int64)
        for l in range(nl):
            for a in range(2):
                bias[l, a] = len(names)
                names.append(("h" if l == 0 else "b") + _channel_name(l, a))
        combos = [(0, 0), (1, 1)] + ([(0, 1), (1, 0)] if self.cross else [])
        wl = []
        for l in range(nl - 1):
            for a, b in combos:
                wl.append((len(names), l, a, b))
                names.append("w" + _channel_name(l, a) + _channel_name(l + 1, b))
        cidx = []
        if self.coupled:
            diag = ("JXX2", "JXY2", "JYY2") if self.diagonal else ()
            for nm in ("JXX", "JXY", "JYY") + diag:
                cidx.append(len(names))
                names.append(nm)
        self.param_names = tuple(names)
        self.n_params = len(names)
        self.bias_index = bias
        self.weight_layout = np.array(wl, np.int64).reshape(-1, 4)
        self.coupling_index = np.array(cidx, np.int64)
        # the diagonal couplings follow F, outside its domain
        self.domain_indices = np.array(
            [bias[0, 0], bias[0, 1]] + [w[0] for w in wl] + cidx[:3], np.int64
        )
        # coef[l, alpha, :] = theta index (or -1) of: bias, n_A/B(low), n_A/B(up),
        # n_A/B(diagonal) in the activation z_alpha of layer l (see _gibbs).
        coef = np.full((nl, 2, 7), -1, np.int64)
        coef[:, :, 0] = bias
        for k, l, a, b in wl:
            coef[l, a, 3 + b] = k  # layer l, channel a sees n_b of layer l + 1
            coef[l + 1, b, 1 + a] = k  # layer l + 1, channel b sees n_a of layer l
        if self.coupled:
            jxx, jxy, jyy = cidx[:3]
            coef[0, 0, 1], coef[0, 0, 2] = jxx, jxy  # z_X += JXX n_X(nn) + JXY n_Y(nn)
            coef[0, 1, 1], coef[0, 1, 2] = jxy, jyy
        if self.diagonal:
            jxx2, jxy2, jyy2 = cidx[3:]
            coef[0, 0, 5], coef[0, 0, 6] = jxx2, jxy2
            coef[0, 1, 5], coef[0, 1, 6] = jxy2, jyy2
        self._coef = coef
        # pass orders (section 3.4, generalised): odd layers, then even layers
        odd = [l for l in range(nl) if l % 2 == 1]
        even = [l for l in range(nl) if l % 2 == 0]
        self._order_asleep = np.array(odd + even, np.int64)
        self._order_awake = np.array(odd + [l for l in even if l != 0], np.int64)
        K = self.q + 1
        self._table_size = K**4 * (K**2 if self.diagonal else 1)

    def __repr__(self) -> str:
        return (
            f"DBM(depth={self.depth}, size={self.size}, q={self.q}, "
            f"cross_channel={self.cross}, visible_couplings={self.coupled}, "
            f"visible_nnn_couplings={self.diagonal}, n_params={self.n_params})"
        )

    @property
    def layer_names(self) -> list[tuple[str, str]]:
        """Channel names per layer: [("X", "Y"), ("X1", "Y1"), ...]."""
        return [
            (_channel_name(l, 0), _channel_name(l, 1)) for l in range(self.n_layers)
        ]

    # -- parameters and centers ----------------------------------------------------
    def initial_theta(
        self,
        density_x: float = 0.0625,
        density_y: float = 0.0625,
        reference: bool = False,
    ) -> np.ndarray:
        """Visible biases matching the densities, every other parameter 0.

        ``h_alpha = ln(rho_alpha / (1 - rho_X - rho_Y))`` makes the visible sites
        independent with these densities (section 4.1); hidden units are then
        uniform (1/3 per state). ``reference=True`` returns the paper's rounded
        value :data:`PAPER_VISIBLE_BIAS` = -2.63 for both species instead.

        Returns
        -------
        theta : ndarray of float64, shape (n_params,)
        """
        theta = np.zeros(self.n_params)
        if reference:
            theta[self.bias_index[0]] = PAPER_VISIBLE_BIAS
            return theta
        rx, ry = float(density_x), float(density_y)
        if not (0 < rx < 1 and 0 < ry < 1 and rx + ry < 1):
            raise ValueError(
                f"density_x = {rx}, density_y = {ry}: allowed 0 < density_x, "
                f"density_y and density_x + density_y < 1"
            )
        empty = 1.0 - rx - ry
        theta[self.bias_index[0, 0]] = math.log(rx / empty)
        theta[self.bias_index[0, 1]] = math.log(ry / empty)
        return theta

    def initial_centers(
        self, density_x: float = 0.0625, density_y: float = 0.0625
    ) -> np.ndarray:
        """Centers mu: visible densities, hidden 1/3 (section 3.6).

        Returns
        -------
        mu : ndarray of float64, shape (n_layers, 2)

        Notes
        -----
        The reference used 0.33 for the hidden layers; 1/3 is the exact uniform value.
        """
        mu = np.full((self.n_layers, 2), 1.0 / 3.0)
        mu[0] = (density_x, density_y)
        return mu

    def check_theta(self, theta: np.ndarray) -> np.ndarray:
        """Validate and coerce theta to float64 C-contiguous shape (R, n_params)."""
        t = np.asarray(theta, dtype=np.float64)
        if t.ndim == 1:
            t = t[None, :]
        if t.ndim != 2 or t.shape[1] != self.n_params:
            raise ValueError(
                f"theta must have shape (n_params,) or (n_rows, n_params) with "
                f"n_params = {self.n_params} ({', '.join(self.param_names)}), "
                f"got {np.shape(theta)}"
            )
        if t.shape[0] == 0:
            raise ValueError("theta has no rows")
        if not np.all(np.isfinite(t)):
            raise ValueError(
                "theta contains NaN or infinite values: allowed finite reals"
            )
        return np.ascontiguousarray(t)

    def check_states(self, states: np.ndarray) -> np.ndarray:
        """Check chain states: int8, C-contiguous, shape (C, n_layers, L, L)."""
        if not isinstance(states, np.ndarray) or states.dtype != np.int8:
            raise ValueError("states must be an int8 ndarray (see DBM.init_chains)")
        shape = (self.n_layers, self.size, self.size)
        if states.ndim != 4 or states.shape[1:] != shape:
            raise ValueError(
                f"states must have shape (n_chains, {', '.join(map(str, shape))}), "
                f"got {states.shape}"
            )
        if not states.flags.c_contiguous:
            raise ValueError("states must be C-contiguous (it is updated in place)")
        return states

    def _rows(self, rows, n_rows: int, n_chains: int) -> np.ndarray:
        if rows is None:
            if n_rows == 1:
                return np.zeros(n_chains, np.int64)
            if n_rows == n_chains:
                return np.arange(n_chains, dtype=np.int64)
            raise ValueError(
                f"theta has {n_rows} rows for {n_chains} chains: pass rows= (theta row "
                f"of every chain) or give 1 or n_chains rows"
            )
        r = np.ascontiguousarray(rows, dtype=np.int64)
        if r.shape != (n_chains,):
            raise ValueError(f"rows must have shape ({n_chains},), got {r.shape}")
        if n_chains and (r.min() < 0 or r.max() >= n_rows):
            raise ValueError(f"rows must index theta rows: allowed [0, {n_rows - 1}]")
        return r

    @staticmethod
    def _rng(seed, n_chains: int) -> np.ndarray:
        if isinstance(seed, np.ndarray):
            if (
                seed.dtype != np.uint64
                or seed.shape != (n_chains, 4)
                or not (seed.flags.c_contiguous)
            ):
                raise ValueError(
                    f"an rng state passed as seed must be C-contiguous uint64 of shape "
                    f"({n_chains}, 4) (dbdviz._rng.seed_states)"
                )
            return seed
        return seed_states(seed, n_chains)

    def tables(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Conditional tables of every layer for every theta row.

        Returns
        -------
        thr : ndarray of uint64, shape (R, n_layers, T, 2)
        prob : ndarray of float64, shape (R, n_layers, T, 2)
            ``T = (q+1)**4``, times ``(q+1)**2`` with diagonal couplings.
        """
        t = self.check_theta(theta)
        R = t.shape[0]
        thr = np.zeros((R, self.n_layers, self._table_size, 2), np.uint64)
        prob = np.zeros((R, self.n_layers, self._table_size, 2), np.float64)
        _gibbs._build_tables(t, self._coef, self.q, self.coupling_mode, thr, prob)
        return thr, prob

    # -- sampling ------------------------------------------------------------------
    def init_chains(
        self, n_chains: int, seed: int | None | np.ndarray = None
    ) -> np.ndarray:
        """Uniform random categorical chains (every unit 0, 1, 2 with probability 1/3).

        Parameters
        ----------
        n_chains : int
        seed : int, None or ndarray of uint64 (n_chains, 4)
            Seed, or an rng state advanced in place.

        Returns
        -------
        states : ndarray of int8, shape (n_chains, n_layers, L, L)

        Notes
        -----
        Replaces the reference initialisation artefacts (pitfall P17) by the uniform
        categorical state the reference intends (section 3.4).
        """
        n = int(n_chains)
        if n < 1:
            raise ValueError(f"n_chains = {n_chains} is out of range: allowed [1, inf)")
        states = np.empty((n, self.n_layers, self.size, self.size), np.int8)
        _gibbs._init_chains(states, self._rng(seed, n))
        return states

    def sample(
        self,
        theta: np.ndarray,
        states: np.ndarray,
        sweeps: int,
        seed: int | None | np.ndarray = None,
        clamp: np.ndarray | None = None,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Block Gibbs sweeps of every chain, in place.

        Parameters
        ----------
        theta : ndarray of float64, shape (n_params,) or (R, n_params)
            One parameter row, or one per (time point, ...) with ``rows`` mapping
            chains to rows: a whole batch of time points runs in one kernel call.
        states : ndarray of int8, shape (C, n_layers, L, L)
            Chain states, updated in place (persistent chains: keep the array).
        sweeps : int
            Number of sweeps (>= 0).
        seed : int, None or ndarray of uint64 (C, 4)
            Seed of the per-chain xoshiro streams, or a stream state array that is
            advanced in place (to continue streams across calls).
        clamp : ndarray of uint8/int8, shape (C, L, L) or (L, L), optional
            Visible data: the chains become *awake* (visible layer set to ``clamp``
            and held fixed, hidden layers sampled). ``None``: asleep (free) chains.
        rows : sequence of int, shape (C,), optional
            Theta row of every chain. Default: row 0 if R == 1, chain i -> row i if
            R == C.

        Returns
        -------
        states : the same array.

        Notes
        -----
        Section 3.4 generalised to any depth: one sweep updates the odd layers, then
        the even layers (awake: without the visible layer); with visible couplings
        the visible layer is two colour passes (see ``_gibbs`` for the exact draw
        order, and why odd L is still exact). The result does not depend on the
        number of threads: every chain has its own stream.

        Free chains of a DBM with ``config.rungs`` = K > 1 are sampled by parallel
        tempering instead (:func:`dbdviz.dbm.tempering.sample_fresh`): each chain
        is replaced by the top rung after ``sweeps`` tempered sweeps from exact
        samples without interactions (its current state is not used).
        """
        t = self.check_theta(theta)
        states = self.check_states(states)
        n = states.shape[0]
        if isinstance(sweeps, bool) or not float(sweeps).is_integer() or sweeps < 0:
            raise ValueError(
                f"sweeps = {sweeps!r} is out of range: allowed integers >= 0"
            )
        r = self._rows(rows, t.shape[0], n)
        rng = self._rng(seed, n)
        if clamp is not None:
            v = np.asarray(clamp)
            if v.shape not in ((n, self.size, self.size), (self.size, self.size)):
                raise ValueError(
                    f"clamp must have shape ({n}, {self.size}, {self.size}) or "
                    f"({self.size}, {self.size}), got {v.shape}"
                )
            if v.size and (v.min() < 0 or v.max() > 2):
                raise ValueError("clamp codes must be 0 (empty), 1 (X) or 2 (Y)")
            states[:, 0] = v
            order = self._order_awake
        else:
            order = self._order_asleep
        if sweeps == 0 or order.size == 0:
            return states
        if clamp is None and self.rungs > 1:  # parallel tempering (config.rungs)
            from .tempering import sample_fresh

            sample_fresh(self, t, states, int(sweeps), rng, r, self.rungs)
            return states
        thr, _ = self.tables(t)
        _gibbs._sweep_chains(
            states, thr, r, rng, order, int(sweeps), self.side, self.coupling_mode
        )
        return states

    def final_probabilities(
        self,
        theta: np.ndarray,
        states: np.ndarray,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """One parallel update of all layers kept as probabilities (section 6.2 step 4).

        Every layer's conditional probabilities are computed from the current
        (previous binary) state of its neighbours, including the visible layer.
        ``states`` is not changed; no random numbers are drawn.

        Returns
        -------
        probs : ndarray of float64, shape (C, n_layers, 2, L, L)
            ``probs[c, l, 0]`` = P(A), ``probs[c, l, 1]`` = P(B).
        """
        t = self.check_theta(theta)
        states = self.check_states(states)
        r = self._rows(rows, t.shape[0], states.shape[0])
        _, prob = self.tables(t)
        out = np.empty((states.shape[0], self.n_layers, 2, self.size, self.size))
        mode = self.coupling_mode
        _gibbs._final_probabilities(states, prob, r, self.side, mode, out)
        return out

    def final_moments(
        self,
        theta: np.ndarray,
        states: np.ndarray,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The final probability step's observables and statistics per chain
        (section 6.2 steps 4-5) without storing the probabilities.

        Bitwise equal to ``visible_observables`` / ``param_statistics`` of
        :meth:`final_probabilities` computed by the numba kernels (one fused
        kernel, :func:`dbdviz.dbm._observables._final_moments`); ``states`` is not
        changed, no random numbers are drawn.

        Returns
        -------
        obs : ndarray of float64, shape (C, 11)
            :data:`dbdviz.moments.OBSERVABLES` from the probabilities.
        M : ndarray of float64, shape (C, n_params)
            Parameter statistics from the probabilities, theta order.
        """
        t = self.check_theta(theta)
        states = self.check_states(states)
        r = self._rows(rows, t.shape[0], states.shape[0])
        _, prob = self.tables(t)
        n = states.shape[0]
        obs = np.empty((n, len(OBSERVABLES)))
        M = np.empty((n, self.n_params))
        _observables._final_moments(
            states,
            prob,
            r,
            self.side,
            self.coupling_mode,
            self.bias_index,
            self.weight_layout,
            self.coupling_index,
            obs,
            M,
        )
        return obs, M

    def clamped_statistics(self, theta, states, rows=None) -> np.ndarray:
        """Parameter statistics of ``states`` with every hidden layer replaced by
        its conditional probabilities given its neighbours' states, float64
        (C, n_params), theta order; the visible layer as it is.

        With one hidden layer this is ``E[M | visible]`` exactly (the hidden units
        are independent given the visible layer): the awake statistics of data
        without sampling, and a lower-variance model estimate from sampled visible
        states. Depth 0: the binary statistics. ``theta``, ``rows`` as
        :meth:`sample`; no random numbers, ``states`` not changed.
        """
        t = self.check_theta(theta)
        states = self.check_states(states)
        r = self._rows(rows, t.shape[0], states.shape[0])
        _, prob = self.tables(t)
        M = np.empty((states.shape[0], self.n_params))
        _observables._clamped_statistics(
            states, prob, r, self.side, self.bias_index, self.weight_layout,
            self.coupling_index, M,
        )  # fmt: skip
        return M

    def state_observables(self, states: np.ndarray) -> np.ndarray:
        """The 11 :data:`dbdviz.moments.OBSERVABLES` of the binary visible layer per
        chain, float64 (C, 11): exact counts (the numba kernel of the probability
        path on the one-hot visible state)."""
        s = self.check_states(states)
        onehot = np.zeros((s.shape[0], 1, 2, self.size, self.size))
        onehot[:, 0, 0] = s[:, 0] == 1
        onehot[:, 0, 1] = s[:, 0] == 2
        out = np.empty((s.shape[0], len(OBSERVABLES)))
        _observables._visible_observables(onehot, out)
        return out

    # -- statistics ----------------------------------------------------------------
    def statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw sufficient statistics per chain.

        Parameters
        ----------
        x : ndarray
            Binary states ``int8 (C, n_layers, L, L)`` or probabilities
            ``float64 (C, n_layers, 2, L, L)`` from :meth:`final_probabilities`
            (then sums of probabilities and of products of probabilities).

        Returns
        -------
        B : ndarray of float64, shape (C, n_layers, 2)
            Channel counts per layer.
        P : ndarray of float64, shape (C, n_params - 2 n_layers)
            Weight statistics then coupling statistics, in theta order.
        """
        M = self.param_statistics(x)
        nb = 2 * self.n_layers
        return M[:, :nb].reshape(-1, self.n_layers, 2), M[:, nb:]

    def param_statistics(self, x: np.ndarray) -> np.ndarray:
        """Uncentered statistic ``M_k = d(-E)/d theta_k`` of every parameter.

        Parameters
        ----------
        x : int8 states (C, n_layers, L, L) or float64 probabilities
            (C, n_layers, 2, L, L).

        Returns
        -------
        M : ndarray of float64, shape (C, n_params), theta order.

        Notes
        -----
        From probabilities (section 6.2 step 5) products of probabilities of
        connected units are the reference's estimator. Cross-layer products are
        *not* model expectations (the two layers of a parallel update are not
        jointly model distributed); the visible NN products (couplings) are only
        meaningful without visible couplings, where visible units are
        conditionally independent given layer 1.
        """
        if isinstance(x, np.ndarray) and x.dtype == np.int8:
            s = self.check_states(x)
            n = s.shape[0]
            B = np.empty((n, self.n_layers, 2), np.int64)
            P = np.empty((n, max(self.n_layers - 1, 1), 4), np.int64)
            J = np.empty((n, 6), np.int64)
            _gibbs._chain_statistics(s, self.side, B, P, J)
            oh = None
        else:
            oh = self._check_probs(x)
            n = oh.shape[0]
            B = oh.sum(axis=(-2, -1))
            P = np.zeros((n, max(self.n_layers - 1, 1), 4))
            ax = (-2, -1)
            for l in range(self.n_layers - 1):
                low = oh[:, l]  # (C, 2, L, L)
                # box_sum_down: sum over delta of low[j - delta]
                box = np.zeros_like(low)
                for dr in range(self.side):
                    for dc in range(self.side):
                        box += np.roll(low, shift=(dr, dc), axis=ax)
                upp = oh[:, l + 1]
                for (a, b), k in _PAIR_COL.items():
                    P[:, l, k] = (upp[:, b] * box[:, a]).sum(axis=ax)
            J = np.zeros((n, 6))
            px, py = oh[:, 0, 0], oh[:, 0, 1]
            for j0, cls in ((0, "nn"), (3, "nnn")):
                for d in DISPLACEMENTS[cls]:
                    sx = np.roll(px, shift=(-d[0], -d[1]), axis=ax)
                    sy = np.roll(py, shift=(-d[0], -d[1]), axis=ax)
                    J[:, j0] += (px * sx).sum(axis=ax)
                    J[:, j0 + 1] += (px * sy + py * sx).sum(axis=ax)
                    J[:, j0 + 2] += (py * sy).sum(axis=ax)
        M = np.empty((n, self.n_params))
        M[:, : 2 * self.n_layers] = B.reshape(n, -1)
        for k, l, a, b in self.weight_layout:
            M[:, k] = P[:, l, _PAIR_COL[(int(a), int(b))]]
        for j, k in enumerate(self.coupling_index):
            M[:, k] = J[:, j]
        return M

    def _check_probs(self, x) -> np.ndarray:
        p = np.asarray(x, dtype=np.float64)
        shape = (self.n_layers, 2, self.size, self.size)
        if p.ndim != 5 or p.shape[1:] != shape:
            raise ValueError(
                f"expected int8 states (C, {self.n_layers}, {self.size}, {self.size}) "
                f"or float probabilities (C, {', '.join(map(str, shape))}), got "
                f"{np.shape(x)} {getattr(x, 'dtype', '')}"
            )
        return p

    def _mu(self, mu: np.ndarray, n: int | None = None) -> np.ndarray:
        m = np.asarray(mu, dtype=np.float64)
        if m.shape[-2:] != (self.n_layers, 2) or m.ndim not in (2, 3):
            raise ValueError(
                f"mu must have shape ({self.n_layers}, 2) or (C, {self.n_layers}, 2), "
                f"got {m.shape}"
            )
        if n is not None and m.ndim == 3 and m.shape[0] != n:
            raise ValueError(f"mu has {m.shape[0]} rows for {n} chains")
        return m

    def centered_statistics(self, M: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Centered statistics: B for biases, G for weights, P for couplings.

        ``G = P - q mu_up B_low - q mu_low B_up + q N mu_low mu_up`` (section 3.3),
        sample by sample; for a cross weight mu_low / mu_up are the centers of its
        lower / upper channel. Couplings are not centered.

        Parameters
        ----------
        M : ndarray of float64, shape (C, n_params)
            From :meth:`param_statistics`.
        mu : ndarray of float64, shape (n_layers, 2) or (C, n_layers, 2)

        Returns
        -------
        G : ndarray of float64, shape (C, n_params)
        """
        M = np.asarray(M, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != self.n_params:
            raise ValueError(f"M must have shape (C, {self.n_params}), got {M.shape}")
        m = self._mu(mu, M.shape[0])
        if m.ndim == 2:
            m = m[None]
        G = M.copy()
        q, N = self.q, self.n_sites
        for k, l, a, b in self.weight_layout:
            mlo = m[:, l, a]
            mup = m[:, l + 1, b]
            blo = M[:, self.bias_index[l, a]]
            bup = M[:, self.bias_index[l + 1, b]]
            G[:, k] = M[:, k] - q * mup * blo - q * mlo * bup + q * N * mlo * mup
        return G

    def centering_matrix(self, mu: np.ndarray) -> np.ndarray:
        """Matrix A(mu) with centered parameters ``theta_c = A theta`` (section 3.3).

        ``a~_(l, alpha) = a_(l, alpha) + q sum_W W mu_partner`` over every weight W
        touching (l, alpha); weights and couplings unchanged. ``A - I`` is nilpotent
        of order 2, so ``inv(A) = 2 I - A``. Gradient steps on the centered
        parameters with the centered statistics map back as
        ``theta += inv(A) @ step``.

        Returns
        -------
        A : ndarray of float64, shape (n_params, n_params)
        """
        m = self._mu(mu)
        if m.ndim != 2:
            raise ValueError("centering_matrix takes one set of centers (n_layers, 2)")
        A = np.eye(self.n_params)
        for k, l, a, b in self.weight_layout:
            A[self.bias_index[l, a], k] += self.q * m[l + 1, b]
            A[self.bias_index[l + 1, b], k] += self.q * m[l, a]
        return A

    def to_centered(self, theta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Centered parameters ``A(mu) theta``; theta (n_params,) or (R, n_params)."""
        t = self.check_theta(theta)
        out = t @ self.centering_matrix(mu).T
        return out[0] if np.ndim(theta) == 1 else out

    def from_centered(self, theta_c: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_centered`."""
        t = self.check_theta(theta_c)
        A = self.centering_matrix(mu)
        out = t @ (2.0 * np.eye(self.n_params) - A).T
        return out[0] if np.ndim(theta_c) == 1 else out

    def estimate_centers(self, B: np.ndarray) -> np.ndarray:
        """Chain-average densities ``mean_c B / N``, (n_layers, 2) (section 3.6)."""
        b = np.asarray(B, dtype=np.float64)
        if b.ndim != 3 or b.shape[1:] != (self.n_layers, 2):
            raise ValueError(
                f"B must have shape (C, {self.n_layers}, 2), got {b.shape}"
            )
        return b.mean(axis=0) / self.n_sites

    @staticmethod
    def slide_centers(mu: np.ndarray, mu_new: np.ndarray, sigma: float) -> np.ndarray:
        """``(1 - sigma) mu + sigma mu_new`` (section 3.6; sigma = sliding_factor).

        Order inside a step (pitfall P13): bias statistics -> slide the centers ->
        centered weight statistics with the *new* centers.
        """
        if not 0.0 <= sigma <= 1.0:
            raise ValueError(f"sigma = {sigma} is out of range: allowed [0, 1]")
        return (1.0 - sigma) * np.asarray(mu, float) + sigma * np.asarray(mu_new, float)

    # -- observables ---------------------------------------------------------------
    def visible_observables(self, x: np.ndarray) -> np.ndarray:
        """The 11 :data:`dbdviz.moments.OBSERVABLES` of the visible layer per chain.

        Parameters
        ----------
        x : int8 states (C, n_layers, L, L) or float64 probabilities
            (C, n_layers, 2, L, L).

        Returns
        -------
        obs : ndarray of float64, shape (C, 11)

        Notes
        -----
        From probabilities, pair observables are sums of products of probabilities
        (Rao-Blackwellised, section 6.2 step 5). This is an unbiased estimate of the
        model's pair moments only without visible couplings: then visible units are
        conditionally independent given layer 1, which the final parallel update
        samples from the model.
        """
        if isinstance(x, np.ndarray) and x.dtype == np.int8:
            s = self.check_states(x)
            return lattice_observables(s[:, 0]).astype(np.float64)
        p = self._check_probs(x)
        px, py = p[:, 0, 0], p[:, 0, 1]
        ax = (-2, -1)
        out = [px.sum(axis=ax), py.sum(axis=ax)]
        for cls in ("nn", "nnn", "nnn3"):
            xx = np.zeros(p.shape[0])
            xy = np.zeros(p.shape[0])
            yy = np.zeros(p.shape[0])
            for d in DISPLACEMENTS[cls]:
                sx = np.roll(px, shift=(-d[0], -d[1]), axis=ax)
                sy = np.roll(py, shift=(-d[0], -d[1]), axis=ax)
                xx += (px * sx).sum(axis=ax)
                yy += (py * sy).sum(axis=ax)
                xy += (px * sy + py * sx).sum(axis=ax)
            out += [xx, xy, yy]
        obs = np.stack(out, axis=-1)
        assert obs.shape[1] == len(OBSERVABLES)
        return obs

    def energy(self, theta: np.ndarray, states: np.ndarray) -> np.ndarray:
        """``E(s) = -theta . M(s)`` per chain, float64 (C,) (one theta row)."""
        t = self.check_theta(theta)
        if t.shape[0] != 1:
            raise ValueError("energy takes one theta row")
        return -(self.param_statistics(states) @ t[0])


def snapshot_statistics(dbm, snapshots: np.ndarray) -> np.ndarray:
    """Parameter statistics ``M_k`` of every snapshot of a fully visible machine.

    Parameters
    ----------
    dbm : dbdviz.dbm.DBM
        Depth 0 (the statistics of a lattice need no hidden units).
    snapshots : ndarray of uint8, shape (R, T + 1, L, L)

    Returns
    -------
    ndarray of float64, shape (R, T + 1, P)
    """
    R, nt, L = snapshots.shape[0], snapshots.shape[1], snapshots.shape[-1]
    out = np.empty((R, nt, dbm.n_params))
    # many time points per call: one small parallel call per time point costs
    # seconds of thread hand-offs on a loaded machine (measured 2-4 s vs 0.15 s)
    chunk = max(1, min(nt, (1 << 24) // max(R * L * L, 1)))
    for t0 in range(0, nt, chunk):
        t1 = min(nt, t0 + chunk)
        buf = np.ascontiguousarray(
            snapshots[:, t0:t1].reshape(R * (t1 - t0), 1, L, L), dtype=np.int8
        )
        out[:, t0:t1] = dbm.param_statistics(buf).reshape(R, t1 - t0, dbm.n_params)
    return out
