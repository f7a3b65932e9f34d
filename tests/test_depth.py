"""Settings per DBM depth (DEPTH_DEFAULTS) and the refusal of combinations that
cannot train: config, CLI and the dashboard's training panel."""

from __future__ import annotations

import pytest

from dbdviz.cli import main
from dbdviz.config import (
    DEPTH_DEFAULTS,
    DBMConfig,
    TrainConfig,
    depth_configs,
    depth_defaults,
    depth_parameters,
    training_error,
)


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("depth") / "d.npz"
    sim = ["simulate", "--size", "8", "--init-x", "6", "--init-y", "6"]
    sim += ["--steps", "6", "--replicates", "4", "--seed", "3", "--quiet"]
    assert main([*sim, "--out", str(path)]) == 0
    return path


# ------------------------------------------------------------------------------------
# config
# ------------------------------------------------------------------------------------


def test_every_depth_has_trainable_defaults():
    assert sorted(DEPTH_DEFAULTS) == [0, 1, 2, 3]
    assert DEPTH_DEFAULTS[0] == ({}, {})  # depth 0's are the param defaults
    dbm_names, train_names = depth_parameters()
    for d in range(4):
        dbm, train = depth_configs(d)
        assert dbm.depth == d
        assert training_error(dbm, train) is None
        d_dbm, d_train = depth_defaults(d)
        assert set(d_dbm) == set(dbm_names) and set(d_train) == set(train_names)
        for n, v in {**d_dbm, **d_train}.items():
            cfg = dbm if n in d_dbm else train
            assert getattr(cfg, n) == v, (d, n)
    # the domain the trainer builds has the size the config computes
    from dbdviz.dbm import DBM

    for cfg in (
        DBMConfig(depth=3, visible_couplings=True),
        DBMConfig(depth=2, cross_channel=True),
        DBMConfig(depth=0, visible_couplings=False),
    ):
        assert DBM(cfg, 8).domain_indices.size == cfg.domain_size()


def test_depth1_defaults_end_with_the_refinement():
    """Depth 1 is refined by default (50 chains, 30 Gauss-Newton iterations on
    the observables, X, Y and the NN pairs weighted 3x); depth 0 keeps its
    refinement (50 chains x 60 iterations on the statistics), deeper machines
    have none."""
    d0, t0 = depth_configs(0)
    d1, t1 = depth_configs(1)
    d2, t2 = depth_configs(2)
    _, t3 = depth_configs(3)
    assert t0.refines(0) and t0.refine_chains == 50
    assert t1.refine == "on" and t1.refines(1) and t1.refine_chains == 50
    assert (t1.refine_targets, t1.refine_nn_weight) == ("observables", 3.0)
    assert t1.refine_iterations == 30
    # depth 1 low-passes the fitted path with 11 taps before F is refitted
    # (experiments/21); depth 0 keeps 31
    assert (t0.refine_taps, t1.refine_taps) == (31, 11)
    assert (t0.refine_targets, t0.refine_iterations) == ("statistics", 60)
    # depth 1: visible diagonal couplings (experiments/18); depth 0 has none
    assert d1.visible_nnn_couplings and d1.cross_channel and d1.visible_couplings
    assert not d0.visible_nnn_couplings and not d2.visible_nnn_couplings
    # deeper machines: no refinement by default (the observables' refinement
    # runs there when asked for: refine = "on", refine_targets = "observables")
    assert not t2.refines(2) and t2.refine == "auto"
    assert not t3.refines(3) and t3.refine == "auto"
    # the user's choice wins
    _, t1off = depth_configs(1, train_overrides={"refine": "off"})
    assert not t1off.refines(1)


def test_explicit_settings_win_over_the_depth_defaults():
    dbm, train = depth_configs(2, train_overrides={"lr": 1e-4, "basis": "q1"})
    assert train.lr == 1e-4
    dbm, train = depth_configs(None, {"depth": 3, "chains": 7})
    assert (dbm.depth, dbm.chains) == (3, 7)
    with pytest.raises(ValueError, match="depth = 7 is out of range"):
        depth_defaults(7)


