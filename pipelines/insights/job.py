"""The nightly job of a flavor: predict over its Parquet snapshot, import, then refresh every insight.

Two store transactions, in this order, in one store session (:func:`nightly_step`): the prediction
import (``pipelines.predictors.bulk``), then the insight refresh
(:func:`pipelines.insights.refresh.refresh_insights`) over the whole snapshot. Each is all or nothing; a
crash between them leaves new predictions and the previous insights (a PostgreSQL store applies both when
the session ends, each product fully before or after: docs/store.md), which the next refresh (or a
per-product one) brings in line — the refresh only reads what the store holds. The refresh records
the ETag of the dump the snapshot was converted from in its ``run`` row, so a run can be traced to its dump.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.convert.snapshot import convert_report, existing_snapshot, snapshot_etag
from pipelines.insights.refresh import INSIGHT_TYPES, TAXONOMIES, RefreshError, refresh_insights
from pipelines.predictors.bulk import OcrShards, predict_bulk
from pipelines.predictors.resources import Resources, default_resources
from pipelines.store.target import StoreTarget

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

COUNT_KINDS = ("candidates", "created", "updated", "deleted", "kept_protected")
# The store tables a bulk refresh session reads (PostgreSQL reads only these into its working copy): what
# refresh_insights reads and writes, and what the listener's replay adds (its apply_products without OCR
# texts: images and the listener log; never the OCR ledger, which at 4M products is millions of rows).
REFRESH_TABLES = ("prediction", "product_insight", "run")
REPLAY_TABLES = ("image", "listener_log")


class AfterRefresh(Protocol):
    """Work run under the bulk refresh's writer lock once the refresh has committed, given the time from
    which the listener's work is newer than the snapshot (:func:`replay_start`); what it returns joins the
    refresh report. The listener's replay is one (``pipelines.listener.replay.replay_after_refresh``): the
    insight stage may not import the listener, so the callers above both pass it in (docs/listener.md)."""

    def __call__(
        self,
        con: duckdb.DuckDBPyConnection,
        flavor: Flavor,
        since: datetime,
        *,
        settings: Settings,
        resources: Resources,
    ) -> Mapping[str, Any]: ...


def check_taxonomies(resources: Resources) -> None:
    """Fail before the (long) prediction step when the refresh could not load its taxonomies."""
    from pipelines.taxonomy import taxonomy_path

    if resources.taxonomy_dir is None:
        raise RefreshError("no taxonomy folder (OFF_TAXONOMY_DIR): label and category importers need it")
    for name in TAXONOMIES:
        taxonomy_path(resources.taxonomy_dir, name)  # TaxonomyFileNotFoundError when absent


def refresh_step(
    flavor: Flavor | str,
    *,
    after_refresh: AfterRefresh | None,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    resources: Resources | None = None,
    force: bool = False,
    started: datetime | None = None,
) -> dict[str, Any]:
    """Refresh the insights of every product of the snapshot (one transaction, under the writer lock), then,
    still under the lock, run ``after_refresh`` — the listener's replay of its work newer than the snapshot —
    since the earliest of the dump's export, the conversion and ``started`` (when the bulk run began).
    ``after_refresh`` has no default so that no caller drops the replay by omission.

    Returns the refresh report as a dict, with the ``dump_etag`` recorded in the run row and what
    ``after_refresh`` returned.
    """
    from pipelines.store.session import store_session

    settings = settings or get_settings()
    refresh = _BulkRefresh.plan(flavor, after_refresh, settings, resources, force, started)
    with store_session(
        store,
        server_type=refresh.flavor.value,
        purpose=refresh.purpose,
        tables=refresh.tables,
        settings=settings,
    ) as con:
        report = refresh.run(con)
    return report


def nightly_step(
    flavor: Flavor | str,
    *,
    after_refresh: AfterRefresh | None,
    ocr_table: Path | None = None,
    types: Sequence[str] | None = None,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    resources: Resources | None = None,
    force: bool = False,
    all_images: bool = False,
    started: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    ocr_shards: OcrShards | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Predict over the snapshot (and the OCR images the store has no predictions for, or all of them with
    ``all_images``), import, then :func:`refresh_step`'s work, the import and the refresh in one store
    session; the prediction report and the refresh report.

    Predicting needs no session; the import and the refresh (with ``after_refresh``) then run in the same
    session, as the same two transactions in the same order: a PostgreSQL store reads ``prediction`` once
    instead of once per step (docs/store.md, "Speed"). A refresh that fails leaves the import in place on
    both stores, as when the steps run apart: the session ends normally (the DuckDB store has committed the
    import; PostgreSQL applies it) and the refresh's error is raised after it.
    """
    from pipelines.store.session import store_session

    settings = settings or get_settings()
    resources = resources or default_resources()
    refresh = _BulkRefresh.plan(flavor, after_refresh, settings, resources, force, started)
    prepared = predict_bulk(
        refresh.flavor,
        ocr_table=ocr_table,
        types=types,
        store=store,
        settings=settings,
        resources=resources,
        all_images=all_images,
        progress=progress,
        ocr_shards=ocr_shards,
    )
    failure: Exception | None = None
    refreshed: dict[str, Any] = {}
    with store_session(
        store,
        server_type=refresh.flavor.value,
        purpose=f"{prepared.purpose} and {refresh.purpose}",
        tables=tuple(dict.fromkeys(prepared.tables + refresh.tables)),
        settings=settings,
    ) as con:
        prepared.import_into(con)
        try:
            refreshed = refresh.run(con)
        except Exception as exc:  # raised below, once the import is applied
            failure = exc
    if failure is not None:
        raise failure
    return prepared.report.to_dict(), refreshed


