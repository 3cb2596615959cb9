"""Prefect flows of the dump stage: download, convert to Parquet, audit barcodes.

Thin wrappers: the work is in ``pipelines`` (importable without Prefect). Each flow logs through Prefect's
logger and publishes artifacts with stable keys (lowercase, per flavor) so the UI shows their history.
Flows take paths and flags, never big in-memory objects, and return small JSON-ready summaries.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.audit.barcodes import audit_barcodes as run_barcode_audit
from pipelines.common.config import Flavor
from pipelines.convert.convert import convert_dump
from pipelines.download.dump import DUMP_NAME
from pipelines.download.dump import download_dump as run_download


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    """Retry the download task only when the server or network kept failing; a refused dump (validation),
    a missing local file or an HTTP 4xx would fail the same way a minute later."""
    from pipelines.download.dump import DownloadUnavailableError

    return isinstance(state.result(raise_on_failure=False), DownloadUnavailableError)


@task(retries=2, retry_delay_seconds=60, retry_condition_fn=_worth_retrying, cache_policy=NO_CACHE)
def fetch_dump(flavor: str, url: str | None, force: bool, min_lines: int | None) -> dict:
    """Download (or confirm unchanged) the flavor's dump; the function itself retries transfers."""
    result = run_download(flavor, url=url, force=force, min_lines=min_lines)
    return {
        "status": result.status,
        "path": str(result.path),
        "resumed_from": result.resumed_from,
        **asdict(result.meta),
    }


@flow(name="download_dump", flow_run_name="download-{flavor}")
def download_dump(
    flavor: str = "off", url: str | None = None, force: bool = False, min_lines: int | None = None
) -> dict:
    """Bring a flavor's JSONL dump up to date; ``status`` is ``unchanged`` when there is nothing new."""
    logger = get_run_logger()
    flavor = Flavor(flavor).value
    summary = fetch_dump(flavor, url, force, min_lines)
    logger.info("%s dump %s: %s lines, ETag %s", flavor, summary["status"], summary["lines"], summary["etag"])
    create_table_artifact(
        [{k: summary[k] for k in ("status", "lines", "size", "sha256", "etag", "last_modified", "url")}],
        key=f"download-{flavor}",
        description=f"{flavor} dump download",
    )
    return summary


@task(cache_policy=NO_CACHE)
def convert_task(source: str, flavor: str, min_rows: int | None = None, force: bool = False) -> dict:
    return convert_dump(Path(source), flavor, min_rows=min_rows, force=force).to_dict()


@flow(name="convert_to_parquet", flow_run_name="convert-{flavor}")
def convert_to_parquet(
    flavor: str = "off", source: str | None = None, min_rows: int | None = None, force: bool = False
) -> dict:
    """Convert a flavor's dump (default: the downloaded one) into its Parquet snapshot.

    The snapshot guard applies as on the command line (docs/dumps.md): ``min_rows`` overrides the flavor's
    floor (0 disables it), ``force`` accepts a shrink below ``OFF_SNAPSHOT_MIN_RATIO``; a snapshot without
    any row is always refused. A refusal fails the flow with its one-line reason, nothing replaced.
    """
    from pipelines.common.config import get_settings

    logger = get_run_logger()
    flavor = Flavor(flavor).value
    source = source or str(get_settings().dump_dir(flavor) / DUMP_NAME)
    report = convert_task(source, flavor, min_rows, force)
    logger.info(
        "%s: %s lines → %s rows (%s repaired), %s quarantined", flavor, report["lines_in"],
        report["rows_out"], report["repaired_lines"], report["quarantined_total"],
    )  # fmt: skip
    rows = [
        {"count": "lines in", "value": report["lines_in"]},
        {"count": "rows out", "value": report["rows_out"]},
        {"count": "repaired lines", "value": report["repaired_lines"]},
        {"count": "previous snapshot rows", "value": report["previous_rows"] or 0},
        {"count": "quarantined", "value": report["quarantined_total"]},
        *({"count": f"quarantined: {k}", "value": v} for k, v in report["quarantined"].items()),
        *({"count": f"coerced to null: {k}", "value": v} for k, v in report["coerced_to_null"].items()),
        {"count": "duplicate code rows", "value": report["duplicate_code_rows"]},
        {"count": "normalized code collisions", "value": report["normalized_code_collisions"]},
        {"count": "invalid codes", "value": report["invalid_codes"]},
    ]
    create_table_artifact(rows, key=f"convert-{flavor}", description=f"{flavor} JSONL → Parquet counts")
    return report


@task(cache_policy=NO_CACHE)
def audit_task(flavor: str, snapshot: str | None) -> dict:
    report = run_barcode_audit(flavor, snapshot=Path(snapshot) if snapshot else None)
    return asdict(report) | {"summary": report.summary_line(), "markdown_text": report.to_markdown()}


@flow(name="audit_barcodes", flow_run_name="audit-barcodes-{flavor}")
def audit_barcodes(flavor: str = "off", snapshot: str | None = None) -> dict:
    """The barcode migration audit of a flavor's snapshot, published as a markdown artifact."""
    logger = get_run_logger()
    flavor = Flavor(flavor).value
    report = audit_task(flavor, snapshot)
    logger.info("barcode audit %s: %s", flavor, report["summary"])
    create_markdown_artifact(report.pop("markdown_text"), key=f"barcode-audit-{flavor}",
                             description=f"{flavor} barcode migration audit")  # fmt: skip
    return report
