"""Prefect flow of the insight stage: the nightly predict + import + refresh of a flavor.

Thin wrapper: the work is in ``pipelines.insights.job`` (importable without Prefect). Predict + import +
refresh is one task: the import and the refresh share one store session (a PostgreSQL store reads its
predictions once, docs/store.md); the task's error says which step failed. The flow publishes a
markdown artifact keyed ``refresh-<flavor>`` with the counts per insight type and the run id (the ``run``
row in the store).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.common.config import Flavor
from pipelines.convert.snapshot import products_path
from pipelines.insights.job import nightly_step, refresh_markdown, refresh_step, refresh_summary
from pipelines.listener.replay import replay_after_refresh


@task(cache_policy=NO_CACHE)
def predict_and_refresh_task(
    flavor: str,
    ocr_table: str | None,
    types: list[str] | None,
    force: bool,
    all_images: bool = False,
    started: str | None = None,
) -> tuple[dict, dict]:
    """Predict over the snapshot (and the OCR images not predicted yet), then import and refresh every
    insight of the flavor in one store session, then replay the listener's newer work."""
    return nightly_step(
        flavor,
        after_refresh=replay_after_refresh,
        ocr_table=Path(ocr_table) if ocr_table else None,
        types=types,
        force=force,
        all_images=all_images,
        started=datetime.fromisoformat(started) if started else None,
    )


@task(cache_policy=NO_CACHE)
def refresh_task(flavor: str, force: bool, started: str | None = None) -> dict:
    """Refresh every insight of the flavor from the stored predictions and the snapshot, then replay the
    listener's newer work."""
    return refresh_step(
        flavor,
        after_refresh=replay_after_refresh,
        force=force,
        started=datetime.fromisoformat(started) if started else None,
    )


@flow(name="refresh_insights", flow_run_name="refresh-{flavor}")
def refresh_insights(
    flavor: str = "off",
    ocr_table: str | None = None,
    types: list[str] | None = None,
    force: bool = False,
    predict: bool = True,
    all_images: bool = False,
) -> dict:
    """Predict + import (unless ``predict`` is False), then refresh the flavor's insights in bulk."""
    logger = get_run_logger()
    flavor = Flavor(flavor).value
    started = datetime.now(UTC).isoformat()
    predicted = None
    if predict:
        predicted, refreshed = predict_and_refresh_task(flavor, ocr_table, types, force, all_images, started)
    else:
        refreshed = refresh_task(flavor, force, started)
    summary = refresh_summary(
        refreshed,
        predicted,
        snapshot=products_path(flavor),
        ocr_table=Path(ocr_table) if ocr_table else None,
    )
    totals = summary["totals"]
    logger.info(
        "%s refresh %s: created %s, updated %s, deleted %s", flavor, summary["run_id"], totals["created"],
        totals["updated"], totals["deleted"],
    )  # fmt: skip
    create_markdown_artifact(
        refresh_markdown(summary),
        key=f"refresh-{flavor.replace('_', '-')}",
        description=f"{flavor} insight refresh",
    )
    return summary
