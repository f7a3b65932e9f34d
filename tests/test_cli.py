"""The command line through ``main([...])`` (CONTRACTS.md, "Command line")."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from dbdviz.cli import main
from dbdviz.moments import CONTRACT_OBSERVABLES, read_moment_table

SMALL = [
    "--size",
    "10",
    "--init-x",
    "8",
    "--init-y",
    "8",
    "--steps",
    "30",
    "--replicates",
    "6",
]


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "cmd",
    [
        "simulate",
        "moments",
        "closure",
        "train",
        "evaluate",
        "predict",
        "sweep",
        "serve",
    ],
)
def test_every_subcommand_has_help(capsys, cmd):
    code, out, _ = _run(capsys, [cmd, "--help"])
    assert code == 0 and "usage: dbdviz " + cmd in out


def test_simulate_moments_roundtrip(tmp_path, capsys):
    ens = tmp_path / "e.npz"
    code, _, err = _run(capsys, ["simulate", *SMALL, "--seed", "3", "--out", str(ens)])
    assert code == 0, err
    assert "simulate" in err  # progress / summary on stderr
    csv = tmp_path / "m.csv"
    code, _, err = _run(capsys, ["moments", str(ens), "--out", str(csv), "--quiet"])
    assert code == 0 and err == ""
    head = csv.read_text().splitlines()[0].split(",")
    want = ["t", "n"] + [
        f"{p}_{o}" for o in CONTRACT_OBSERVABLES for p in ("mean", "sd")
    ]
    assert head[: len(want)] == want
    tab = read_moment_table(csv)
    assert (
        tab.n == 6
        and len(tab.t) == 31
        and tab.mean["X"][0] == 8
        and tab.sd["X"][0] == 0
    )

    from dbdviz.simulate import Ensemble

    e = Ensemble.load(ens)
    assert e.config.size == 10 and e.seed == 3 and e.snapshots is not None
    # same seed, same file content
    ens2 = tmp_path / "e2.npz"
    assert main(["simulate", *SMALL, "--seed", "3", "--quiet", "--out", str(ens2)]) == 0
    assert np.array_equal(Ensemble.load(ens2).observables, e.observables)


def test_no_snapshots(tmp_path, capsys):
    ens = tmp_path / "e.npz"
    assert (
        main(["simulate", *SMALL, "--no-snapshots", "--quiet", "--out", str(ens)]) == 0
    )
    from dbdviz.simulate import Ensemble

    assert Ensemble.load(ens).snapshots is None


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--birth", "-1"], "--birth = -1.0 is out of range: allowed [0, 10]"),
        (["--death", "-0.5"], "--death"),
        (["--predation", "1.5"], "--predation = 1.5 is out of range: allowed [0, 1]"),
        (["--predation", "nan"], "--predation = nan is not finite: allowed [0, 1]"),
        (["--size", "2"], "--size = 2 is out of range: allowed [3, 1000]"),
        (
            ["--init-x", "1000", "--init-y", "601"],
            "allowed init_x + init_y in [0, 1600]",
        ),
        (["--steps", "0"], "--steps = 0 is out of range"),
        (["--replicates", "-2"], "--replicates = -2 is out of range"),
        (
            ["--birth", "abc"],
            "argument --birth: 'abc' is not a number: allowed [0, 10]",
        ),
        (["--preset", "nope"], "argument --preset: invalid choice"),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, capsys, argv, needle):
    out = tmp_path / "never.npz"
    code, _, err = _run(capsys, ["simulate", *argv, "--out", str(out)])
    assert code == 2
    assert needle in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_and_foreign_files(tmp_path, capsys):
    code, _, err = _run(
        capsys,
        ["moments", str(tmp_path / "none.npz"), "--out", str(tmp_path / "m.csv")],
    )
    assert code == 2 and "no such file" in err
    foreign = tmp_path / "f.npz"
    np.savez(foreign, x=np.arange(3))
    code, _, err = _run(
        capsys, ["moments", str(foreign), "--out", str(tmp_path / "m.csv")]
    )
    assert code == 2 and "not a dbdviz file" in err
    code, _, err = _run(capsys, ["simulate", "--out", str(tmp_path / "no" / "dir.npz")])
    assert code == 2 and "folder does not exist" in err


@pytest.mark.parametrize("method", ["mean-field", "pair"])
def test_closure_writes_contract_table(tmp_path, capsys, method):
    out = tmp_path / "c.csv"
    code, _, err = _run(
        capsys, ["closure", "--method", method, "--steps", "50", "--out", str(out)]
    )
    assert code == 0, err
    tab = read_moment_table(out)
    assert tab.n is None and tab.sd == {} and len(tab.t) == 51
    assert tab.mean["X"][0] == 100 and tab.mean["Y"][0] == 100


def test_closure_bad_method(capsys, tmp_path):
    code, _, err = _run(
        capsys, ["closure", "--method", "triplet", "--out", str(tmp_path / "c.csv")]
    )
    assert code == 2 and "mean-field" in err


def test_python_dash_m_entry_point(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dbdviz",
            "simulate",
            "--size",
            "1",
            "--out",
            str(tmp_path / "x.npz"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "--size = 1 is out of range" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "dbdviz", "--version"], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout.startswith("dbdviz ")


def test_train_defaults_and_evaluate(tmp_path, capsys):
    """`train` with only --data/--out uses the measured defaults; `evaluate` samples the
    model with the procedure it was trained for and writes the contract table."""
    from dbdviz.dbd import DBDModel
    from dbdviz.dbd.train import default_configs

    ens = tmp_path / "d.npz"
    assert (
        main(
            [
                "simulate",
                "--size",
                "12",
                "--init-x",
                "9",
                "--init-y",
                "9",
                "--steps",
                "12",
                "--replicates",
                "8",
                "--seed",
                "1",
                "--quiet",
                "--out",
                str(ens),
            ]
        )
        == 0
    )
    model = tmp_path / "m.npz"
    code, _, err = _run(capsys, ["train", "--data", str(ens), "--out", str(model)])
    assert code == 0, err
    m = DBDModel.load(model)
    d_dbm, d_train = default_configs()
    assert m.dbm_config.to_dict() == d_dbm.to_dict()
    assert m.meta["refine"]["method"] == "static"  # depth 0: refined by default
    assert m.horizon == 12 and m.theta.shape == (13, len(m.param_names))
    out = tmp_path / "l.csv"
    code, _, err = _run(
        capsys, ["evaluate", str(model), "--chains", "5", "--out", str(out)]
    )
    assert code == 0, err
    tab = read_moment_table(out)
    assert tab.n == 5 and len(tab.t) == 13 and np.all(np.isfinite(tab.mean["X"]))
    # the reference's edge padding of the low-pass filter is one option away
    out_e = tmp_path / "le.csv"
    args = ["evaluate", str(model), "--chains", "5", "--lowpass-taps", "5"]
    args += ["--lowpass-padding", "edge"]
    code, _, err = _run(capsys, [*args, "--out", str(out_e)])
    assert code == 0, err
    out_o = tmp_path / "lo.csv"
    code, _, err = _run(capsys, [*args[:-1], "odd", "--out", str(out_o)])
    assert code == 0, err
    assert not np.allclose(
        read_moment_table(out_e).mean["X"], read_moment_table(out_o).mean["X"]
    )
    code, _, err = _run(capsys, [*args[:-1], "zeros", "--out", str(out_e)])
    assert code == 2 and "lowpass-padding" in err

    # overrides apply on top of the defaults
    model2 = tmp_path / "m2.npz"
    code, _, err = _run(
        capsys,
        [
            "train",
            "--data",
            str(ens),
            "--depth",
            "1",
            "--opt-steps",
            "3",
            "--quiet",
            "--out",
            str(model2),
        ],
    )
    assert code == 0, err
    m2 = DBDModel.load(model2)
    assert (
        m2.dbm_config.depth == 1
        and m2.dbm_config.visible_couplings == d_dbm.visible_couplings
    )


def test_train_rejects_snapshotless_data(tmp_path, capsys):
    ens = tmp_path / "d.npz"
    assert (
        main(["simulate", *SMALL, "--no-snapshots", "--quiet", "--out", str(ens)]) == 0
    )
    code, _, err = _run(
        capsys, ["train", "--data", str(ens), "--out", str(tmp_path / "m.npz")]
    )
    assert code == 2 and "no snapshots" in err
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--lr", "-1", "--out", str(tmp_path / "m.npz")],
    )
    assert code == 2 and "--lr = -1" in err


def test_train_refine(tmp_path, capsys):
    """`train` refines depth-0 closures as the trainer's last phase (--refine /
    --no-refine, depth 0 only); progress and checkpoints cover both phases; the
    result is the API's (Trainer with the same settings)."""
    from dbdviz.dbd import DBDModel, Trainer
    from dbdviz.dbd.train import default_configs
    from dbdviz.simulate import Ensemble

    ens = tmp_path / "d.npz"
    sim = ["simulate", "--size", "10", "--init-x", "8", "--init-y", "8"]
    sim += ["--steps", "12", "--replicates", "6", "--seed", "2", "--quiet"]
    assert main([*sim, "--out", str(ens)]) == 0
    model, ck = tmp_path / "m.npz", tmp_path / "ck.npz"
    short = ["--opt-steps", "3", "--refine-iterations", "2", "--refine-chains", "4"]
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), *short, "--refine", "--out", str(model)]
        + ["--checkpoint", str(ck), "--checkpoint-every", "4"],
    )
    assert code == 0, err
    assert "3 optimisation steps + 3 refinement steps" in err
    assert "train: 3/3" in err and "refine: 3/3" in err
    m = DBDModel.load(model)
    rm = m.meta["refine"]
    assert rm["method"] == "static"
    assert (rm["iterations"], rm["chains"]) == (2, 4)
    # two iterations with 4 chains leave the path further from the data than the
    # adjoint-trained one: the check rejects it and says so
    assert rm["accepted"] is False and rm["error_after"] > rm["error_before"]
    assert "refinement rejected" in err and "adjoint-trained closure is kept" in err
    # the same closure as the API's (seed 0, the CLI's default) ...
    _, tc = default_configs(
        opt_steps=3, refine="on", refine_iterations=2, refine_chains=4
    )
    api = Trainer(Ensemble.load(ens), train_config=tc).run()
    np.testing.assert_array_equal(m.theta, api.theta)
    # ... which, rejected, is the adjoint-trained closure, evaluated as such
    _, tc_off = default_configs(opt_steps=3, refine="off")
    off = Trainer(Ensemble.load(ens), train_config=tc_off).run()
    np.testing.assert_array_equal(m.theta, off.theta)
    assert m.meta["evaluate"] == off.meta["evaluate"]
    # the checkpoint of step 4 (the first refinement iteration) resumes to it
    resumed = tmp_path / "mr.npz"
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--resume", str(ck), "--out", str(resumed)],
    )
    assert code == 0, err
    assert "refine: 2/3" in err
    assert not any(line.startswith("train:") for line in err.splitlines())
    np.testing.assert_array_equal(DBDModel.load(resumed).theta, m.theta)
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--depth", "2", "--opt-steps", "2"]
        + ["--refine", "--quiet", "--out", str(tmp_path / "m1.npz")],
    )
    assert code == 2 and "--refine" in err and "depth" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m1.npz").exists()
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--no-refine", *short]
        + ["--out", str(tmp_path / "m0.npz")],
    )
    assert code == 0, err
    assert "refine" not in DBDModel.load(tmp_path / "m0.npz").meta
    assert "refine:" not in err and "refinement steps" not in err
    # on resume the switch replaces the checkpoint's setting before its refinement
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), *short, "--no-refine", "--checkpoint", str(ck)]
        + ["--checkpoint-every", "2", "--quiet", "--out", str(tmp_path / "m0.npz")],
    )
    assert code == 0, err
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--resume", str(ck), "--refine", "--quiet"]
        + ["--out", str(resumed)],
    )
    assert code == 0, err
    np.testing.assert_array_equal(DBDModel.load(resumed).theta, m.theta)
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), *short, "--checkpoint", str(ck)]
        + ["--checkpoint-every", "5", "--quiet", "--out", str(resumed)],
    )
    assert code == 0, err
    code, _, err = _run(
        capsys,
        ["train", "--data", str(ens), "--resume", str(ck), "--no-refine", "--quiet"]
        + ["--out", str(resumed)],
    )
    assert code == 2 and "--refine" in err and "refinement phase" in err
    assert len(err.strip().splitlines()) == 1