def test_impossible_combinations_name_the_settings():
    dbm = DBMConfig(depth=2, visible_couplings=True)
    msg = training_error(dbm, TrainConfig(basis="q3c1"))
    assert msg.startswith("basis = 'q3c1' cannot be used with depth = 2 and ")
    assert "visible_couplings = True" in msg and "9-dimensional" in msg
    assert "4^9 = 262144" in msg and "**" not in msg and "\n" not in msg
    assert training_error(dbm, TrainConfig(basis="q1")) is None
    with pytest.raises(ValueError, match="basis = 'q3c1'"):
        depth_configs(2, {"visible_couplings": True}, {"basis": "q3c1"})
    # named as the caller names them
    msg = training_error(dbm, TrainConfig(basis="q3c1"), lambda n: f"<{n}>")
    assert msg.startswith("<basis> = 'q3c1' cannot be used with <depth> = 2")
    msg = training_error(DBMConfig(depth=2), TrainConfig(refine="on", basis="q1"))
    assert msg.startswith(
        "refine = 'on' with depth = 2 > 1 needs refine_targets = 'observables' and "
        "refine_init = 'random' (got 'statistics', 'random')"
    )
    # deeper machines refine the observables (Gauss-Newton needs no data statistics)
    obs = TrainConfig(refine="on", basis="q1", refine_targets="observables")
    assert training_error(DBMConfig(depth=2), obs) is None and obs.refines(2)
    bad = obs.copy(refine_init="data")
    assert "refine_init = 'random'" in training_error(DBMConfig(depth=3), bad)
    assert training_error(DBMConfig(depth=1), TrainConfig(refine="on")) is None
    # the trainer refuses with the same message, before any work
    from dbdviz.dbd import Trainer

    with pytest.raises(ValueError, match="cannot be used with depth = 2"):
        Trainer(object(), dbm, TrainConfig(basis="q3c1"))


# ------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_cli_every_depth_trains_with_depth_alone(tiny_data, tmp_path, capsys, depth):
    from dbdviz.dbd import DBDModel

    out = tmp_path / "m.npz"
    args = ["train", "--data", str(tiny_data), "--depth", str(depth), "--quiet"]
    # short runs: fewer steps (and refinement iterations) change no other setting
    args += ["--opt-steps", "2", "--refine-iterations", "1", "--refine-chains", "2"]
    code, _, err = _run(capsys, [*args, "--out", str(out)])
    assert code == 0, err
    m = DBDModel.load(out)
    dbm, train = depth_configs(depth, train_overrides={"opt_steps": 2})
    keep = {"refine_iterations", "refine_chains", "opt_steps"}
    assert m.dbm_config.to_dict() == dbm.to_dict()
    got = {k: v for k, v in m.train_config.to_dict().items() if k not in keep}
    assert got == {k: v for k, v in train.to_dict().items() if k not in keep}
    if train.refines(depth):  # the refiner ran with the depth's settings
        rm = m.meta["refine"]
        assert (rm["taps"], rm["targets"]) == (train.refine_taps, train.refine_targets)
        assert rm["nn_weight"] == train.refine_nn_weight


