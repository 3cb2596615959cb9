"""The one table every predictor returns: Robotoff's ``prediction`` columns, as an Arrow schema.

Predictions are rows, not objects: a predictor maps a product table (or an OCR-text table) to a table of
this schema, whatever the number of input rows. Column names and meanings are Robotoff's
(``robotoff/models.py``, table ``prediction``) so that exports can be read by Robotoff's tooling:

- ``barcode`` is Product Opener's normalized code (``pipelines.barcodes.normalize_code``);
- ``data`` is the JSON text of Robotoff's ``data`` dict (keys in Robotoff's order);
- ``automatic_processing`` is nullable: several OCR predictors leave it to the importer;
- ``source_image`` is the image path (``/303/835/001/3804/11.jpg``), null for product-field predictions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pyarrow as pa

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("type", pa.string(), nullable=False),
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("server_type", pa.string(), nullable=False),
        pa.field("value", pa.string()),
        pa.field("value_tag", pa.string()),
        pa.field("data", pa.string(), nullable=False),
        pa.field("automatic_processing", pa.bool_()),
        pa.field("predictor", pa.string()),
        pa.field("predictor_version", pa.string()),
        pa.field("source_image", pa.string()),
        pa.field("confidence", pa.float64()),
    ]
)

COLUMNS = tuple(PREDICTION_SCHEMA.names)


def empty_predictions() -> pa.Table:
    """A prediction table with no rows."""
    return PREDICTION_SCHEMA.empty_table()


def dumps_data(data: Mapping[str, Any]) -> str:
    """JSON text of a ``data`` dict, key order kept (Robotoff's order), non-ASCII kept as is."""
    return orjson.dumps(data).decode()


def predictions_from_rows(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a prediction table from row dicts (``data`` given as a dict or as JSON text).

    Used where a rule produces few rows (matches, not products): the set-based part has already narrowed the
    input down, and building the table from dicts is then cheaper than it looks.
    """
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        for name in COLUMNS:
            value = row.get(name)
            if name == "data" and not isinstance(value, str):
                value = dumps_data(value or {})
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=PREDICTION_SCHEMA)


def concat_predictions(tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate prediction tables (all of :data:`PREDICTION_SCHEMA`)."""
    tables = [t.select(list(COLUMNS)).cast(PREDICTION_SCHEMA) for t in tables]
    if not tables:
        return empty_predictions()
    return pa.concat_tables(tables)
