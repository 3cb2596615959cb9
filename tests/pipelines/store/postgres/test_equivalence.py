"""One rule, two stores: a bulk import + refresh gives the same ``product_insight`` rows (all columns but ids
and timestamps) and the same predictions in the DuckDB store and in the PostgreSQL store — on the 50k
synthetic dump and on every product of the real sample (docs/store.md, "One rule, two stores")."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.bulk import PRODUCT_COLUMNS
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.predictions import import_predictions
from pipelines.store.session import store_reader, store_session
from pipelines.store.target import DuckDBTarget, PostgresTarget

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
INSIGHT_COLUMNS = (
    "barcode type data completed_at annotation annotated_result n_votes username countries brands "
    "process_after value_tag value source_image automatic_processing server_type unique_scans_n "
    "reserved_barcode predictor predictor_version campaign confidence bounding_box lc with_image"
).split()
PREDICTION_COLUMNS = (
    "barcode type data timestamp value_tag value source_image automatic_processing predictor "
    "predictor_version confidence server_type"
).split()


@pytest.fixture(scope="module")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


def _normalized(table: pa.Table, columns: list[str]) -> list[tuple]:
    """Rows as comparable tuples: JSON as documents, confidences at PostgreSQL's ``real`` precision."""
    out = []
    for row in table.select(columns).to_pylist():
        for key in ("data", "bounding_box"):
            if row.get(key) is not None:
                row[key] = orjson.dumps(orjson.loads(row[key]), option=orjson.OPT_SORT_KEYS)
        if row.get("confidence") is not None:
            row["confidence"] = float(np.float32(row["confidence"]))
        for key, value in row.items():
            if isinstance(value, dt.datetime):  # one time zone name for both stores
                row[key] = value.astimezone(dt.UTC).isoformat()
        out.append(tuple(repr(row[c]) for c in columns))
    return sorted(out)


def _run(
    store: DuckDBTarget | PostgresTarget, snapshot: Path, predictions: pa.Table, resources: Resources
) -> None:
    settings = get_settings()
    with store_session(store, server_type="off", purpose="import", settings=settings) as con:
        import_predictions(con, predictions, now=NOW)
    with store_session(store, server_type="off", purpose="refresh", settings=settings) as con:
        refresh_insights(con, snapshot, resources=resources, now=NOW)


def _rows(store: DuckDBTarget | PostgresTarget, table: str, columns: list[str]) -> list[tuple]:
    with store_reader(store, server_type="off", settings=get_settings()) as con:
        select = ", ".join(f"{c}::VARCHAR AS {c}" if c in ("data", "bounding_box") else c for c in columns)
        return _normalized(con.sql(f"SELECT {select} FROM {table}").to_arrow_table(), columns)


def _compare(tmp_path: Path, pg_store_url: str, snapshot: Path, resources: Resources) -> int:
    products = pq.read_table(snapshot)
    predictions = predict(
        products.select([c for c in PRODUCT_COLUMNS if c in products.column_names]), None, resources=resources
    )
    duck, pg = DuckDBTarget(tmp_path / "store.duckdb"), PostgresTarget(pg_store_url)
    for store in (duck, pg):
        _run(store, snapshot, predictions, resources)
    expected = _rows(duck, "product_insight", INSIGHT_COLUMNS)
    assert expected, "the products should give insights"
    assert _rows(pg, "product_insight", INSIGHT_COLUMNS) == expected
    assert _rows(pg, "prediction", PREDICTION_COLUMNS) == _rows(duck, "prediction", PREDICTION_COLUMNS)
    return len(expected)


def test_50k_synthetic_products(
    tmp_path: Path, data_dir: Path, pg_store_url: str, synthetic_50k: dict[str, Path], resources: Resources
) -> None:
    assert _compare(tmp_path, pg_store_url, synthetic_50k["products"], resources) > 1000


def test_every_real_product(
    tmp_path: Path, data_dir: Path, pg_store_url: str, real_off_sample: Path, resources: Resources
) -> None:
    convert_dump(real_off_sample, "off", out_dir=tmp_path / "parquet")
    assert _compare(tmp_path, pg_store_url, tmp_path / "parquet" / "products.parquet", resources) > 5
