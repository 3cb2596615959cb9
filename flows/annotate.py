"""Prefect flow of the write-back: apply the due automatic insights of a flavor to Product Opener.

Thin wrapper: the work is in ``pipelines.annotate`` (importable without Prefect). Deployed every 2 minutes,
one run at a time (a run still going when the next is due makes Prefect cancel the new one), as Robotoff's
scheduler runs ``process_insights``. Whether calls are sent is the worker's ``OFF_APPLY_MODE`` (``plan`` by
default), never a flow parameter, so a run started from the UI cannot turn writing on; ``dry_run`` can only
turn it off. The credentials (``OFF_USER``, ``OFF_PASSWORD``) come from the worker's environment too. Each
run publishes a markdown artifact keyed ``apply-insights-<flavor>`` with its counts.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.annotate.job import DEFAULT_LIMIT, DEFAULT_RATE, Mode, apply_due_insights, report_markdown
from pipelines.common.config import Flavor, get_settings


@task(cache_policy=NO_CACHE)
def apply_insights_task(flavor: str, limit: int, rate: float, dry_run: bool) -> dict:
    """One write-back run (plan or apply, as the worker's OFF_APPLY_MODE says unless ``dry_run``)."""
    settings = get_settings()
    mode = Mode.plan if dry_run else Mode(settings.apply_mode)
    return apply_due_insights(flavor, mode=mode, limit=limit, rate=rate, settings=settings).to_dict()


@flow(name="apply_insights", flow_run_name="apply-insights-{flavor}")
def apply_insights(
    flavor: str = "off", limit: int = DEFAULT_LIMIT, rate: float = DEFAULT_RATE, dry_run: bool = False
) -> dict:
    """The due automatic insights of ``flavor`` applied to Product Opener (or planned)."""
    logger = get_run_logger()
    flavor = Flavor(flavor).value
    report = apply_insights_task(flavor, limit, rate, dry_run)
    logger.info(
        "%s write-back (%s): %d due, %d sent, %d recorded, %d left for a later run", flavor, report["mode"],
        report["due"], report["sent"], report["recorded"], report["retry_later"],
    )  # fmt: skip
    create_markdown_artifact(
        report_markdown(report), key=f"apply-insights-{flavor}", description=f"{flavor} write-back run"
    )
    return report
