"""The rates tier (issue 18): why held-out rates fail, and candidate forms of F.

    NUMBA_NUM_THREADS=1 python benchmarks/predict_rates.py paths     # once, ~30 s
    python benchmarks/predict_rates.py diagnose
    python benchmarks/predict_rates.py screen '{}' '{"hop": true, "pull": 0.01}' ...
    NUMBA_NUM_THREADS=1 python benchmarks/predict_rates.py screen --sample '{}' ...
    python benchmarks/predict_rates.py screen '[{"rpull": 0.15}, {"hop": true}]'
    NUMBA_NUM_THREADS=1 python benchmarks/predict_rates.py counts    # ~70 s
    python benchmarks/predict_rates.py screen --counts '{"rpull": 0.15}'
    NUMBA_NUM_THREADS=1 python benchmarks/predict_rates.py dense     # ~40 s
    python benchmarks/predict_rates.py screen --dense '{"rpull": 0.15}'
    python benchmarks/predict_rates.py rescaling
    python benchmarks/predict_rates.py closure

Training: the 8 corner ensembles of ``predict_heldout.py rates`` (a +-30 % box of
rates around the paper's, 100 X + 100 Y, 100 replicates); held out: the four
``RATE_HELDOUT`` settings against 2000 replicates. ``paths`` fits (``fit_paths``) the
parameter paths of the held-out references that ``paths_rates.npz``
(``predict_screen.py paths``) does not hold, into ``paths_rates_extra.npz``.

``screen``: a candidate (JSON keyword arguments of :class:`Candidate`) is fitted to
the corners' smoothed paths (61 taps) and integrated from the random placement at
every held-out setting and two corners; printed is the standardised RMS distance
from the fitted reference path (as ``predict_screen.py``), with ``--sample`` also the
NRMSE (%) of X / Y / nnXX / nnXY / nnYY of the sampled path (100 chains, seed 0).
``{"rpull": 0.15}`` is ``train_multi``'s form across rates (the same numbers).

A JSON list is one law, the mean of its members' ``F``. ``counts`` simulates every
corner also from 60 X + 140 Y and 140 + 60 and fits their paths; ``screen --counts``
trains on all 24. ``rescaling``: is scaling all rates a rescaling of time?
``closure``: the machine's own per-process law (``J^-1 E[dM/dt]``) as a prior?

``diagnose``: where the default's integrated path departs from the reference path,
how far the reference paths lie from the training paths (and how many corners pass
near them), training with a held-out reference path added (the representation's
bound), and the multilinear interpolation of the corners' moments (not a law).

Research code (docs/experiments/15): :class:`Candidate` is not the package's
:class:`~dbdviz.dbd.kernel.KernelRHS`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OBS = ["X", "Y", "nnXX", "nnXY", "nnYY"]
FACTORS = list(itertools.product((0.7, 1.3), repeat=3))


def _setup(cache: str):
    """Corner rates, held-out rates, the paths (corners, then references)."""
    from predict_heldout import RATE_BOX, RATE_HELDOUT

    box = np.array(list(RATE_BOX.values()))
    corners = [box * np.array(f) for f in FACTORS]
    held = [np.array(list(r.values())) for r in RATE_HELDOUT]
    d = np.load(os.path.join(cache, "paths_rates.npz"))
    th = d["theta"]
    pe = os.path.join(cache, "paths_rates_extra.npz")
    if os.path.exists(pe):
        th = np.concatenate([th, np.load(pe)["theta"]])
    return box, corners, held, d["idx"], th


def multilinear(rates, box) -> np.ndarray:
    """Weights of the 8 corners (``FACTORS`` order) of a rate setting inside the box
    (multilinear in the rates)."""
    u = (np.asarray(rates) / box - 0.7) / 0.6
    return np.array(
        [
            np.prod([ui if f == 1.3 else 1 - ui for ui, f in zip(u, fs, strict=True)])
            for fs in FACTORS
        ]
    )


class Candidate:
    """``F(theta, k) = sum_j a_j(k) G_j(theta) + pull``: kernel ridge regression with
    the kernel ``Kr(k, k') K(theta, theta')`` (+ ``corr Kw(k, k') K``) on the residual
    of a degree-1 polynomial per rate feature.

    ``mode``: ``"reactions"`` ``Kr = f(k) . f(k')`` with ``f(k) = k / k_ref`` (plus
    a constant 1 with ``hop``: the hops run at a rate no reaction rate scales),
    times ``a + (1 - a) exp(-|log k - log k'|^2 / 2 rlen^2)`` when ``a < 1``;
    ``"corners"`` ``Kr = w(k) . w(k')``, the multilinear corner weights (F
    interpolated between 8 corner laws); ``"shared"`` ``Kr = 1``. ``poly``: the
    polynomial's rate features (``"reactions"``: ``f(k)``; ``"corners"``: ``w(k)``).
    ``corr`` adds the corner kernel to the reactions one. The pull ``pull (m -
    theta)`` toward the Gaussian-weighted mean ``m`` (bandwidth in standardised
    theta) of the training points, with the log-rate distance counted as
    ``bandwidth / rpull`` per standard deviation (``rpull = 0.15`` with bandwidth
    0.15: as ``KernelRHS``; None: theta only); ``mpull``: ``m = sum_c w_c(k)
    m_c(theta)`` from every corner's points separately.
    """

    def __init__(
        self,
        paths,
        rates,
        box,
        *,
        length=1.0,
        ridge=1e-2,
        pull=0.02,
        bandwidth=0.15,
        subsample=3,
        mode="reactions",
        poly="reactions",
        hop=False,
        a=1.0,
        rlen=1.0,
        corr=0.0,
        rpull=None,
        mpull=False,
    ):
        self.box, self.mode, self.polym, self.hop = box, mode, poly, hop
        self.length, self.pull, self.bw, self.a, self.rlen = (
            length,
            pull,
            bandwidth,
            a,
            rlen,
        )
        self.corr, self.rpull, self.mpull = corr, rpull, mpull
        Z = np.concatenate([p[:-1] for p in paths])
        V = np.concatenate([np.diff(p, axis=0) for p in paths])
        R = np.concatenate(
            [np.tile(r, (len(p) - 1, 1)) for p, r in zip(paths, rates, strict=True)]
        )
        self.n_per = len(paths[0]) - 1
        self.scale = Z.std(axis=0)
        self.kref = np.exp(np.log(np.asarray(rates)).mean(axis=0))
        self.lrs = np.log(np.asarray(rates)).std(axis=0)
        self.C, self.Rc = Z[::subsample] / self.scale, R[::subsample]
        self.Wc = self._w(self.Rc)
        X = self._features(Z[::subsample], self.Rc, self.Wc)
        A = X.T @ X + 1e-6 * len(X) * np.eye(X.shape[1])
        Vs = V[::subsample]
        self.poly = np.linalg.solve(A, X.T @ Vs)
        K = self._kernel(self.C, self.Rc, self.Wc)
        self.alpha = np.linalg.solve(K + ridge * np.eye(len(K)), Vs - X @ self.poly)
        self.anchors, self.anchor_rates = Z, R

    def _w(self, R):
        return np.array([multilinear(r, self.box) for r in R])

    def _f(self, R):
        k = R / self.kref
        return np.hstack([np.ones((len(R), 1)), k]) if self.hop else k

    def _features(self, th, R, W):
        phi = np.hstack([np.ones((len(th), 1)), th / self.scale])
        k = W if self.polym == "corners" else self._f(R)
        return (k[:, :, None] * phi[:, None, :]).reshape(len(th), -1)

    def _kernel(self, zs, R, W):
        d2 = ((zs[:, None] - self.C[None]) ** 2).sum(-1)
        G = np.exp(-0.5 * d2 / self.length**2)
        if self.mode == "shared":
            Kr = np.ones((len(zs), len(self.C)))
        elif self.mode == "corners":
            Kr = W @ self.Wc.T
        else:
            Kr = self._f(R) @ self._f(self.Rc).T
            if self.a < 1:
                lr = (np.log(R)[:, None] - np.log(self.Rc)[None]) / self.lrs
                Kr = Kr * (
                    self.a
                    + (1 - self.a) * np.exp(-0.5 * (lr**2).sum(-1) / self.rlen**2)
                )
        K = G * Kr
        if self.corr > 0:
            K = K + self.corr * G * (W @ self.Wc.T)
        return K

    def F(self, th, r):
        zs, R = (th / self.scale)[None], np.asarray(r)[None]
        W = self._w(R)
        f = (
            self._kernel(zs, R, W) @ self.alpha
            + self._features(th[None], R, W) @ self.poly
        )
        if self.pull > 0:
            d2 = ((zs - self.anchors / self.scale) ** 2).sum(-1)
            if self.mpull:
                m = np.zeros(th.shape[0])
                for c, wc in enumerate(W[0]):
                    sl = slice(c * self.n_per, (c + 1) * self.n_per)
                    w = np.exp(-0.5 * (d2[sl] - d2[sl].min()) / self.bw**2)
                    m += wc * (w @ self.anchors[sl]) / w.sum()
            else:
                if self.rpull is not None:
                    lr = (np.log(R) - np.log(self.anchor_rates)) / self.lrs
                    d2 = d2 + (lr**2).sum(-1) * (self.bw / self.rpull) ** 2
                w = np.exp(-0.5 * (d2 - d2.min()) / self.bw**2)
                m = (w @ self.anchors) / w.sum()
            f = f + self.pull * (m - th)
        return f[0]

    def integrate(self, th0, r, n=500):
        th = np.full((n + 1, th0.shape[0]), np.nan)
        th[0] = th0
        for t in range(n):
            th[t + 1] = th[t] + self.F(th[t], r)
            if not np.all(np.isfinite(th[t + 1])) or np.abs(th[t + 1]).max() > 1e3:
                th[t + 1] = np.nan
                break
        return th


class Average:
    """One law ``F = mean_i F_i`` of several candidates (a JSON list)."""

    def __init__(self, members):
        self.members = members

    def integrate(self, th0, r, n=500):
        th = np.full((n + 1, th0.shape[0]), np.nan)
        th[0] = th0
        for t in range(n):
            th[t + 1] = th[t] + np.mean([m.F(th[t], r) for m in self.members], axis=0)
        return th


def _smooth(th, idx, taps=61):
    from dbdviz.dbd.evaluate import lowpass

    every = np.arange(501)
    full = np.column_stack(
        [np.interp(every, idx, th[:, k]) for k in range(th.shape[1])]
    )
    return lowpass(full, taps) if taps > 1 else full


def _dbm():
    from predict_screen import _dbm as dbm

    return dbm()


def _sample(dbm, th, ref):
    from dbdviz.compare import nrmse
    from dbdviz.dbd.predict import sample_moments

    tab = sample_moments(
        dbm, np.ascontiguousarray(th), np.arange(501.0), chains=100, sweeps=9, seed=0
    )
    return [round(100 * v, 1) for v in nrmse(tab, ref, OBS, 0, 500).values()]


def fit_extra(cache: str) -> None:
    from predict_heldout import RATE_HELDOUT, rate_reference

    from dbdviz.dbd.multi import fit_paths, fit_times

    idx = fit_times(500)
    have = np.load(os.path.join(cache, "paths_rates.npz"))["theta"].shape[0] - 8
    tg = []
    for j in range(have, len(RATE_HELDOUT)):
        ref = rate_reference(j, cache)[0]
        tg.append(np.column_stack([ref.mean[o] for o in OBS])[idx])
    fr = fit_paths(_dbm(), tg, idx, seed=0)
    np.savez(os.path.join(cache, "paths_rates_extra.npz"), idx=fr.idx, theta=fr.theta)
    print("residual", fr.relative_residual().round(3))


def screen(
    cache: str,
    candidates: list,
    sample: bool,
    counts: bool = False,
    dense: bool = False,
) -> None:
    from predict_heldout import rate_reference

    box, corners, held, idx, TH = _setup(cache)
    dbm = _dbm()
    paths = [_smooth(TH[e], idx) for e in range(8)]
    sc = np.concatenate(paths).std(axis=0)  # units: the 8 corners' paths
    rates = list(corners)
    if counts:  # the corners' paths of other initial counts (``counts``) too
        d = np.load(os.path.join(cache, "paths_rates_counts.npz"))
        paths += [_smooth(th, idx) for th in d["theta"]]
        rates += [corners[int(c)] for c in d["corner"]]
    if dense:  # the face centres and the centre (``dense``) too
        d = np.load(os.path.join(cache, "paths_rates_dense.npz"))
        paths += [_smooth(th, idx) for th in d["theta"]]
        rates += [box * np.array(f) for f in DENSE]
    th0 = dbm.initial_theta(100 / 1600, 100 / 1600)
    cases = [(h, 8 + j) for j, h in enumerate(held)] + [
        (corners[0], 0),
        (corners[7], 7),
    ]
    for cand in candidates:
        if isinstance(cand, list):
            m = Average([Candidate(paths, rates, box, **c) for c in cand])
        else:
            m = Candidate(paths, rates, box, **cand)
        out, ths = [], []
        for r, j in cases:
            ref = _smooth(TH[j], idx, 0) if j >= 8 else paths[j]
            th = m.integrate(th0, r)
            ths.append(th)  # (distances in the units of the 8 corners' paths)
            v = np.sqrt(np.mean(((th[idx] - ref[idx]) / sc) ** 2))
            out.append(v if np.isfinite(v) else np.inf)
        n = len(held)
        print(
            f"{json.dumps(cand):55s} held-out "
            + " ".join(f"{v:5.2f}" for v in out[:n])
            + " | corners 0, 7 "
            + " ".join(f"{v:5.2f}" for v in out[n:]),
            flush=True,
        )
        if sample:
            for j, h in enumerate(held):
                if np.all(np.isfinite(ths[j])):
                    print("   ", h, _sample(dbm, ths[j], rate_reference(j, cache)[0]))


def diagnose(cache: str) -> None:
    from predict_heldout import rate_corners, rate_reference

    box, corners, held, idx, TH = _setup(cache)
    dbm = _dbm()
    paths = [_smooth(TH[e], idx) for e in range(8)]
    sc = np.concatenate(paths).std(axis=0)
    th0 = dbm.initial_theta(100 / 1600, 100 / 1600)
    m = Candidate(paths, corners, box, rpull=0.15)
    means = [
        e.observables[:, :, :5].astype(float).mean(axis=0) for e in rate_corners(cache)
    ]
    for j, h in enumerate(held):
        ref_path = _smooth(TH[8 + j], idx, 0)
        th = m.integrate(th0, h)
        dev = np.sqrt((((th - ref_path) / sc) ** 2).mean(axis=1))
        late = 30 + int(np.argmax(dev[30:] > 0.3)) if (dev[30:] > 0.3).any() else None
        D = np.array(
            [
                np.sqrt((((ref_path[:, None] - p[None]) / sc) ** 2).sum(-1)).min(1)
                for p in paths
            ]
        )
        near = (D < 0.5).sum(axis=0)
        ref = rate_reference(j, cache)[0]
        w = multilinear(h, box)
        interp = sum(wc * mc for wc, mc in zip(w, means, strict=True))

        def pct(a, ref=ref):
            return [
                round(
                    float(
                        100
                        * np.sqrt(np.mean((a[:, k] - ref.mean[o]) ** 2))
                        / ref.mean[o].mean()
                    ),
                    1,
                )
                for k, o in enumerate(OBS)
            ]

        def peak(y):
            i = int(np.argmax(np.asarray(y)[:250]))
            return i, round(float(np.asarray(y)[i]))

        print(f"{h}: weights {w.round(2)}")
        print(
            f"  path deviation (RMS std): max {dev.max():.2f} at t = "
            f"{int(dev.argmax())},"
            f" first > 0.3 after t = 30: {late}"
        )
        print(
            f"  reference path from the training paths: mean {D.min(0).mean():.2f}, "
            f"max {D.min(0).max():.2f}; corners within 0.5: mean {near.mean():.2f}, "
            f"times with <= 1: {(near <= 1).mean():.2f}, >= 4: {(near >= 4).mean():.2f}"
        )
        pr = _sample(dbm, th, ref)
        from dbdviz.dbd.predict import sample_moments

        tab = sample_moments(
            dbm,
            np.ascontiguousarray(th),
            np.arange(501.0),
            chains=100,
            sweeps=9,
            seed=0,
        )
        print(
            f"  first peaks (t, count): X ref {peak(ref.mean['X'])} learned "
            f"{peak(tab.mean['X'])}; Y ref {peak(ref.mean['Y'])} learned "
            f"{peak(tab.mean['Y'])}; learned {pr}"
        )
        c = int(np.argmax(w))
        print(
            "  not laws: multilinear interpolation of the corners' moments "
            f"{pct(interp)};"
            f" the nearest corner's (corner {c}) {pct(means[c])}"
        )
        # the representation's bound: the reference path among the training paths
        m2 = Candidate(
            paths + [_smooth(TH[8 + j], idx)], corners + [h], box, rpull=0.15
        )
        out = []
        for jj, hh in enumerate(held):
            t2 = m2.integrate(th0, hh)
            r2 = _smooth(TH[8 + jj], idx, 0)
            out.append(np.sqrt(np.mean(((t2[idx] - r2[idx]) / sc) ** 2)))
        print(f"  trained with this reference path added: held-out {np.round(out, 2)}")


def fit_counts(cache: str) -> None:
    """Every corner also from 60 X + 140 Y and 140 + 60 (100 replicates, seeds 400 +
    8 k + i): their fitted paths, ``paths_rates_counts.npz`` (``screen --counts``)."""
    from predict_heldout import RATE_BOX

    from dbdviz.config import preset
    from dbdviz.dbd.multi import fit_paths, fit_times
    from dbdviz.simulate import simulate

    idx = fit_times(500)
    tg, corner = [], []
    for k, (x0, y0) in enumerate([(60, 140), (140, 60)]):
        for i, f in enumerate(FACTORS):
            r = {
                n: round(v * g, 6)
                for (n, v), g in zip(RATE_BOX.items(), f, strict=True)
            }
            cfg = preset(
                "paper", seed=400 + 8 * k + i, snapshots=False, init_x=x0, init_y=y0
            )
            e = simulate(cfg.copy(**r), threads=1)
            tg.append(e.observables[:, :, :5].astype(float).mean(axis=0)[idx])
            corner.append(i)
    fr = fit_paths(_dbm(), tg, idx, seed=0)
    np.savez(
        os.path.join(cache, "paths_rates_counts.npz"),
        idx=fr.idx,
        theta=fr.theta,
        corner=np.array(corner),
    )


#: Face centres and the centre of the box (factors of the paper's rates).
DENSE = [
    (1.0, 1.0, 1.0),
    (0.7, 1.0, 1.0),
    (1.3, 1.0, 1.0),
    (1.0, 0.7, 1.0),
    (1.0, 1.3, 1.0),
    (1.0, 1.0, 0.7),
    (1.0, 1.0, 1.3),
]


def fit_dense(cache: str) -> None:
    """7 more training settings, the box's face centres and centre (100 X + 100 Y,
    100 replicates, seeds 500 + i): their fitted paths, ``paths_rates_dense.npz``
    (``screen --dense``)."""
    from predict_heldout import RATE_BOX

    from dbdviz.config import preset
    from dbdviz.dbd.multi import fit_paths, fit_times
    from dbdviz.simulate import simulate

    idx = fit_times(500)
    tg = []
    for i, f in enumerate(DENSE):
        r = {n: round(v * g, 6) for (n, v), g in zip(RATE_BOX.items(), f, strict=True)}
        e = simulate(preset("paper", seed=500 + i, snapshots=False, **r), threads=1)
        tg.append(e.observables[:, :, :5].astype(float).mean(axis=0)[idx])
    fr = fit_paths(_dbm(), tg, idx, seed=0)
    np.savez(os.path.join(cache, "paths_rates_dense.npz"), idx=fr.idx, theta=fr.theta)


def rescaling(cache: str) -> None:
    """Corner 7 (all rates x 1.3) against corner 0 (x 0.7) at time x 1.3 / 0.7."""
    from predict_heldout import rate_corners

    ens = rate_corners(cache)
    a, b = (ens[i].observables[:, :, :5].astype(float).mean(axis=0) for i in (0, 7))
    s = 1.3 / 0.7
    t = np.arange(int(500 / s) + 1)
    for k, o in enumerate(OBS):
        a_s = np.interp(t * s, np.arange(a.shape[0]), a[:, k])
        e1 = np.sqrt(np.mean((b[t, k] - a_s) ** 2)) / b[t, k].mean()
        e0 = np.sqrt(np.mean((b[t, k] - a[t, k]) ** 2)) / b[t, k].mean()
        print(f"{o}: rescaled {100 * e1:.1f} %, not rescaled {100 * e0:.1f} %")


def drifts(s):
    """The exact rate of change of the statistics (X, Y, nnXX, nnXY, nnYY) of lattice
    states ``s`` (C, L, L; 0 / 1 X / 2 Y) per process at unit rate factor: hops (each
    molecule tries one of 4 directions per unit time), birth (global mode: rate
    ``max(X, 1)``, a new X at a random empty site), death (every Y), predation (an X
    with ``n`` Y neighbours turns Y at rate ``n / 2``: either partner's hop tries it).
    Returns M (C, 5) and D (C, 4, 5)."""
    dirs = [(1, 1), (-1, 1), (1, 2), (-1, 2)]
    x, y, e = ((s == c).astype(np.float64) for c in (1, 2, 0))
    nX = sum(np.roll(x, k, axis=ax) for k, ax in dirs)
    nY = sum(np.roll(y, k, axis=ax) for k, ax in dirs)
    X, Y, E = x.sum((1, 2)), y.sum((1, 2)), e.sum((1, 2))
    M = np.stack(
        [
            X,
            Y,
            0.5 * (x * nX).sum((1, 2)),
            (x * nY).sum((1, 2)),
            0.5 * (y * nY).sum((1, 2)),
        ],
        axis=1,
    )
    D = np.zeros((s.shape[0], 4, 5))
    for k, ax in dirs:  # a molecule at i hops to the empty j = i + direction
        w = 0.25 * np.roll(e, -k, axis=ax)
        nXj, nYj = np.roll(nX, -k, axis=ax), np.roll(nY, -k, axis=ax)
        D[:, 0, 2] += (w * x * (nXj - 1 - nX)).sum((1, 2))
        D[:, 0, 3] += (w * x * (nYj - nY) + w * y * (nXj - nX)).sum((1, 2))
        D[:, 0, 4] += (w * y * (nYj - 1 - nY)).sum((1, 2))
    rate, ne = np.maximum(X, 1) * (E > 0), np.maximum(E, 1)
    D[:, 1, 0] = rate
    D[:, 1, 2] = rate * (e * nX).sum((1, 2)) / ne
    D[:, 1, 3] = rate * (e * nY).sum((1, 2)) / ne
    D[:, 2, 1] = -Y
    D[:, 2, 3] = -(y * nX).sum((1, 2))
    D[:, 2, 4] = -(y * nY).sum((1, 2))
    w = 0.5 * x * nY
    D[:, 3, 0], D[:, 3, 1] = -w.sum((1, 2)), w.sum((1, 2))
    D[:, 3, 2] = -(w * nX).sum((1, 2))
    D[:, 3, 3] = (w * (nX - nY)).sum((1, 2))
    D[:, 3, 4] = (w * nY).sum((1, 2))
    return M, D


def closure(cache: str, chains: int = 200) -> None:
    """The machine's own per-process law ``G_r(theta) = Cov(M)^-1 E_theta[D_r]`` (the
    states of the evaluation's procedure, 9 sweeps from a random start) against the
    velocities of the corners' fitted paths; and its t = 0 drift against the data."""
    from predict_heldout import rate_corners

    box, corners, held, idx, TH = _setup(cache)
    dbm = _dbm()
    ens = rate_corners(cache)
    st = dbm.init_chains(2000, seed=1)
    dbm.sample(dbm.initial_theta(100 / 1600, 100 / 1600), st, 9, seed=2)
    M, D = drifts(st[:, 0])
    obs = ens[0].observables[:, :, :5].astype(float).mean(axis=0)
    k = np.r_[1.0, corners[0]]
    print("t = 0, corner 0: E[dM/dt]", np.round(np.einsum("r,crp->p", k, D) / 2000, 2))
    print("   data M(1) - M(0)     ", np.round(obs[1] - obs[0], 2))
    for c in (0, 7):
        p = _smooth(TH[c], idx)
        rows = np.arange(20, 500, 10)
        n = len(rows)
        st = dbm.init_chains(n * chains, seed=3)
        r = np.repeat(np.arange(n), chains)
        dbm.sample(np.ascontiguousarray(p[rows]), st, 9, seed=4, rows=r)
        M, D = drifts(st[:, 0])
        k = np.r_[1.0, corners[c]]
        F, hop = np.zeros((n, 5)), np.zeros(n)
        for i in range(n):
            sl = slice(i * chains, (i + 1) * chains)
            J = np.cov(M[sl].T) + 1e-6 * np.eye(5)
            g = np.linalg.solve(J, D[sl].mean(axis=0).T).T
            F[i] = k @ g
            hop[i] = np.linalg.norm(g[0]) / np.linalg.norm(F[i])
        V = p[rows + 1] - p[rows]
        ratio = np.linalg.norm(F, axis=1) / np.linalg.norm(V, axis=1)
        cos = (F * V).sum(1) / np.linalg.norm(F, axis=1) / np.linalg.norm(V, axis=1)
        lo, hi = np.percentile(ratio, [10, 90])
        print(
            f"corner {c}: |F_closure| / |velocity| median {np.median(ratio):.1f} "
            f"(10-90 %: {lo:.1f}-{hi:.1f}), cosine median {np.median(cos):.2f}, "
            f"hops' share of |F_closure| {np.median(hop):.2f}"
        )


def main(argv=None) -> None:
    from predict_heldout import cache_dir

    ap = argparse.ArgumentParser()
    ap.add_argument(
        "what",
        choices=[
            "paths",
            "counts",
            "dense",
            "screen",
            "diagnose",
            "rescaling",
            "closure",
        ],
    )
    ap.add_argument("candidates", nargs="*", default=['{"rpull": 0.15}'])
    ap.add_argument("--cache", default="/work/notes/i18data")
    ap.add_argument("--sample", action="store_true")
    ap.add_argument("--counts", action="store_true")
    ap.add_argument("--dense", action="store_true")
    a = ap.parse_intermixed_args(argv)
    cache = cache_dir(a.cache)
    if a.what == "paths":
        fit_extra(cache)
    elif a.what == "counts":
        fit_counts(cache)
    elif a.what == "dense":
        fit_dense(cache)
    elif a.what == "screen":
        cands = [json.loads(c) for c in a.candidates]
        screen(cache, cands, a.sample, a.counts, a.dense)
    elif a.what == "rescaling":
        rescaling(cache)
    elif a.what == "closure":
        closure(cache)
    else:
        diagnose(cache)


if __name__ == "__main__":
    main()
