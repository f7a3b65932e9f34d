"""Slow, obvious twins of the DBM kernels and exact distributions for tiny lattices.

The twins read parameters by *name* and work on plain int8 arrays with modulo
indexing, straight from the definitions of ALGORITHM.md section 3; they replay the
kernels' random draws with a pure-Python xoshiro256** (conversions as documented in
``dbdviz/_rng.py`` and ``dbdviz/dbm/_gibbs.py``).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

M64 = (1 << 64) - 1


# ------------------------------------------------------------------------------------
# xoshiro256** in pure Python
# ------------------------------------------------------------------------------------


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


def next_u64(s):
    """Advance ``s`` (list of 4 Python ints) and return the next output."""
    result = (_rotl((s[1] * 5) & M64, 7) * 9) & M64
    t = (s[1] << 17) & M64
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


def randbelow(s, n):
    return ((next_u64(s) >> 32) * n) >> 32


class HalfDraws:
    """32-bit uniforms: high then low half of each 64-bit word, reset per pass."""

    def __init__(self, s):
        self.s = s
        self.k = 0
        self.x = 0

    def __call__(self):
        if self.k % 2 == 0:
            self.x = next_u64(self.s)
            u = self.x >> 32
        else:
            u = self.x & 0xFFFFFFFF
        self.k += 1
        return u


# ------------------------------------------------------------------------------------
# Parameters by name
# ------------------------------------------------------------------------------------


def chan(layer, a):
    return ("X" if a == 0 else "Y") + (str(layer) if layer else "")


def named(dbm, theta):
    """dict name -> value (missing parameters are 0)."""
    return dict(zip(dbm.param_names, map(float, theta), strict=True))


def weight(p, l, a, b):
    """Weight between channel a of layer l and b of layer l + 1 (0 if absent)."""
    return p.get("w" + chan(l, a) + chan(l + 1, b), 0.0)


def activation(dbm, p, s, l, r, c):
    """(zA, zB) of unit (r, c) of layer l given the current state ``s[l', r, c]``.

    Summation order bias, n_A(low), n_B(low), n_A(up), n_B(up) (as the kernel, so the
    floating-point results agree bit for bit).
    """
    L = dbm.size
    side = dbm.side
    nl = dbm.n_layers
    bias = [p[("h" if l == 0 else "b") + chan(l, a)] for a in (0, 1)]
    nal = nbl = nau = nbu = 0
    cl = [
        [0.0, 0.0],
        [0.0, 0.0],
    ]  # cl[alpha][beta]: coefficient of n_beta(low) in z_alpha
    cu = [[0.0, 0.0], [0.0, 0.0]]
    if l > 0:
        for dr in range(side):
            for dc in range(side):
                v = s[l - 1, (r - dr) % L, (c - dc) % L]
                nal += v == 1
                nbl += v == 2
        for a in (0, 1):
            for b in (0, 1):
                cl[a][b] = weight(p, l - 1, b, a)
    elif dbm.coupled:
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            v = s[0, (r + dr) % L, (c + dc) % L]
            nal += v == 1
            nbl += v == 2
        cl = [[p["JXX"], p["JXY"]], [p["JXY"], p["JYY"]]]
    if l < nl - 1:
        for dr in range(side):
            for dc in range(side):
                v = s[l + 1, (r + dr) % L, (c + dc) % L]
                nau += v == 1
                nbu += v == 2
        for a in (0, 1):
            for b in (0, 1):
                cu[a][b] = weight(p, l, a, b)
    nad = nbd = 0
    if l == 0 and getattr(dbm, "diagonal", False):
        for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            v = s[0, (r + dr) % L, (c + dc) % L]
            nad += v == 1
            nbd += v == 2
    cd = [
        [p.get("JXX2", 0.0), p.get("JXY2", 0.0)],
        [p.get("JXY2", 0.0), p.get("JYY2", 0.0)],
    ]
    z = []
    for a in (0, 1):
        za = bias[a] + cl[a][0] * nal + cl[a][1] * nbl + cu[a][0] * nau + cu[a][1] * nbu
        if nad + nbd > 0:  # the kernel adds the diagonal terms as one sum
            za += cd[a][0] * nad + cd[a][1] * nbd
        z.append(za)
    return z[0], z[1]


def softmax3(zA, zB):
    m = max(zA, zB, 0.0)
    eA = math.exp(zA - m)
    eB = math.exp(zB - m)
    Z = math.exp(-m) + eA + eB
    return eA, eB, Z


def draw_unit(zA, zB, u):
    eA, eB, Z = softmax3(zA, zB)
    tA = int(eA / Z * 4294967296.0)
    tAB = int((eA + eB) / Z * 4294967296.0)
    if u < tA:
        return 1
    if u < tAB:
        return 2
    return 0


# ------------------------------------------------------------------------------------
# Twins of the kernels
# ------------------------------------------------------------------------------------


def init_chains(dbm, n_chains, rng):
    """Twin of ``_init_chains``; ``rng`` uint64 (C, 4) (copied)."""
    L = dbm.size
    out = np.empty((n_chains, dbm.n_layers, L, L), np.int8)
    for c in range(n_chains):
        s = [int(v) for v in rng[c]]
        for l in range(dbm.n_layers):
            for r in range(L):
                for cc in range(L):
                    out[c, l, r, cc] = randbelow(s, 3)
    return out


def sweep(dbm, theta, states, sweeps, rng, awake=False, rows=None):
    """Twin of ``_sweep_chains`` (returns new states; inputs untouched)."""
    theta = np.atleast_2d(theta)
    states = states.copy()
    L = dbm.size
    nl = dbm.n_layers
    odd = [l for l in range(nl) if l % 2]
    even = [l for l in range(nl) if l % 2 == 0 and not (awake and l == 0)]
    for c in range(states.shape[0]):
        p = named(dbm, theta[0 if rows is None else rows[c]])
        s = [int(v) for v in rng[c]]
        st = states[c]
        for _ in range(sweeps):
            for l in odd + even:
                if l == 0 and dbm.coupled:
                    passes = [
                        [
                            (r, cc)
                            for r in range(L)
                            for cc in range(L)
                            if (r + cc) % 2 == col
                        ]
                        for col in (0, 1)
                    ]
                else:
                    passes = [[(r, cc) for r in range(L) for cc in range(L)]]
                for sites in passes:
                    u = HalfDraws(s)
                    for r, cc in sites:
                        zA, zB = activation(dbm, p, st, l, r, cc)
                        st[l, r, cc] = draw_unit(zA, zB, u())
    return states


def final_probabilities(dbm, theta, states):
    """Twin of ``_final_probabilities`` (one theta row)."""
    p = named(dbm, np.atleast_2d(theta)[0])
    C, nl, L, _ = states.shape
    out = np.empty((C, nl, 2, L, L))
    for c in range(C):
        for l in range(nl):
            for r in range(L):
                for cc in range(L):
                    eA, eB, Z = softmax3(*activation(dbm, p, states[c], l, r, cc))
                    out[c, l, 0, r, cc] = eA / Z
                    out[c, l, 1, r, cc] = eB / Z
    return out


def statistics(dbm, states):
    """M (S, n_params) from the definitions, vectorised with np.roll (any leading S).

    Weights: sum over units (r, c) of layer l and offsets of
    s^(l)_a(r, c) * s^(l+1)_b(r + dr, c + dc).
    """
    s = np.asarray(states)
    oh = [
        [(s[:, l] == 1).astype(np.int64), (s[:, l] == 2).astype(np.int64)]
        for l in range(dbm.n_layers)
    ]
    ax = (-2, -1)
    vals = {}
    for l in range(dbm.n_layers):
        for a in (0, 1):
            vals[("h" if l == 0 else "b") + chan(l, a)] = oh[l][a].sum(axis=ax)
    for l in range(dbm.n_layers - 1):
        for a in (0, 1):
            for b in (0, 1):
                tot = 0
                for dr in range(dbm.side):
                    for dc in range(dbm.side):
                        shifted = np.roll(oh[l + 1][b], shift=(-dr, -dc), axis=ax)
                        tot = tot + (oh[l][a] * shifted).sum(axis=ax)
                vals["w" + chan(l, a) + chan(l + 1, b)] = tot
    x, y = oh[0]
    for suffix, ds in (("", ((1, 0), (0, 1))), ("2", ((1, 1), (1, -1)))):
        jxx = jxy = jyy = 0
        for d in ds:
            xs = np.roll(x, shift=(-d[0], -d[1]), axis=ax)
            ys = np.roll(y, shift=(-d[0], -d[1]), axis=ax)
            jxx = jxx + (x * xs).sum(axis=ax)
            jyy = jyy + (y * ys).sum(axis=ax)
            jxy = jxy + (x * ys + y * xs).sum(axis=ax)
        vals.update({"JXX" + suffix: jxx, "JXY" + suffix: jxy, "JYY" + suffix: jyy})
    return np.stack([vals[n] for n in dbm.param_names], axis=-1).astype(np.float64)


def centered_weight_stat(dbm, states, mu, l, a, b):
    """G = sum over connections (s_a - mu)(s'_b - mu'), directly."""
    s = np.asarray(states)
    lo = (s[:, l] == a + 1) - mu[l, a]
    up = (s[:, l + 1] == b + 1) - mu[l + 1, b]
    tot = 0.0
    for dr in range(dbm.side):
        for dc in range(dbm.side):
            tot = tot + (lo * np.roll(up, shift=(-dr, -dc), axis=(-2, -1))).sum(
                axis=(-2, -1)
            )
    return tot


# ------------------------------------------------------------------------------------
# Exact distributions
# ------------------------------------------------------------------------------------


def all_configs(n_layers, L):
    """Every state of ``n_layers`` layers of L x L units, int8 (3**(n L L), n, L, L)."""
    n = n_layers * L * L
    codes = np.array(list(itertools.product((0, 1, 2), repeat=n)), np.int8)
    return codes.reshape(-1, n_layers, L, L)


def exact_joint(dbm, theta):
    """All joint states and their probabilities (small lattices only)."""
    st = all_configs(dbm.n_layers, dbm.size)
    logw = statistics(dbm, st) @ np.asarray(theta, float)
    w = np.exp(logw - logw.max())
    return st, w / w.sum()


def layer_chain_marginals(dbm, theta):
    """Exact marginals of every layer and of adjacent layer pairs (2 x 2 layers).

    The DBM is a chain over layers: p(s) ~ prod_l phi_l(s_l) prod_l psi_l(s_l, s_l+1),
    so forward-backward over the 3**(L*L) configurations of a layer is exact.

    Returns
    -------
    cfgs : int8 (n_cfg, L, L)
    marg : list of (n_cfg,) arrays, one per layer
    pair : list of (n_cfg, n_cfg) arrays, joint of layers (l, l + 1)
    """
    L = dbm.size
    cfgs = all_configs(1, L)[:, 0]
    ncfg = cfgs.shape[0]
    p = named(dbm, theta)
    nl = dbm.n_layers
    # unary log potentials
    unary = []
    for l in range(nl):
        u = p[("h" if l == 0 else "b") + chan(l, 0)] * (cfgs == 1).sum(axis=(1, 2)) + p[
            ("h" if l == 0 else "b") + chan(l, 1)
        ] * (cfgs == 2).sum(axis=(1, 2))
        if l == 0 and dbm.coupled:
            sub = _visible_only(dbm)
            u = statistics(sub, cfgs[:, None]) @ np.array(
                [p[n] for n in sub.param_names]
            )
        unary.append(np.asarray(u, float))
    # pairwise log potentials between layer l (rows) and l + 1 (columns)
    pairs = []
    for l in range(nl - 1):
        V = np.zeros((ncfg, ncfg))
        for a in (0, 1):
            for b in (0, 1):
                w = weight(p, l, a, b)
                if w == 0.0:
                    continue
                lo = (cfgs == a + 1).astype(float).reshape(ncfg, -1)
                cnt = np.zeros((ncfg, ncfg))
                for dr in range(dbm.side):
                    for dc in range(dbm.side):
                        up = np.roll(cfgs == b + 1, shift=(-dr, -dc), axis=(1, 2))
                        cnt += lo @ up.astype(float).reshape(ncfg, -1).T
                V += w * cnt
        pairs.append(V)

    # forward (alpha) and backward (beta) messages in log space
    def lse(a, axis):
        m = a.max(axis=axis, keepdims=True)
        return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)

    alpha = [unary[0]]
    for l in range(1, nl):
        alpha.append(unary[l] + lse(alpha[-1][:, None] + pairs[l - 1], axis=0))
    beta = [np.zeros(ncfg) for _ in range(nl)]
    for l in range(nl - 2, -1, -1):
        beta[l] = lse(pairs[l] + (unary[l + 1] + beta[l + 1])[None, :], axis=1)
    logZ = lse(alpha[-1], axis=0)
    marg = [np.exp(alpha[l] + beta[l] - logZ) for l in range(nl)]
    pair = [
        np.exp(
            alpha[l][:, None] + pairs[l] + (unary[l + 1] + beta[l + 1])[None, :] - logZ
        )
        for l in range(nl - 1)
    ]
    return cfgs, marg, pair


def _visible_only(dbm):
    from dbdviz.config import DBMConfig
    from dbdviz.dbm import DBM

    return DBM(
        DBMConfig(
            depth=0,
            conn=dbm.q,
            visible_couplings=dbm.coupled,
            visible_nnn_couplings=dbm.diagonal,
        ),
        dbm.size,
        tiny_ok=True,
    )


def exact_visible_depth1(dbm, theta):
    """Exact visible marginal of a depth-1 DBM by summing out the hidden layer.

    Hidden units are conditionally independent given the visible layer:
    p(v) ~ exp(visible terms) prod_j (1 + exp(zA_j(v)) + exp(zB_j(v))).

    Returns
    -------
    cfgs : int8 (3**(L L), L, L), probs : float64 (3**(L L),)
    """
    assert dbm.depth == 1
    L = dbm.size
    p = named(dbm, theta)
    cfgs = all_configs(1, L)[:, 0]
    sub = _visible_only(dbm)
    logw = statistics(sub, cfgs[:, None]) @ np.array([p[n] for n in sub.param_names])
    ohv = [(cfgs == 1).astype(float), (cfgs == 2).astype(float)]
    # counts of lower partners of every hidden unit j: sum_delta v(j - delta)
    box = [np.zeros_like(ohv[0]) for _ in (0, 1)]
    for a in (0, 1):
        for dr in range(dbm.side):
            for dc in range(dbm.side):
                box[a] += np.roll(ohv[a], shift=(dr, dc), axis=(1, 2))
    z = []
    for b in (0, 1):
        zb = (
            p["b" + chan(1, b)]
            + weight(p, 0, 0, b) * box[0]
            + weight(p, 0, 1, b) * box[1]
        )
        z.append(zb)
    logw = logw + np.log1p(np.exp(z[0]) + np.exp(z[1])).sum(axis=(1, 2))
    w = np.exp(logw - logw.max())
    return cfgs, w / w.sum()


def config_index(states):
    """Base-3 index of flattened int8 configurations (matches all_configs order)."""
    s = np.asarray(states).reshape(states.shape[0], -1).astype(np.int64)
    n = s.shape[1]
    pw = 3 ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return s @ pw
