"""Insight refresh: Robotoff's importers (spec §4.3–§4.6) as set-based SQL, in one store transaction.

A refresh takes a scope of products (all of a flavor's snapshot, or the barcodes of some events), the
product table (the Parquet snapshot, or a one-row table of the same schema) and the stored predictions, and
brings ``product_insight`` to what Robotoff's ``refresh_insights`` would leave, with two deliberate
improvements (docs/insights.md): an unchanged candidate writes nothing, and a bulk refresh refuses to delete
the insights of vanished products when the product table shrank below 90% of the previous run's.

Steps, each one SQL file of ``sql/insights/``: the scope and its product rows; products gone from the
product table lose their predictions and unannotated insights; per importer, the candidates
(``candidates_<type>.sql``); the generic candidate checks and order; the create/update/delete decision;
then delete, update, insert, and the countries/brands/scans refresh of unannotated insights. The bulk path
and the per-product path run exactly these statements; only the scope differs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import unicodedata
import uuid
from collections import Counter
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from pipelines.common.config import Flavor
from pipelines.common.sql import load_sql, load_statement, parsed
from pipelines.predictors.resources import Resources
from pipelines.store.db import write_transaction

logger = logging.getLogger(__name__)

# The importers run here, in Robotoff's IMPORTERS order (importer.py:2290-2305) for the types we predict.
INSIGHT_TYPES = ("packager_code", "label", "category", "product_weight", "expiration_date", "brand", "store")
TAXONOMIES = ("labels", "categories")
# The product table's columns the refresh reads (refresh_scope_all.sql, refresh_products.sql).
SOURCE_COLUMNS = (
    "code",
    "normalized_code",
    "dump_line",
    "labels_tags",
    "categories_tags",
    "brands_tags",
    "emb_codes_tags",
    "quantity",
    "expiration_date",
    "countries_tags",
    "unique_scans_n",
    "images",
    "lang",
)
AUTOMATIC_PROCESSING_WAIT_MINUTES = 10  # Robotoff's INSIGHT_AUTOMATIC_PROCESSING_WAIT default
SAFETY_RATIO = 0.9


class RefreshError(RuntimeError):
    """The refresh could not run (nothing was changed)."""


@dataclass
class RefreshReport:
    """Counts of one refresh, per insight type where it applies."""

    run_id: str
    kind: str
    flavor: str
    products: int = 0
    missing_products: int = 0  # products of the scope absent from the product table
    missing_deleted_products: int = 0  # …of which the refresh deleted the data (gone; see _missing_products)
    missing_deletion_skipped: bool = False
    predictions_deleted: int = 0
    deleted_missing: dict[str, int] = field(default_factory=dict)  # insights of missing products, per type
    candidates: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    kept_protected: dict[str, int] = field(default_factory=dict)
    attributes_updated: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changes(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())


def normalize_emb_code(code: str | None) -> str | None:
    """Robotoff's ``normalize_emb_code``: lowercase, no spaces/dashes/dots, NFKD-ASCII, trailing ce → ec."""
    if code is None:
        return None
    code = code.strip().lower().replace(" ", "").replace("-", "").replace(".", "")
    code = unicodedata.normalize("NFKD", code).encode("ascii", "ignore").decode("ascii")
    return code[:-2] + "ec" if code.endswith("ce") else code


@cache
def _static_tables(resources: Resources) -> dict[str, pa.Table]:
    """The lists the importers read, as Arrow tables (built once per Resources: the brand prefixes are
    ~100k pairs)."""
    prefixes = sorted(resources.brand_prefixes)
    return {
        "label_whitelist": pa.table({"tag": sorted(set(resources.lines("label_whitelist.txt")))}),
        "brand_blacklist": pa.table({"tag": sorted(resources.brand_blacklist)}),
        "brand_prefix": pa.table({"tag": [t for t, _ in prefixes], "prefix": [p for _, p in prefixes]}),
    }


