"""Prefect flow of the facet stage: plan the fiber data-quality facets and write them to MongoDB.

Thin wrapper: the work is in ``pipelines.facets`` (importable without Prefect). The flow publishes a markdown
artifact keyed ``fiber-facets-<flavor>`` with the counts. ``MONGO_URI`` comes from the worker's environment
only (never a flow parameter, so it never shows in the UI); without it the run writes the plan and stops.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.facets.apply import DEFAULT_BATCH_SIZE
from pipelines.facets.job import run_fiber_facets
from pipelines.facets.plan import facet_flavor
from pipelines.facets.report import report_markdown


@task(cache_policy=NO_CACHE)
def fiber_facets_task(flavor: str, dry_run: bool, batch_size: int) -> dict:
    """Plan, write the plan files, and apply them (resuming from the checkpoint of an interrupted run)."""
    return run_fiber_facets(flavor, dry_run=dry_run, batch_size=batch_size).to_dict()


@flow(name="write_quality_facets", flow_run_name="quality-facets-{flavor}")
def write_quality_facets(
    flavor: str = "off", dry_run: bool = False, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict:
    """Robotoff's fiber quality facets for ``flavor`` (off only), as a plan and as MongoDB updates."""
    logger = get_run_logger()
    flavor = facet_flavor(flavor).value
    report = fiber_facets_task(flavor, dry_run, batch_size)
    logger.info(
        "%s fiber facets: %s products planned, %s modified in %s round trips", flavor,
        report["products_planned"], report["modified"], report["round_trips"],
    )  # fmt: skip
    create_markdown_artifact(
        report_markdown(report), key=f"fiber-facets-{flavor}", description=f"{flavor} fiber quality facets"
    )
    return report
