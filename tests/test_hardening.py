"""Nothing lost, nothing let in (issue 13).

A matrix of bad inputs through every subcommand: exit 2, one line naming the option,
no traceback, every input file byte-identical afterwards, no file left behind. Then
exact seeds, file permissions, memory estimates, and who the servers answer.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dbdviz._memory import MemoryLimitError, available_bytes
from dbdviz._numba import max_threads
from dbdviz._paths import OutputPathError, check_outputs
from dbdviz.cli import main
from dbdviz.io import atomic_write, load_npz, save_npz
from dbdviz.moments import OBSERVABLES

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--size", "8", "--init-x", "6", "--init-y", "6", "--steps", "6"]
SMALL += ["--replicates", "4", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny ensemble, a model trained on it briefly, a checkpoint."""
    d = tmp_path_factory.mktemp("inputs")
    ens, model, ck = d / "ens.npz", d / "model.npz", d / "ck.npz"
    assert main(["simulate", *SMALL, "--seed", "3", "--out", str(ens)]) == 0
    train = ["train", "--data", str(ens), "--opt-steps", "2", "--no-refine"]
    train += ["--checkpoint", str(ck), "--checkpoint-every", "1", "--quiet"]
    assert main([*train, "--out", str(model)]) == 0
    return {"ens": ens, "model": model, "ck": ck}


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def _crafted_ensemble(path: Path, n_reps: int) -> None:
    """A small zip whose observables header declares ``n_reps`` replicates."""
    meta = {
        "kind": "ensemble",
        "format_version": 1,
        "config": {"size": 8, "init_x": 6, "init_y": 6, "steps": 6, "replicates": 4},
        "observables": list(OBSERVABLES),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in (
            ("meta", np.array(json.dumps(meta))),
            ("t", np.arange(7.0)),
        ):
            buf = io.BytesIO()
            np.save(buf, arr)
            zf.writestr(name + ".npy", buf.getvalue())
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buf,
            {
                "descr": "<i8",
                "fortran_order": False,
                "shape": (n_reps, 7, len(OBSERVABLES)),
            },
        )
        zf.writestr("observables.npy", buf.getvalue() + b"\0" * 64)


BIG = str(2**63)
MAXSEED = str(2**63 - 1)

