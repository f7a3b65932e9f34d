import os

import numpy as np
import pytest

from dbdviz.io import (
    FileFormatError,
    atomic_write,
    load_npz,
    save_npz,
    write_text_atomic,
)


def test_roundtrip_and_meta(tmp_path):
    p = tmp_path / "a.npz"
    save_npz(
        p,
        {"x": np.arange(5), "y": np.eye(2)},
        "ensemble",
        {"config": {"size": 4}, "seed": 3},
    )
    arrays, meta = load_npz(p, "ensemble")
    assert np.array_equal(arrays["x"], np.arange(5)) and np.array_equal(
        arrays["y"], np.eye(2)
    )
    assert (
        meta["kind"] == "ensemble"
        and meta["config"] == {"size": 4}
        and meta["seed"] == 3
    )
    assert "dbdviz_version" in meta and "created" in meta


def test_wrong_kind_truncated_foreign(tmp_path):
    p = tmp_path / "a.npz"
    save_npz(p, {"x": np.arange(1000)}, "model")
    with pytest.raises(FileFormatError, match="holds a 'model', expected a 'ensemble'"):
        load_npz(p, "ensemble")
    t = tmp_path / "trunc.npz"
    t.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(FileFormatError, match="not a readable dbdviz"):
        load_npz(t)
    f = tmp_path / "foreign.npz"
    np.savez(f, x=np.arange(3))
    with pytest.raises(FileFormatError, match="no 'meta'"):
        load_npz(f)
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "missing.npz")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    p = tmp_path / "keep.csv"
    write_text_atomic(p, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(p) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("boom")
    assert p.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["keep.csv"]  # no temporary left behind
