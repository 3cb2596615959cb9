"""Importing predictions into the store (``robotoff/insights/importer.py``), set-based, and the listener's
deletions.

One function for every batch size: the nightly run imports millions of rows and the listener one product's,
through the same SQL (``sql/store/import_*.sql``), in one transaction under the writer lock. The rules are
Robotoff's ``import_predictions`` / ``import_product_predictions`` (``robotoff/insights/importer.py``), read
row by row and restated over sets:

1. validity filter (when a product table is given): predictions of missing products, or whose
   ``source_image`` is not one of the product's digit image ids, are dropped and counted;
2. eviction: an incoming ``category`` prediction replaces every stored category prediction of its product;
   other types replace stored rows of the same barcode, server type, type and (non-NULL) source image with
   another ``predictor_version``;
3. insertion: an incoming row goes in unless the store holds one with the same key
   ``(barcode, server_type, type, source_image, value_tag, value, predictor, automatic_processing)``
   (NULL matches NULL; ``data`` is not part of the key); within the batch the first row of a key wins;
4. the per-product set of incoming prediction types is returned for the insight importer.

Two deliberate deviations, both documented in ``docs/store.md``: duplicate keys within one batch are stored
once (Robotoff stores each copy), and a stored row that step 2 would evict but that is identical to the row
step 3 would insert is kept rather than deleted and re-inserted, so that importing a batch twice changes
nothing (design invariant 6) while the resulting content is Robotoff's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.common.config import Flavor
from pipelines.common.errors import OffpipeError
from pipelines.common.sql import arrow_table, load_sql, load_statement
from pipelines.store.db import write_transaction
from pipelines.store.lock import DEFAULT_LOCK_TIMEOUT
from pipelines.store.schema import COLUMNS, PREDICTION_SCHEMA

logger = logging.getLogger(__name__)

DROP_PRODUCT_MISSING = "product_missing"
DROP_INVALID_IMAGE = "invalid_image"
DROP_REASONS = (DROP_PRODUCT_MISSING, DROP_INVALID_IMAGE)
RULE_CATEGORY = "category"
RULE_PREDICTOR_VERSION = "predictor_version"
DELETE_RULES = (RULE_CATEGORY, RULE_PREDICTOR_VERSION)

# Robotoff's server types are the names of its ServerType enum, which are our flavor values.
SERVER_TYPES = frozenset(flavor.value for flavor in Flavor)

PRODUCTS_SCHEMA = pa.schema([pa.field("barcode", pa.string()), pa.field("image_ids", pa.list_(pa.string()))])
TYPES_BY_PRODUCT_SCHEMA = pa.schema(
    [
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("server_type", pa.string(), nullable=False),
        pa.field("types", pa.list_(pa.string()), nullable=False),
    ]
)

_BATCH_VIEW = "store_import_arrow"
_PRODUCTS_VIEW = "store_import_products"


class PredictionImportError(OffpipeError, RuntimeError):
    """The import could not complete consistently; the transaction was rolled back."""


@dataclass
class ImportReport:
    """What one import did; every row in is counted once: dropped, duplicate, inserted or already stored."""

    imported_at: str
    rows_in: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DROP_REASONS, 0))
    duplicates_in_batch: int = 0
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DELETE_RULES, 0))
    kept_identical: int = 0
    inserted: int = 0
    skipped_existing: int = 0
    seconds: float = 0.0
    types_by_product: pa.Table = field(default_factory=TYPES_BY_PRODUCT_SCHEMA.empty_table, repr=False)

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())

    def balances(self) -> bool:
        """Every incoming row is accounted for exactly once."""
        accounted = sum(self.dropped.values()) + self.duplicates_in_batch + self.inserted
        return self.rows_in == accounted + self.skipped_existing

    def types_by_barcode(self, server_type: str = "off") -> dict[str, set[str]]:
        """Robotoff's return value for one server type: barcode → set of incoming prediction types."""
        rows = self.types_by_product.filter(pc.equal(self.types_by_product["server_type"], server_type))
        return {
            barcode: set(types)
            for barcode, types in zip(rows["barcode"].to_pylist(), rows["types"].to_pylist(), strict=True)
        }

    def to_dict(self) -> dict:
        """JSON-ready summary (the per-product table is summarized by its row count)."""
        out = asdict(self)
        out.pop("types_by_product")
        return out | {"products": self.types_by_product.num_rows, "deleted_total": self.deleted_total}


def import_predictions(
    con: duckdb.DuckDBPyConnection,
    predictions: pa.Table,
    *,
    products: pa.Table | None = None,
    now: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> ImportReport:
    """Import a batch of predictions (:data:`PREDICTION_SCHEMA`) into the store, all or nothing.

    ``products`` (columns ``barcode``, ``image_ids``: list of image id strings) enables the validity filter;
    without it every prediction is taken as valid, as Robotoff does without MongoDB access. ``now`` (aware)
    is stamped on inserted rows; default: the current time.
    """
    started = time.perf_counter()
    stamp = _import_time(now)
    batch = _prepare_predictions(predictions)
    product_table = _prepare_products(products)
    report = ImportReport(imported_at=stamp.isoformat())
    con.register(_BATCH_VIEW, batch)
    con.register(_PRODUCTS_VIEW, product_table)
    try:
        with write_transaction(con, timeout=lock_timeout, purpose="import_predictions"):
            con.execute(load_sql("store/import_cleanup"))
            candidates = _classify_batch(con, products is not None, report)
            _delete_replaced(con, report)
            _insert_new(con, stamp, candidates, report)
            report.types_by_product = _types_by_product(con)
            con.execute(load_sql("store/import_cleanup"))
            _check_balance(report)
    finally:
        for view in (_BATCH_VIEW, _PRODUCTS_VIEW):
            with suppress(duckdb.Error):
                con.unregister(view)
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "imported predictions: %d in, %d dropped, %d duplicates, %d deleted, %d inserted, %d already stored "
        "(%.2f s)",
        report.rows_in,
        sum(report.dropped.values()),
        report.duplicates_in_batch,
        report.deleted_total,
        report.inserted,
        report.skipped_existing,
        report.seconds,
    )
    return report