# (argv with {ens} {model} {ck} {tmp} {link}, the option the message must name)
MATRIX = [
    # simulate: output paths
    (["simulate", *SMALL, "--out", ""], "--out"),
    (["simulate", *SMALL, "--out", "{tmp}"], "--out"),
    (["simulate", *SMALL, "--out", "{tmp}/"], "--out"),
    (["simulate", *SMALL, "--out", "{tmp}/no/such/e.npz"], "--out"),
    (["simulate", *SMALL, "--out", "/sys/e.npz"], "--out"),
    # simulate: seeds, threads, memory, values
    (["simulate", *SMALL, "--seed", "1.5", "--out", "{tmp}/e.npz"], "--seed"),
    (["simulate", *SMALL, "--seed", BIG, "--out", "{tmp}/e.npz"], "--seed"),
    (["simulate", *SMALL, "--seed", "-1", "--out", "{tmp}/e.npz"], "--seed"),
    (["simulate", *SMALL, "--seed", "1e400", "--out", "{tmp}/e.npz"], "--seed"),
    (["simulate", *SMALL, "--threads", "0", "--out", "{tmp}/e.npz"], "--threads"),
    (["simulate", *SMALL, "--threads", "2.7", "--out", "{tmp}/e.npz"], "--threads"),
    (
        ["simulate", *SMALL, "--threads", str(max_threads() + 1)]
        + ["--out", "{tmp}/e.npz"],
        "--threads",
    ),
    (
        ["simulate", "--size", "3", "--init-x", "1", "--init-y", "1"]
        + ["--replicates", "1000000", "--steps", "1000000", "--no-snapshots"]
        + ["--out", "{tmp}/e.npz"],
        "--replicates",
    ),
    (
        ["simulate", "--replicates", "1000000", "--steps", "900"]
        + ["--out", "{tmp}/e.npz"],
        "snapshots",
    ),
    (["simulate", *SMALL, "--birth", "nan", "--out", "{tmp}/e.npz"], "--birth"),
    (
        ["simulate", *SMALL, "--predation", "true", "--out", "{tmp}/e.npz"],
        "--predation",
    ),
    # moments
    (["moments", "{ens}", "--out", "{ens}"], "--out"),
    (["moments", "{ens}", "--out", "{link}"], "--out"),
    (["moments", "{ens}", "--out", "{tmp}"], "--out"),
    (["moments", "{ens}", "--out", ""], "--out"),
    (["moments", "{tmp}/missing.npz", "--out", "{tmp}/m.csv"], "ENSEMBLE"),
    (["moments", "{model}", "--out", "{tmp}/m.csv"], "ENSEMBLE"),
    (["moments", "{tmp}/crafted.npz", "--out", "{tmp}/m.csv"], "ENSEMBLE"),
    (["moments", "{tmp}/folder.npz", "--out", "{tmp}/m.csv"], "ENSEMBLE"),
    (["moments", "{tmp}/truncated.npz", "--out", "{tmp}/m.csv"], "ENSEMBLE"),
    # closure
    (["closure", "--method", "pair", "--out", ""], "--out"),
    (["closure", "--method", "pair", "--out", "/sys/c.csv"], "--out"),
    (["closure", "--method", "pair", "--seed", BIG, "--out", "{tmp}/c.csv"], "--seed"),
    # train
    (["train", "--data", "{ens}", "--out", "{ens}"], "--out"),
    (["train", "--data", "{ens}", "--out", "{link}"], "--out"),
    (
        ["train", "--data", "{ens}", "--out", "{tmp}/m.npz", "--checkpoint", "{ens}"],
        "--checkpoint",
    ),
    (
        ["train", "--data", "{ens}", "--out", "{tmp}/m.npz"]
        + ["--checkpoint", "{tmp}/m.npz"],
        "--checkpoint",
    ),
    (
        ["train", "--data", "{ens}", "--out", "{tmp}/m.npz"]
        + ["--checkpoint", "/sys/ck.npz"],
        "--checkpoint",
    ),
    (["train", "--data", "{ens}", "--out", "{tmp}"], "--out"),
    (["train", "--data", "{ens}", "--out", "/sys/m.npz"], "--out"),
    (["train", "--data", "{ens}", "--out", "{ck}", "--resume", "{ck}"], "--out"),
    (
        ["train", "--data", "{ens}", "--out", "{tmp}/m.npz"]
        + ["--resume", "{tmp}/missing.npz"],
        "--resume",
    ),
    (["train", "--data", "{tmp}/missing.npz", "--out", "{tmp}/m.npz"], "--data"),
    (["train", "--data", "{tmp}/truncated.npz", "--out", "{tmp}/m.npz"], "--data"),
    (
        ["train", "--data", "{ens}", "--resume", "{model}", "--out", "{tmp}/m.npz"],
        "--resume",
    ),
    (
        [
            "train",
            "--data",
            "{ens}",
            "--resume",
            "{ck}",
            "--lr",
            "9",
            "--out",
            "{tmp}/m.npz",
        ],
        "--lr",
    ),
    (["train", "--data", "{ens}", "--seed", BIG, "--out", "{tmp}/m.npz"], "--seed"),
    (["train", "--data", "{ens}", "--seed", "0.5", "--out", "{tmp}/m.npz"], "--seed"),
    (["train", "--data", "{ens}", "--lr", "-1", "--out", "{tmp}/m.npz"], "--lr"),
    # evaluate
    (["evaluate", "{model}", "--out", "{model}"], "--out"),
    (["evaluate", "{model}", "--out", "{link}"], "--out"),
    (["evaluate", "{model}", "--out", "{tmp}"], "--out"),
    (["evaluate", "{model}", "--seed", BIG, "--out", "{tmp}/l.csv"], "--seed"),
    (["evaluate", "{model}", "--seed", "-3", "--out", "{tmp}/l.csv"], "--seed"),
    (
        ["evaluate", "{model}", "--t-max", str(10**12), "--out", "{tmp}/l.csv"],
        "--t-max",
    ),
    (
        ["evaluate", "{model}", "--lowpass-taps", "99999", "--out", "{tmp}/l.csv"],
        "--lowpass-taps",
    ),
    (["evaluate", "{tmp}/missing.npz", "--out", "{tmp}/l.csv"], "MODEL"),
    (["evaluate", "{ens}", "--out", "{tmp}/l.csv"], "MODEL"),
    # predict, and train from several ensembles (the same checks)
    (["predict", "{model}", "--out", "{model}"], "--out"),
    (["predict", "{model}", "--out", ""], "--out"),
    (["predict", "{model}", "--seed", BIG, "--out", "{tmp}/p.csv"], "--seed"),
    (["train", "--data", "{ens}", "--data", "{ens}", "--out", "{ens}"], "--out"),
    # sweep (issue 15's subcommand: the same checks before any cell runs)
    (["sweep", "--vary", "birth=0.01:0.02:2", "--out", ""], "--out"),
    (["sweep", "--vary", "birth=0.01:0.02:2", "--out", "{tmp}"], "--out"),
    (["sweep", "--vary", "birth=0.01:0.02:2", "--out", "{ens}"], "--out"),
    (
        [
            "sweep",
            "--vary",
            "birth=0.01:0.02:2",
            "--seed",
            "1.5",
            "--out",
            "{tmp}/s.nc",
        ],
        "--seed",
    ),
    (
        [
            "sweep",
            "--vary",
            "birth=0.01:0.02:2",
            "--threads",
            "0",
            "--out",
            "{tmp}/s.nc",
        ],
        "--threads",
    ),
    # serve (nothing started)
    (["serve", "--port", "0"], "--port"),
    (["serve", "--port", "70000"], "--port"),
    (["serve", "--port", "5990", "--address", "999.1.1.1"], "--address"),
    (["serve", "--port", "5991", "--address", "8.8.8.8"], "--address"),
]