@dataclass(frozen=True)
class _BulkRefresh:
    """A bulk refresh of a flavor's snapshot and its ``after_refresh``, planned before its session opens."""

    flavor: Flavor
    snapshot: Path
    etag: str | None
    since: datetime
    after_refresh: AfterRefresh | None
    settings: Settings
    resources: Resources
    force: bool

    @classmethod
    def plan(
        cls,
        flavor: Flavor | str,
        after_refresh: AfterRefresh | None,
        settings: Settings,
        resources: Resources | None,
        force: bool,
        started: datetime | None,
    ) -> _BulkRefresh:
        flavor = Flavor(flavor)
        snapshot = existing_snapshot(flavor, settings)
        etag = snapshot_etag(flavor, settings)
        since = replay_start(flavor, settings, started or datetime.now(UTC))
        resources = resources or default_resources()
        return cls(flavor, snapshot, etag, since, after_refresh, settings, resources, force)

    @property
    def purpose(self) -> str:
        return f"refresh {self.flavor.value}"

    @property
    def tables(self) -> tuple[str, ...]:
        return REFRESH_TABLES + (REPLAY_TABLES if self.after_refresh is not None else ())

    def run(self, con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
        """The refresh on the session ``con``, then ``after_refresh``; the report."""
        report = refresh_insights(
            con,
            self.snapshot,
            flavor=self.flavor,
            resources=self.resources,
            force=self.force,
            dump_etag=self.etag,
        )
        after: Mapping[str, Any] = {}
        if self.after_refresh is not None:
            after = self.after_refresh(
                con, self.flavor, self.since, settings=self.settings, resources=self.resources
            )
        return report.to_dict() | {"dump_etag": self.etag} | dict(after)


def replay_start(flavor: Flavor, settings: Settings, started: datetime) -> datetime:
    """The time from which the listener's work is newer than the snapshot: the earliest of ``started``, the
    conversion of the snapshot and the dump's Last-Modified (its export), when they are known."""
    from email.utils import parsedate_to_datetime

    from pipelines.download.dump import DUMP_NAME
    from pipelines.download.meta import read_meta

    times = [started]
    report = convert_report(flavor, settings) or {}
    with contextlib.suppress(KeyError, TypeError, ValueError):
        times.append(datetime.fromisoformat(report["converted_at"]))
    meta = read_meta(settings.dump_dir(flavor) / DUMP_NAME)
    if meta is not None and meta.last_modified:
        with contextlib.suppress(TypeError, ValueError):
            times.append(parsedate_to_datetime(meta.last_modified))
    return min(t if t.tzinfo else t.replace(tzinfo=UTC) for t in times)


def run_refresh(
    flavor: Flavor | str = Flavor.off,
    *,
    after_refresh: AfterRefresh | None,
    ocr_table: Path | None = None,
    types: Sequence[str] | None = None,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    resources: Resources | None = None,
    force: bool = False,
    predict: bool = True,
    all_images: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """The nightly job: predict + import (unless ``predict`` is False), then the bulk refresh followed by
    ``after_refresh``, in one store session (:func:`nightly_step`; :func:`refresh_step` alone); the report.

    ``ocr_table`` is an OCR-text Parquet table (``offpipe ocr-ingest``); without it only product names are
    predicted, and the OCR predictions already stored stay as they are (an import never evicts a group it
    did not receive). OCR images already predicted with the same OCR and predictors are skipped unless
    ``all_images``. ``force`` overrides the refresh's 90% safety stop.
    """
    from pipelines.store.session import check_store

    settings = settings or get_settings()
    resources = resources or default_resources()
    flavor = Flavor(flavor)
    snapshot = existing_snapshot(flavor, settings)
    check_taxonomies(resources)
    check_store(store, settings)  # before the (long) prediction step
    started = datetime.now(UTC)
    predicted: dict[str, Any] | None = None
    if predict:
        predicted, refreshed = nightly_step(
            flavor,
            after_refresh=after_refresh,
            ocr_table=ocr_table,
            types=types,
            store=store,
            settings=settings,
            resources=resources,
            force=force,
            all_images=all_images,
            started=started,
            progress=progress,
        )
    else:
        refreshed = refresh_step(
            flavor,
            after_refresh=after_refresh,
            store=store,
            settings=settings,
            resources=resources,
            force=force,
            started=started,
        )
    return refresh_summary(refreshed, predicted, snapshot=snapshot, ocr_table=ocr_table)


def refresh_summary(
    refreshed: Mapping[str, Any],
    predicted: Mapping[str, Any] | None,
    *,
    snapshot: Path,
    ocr_table: Path | None,
) -> dict[str, Any]:
    """The JSON-ready report of a run: ids and inputs, totals, and both steps' own reports."""
    return {
        "run_id": refreshed["run_id"],
        "flavor": refreshed["flavor"],
        "snapshot": str(snapshot),
        "ocr_table": str(ocr_table) if ocr_table is not None else None,
        "dump_etag": refreshed.get("dump_etag"),
        "totals": {kind: sum(refreshed[kind].values()) for kind in COUNT_KINDS},
        "predict": dict(predicted) if predicted is not None else None,
        "refresh": dict(refreshed),
    }


def refresh_markdown(summary: Mapping[str, Any]) -> str:
    """The run as markdown (the Prefect artifact): counts per insight type, then the run's other counts."""
    refresh = summary["refresh"]
    types = sorted(set(INSIGHT_TYPES).union(*(refresh[kind] for kind in COUNT_KINDS)))
    lines = [
        f"# Insight refresh — {summary['flavor']}",
        "",
        f"Run id: `{summary['run_id']}`"
        + (f" — dump ETag `{summary['dump_etag']}`" if summary.get("dump_etag") else ""),
        "",
        "| type | " + " | ".join(COUNT_KINDS) + " |",
        "| --- |" + " ---: |" * len(COUNT_KINDS),
    ]
    lines += [f"| {t} | " + " | ".join(str(refresh[k].get(t, 0)) for k in COUNT_KINDS) + " |" for t in types]
    lines.append("| **total** | " + " | ".join(str(summary["totals"][k]) for k in COUNT_KINDS) + " |")
    lines += [
        "",
        f"- products: {refresh['products']}",
        f"- missing products: {refresh['missing_products']}"
        + (
            " (deletion skipped: safety stop; their insights and predictions are untouched)"
            if refresh["missing_deletion_skipped"]
            else f", of which {refresh.get('missing_deleted_products', 0)} deleted"
        ),
        f"- insights deleted (missing products): {sum(refresh.get('deleted_missing', {}).values())}",
        f"- predictions deleted (missing products): {refresh['predictions_deleted']}",
        f"- attributes updated: {refresh['attributes_updated']}",
        f"- refresh seconds: {refresh['seconds']}",
    ]
    predicted = summary.get("predict")
    if predicted is not None:
        imported = predicted.get("store_import") or {}
        lines.append(
            f"- predictions: {predicted['predictions']} from {predicted['products']} products and "
            f"{predicted['images']} images; inserted {imported.get('inserted', 0)}, "
            f"deleted {imported.get('deleted_total', 0)}"
        )
    return "\n".join(lines) + "\n"
