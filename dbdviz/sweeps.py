"""Parameter sweeps: an ensemble per grid cell, summarised in an xarray Dataset.

>>> import dbdviz
>>> ds = dbdviz.sweep(vary={"birth": [0.01, 0.025, 0.05], "death": [0.03, 0.06]},
...                   replicates=50, seed=1)                      # doctest: +SKIP
>>> ds.frac_Y_extinct.sel(birth=0.025, death=0.06)               # doctest: +SKIP

Every cell is the ensemble ``simulate(config with the cell's values, seed=seed)``:
all cells share the seed (common random numbers, so neighbouring cells differ by the
parameters, not by luck), and any cell can be re-simulated exactly. The replicates of
a cell run in chunks of :data:`CHUNK` (tasks on Dask when a scheduler is given), each
reduced where it ran to sums over its replicates, which are combined in chunk order:
the Dataset is the same, bit for bit, in-process and on any Dask cluster.

Per cell (data variables, one dimension per varied parameter, named after it):

==========================  ========================================================
``frac_X_extinct``          fraction of replicates with no X at the last time
``frac_Y_extinct``          fraction of replicates with no Y at the last time
``mean_X``, ``mean_Y``      ensemble mean count averaged over all recorded times
``period``                  oscillation period of Y (NaN: none; see below)
``nrmse_mean_field_X`` ...  NRMSE (:func:`dbdviz.compare.nrmse`) of the mean-field
                            and pair closures' X and Y against the cell's ensemble
                            mean (NaN where the closure fails)
``done``                    1 for a finished cell (resuming skips those)
==========================  ========================================================

The period is the lag of the first peak above 0.1 of the replicate-averaged
autocorrelation of Y(t) (each replicate minus its time mean) after that
autocorrelation has dropped below -0.1, within half the run.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from ._rng import seed_states
from ._version import __version__
from .config import LatticeLV, preset
from .errors import Cancelled
from .moments import MomentTable

__all__ = [
    "sweep",
    "parse_vary",
    "SWEEPABLE",
    "MAX_CELLS",
    "CHUNK",
    "LAYERS",
    "cell_config",
    "load_sweep",
    "check_grid",
    "warmup_worker",
    "Cancelled",
]

#: Parameters a sweep may vary (numeric LatticeLV parameters but seed/replicates).
SWEEPABLE = ("birth", "death", "predation", "size", "init_x", "init_y", "dt", "steps")
#: Largest grid run without ``force``.
MAX_CELLS = 10_000
#: Replicates per task; fixed so that results do not depend on the workers.
CHUNK = 64
#: Per-cell data variables (besides ``done``), in Dataset order.
CLOSURES = ("mean_field", "pair")
LAYERS = (
    "frac_Y_extinct",
    "frac_X_extinct",
    "mean_X",
    "mean_Y",
    "period",
    *(f"nrmse_{c}_{o}" for c in CLOSURES for o in ("X", "Y")),
)
_PERIOD_LEVEL = 0.1

_VARY = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*([^:]+):([^:]+):([^:]+)\s*$")


# ---------------------------------------------------------------------------------
# The grid
# ---------------------------------------------------------------------------------


def parse_vary(text: str) -> tuple[str, np.ndarray]:
    """``"NAME=START:STOP:N"`` -> ``(name, linspace(START, STOP, N))``.

    Raises
    ------
    ValueError
        Malformed text, unknown name, N outside [1, 10000], or non-integer values of
        an integer parameter (the message names ``vary``).
    """
    m = _VARY.match(str(text))
    if m is None:
        raise ValueError(
            f"vary = {text!r} is malformed: expected NAME=START:STOP:N, e.g. "
            "birth=0.01:0.05:5"
        )
    name = m.group(1).replace("-", "_")
    try:
        start, stop = float(m.group(2)), float(m.group(3))
        n = float(m.group(4))
    except ValueError:
        n = math.nan
        start = stop = 0.0
    if not (math.isfinite(start) and math.isfinite(stop)):
        raise ValueError(
            f"vary = {text!r} is malformed: START and STOP must be numbers"
        )
    if not (n == n and n.is_integer() and 1 <= n <= MAX_CELLS):
        raise ValueError(
            f"vary = {text!r} is malformed: N must be an integer in [1, {MAX_CELLS}]"
        )
    if int(n) == 1 and start != stop:
        raise ValueError(f"vary = {text!r} is malformed: N = 1 needs START = STOP")
    # 12 significant digits: sel(birth=0.04) finds linspace's 0.04000000000000001
    values = [float(f"{v:.12g}") for v in np.linspace(start, stop, int(n))]
    return _check_name(name), np.array(values)


def _check_name(name: str) -> str:
    if name not in SWEEPABLE:
        raise ValueError(
            f"vary: unknown parameter {name!r}: allowed {{{', '.join(SWEEPABLE)}}}"
        )
    return name


def _grid(vary: Any) -> dict[str, np.ndarray]:
    """``{name: values}`` from a mapping or from ``NAME=START:STOP:N`` strings."""
    if isinstance(vary, str):
        vary = [vary]
    if isinstance(vary, Mapping):
        pairs = [(_check_name(str(k)), v) for k, v in vary.items()]
    else:
        pairs = [parse_vary(v) for v in vary or ()]
    if not pairs:
        raise ValueError("vary is empty: give at least one NAME=START:STOP:N")
    grid: dict[str, np.ndarray] = {}
    for name, values in pairs:
        if name in grid:
            raise ValueError(f"vary: parameter {name!r} is varied twice")
        vals = np.asarray(values, dtype=np.float64).ravel()
        if vals.size == 0 or not np.isfinite(vals).all():
            raise ValueError(f"vary: the values of {name!r} must be finite numbers")
        if len(np.unique(vals)) != vals.size:
            raise ValueError(f"vary: the values of {name!r} repeat")
        if _is_int(name):
            if not all(float(v).is_integer() for v in vals):
                raise ValueError(
                    f"vary: {name} is an integer parameter but the grid has "
                    f"{', '.join(f'{v:g}' for v in vals if not float(v).is_integer())}"
                )
            vals = vals.astype(np.int64)
        grid[name] = vals
    return grid


def _is_int(name: str) -> bool:
    import param

    return isinstance(LatticeLV.param[name], param.Integer)


def _validate(base: LatticeLV, grid: dict[str, np.ndarray], force: bool) -> int:
    """Every cell's parameters in range (checked on the corners: the combination
    rules are monotone), the cell count below :data:`MAX_CELLS`. Returns it."""
    cells = int(np.prod([v.size for v in grid.values()]))
    if cells > MAX_CELLS and not force:
        raise ValueError(
            f"vary: the grid has {cells} cells, more than {MAX_CELLS}: reduce N or "
            "pass force=True (CLI --force)"
        )
    extremes = [(n, (v.min(), v.max())) for n, v in grid.items()]
    for corner in itertools.product(*(e for _, e in extremes)):
        values = {n: _py(v) for (n, _), v in zip(extremes, corner, strict=True)}
        try:
            base.copy(**values)
        except ValueError as exc:
            raise ValueError(f"vary: {str(exc).splitlines()[0]}") from None
    return cells


def check_grid(config: LatticeLV, vary: Any, force: bool = False) -> int:
    """Validate a sweep's grid against ``config`` before any work (as :func:`sweep`
    does); returns the number of cells. Raises ValueError naming ``vary``."""
    return _validate(config, _grid(vary), force)


def warmup_worker() -> None:
    """Compile (or load) the kernels and import the closures in this process: a
    fresh Dask worker's first cell then costs what the others do."""
    d = LatticeLV(size=4, init_x=2, init_y=2, steps=3, replicates=2, seed=0)
    cell_chunk(d.to_dict(), 0, 2)
    cell_closures(d.to_dict())


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------------------------
# Tasks (run here or on Dask workers)
# ---------------------------------------------------------------------------------


