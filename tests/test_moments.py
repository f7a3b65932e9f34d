import numpy as np
import pytest

from dbdviz.moments import (
    OBSERVABLES,
    MomentTable,
    lattice_observables,
    moment_table,
    read_moment_table,
)


def _naive_observables(s):
    """Site-by-site loops over explicit displacement lists (the definition)."""
    L = s.shape[0]
    disp = {
        "nn": [(1, 0), (0, 1)],
        "nnn": [(1, 1), (1, -1)],
        "nnn3": [(0, 2), (1, 1), (2, 0)],
    }
    out = {"X": int((s == 1).sum()), "Y": int((s == 2).sum())}
    for cls, ds in disp.items():
        c = {"XX": 0, "XY": 0, "YY": 0}
        for r in range(L):
            for q in range(L):
                for dr, dc in ds:
                    a, b = s[r, q], s[(r + dr) % L, (q + dc) % L]
                    if a == 1 and b == 1:
                        c["XX"] += 1
                    elif a == 2 and b == 2:
                        c["YY"] += 1
                    elif {a, b} == {1, 2}:
                        c["XY"] += 1
        for k, v in c.items():
            out[cls + k] = v
    return np.array([out[o] for o in OBSERVABLES])


@pytest.mark.parametrize("L", [3, 4, 7])
def test_observables_match_naive(L):
    rng = np.random.default_rng(L)
    s = rng.integers(0, 3, size=(20, L, L)).astype(np.uint8)
    got = lattice_observables(s)
    want = np.stack([_naive_observables(x) for x in s])
    assert np.array_equal(got, want)


def test_known_configuration():
    s = np.zeros((5, 5), np.uint8)
    s[0, 0] = s[0, 1] = 1  # horizontal XX bond
    s[1, 1] = 2  # Y below the second X (NN XY), diagonal to the first X
    s[4, 4] = 2  # wraps diagonally to (0,0): (4,4)+(1,1) = (0,0)
    o = dict(zip(OBSERVABLES, lattice_observables(s), strict=True))
    assert (o["X"], o["Y"], o["nnXX"], o["nnXY"], o["nnYY"]) == (2, 2, 1, 1, 0)
    assert o["nnnXY"] == 2 and o["nnnXX"] == 0 and o["nnnYY"] == 0
    assert o["nnn3XY"] == 2  # (1,1) for both; no (0,2)/(2,0) XY pairs


def test_moment_table_stats_and_csv_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 50, size=(7, 4, len(OBSERVABLES)))
    t = np.arange(4.0)
    tab = moment_table(obs, t)
    assert tab.n == 7
    assert np.allclose(tab.mean["nnXY"], obs[:, :, 3].mean(0))
    assert np.allclose(tab.sd["Y"], obs[:, :, 1].std(0, ddof=1))
    assert np.allclose(tab.se("Y"), tab.sd["Y"] / np.sqrt(7))
    p = tmp_path / "m.csv"
    tab.to_csv(p)
    header = p.read_text().splitlines()[0].split(",")
    assert header[:6] == ["t", "n", "mean_X", "sd_X", "mean_Y", "sd_Y"]
    assert header[16:18] == ["mean_nnnYY", "sd_nnnYY"]
    assert header[18:20] == ["mean_nnn3XX", "sd_nnn3XX"]
    back = read_moment_table(p)
    for o in OBSERVABLES:
        assert np.allclose(back.mean[o], tab.mean[o]) and np.allclose(
            back.sd[o], tab.sd[o]
        )


def test_closure_style_table_leaves_cells_empty():
    tab = MomentTable(t=np.arange(3.0), n=None, mean={"X": np.ones(3)})
    lines = tab.to_csv().splitlines()
    assert lines[1].split(",")[:4] == ["0", "", "1.0", ""]
    assert lines[1].count(",") == 17
    back = read_moment_table(tab.to_csv())
    assert list(back.mean) == ["X"] and back.n is None


def test_reference_file_reads(reference_dir):
    ref = read_moment_table(reference_dir / "lv_paper_40x40.csv")
    assert ref.n == 200 and len(ref.t) == 501
    # random placement at t = 0: E[nnXX] = 2N nX(nX-1)/(N(N-1))
    N = 1600
    assert (
        abs(ref.mean["nnXX"][0] - 2 * N * 100 * 99 / (N * (N - 1)))
        < 4 * ref.se("nnXX")[0]
    )
