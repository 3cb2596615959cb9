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
from tests.pipelines.annotate.conftest import A, C, prediction, product, seed
from tests.pipelines.insights.conftest import DuckStore, Store
from tests.support.product_opener import ProductOpener


def insight_of(store: Store, code: str, kind: str) -> dict[str, Any]:
    return next(i for i in store.insights(kind) if i["barcode"] == code)


def annotate(
    store: Store,
    server: ProductOpener,
    tmp_path: Path,
    insight: str,
    value: int,
    data: dict[str, Any] | None = None,
) -> Outcome:
    settings = get_settings(
        {
            "OFF_DATA_DIR": str(tmp_path / "data"),
            "OFF_WORLD_URL_OFF": server.base,
            "OFF_PRODUCT_SOURCES": "api",
            "OFF_USER": server.user,
        }
    )
    options = {"settings": settings, "resources": store.resources, "data": data}
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
        annotate(store, opener, tmp_path, "00000000-0000-4000-8000-000000000000", 3)


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


def _category(store: Store) -> dict[str, Any]:
    seed(store)
    store.predict(prediction("category", code=A, value_tag="en:cheeses", predictor="regex"))
    store.refresh(product(A), barcodes=[A])
    return insight_of(store, A, "category")


def test_accepting_with_the_operators_category_writes_and_keeps_it(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    target = _category(store)
    data = {"value_tag": "en:blue-cheeses"}
    outcome = annotate(store, opener, tmp_path, str(target["id"]), 2, data)
    assert outcome.status is AnnotationStatus.user_input_updated
    (write,) = opener.writes()
    assert write["add_categories"] == "en:blue-cheeses"
    after = insight_of(store, A, "category")
    assert (after["annotation"], after["annotated_result"]) == (2, 12)
    assert (after["value_tag"], after["value"]) == ("en:blue-cheeses", None)
    stored = after["data"] if isinstance(after["data"], dict) else json.loads(after["data"])
    assert stored["original_value_tag"] == "en:cheeses" and stored["user_input"] is True


def test_the_operators_category_already_on_the_product_is_not_sent(
    store: Store, opener: ProductOpener, tmp_path: Path
) -> None:
    target = _category(store)
    opener.products[A]["categories_tags"] = ["en:blue-cheeses"]
    outcome = annotate(store, opener, tmp_path, str(target["id"]), 2, {"value_tag": "en:blue-cheeses"})
    assert outcome.status is AnnotationStatus.error_already_annotated and opener.writes() == []
    after = insight_of(store, A, "category")  # annotated, the predicted value kept (as Robotoff)
    assert (after["annotation"], after["annotated_result"], after["value_tag"]) == (2, None, "en:cheeses")


@pytest.mark.parametrize(
    ("value", "data", "detail"),
    [
        (2, None, "data must be provided"),
        (1, {"value_tag": "en:jams"}, "needs annotation 2"),
        (2, {"value_tag": "en:jams", "extra": 1}, "exactly"),
        (2, {"value_tag": 3}, "exactly"),
        (2, {"value_tag": " "}, "exactly"),
    ],
)
def test_invalid_operator_data_records_nothing(
    store: Store, opener: ProductOpener, tmp_path: Path, value: int, data: dict | None, detail: str
) -> None:
    target = _category(store)
    outcome = annotate(store, opener, tmp_path, str(target["id"]), value, data)
    assert outcome.status is AnnotationStatus.error_invalid_data and detail in outcome.detail
    assert opener.writes() == [] and insight_of(store, A, "category")["annotation"] is None


def test_other_types_accept_with_data_as_with_1(store: Store, opener: ProductOpener, tmp_path: Path) -> None:
    seed(store)
    target = insight_of(store, A, "store")
    outcome = annotate(store, opener, tmp_path, str(target["id"]), 2, {"anything": "ignored"})
    assert outcome.status is AnnotationStatus.updated and len(opener.writes()) == 1
    after = insight_of(store, A, "store")
    assert (after["annotation"], after["annotated_result"], after["value_tag"]) == (2, 2, "auchan")


def test_the_command_reads_the_operators_data(
    duckdb_store: DuckStore, opener: ProductOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(duckdb_store)
    target = str(insight_of(duckdb_store, A, "store")["id"])
    duckdb_store.con.close()
    runner = CliRunner()
    args = ["insights", "annotate", target, "--value", "2", "--store", str(duckdb_store.path)]
    not_json = runner.invoke(app, [*args, "--data", "{value_tag"])
    assert not_json.exit_code == 2 and "not JSON" in not_json.output
    not_object = runner.invoke(app, [*args, "--data", '["en:jams"]'])
    assert not_object.exit_code == 2 and "a JSON object expected" in not_object.output
    missing = runner.invoke(app, args)
    assert missing.exit_code == 1 and json.loads(missing.stdout)["status"] == "error_invalid_data"
    assert opener.writes() == []