def _case_id(case) -> str:
    argv, option = case
    return f"{argv[0]}-{option}-" + "-".join(a for a in argv[1:] if a)[:60]


@pytest.mark.parametrize("case", MATRIX, ids=[_case_id(c) for c in MATRIX])
def test_bad_input_matrix(case, files, tmp_path, capsys):
    argv, option = case
    (tmp_path / "folder.npz").mkdir()
    _crafted_ensemble(tmp_path / "crafted.npz", 10**12)
    (tmp_path / "truncated.npz").write_bytes(files["ens"].read_bytes()[:300])
    link = tmp_path / "link"
    target = files["model"] if argv[0] == "evaluate" else files["ens"]
    link.symlink_to(target)
    subst = {k: str(v) for k, v in files.items()} | {
        "tmp": str(tmp_path),
        "link": str(link),
    }
    argv = [a.format(**subst) for a in argv]
    inputs_before = _tree(files["ens"].parent)
    tmp_before = _tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert option in lines[0], err
    assert "Traceback" not in err
    assert _tree(files["ens"].parent) == inputs_before
    assert _tree(tmp_path) == tmp_before  # nothing left behind, nothing changed


def test_matrix_as_a_subprocess(files, tmp_path):
    """The console entry point too: no traceback, inputs intact (--out = --data)."""
    before = files["ens"].read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "dbdviz", "train", "--data", str(files["ens"])]
        + ["--out", str(files["ens"])],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "--out" in r.stderr
    assert files["ens"].read_bytes() == before


