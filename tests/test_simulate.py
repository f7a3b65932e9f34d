"""Tests of the lattice Lotka-Volterra simulator (dbdviz.simulate)."""

from __future__ import annotations

import threading
from collections import Counter

import naive
import numpy as np
import pytest
from scipy import stats

from dbdviz._rng import exponential, next_u64, randbelow, seed_states, uniform
from dbdviz.config import LatticeLV, preset
from dbdviz.io import FileFormatError
from dbdviz.moments import OBSERVABLES, lattice_observables
from dbdviz.simulate import Cancelled, Ensemble, simulate, warmup


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def small(**kw) -> LatticeLV:
    d = dict(
        size=6,
        init_x=5,
        init_y=4,
        birth=0.3,
        death=0.2,
        predation=0.6,
        dt=0.7,
        steps=12,
        replicates=3,
        seed=11,
    )
    d.update(kw)
    return LatticeLV(**d)


# ------------------------------------------------------------------------------------
# naive twins
# ------------------------------------------------------------------------------------


def test_python_xoshiro_replays_rng():
    st = seed_states(123, 2)[1].copy()
    py = naive.Xoshiro(st)
    for _ in range(50):
        assert int(next_u64(st)) == py.next_u64()
    for n in (1, 2, 3, 7, 40, 1600, 10**6):
        assert randbelow(st, n) == py.randbelow(n)
    for _ in range(20):
        assert uniform(st) == py.uniform()
        assert exponential(st) == py.exponential()
    assert [int(v) for v in st] == py.s


CASES = [
    (5, 3, 3, 14, 0.7),
    (6, 8, 6, 15, 1.0),
    (4, 6, 5, 10, 0.5),
    (3, 2, 2, 9, 1.3),
    (6, 0, 3, 10, 1.0),
    (4, 14, 0, 8, 1.0),
]


@pytest.mark.parametrize("pick_mode", ["nested_permutation", "uniform"])
@pytest.mark.parametrize("birth_mode", ["global", "local"])
@pytest.mark.parametrize("case", CASES)
def test_kernel_matches_naive_twin(pick_mode, birth_mode, case):
    L, nx, ny, steps, dt = case
    cfg = small(
        size=L,
        init_x=nx,
        init_y=ny,
        steps=steps,
        dt=dt,
        pick_mode=pick_mode,
        birth_mode=birth_mode,
        birth=0.4,
        death=0.25,
        predation=0.7,
    )
    ens = simulate(cfg)
    states = seed_states(cfg.seed, cfg.replicates)
    for i in range(cfg.replicates):
        twin = naive.simulate_replicate(
            states[i],
            size=L,
            init_x=nx,
            init_y=ny,
            birth=0.4,
            death=0.25,
            predation=0.7,
            dt=dt,
            steps=steps,
            pick_mode=pick_mode,
            birth_mode=birth_mode,
        )
        np.testing.assert_array_equal(ens.snapshots[i], twin)
        np.testing.assert_array_equal(ens.observables[i], lattice_observables(twin))