def test_train_help_states_the_defaults_data_out_uses(capsys):
    """`dbdviz train --help` states, for every option, the default that `--data`
    and `--out` alone use (issue 12: one default per parameter)."""
    import re

    from dbdviz.cli import DBM_OPTIONS, _configs_from_args, build_parser
    from dbdviz.config import DBMConfig, TrainConfig

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    entries = {}
    for chunk in re.split(r"\n(?=  --)", out):
        m = re.match(r"  --([a-z][a-z-]*)", chunk)
        if m:
            entries[m.group(1)] = " ".join(chunk.split())
    args = build_parser().parse_args(["train", "--data", "d.npz", "--out", "m.npz"])
    dbm, tr = _configs_from_args(args)
    used = {**dbm.to_dict(), **tr.to_dict()}
    names = list(DBM_OPTIONS) + [n for n in TrainConfig.public_names() if n != "refine"]
    assert (
        len(names)
        == len(DBMConfig.public_names()) + len(TrainConfig.public_names()) - 1
    )
    from dbdviz.config import depth_defaults

    following = set(depth_defaults(0)[0]) | set(depth_defaults(0)[1])
    for n in names:
        entry = entries[n.replace("_", "-")]
        if n in following:  # "default by depth: q3c1 (depth 0, 1), q1 (depth 2, 3)."
            for d in range(4):
                v = {**depth_defaults(d)[0], **depth_defaults(d)[1]}[n]
                stated = re.search(rf"(\S+) \(depth [0-9, ]*\b{d}\b[0-9, ]*\)", entry)
                assert stated is not None and stated.group(1) == str(v), (n, d)
            continue
        stated = re.search(r"default (\S+)\.$", entry)
        assert stated is not None, n
        assert stated.group(1) == str(used[n]), n
    # the --refine switch: "on for fully visible machines (depth 0)", which it is
    assert "Default: on for fully visible machines (depth 0)" in entries["refine"]
    assert used["refine"] == "auto" and dbm.depth == 0 and tr.refines(dbm.depth)
    # and those are the param defaults: one definition
    assert dbm.to_dict() == DBMConfig().to_dict()
    assert tr.to_dict() == TrainConfig().to_dict()