# --------------------------------------------------------------------------------
# Paths and files
# --------------------------------------------------------------------------------


def test_check_outputs_names_the_option(tmp_path):
    a = tmp_path / "a.npz"
    a.write_bytes(b"x")
    with pytest.raises(OutputPathError, match="^--out: .* is the input --data"):
        check_outputs({"--out": a}, {"--data": a})
    hard = tmp_path / "hard.npz"
    os.link(a, hard)
    with pytest.raises(OutputPathError, match="input --data"):
        check_outputs({"--out": hard}, {"--data": a})
    with pytest.raises(OutputPathError, match="^--checkpoint: .* is also --out"):
        check_outputs({"--out": tmp_path / "m", "--checkpoint": tmp_path / "m"})
    ok = check_outputs({"--out": tmp_path / "m", "--checkpoint": None})
    assert list(ok) == ["--out"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_honour_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_npz(tmp_path / "a.npz", {"x": np.zeros(3)}, kind="test")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.npz").st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_overwritten_file_keeps_its_mode(tmp_path, mode):
    p = tmp_path / "a.npz"
    save_npz(p, {"x": np.zeros(3)}, kind="test")
    os.chmod(p, mode)
    save_npz(p, {"x": np.ones(3)}, kind="test")
    assert stat.S_IMODE(os.stat(p).st_mode) == mode
    assert load_npz(p)[0]["x"].tolist() == [1.0, 1.0, 1.0]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError):
        with atomic_write(tmp_path / "d") as tmp:
            Path(tmp).write_text("x")
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "e.csv") as tmp:
            Path(tmp).write_text("x")
            raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_crafted_npz_refused_before_decompressing(tmp_path):
    from dbdviz.io import FileFormatError
    from dbdviz.simulate import Ensemble

    p = tmp_path / "c.npz"
    _crafted_ensemble(p, 10**12)
    assert p.stat().st_size < 10_000
    with pytest.raises(MemoryLimitError, match="would need .* GiB but"):
        Ensemble.load(p)
    # a header that fits but does not match the data is a format error, not a crash
    _crafted_ensemble(p, 4)
    with pytest.raises(FileFormatError):
        Ensemble.load(p)


# --------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------


def _sim(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["simulate", *SMALL, "--no-snapshots", *extra, "--out", str(out)]) == 0
    from dbdviz.simulate import Ensemble

    return Ensemble.load(out)


def test_seeds_are_exact_integers(tmp_path):
    a = _sim(tmp_path, "a.npz", "--seed", str(2**53))
    b = _sim(tmp_path, "b.npz", "--seed", str(2**53 + 1))
    assert a.seed == 2**53 and b.seed == 2**53 + 1
    assert not np.array_equal(a.observables, b.observables)
    top = _sim(tmp_path, "c.npz", "--seed", MAXSEED)
    assert top.seed == 2**63 - 1
    assert _sim(tmp_path, "d.npz", "--seed", "1e3").seed == 1000


def test_api_drawn_seed_replays_through_the_cli(tmp_path):
    from dbdviz.config import preset
    from dbdviz.simulate import simulate

    cfg = preset("paper", size=8, init_x=6, init_y=6, steps=6, replicates=4)
    ens = simulate(cfg.copy(seed=None, snapshots=False))
    assert ens.seed >= 2**53  # drawn from 63 bits: almost surely beyond a float
    again = _sim(tmp_path, "r.npz", "--seed", str(ens.seed))
    assert again.seed == ens.seed
    np.testing.assert_array_equal(again.observables, ens.observables)


# --------------------------------------------------------------------------------
# API checks
# --------------------------------------------------------------------------------