def _register_static(con: duckdb.DuckDBPyConnection, resources: Resources) -> None:
    """Lists the importers read (label whitelist, brand blacklist, brand prefixes) and the emb-code function.

    The lists become temporary tables sorted by tag, built once per connection and list set: a one-product
    refresh then reads a few rows of them (zone maps) instead of scanning ~100k brand prefixes every time.
    """
    key = f"{id(resources)}:{resources.keywords_dir}"
    try:
        current = con.execute("SELECT key FROM refresh_static_key").fetchall()
    except duckdb.CatalogException:
        current = []
    if current != [(key,)]:
        for name, table in _static_tables(resources).items():
            with suppress(duckdb.Error):
                con.unregister(name)
            con.register("refresh_static_arrow", table)
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM refresh_static_arrow ORDER BY ALL")
            finally:
                con.unregister("refresh_static_arrow")
        con.execute("CREATE OR REPLACE TEMP TABLE refresh_static_key AS SELECT $key AS key", {"key": key})
    with suppress(duckdb.CatalogException, duckdb.NotImplementedException):  # registered on this connection
        con.create_function(
            "normalize_emb_code", normalize_emb_code, ["VARCHAR"], "VARCHAR", side_effects=False
        )


# (database file, taxonomy folder) → the taxonomy files' (size, mtime) when last ensured in this process.
_ENSURED: dict[tuple[str, str], tuple] = {}


def _ensure_taxonomies(con: duckdb.DuckDBPyConnection, resources: Resources) -> None:
    """Load the label and category taxonomies into the store when their files changed.

    ``ensure_taxonomies`` compares file hashes with what the store recorded; a per-product refresh in a
    long-running listener skips even that when the files' size and mtime are as last seen in this process.
    """
    from pipelines.store.db import database_path
    from pipelines.taxonomy import ensure_taxonomies, taxonomy_path

    if resources.taxonomy_dir is None:
        raise RefreshError("no taxonomy folder (OFF_TAXONOMY_DIR): label and category importers need it")
    database = database_path(con)
    stamp = tuple(
        (path.stat().st_size, path.stat().st_mtime_ns)
        for path in (taxonomy_path(resources.taxonomy_dir, name) for name in TAXONOMIES)
    )
    key = (str(database), str(resources.taxonomy_dir))
    if database is not None and _ENSURED.get(key) == stamp:
        return
    ensure_taxonomies(con, list(TAXONOMIES), resources.taxonomy_dir)
    if database is not None:
        _ENSURED[key] = stamp


def _counts(rows: list[tuple]) -> dict[str, int]:
    return dict(sorted(Counter(r[0] for r in rows).items()))


def _previous_products(con: duckdb.DuckDBPyConnection, flavor: str) -> int | None:
    rows = con.execute(
        "SELECT products FROM run WHERE kind = 'bulk' AND flavor = ? AND ended IS NOT NULL "
        "ORDER BY ended DESC LIMIT 1",
        [flavor],
    ).fetchall()
    return rows[0][0] if rows else None