def cell_chunk(
    cfg_dict: dict, first: int, stop: int, threads: int | None = 1
) -> dict[str, Any]:
    """One task: replicates ``first:stop`` of a cell, reduced to sums.

    Returns
    -------
    dict
        ``n``; ``sum``, ``sumsq`` (int64, shape (steps + 1, 2): X, Y over the
        replicates); ``extinct`` (int64 [X, Y] at the last time); ``acov`` (float64,
        shape (steps // 2 + 1,): summed raw autocovariance of Y minus its time mean).
    """
    from .simulate.lattice import simulate_chunk

    d = {**cfg_dict, "snapshots": False}
    obs = simulate_chunk(d, seed_states(d["seed"], stop)[first:stop], threads)[0]
    T = d["steps"] + 1
    xy = obs[:, :, :2]
    y = xy[:, :, 1].astype(np.float64)
    y -= y.mean(axis=1, keepdims=True)
    f = np.fft.rfft(y, n=2 * T, axis=1)
    acov = np.fft.irfft(f.real**2 + f.imag**2, n=2 * T, axis=1)[:, : T // 2 + 1]
    return {
        "n": stop - first,
        "sum": xy.sum(axis=0),
        "sumsq": (xy * xy).sum(axis=0),
        "extinct": (xy[:, -1, :] == 0).sum(axis=0),
        "acov": acov.sum(axis=0),
    }


def cell_closures(cfg_dict: dict) -> dict[str, np.ndarray | None]:
    """One task: mean X, Y of the mean-field and pair closures (None: failed)."""
    from .closures import solve

    cfg = LatticeLV.from_dict(cfg_dict)
    out: dict[str, np.ndarray | None] = {}
    for c in CLOSURES:
        try:
            # far from the paper's rates a closure may overflow on its way to
            # failing: that is a NaN cell here, not a warning per cell
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                tab = solve(c.replace("_", "-"), cfg)
            out[c] = np.stack([tab.mean["X"], tab.mean["Y"]], axis=1)
        except ValueError:  # ClosureError, or a rule that does not apply here
            out[c] = None
    return out


def _period(acov: np.ndarray, T: int, dt: float) -> float:
    if not acov[0] > 0:
        return math.nan
    k = np.arange(acov.size)
    r = (acov / (T - k)) / (acov[0] / T)
    below = np.nonzero(r < -_PERIOD_LEVEL)[0]
    if below.size == 0:
        return math.nan
    for j in range(int(below[0]) + 1, r.size - 1):
        if r[j] > _PERIOD_LEVEL and r[j] >= r[j - 1] and r[j] >= r[j + 1]:
            return float(j * dt)
    return math.nan


def _summarise(cfg: LatticeLV, chunks: Sequence[dict], closures: dict) -> dict:
    """The per-cell values of :data:`LAYERS` from its chunks (in order)."""
    from .compare import nrmse

    n = sum(c["n"] for c in chunks)
    s1 = np.sum([c["sum"] for c in chunks], axis=0)
    s2 = np.sum([c["sumsq"] for c in chunks], axis=0)
    ext = np.sum([c["extinct"] for c in chunks], axis=0)
    acov = chunks[0]["acov"].copy()
    for c in chunks[1:]:
        acov += c["acov"]
    T = cfg.steps + 1
    mean = s1 / n
    var = (s2 - s1.astype(np.float64) * mean) / (n - 1) if n > 1 else mean * np.nan
    t = cfg.times.astype(np.float64)
    sim = MomentTable(
        t,
        n,
        {"X": mean[:, 0], "Y": mean[:, 1]},
        {
            "X": np.sqrt(np.maximum(var[:, 0], 0)),
            "Y": np.sqrt(np.maximum(var[:, 1], 0)),
        },
    )
    out = {
        "frac_Y_extinct": ext[1] / n,
        "frac_X_extinct": ext[0] / n,
        "mean_X": float(mean[:, 0].mean()),
        "mean_Y": float(mean[:, 1].mean()),
        "period": _period(acov, T, float(cfg.dt)),
    }
    for c in CLOSURES:
        xy = closures.get(c)
        err = {"X": math.nan, "Y": math.nan}
        if xy is not None:
            tab = MomentTable(t, None, {"X": xy[:, 0], "Y": xy[:, 1]})
            err = nrmse(tab, sim, ["X", "Y"])
        for o in ("X", "Y"):
            out[f"nrmse_{c}_{o}"] = float(err[o])
    return {k: float(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------
# The Dataset
# ---------------------------------------------------------------------------------


def _attr(v: Any) -> Any:
    """A netCDF-3 friendly attribute value (no int64, bool or None)."""
    if v is None:
        return "None"
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and not -(2**31) <= v < 2**31:
        return str(v)
    return v


def _empty_dataset(base: LatticeLV, grid: dict[str, np.ndarray], preset_name):
    import xarray as xr

    shape = tuple(v.size for v in grid.values())
    dims = tuple(grid)
    data = {k: (dims, np.full(shape, np.nan)) for k in LAYERS}
    data["done"] = (dims, np.zeros(shape, dtype=np.int8))
    fixed = {k: v for k, v in base.to_dict().items() if k not in grid}
    attrs = {
        "title": "dbdviz parameter sweep",
        "dbdviz_version": __version__,
        "seed": str(base.seed),
        "replicates": int(base.replicates),
        "varied": " ".join(grid),
        "preset": str(preset_name or ""),
        "config": json.dumps(fixed, sort_keys=True),
        "cells": "each cell is simulate(config with the cell's values, seed=seed)",
    }
    attrs.update({f"fixed_{k}": _attr(v) for k, v in fixed.items()})
    ds = xr.Dataset(data, coords=dict(grid.items()), attrs=attrs)
    ds["period"].attrs["units"] = "time (steps x dt)"
    ds["done"].attrs["long_name"] = "1 when the cell is finished"
    return ds


def load_sweep(path: str | os.PathLike):
    """Read a sweep written by :func:`sweep` (into memory, file closed)."""
    import xarray as xr

    with xr.open_dataset(path, engine="scipy") as ds:
        return ds.load()


def _read_existing(path: str | os.PathLike):
    from .io import FileFormatError

    try:
        return load_sweep(path)
    except (OSError, ValueError, TypeError) as exc:
        raise FileFormatError(
            f"out: {path} exists but is not a readable sweep ({exc}); "
            "remove it or choose another file"
        ) from None


def _resume(ds, old, path: str | os.PathLike) -> None:
    """Copy the finished cells of ``old`` (read from ``path``) into ``ds``; it must
    be the same sweep."""
    from .io import FileFormatError

    same = (
        old.attrs.get("config") == ds.attrs["config"]
        and old.attrs.get("seed") == ds.attrs["seed"]
        and int(old.attrs.get("replicates", -1)) == ds.attrs["replicates"]
        and tuple(old["done"].dims) == tuple(ds["done"].dims)
        and all(np.array_equal(old[d].values, ds[d].values) for d in ds["done"].dims)
        and all(k in old for k in LAYERS)
    )
    if not same:
        raise FileFormatError(
            f"out: {path} holds a different sweep (other grid, fixed parameters, "
            "seed or replicates); remove it or choose another file"
        )
    for k in (*LAYERS, "done"):
        ds[k].values[...] = old[k].values


def _write(ds, path: str | os.PathLike) -> None:
    from .io import atomic_write

    with atomic_write(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine="scipy", format="NETCDF3_64BIT")


def cell_config(ds, **coords: Any) -> LatticeLV:
    """The exact configuration (and seed) of one cell of a sweep Dataset,
    ``cell_config(ds, birth=0.03, death=0.06)``: ``simulate(cell_config(...))``
    reproduces the cell's ensemble."""
    d = json.loads(ds.attrs["config"])
    d["seed"] = int(ds.attrs["seed"])
    d["replicates"] = int(ds.attrs["replicates"])
    for name in ds["done"].dims:
        if name not in coords:
            raise ValueError(f"cell_config: give a value of {name!r}")
        d[name] = _py(ds[name].sel({name: coords[name]}).values[()])
    return LatticeLV(**d)


def sweep(
    config: LatticeLV | None = None,
    vary: Any = None,
    *,
    preset_name: str | None = None,
    scheduler: Any = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
    progress: Callable[[int, int], Any] | None = None,
    on_cell: Callable[[tuple[int, ...], dict], Any] | None = None,
    cancel: threading.Event | None = None,
    threads: int | None = None,
    save_every: float = 2.0,
    **overrides: Any,
):
    """Run an ensemble on every cell of a parameter grid; summaries as a Dataset.

    Parameters
    ----------
    config : LatticeLV, optional
        Fixed parameters (default ``preset(preset_name or "paper")``); ``overrides``
        (``replicates=``, ``seed=``, ``size=`` ...) replace some of them.
    vary : mapping name -> values, or str or list of str ``"NAME=START:STOP:N"``
        The grid: one dimension per name (in :data:`SWEEPABLE`), in this order.
    preset_name : str, optional
        Preset of the fixed parameters when ``config`` is None (recorded in attrs).
    scheduler : str or distributed.Client, optional
        Dask scheduler (:func:`dbdviz.distributed.connect`); None: in-process.
    out : path, optional
        netCDF file, rewritten atomically every ``save_every`` seconds and at the
        end (also when interrupted). If it exists and holds the same sweep, its
        finished cells are kept and only the others are computed.
    force : bool
        Allow more than :data:`MAX_CELLS` cells.
    progress : callable(done_cells, total_cells), optional
    on_cell : callable(index, values), optional
        Called as each cell finishes (``index`` into the grid, ``values`` a dict of
        :data:`LAYERS`); resumed cells are not reported.
    cancel : threading.Event, optional
        When set, pending work is cancelled and :class:`Cancelled` raised.
    threads : int, optional
        numba threads per chunk (in-process default: all; on Dask: 1).

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    ValueError
        Malformed or unknown ``vary``, a parameter out of range in some cell, too
        many cells, an ``out`` holding another sweep (before any work);
        :class:`dbdviz.distributed.SchedulerError` for a scheduler that does not
        answer.
    """
    from .distributed import connect, run_tasks

    if config is None:
        base = preset(preset_name or "paper", **overrides)
    else:
        base = config.copy(**overrides)
    grid = _grid(vary)
    cells = _validate(base, grid, force)
    base = base.copy(snapshots=False)
    old = None
    if out is not None:
        folder = os.path.dirname(os.path.abspath(out))
        if not os.path.isdir(folder):
            raise ValueError(f"out: folder does not exist: {folder}")
        if os.path.exists(out):
            old = _read_existing(out)
            if base.seed is None:  # resume with the seed drawn the first time
                base = base.copy(seed=int(old.attrs.get("seed", 0)))
    if base.seed is None:
        import secrets

        base = base.copy(seed=secrets.randbits(63))
    ds = _empty_dataset(base, grid, preset_name)
    if old is not None:
        _resume(ds, old, out)
    shape = tuple(v.size for v in grid.values())
    names = tuple(grid)
    done_flat = ds["done"].values.reshape(-1)
    todo = [i for i in range(cells) if not done_flat[i]]
    n_done = cells - len(todo)
    R = int(base.replicates)
    bounds = [(a, min(a + CHUNK, R)) for a in range(0, R, CHUNK)]
    per_cell = len(bounds) + 1  # the chunks and the closures

    def cell_dict(i: int) -> dict:
        idx = np.unravel_index(i, shape)
        vals = {n: _py(grid[n][k]) for n, k in zip(names, idx, strict=True)}
        return base.copy(**vals).to_dict()

    def items() -> Iterable[tuple]:
        for i in todo:
            d = cell_dict(i)
            yield (None, d)
            for a, b in bounds:
                yield (d, a, b)

    parts: dict[int, list] = {}
    last_save = [time.monotonic()]

    def on_result(j: int, res: Any) -> None:
        nonlocal n_done
        i = todo[j // per_cell]
        parts.setdefault(i, [None] * per_cell)[j % per_cell] = res
        if any(p is None for p in parts[i]):
            return
        got = parts.pop(i)
        idx = np.unravel_index(i, shape)
        vals = _summarise(LatticeLV.from_dict(cell_dict(i)), got[1:], got[0])
        for k, v in vals.items():
            ds[k].values[idx] = v
        ds["done"].values[idx] = 1
        n_done += 1
        if on_cell is not None:
            on_cell(tuple(int(k) for k in idx), vals)
        if progress is not None:
            progress(n_done, cells)
        if out is not None and time.monotonic() - last_save[0] >= save_every:
            _write(ds, out)
            last_save[0] = time.monotonic()

    def cancelled() -> BaseException:
        return Cancelled(f"sweep cancelled after {n_done} of {cells} cells")

    with connect(scheduler) if scheduler is not None else nullcontext() as client:
        if progress is not None:
            progress(n_done, cells)
        tasks = ((threads if client is None else threads or 1, *a) for a in items())
        try:
            run_tasks(client, _task, tasks, on_result, cancel, cancelled=cancelled)
        finally:
            if out is not None:
                _write(ds, out)
    return ds


def _task(threads: int | None, *args):
    """A cell's closures ``(None, cfg_dict)`` or one of its chunks
    ``(cfg_dict, first, stop)``."""
    if args[0] is None:
        return cell_closures(args[1])
    return cell_chunk(*args, threads=threads)
