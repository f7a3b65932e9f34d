"""Shared fixtures.

The reference statistics the fidelity tests need ship in ``tests/data/`` (a copy of
``shared/reference/lv_paper_40x40.csv``, 112 kB, and the C++ tables of
``tests/data/cpp/``), so they run in every clone and never skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``tests/data``: holds ``lv_paper_40x40.csv`` (a missing file is a failure)."""
    assert (REFERENCE / "lv_paper_40x40.csv").exists(), "tests/data is incomplete"
    return REFERENCE


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
