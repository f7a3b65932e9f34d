"""Shared fixtures.

``shared/`` (the design documents and reference statistics) lies beside the checkout,
both on developers' machines and in CI; tests needing it skip with a clear reason
where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not (REFERENCE / "lv_paper_40x40.csv").exists():
        pytest.skip(f"reference statistics not found in {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
