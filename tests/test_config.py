import math

import pytest

from dbdviz.config import PRESETS, DBMConfig, LatticeLV, TrainConfig, preset


def test_paper_preset_matches_contract():
    c = preset("paper")
    assert (c.size, c.birth, c.death, c.predation) == (40, 0.025, 0.06, 0.4)
    assert (c.init_x, c.init_y, c.dt, c.steps, c.replicates) == (
        100,
        100,
        1.0,
        500,
        100,
    )
    assert c.pick_mode == "nested_permutation" and c.birth_mode == "global"
    assert c.n_sites == 1600 and len(c.times) == 501


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(birth=-0.1), "birth = -0.1 is out of range: allowed [0, 10]"),
        (dict(death=-1), "death = -1 is out of range: allowed [0, 10]"),
        (dict(predation=1.5), "predation = 1.5 is out of range: allowed [0, 1]"),
        (dict(predation=-0.01), "predation"),
        (dict(size=2), "size = 2 is out of range: allowed [3, 1000]"),
        (dict(init_x=1000, init_y=601), "allowed init_x + init_y in [0, 1600]"),
        (dict(steps=0), "steps = 0 is out of range: allowed [1, "),
        (dict(steps=-5), "steps"),
        (dict(replicates=0), "replicates = 0 is out of range"),
        (dict(birth=math.nan), "birth = nan is not finite"),
        (dict(predation=math.inf), "predation = inf is not finite"),
        (dict(dt=0), "dt = 0 is out of range: allowed (0, 100]"),
        (dict(size=4.5), "size = 4.5 must be an integer"),
        (dict(pick_mode="random"), "pick_mode = 'random' is invalid: allowed {"),
        (dict(colour="red"), "unknown parameter(s) for LatticeLV: colour"),
    ],
)
def test_bad_values_name_parameter_and_range(kw, needle):
    with pytest.raises(ValueError) as ei:
        LatticeLV(**kw)
    assert needle in str(ei.value)


def test_assignment_is_validated_by_param():
    c = LatticeLV()
    with pytest.raises(ValueError, match="birth"):
        c.birth = -1


def test_copy_and_dict_roundtrip():
    c = preset("paper", size=30, init_x=50)
    d = c.to_dict()
    c2 = LatticeLV.from_dict({**d, "unknown_future_key": 1})
    assert c2.to_dict() == d
    c3 = c.copy(birth=0.05)
    assert c3.birth == 0.05 and c.birth == 0.025
    with pytest.raises(ValueError):
        c.copy(init_x=10_000)


def test_unknown_preset():
    with pytest.raises(ValueError, match="allowed {paper"):
        preset("nope")
    for name in PRESETS:
        preset(name)


def test_snapshot_memory_guard():
    with pytest.raises(ValueError, match="snapshots=False"):
        LatticeLV(size=1000, init_x=10, init_y=10, steps=10_000, replicates=100)
    LatticeLV(
        size=1000, init_x=10, init_y=10, steps=10_000, replicates=100, snapshots=False
    )


def test_dbm_and_train_configs_validate():
    DBMConfig()
    TrainConfig()
    with pytest.raises(
        ValueError, match="depth = 4 is out of range: allowed \\[0, 3\\]"
    ):
        DBMConfig(depth=4)
    with pytest.raises(ValueError, match="conn = 5 is invalid: allowed {4, 9}"):
        DBMConfig(conn=5)
    with pytest.raises(ValueError, match="lr = 0 is out of range"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="size = 5 is too small for conn = 9"):
        DBMConfig(conn=9).check_lattice(5)


def test_eval_config():
    """EvalConfig: None stands for the model's procedure; ranges are checked; the
    evaluation and the CLI take their defaults from it."""
    import inspect

    from dbdviz.config import EvalConfig
    from dbdviz.dbd import evaluate, sample_trajectory
    from dbdviz.dbd.procedure import EVAL_CHAINS

    cfg = EvalConfig()
    assert cfg.chains == 100 and cfg.init is None and cfg.lowpass_taps is None
    assert EvalConfig(init="carry", cov_from="states").init == "carry"
    with pytest.raises(ValueError, match="init"):
        EvalConfig(init="warm")
    with pytest.raises(ValueError, match="chains"):
        EvalConfig(chains=0)
    with pytest.raises(ValueError, match="cutoff"):
        EvalConfig(cutoff=4.0)
    sig = inspect.signature(evaluate).parameters
    for n in ("seed", "cutoff", "lowpass_padding"):
        assert sig[n].default == getattr(cfg, n), n
    assert (
        inspect.signature(sample_trajectory).parameters["chains"].default == cfg.chains
    )
    assert EVAL_CHAINS == cfg.chains