@pytest.mark.parametrize("pick_mode", ["nested_permutation", "uniform"])
@pytest.mark.parametrize("size, n", [(66, 500), (260, 2500)])
def test_wide_rows_match_twin(pick_mode, size, n):
    """L = 66: rows of two 64-bit words in the packed record, periodic copies
    across a word boundary; L = 260: five words per row, uint16 column lists
    (nested) and uint32 site lists (uniform, N > 65536)."""
    cfg = small(size=size, init_x=n, init_y=4 * n // 5, steps=3, replicates=1)
    cfg = cfg.copy(pick_mode=pick_mode)
    ens = simulate(cfg)
    twin = naive.simulate_replicate(
        seed_states(cfg.seed, 1)[0],
        size=size,
        init_x=n,
        init_y=4 * n // 5,
        birth=cfg.birth,
        death=cfg.death,
        predation=cfg.predation,
        dt=cfg.dt,
        steps=3,
        pick_mode=pick_mode,
    )
    np.testing.assert_array_equal(ens.snapshots[0], twin)
    np.testing.assert_array_equal(ens.observables[0], lattice_observables(twin))


@pytest.mark.parametrize("size", [3, 4, 61, 62, 63, 64, 65, 127, 128, 130])
def test_record_matches_numpy_all_widths(size):
    """The bit-plane pair counts equal ``moments.lattice_observables`` for every
    row width class (one word with and without spare room, a spare column or both
    in a second word, several words)."""
    n = size * size
    cfg = small(size=size, init_x=n // 4, init_y=n // 5, steps=4, replicates=2)
    for mode in ("nested_permutation", "uniform"):
        ens = simulate(cfg, pick_mode=mode)
        np.testing.assert_array_equal(
            ens.observables, lattice_observables(ens.snapshots)
        )


def test_item_dtype_does_not_change_results():
    """uint8 (nested: columns), uint16 and uint32 member lists (chosen by lattice
    size) give the same run."""
    from dbdviz.simulate import _kernels as K
    from dbdviz.simulate.lattice import _hop_table

    L, steps = 20, 30
    hop = _hop_table(L)
    outs = []
    for dt in (np.uint8, np.uint16, np.uint32):
        for nested in (True, False):
            if dt is np.uint8 and not nested:  # sites >= 256: does not fit
                dt = np.uint16
            st = seed_states(4, 3)
            obs = np.zeros((3, steps + 1, len(OBSERVABLES)), np.int64)
            snaps = np.zeros((3, steps + 1, L * L), np.uint8)
            K._simulate_batch(
                st,
                L,
                hop,
                np.zeros(0, dt),
                nested,
                False,
                60,
                50,
                0.3,
                0.2,
                0.6,
                1.0,
                steps,
                obs,
                snaps,
                True,
            )
            outs.append((obs, snaps))
    for a, b in zip(outs[:2] * 2, outs[2:], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


def _chi2_pvalue(counts: Counter, probs: dict[int, float], n: int) -> float:
    keys = sorted(probs)
    assert set(counts) <= set(keys)
    obs = np.array([counts.get(k, 0) for k in keys], float)
    exp = np.array([probs[k] * n for k in keys])
    return stats.chisquare(obs, exp).pvalue


def _example_lattice() -> np.ndarray:
    G = np.zeros((5, 5), np.uint8)
    G[0, 1] = G[0, 3] = G[0, 4] = 1
    G[2, 2] = 2
    G[3, 0] = 1
    G[3, 4] = 2
    G[4, 1] = 2
    return G


@pytest.mark.parametrize("code", [0, 1, 2])
def test_nested_pick_is_the_reference_scan(code):
    """Row-then-member picks = the reference's nested permutation scan (ALG. 1.5)."""
    G = _example_lattice()
    L = G.shape[0]
    rows = [r for r in range(L) if (G[r] == code).any()]
    exact = {
        r * L + c: 1 / len(rows) / (G[r] == code).sum()
        for r in rows
        for c in range(L)
        if G[r, c] == code
    }
    n = 20000
    gen = np.random.default_rng(1)
    scan = Counter(naive.nested_permutation_pick(gen, G, code) for _ in range(n))
    rng = naive.Xoshiro(seed_states(2, 1)[0])
    ours = Counter(naive.pick_site(rng, G, code, True) for _ in range(n))
    assert _chi2_pvalue(scan, exact, n) > 1e-3
    assert _chi2_pvalue(ours, exact, n) > 1e-3
    rng = naive.Xoshiro(seed_states(3, 1)[0])
    flat = [s for s in range(L * L) if G.reshape(-1)[s] == code]
    uni = Counter(naive.pick_site(rng, G, code, False) for _ in range(n))
    assert _chi2_pvalue(uni, {s: 1 / len(flat) for s in flat}, n) > 1e-3


def test_sweep_bucket_pick_is_nested():
    """The hop sweep's first pick from the row buckets has the RANDOM_SITE law."""
    G = _example_lattice()
    L = G.shape[0]
    b = naive.todo_buckets(G, True)
    b.remove(0, 1)  # exercise swap-remove
    b.add(0, 1)
    rows = [r for r in range(L) if G[r].any()]
    exact = {
        r * L + c: 1 / len(rows) / (G[r] > 0).sum()
        for r in rows
        for c in range(L)
        if G[r, c]
    }
    rng = naive.Xoshiro(seed_states(4, 1)[0])
    n = 20000
    got = Counter()
    for _ in range(n):
        x = rng.next_u64()
        row = b.nonempty[((x >> 32) * len(b.nonempty)) >> 32]
        lst = b.members[row]
        got[lst[(((x >> 2) & naive.M30) * len(lst)) >> 30]] += 1
    assert _chi2_pvalue(got, exact, n) > 1e-3


# ------------------------------------------------------------------------------------
# invariants and reproducibility
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pick_mode", ["nested_permutation", "uniform"])
@pytest.mark.parametrize("birth_mode", ["global", "local"])
def test_invariants(pick_mode, birth_mode):
    cfg = preset(
        "demo",
        replicates=6,
        steps=120,
        seed=5,
        pick_mode=pick_mode,
        birth_mode=birth_mode,
    )
    ens = simulate(cfg)
    S = ens.snapshots
    assert S.dtype == np.uint8 and S.shape == (6, 121, 20, 20)
    assert set(np.unique(S)) <= {0, 1, 2}
    obs = ens.observables
    assert obs.dtype == np.int64 and obs.shape == (6, 121, len(OBSERVABLES))
    assert (obs >= 0).all()
    np.testing.assert_array_equal(obs, lattice_observables(S))
    assert (obs[:, 0, 0] == 25).all() and (obs[:, 0, 1] == 25).all()
    assert (obs[:, :, 0] + obs[:, :, 1] <= 400).all()
    np.testing.assert_array_equal(ens.counts(), obs[:, :, :2])
    np.testing.assert_allclose(ens.t, np.arange(121) * 1.0)
    table = ens.moments()
    assert table.n == 6
    np.testing.assert_allclose(table.mean["Y"], obs[:, :, 1].mean(0))


def test_same_seed_same_ensemble_threads_and_batches():
    cfg = preset("demo", replicates=10, steps=60, seed=42)
    a = simulate(cfg, threads=1)
    b = simulate(cfg, threads=2, batch_size=3)
    c = simulate(cfg, batch_size=1)
    d = simulate(cfg, snapshots=False, batch_size=4)
    np.testing.assert_array_equal(a.snapshots, b.snapshots)
    np.testing.assert_array_equal(a.snapshots, c.snapshots)
    np.testing.assert_array_equal(a.observables, d.observables)
    assert d.snapshots is None
    e = simulate(cfg, seed=43)
    assert not np.array_equal(a.observables, e.observables)
    assert a.seed == 42


def test_seed_none_is_recorded_and_reproduces():
    cfg = preset("demo", replicates=3, steps=20, seed=None)
    a = simulate(cfg)
    assert isinstance(a.seed, int)
    b = simulate(cfg, seed=a.seed)
    np.testing.assert_array_equal(a.observables, b.observables)


def test_threads_setting_restored():
    from dbdviz._numba import get_threads

    before = get_threads()
    simulate(preset("demo", replicates=2, steps=5, seed=1), threads=1)
    assert get_threads() == before


def test_progress_and_cancel():
    calls = []
    cfg = preset("demo", replicates=7, steps=10, seed=1, snapshots=False)
    simulate(cfg, progress=lambda d, t: calls.append((d, t)), batch_size=3)
    assert calls == [(3, 7), (6, 7), (7, 7)]

    ev = threading.Event()

    def stop_after_first(done, total):
        ev.set()

    with pytest.raises(Cancelled):
        simulate(cfg, progress=stop_after_first, cancel=ev, batch_size=3)
    ev.set()
    with pytest.raises(Cancelled):
        simulate(cfg, cancel=ev)


def test_dt_general_and_defaults():
    ens = simulate(replicates=2, steps=4, dt=0.25, seed=3)
    assert ens.config.size == 40 and ens.config.init_x == 100
    np.testing.assert_allclose(ens.t, [0, 0.25, 0.5, 0.75, 1.0])


# ------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(birth=-0.1), "birth"),
        (dict(death=-1.0), "death"),
        (dict(predation=1.5), "predation"),
        (dict(predation=-0.1), "predation"),
        (dict(size=2), "size"),
        (dict(steps=0), "steps"),
        (dict(replicates=0), "replicates"),
        (dict(birth=float("nan")), "birth"),
        (dict(dt=0.0), "dt"),
        (dict(init_x=1000, init_y=700), "init_x + init_y"),
        (dict(pick_mode="random"), "pick_mode"),
        (dict(bogus=1), "bogus"),
    ],
)
def test_bad_input_names_parameter(kw, name):
    with pytest.raises(ValueError, match=name.split()[0]):
        simulate(preset("demo"), **kw)


def test_bad_threads_and_config_type():
    with pytest.raises(ValueError, match="threads"):
        simulate(preset("demo", replicates=1, steps=1), threads=0)
    with pytest.raises(ValueError, match="config"):
        simulate({"size": 10})


# ------------------------------------------------------------------------------------
# save / load
# ------------------------------------------------------------------------------------


@pytest.mark.parametrize("snapshots", [True, False])
def test_save_load_round_trip(tmp_path, snapshots):
    ens = simulate(preset("demo", replicates=3, steps=15, seed=9, snapshots=snapshots))
    p = tmp_path / "ens.npz"
    ens.save(p)
    back = Ensemble.load(p)
    assert back.config.to_dict() == ens.config.to_dict()
    assert back.seed == 9
    np.testing.assert_array_equal(back.observables, ens.observables)
    np.testing.assert_array_equal(back.t, ens.t)
    if snapshots:
        np.testing.assert_array_equal(back.snapshots, ens.snapshots)
    else:
        assert back.snapshots is None


def test_load_truncated_or_foreign_file(tmp_path):
    ens = simulate(preset("demo", replicates=2, steps=5, seed=9))
    p = tmp_path / "ens.npz"
    ens.save(p)
    data = p.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="cut.npz"):
        Ensemble.load(bad)
    from dbdviz.io import save_npz

    other = tmp_path / "model.npz"
    save_npz(other, {"a": np.zeros(2)}, kind="model")
    with pytest.raises(FileFormatError, match="ensemble"):
        Ensemble.load(other)
    with pytest.raises(FileNotFoundError):
        Ensemble.load(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------------
# statistics with known answers
# ------------------------------------------------------------------------------------


def test_pure_death_is_binomial():
    """birth = predation = 0, no X: Y(t) ~ Binomial(Y0, exp(-death t))."""
    y0, death, n = 120, 0.05, 600
    cfg = LatticeLV(
        size=20,
        init_x=0,
        init_y=y0,
        birth=0.0,
        death=death,
        predation=0.0,
        steps=40,
        replicates=n,
        seed=21,
        snapshots=False,
    )
    ens = simulate(cfg)
    Y = ens.observables[:, :, 1].astype(float)
    assert (ens.observables[:, :, 0] == 0).all()
    p = np.exp(-death * ens.t)
    z = (Y.mean(0) - y0 * p)[1:] / np.sqrt(y0 * p * (1 - p) / n)[1:]
    assert np.abs(z).max() < 4.0, z
    # variance: (n - 1) s^2 / sigma^2 ~ chi2(n - 1)
    ratio = Y.var(0, ddof=1)[1:] / (y0 * p * (1 - p))[1:]
    lo, hi = stats.chi2.ppf([1e-4, 1 - 1e-4], n - 1) / (n - 1)
    assert ((ratio > lo) & (ratio < hi)).all(), ratio


def test_pure_hopping_uniform_is_random_placement():
    """Symmetric exclusion with configuration-independent picks keeps the uniform law.

    Expected pair counts on the torus for nX X and nY Y at random: each of the 2N
    bonds of a class holds XX with probability nX(nX-1)/(N(N-1)), XY with
    2 nX nY/(N(N-1)).
    """
    L, nx, ny, n = 16, 40, 30, 1200
    N = L * L
    cfg = LatticeLV(
        size=L,
        init_x=nx,
        init_y=ny,
        birth=0.0,
        death=0.0,
        predation=0.0,
        steps=25,
        replicates=n,
        seed=8,
        snapshots=False,
        pick_mode="uniform",
    )
    obs = simulate(cfg).observables.astype(float)
    assert (obs[:, :, 0] == nx).all() and (obs[:, :, 1] == ny).all()
    pxx = nx * (nx - 1) / (N * (N - 1))
    pxy = 2 * nx * ny / (N * (N - 1))
    pyy = ny * (ny - 1) / (N * (N - 1))
    for cls, n_disp in (("nn", 2), ("nnn", 2), ("nnn3", 3)):
        for pair, prob in (("XX", pxx), ("XY", pxy), ("YY", pyy)):
            k = OBSERVABLES.index(cls + pair)
            se = obs[:, :, k].std(0, ddof=1) / np.sqrt(n)
            z = (obs[:, :, k].mean(0) - n_disp * N * prob) / se
            assert np.abs(z).max() < 4.0, (cls + pair, z)


def test_pure_hopping_nested_conserves_counts():
    """With the reference picks the counts are conserved too (the pair law is not
    exactly the random-placement one: the nested picks favour crowded rows)."""
    cfg = LatticeLV(
        size=12,
        init_x=20,
        init_y=15,
        birth=0.0,
        death=0.0,
        predation=0.0,
        steps=30,
        replicates=20,
        seed=8,
    )
    ens = simulate(cfg)
    assert (ens.observables[:, :, 0] == 20).all() and (
        ens.observables[:, :, 1] == 15
    ).all()
    np.testing.assert_array_equal(ens.observables, lattice_observables(ens.snapshots))


def test_select64_matches_naive():
    """The broadword select = the obvious scan, on random and edge-case words."""
    from dbdviz.simulate._kernels import _select64

    rng = np.random.default_rng(7)
    words = [1, 2**63, 2**64 - 1, 0x8000000000000001, 0x00FF00FF00FF00FF]
    words += [int(w) for w in rng.integers(0, 2**64, 200, dtype=np.uint64)]
    words += [int(w) & int(v) for w, v in rng.integers(0, 2**64, (200, 2), np.uint64)]
    for w in words:
        ones = [i for i in range(64) if w >> i & 1]
        for k, i in enumerate(ones):
            assert _select64(np.uint64(w), k) == i, (hex(w), k)