def test_api_rejects_booleans_and_fractional_threads():
    from dbdviz.config import LatticeLV
    from dbdviz.simulate import simulate

    with pytest.raises(ValueError, match="^predation = True is not a number"):
        LatticeLV(predation=True)
    small = LatticeLV(size=6, init_x=3, init_y=3, steps=3, replicates=2, seed=0)
    for bad in (2.7, True, 0, max_threads() + 1):
        with pytest.raises(ValueError, match=r"^threads = .* allowed an integer in"):
            simulate(small, threads=bad)


def test_memory_refused_with_the_estimate_and_what_is_free():
    from dbdviz.config import LatticeLV
    from dbdviz.simulate import check_memory, memory_estimate

    cfg = LatticeLV(size=3, init_x=1, init_y=1, replicates=1_000_000, steps=900)
    cfg = cfg.copy(snapshots=False)
    assert memory_estimate(cfg) == 1_000_000 * (901 * len(OBSERVABLES) * 8 + 32)
    avail = available_bytes()
    assert avail is not None and avail > 0
    big = cfg.copy(steps=1_000_000)
    with pytest.raises(MemoryLimitError, match=r"would need .* GiB but .* available"):
        check_memory(big)


# --------------------------------------------------------------------------------
# Servers: only this machine, only its own names
# --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _own_non_loopback_ip() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent
        except OSError:
            return None
        ip = s.getsockname()[0]
    return None if ip.startswith("127.") else ip


