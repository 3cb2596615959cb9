"""Fixtures and helpers of the store tests: a real DuckDB file per test, prediction rows by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from pipelines.store.db import open_store
from pipelines.store.schema import predictions_from_rows

BARCODE = "3017620422003"
IMAGE_1 = "/301/762/042/2003/1.jpg"
IMAGE_2 = "/301/762/042/2003/2.jpg"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)

# Every stored column but id and timestamp, i.e. what an import decides.
CONTENT = (
    "barcode",
    "type",
    "data",
    "value_tag",
    "value",
    "source_image",
    "automatic_processing",
    "predictor",
    "predictor_version",
    "confidence",
    "server_type",
)


def pred(**overrides: Any) -> dict[str, Any]:
    """One prediction row: an OCR label of BARCODE's image 1, overridden by keyword."""
    row: dict[str, Any] = {
        "type": "label",
        "barcode": BARCODE,
        "server_type": "off",
        "value": None,
        "value_tag": "en:organic",
        "data": {},
        "automatic_processing": None,
        "predictor": "flashtext",
        "predictor_version": "1",
        "source_image": IMAGE_1,
        "confidence": None,
    }
    unknown = set(overrides) - set(row)
    assert not unknown, unknown
    return row | overrides


def batch(*rows: dict[str, Any]) -> pa.Table:
    return predictions_from_rows(rows)


def stored(con: duckdb.DuckDBPyConnection, *extra: str) -> list[dict[str, Any]]:
    """The stored rows (content columns, plus ``extra`` ones), ordered by id; ``data`` parsed."""
    columns = [*CONTENT, *extra]
    result = con.execute(f"SELECT {', '.join(columns)} FROM prediction ORDER BY id").fetchall()
    rows = [dict(zip(columns, values, strict=True)) for values in result]
    for row in rows:
        row["data"] = orjson.loads(row["data"])
    return rows


def content(row: dict[str, Any]) -> tuple:
    """A row as a hashable content tuple (``data`` as canonical JSON)."""
    return tuple(
        orjson.dumps(row[c], option=orjson.OPT_SORT_KEYS) if c == "data" else row[c] for c in CONTENT
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.duckdb"


@pytest.fixture
def con(store: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_store(store)
    yield connection
    connection.close()
