"""Per-product work: the nightly run's functions on the rows of a few products.

An updated product goes through exactly what the bulk run does to every product — ``predict`` on its rows,
``import_predictions`` with the validity filter fed from the same rows, ``refresh_insights`` scoped to its
barcode — so a product refreshed from an event ends as a bulk refresh would leave it. A deleted product is
a refresh of its barcode against a product table that does not hold it: the refresh's own missing-product
step deletes its predictions and unannotated insights (annotated ones stay, as in the bulk run).

Products come from a product table with the snapshot's columns: the latest Parquet snapshot (the embedded
default, :func:`snapshot_rows`), or documents fetched from MongoDB or Product Opener's API and converted by
the conversion's own SQL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.config import Flavor
from pipelines.insights.refresh import RefreshReport, refresh_insights
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.predictors.run import prediction_products
from pipelines.sql import connect, load_sql
from pipelines.store.predictions import import_predictions

logger = logging.getLogger(__name__)


@dataclass
class ApplyReport:
    """What one batch of per-product work did."""

    flavor: str
    updated: int = 0
    deleted: int = 0
    not_found: int = 0  # updated codes absent from the product source: handled as deletions
    predictions: int = 0
    refresh: dict = field(default_factory=dict)


def snapshot_rows(snapshot: Path, codes: Sequence[str]) -> pa.Table:
    """The snapshot's rows of ``codes`` (normalized, validated), every column, as the bulk run reads them."""
    con = connect()
    try:
        con.read_parquet(str(snapshot)).create_view("snapshot_source")
        query = con.sql(load_sql("listener/snapshot_rows"), params={"codes": sorted(set(codes))})
        return query.to_arrow_table()
    finally:
        con.close()


def apply_products(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    *,
    updated: pa.Table,
    updated_codes: Sequence[str],
    deleted_codes: Sequence[str] = (),
    resources: Resources,
    now: dt.datetime | None = None,
) -> ApplyReport:
    """Predict, import and refresh ``updated_codes`` from their rows ``updated``; refresh ``deleted_codes``
    as gone. Codes must be normalized and valid (``pipelines.listener.events``)."""
    flavor = Flavor(flavor)
    report = ApplyReport(flavor=flavor.value, deleted=len(set(deleted_codes)))
    found = set(updated.column("normalized_code").to_pylist()) if updated.num_rows else set()
    report.updated = len(found & set(updated_codes))
    report.not_found = len(set(updated_codes) - found)
    if updated.num_rows:
        predictions = predict(updated, flavor=flavor, resources=resources)
        report.predictions = predictions.num_rows
        import_predictions(con, predictions, products=prediction_products(predictions, updated), now=now)
    scope = sorted(set(updated_codes) | set(deleted_codes))
    if scope:
        refreshed: RefreshReport = refresh_insights(
            con, updated, flavor=flavor, barcodes=scope, resources=resources, now=now
        )
        report.refresh = refreshed.to_dict()
    return report
