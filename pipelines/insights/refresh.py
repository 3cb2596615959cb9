"""Insight refresh: Robotoff's importers (docs/insights.md) as set-based SQL, in one store transaction.

A refresh takes a scope of products (all of a flavor's snapshot, or the barcodes of some events), the
product table (the Parquet snapshot, or a one-row table of the same schema) and the stored predictions, and
brings ``product_insight`` to what Robotoff's ``refresh_insights`` would leave, with two deliberate
improvements (docs/insights.md): an unchanged candidate writes nothing, and a bulk refresh refuses to delete
the insights of vanished products when the product table shrank below 90% of the previous run's.

The steps are :data:`REFRESH_STEPS`, one SQL file each, run in that order (docs/insights.md maps them). The
bulk path and the per-product path run exactly these statements; only the scope differs.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import unicodedata
import uuid
import weakref
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from pipelines.common.config import Flavor
from pipelines.common.errors import OffpipeError
from pipelines.common.sql import header, load_statement
from pipelines.predictors.resources import Resources
from pipelines.store.db import write_transaction

logger = logging.getLogger(__name__)

# The importers run here, in Robotoff's IMPORTERS order (importer.py:2290-2305) for the types we predict.
INSIGHT_TYPES = ("packager_code", "label", "category", "product_weight", "expiration_date", "brand", "store")
TAXONOMIES = ("labels", "categories")
# The product table's columns the refresh reads (refresh_scope_all.sql, refresh_product.sql).
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


class RefreshError(OffpipeError, RuntimeError):
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


# Each list the importers read → (the input it is registered as, the file making the sorted table).
_STATIC_FILES = {
    "label_whitelist": ("label_whitelist_input", "insights/label_whitelist"),
    "brand_blacklist": ("brand_blacklist_input", "insights/brand_blacklist"),
    "brand_prefix": ("brand_prefix_input", "insights/brand_prefix"),
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
            source, sql = _STATIC_FILES[name]
            con.register(source, table)
            try:
                con.execute(load_statement(sql))
            finally:
                con.unregister(source)
        con.execute(load_statement("insights/refresh_static_key"), {"key": key})
    with suppress(duckdb.CatalogException, duckdb.NotImplementedException):  # registered on this connection
        con.create_function(
            "normalize_emb_code", normalize_emb_code, ["VARCHAR"], "VARCHAR", side_effects=False
        )


# (database file, taxonomy folder) → the taxonomy files' (size, mtime) when last ensured in this process.
_ENSURED: dict[tuple[str, str], tuple] = {}
# The same for in-memory databases, per connection: the listener's kept working copy of the PostgreSQL store.
_ENSURED_IN_MEMORY: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple] = weakref.WeakKeyDictionary()


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
    if database is None:  # an in-memory database (the PostgreSQL store's working copy): per connection
        if _ENSURED_IN_MEMORY.get(con) == (str(resources.taxonomy_dir), stamp):
            return
        ensure_taxonomies(con, list(TAXONOMIES), resources.taxonomy_dir)
        _ENSURED_IN_MEMORY[con] = (str(resources.taxonomy_dir), stamp)
        return
    key = (str(database), str(resources.taxonomy_dir))
    if _ENSURED.get(key) == stamp:
        return
    ensure_taxonomies(con, list(TAXONOMIES), resources.taxonomy_dir)
    _ENSURED[key] = stamp


def _counts(rows: list[tuple]) -> dict[str, int]:
    return dict(sorted(Counter(r[0] for r in rows).items()))


def _previous_products(con: duckdb.DuckDBPyConnection, flavor: str) -> int | None:
    rows = con.execute(load_statement("insights/refresh_previous_products"), {"flavor": flavor}).fetchall()
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
        con.read_parquet(str(products)).create_view("refresh_source", replace=True)


@dataclass
class _Refresh:
    """One refresh under way: the values its steps take as parameters and the decisions between steps."""

    con: duckdb.DuckDBPyConnection
    report: RefreshReport
    now: dt.datetime
    force: bool
    dump_etag: str | None
    present: frozenset[str] = frozenset()  # insight types with predictions in scope (refresh_group_type)
    gone: int = 0  # products of the scope absent from the product table that the refresh may delete
    delete_missing: bool = False

    def params(self, names: tuple[str, ...]) -> dict[str, Any]:
        return {name: self._value(name) for name in names}

    def _value(self, name: str) -> Any:
        report = self.report
        match name:
            case "server_type" | "flavor":
                return report.flavor
            case "bulk":
                return report.kind == "bulk"
            case "types":
                return list(INSIGHT_TYPES)
            case "now" | "started":
                return self.now
            case "wait_minutes":
                return AUTOMATIC_PROCESSING_WAIT_MINUTES
            case "id":
                return report.run_id
            case "kind":
                return report.kind
            case "dump_etag":
                return self.dump_etag
            case "products":
                return report.products
            case "counts":
                return orjson.dumps(_run_counts(report)).decode()
        raise KeyError(f"the refresh has no value for SQL parameter ${name}")


def _bulk(state: _Refresh) -> bool:
    return state.report.kind == "bulk"


def _per_product(state: _Refresh) -> bool:
    return state.report.kind != "bulk"


def _deleting_missing(state: _Refresh) -> bool:
    return state.delete_missing


def _has(insight_type: str) -> Callable[[_Refresh], bool]:
    """Whether the importer of ``insight_type`` has predictions to read (only those importers run)."""
    return lambda state: insight_type in state.present


def _always(state: _Refresh) -> bool:
    return True


def _record_products(state: _Refresh, rows: list[tuple]) -> None:
    state.report.products = rows[0][0]


def _record_missing(state: _Refresh, rows: list[tuple]) -> None:
    """Products of the scope absent from the product table: those the refresh may delete (all of them in a
    bulk refresh, the ``gone`` ones in a per-product refresh) lose their predictions and unannotated insights.

    In a bulk refresh, a product table below 90% of the reference — the previous bulk run's products, or the
    products the store holds data for, whichever is larger — is taken for a truncated dump: nothing is
    deleted (reported) unless forced. The importers never see absent products, so a skipped deletion leaves
    their insights exactly as they were.
    """
    report = state.report
    report.missing_products, state.gone = rows[0]
    if not state.gone:
        return
    if report.kind == "bulk" and not state.force:
        reference = _safety_reference(state.con, report.flavor)
        if report.products < SAFETY_RATIO * reference:
            logger.warning(
                "product table has %d products, below %.0f%% of the %d expected (previous run, or products "
                "the store holds data for): not deleting the data of %d missing products (use --force)",
                report.products,
                SAFETY_RATIO * 100,
                reference,
                state.gone,
            )
            report.missing_deletion_skipped = True
            return
    state.delete_missing = True


def _record_deleted_missing(state: _Refresh, rows: list[tuple]) -> None:
    deleted = _counts(rows)
    state.report.deleted_missing = deleted
    for kind, count in deleted.items():
        state.report.deleted[kind] = state.report.deleted.get(kind, 0) + count


def _record_deleted_missing_predictions(state: _Refresh, rows: list[tuple]) -> None:
    report = state.report
    report.predictions_deleted = len(rows)
    report.missing_deleted_products = state.gone
    logger.info(
        "deleted the data of %d products gone from the product table: %d predictions, insights %s",
        state.gone,
        report.predictions_deleted,
        report.deleted_missing or "none",
    )


def _record_present(state: _Refresh, rows: list[tuple]) -> None:
    state.present = frozenset(row[0] for row in rows)


def _record_candidates(state: _Refresh, rows: list[tuple]) -> None:
    state.report.candidates = dict(rows)


def _record_protected(state: _Refresh, rows: list[tuple]) -> None:
    state.report.kept_protected = dict(rows)


def _record_deleted(state: _Refresh, rows: list[tuple]) -> None:
    for kind, count in _counts(rows).items():
        state.report.deleted[kind] = state.report.deleted.get(kind, 0) + count


def _record_updated(state: _Refresh, rows: list[tuple]) -> None:
    state.report.updated = _counts(rows)


def _record_created(state: _Refresh, rows: list[tuple]) -> None:
    state.report.created = _counts(rows)


def _record_attributes(state: _Refresh, rows: list[tuple]) -> None:
    state.report.attributes_updated = len(rows)


@dataclass(frozen=True)
class Step:
    """One step of the refresh: its SQL file (whose header's PARAMS say which values it takes), whether it
    runs in this refresh, and what its result rows add to the report."""

    sql: str
    when: Callable[[_Refresh], bool] = _always
    record: Callable[[_Refresh, list[tuple]], None] | None = None


# The refresh, in order: each step one file of sql/insights/ (docs/insights.md maps them).
REFRESH_STEPS: tuple[Step, ...] = (
    Step("insights/refresh_scope_all", when=_bulk),
    Step("insights/refresh_scope_codes", when=_per_product),
    Step("insights/refresh_product"),
    Step("insights/refresh_product_count", record=_record_products),
    Step("insights/refresh_missing"),
    Step("insights/refresh_missing_count", record=_record_missing),
    Step("insights/product_insight_delete_missing", when=_deleting_missing, record=_record_deleted_missing),
    Step(
        "insights/prediction_delete_missing",
        when=_deleting_missing,
        record=_record_deleted_missing_predictions,
    ),
    Step("insights/refresh_prediction"),
    Step("insights/refresh_group"),
    Step("insights/refresh_group_type", record=_record_present),
    Step("insights/refresh_candidate_raw"),
    # the importers, in Robotoff's IMPORTERS order (INSIGHT_TYPES)
    Step("insights/refresh_candidate_raw_packager_code", when=_has("packager_code")),
    Step("insights/refresh_candidate_raw_label", when=_has("label")),
    Step("insights/refresh_candidate_raw_category", when=_has("category")),
    Step("insights/refresh_candidate_raw_product_weight", when=_has("product_weight")),
    Step("insights/refresh_candidate_raw_expiration_date", when=_has("expiration_date")),
    Step("insights/refresh_candidate_raw_brand", when=_has("brand")),
    Step("insights/refresh_candidate_raw_store", when=_has("store")),
    Step("insights/refresh_candidate"),
    Step("insights/refresh_candidate_count", record=_record_candidates),
    Step("insights/refresh_ref"),
    Step("insights/refresh_ref_protected_count", record=_record_protected),
    Step("insights/refresh_decision"),
    Step("insights/refresh_row"),
    Step("insights/product_insight_delete", record=_record_deleted),
    Step("insights/product_insight_update", record=_record_updated),
    Step("insights/product_insight_insert", record=_record_created),
    Step("insights/product_insight_attributes", record=_record_attributes),
    Step("insights/run_insert"),
)


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
    store), under the writer lock: the steps of :data:`REFRESH_STEPS`, in order.
    """
    started = time.perf_counter()
    flavor = Flavor(flavor)
    kind = "bulk" if barcodes is None else "per-product"
    report = RefreshReport(run_id=str(uuid.uuid4()), kind=kind, flavor=flavor.value)
    state = _Refresh(con, report, now or dt.datetime.now(dt.UTC), force and kind == "bulk", dump_etag)
    _register_static(con, resources)
    _ensure_taxonomies(con, resources)
    _source(con, products)
    with write_transaction(con, purpose=f"refresh {flavor.value}"):
        if barcodes is not None:
            con.register("refresh_codes", pa.table({"barcode": pa.array(barcodes, pa.string())}))
        con.register("refresh_gone", pa.table({"barcode": pa.array(sorted(set(gone or ())), pa.string())}))
        try:
            for step in REFRESH_STEPS:
                if step.when(state):
                    _run(state, step)
        finally:
            con.unregister("refresh_gone")
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


def _run(state: _Refresh, step: Step) -> None:
    """Run one step with the parameters its header declares; hand its rows to the step's recorder."""
    statement, params = load_statement(step.sql), state.params(header(step.sql).named_params)
    cursor = state.con.execute(statement, params) if params else state.con.execute(statement)
    if step.record is not None:
        step.record(state, cursor.fetchall())


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


def _safety_reference(con: duckdb.DuckDBPyConnection, flavor: str) -> int:
    """What a complete product table should hold at least: the previous bulk run's product count, or — for a
    store never bulk-refreshed (filled by the listener) — the products it holds data for."""
    stored = con.execute(
        load_statement("insights/refresh_stored_products"), {"server_type": flavor}
    ).fetchall()
    return max(_previous_products(con, flavor) or 0, stored[0][0])
