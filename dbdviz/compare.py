"""Scoring moment tables against a reference ensemble.

Used to rank closures (classical and learned) against simulated data, by the
dashboard and by DBD training. All functions align the two tables on their common
time points first (times equal to within 1e-9).

* :func:`nrmse` -- RMS over time of ``table - reference`` means divided by the time
  average of the reference means, per observable;
* :func:`band_exits` -- how often and from when a table leaves the reference's
  confidence band of the mean (``mean +- z se``) and its replicate spread
  (``mean +- z sd``);
* :func:`noise_floor` -- the NRMSE that sampling noise alone would produce;
* :func:`score` -- both, over several time windows, as a small report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from .moments import MomentTable

__all__ = ["align", "nrmse", "band_exits", "noise_floor", "score", "BandExit", "Score"]

_TOL = 1e-9


def align(table: MomentTable, reference: MomentTable) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(i, j)`` with ``table.t[i] == reference.t[j]`` (to 1e-9), sorted by t.

    Raises
    ------
    ValueError
        The tables share no time point.
    """
    ta, tb = np.asarray(table.t), np.asarray(reference.t)
    j = np.searchsorted(tb, ta)
    i_ok = []
    j_ok = []
    for i, jj in enumerate(j):
        for cand in (jj - 1, jj):
            if 0 <= cand < tb.size and abs(tb[cand] - ta[i]) <= _TOL:
                i_ok.append(i)
                j_ok.append(cand)
                break
    if not i_ok:
        raise ValueError(
            f"tables {table.label!r} and {reference.label!r} share no time point"
        )
    return np.array(i_ok), np.array(j_ok)


def _window(t: np.ndarray, t_min: float | None, t_max: float | None) -> np.ndarray:
    m = np.ones(t.shape, dtype=bool)
    if t_min is not None:
        m &= t >= t_min - _TOL
    if t_max is not None:
        m &= t <= t_max + _TOL
    return m


def _observables(
    table: MomentTable, reference: MomentTable, observables: Any
) -> list[str]:
    if observables is None:
        return [o for o in reference.observables if o in table.mean]
    if isinstance(observables, str):
        observables = [observables]
    missing = [o for o in observables if o not in table.mean or o not in reference.mean]
    if missing:
        raise ValueError(
            f"observable(s) {', '.join(missing)} missing from "
            f"{table.label!r} or {reference.label!r}; available in both: "
            f"{', '.join(o for o in reference.observables if o in table.mean)}"
        )
    return list(observables)


def _pairs(table, reference, observables, t_min, t_max):
    i, j = align(table, reference)
    m = _window(reference.t[j], t_min, t_max)
    if not m.any():
        raise ValueError(f"no common time in the window [{t_min}, {t_max}]")
    return i[m], j[m], _observables(table, reference, observables)


def nrmse(
    table: MomentTable,
    reference: MomentTable,
    observables: Any = None,
    t_min: float | None = None,
    t_max: float | None = None,
) -> dict[str, float]:
    """Normalised RMS error of the means, per observable.

    ``sqrt(mean_t (table_t - ref_t)^2) / mean_t ref_t`` over the common times with
    ``t_min <= t <= t_max`` at which both are finite.

    Parameters
    ----------
    table, reference : MomentTable
    observables : str or list of str, optional
        Default: every observable of ``reference`` that ``table`` also predicts.
    t_min, t_max : float, optional

    Returns
    -------
    dict of str -> float
        NaN for an observable whose reference mean averages to 0 (or no finite row).
    """
    i, j, obs = _pairs(table, reference, observables, t_min, t_max)
    out = {}
    for o in obs:
        a, r = table.mean[o][i], reference.mean[o][j]
        ok = np.isfinite(a) & np.isfinite(r)
        den = r[ok].mean() if ok.any() else 0.0
        out[o] = (
            float(np.sqrt(np.mean((a[ok] - r[ok]) ** 2)) / den)
            if den != 0
            else float("nan")
        )
    return out


@dataclass
class BandExit:
    """Where a table leaves the reference's bands (one observable).

    Attributes
    ----------
    frac_mean, frac_spread : float
        Fraction of the compared times outside ``mean +- z se`` (confidence band of
        the reference mean) and ``mean +- z sd`` (replicate spread).
    first_mean, first_spread : float or None
        First time outside the band (None: never).
    n_times : int
        Number of compared times.
    """

    frac_mean: float
    first_mean: float | None
    frac_spread: float
    first_spread: float | None
    n_times: int


