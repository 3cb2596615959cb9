"""The fiber facet plan: which products gain or lose which facet, as one DuckDB query, and the checks every
plan passes (its columns, its facets, its codes) before anything reaches MongoDB (``docs/facets.md``)."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from pipelines.barcodes import InvalidBarcodeError, is_valid_code
from pipelines.common.config import Flavor
from pipelines.common.sql import load_sql
from pipelines.facets.errors import UnsupportedFlavorError
from pipelines.store.session import store_reader
from pipelines.store.target import StoreTarget

logger = logging.getLogger(__name__)

FIBER_FACET = "en:missing-nutrition-facts-fibers-present-on-photos"
FIBER_NUTRITION_FACET = "en:missing-nutrition-facts-fibers-present-on-nutrition-photos"
FACETS = (FIBER_FACET, FIBER_NUTRITION_FACET)
# Robotoff ran the job for OFF only: the rule is about food nutrition tables, and MONGO_DB names one
# flavor's database, so other flavors are refused rather than written to the wrong place.
FACET_FLAVORS = frozenset({Flavor.off})

_TAGS = pa.list_(pa.string())
PLAN_SCHEMA = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("normalized_code", pa.string(), nullable=False),
        pa.field("facets_to_add", _TAGS, nullable=False),
        pa.field("facets_to_remove", _TAGS, nullable=False),
    ]
)
# The plan carries how many products it left out for an invalid code (kept in the Parquet file's metadata).
_SKIPPED_KEY = b"offpipe.skipped_invalid_codes"
_MONGO_CODE = re.compile(r"[0-9]{4,24}")


def facet_flavor(flavor: Flavor | str) -> Flavor:
    """``flavor`` as a :class:`Flavor`, or :class:`UnsupportedFlavorError` when the facet does not apply."""
    chosen = Flavor(flavor)
    if chosen not in FACET_FLAVORS:
        allowed = ", ".join(sorted(f.value for f in FACET_FLAVORS))
        raise UnsupportedFlavorError(f"the fiber facet is written for {allowed} only, not {chosen.value}")
    return chosen


def is_mongo_code(raw: object) -> bool:
    """True when ``raw`` may be a MongoDB ``code`` filter: a string of 4 to 24 ASCII digits that Product
    Opener's rules call valid. Stricter than :func:`~pipelines.barcodes.is_valid_code`, which accepts GS1
    forms and stray characters: the filter matches the stored code as it is, so only plain codes qualify."""
    return isinstance(raw, str) and _MONGO_CODE.fullmatch(raw) is not None and is_valid_code(raw)


def mongo_code(raw: object) -> str:
    """``raw`` when :func:`is_mongo_code` accepts it, else :class:`InvalidBarcodeError`."""
    if not is_mongo_code(raw):
        raise InvalidBarcodeError(f"invalid barcode for a MongoDB filter: {raw!r}")
    assert isinstance(raw, str)
    return raw


def plan_fiber_facets(
    source: duckdb.DuckDBPyConnection | StoreTarget | Path | str | None,
    snapshot: Path | str,
    *,
    server_type: Flavor | str = Flavor.off,
) -> pa.Table:
    """The fiber facet changes of every product: a :data:`PLAN_SCHEMA` table, one row per product to change.

    ``source`` is a store connection, or the store (a path, a URL, None: the configured one), read-only.
    Products whose ``code`` fails
    :func:`is_mongo_code` are left out and counted in the table's metadata (:func:`skipped_invalid_codes`).
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        return _plan(source, Path(snapshot), Flavor(server_type))
    flavor = Flavor(server_type)
    with store_reader(source, server_type=flavor.value, tables=("prediction",)) as con:
        return _plan(con, Path(snapshot), flavor)


def _plan(con: duckdb.DuckDBPyConnection, snapshot: Path, server_type: Flavor) -> pa.Table:
    started = time.perf_counter()
    params = {
        "snapshot": str(snapshot),
        "server_type": server_type.value,
        "photos_facet": FIBER_FACET,
        "nutrition_facet": FIBER_NUTRITION_FACET,
    }
    changes = con.sql(load_sql("facets/fiber_facet_plan"), params=params).to_arrow_table()
    codes = changes.column("code").to_pylist()
    valid = [is_mongo_code(code) for code in codes]
    invalid = [code for code, ok in zip(codes, valid, strict=True) if not ok]
    if invalid:
        examples = ", ".join(repr(code) for code in invalid[:5])
        logger.warning(
            "%d products with an invalid code left out of the plan (e.g. %s)", len(invalid), examples
        )
    plan = changes.filter(pa.array(valid, pa.bool_())).select(PLAN_SCHEMA.names).cast(PLAN_SCHEMA)
    logger.info(
        "fiber facet plan: %d products to change (%.2f s)", plan.num_rows, time.perf_counter() - started
    )
    return with_skipped_invalid_codes(plan, len(invalid))


def with_skipped_invalid_codes(plan: pa.Table, count: int) -> pa.Table:
    """``plan`` recording that ``count`` products were left out for an invalid code."""
    metadata = dict(plan.schema.metadata or {})
    metadata[_SKIPPED_KEY] = str(count).encode()
    return plan.replace_schema_metadata(metadata)


def skipped_invalid_codes(plan: pa.Table) -> int:
    """How many products planning left out for an invalid code (0 when the plan does not say)."""
    return int((plan.schema.metadata or {}).get(_SKIPPED_KEY, b"0"))


def check_plan(plan: pa.Table) -> None:
    """Refuse a plan that is not :data:`PLAN_SCHEMA` or names another facet than ours.

    Why: a plan file can be edited by hand, and ``$pull`` must never take away a tag this job does not own.
    """
    missing = [name for name in PLAN_SCHEMA.names if name not in plan.column_names]
    if missing:
        raise ValueError(f"not a fiber facet plan: missing columns {missing}")
    for column in ("facets_to_add", "facets_to_remove"):
        named = {tag for tags in plan.column(column).to_pylist() for tag in tags or ()}
        unknown = sorted(named - set(FACETS))
        if unknown:
            raise ValueError(f"plan column {column} names facets this job does not write: {unknown}")


def plan_digest(plan: pa.Table) -> str:
    """sha256 of the plan's rows (code, normalized code, facets), in order: the checkpoint's identity.

    Computed over the rows, not the Parquet bytes, so the same plan read back from its file has the same
    digest whatever the writer's version or compression.
    """
    digest = hashlib.sha256()
    for row in plan.select(PLAN_SCHEMA.names).to_pylist():
        digest.update(orjson.dumps(row))
        digest.update(b"\n")
    return digest.hexdigest()
