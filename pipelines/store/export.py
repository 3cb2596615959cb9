"""Exporting the prediction table: Parquet or JSON lines, Robotoff's column names, written atomically.

Why two formats: Parquet for analysis (``data`` stays JSON text in a plain string column, which every
Parquet reader understands), JSON lines for Robotoff's own tooling (``data`` as a nested object, as
Robotoff serializes a prediction). Both are written to a temporary file, renamed only when complete: a
reader of the export sees the previous file or the new one, never a partial one. JSON lines come straight
from DuckDB's ``COPY``; Parquet is streamed through pyarrow with an explicit schema (DuckDB's writer marks a
column "required" when the exported rows happen to hold no NULL, so its schema would vary between exports).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.common import files
from pipelines.common.sql import load_sql

logger = logging.getLogger(__name__)

# Robotoff's prediction columns (robotoff/models.py), in its order, with the store's nullability.
EXPORT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("data", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("value_tag", pa.string()),
        pa.field("value", pa.string()),
        pa.field("source_image", pa.string()),
        pa.field("automatic_processing", pa.bool_()),
        pa.field("predictor", pa.string()),
        pa.field("predictor_version", pa.string()),
        pa.field("confidence", pa.float64()),
        pa.field("server_type", pa.string(), nullable=False),
    ]
)
EXPORT_COLUMNS = tuple(EXPORT_SCHEMA.names)
ROW_GROUP_ROWS = 122_880


class ExportFormat(StrEnum):
    parquet = "parquet"
    jsonl = "jsonl"


@dataclass
class ExportReport:
    path: str
    format: str
    rows: int
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def export_predictions(
    con: duckdb.DuckDBPyConnection, out: Path | str, fmt: ExportFormat | str = ExportFormat.parquet
) -> ExportReport:
    """Write every stored prediction (ordered by id) to ``out`` in ``fmt``; return what was written.

    The export reads one snapshot of the table (DuckDB's transaction isolation), so a concurrent writer in
    the same process cannot make it inconsistent.
    """
    return export_table(
        con,
        out,
        fmt,
        schema=EXPORT_SCHEMA,
        sql={ExportFormat.parquet: "store/export_parquet", ExportFormat.jsonl: "store/export_jsonl"},
        what="predictions",
    )


def export_table(
    con: duckdb.DuckDBPyConnection,
    out: Path | str,
    fmt: ExportFormat | str,
    *,
    schema: pa.Schema,
    sql: Mapping[ExportFormat, str],
    what: str,
) -> ExportReport:
    """Write the rows of the query ``sql[parquet]`` (Parquet, ``schema``) or of the COPY statement
    ``sql[jsonl]`` (JSON lines) to ``out``: a temporary file, fsynced, then renamed."""
    started = time.perf_counter()
    fmt = ExportFormat(fmt)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(out) as tmp:
        if fmt is ExportFormat.parquet:
            rows = _write_parquet(con, tmp, load_sql(sql[fmt]), schema)
        else:
            rows = _write_jsonl(con, tmp, load_sql(sql[fmt]))
    report = ExportReport(
        path=str(out), format=fmt.value, rows=rows, seconds=round(time.perf_counter() - started, 3)
    )
    logger.info("exported %d %s to %s (%s)", report.rows, what, out, fmt.value)
    return report


def _write_parquet(con: duckdb.DuckDBPyConnection, path: Path, query: str, schema: pa.Schema) -> int:
    """Stream the rows into a Parquet file of ``schema`` (zstd); return the row count."""
    rows = 0
    reader = con.sql(query).to_arrow_reader(ROW_GROUP_ROWS)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_batches([batch]).cast(schema), row_group_size=ROW_GROUP_ROWS)
            rows += batch.num_rows
    return rows


def _write_jsonl(con: duckdb.DuckDBPyConnection, path: Path, copy_statement: str) -> int:
    """DuckDB's JSON writer: one object per line, JSON columns nested as they are; return the row count."""
    return int(con.execute(copy_statement, {"path": str(path)}).fetchall()[0][0])