def test_cli_refuses_impossible_combinations_before_any_work(tmp_path, capsys):
    missing = tmp_path / "absent.npz"  # never read: the refusal comes first
    out = tmp_path / "m.npz"
    code, _, err = _run(
        capsys,
        ["train", "--data", str(missing), "--depth", "2", "--basis", "q3c1"]
        + ["--out", str(out)],
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--basis = 'q3c1' cannot be used with --depth = 2" in err
    assert "--visible-couplings = True" in err and "--basis = 'q1'" in err
    assert not out.exists()
    code, _, err = _run(
        capsys,
        ["train", "--data", str(missing), "--depth", "3", "--refine"]
        + ["--out", str(out)],
    )
    assert code == 2 and "--depth = 3" in err and "--refine" in err


# ------------------------------------------------------------------------------------
# dashboard
# ------------------------------------------------------------------------------------


def _panel():
    pytest.importorskip("panel")
    from dbdviz.ui.components import TrainingPanel
    from dbdviz.ui.session import Session

    s = Session("demo")
    return s, TrainingPanel(s)


def test_depth_widget_applies_the_depth_defaults():
    s, panel = _panel()
    depth = panel.dbm_settings._widgets["depth"]
    for d in (2, 3, 1, 0, 2):
        depth.value = d
        d_dbm, d_train = depth_defaults(d)
        assert {n: getattr(s.dbm_config, n) for n in d_dbm} == d_dbm
        assert {n: getattr(s.train_config, n) for n in d_train} == d_train
        assert panel.check() is None and not panel.alert.visible
    # a setting the user changed stays as set when the depth moves
    s.train_config.lr = 1e-4
    depth.value = 1
    assert s.train_config.lr == 1e-4
    # loading a protocol forgets the user's changes
    panel.apply_protocol("paper protocol (reference)")
    panel.apply_protocol("dbdviz defaults (measured)")
    assert s.train_config.lr == TrainConfig.param["lr"].default or (
        s.train_config.lr == depth_configs(s.dbm_config.depth)[1].lr
    )


def test_depth_widget_refuses_impossible_combinations_with_labels():
    s, panel = _panel()
    s.dbm_config.visible_couplings = True
    panel.dbm_settings._widgets["depth"].value = 2
    assert s.train_config.basis == "q1" and not panel.alert.visible
    s.train_config.basis = "q3c1"  # the user's choice: refused at once
    assert panel.alert.visible and panel.alert.alert_type == "danger"
    text = panel.alert.object
    assert text.startswith("**Cannot train with these settings.**")
    body = text.removeprefix("**Cannot train with these settings.**")
    assert "Basis = 'q3c1' cannot be used with DBM depth (hidden layers) = 2" in body
    assert "Visible NN couplings = True" in body
    assert "4^9 = 262144" in body.replace("\\", "") and "**" not in body
    assert panel.train() is None and panel.job is None
    # kept when the depth moves (the user set it); fine again at depth 0
    panel.dbm_settings._widgets["depth"].value = 3
    assert s.train_config.basis == "q3c1" and "= 3" in panel.alert.object
    panel.dbm_settings._widgets["depth"].value = 0
    assert not panel.alert.visible and panel.check() is None


def test_refine_taps_reach_the_refiner_and_are_checked():
    """refine_taps: the low-pass of the fitted path the trainer's refinement
    uses (refine_static's taps); even lengths above 1 are refused by name."""
    import inspect

    from dbdviz.dbd.refine import StaticRefiner, refine_static

    for fn in (refine_static, StaticRefiner):
        default = inspect.signature(fn).parameters["taps"].default
        assert default == TrainConfig().refine_taps == 31
    for ok in (0, 1, 5, 31):
        assert TrainConfig(refine_taps=ok).refine_taps == ok
    with pytest.raises(ValueError, match=r"refine_taps = 4 is invalid: allowed 0, 1"):
        TrainConfig(refine_taps=4)
    with pytest.raises(ValueError, match="refine_taps"):
        depth_configs(1, train_overrides={"refine_taps": 30})


def test_cli_refuses_even_refine_taps(tmp_path, capsys):
    out = tmp_path / "m.npz"
    code, _, err = _run(
        capsys,
        ["train", "--data", str(tmp_path / "absent.npz"), "--depth", "1"]
        + ["--refine-taps", "4", "--out", str(out)],
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--refine-taps = 4 is invalid: allowed 0, 1 or odd" in err
    assert not out.exists()
