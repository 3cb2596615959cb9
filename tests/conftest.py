"""Shared fixtures: the real OFF data beside the checkout (``../shared/data``), isolated data dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("OFF_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A file of ``../shared/data``; skips the test when it is absent, except in CI where it must exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        if os.environ.get("OFF_REQUIRE_SHARED_DATA"):
            pytest.fail(f"required shared data is missing: {path}")
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty OFF_DATA_DIR for one test."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("OFF_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="session")
def real_off_sample() -> Path:
    return shared_path("products", "off-real-sample.jsonl.gz")


@pytest.fixture(scope="session")
def taxonomy_dir() -> Path:
    return shared_path("taxonomies")


@pytest.fixture(scope="session")
def keywords_dir() -> Path:
    return shared_path("ocr-keywords")
