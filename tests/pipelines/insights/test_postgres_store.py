"""What only the PostgreSQL store has to guarantee (docs/store.md): edits made in PostgreSQL by others —
annotations, votes, the listener's per-product sessions — are never undone by a refresh, even one that read
the rows before the edit; and a refresh with nothing to change writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb
import psycopg

from pipelines.insights.refresh import refresh_insights
from pipelines.store.postgres.session import ApplyReport, PostgresStore, Scope
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows
from tests.pipelines.insights.conftest import NOW, DuckStore, PgStore, prediction, product, products_table

CODES = [f"30000000000{i:02d}" for i in range(5)]


def brand(code: str, value: str = "Materne") -> dict[str, Any]:
    """A brand prediction that becomes an unannotated, non-automatic insight (not protected)."""
    return prediction(
        "brand",
        code=code,
        value=value,
        value_tag=value.lower(),
        predictor="google-cloud-vision",
        automatic_processing=False,
    )


@contextmanager
def bulk_writer(store: PgStore) -> Iterator[tuple[duckdb.DuckDBPyConnection, PostgresStore]]:
    """A bulk session of flavor off, as ``store_session`` opens one, with the store kept for its report."""
    pg = PostgresStore(store.target, work_dir=store.settings.data_dir / "tmp")
    try:
        with pg.writer(Scope("off", None), purpose="test bulk") as con:
            yield con, pg
    finally:
        pg.close()


def by_barcode(store: PgStore) -> dict[str, dict[str, Any]]:
    """The brand insight of each product (one each in these tests)."""
    rows = {i["barcode"]: i for i in store.insights("brand")}
    assert len(rows) == len(store.insights("brand"))
    return rows


def vote(store: PgStore, insight_id: uuid.UUID) -> None:
    """A vote as Robotoff records one: an annotation_vote row and the insight's n_votes moved."""
    store.sql(
        "INSERT INTO annotation_vote (id, insight_id, username, value, device_id, timestamp) "
        "VALUES (?, ?, 'voter', 1, 'device-1', now() AT TIME ZONE 'UTC')",
        uuid.uuid4(),
        insight_id,
    )
    store.sql("UPDATE product_insight SET n_votes = n_votes + 1 WHERE id = ?", insight_id)


def votes_of(store: PgStore, insight_id: uuid.UUID) -> int:
    return store.sql("SELECT count(*) FROM annotation_vote WHERE insight_id = ?", insight_id)[0][0]


def test_insights_annotated_or_voted_in_postgresql_survive_the_next_refresh(pg_store: PgStore) -> None:
    store = pg_store
    annotated_code, kept_code, updated_code = CODES[:3]
    store.predict(*[brand(code) for code in CODES[:3]])
    store.refresh(*[product(code=code) for code in CODES[:3]])
    before = by_barcode(store)
    annotated, kept, updated = (before[code]["id"] for code in (annotated_code, kept_code, updated_code))
    store.annotate(annotated)  # Robotoff's API, in PostgreSQL
    vote(store, kept)
    vote(store, updated)
    # the next predictions and products would delete the first insight (another brand), keep the second and
    # update the third (its product's scans changed)
    store.sql("DELETE FROM prediction WHERE barcode = ?", annotated_code)
    store.predict(brand(annotated_code, "Panzani"))
    report = store.refresh(
        product(code=annotated_code), product(code=kept_code), product(code=updated_code, unique_scans_n=42)
    )

    assert report.deleted == {} and report.updated == {"brand": 1} and report.created == {"brand": 1}
    after = {(i["barcode"], i["value_tag"]): i for i in store.insights("brand")}
    assert after[(annotated_code, "materne")] == before[annotated_code] | {"annotation": 1}
    assert (annotated_code, "panzani") in after
    assert after[(kept_code, "materne")] == before[kept_code] | {"n_votes": 1}  # untouched, vote counted
    assert votes_of(store, kept) == 1
    # An updated insight keeps its id, so its annotation_vote rows stay; the rule resets its n_votes when it
    # changes an insight (sql/insights/product_insight_update.sql) — Robotoff's importer does so for every
    # reference it maps a candidate onto, changed or not, and the kept one above shows we do not.
    assert after[(updated_code, "materne")]["id"] == updated
    assert after[(updated_code, "materne")]["unique_scans_n"] == 42
    assert after[(updated_code, "materne")]["n_votes"] == 0
    assert votes_of(store, updated) == 1


