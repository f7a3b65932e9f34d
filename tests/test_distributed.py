"""Ensembles and sweeps on Dask, against a real scheduler and workers.

The scheduler and workers are separate processes on localhost (``dask scheduler``,
``dask worker``), as on a cluster; the Dask results must equal the in-process ones
bit for bit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
xr = pytest.importorskip("xarray")

from dbdviz.cli import main  # noqa: E402
from dbdviz.config import LatticeLV  # noqa: E402
from dbdviz.distributed import SchedulerError, connect  # noqa: E402
from dbdviz.simulate import Cancelled, Ensemble, simulate  # noqa: E402
from dbdviz.sweeps import CHUNK, cell_config, load_sweep, sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = dict(size=10, init_x=12, init_y=12, steps=40, seed=5)
TINY_CLI = ["--size", "10", "--init-x", "12", "--init-y", "12", "--steps", "40"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask(*args: str, env) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("dask")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dask"]
    return subprocess.Popen(
        [*cmd, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


class _Cluster:
    """``dask scheduler`` and ``dask worker`` processes on localhost."""

    def __init__(self) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.procs = [
            _dask(
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                # should this test process die without its teardown, the cluster
                # ends itself: the scheduler when idle, workers without it
                "--idle-timeout",
                "300",
                env=self.env,
            )
        ]
        self.workers: list[subprocess.Popen] = []

    def add_worker(self, *extra: str) -> subprocess.Popen:
        p = _dask(
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--death-timeout",
            "30",
            *extra,
            env=self.env,
        )
        self.procs.append(p)
        return p

    def wait(self, n_workers: int) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                with connect(self.address, timeout=5) as client:
                    client.wait_for_workers(n_workers, timeout=120)
                    return
            except SchedulerError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:  # pragma: no cover
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture(scope="module")
def cluster():
    c = _Cluster()
    try:
        c.add_worker()
        c.add_worker()
        c.wait(2)
        yield c.address
    finally:
        c.close()


# ---------------------------------------------------------------------------------
# Ensembles
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("snapshots", [True, False])
def test_simulate_on_dask_equals_in_process(cluster, snapshots):
    cfg = LatticeLV(**TINY, replicates=37, snapshots=snapshots)
    here = simulate(cfg)
    calls = []
    there = simulate(
        cfg,
        scheduler=cluster,
        batch_size=5,  # 8 chunks, finishing in any order
        progress=lambda d, n: calls.append((d, n)),
    )
    assert there.seed == here.seed == 5
    assert np.array_equal(there.observables, here.observables)
    assert there.observables.dtype == np.int64
    if snapshots:
        assert np.array_equal(there.snapshots, here.snapshots)
    else:
        assert there.snapshots is None
    assert there.config.to_dict() == here.config.to_dict()
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (37, 37) and len(calls) == 8
    # neither the chunking nor the (numba) threads per task matter
    again = simulate(cfg, scheduler=cluster, batch_size=16, threads=2)
    assert np.array_equal(again.observables, here.observables)


def test_simulate_seed_none_drawn_once(cluster):
    ens = simulate(LatticeLV(**{**TINY, "seed": None}, replicates=6), scheduler=cluster)
    assert ens.seed is not None and ens.config.seed == ens.seed
    assert np.array_equal(
        simulate(ens.config.copy(seed=ens.seed)).observables, ens.observables
    )


def test_simulate_cancel_cancels_futures(cluster):
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(done)
        cancel.set()

    with pytest.raises(Cancelled, match="cancelled after"):
        simulate(
            LatticeLV(**TINY, replicates=60),
            scheduler=cluster,
            batch_size=2,
            progress=progress,
            cancel=cancel,
        )
    assert seen and seen[-1] < 60
    with connect(cluster) as client:  # nothing left running on the cluster
        deadline = time.monotonic() + 10
        while client.processing() and any(client.processing().values()):
            assert time.monotonic() < deadline
            time.sleep(0.1)


@pytest.mark.parametrize("snapshots", [False, True])
def test_cli_simulate_scheduler_streams_to_file(cluster, tmp_path, capsys, snapshots):
    here = simulate(LatticeLV(**TINY, replicates=23, snapshots=snapshots))
    out = tmp_path / "e.npz"
    argv = ["simulate", *TINY_CLI, "--seed", "5", "--replicates", "23"]
    argv += ["--scheduler", cluster, "--out", str(out)]
    argv += [] if snapshots else ["--no-snapshots"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert cluster in err and "wrote" in err
    ens = Ensemble.load(out)
    assert np.array_equal(ens.observables, here.observables)
    assert ens.seed == 5 and ens.config.to_dict() == here.config.to_dict()
    if snapshots:
        assert np.array_equal(ens.snapshots, here.snapshots)
    else:
        assert ens.snapshots is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.npz"]  # no leftovers


def test_ctrl_c_cancels_the_futures(cluster, tmp_path):
    """SIGINT to ``dbdviz simulate --scheduler``: exit 130, no output file, and the
    cluster has nothing left to do."""
    out = tmp_path / "e.npz"
    # 30 x 30: about 10x the work of the 10 x 10 lattice, so that the job cannot end
    # between the first progress line and the signal on a loaded machine (with 10 x 10
    # it did once at load 8); interrupted, it costs nothing more.
    cmd = [sys.executable, "-m", "dbdviz", "simulate", *TINY_CLI, "--steps", "400"]
    cmd += ["--size", "30", "--replicates", "4000", "--no-snapshots"]
    cmd += ["--scheduler", cluster]
    cmd += ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # progress lines (stderr is not a terminal)
        lines.append(line)
        if "simulate: " in line and "/4000" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + rest
    assert "interrupted" in rest and not out.exists()
    assert not [p for p in tmp_path.iterdir()]  # no temporary files left
    with connect(cluster) as client:
        deadline = time.monotonic() + 20
        while any(client.processing().values()):
            assert time.monotonic() < deadline, client.processing()
            time.sleep(0.2)


def test_lost_worker_chunk_is_retried():
    """A worker killed mid-run: Dask reruns its chunks elsewhere, nothing lost."""
    c = _Cluster()
    try:
        c.add_worker()
        doomed = c.add_worker("--no-nanny")
        c.wait(2)
        cfg = LatticeLV(**{**TINY, "steps": 400}, replicates=60, snapshots=False)
        killed = []

        def progress(done, total):
            if not killed:
                os.killpg(doomed.pid, signal.SIGKILL)
                killed.append(done)

        with connect(c.address) as client:
            ens = simulate(cfg, scheduler=client, batch_size=3, progress=progress)
            assert len(client.nthreads()) == 1  # the killed worker is gone
        assert killed and killed[0] < 60
        assert np.array_equal(ens.observables, simulate(cfg).observables)
    finally:
        c.close()


# ---------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------

VARY = ["birth=0.02:0.06:3", "death=0.04:0.2:2"]


def _tiny_sweep(**kw):
    return sweep(vary=VARY, replicates=CHUNK + 6, **{**TINY, **kw})


def test_sweep_on_dask_equals_in_process(cluster):
    here = _tiny_sweep()
    there = _tiny_sweep(scheduler=cluster)
    xr.testing.assert_identical(here, there)
    assert here.sizes == {"birth": 3, "death": 2}
    assert (here["done"] == 1).all()
    for k in ("frac_Y_extinct", "frac_X_extinct"):
        v = here[k].values
        assert ((v >= 0) & (v <= 1)).all()
    assert np.isfinite(here["mean_X"]).all() and (here["mean_Y"] >= 0).all()
    assert here.attrs["seed"] == "5" and here.attrs["replicates"] == CHUNK + 6


def test_sweep_cells_are_their_ensembles():
    ds = _tiny_sweep()
    cfg = cell_config(ds, birth=0.04, death=0.2)
    assert cfg.birth == 0.04 and cfg.death == 0.2 and cfg.seed == 5
    obs = simulate(cfg).observables
    xy = obs[:, :, :2].astype(np.float64)
    cell = ds.sel(birth=0.04, death=0.2)
    assert float(cell.frac_Y_extinct) == np.mean(obs[:, -1, 1] == 0)
    assert float(cell.frac_X_extinct) == np.mean(obs[:, -1, 0] == 0)
    assert float(cell.mean_X) == pytest.approx(xy[:, :, 0].mean(), rel=1e-12)
    assert float(cell.mean_Y) == pytest.approx(xy[:, :, 1].mean(), rel=1e-12)
    from dbdviz.closures import solve
    from dbdviz.compare import nrmse

    err = nrmse(solve("pair", cfg), simulate(cfg).moments(), ["X", "Y"])
    assert float(cell.nrmse_pair_Y) == pytest.approx(err["Y"], rel=1e-9)


def test_sweep_period_of_an_oscillation():
    """The paper's regime oscillates (period ~ 230 steps at 40 x 40); a prey-only
    lattice with no predators does not."""
    ds = sweep(vary={"death": [0.06, 10.0]}, replicates=40, seed=1, preset_name="paper")
    p = ds.period.values
    assert 150 < p[0] < 320 and np.isnan(p[1])
    assert ds.frac_Y_extinct.values[1] == 1.0


def test_sweep_resumes_finished_cells(tmp_path):
    out = tmp_path / "s.nc"
    cancel = threading.Event()
    first = []

    def stop_after_two(idx, vals):
        first.append(idx)
        if len(first) == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        _tiny_sweep(out=out, on_cell=stop_after_two, cancel=cancel)
    part = load_sweep(out)
    assert int(part.done.sum()) == 2
    later = []
    full = _tiny_sweep(out=out, on_cell=lambda i, v: later.append(i))
    assert len(later) == 4 and not set(later) & set(first)
    xr.testing.assert_identical(full, _tiny_sweep())
    xr.testing.assert_identical(load_sweep(out), full)
    with pytest.raises(ValueError, match="different sweep"):
        _tiny_sweep(out=out, seed=6)


def test_cli_sweep_local_cluster_and_resume(tmp_path, capsys):
    out = tmp_path / "s.nc"
    argv = ["sweep", *TINY_CLI, "--seed", "5", "--replicates", str(CHUNK + 6)]
    argv += [a for v in VARY for a in ("--vary", v)] + ["--out", str(out)]
    assert main([*argv, "--scheduler", "local"]) == 0
    err = capsys.readouterr().err
    assert "6 cells" in err and "on local" in err
    xr.testing.assert_identical(load_sweep(out), _tiny_sweep(preset_name="paper"))
    assert main(argv) == 0
    assert "resuming: 6 done" in capsys.readouterr().err
    ds = load_sweep(out)
    assert ds.attrs["preset"] == "paper" and ds.attrs["dbdviz_version"]
    assert ds.attrs["fixed_predation"] == 0.4


# ---------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--vary", "birth=0.01:0.05"], "--vary = 'birth=0.01:0.05' is malformed"),
        (["--vary", "birth=a:0.05:3"], "--vary = 'birth=a:0.05:3' is malformed"),
        (["--vary", "birth=0.01:0.05:0"], "N must be an integer in [1, 10000]"),
        (["--vary", "colour=1:2:3"], "--vary: unknown parameter 'colour'"),
        (
            ["--vary", "birth=0:0.1:101", "--vary", "death=0:0.1:100"],
            "--vary: the grid has 10100 cells, more than 10000",
        ),
        (["--vary", "birth=0:20:3"], "--vary: birth = 20"),
        (["--vary", "size=5:10:3"], "--vary: size is an integer parameter"),
        (["--vary", "birth=0:1:2", "--vary", "birth=0:1:2"], "varied twice"),
        (["--birth", "0.1", "--vary", "birth=0:1:2"], "also given as --birth"),
        (["--vary", "birth=0:1:2", "--scheduler", "nowhere"], "--scheduler"),
    ],
)
def test_cli_sweep_bad_input(tmp_path, capsys, args, needle):
    out = tmp_path / "s.nc"
    assert main(["sweep", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_scheduler_that_does_not_answer(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    for cmd in (["simulate"], ["sweep", "--vary", "birth=0.01:0.02:2"]):
        out = tmp_path / "x.out"
        assert main([*cmd, "--scheduler", address, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and address in err and "did not answer" in err
        assert not out.exists()
    # something listens but never speaks Dask: an error within the timeout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        silent = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        with (
            pytest.raises(SchedulerError, match="did not answer"),
            connect(silent, timeout=1),
        ):
            pass


def test_grid_force_allows_large_grids_to_validate():
    from dbdviz.sweeps import _grid, _validate

    grid = _grid(["birth=0:0.1:101", "death=0:0.1:100"])
    with pytest.raises(ValueError, match="10100 cells"):
        _validate(LatticeLV(), grid, force=False)
    assert _validate(LatticeLV(), grid, force=True) == 10100