def _source(con: duckdb.DuckDBPyConnection, products: Path | pa.Table) -> None:
    """``refresh_source``: the product table, a Parquet file (read lazily) or an Arrow table (the columns
    the refresh reads only: binding a statement to all 111 of the snapshot's costs more than a one-product
    refresh's statement)."""
    with suppress(duckdb.Error):
        con.unregister("refresh_source")
    con.execute("DROP VIEW IF EXISTS refresh_source")
    if isinstance(products, pa.Table):
        con.register(
            "refresh_source", products.select([c for c in SOURCE_COLUMNS if c in products.column_names])
        )
    else:
        con.execute(f"CREATE TEMP VIEW refresh_source AS SELECT * FROM read_parquet('{_quoted(products)}')")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def refresh_insights(
    con: duckdb.DuckDBPyConnection,
    products: Path | pa.Table,
    *,
    flavor: Flavor | str = Flavor.off,
    barcodes: list[str] | None = None,
    gone: list[str] | None = None,
    resources: Resources,
    now: dt.datetime | None = None,
    force: bool = False,
    dump_etag: str | None = None,
) -> RefreshReport:
    """Refresh the insights of ``barcodes`` (already normalized and validated; None = every product).

    ``products`` is the product table: the snapshot's Parquet path or an Arrow table with its columns.
    A product absent from it is never touched by the importers. Its predictions and unannotated insights
    are deleted only in a bulk refresh (the dump is the product table; subject to the safety stop) or, in a
    per-product refresh, when it is one of ``gone`` (a deletion the caller knows of): absence from a product
    source is not deletion (docs/insights.md). Everything happens in one write transaction on ``con`` (the
    store), under the writer lock.
    """
    started = time.perf_counter()
    flavor = Flavor(flavor)
    now = now or dt.datetime.now(dt.UTC)
    kind = "bulk" if barcodes is None else "per-product"
    report = RefreshReport(run_id=str(uuid.uuid4()), kind=kind, flavor=flavor.value)
    params = {"server_type": flavor.value}
    _register_static(con, resources)
    _ensure_taxonomies(con, resources)
    _source(con, products)
    with write_transaction(con, purpose=f"refresh {flavor.value}"):
        if barcodes is None:
            con.execute(load_statement("insights/refresh_scope_all"), params)
        else:
            con.register("refresh_codes", pa.table({"barcode": pa.array(barcodes, pa.string())}))
            con.execute(load_statement("insights/refresh_scope_codes"), params)
        con.execute(load_statement("insights/refresh_products"), params)
        report.products = con.execute("SELECT count(*) FROM refresh_product").fetchall()[0][0]
        con.register("refresh_gone", pa.table({"barcode": pa.array(sorted(set(gone or ())), pa.string())}))
        try:
            _missing_products(con, report, flavor.value, force and kind == "bulk")
        finally:
            con.unregister("refresh_gone")
        _importers(con, report, now, params)
        con.execute(
            "INSERT INTO run (id, kind, flavor, dump_etag, started, ended, products, counts) "
            "VALUES (?, ?, ?, ?, ?, now(), ?, ?)",
            [
                report.run_id,
                kind,
                flavor.value,
                dump_etag,
                now,
                report.products,
                orjson.dumps(_run_counts(report)).decode(),
            ],
        )
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "%s refresh of %s: %d products, created %d, updated %d, deleted %d (%.2f s)",
        kind,
        flavor.value,
        report.products,
        sum(report.created.values()),
        sum(report.updated.values()),
        sum(report.deleted.values()),
        report.seconds,
    )
    return report


def _run_counts(report: RefreshReport) -> dict[str, Any]:
    return {
        "candidates": report.candidates,
        "created": report.created,
        "updated": report.updated,
        "deleted": report.deleted,
        "kept_protected": report.kept_protected,
        "missing_products": report.missing_products,
        "missing_deleted_products": report.missing_deleted_products,
        "missing_deletion_skipped": report.missing_deletion_skipped,
        "deleted_missing": report.deleted_missing,
        "predictions_deleted": report.predictions_deleted,
        "attributes_updated": report.attributes_updated,
    }


