"""Observables of lattice configurations and their ensemble statistics.

Observables (CONTRACTS.md, "Moment tables"), all raw counts with periodic wrap:

==========  ==========================================================================
``X, Y``    sites holding X, Y
``nnAB``    nearest-neighbour pairs, displacements (1,0), (0,1), unordered pairs once
``nnnAB``   diagonal pairs, displacements (1,1), (1,-1)
``nnn3AB``  the reference library's "NNN": displacements (0,2), (1,1), (2,0) (quirk M1)
==========  ==========================================================================

For A != B a pair counts whichever of its sites holds which species, i.e.
``nnXY = sum_i sum_d [X_i Y_{i+d} + Y_i X_{i+d}]``.

The :class:`MomentTable` is the common currency of simulation, classical closures and
the learned model: one row per time, ``mean_*``/``sd_*`` per observable, written and
read as the CSV layout of CONTRACTS.md.
"""

from __future__ import annotations

import csv
import io as _io
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .io import write_text_atomic

__all__ = [
    "OBSERVABLES",
    "CONTRACT_OBSERVABLES",
    "EXTRA_OBSERVABLES",
    "DISPLACEMENTS",
    "lattice_observables",
    "MomentTable",
    "moment_table",
    "read_moment_table",
]

#: Observables of the contract table, in column order.
CONTRACT_OBSERVABLES = (
    "X",
    "Y",
    "nnXX",
    "nnXY",
    "nnYY",
    "nnnXX",
    "nnnXY",
    "nnnYY",
)
#: Extra observables written after the contract columns.
EXTRA_OBSERVABLES = ("nnn3XX", "nnn3XY", "nnn3YY")
#: All observables, in the order of the last axis of observable arrays.
OBSERVABLES = CONTRACT_OBSERVABLES + EXTRA_OBSERVABLES

#: Pair displacement classes (row, column offsets).
DISPLACEMENTS = {
    "nn": ((1, 0), (0, 1)),
    "nnn": ((1, 1), (1, -1)),
    "nnn3": ((0, 2), (1, 1), (2, 0)),
}


def lattice_observables(lattices: np.ndarray) -> np.ndarray:
    """All observables of one or many lattice configurations.

    Parameters
    ----------
    lattices : ndarray of uint8/int8, shape (..., L, L)
        Codes 0 = empty, 1 = X, 2 = Y.

    Returns
    -------
    obs : ndarray of int64, shape (..., len(OBSERVABLES))
        In the order of :data:`OBSERVABLES`.

    Notes
    -----
    Vectorised with periodic ``np.roll``; ALGORITHM.md section 2. The simulator
    computes the same numbers inside its kernel; this is the reference used in tests.
    """
    s = np.asarray(lattices)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"lattices must have shape (..., L, L), got {s.shape}")
    x = (s == 1).astype(np.int64)
    y = (s == 2).astype(np.int64)
    ax = (-2, -1)
    out = [x.sum(axis=ax), y.sum(axis=ax)]
    for cls in ("nn", "nnn", "nnn3"):
        xx = np.zeros(s.shape[:-2], np.int64)
        xy = np.zeros_like(xx)
        yy = np.zeros_like(xx)
        for d in DISPLACEMENTS[cls]:
            xs = np.roll(x, shift=(-d[0], -d[1]), axis=ax)  # xs[i] = x[i + d]
            ys = np.roll(y, shift=(-d[0], -d[1]), axis=ax)
            xx += (x * xs).sum(axis=ax)
            yy += (y * ys).sum(axis=ax)
            xy += (x * ys + y * xs).sum(axis=ax)
        out += [xx, xy, yy]
    # reorder: X, Y, nnXX, nnXY, nnYY, nnnXX, nnnXY, nnnYY, nnn3XX, nnn3XY, nnn3YY
    return np.stack(out, axis=-1)


