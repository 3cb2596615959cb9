"""Replaying the listener's work after a bulk run, so that neither undoes the other.

The nightly run predicts and refreshes from a snapshot of the dump; events applied since the dump was
exported (a product deleted, an image uploaded…) are newer than that snapshot, and the bulk run, committing
later, would overwrite their effect with the older state. The listener therefore logs every product it
applies (``listener_log``), and once the bulk refresh has committed — still holding the writer lock, so no
event interleaves — the products logged since the dump are applied again, with the same per-product
functions: deleted products deleted, the others refreshed from the product source and what the events taught
(images). The result is the state the events would have left had they all come after the bulk run. A logged
product the product source no longer has is left as the bulk run made it and counted (``not_found``): only
a ``deleted`` event deletes (docs/listener.md, "Failures").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from pipelines.common.config import Flavor, Settings
from pipelines.common.sql import load_statement
from pipelines.listener.apply import apply_products
from pipelines.listener.sources import product_source
from pipelines.predictors.resources import Resources
from pipelines.store.db import write_transaction

logger = logging.getLogger(__name__)

REPLAY_CHUNK = 2_000  # products per apply_products call


@dataclass
class ReplayReport:
    since: str
    products: int = 0
    deleted: int = 0
    not_found: int = 0  # logged as updated, absent from the product source now: left as they are
    pruned: int = 0


def replay_since(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    since: dt.datetime,
    *,
    settings: Settings,
    resources: Resources,
    now: dt.datetime | None = None,
) -> ReplayReport:
    """Apply again the listener's work logged at or after ``since`` (the caller holds the writer lock), then
    forget what is older than ``since``."""
    flavor = Flavor(flavor)
    report = ReplayReport(since=since.isoformat())
    params = {"server_type": flavor.value, "since": since}
    logged = con.execute(load_statement("store/listener_log_since"), params).fetchall()
    source = product_source(settings)
    for start in range(0, len(logged), REPLAY_CHUNK):
        chunk = logged[start : start + REPLAY_CHUNK]
        updated = [code for code, gone in chunk if not gone]
        deleted = [code for code, gone in chunk if gone]
        rows = source.rows(flavor, updated, {}) if updated else None
        applied = apply_products(
            con,
            flavor,
            updated=rows if rows is not None else _empty(),
            updated_codes=updated,
            deleted_codes=deleted,
            resources=resources,
            now=now,
        )
        report.products += len(chunk)
        report.deleted += len(deleted)
        report.not_found += applied.not_found
    with write_transaction(con, purpose="listener log prune"):
        pruned = con.execute(
            load_statement("store/listener_log_prune"), {"server_type": flavor.value, "before": since}
        )
        report.pruned = len(pruned.fetchall())
    if report.products:
        logger.info(
            "replayed the listener's work on %d %s products since %s", report.products, flavor.value, since
        )
    return report


def replay_after_refresh(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor,
    since: dt.datetime,
    *,
    settings: Settings,
    resources: Resources,
) -> Mapping[str, Any]:
    """:func:`replay_since` as the bulk refresh's ``after_refresh`` (``pipelines.insights.job``): its report
    under ``listener_replay``."""
    return {"listener_replay": vars(replay_since(con, flavor, since, settings=settings, resources=resources))}


def _empty() -> pa.Table:
    from pipelines.convert.schema import PRODUCT_SCHEMA

    return PRODUCT_SCHEMA.empty_table()