def band_exits(
    table: MomentTable,
    reference: MomentTable,
    level: float = 0.95,
    observables: Any = None,
    t_min: float | None = None,
    t_max: float | None = None,
) -> dict[str, BandExit]:
    """Fraction of times and first time ``table`` leaves the reference's bands.

    Parameters
    ----------
    table : MomentTable
    reference : MomentTable
        Needs ``sd`` and ``n`` (an ensemble's statistics).
    level : float in (0, 1)
        Two-sided normal level: ``z = Phi^{-1}((1 + level) / 2)`` (1.96 at 0.95).
    observables, t_min, t_max
        As for :func:`nrmse`.

    Returns
    -------
    dict of str -> BandExit

    Notes
    -----
    A time counts as outside when ``|table - ref| > z * width``; a zero width (e.g.
    t = 0 for counts fixed by the initial condition) therefore flags any deviation
    at all. Times where either mean is not finite are skipped.
    """
    if not (isinstance(level, float | int) and 0.0 < level < 1.0):
        raise ValueError(f"level = {level!r} is out of range: allowed (0, 1)")
    if reference.n is None:
        raise ValueError(
            f"reference {reference.label!r} has no replicate count n: "
            "band exits need an ensemble's sd and n"
        )
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    i, j, obs = _pairs(table, reference, observables, t_min, t_max)
    t = reference.t[j]
    out = {}
    for o in obs:
        if o not in reference.sd:
            raise ValueError(f"reference {reference.label!r} has no sd for {o!r}")
        a, r = table.mean[o][i], reference.mean[o][j]
        sd = reference.sd[o][j]
        se = sd / math.sqrt(reference.n)
        ok = np.isfinite(a) & np.isfinite(r) & np.isfinite(sd)
        dev = np.abs(a - r)
        res = []
        for width in (se, sd):
            out_m = ok & (dev > z * width)
            frac = float(out_m[ok].mean()) if ok.any() else float("nan")
            first = float(t[np.argmax(out_m)]) if out_m.any() else None
            res += [frac, first]
        out[o] = BandExit(res[0], res[1], res[2], res[3], int(ok.sum()))
    return out


def noise_floor(
    reference: MomentTable,
    n_other: int | None = None,
    observables: Any = None,
    t_min: float | None = None,
    t_max: float | None = None,
) -> dict[str, float]:
    """Expected NRMSE of an independent, unbiased estimate from sampling noise alone.

    ``sqrt(mean_t (se_ref^2 + se_other^2)) / mean_t ref`` with ``se = sd / sqrt(n)``;
    ``n_other`` replicates (chains) behind the compared table, None for an exact
    (deterministic) prediction (``se_other = 0``). A closure scoring near this floor
    is indistinguishable from the ensemble mean.
    """
    if reference.n is None:
        raise ValueError(f"reference {reference.label!r} has no replicate count n")
    m = _window(reference.t, t_min, t_max)
    obs = (
        [o for o in reference.observables if o in reference.sd]
        if observables is None
        else ([observables] if isinstance(observables, str) else list(observables))
    )
    out = {}
    for o in obs:
        sd = reference.sd[o][m]
        var = sd**2 / reference.n
        if n_other is not None:
            var = var + sd**2 / n_other
        den = np.nanmean(reference.mean[o][m])
        out[o] = float(np.sqrt(np.nanmean(var)) / den) if den != 0 else float("nan")
    return out


@dataclass
class Score:
    """NRMSE and band exits of one table over time windows.

    Attributes
    ----------
    label, reference : str
    windows : list of (t_min, t_max)
    nrmse : dict (t_min, t_max) -> dict observable -> float
    bands : dict observable -> BandExit (over the first window)
    floor : dict observable -> float (noise floor over the first window)
    """

    label: str
    reference: str
    windows: list[tuple[float | None, float | None]]
    nrmse: dict[tuple, dict[str, float]]
    bands: dict[str, BandExit] = field(default_factory=dict)
    floor: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly nested dict."""
        return {
            "label": self.label,
            "reference": self.reference,
            "nrmse": {f"{a}..{b}": v for (a, b), v in self.nrmse.items()},
            "bands": {o: vars(e) for o, e in self.bands.items()},
            "floor": self.floor,
        }

    def to_markdown(self) -> str:
        """A Markdown table: one row per observable, NRMSE per window, band exits."""
        obs = list(next(iter(self.nrmse.values())))
        wn = [
            "NRMSE t "
            + ("0" if a is None else f"{a:g}")
            + ".."
            + ("end" if b is None else f"{b:g}")
            for a, b in self.windows
        ]
        head = ["observable", *wn, "outside mean band", "first exit", "outside spread"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for o in obs:
            row = [o] + [f"{100 * self.nrmse[w][o]:.1f} %" for w in self.windows]
            e = self.bands.get(o)
            if e is None:
                row += ["", "", ""]
            else:
                row += [
                    f"{100 * e.frac_mean:.0f} %",
                    "never" if e.first_mean is None else f"{e.first_mean:g}",
                    f"{100 * e.frac_spread:.0f} %",
                ]
            lines.append("| " + " | ".join(row) + " |")
        return "\n".join(lines)


def score(
    table: MomentTable,
    reference: MomentTable,
    observables: Any = None,
    windows: Any = ((None, None),),
    level: float = 0.95,
) -> Score:
    """NRMSE over each ``(t_min, t_max)`` window, band exits and noise floor over the
    first; bands and floor are skipped when the reference has no ``n``/``sd``."""
    windows = [tuple(w) for w in windows]
    if not windows:
        raise ValueError("windows must hold at least one (t_min, t_max) pair")
    obs = _observables(table, reference, observables)
    res = {w: nrmse(table, reference, obs, *w) for w in windows}
    bands: dict[str, BandExit] = {}
    floor: dict[str, float] = {}
    if reference.n is not None and all(o in reference.sd for o in obs):
        bands = band_exits(table, reference, level, obs, *windows[0])
        floor = noise_floor(reference, table.n, obs, *windows[0])
    return Score(table.label, reference.label, windows, res, bands, floor)
