"""The ``apply_insights`` flow on a real Prefect API, against the Product Opener stand-in: the worker's
OFF_APPLY_MODE decides whether calls are sent, ``dry_run`` can only turn them off; each run's counts are an
artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flows.artifacts import artifact
from tests.pipelines.annotate.conftest import seed
from tests.pipelines.insights.conftest import DuckStore
from tests.support.product_opener import ProductOpener

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_the_flow_plans_by_default_and_applies_when_the_worker_says_so(
    duckdb_store: DuckStore,
    opener: ProductOpener,
    monkeypatch: pytest.MonkeyPatch,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    from flows.annotate import apply_insights

    seed(duckdb_store)  # due since long ago: the refresh's fixed time is in the past
    duckdb_store.con.close()
    monkeypatch.setenv("OFF_STORE_URL", str(duckdb_store.path))
    monkeypatch.setenv("OFF_DATA_DIR", str(duckdb_store.path.parent / "data"))
    monkeypatch.setenv("OFF_WORLD_URL_OFF", opener.base)
    monkeypatch.setenv("OFF_PRODUCT_SOURCES", "api")
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))  # read by the refresh after the writes
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))

    planned = apply_insights(flavor="off", rate=100)
    assert (planned["mode"], planned["due"], planned["sent"]) == ("plan", 3, 0) and opener.writes() == []
    assert Path(planned["plan"]).exists()
    assert "Plan: `" in max(artifact("apply-insights-off"), key=lambda a: a.created).data

    monkeypatch.setenv("OFF_APPLY_MODE", "apply")
    assert apply_insights(flavor="off", rate=100, dry_run=True)["sent"] == 0
    applied = apply_insights(flavor="off", rate=100)
    assert (applied["mode"], applied["sent"], applied["recorded"]) == ("apply", 2, 3)
    markdown = max(artifact("apply-insights-off"), key=lambda a: a.created).data
    assert "| 3 | 2 | 3 | 0 | 0 |" in markdown and "| updated | 2 |" in markdown
