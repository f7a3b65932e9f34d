"""Tests of dbdviz.compare on constructed tables."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dbdviz.compare import align, band_exits, noise_floor, nrmse, score
from dbdviz.moments import MomentTable


def _ref(n=100):
    t = np.arange(11.0)
    mean = {"X": 10.0 + t, "Y": np.full(11, 4.0)}
    sd = {"X": np.full(11, 1.0), "Y": np.full(11, 2.0)}
    return MomentTable(t, n, mean, sd, label="ref")


def test_nrmse_known_values():
    ref = _ref()
    tab = MomentTable(ref.t, None, {"X": ref.mean["X"] + 3.0, "Y": ref.mean["Y"] * 0.5})
    r = nrmse(tab, ref)
    assert r["X"] == pytest.approx(3.0 / 15.0)
    assert r["Y"] == pytest.approx(2.0 / 4.0)
    # window: t in [0, 4] -> mean reference X = 12
    assert nrmse(tab, ref, "X", t_max=4)["X"] == pytest.approx(3.0 / 12.0)
    assert nrmse(tab, ref, ["X"], t_min=6)["X"] == pytest.approx(3.0 / 18.0)
    # RMS, not mean absolute: errors 0 and 2 on a constant reference 4
    tab2 = MomentTable(ref.t, None, {"Y": np.where(ref.t < 5, 4.0, 6.0)})
    expect = math.sqrt(np.mean(np.where(ref.t < 5, 0.0, 4.0))) / 4.0
    assert nrmse(tab2, ref)["Y"] == pytest.approx(expect)


def test_alignment_on_common_times():
    ref = _ref()
    t = np.array([0.0, 0.5, 2.0, 4.0, 20.0])
    tab = MomentTable(t, None, {"X": np.array([10.0, 99.0, 12.0, 16.0, 99.0])})
    i, j = align(tab, ref)
    np.testing.assert_array_equal(t[i], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(ref.t[j], [0.0, 2.0, 4.0])
    expect = math.sqrt((0 + 0 + 4) / 3) / np.mean([10.0, 12.0, 14.0])
    assert nrmse(tab, ref)["X"] == pytest.approx(expect)
    with pytest.raises(ValueError, match="share no time"):
        nrmse(MomentTable(np.array([0.5]), None, {"X": np.array([1.0])}), ref)


def test_band_exits_constructed():
    ref = _ref(n=100)  # se = sd / 10
    z = 1.959963984540054
    dev = np.where(ref.t >= 5, 0.5, 0.0)  # 0.5 > z * 0.1, < z * 1
    big = np.where(ref.t >= 8, 5.0, 0.1)  # 0.1 < z * 0.2; 5 > z * 2
    tab = MomentTable(ref.t, None, {"X": ref.mean["X"] + dev, "Y": ref.mean["Y"] - big})
    b = band_exits(tab, ref)
    assert b["X"].frac_mean == pytest.approx(6 / 11) and b["X"].first_mean == 5.0
    assert b["X"].frac_spread == 0.0 and b["X"].first_spread is None
    assert b["Y"].first_mean == 8.0 and b["Y"].first_spread == 8.0
    assert b["Y"].frac_spread == pytest.approx(3 / 11)
    assert b["X"].n_times == 11
    # a wider level moves the edge: 0.5 is inside +- 5.1 se at level 1 - 3e-7
    assert band_exits(tab, ref, level=1 - 3e-7)["X"].frac_mean == pytest.approx(0.0)
    assert abs(z * 0.1 - 0.196) < 1e-3


def test_band_exits_errors():
    ref = _ref()
    tab = MomentTable(ref.t, None, {"X": ref.mean["X"]})
    with pytest.raises(ValueError, match="level"):
        band_exits(tab, ref, level=1.5)
    no_n = MomentTable(ref.t, None, dict(ref.mean), dict(ref.sd))
    with pytest.raises(ValueError, match="replicate count"):
        band_exits(tab, no_n)
    with pytest.raises(ValueError, match="nnXY"):
        nrmse(tab, ref, ["nnXY"])


def test_noise_floor_and_score():
    ref = _ref(n=100)
    fl = noise_floor(ref)
    assert fl["X"] == pytest.approx(0.1 / 15.0)
    assert noise_floor(ref, n_other=100)["Y"] == pytest.approx(
        math.sqrt(2 * 0.04) / 4.0
    )
    tab = MomentTable(
        ref.t, None, {"X": ref.mean["X"] + 3.0, "Y": ref.mean["Y"]}, label="closure"
    )
    s = score(tab, ref, windows=[(None, None), (None, 4)])
    assert s.nrmse[(None, None)]["X"] == pytest.approx(0.2)
    assert s.nrmse[(None, 4)]["X"] == pytest.approx(0.25)
    assert s.nrmse[(None, None)]["Y"] == 0.0
    assert s.bands["X"].frac_spread == 1.0
    d = s.to_dict()
    assert d["nrmse"]["None..4"]["X"] == pytest.approx(0.25)
    md = s.to_markdown()
    assert "| X | 20.0 % | 25.0 % |" in md
    # a table without sd as reference: NRMSE only
    s2 = score(tab, MomentTable(ref.t, None, dict(ref.mean)))
    assert s2.bands == {} and s2.floor == {}