def test_train_protocol_option_gives_the_named_protocol(tmp_path, capsys):
    """`--protocol equilibrium` trains with the API's equilibrium_configs(), the
    options given override it; a named protocol with --resume or several --data,
    and an unknown name, are refused (exit 2, one line)."""
    from dbdviz.cli import _configs_from_args, build_parser
    from dbdviz.config import equilibrium_configs, reference_configs

    def configs(*extra):
        argv = ["train", "--data", "d.npz", "--out", "m.npz", *extra]
        return _configs_from_args(build_parser().parse_args(argv))

    for name, api in (
        ("equilibrium", equilibrium_configs),
        ("reference", reference_configs),
    ):
        dbm, tr = configs("--protocol", name)
        a_dbm, a_tr = api()
        assert dbm.to_dict() == a_dbm.to_dict() and tr.to_dict() == a_tr.to_dict()
    dbm, tr = configs("--protocol", "equilibrium")
    assert (tr.refine_init, tr.refine_sweeps) == ("data", 30)

    def as_dicts(pair):
        return [c.to_dict() for c in pair]

    assert as_dicts(configs("--protocol", "default")) == as_dicts(configs())
    assert as_dicts(configs("--protocol", "default", "--depth", "1")) == as_dicts(
        configs("--depth", "1")
    )
    assert configs()[1].refine_init == "random"
    _, tr = configs("--protocol", "equilibrium", "--refine-sweeps", "12")
    assert (tr.refine_init, tr.refine_sweeps) == ("data", 12)
    ck = tmp_path / "ck.npz"
    ck.write_bytes(b"")
    for argv, needle in (
        (["--protocol", "equilibrium", "--resume", str(ck)], "--protocol"),
        (["--protocol", "equilibrium", "--data", "e.npz"], "--protocol"),
        (["--protocol", "boltzmann"], "--protocol"),
    ):
        base = [
            "train",
            "--data",
            str(tmp_path / "d.npz"),
            "--out",
            str(tmp_path / "m.npz"),
        ]
        code, _, err = _run(capsys, base + argv)
        assert code == 2 and needle in err, (argv, err)
        assert len(err.strip().splitlines()) == 1, err