def _get(url: str, host: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _serve(argv: list[str], port: int, log: Path):
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        argv, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=REPO
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start: " + log.read_text())


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("how", ["dbdviz serve", "panel serve"])
def test_server_answers_only_this_machine(how, tmp_path):
    port = _free_port()
    if how == "dbdviz serve":
        argv = [sys.executable, "-m", "dbdviz", "serve", "--port", str(port)]
    else:
        argv = [sys.executable, "-m", "panel", "serve", "apps/dashboard.py"]
        argv += ["--port", str(port)]
    log = tmp_path / "server.log"
    proc = _serve(argv, port, log)
    try:
        base = f"http://127.0.0.1:{port}/dashboard"
        # a foreign Host header (DNS rebinding) first: no session
        code, body = _get(base, host=f"attacker.example:{port}")
        assert "<title>dbdviz</title>" not in body
        # panel serve without --setup: its first request reaches the app script,
        # which refuses it (a one-line pane, no dashboard) and installs the guard
        assert code == 403 or how == "panel serve"
        code, body = _get(base, host=f"attacker.example:{port}")
        assert code == 403 and "Host" in body
        ip = _own_non_loopback_ip()
        if how == "panel serve":  # listens on every interface: ask from outside
            assert ip is not None, "no non-loopback address to test from"
            code, body = _get(f"http://{ip}:{port}/dashboard")
            assert code == 403 and "not on this machine" in body
        else:  # listens on 127.0.0.1 only
            if ip is not None:
                with socket.socket() as s:
                    assert s.connect_ex((ip, port)) != 0
        code, body = _get(base, host=f"localhost:{port}")
        assert code == 200 and "<title>dbdviz</title>" in body
    finally:
        _stop(proc)
    text = log.read_text()
    assert text.count("dbdviz session created") == 1, text  # the localhost one
    if how == "panel serve":
        assert text.count("dbdviz session refused") == 1, text
    assert "Traceback" not in text


def test_serve_port_in_use_exits_2(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = main(["serve", "--port", str(port), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--port" in err
    assert "in use" in err


def test_guard_policy_and_origins():
    """The rules behind the servers' answers, request by request."""
    pytest.importorskip("tornado")
    from types import SimpleNamespace

    from tornado.httputil import HTTPHeaders

    from dbdviz.ui.guard import Policy, policy_from_command_line, refusal

    def req(ip, host, origin=None):
        h = HTTPHeaders({"Host": host} | ({"Origin": origin} if origin else {}))
        return SimpleNamespace(remote_ip=ip, headers=h)

    local = Policy()
    assert refusal(req("127.0.0.1", "localhost:5006"), local) is None
    assert refusal(req("::1", "[::1]:5006"), local) is None
    assert (
        refusal(req("127.0.0.1", "127.0.0.1:5006", "http://localhost:5006"), local)
        is None
    )
    assert (
        refusal(req("127.0.0.1", "localhost:5006", "http://localhost:5006"), local)
        is None
    )
    assert "not this machine" in refusal(req("127.0.0.1", "evil.example:5006"), local)
    assert "Origin" in refusal(
        req("127.0.0.1", "localhost:5006", "http://evil.example"), local
    )
    assert "not on this machine" in refusal(req("192.0.2.7", "localhost"), local)
    # opting in: --address, --allow-websocket-origin, DBDVIZ_ALLOW_HOSTS
    pol = policy_from_command_line(
        ["serve", "x.py", "--address", "0.0.0.0", "--allow-websocket-origin", "lab:80"],
        {"DBDVIZ_ALLOW_HOSTS": "box.lan"},
    )
    assert pol.remote and pol.hosts == {"lab", "box.lan"}
    assert refusal(req("192.0.2.7", "lab:80"), pol) is None
    assert refusal(req("192.0.2.7", "box.lan:5006"), pol) is None
    assert refusal(req("192.0.2.7", "192.0.2.2:5006"), pol) is None
    assert refusal(req("192.0.2.7", "evil.example"), pol) is not None
    assert not policy_from_command_line(["--address", "127.0.0.1"], {}).remote


# --------------------------------------------------------------------------------
# Served sessions: limits, exact seeds
# --------------------------------------------------------------------------------


def _waiting_job(name="wait"):
    from dbdviz.ui.jobs import Job

    def work(cancel, emit):
        cancel.wait(30)

    return Job(name, work, lambda recs: None, lambda state, err: None).start()


def test_served_session_limits():
    pytest.importorskip("panel")
    from dbdviz.config import ServeLimits
    from dbdviz.ui.app import App

    app = App()
    s = app.session
    assert s.limits is None  # a notebook: no limits
    s.limits = ServeLimits(max_replicates=5, max_size=10, max_jobs_session=1)
    s.config.param.update(replicates=6)
    msg = app.model.check()
    assert "limit of 5" in msg and app.model.alert.visible
    assert app.model.simulate() is None
    s.config.param.update(replicates=5, size=12, init_x=10, init_y=10)
    assert "Lattice size = 12 exceeds this server's limit of 10" in app.model.check()
    s.config.param.update(size=10)
    assert app.model.check() is None
    # jobs: one per session here, then the server's limit over sessions
    job = s.add_job(_waiting_job())
    try:
        assert app.model.simulate() is None
        assert "at most 1 at once" in app.model.alert.object
        other = App()
        other.session.limits = ServeLimits(max_jobs_server=1)
        assert "over all sessions" in other.session.job_refusal()
    finally:
        job.stop()
        job._thread.join(10)
    assert s.job_refusal() is None


def test_serve_limits_from_the_environment():
    from dbdviz.config import ServeLimits

    lim = ServeLimits.from_environment({"DBDVIZ_MAX_REPLICATES": "50"})
    assert lim.max_replicates == 50 and lim.max_size == ServeLimits().max_size
    with pytest.raises(ValueError, match="DBDVIZ_MAX_SIZE = 'x' is not an integer"):
        ServeLimits.from_environment({"DBDVIZ_MAX_SIZE": "x"})


def test_dashboard_seed_is_exact():
    pytest.importorskip("panel")
    from dbdviz.ui.app import App

    app = App()
    w = app.model.settings._widgets["seed"]
    w._process_events({"value": str(2**63 - 1)})  # as the browser sends it
    assert app.session.config.seed == 2**63 - 1
    w._process_events({"value": str(2**53 + 1)})
    assert app.session.config.seed == 2**53 + 1
    t = app.training.train_settings._widgets["seed"]
    t._process_events({"value": str(2**62 + 3)})
    assert app.session.train_config.seed == 2**62 + 3
    t = (
        app.training.settings._widgets["seed"]
        if hasattr(app.training, "settings")
        else None
    )
    if t is not None:
        t._process_events({"value": str(2**62 + 3)})
        assert app.session.train_config.seed == 2**62 + 3


# --------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------


def _interrupt_after_progress(argv: list[str], marker: str, cwd: Path):
    """Start the CLI, send SIGINT once ``marker`` is on stderr; (code, seconds
    from the signal to the exit, stderr)."""
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "dbdviz", *argv],
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            break
    time.sleep(0.5)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    code = proc.wait(timeout=120)
    return code, time.perf_counter() - t0, "".join(seen) + rest


def test_ctrl_c_stops_simulate_promptly(tmp_path):
    out = tmp_path / "e.npz"
    argv = ["simulate", "--size", "100", "--init-x", "600", "--init-y", "600"]
    argv += ["--replicates", "5000", "--no-snapshots", "--out", str(out)]
    code, seconds, err = _interrupt_after_progress(argv, "/5000", tmp_path)
    assert code == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert seconds < 10, (
        seconds
    )  # generous; measured 0.04-0.45 s (benchmarks/RESULTS.md)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------
# Resume: the same data, the same settings, bit for bit after Ctrl-C
# --------------------------------------------------------------------------------

TRAIN_DATA = ["--size", "10", "--init-x", "8", "--init-y", "8", "--steps", "12"]
TRAIN_DATA += ["--replicates", "6", "--quiet"]


@pytest.fixture(scope="module")
def train_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("train")
    for name, seed in (("d.npz", "2"), ("other.npz", "5")):
        assert (
            main(["simulate", *TRAIN_DATA, "--seed", seed, "--out", str(d / name)]) == 0
        )
    return d


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "meta"}


def test_resume_refuses_other_data_and_conflicting_options(
    train_files, tmp_path, capsys
):
    d = train_files
    ck = tmp_path / "ck.npz"
    base = ["train", "--opt-steps", "3", "--no-refine", "--quiet", "--lr", "1e-05"]
    code = main(
        [*base, "--data", str(d / "d.npz"), "--checkpoint", str(ck)]
        + ["--checkpoint-every", "1", "--out", str(tmp_path / "m.npz")]
    )
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    before = ck.read_bytes()
    resume = ["train", "--resume", str(ck), "--out", str(tmp_path / "m2.npz")]
    code = main([*resume, "--data", str(d / "other.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "--resume" in err and "trained on other data" in err and "seed 2" in err
    for opt, value in (
        ("--lr", "0.001"),
        ("--depth", "1"),
        ("--opt-steps", "9"),
        ("--seed", "4"),
    ):
        code = main([*resume, "--data", str(d / "d.npz"), opt, value])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert f"{opt} = " in err and "checkpoint:" in err, err
    assert ck.read_bytes() == before
    assert not (tmp_path / "m2.npz").exists()
    # the checkpoint's own values are fine
    code = main([*resume, "--data", str(d / "d.npz"), "--lr", "1e-05", "--quiet"])
    assert code == 0, capsys.readouterr().err


def test_ctrl_c_checkpoint_resumes_bit_for_bit(train_files, tmp_path):
    data = str(train_files / "d.npz")
    args = ["--data", data, "--opt-steps", "3000", "--no-refine", "--seed", "7"]
    full = tmp_path / "full.npz"
    assert main(["train", *args, "--quiet", "--out", str(full)]) == 0
    ck, out = tmp_path / "ck.npz", tmp_path / "m.npz"
    code, seconds, err = _interrupt_after_progress(
        ["train", *args, "--checkpoint", str(ck), "--checkpoint-every", "100000"]
        + ["--out", str(out)],
        "train: ",
        tmp_path,
    )
    assert code == 130 and "checkpoint saved" in err and "Traceback" not in err, err
    assert seconds < 10, seconds  # generous; one step here is milliseconds
    assert not out.exists()
    step = int(err.split("interrupted after step ")[1].split()[0])
    assert 0 < step < 3000, err
    assert (
        main(
            ["train", "--data", data, "--resume", str(ck), "--quiet"]
            + ["--out", str(out)]
        )
        == 0
    )
    a, b = _npz_arrays(full), _npz_arrays(out)
    assert a.keys() == b.keys()
    for k in a:
        if k != "history_elapsed":  # wall-clock seconds
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# --------------------------------------------------------------------------------
# A poor fit is never silent
# --------------------------------------------------------------------------------


def test_poor_fit_warns_even_when_quiet(train_files, tmp_path, capsys):
    from dbdviz.dbd import DBDModel

    dying = tmp_path / "dying.npz"  # the predators die out within a few steps
    sim = ["simulate", *TRAIN_DATA, "--death", "2", "--seed", "3"]
    assert main([*sim, "--out", str(dying)]) == 0
    out = tmp_path / "m.npz"
    train = ["train", "--data", str(dying), "--opt-steps", "5", "--no-refine"]
    code = main([*train, "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "warning: poor fit" in lines[0], err
    fit = DBDModel.load(out).meta["fit"]
    assert fit["poor"] and fit["error"] > fit["threshold"] == 0.2
    assert set(fit["per_observable"]) == {"X", "Y", "nnXX", "nnXY", "nnYY"}
    # the threshold is an option; below it --quiet is silent
    code = main([*train, "--quiet", "--fit-warning", "1e5", "--out", str(out)])
    assert code == 0 and capsys.readouterr().err == ""
    assert DBDModel.load(out).meta["fit"]["poor"] is False


def test_dashboard_shows_a_poor_fit():
    pytest.importorskip("panel")
    import copy
    from types import SimpleNamespace

    from dbdviz.config import LatticeLV
    from dbdviz.simulate import simulate
    from dbdviz.ui.app import App

    app = App()
    ens = simulate(LatticeLV(size=8, init_x=6, init_y=6, steps=6, replicates=4))
    app.session.simulation = ens.moments()
    good = SimpleNamespace(table=ens.moments())
    model = SimpleNamespace(meta={})
    fit = app.training._check_fit(good, model)
    assert fit["error"] == 0.0 and not fit["poor"] and model.meta["fit"] is fit
    assert not app.training.alert.visible
    bad_table = copy.deepcopy(ens.moments())
    for k in bad_table.mean:
        bad_table.mean[k] = bad_table.mean[k] * 2.0
    fit = app.training._check_fit(SimpleNamespace(table=bad_table), model)
    # by hand: model - data = data, so per observable RMS(data) / mean |data|
    want = np.mean(
        [
            np.sqrt(np.mean(m**2)) / np.mean(np.abs(m))
            for m in (ens.moments().mean[o] for o in ("X", "Y", "nnXX", "nnXY", "nnYY"))
        ]
    )
    assert fit["poor"] and abs(fit["error"] - want) < 1e-12
    assert app.training.alert.visible and "Poor fit" in app.training.alert.object


def test_moment_table_refused_before_copying():
    """A huge ensemble (here a zero-copy broadcast view) is refused before the
    float64 copy moment_table would make."""
    from dbdviz.config import LatticeLV
    from dbdviz.simulate import Ensemble

    obs = np.broadcast_to(np.int64(0), (10**9, 7, len(OBSERVABLES)))
    cfg = LatticeLV(size=8, init_x=6, init_y=6, steps=6, replicates=4)
    ens = Ensemble(cfg, 0, np.arange(7.0), obs, None)
    with pytest.raises(MemoryLimitError, match="moment table of 1000000000 replicates"):
        ens.moments()