def test_an_annotation_between_the_read_and_the_apply_is_kept(pg_store: PgStore) -> None:
    store = pg_store
    store.predict(*[brand(code) for code in CODES[:2]])
    store.refresh(*[product(code=code) for code in CODES[:2]])
    before = by_barcode(store)
    to_delete, to_update = before[CODES[0]]["id"], before[CODES[1]]["id"]
    with bulk_writer(store) as (con, pg):
        # the rules decide from the rows read: the first product has a brand now (its insight goes), the
        # second more scans (its insight is updated)
        products = products_table(
            product(code=CODES[0], brands_tags=["materne"]), product(code=CODES[1], unique_scans_n=9)
        )
        report = refresh_insights(con, products, resources=store.resources, now=NOW)
        assert report.deleted == {"brand": 1} and report.updated == {"brand": 1}
        with psycopg.connect(store.url, autocommit=True) as other:  # a voter, meanwhile
            other.execute(
                "UPDATE product_insight SET annotation = 1 WHERE id = ANY(%s)", [[to_delete, to_update]]
            )
    assert pg.last_report.rows.get("product_insight", {}) == {}  # both guarded at apply time
    after = by_barcode(store)
    assert after[CODES[0]] == before[CODES[0]] | {"annotation": 1}
    assert after[CODES[1]] == before[CODES[1]] | {"annotation": 1}


def test_a_per_product_session_during_a_bulk_session_stands(pg_store: PgStore) -> None:
    store = pg_store
    store.predict(*[brand(code) for code in CODES])
    store.refresh(*[product(code=code) for code in CODES])
    before = by_barcode(store)
    listener = CODES[0]
    with bulk_writer(store) as (con, pg):
        # the nightly run decides from the rows it read: every product has its brand now
        refresh_insights(
            con,
            products_table(*[product(code=code, brands_tags=["materne"]) for code in CODES]),
            resources=store.resources,
            now=NOW,
        )
        # meanwhile the listener applies newer data for one product and commits
        store.refresh(product(code=listener, unique_scans_n=77), barcodes=[listener])
        by_listener = by_barcode(store)[listener]
        assert by_listener["unique_scans_n"] == 77
    assert pg.last_report.skipped_products == 1
    assert pg.last_report.rows["product_insight"] == {"deleted": len(CODES) - 1}
    after = by_barcode(store)
    assert after == {listener: by_listener}  # the listener's result stands, the others were applied
    assert by_listener["id"] == before[listener]["id"]


def test_a_rerun_with_nothing_changed_applies_nothing(pg_store: PgStore) -> None:
    store = pg_store
    rows = [brand(code) for code in CODES] + [
        prediction("store", code=c, value="Auchan", value_tag="auchan") for c in CODES
    ]
    products = products_table(*[product(code=code) for code in CODES])
    reports: list[ApplyReport] = []
    for _ in range(2):
        with bulk_writer(store) as (con, pg):
            import_predictions(con, predictions_from_rows(rows), now=NOW)
        reports.append(pg.last_report)
        with bulk_writer(store) as (con, pg):
            refresh_insights(con, products, resources=store.resources, now=NOW)
        reports.append(pg.last_report)
    first_import, first_refresh, again_import, again_refresh = reports
    assert first_import.rows == {"prediction": {"inserted": 2 * len(CODES)}}
    assert first_refresh.rows["product_insight"] == {"inserted": 2 * len(CODES)}
    assert again_import.rows == {}
    assert again_refresh.rows == {"run": {"inserted": 1}}
    assert again_import.chunks == again_refresh.chunks == 0


def test_rows_read_back_equal_the_duckdb_stores(duckdb_store: DuckStore, pg_store: PgStore) -> None:
    """The same predictions and products give the same insight rows, value for value (ids aside): aware
    UTC timestamps, documents, lists, confidences at ``real`` precision, booleans and NULLs."""
    image = "/301/762/042/2003/1.jpg"
    rows = [
        prediction(
            "store",
            value="Auchan",
            value_tag="auchan",
            source_image=image,
            data={"text": "Auchan", "bounding_box_absolute": [200, 100, 400, 1500]},
        ),
        prediction(
            "category", value_tag="en:cheeses", predictor="neural", confidence=0.9, data={"lang": "fr"}
        ),
        prediction("label", value_tag="en:vegan", predictor="flashtext", source_image=image),
        brand(CODES[0]),
    ]
    products = [product(), product(code=CODES[0], brands_tags=[], countries_tags=["en:france", "en:belgium"])]
    for store in (duckdb_store, pg_store):
        store.predict(*rows)
        store.refresh(*products)
    expected = [{k: v for k, v in i.items() if k != "id"} for i in duckdb_store.insights()]
    assert {i["type"] for i in expected} == {"store", "category", "label", "brand"}
    assert any(i["confidence"] is not None for i in expected)
    assert [{k: v for k, v in i.items() if k != "id"} for i in pg_store.insights()] == expected


def test_a_per_product_session_runs_its_working_copy_on_one_thread(pg_store: PgStore) -> None:
    pg = PostgresStore(pg_store.target, work_dir=pg_store.settings.data_dir / "tmp", keep_copy=True)
    try:
        with pg.writer(Scope("off", tuple(CODES[:2])), purpose="test listener") as con:
            assert con.execute("SELECT current_setting('threads')").fetchall()[0][0] == 1
    finally:
        pg.close()