@dataclass
class MomentTable:
    """Mean and SD of observables over time (the CSV layout of CONTRACTS.md).

    Attributes
    ----------
    t : ndarray of float64, shape (n_times,)
    n : int or None
        Replicates or chains behind each row; ``None`` for closures.
    mean, sd : dict of str -> ndarray of float64, shape (n_times,)
        Keys are observable names; missing observables are not predicted (written as
        empty cells). ``sd`` may be empty (closures).
    extra : dict of str -> ndarray, shape (n_times,)
        Extra columns written after the contract and observable columns.
    label : str
        Where the table comes from (``"simulation"``, ``"mean-field"`` ...).
    """

    t: np.ndarray
    n: int | None
    mean: dict[str, np.ndarray]
    sd: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.float64)
        nt = self.t.shape[0]
        for d in (self.mean, self.sd, self.extra):
            for k, v in list(d.items()):
                v = np.asarray(v, dtype=np.float64)
                if v.shape != (nt,):
                    raise ValueError(
                        f"column {k!r} has shape {v.shape}, expected ({nt},)"
                    )
                d[k] = v

    @property
    def observables(self) -> list[str]:
        return [o for o in OBSERVABLES if o in self.mean] + [
            o for o in self.mean if o not in OBSERVABLES
        ]

    def se(self, obs: str) -> np.ndarray:
        """Standard error of the mean, ``sd / sqrt(n)``."""
        if self.n is None or obs not in self.sd:
            raise ValueError(f"no standard error for {obs!r} in a table without sd/n")
        return self.sd[obs] / math.sqrt(self.n)

    def slice(
        self, t_max: float | None = None, t_min: float | None = None
    ) -> MomentTable:
        """Rows with ``t_min <= t <= t_max``."""
        m = np.ones_like(self.t, dtype=bool)
        if t_max is not None:
            m &= self.t <= t_max + 1e-9
        if t_min is not None:
            m &= self.t >= t_min - 1e-9
        pick = lambda d: {k: v[m] for k, v in d.items()}
        return MomentTable(
            self.t[m],
            self.n,
            pick(self.mean),
            pick(self.sd),
            pick(self.extra),
            self.label,
        )

    # -- CSV ---------------------------------------------------------------------------
    def columns(self) -> list[str]:
        cols = ["t", "n"]
        for o in CONTRACT_OBSERVABLES:
            cols += [f"mean_{o}", f"sd_{o}"]
        for o in self.mean:
            if o not in CONTRACT_OBSERVABLES:
                cols += [f"mean_{o}", f"sd_{o}"]
        cols += list(self.extra)
        return cols

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """CSV text in the contract layout; written atomically to ``path`` if given."""
        buf = _io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = self.columns()
        w.writerow(cols)
        fmt = lambda v: "" if v is None or not np.isfinite(v) else repr(float(v))
        for i, t in enumerate(self.t):
            row = []
            for c in cols:
                if c == "t":
                    row.append(int(t) if float(t).is_integer() else repr(float(t)))
                elif c == "n":
                    row.append("" if self.n is None else int(self.n))
                elif c.startswith("mean_") and c[5:] in self.mean:
                    row.append(fmt(self.mean[c[5:]][i]))
                elif c.startswith("sd_") and c[3:] in self.sd:
                    row.append(fmt(self.sd[c[3:]][i]))
                elif c in self.extra:
                    row.append(fmt(self.extra[c][i]))
                else:
                    row.append("")
            w.writerow(row)
        text = buf.getvalue()
        if path is not None:
            write_text_atomic(path, text)
        return text

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Columns as arrays (NaN where empty), in CSV order."""
        out = {"t": self.t}
        for o in self.mean:
            out[f"mean_{o}"] = self.mean[o]
            if o in self.sd:
                out[f"sd_{o}"] = self.sd[o]
        out.update(self.extra)
        return out


def read_moment_table(path_or_text: str | os.PathLike, label: str = "") -> MomentTable:
    """Read a moment-table CSV (ours, or the reference statistics in ``shared/``).

    Columns ``mean_<o>``/``sd_<o>`` become observables; ``n`` or ``n_reps`` the count;
    other columns go to ``extra``. Empty cells become NaN; an all-empty column is
    dropped (a closure that does not predict that observable).
    """
    p = str(path_or_text)
    if "\n" in p:
        text = p
    else:
        with open(p, encoding="utf-8") as fh:
            text = fh.read()
        label = label or os.path.basename(p)
    rows = list(csv.reader(_io.StringIO(text)))
    if not rows or "t" not in rows[0]:
        raise ValueError(f"{label or 'input'} is not a moment table (no 't' column)")
    head = rows[0]
    data = rows[1:]
    col = {
        h: np.array(
            [float(r[j]) if j < len(r) and r[j] != "" else np.nan for r in data]
        )
        for j, h in enumerate(head)
    }
    n = None
    for key in ("n", "n_reps"):
        if key in col and np.isfinite(col[key]).any():
            n = int(np.nanmax(col[key]))
    mean, sd, extra = {}, {}, {}
    for h, v in col.items():
        if h in ("t", "n", "n_reps"):
            continue
        if h.startswith("mean_"):
            if np.isfinite(v).any():
                mean[h[5:]] = v
        elif h.startswith("sd_"):
            if np.isfinite(v).any():
                sd[h[3:]] = v
        else:
            extra[h] = v
    return MomentTable(col["t"], n, mean, sd, extra, label)


def moment_table(
    obs: np.ndarray, t: np.ndarray, label: str = "simulation"
) -> MomentTable:
    """Ensemble statistics of per-replicate observables.

    Parameters
    ----------
    obs : ndarray, shape (n_reps, n_times, len(OBSERVABLES))
    t : ndarray, shape (n_times,)

    Returns
    -------
    MomentTable
        Mean and sample SD (ddof = 1; NaN for a single replicate) per observable.
    """
    obs = np.asarray(obs, dtype=np.float64)
    if obs.ndim != 3 or obs.shape[2] != len(OBSERVABLES):
        raise ValueError(
            f"obs must have shape (n_reps, n_times, {len(OBSERVABLES)}), "
            f"got {obs.shape}"
        )
    n = obs.shape[0]
    mean = obs.mean(axis=0)
    if n > 1:
        sd = obs.std(axis=0, ddof=1)
    else:
        sd = np.full_like(mean, np.nan)
    return MomentTable(
        t=t,
        n=n,
        mean={o: mean[:, k] for k, o in enumerate(OBSERVABLES)},
        sd={o: sd[:, k] for k, o in enumerate(OBSERVABLES)},
        label=label,
    )
