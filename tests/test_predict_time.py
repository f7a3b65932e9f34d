"""Predictions past the training's last time say so (issue 18, the time tier;
docs/experiments/17)."""

from __future__ import annotations

import warnings

import pytest

from dbdviz.config import preset
from dbdviz.dbd.predict import ExtrapolationWarning, predict, train_multi
from dbdviz.simulate import simulate

LATE = "past the training's last time t = 6"


def tiny(x0, y0, seed):
    cfg = dict(size=8, init_x=x0, init_y=y0, steps=6, replicates=6, seed=seed)
    return simulate(preset("paper", **cfg), threads=1)


@pytest.fixture(scope="module")
def model():
    ens = [tiny(10, 8, 3), tiny(14, 6, 4)]
    return train_multi(ens, chains=4, iterations=1, threads=1, taps=0)


def test_past_the_training_warns_with_its_last_time(model):
    late = preset("paper", size=8, init_x=12, init_y=7, steps=9)
    with pytest.warns(ExtrapolationWarning, match=r"t = 6 \(to t = 9\)"):
        p = predict(model, late, chains=2, seed=0)
    assert p.trained_to == 6.0 and p.past_training
    assert LATE in p.warning and "docs/predict.md" in p.warning
    # the same steps as the training, or fewer: no word about time
    for steps in (6, 4):
        cfg = preset("paper", size=8, init_x=12, init_y=7, steps=steps)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            q = predict(model, cfg, chains=2, seed=0, warn=False)
        assert q.trained_to == 6.0 and not q.past_training
        assert q.warning is None or "past the training" not in q.warning


def test_past_the_training_keeps_the_distance_warning(model):
    # the warning about time is appended to the one about the visited region
    far = preset("paper", size=8, init_x=2, init_y=50, steps=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = predict(model, far, chains=2, seed=0)
    assert p.left_at is not None and p.past_training
    assert p.warning.startswith("the prediction left the region")
    assert p.warning.endswith("Beyond the trained times)") and LATE in p.warning


def test_cli_predict_past_the_training(model, tmp_path, capsys):
    from dbdviz.cli import main

    path = tmp_path / "m.npz"
    model.save(path)
    out = tmp_path / "p.csv"
    argv = ["predict", str(path), "--init-x", "12", "--init-y", "7", "--steps", "9"]
    assert main([*argv, "--chains", "2", "--out", str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "dbdviz predict: warning:" in err and LATE in err