def delete_product_predictions(
    con: duckdb.DuckDBPyConnection,
    barcodes: Iterable[str],
    server_type: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> int:
    """Delete every prediction of ``barcodes`` (normalized) for ``server_type``; return the rows deleted."""
    _check_server_type(server_type)
    codes = sorted(set(barcodes))
    if not codes:
        return 0
    params = {"barcodes": codes, "server_type": server_type}
    with write_transaction(con, timeout=lock_timeout, purpose="delete_product_predictions"):
        deleted = _count(con.execute(load_statement("store/delete_product_predictions"), params).fetchall())
    logger.info("deleted %d predictions of %d %s products", deleted, len(codes), server_type)
    return deleted


def delete_image_predictions(
    con: duckdb.DuckDBPyConnection,
    barcode: str,
    source_image: str,
    server_type: str,
    *,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> int:
    """Delete the predictions made from one image (``source_image``: ``/303/…/11.jpg``); return the count."""
    _check_server_type(server_type)
    params = {"barcode": barcode, "source_image": source_image, "server_type": server_type}
    with write_transaction(con, timeout=lock_timeout, purpose="delete_image_predictions"):
        deleted = _count(con.execute(load_statement("store/delete_image_predictions"), params).fetchall())
    logger.info("deleted %d predictions of %s image %s", deleted, barcode, source_image)
    return deleted


def _classify_batch(con: duckdb.DuckDBPyConnection, check_products: bool, report: ImportReport) -> int:
    """Step 1 and the in-batch first-of-key flag, materialized once for the later steps.

    Returns the number of candidates for insertion (the first valid row of each key).
    """
    con.execute(load_statement("store/import_batch"), {"check_products": check_products})
    rows_in, missing, invalid, duplicates, candidates = con.execute(
        load_statement("store/import_batch_counts")
    ).fetchall()[0]
    report.rows_in = rows_in
    report.dropped = {DROP_PRODUCT_MISSING: missing, DROP_INVALID_IMAGE: invalid}
    report.duplicates_in_batch = duplicates
    return candidates


def _delete_replaced(con: duckdb.DuckDBPyConnection, report: ImportReport) -> None:
    """Step 2: select the evicted rows, keep identical twins of incoming rows, delete the rest."""
    con.execute(load_statement("store/import_evicted"))
    con.execute(load_statement("store/import_kept"))
    category, version, kept = con.execute(load_statement("store/import_deleted_counts")).fetchall()[0]
    deleted = _count(con.execute(load_statement("store/import_delete")).fetchall())
    if deleted != category + version:
        raise PredictionImportError(f"deleted {deleted} rows, expected {category + version}")
    report.deleted = {RULE_CATEGORY: category, RULE_PREDICTOR_VERSION: version}
    report.kept_identical = kept


def _insert_new(con: duckdb.DuckDBPyConnection, now: datetime, candidates: int, report: ImportReport) -> None:
    """Step 3: insert the first row of each incoming key the store does not hold yet."""
    report.inserted = _count(con.execute(load_statement("store/import_insert"), {"now": now}).fetchall())
    report.skipped_existing = candidates - report.inserted


def _types_by_product(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Step 4: per (barcode, server_type), the sorted list of incoming prediction types."""
    table = arrow_table(con, load_statement("store/import_types_by_product"))  # planned once, not twice
    return table.cast(TYPES_BY_PRODUCT_SCHEMA)


def _check_balance(report: ImportReport) -> None:
    if not report.balances():
        raise PredictionImportError(f"counts do not balance: {report.to_dict()}")


def _count(rows: list[tuple]) -> int:
    """Row count of a DML statement's result (DuckDB returns one row with the count)."""
    return int(rows[0][0]) if rows else 0


def _import_time(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _prepare_predictions(predictions: pa.Table) -> pa.Table:
    """The batch in :data:`PREDICTION_SCHEMA` order and types, checked, with its row number ``_row``.

    The row number fixes "first row of a key" to batch order whatever order DuckDB scans in.
    """
    missing = [name for name in COLUMNS if name not in predictions.column_names]
    if missing:
        raise ValueError(f"predictions lack columns: {', '.join(missing)}")
    table = predictions.select(list(COLUMNS)).cast(PREDICTION_SCHEMA)  # refuses nulls in non-null columns
    unknown = set(pc.unique(table.column("server_type")).to_pylist()) - SERVER_TYPES
    if unknown:
        raise ValueError(f"predictions: unknown server_type values {sorted(unknown)}")
    rows = pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), table.num_rows)), 1)
    return table.append_column("_row", rows)


def _prepare_products(products: pa.Table | None) -> pa.Table:
    if products is None:
        return PRODUCTS_SCHEMA.empty_table()
    missing = [name for name in PRODUCTS_SCHEMA.names if name not in products.column_names]
    if missing:
        raise ValueError(f"products lack columns: {', '.join(missing)}")
    return products.select(PRODUCTS_SCHEMA.names).cast(PRODUCTS_SCHEMA)


def _check_server_type(server_type: str) -> None:
    if server_type not in SERVER_TYPES:
        raise ValueError(f"unknown server_type {server_type!r}")
