"""The nightly flow: download → convert → barcode audit → predictions → insight refresh → quality facets.

Each step is the stage's own flow, run as a subflow, so the UI shows every step with its own logs, state
and artifacts, and a failed step fails the nightly run with its reason. When the dump has not changed since
the last download the run stops after the download (state Completed, outcome ``unchanged``) unless forced.
The run publishes two artifacts with stable keys: ``nightly-<flavor>-counts`` (one row per count of every
step) and ``nightly-<flavor>`` (markdown summary with the report files). Steps exchange paths and small
JSON reports only, never tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.dumps import audit_barcodes, convert_to_parquet, download_dump
from flows.facets import write_quality_facets
from flows.insights import refresh_insights
from flows.ocr import run_ocr_pass
from pipelines.common.config import Flavor, get_settings
from pipelines.facets.plan import FACET_FLAVORS
from pipelines.nightly import STEPS, count_rows, nightly_markdown

OCR_BUCKET = "bucket"  # the nightly's `ocr` value that syncs OFF's images bucket first (docs/ocr.md)


@task(cache_policy=NO_CACHE)
def ocr_sync_task(flavor: str) -> dict[str, Any]:
    """New OCR of Open Food Facts' images bucket into the flavor's dataset (``offpipe ocr-sync``)."""
    from pipelines.ocr.bucket import sync_bucket

    return sync_bucket(flavor).to_dict()


@task(cache_policy=NO_CACHE)
def ocr_table_task(flavor: str, ocr: str) -> str:
    """The OCR texts to predict from: ``ocr`` itself (a .parquet table or the images bucket's dataset folder)
    or the table ingested from an archive (``pipelines.ocr.ingest.ocr_texts_for``)."""
    from pipelines.ocr.ingest import ocr_texts_for

    return str(ocr_texts_for(Path(ocr), flavor)[0])


@flow(name="nightly", flow_run_name="nightly-{flavor}")
def nightly(
    flavor: str = "off",
    url: str | None = None,
    force: bool = False,
    min_lines: int | None = None,
    ocr: str | None = None,
    facets: bool = True,
    facets_dry_run: bool = False,
) -> dict[str, Any]:
    """The whole nightly job for one flavor; returns the steps' reports and the outcome.

    ``url`` overrides the dump URL (http(s), ``file://`` or a path); ``ocr`` is an OCR-text table, dataset
    folder or archive to predict from, or ``"bucket"``: sync Open Food Facts' images bucket into the
    flavor's dataset first and predict from it (its images already predicted are skipped; with
    ``OFF_DASK_ADDRESS`` the sync and the OCR prediction run in shards on that Dask cluster,
    ``flows/ocr.py``); ``force`` reruns everything on an unchanged dump, accepts a snapshot that shrinks
    below ``OFF_SNAPSHOT_MIN_RATIO`` and overrides the refresh's 90% safety stop; ``min_lines`` is the
    floor of the dump's lines and of the snapshot's rows (default: the flavor's
    ``OFF_DUMP_MIN_LINES_<FLAVOR>``; 0 disables both). A snapshot without any row is always refused and
    fails the run before the refresh. Facets are written for the flavors that have them (off).
    """
    logger = get_run_logger()
    flavor = Flavor(flavor).value
    steps: dict[str, Any] = dict.fromkeys(STEPS)
    steps["download"] = download_dump(flavor, url=url, force=force, min_lines=min_lines)
    outcome = "completed"
    if steps["download"]["status"] == "unchanged" and not force:
        outcome = "unchanged"
        logger.info("%s dump unchanged (ETag %s): nothing to do", flavor, steps["download"].get("etag"))
    else:
        steps["convert"] = convert_to_parquet(
            flavor, source=steps["download"]["path"], min_rows=min_lines, force=force
        )
        steps["audit"] = audit_barcodes(flavor)
        if ocr == OCR_BUCKET and get_settings().dask_address:
            # sync, predict and import the new OCR in shards on the Dask cluster (docs/scale-out.md); the
            # refresh then finds every image of the dataset predicted (the ledger) and predicts names only
            passed = run_ocr_pass(flavor=flavor)
            steps["ocr_sync"] = passed["sync"] | {"seconds": passed["seconds"]["sync"]}
            ocr = steps["ocr_sync"]["dataset"]
        elif ocr == OCR_BUCKET:
            steps["ocr_sync"] = ocr_sync_task(flavor)
            ocr = steps["ocr_sync"]["dataset"]
        ocr_table = ocr_table_task(flavor, ocr) if ocr else None
        steps["refresh"] = refresh_insights(flavor, ocr_table=ocr_table, force=force)
        if facets and Flavor(flavor) in FACET_FLAVORS:
            steps["facets"] = write_quality_facets(flavor, dry_run=facets_dry_run)
    summary = {"flavor": flavor, "outcome": outcome, "steps": steps}
    for line in nightly_markdown(summary).splitlines():
        if line.startswith("- "):  # one log line per step, so the run's own log tells the story
            logger.info("%s", line[2:])
    create_table_artifact(
        count_rows(summary), key=f"nightly-{flavor}-counts", description=f"{flavor} nightly counts"
    )
    create_markdown_artifact(
        nightly_markdown(summary), key=f"nightly-{flavor}", description=f"{flavor} nightly run"
    )
    return summary
