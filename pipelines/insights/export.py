"""Reading insights out of the store: the table export (Parquet or JSON lines) and one product's rows.

The export is for downstream tools, so it keeps Robotoff's column names and order (``robotoff/models.py``) and
one row per insight, ordered by barcode, type and id so two exports of the same store are byte-comparable.
Parquet gets an explicit Arrow schema (DuckDB's writer would mark a column "required" whenever the exported
rows happen to hold no NULL), ``data`` and ``bounding_box`` as JSON text and the lists as ``list<string>``;
JSON lines nest them, as Robotoff serializes an insight. Both are written to a temporary file and renamed when
complete, so a reader sees the previous export or the new one, never a partial file.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from pipelines.barcodes import validated_code
from pipelines.common.config import Flavor
from pipelines.common.sql import load_sql
from pipelines.store.export import ExportFormat, ExportReport, export_table

logger = logging.getLogger(__name__)

_TIME = pa.timestamp("us", tz="UTC")
_TAGS = pa.list_(pa.string())
# Robotoff's product_insight columns (robotoff/models.py), in its order, with the store's nullability.
EXPORT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("data", pa.string(), nullable=False),
        pa.field("timestamp", _TIME),
        pa.field("completed_at", _TIME),
        pa.field("annotation", pa.int32()),
        pa.field("annotated_result", pa.int32()),
        pa.field("n_votes", pa.int32(), nullable=False),
        pa.field("username", pa.string()),
        pa.field("countries", _TAGS),
        pa.field("brands", _TAGS),
        pa.field("process_after", _TIME),
        pa.field("value_tag", pa.string()),
        pa.field("value", pa.string()),
        pa.field("source_image", pa.string()),
        pa.field("automatic_processing", pa.bool_()),
        pa.field("server_type", pa.string(), nullable=False),
        pa.field("unique_scans_n", pa.int32()),
        pa.field("reserved_barcode", pa.bool_()),
        pa.field("predictor", pa.string()),
        pa.field("predictor_version", pa.string()),
        pa.field("campaign", _TAGS),
        pa.field("confidence", pa.float64()),
        pa.field("bounding_box", pa.string()),
        pa.field("lc", _TAGS),
        pa.field("with_image", pa.bool_()),
    ]
)
EXPORT_COLUMNS = tuple(EXPORT_SCHEMA.names)
JSON_COLUMNS = frozenset({"data", "bounding_box"})  # nested in `insights show`


def export_insights(
    con: duckdb.DuckDBPyConnection, out: Path | str, fmt: ExportFormat | str = ExportFormat.parquet
) -> ExportReport:
    """Write every insight (ordered by barcode, type, id) to ``out`` in ``fmt``; return what was written.

    The export reads one snapshot of the table (DuckDB's transaction isolation), so a concurrent writer in
    the same process cannot make it inconsistent.
    """
    return export_table(
        con,
        out,
        fmt,
        schema=EXPORT_SCHEMA,
        sql={ExportFormat.parquet: "insights/export_parquet", ExportFormat.jsonl: "insights/export_jsonl"},
        what="insights",
    )


def product_records(
    con: duckdb.DuckDBPyConnection, code: str, flavor: Flavor | str = Flavor.off
) -> dict[str, Any]:
    """A product's stored predictions and insights, JSON-ready (``data``/``bounding_box`` nested).

    ``code`` goes through :func:`~pipelines.barcodes.validated_code` here as well as at the edge: it is
    only ever a SQL parameter, and an invalid code raises ``InvalidBarcodeError`` before any query runs.
    """
    barcode = validated_code(code)
    params = {"barcode": barcode, "server_type": Flavor(flavor).value}
    return {
        "barcode": barcode,
        "server_type": params["server_type"],
        "predictions": _records(con, load_sql("insights/show_predictions"), params),
        "insights": _records(con, load_sql("insights/show_insights"), params),
    }


def _records(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, str]) -> list[dict[str, Any]]:
    cursor = con.execute(query, params)
    names = [d[0] for d in cursor.description]
    return [
        {name: _jsonable(name, value) for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def _jsonable(name: str, value: Any) -> Any:
    """JSON columns parsed, times in ISO 8601 (UTC), UUIDs as text; everything else as DuckDB returns it."""
    if value is None:
        return None
    if name in JSON_COLUMNS and isinstance(value, str):
        return orjson.loads(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