# -- outputs equal to the API's, seeds reproduce ---------------------------------------


@pytest.mark.parametrize("method", ["mean-field", "pair"])
def test_closure_output_equals_the_api(tmp_path, capsys, method):
    from dbdviz.closures import solve
    from dbdviz.config import preset

    out = tmp_path / "c.csv"
    argv = ["closure", "--method", method, "--steps", "40", "--predation", "0.8"]
    code, _, err = _run(capsys, [*argv, "--out", str(out)])
    assert code == 0, err
    tab = read_moment_table(out)
    api = solve(method, preset("paper", steps=40, predation=0.8))
    assert set(tab.mean) == set(api.mean)
    for o in api.mean:  # written with repr: the same floats
        np.testing.assert_array_equal(tab.mean[o], api.mean[o], err_msg=o)


def test_train_and_evaluate_seeds_reproduce_and_equal_the_api(tmp_path, capsys):
    """``train --seed`` twice: the same model; ``evaluate --seed`` twice: the same
    table, equal to the API's ``evaluate`` with the same seed; another seed differs."""
    from dbdviz.dbd import DBDModel, evaluate

    ens = tmp_path / "d.npz"
    sim = ["simulate", "--size", "8", "--init-x", "6", "--init-y", "6"]
    sim += ["--steps", "8", "--replicates", "6", "--seed", "3", "--quiet"]
    assert main([*sim, "--out", str(ens)]) == 0
    train = ["train", "--data", str(ens), "--opt-steps", "3", "--no-refine"]
    models = []
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        path = tmp_path / f"{name}.npz"
        code, _, err = _run(capsys, [*train, "--seed", seed, "--out", str(path)])
        assert code == 0, err
        models.append(DBDModel.load(path))
    np.testing.assert_array_equal(models[0].theta, models[1].theta)
    assert not np.array_equal(models[0].theta, models[2].theta)
    tables = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / f"e{name}.csv"
        argv = ["evaluate", str(tmp_path / "a.npz"), "--chains", "6", "--seed", seed]
        code, _, err = _run(capsys, [*argv, "--out", str(out)])
        assert code == 0, err
        tables.append(read_moment_table(out))
    api = evaluate(models[0], chains=6, seed=7).table
    for o in ("X", "Y", "nnXY"):
        np.testing.assert_array_equal(tables[0].mean[o], tables[1].mean[o])
        np.testing.assert_array_equal(tables[0].mean[o], api.mean[o])
    assert not np.array_equal(tables[0].mean["X"], tables[2].mean["X"])
