"""``offpipe insights apply`` on the DuckDB store: plan by default, apply when OFF_APPLY_MODE says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.store.db import open_store
from tests.pipelines.annotate.conftest import seed
from tests.pipelines.insights.conftest import DuckStore
from tests.support.product_opener import ProductOpener

runner = CliRunner()


@pytest.fixture(autouse=True)
def _lists(monkeypatch: pytest.MonkeyPatch, keywords_dir: Path, taxonomy_dir: Path) -> None:
    """The refresh after a run reads the configured lists and taxonomies."""
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))


def invoke(store: DuckStore, monkeypatch: pytest.MonkeyPatch, server: ProductOpener, *args: str) -> dict:
    monkeypatch.setenv("OFF_WORLD_URL_OFF", server.base)
    monkeypatch.setenv("OFF_PRODUCT_SOURCES", "api")
    store.con.close()  # the command opens the store file itself
    try:
        result = runner.invoke(app, ["insights", "apply", "--store", str(store.path), "--rate", "100", *args])
    finally:
        store.con = open_store(store.path)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_is_the_default_and_apply_is_asked_for(
    duckdb_store: DuckStore, opener: ProductOpener, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed(duckdb_store)
    # the seeded insights were due 11 minutes after the refresh's fixed time, long ago
    planned = invoke(duckdb_store, monkeypatch, opener)
    assert (planned["mode"], planned["due"], planned["sent"]) == ("plan", 3, 0)
    assert Path(planned["plan"]).exists() and opener.writes() == []
    monkeypatch.setenv("OFF_APPLY_MODE", "apply")
    assert invoke(duckdb_store, monkeypatch, opener, "--dry-run")["sent"] == 0
    applied = invoke(duckdb_store, monkeypatch, opener)
    assert (applied["mode"], applied["sent"], applied["recorded"]) == ("apply", 2, 3)
    assert len(opener.writes()) == 2


def test_apply_without_credentials_is_one_clear_line(
    duckdb_store: DuckStore, opener: ProductOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(duckdb_store)
    monkeypatch.setenv("OFF_APPLY_MODE", "apply")
    monkeypatch.delenv("OFF_PASSWORD")
    monkeypatch.setenv("OFF_WORLD_URL_OFF", opener.base)
    monkeypatch.setenv("OFF_PRODUCT_SOURCES", "api")
    duckdb_store.con.close()
    result = runner.invoke(app, ["insights", "apply", "--store", str(duckdb_store.path)])
    assert result.exit_code == 1
    assert "OFF_USER and OFF_PASSWORD" in result.output and opener.writes() == []
