"""Shared fixtures: the real OFF data beside the checkout (``../shared/data``), isolated data dirs."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipelines.common import config

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("OFF_SHARED_DATA", REPO.parent / "shared" / "data"))

# Prefect's state during the tests (result storage…): a folder of this session, set before any test module
# imports flows/ — which would default it to ./data/prefect of the checkout (docs/configuration.md).
_PREFECT_HOME = None if os.environ.get("PREFECT_HOME") else tempfile.mkdtemp(prefix="offpipe-test-prefect-")
if _PREFECT_HOME is not None:
    os.environ["PREFECT_HOME"] = _PREFECT_HOME


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _PREFECT_HOME is not None:
        shutil.rmtree(_PREFECT_HOME, ignore_errors=True)
    support = sys.modules.get("tests.support.postgres")
    if support is not None:  # the session's initialized PostgreSQL template, if a test made one
        support.drop_store_template()


# The production plausibility floors (docs/dumps.md, "Snapshot guard"), kept for the tests of the guard.
PRODUCTION_DUMP_MIN_LINES = dict(config.DEFAULT_DUMP_MIN_LINES)
PRODUCTION_SNAPSHOT_MIN_RATIO = config.DEFAULT_SNAPSHOT_MIN_RATIO
_GUARD_VARIABLES = [f"OFF_DUMP_MIN_LINES_{flavor.value.upper()}" for flavor in PRODUCTION_DUMP_MIN_LINES]
_GUARD_VARIABLES.append("OFF_SNAPSHOT_MIN_RATIO")


@pytest.fixture(scope="session", autouse=True)
def _sample_sized_snapshots() -> Iterator[None]:
    """Tests convert samples of a few hundred products as flavor off, and some replace a snapshot by a smaller
    one on purpose (the refresh's own safety stop): the production floors (2,800,000 rows for off, 90 % of
    the previous snapshot) would refuse them. For the session both are 0, in the environment (subprocesses,
    ``get_settings()``) and in the defaults (settings built from an explicit mapping). The tests of the guard
    ask for the production values with the ``production_guard`` fixture.
    """
    with pytest.MonkeyPatch.context() as patch:
        for flavor in PRODUCTION_DUMP_MIN_LINES:
            patch.setitem(config.DEFAULT_DUMP_MIN_LINES, flavor, 0)
        patch.setattr(config, "DEFAULT_SNAPSHOT_MIN_RATIO", 0.0)
        for name in _GUARD_VARIABLES:
            patch.setenv(name, "0")
        yield


@pytest.fixture
def production_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production floors and ratio, as a deployment without overrides has them."""
    for flavor, floor in PRODUCTION_DUMP_MIN_LINES.items():
        monkeypatch.setitem(config.DEFAULT_DUMP_MIN_LINES, flavor, floor)
    monkeypatch.setattr(config, "DEFAULT_SNAPSHOT_MIN_RATIO", PRODUCTION_SNAPSHOT_MIN_RATIO)
    for name in _GUARD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


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


@pytest.fixture(scope="session")
def synthetic_50k(
    tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path
) -> dict[str, Path]:
    """A 50k-product synthetic dump converted to Parquet, and a 1,500-product dump with its OCR table.

    Shared by the one-code-path tests of the predictors and of the insight refresh (generated once).
    """
    from pipelines.convert.convert import convert_dump
    from pipelines.ocr.ingest import ingest_archive
    from pipelines.synth.generator import SynthSpec, generate

    base = tmp_path_factory.mktemp("synthetic-50k")
    dump, small, archive = base / "dump.jsonl.gz", base / "small.jsonl.gz", base / "ocr.jsonl.gz"
    generate(SynthSpec(products=50_000, seed=11, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", out_dir=base / "parquet")
    spec = SynthSpec(products=1_500, seed=12, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, small, ocr_out=archive)
    convert_dump(small, "off", out_dir=base / "small")
    ingest_archive(archive, base / "ocr_texts.parquet", "off")
    return {
        "products": base / "parquet" / "products.parquet",
        "small_products": base / "small" / "products.parquet",
        "ocr": base / "ocr_texts.parquet",
    }


# --- PostgreSQL (the server of these machines and of CI; tests/support/postgres.py) -------------------------


@pytest.fixture(scope="session")
def _pg_store_template() -> str:
    """This session's initialized store database, copied by ``pg_store_url`` (dropped at session end)."""
    from tests.support.postgres import store_template

    return store_template()


@contextmanager
def _database(template: str = "template0") -> Iterator[str]:
    """A new database on the test server (a copy of ``template``), dropped after the block: its URL."""
    from tests.support.postgres import create_database, database_url, drop_database

    name = create_database(template=template)
    try:
        yield database_url(name)
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """An empty database's URL (no tables), shared by a module's tests."""
    with _database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """An empty database's URL (``offpipe store init`` not run) for one test."""
    with _database() as url:
        yield url


@pytest.fixture
def pg_store_url(_pg_store_template: str) -> Iterator[str]:
    """A database as ``offpipe store init`` leaves a fresh one, for one test: its URL."""
    with _database(_pg_store_template) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Databases on the test server (tests/support/postgres.py) for the whole session: each test creates its
    own; all are dropped at the end of the session at the latest."""
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    try:
        yield server
    finally:
        server.drop_all()