def _missing_products(
    con: duckdb.DuckDBPyConnection, report: RefreshReport, flavor: str, force: bool
) -> None:
    """Products of the scope absent from the product table: those the refresh may delete (all of them in a
    bulk refresh, the ``gone`` ones in a per-product refresh) lose their predictions and unannotated insights.

    In a bulk refresh, a product table below 90% of the reference — the previous bulk run's products, or the
    products the store holds data for, whichever is larger — is taken for a truncated dump: nothing is
    deleted (reported) unless forced. The importers never see absent products, so a skipped deletion leaves
    their insights exactly as they were.
    """
    con.execute(load_statement("insights/refresh_missing_products"), {"bulk": report.kind == "bulk"})
    report.missing_products, gone = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE gone) FROM refresh_missing"
    ).fetchall()[0]
    if not gone:
        return
    if report.kind == "bulk" and not force:
        reference = _safety_reference(con, flavor)
        if report.products < SAFETY_RATIO * reference:
            logger.warning(
                "product table has %d products, below %.0f%% of the %d expected (previous run, or products "
                "the store holds data for): not deleting the data of %d missing products (use --force)",
                report.products,
                SAFETY_RATIO * 100,
                reference,
                gone,
            )
            report.missing_deletion_skipped = True
            return
    deleted = _counts(con.execute(load_statement("insights/refresh_delete_missing")).fetchall())
    report.deleted_missing = deleted
    for kind, count in deleted.items():
        report.deleted[kind] = report.deleted.get(kind, 0) + count
    report.predictions_deleted = len(
        con.execute(load_statement("insights/refresh_delete_missing_predictions")).fetchall()
    )
    report.missing_deleted_products = gone
    logger.info(
        "deleted the data of %d products gone from the product table: %d predictions, insights %s",
        gone,
        report.predictions_deleted,
        deleted or "none",
    )


def _safety_reference(con: duckdb.DuckDBPyConnection, flavor: str) -> int:
    """What a complete product table should hold at least: the previous bulk run's product count, or — for a
    store never bulk-refreshed (filled by the listener) — the products it holds data for."""
    stored = con.execute(
        load_statement("insights/refresh_stored_products"), {"server_type": flavor}
    ).fetchall()
    return max(_previous_products(con, flavor) or 0, stored[0][0])


def _union(queries: list[str]) -> list[str]:
    return [queries[0], *(f"UNION ALL BY NAME {q}" for q in queries[1:])]


def _importers(
    con: duckdb.DuckDBPyConnection, report: RefreshReport, now: dt.datetime, params: dict[str, str]
) -> None:
    con.execute(load_statement("insights/refresh_predictions"), params)
    con.execute(load_statement("insights/refresh_groups"), {"types": list(INSIGHT_TYPES)})
    present = {row[0] for row in con.execute("SELECT DISTINCT type FROM refresh_group").fetchall()}
    # only the importers of the types at hand (all of them in a bulk run; one or two for one product)
    queries = [f"({load_sql(f'insights/candidates_{t}')})" for t in INSIGHT_TYPES if t in present]
    queries = queries or [f"({load_sql('insights/candidates_store')})"]  # an empty result of the right shape
    con.execute(
        parsed(f"CREATE OR REPLACE TEMP TABLE refresh_candidate_raw AS {chr(10).join(_union(queries))}")
    )
    con.execute(load_statement("insights/refresh_candidates_checked"))
    report.candidates = dict(
        con.execute("SELECT type, count(*) FROM refresh_candidate GROUP BY ALL ORDER BY 1").fetchall()
    )
    con.execute(load_statement("insights/refresh_refs"), params)
    report.kept_protected = dict(
        con.execute(
            "SELECT type, count(*) FROM refresh_ref WHERE protected GROUP BY ALL ORDER BY 1"
        ).fetchall()
    )
    con.execute(load_statement("insights/refresh_decisions"))
    con.execute(
        load_statement("insights/refresh_rows"),
        {"now": now, "wait_minutes": AUTOMATIC_PROCESSING_WAIT_MINUTES},
    )
    for kind, count in _counts(con.execute(load_statement("insights/refresh_delete")).fetchall()).items():
        report.deleted[kind] = report.deleted.get(kind, 0) + count
    report.updated = _counts(con.execute(load_statement("insights/refresh_update"), {"now": now}).fetchall())
    report.created = _counts(con.execute(load_statement("insights/refresh_insert"), {"now": now}).fetchall())
    report.attributes_updated = len(
        con.execute(load_statement("insights/refresh_attributes"), params).fetchall()
    )
