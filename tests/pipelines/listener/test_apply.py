"""Per-product work ends where the bulk run ends: events for changed and deleted products, applied through
``apply_products``, leave the same predictions and insights as a bulk run on the new snapshot."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import Flavor, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.apply import apply_products, log_applied
from pipelines.listener.replay import replay_since
from pipelines.listener.sources import snapshot_rows
from pipelines.predictors.bulk import prediction_products
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.synth.generator import SynthSpec, generate
from tests.pipelines.insights.test_equivalence import COMPARED

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)
NEW_NAMES = ["Pâtes bio Panzani 500 g", "Biscuits sans gluten 200 g", "Lait demi-écrémé Lactel 1 L"]


@pytest.fixture(scope="module")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


def _bulk(con, snapshot: Path, resources: Resources) -> None:
    """The nightly run's steps on a snapshot (names only)."""
    products = pq.read_table(snapshot)
    predictions = predict(products, resources=resources)
    import_predictions(con, predictions, products=prediction_products(predictions, snapshot), now=NOW)
    refresh_insights(con, snapshot, resources=resources, now=NOW)


def _state(con) -> tuple[list, list]:
    columns = ", ".join(f"{c}::VARCHAR" for c in COMPARED)
    insights = sorted(con.execute(f"SELECT {columns} FROM product_insight").fetchall())
    predictions = sorted(
        con.execute(
            "SELECT barcode, type, value, value_tag, data::VARCHAR, source_image, predictor FROM prediction"
        ).fetchall()
    )
    return insights, predictions


def _edited(snapshot: Path, out: Path, renamed: list[str], removed: list[str]) -> None:
    """The snapshot with new names for ``renamed`` products and without ``removed`` ones."""
    table = pq.read_table(snapshot)
    codes = table.column("normalized_code").to_pylist()
    names = table.column("product_name").to_pylist()
    for index, code in enumerate(codes):
        if code in renamed:
            names[index] = [{"lang": "main", "text": NEW_NAMES[renamed.index(code) % len(NEW_NAMES)]}]
    position = table.schema.get_field_index("product_name")
    table = table.set_column(
        position, table.schema.field(position), pa.array(names, table.schema.field(position).type)
    )
    keep = pc.invert(pc.is_in(table.column("normalized_code"), value_set=pa.array(removed, pa.string())))
    pq.write_table(table.filter(keep), out)


def test_events_applied_per_product_equal_a_bulk_run(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path, resources: Resources
) -> None:
    dump = tmp_path / "dump.jsonl.gz"
    generate(SynthSpec(products=400, seed=17, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    before = tmp_path / "before"
    convert_dump(dump, "off", out_dir=before)
    snapshot = before / "products.parquet"
    codes = [c for c in pq.read_table(snapshot, columns=["normalized_code"]).column(0).to_pylist() if c]
    unique = [c for c in codes if codes.count(c) == 1]
    renamed, removed = unique[10:25], unique[40:46]
    after = tmp_path / "after.parquet"
    _edited(snapshot, after, renamed, removed)

    listener_store, bulk_store = tmp_path / "listener.duckdb", tmp_path / "bulk.duckdb"
    con = open_store(listener_store)
    _bulk(con, snapshot, resources)
    con.close()
    shutil.copy(listener_store, bulk_store)

    con = open_store(bulk_store)
    _bulk(con, after, resources)
    expected = _state(con)
    con.close()

    con = open_store(listener_store)
    rows = snapshot_rows(after, renamed)
    assert sorted(set(rows.column("normalized_code").to_pylist())) == sorted(renamed)
    report = apply_products(
        con, "off", updated=rows, updated_codes=renamed, deleted_codes=removed, resources=resources, now=NOW
    )
    got = _state(con)
    con.close()
    assert (report.updated, report.deleted, report.not_found) == (15, 6, 0)
    assert report.refresh["missing_products"] == 6
    assert sum(report.refresh["created"].values()) > 0  # the new names brought new insights
    assert got == expected


def test_an_update_for_a_product_absent_from_the_source_touches_nothing(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path, resources: Resources
) -> None:
    dump = tmp_path / "dump.jsonl.gz"
    generate(SynthSpec(products=60, seed=5, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", out_dir=tmp_path)
    snapshot = tmp_path / "products.parquet"
    con = open_store(tmp_path / "store.duckdb")
    _bulk(con, snapshot, resources)
    code, other = [r[0] for r in con.execute(_TWO_WITH_INSIGHTS).fetchall()]
    before = _state(con)
    empty = snapshot_rows(snapshot, [])
    report = apply_products(con, "off", updated=empty, updated_codes=[code], resources=resources, now=NOW)
    assert (report.updated, report.not_found, report.refresh) == (0, 1, {})
    assert _state(con) == before  # absence is not deletion
    assert con.execute("SELECT count(*) FROM listener_log").fetchall() == [(0,)]  # nor logged as gone

    # the nightly replay of the listener's work goes through the same function: a product logged by the
    # listener and since missing from the product source is not deleted either
    settings = get_settings({"OFF_DATA_DIR": str(tmp_path / "data")})
    without = settings.parquet_dir("off") / "products.parquet"
    without.parent.mkdir(parents=True)
    _edited(snapshot, without, renamed=[], removed=[code])
    log_applied(con, Flavor.off, [code, other], [], now=NOW)
    replayed = replay_since(con, "off", NOW, settings=settings, resources=resources, now=NOW)
    assert (replayed.products, replayed.deleted, replayed.not_found) == (2, 0, 1)
    after = _state(con)
    assert [row for row in after[0] if row[0] == code] == [row for row in before[0] if row[0] == code]
    assert [row for row in after[1] if row[0] == code] == [row for row in before[1] if row[0] == code]

    # only a deletion the caller knows of (a `deleted` event) deletes
    deleted = apply_products(
        con, "off", updated=empty, updated_codes=[], deleted_codes=[code], resources=resources
    )
    assert deleted.deleted == 1
    insights, predictions = _state(con)
    assert [row for row in insights + predictions if row[0] == code] == []
    con.close()


_TWO_WITH_INSIGHTS = "SELECT DISTINCT barcode FROM product_insight ORDER BY barcode LIMIT 2"
