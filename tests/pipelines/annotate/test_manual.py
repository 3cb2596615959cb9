"""An operator's annotation of one insight, on both stores, against the Product Opener stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines.annotate.errors import AnnotateError
from pipelines.annotate.manual import InsightNotFoundError, annotate_insight
from pipelines.annotate.results import AnnotationStatus, Outcome
from pipelines.cli import app
from pipelines.common.config import get_settings
from pipelines.store.db import open_store
from tests.pipelines.annotate.conftest import A, C, seed
from tests.pipelines.insights.conftest import DuckStore, Store
from tests.support.product_opener import ProductOpener


def insight_of(store: Store, code: str, kind: str) -> dict[str, Any]:
    return next(i for i in store.insights(kind) if i["barcode"] == code)


def annotate(store: Store, server: ProductOpener, tmp_path: Path, insight: str, value: int) -> Outcome:
    settings = get_settings(
        {
            "OFF_DATA_DIR": str(tmp_path / "data"),
            "OFF_WORLD_URL_OFF": server.base,
            "OFF_PRODUCT_SOURCES": "api",
            "OFF_USER": server.user,
        }
    )
    options = {"settings": settings, "resources": store.resources}
    if store.backend == "postgresql":
        return annotate_insight(insight, value, store=store.url, **options)  # type: ignore[union-attr, arg-type]
    store.con.close()  # type: ignore[union-attr]
    try:
        return annotate_insight(insight, value, store=store.path, **options)  # type: ignore[union-attr, arg-type]
    finally:
        store.con = open_store(store.path)  # type: ignore[union-attr]


def test_accepting_writes_as_the_operator_and_records_the_user(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    target = insight_of(store, A, "store")
    outcome = annotate(store, opener, tmp_path, str(target["id"]), 1)
    assert outcome.status is AnnotationStatus.updated
    (write,) = opener.writes()
    assert write["comment"] == f"[offpipe] Adding store 'Auchan', ID: {target['id']}"  # not "automated"
    after = insight_of(store, A, "store")
    assert (after["annotation"], after["annotated_result"], after["username"]) == (1, 2, opener.user)
    again = annotate(store, opener, tmp_path, str(target["id"]), 0)
    assert again.status is AnnotationStatus.error_already_annotated and len(opener.writes()) == 1


@pytest.mark.parametrize("value", [0, -1])
def test_refusing_or_skipping_only_records(
    store: Store, opener: ProductOpener, tmp_path: Path, value: int
) -> None:
    seed(store)
    target = insight_of(store, C, "store")
    assert annotate(store, opener, tmp_path, str(target["id"]), value).status is AnnotationStatus.saved
    assert opener.writes() == []
    after = insight_of(store, C, "store")
    assert (after["annotation"], after["annotated_result"]) == (value, 1)


def test_a_failed_write_records_nothing(store: Store, opener: ProductOpener, tmp_path: Path) -> None:
    seed(store)
    target = insight_of(store, A, "store")
    opener.fail.status_500 = 1
    outcome = annotate(store, opener, tmp_path, str(target["id"]), 1)
    assert outcome.status is AnnotationStatus.error_failed_update and outcome.transient
    assert insight_of(store, A, "store")["annotation"] is None


def test_unknown_or_malformed_ids_are_one_clear_error(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    seed(store)
    with pytest.raises(InsightNotFoundError, match="no insight"):
        annotate(store, opener, tmp_path, "00000000-0000-4000-8000-000000000000", 1)
    with pytest.raises(AnnotateError, match="a UUID expected"):
        annotate(store, opener, tmp_path, "1' OR '1'='1", 1)
    with pytest.raises(AnnotateError, match="not supported"):
        annotate(store, opener, tmp_path, "00000000-0000-4000-8000-000000000000", 2)


def test_the_command(
    duckdb_store: DuckStore,
    opener: ProductOpener,
    monkeypatch: pytest.MonkeyPatch,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    seed(duckdb_store)
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))  # the refresh after the annotation reads them
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    target = str(insight_of(duckdb_store, A, "store")["id"])
    monkeypatch.setenv("OFF_WORLD_URL_OFF", opener.base)
    monkeypatch.setenv("OFF_PRODUCT_SOURCES", "api")
    duckdb_store.con.close()
    runner = CliRunner()
    args = ["insights", "annotate", target, "--value", "1", "--store", str(duckdb_store.path)]
    opener.fail.status_4xx = 1
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1 and json.loads(refused.stdout)["status"] == "error_failed_update"
    done = runner.invoke(app, args)
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "updated"
    missing = runner.invoke(app, [*args[:2], "not-a-uuid", *args[3:]])
    assert missing.exit_code == 1 and "error: invalid insight id" in missing.output
