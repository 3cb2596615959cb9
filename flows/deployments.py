"""Prefect deployments: the nightly job on a cron schedule per flavor, ad-hoc refresh and facet runs.

``offpipe deploy`` registers them with the Prefect API (they show in the UI, with their schedules);
``offpipe serve`` registers them and runs them from one long-lived process — no work pool or worker to
operate, which suits a single machine. The nightly schedule is a cron at a configurable hour and time zone;
refresh and facet deployments have no schedule (the nightly flow already runs both) and exist for ad-hoc
full rescans and reruns from the UI; ``per-product`` takes the listener's batches when it dispatches to
Prefect; ``category-model-off`` trains the category classifier weekly; ``apply-insights-<flavor>`` applies
the due automatic insights to Product Opener every 2 minutes, one run at a time (docs/annotate.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Interval

from flows.annotate import apply_insights
from flows.category import train_category_model
from flows.facets import write_quality_facets
from flows.insights import refresh_insights
from flows.listener import per_product
from flows.nightly import nightly
from pipelines.common.config import Flavor
from pipelines.facets.plan import FACET_FLAVORS

DEFAULT_HOUR = 3  # Product Opener publishes the dumps during the night (Europe/Paris)
DEFAULT_MINUTE = 0
DEFAULT_TIMEZONE = "Europe/Paris"
CATEGORY_MODEL_CRON = "0 5 * * 0"  # Sundays 05:00, after that night's nightly run
APPLY_EVERY_S = 120  # Robotoff's scheduler runs process_insights every 2 minutes
# one write-back run at a time per deployment: a run due while the last one still works is cancelled
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
TAGS = ["offpipe"]


def nightly_cron(hour: int = DEFAULT_HOUR, minute: int = DEFAULT_MINUTE) -> str:
    """The cron expression of a daily run at ``hour:minute``."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"not a time of day: {hour}:{minute}")
    return f"{minute} {hour} * * *"


def build_deployments(
    flavors: Sequence[Flavor | str] = (Flavor.off,),
    *,
    hour: int = DEFAULT_HOUR,
    minute: int = DEFAULT_MINUTE,
    timezone: str = DEFAULT_TIMEZONE,
    nightly_ocr: str | None = None,
) -> list[RunnerDeployment]:
    """Per flavor: a scheduled nightly deployment, a refresh deployment, the facet one where it applies.
    ``nightly_ocr`` (``OFF_NIGHTLY_OCR``): the OCR the off nightly predicts from — ``bucket`` (Open Food
    Facts' images bucket, synced first), a dataset folder or table; none by default."""
    cron = nightly_cron(hour, minute)
    deployments = []
    for flavor in (Flavor(f) for f in flavors):
        deployments.append(
            nightly.to_deployment(
                name=f"nightly-{flavor.value}",
                schedules=[Cron(cron, timezone=timezone)],
                parameters={"flavor": flavor.value}
                | ({"ocr": nightly_ocr} if nightly_ocr and flavor is Flavor.off else {}),
                tags=[*TAGS, flavor.value],
                description=f"{flavor.value} nightly: download, convert, audit, predict, refresh, facets",
            )
        )
        deployments.append(
            refresh_insights.to_deployment(
                name=f"refresh-{flavor.value}",
                parameters={"flavor": flavor.value},
                tags=[*TAGS, flavor.value],
                description=f"Ad-hoc full rescan of {flavor.value}: predict + import + insight refresh.",
            )
        )
        deployments.append(
            apply_insights.to_deployment(
                name=f"apply-insights-{flavor.value}",
                schedules=[Interval(APPLY_EVERY_S)],
                concurrency_limit=ONE_AT_A_TIME,
                parameters={"flavor": flavor.value},
                tags=[*TAGS, flavor.value],
                description=f"Every 2 min: due automatic {flavor.value} insights → Product Opener "
                "(the worker's OFF_APPLY_MODE: plan by default).",
            )
        )
        if flavor in FACET_FLAVORS:
            deployments.append(
                write_quality_facets.to_deployment(
                    name=f"fiber-facets-{flavor.value}",
                    parameters={"flavor": flavor.value},
                    tags=[*TAGS, flavor.value],
                    description="Fiber data-quality facets into Product Opener's MongoDB (MONGO_URI).",
                )
            )
    if Flavor.off in [Flavor(f) for f in flavors]:
        deployments.append(
            train_category_model.to_deployment(
                name="category-model-off",
                schedules=[Cron(CATEGORY_MODEL_CRON, timezone=timezone)],
                parameters={"flavor": Flavor.off.value},
                tags=[*TAGS, Flavor.off.value],
                description="Weekly: train the category classifier on the off snapshot, report its quality.",
            )
        )
    deployments.append(
        per_product.to_deployment(
            name="per-product",
            tags=[*TAGS, "listener"],
            description="Batches of product events from `offpipe listen` (OFF_LISTENER_DISPATCH=deployment).",
        )
    )
    return deployments


def apply_deployments(deployments: Sequence[RunnerDeployment]) -> list[UUID]:
    """Register (create or update) the deployments with the Prefect API; their ids."""
    return [deployment.apply() for deployment in deployments]


def serve_deployments(deployments: Sequence[RunnerDeployment]) -> None:
    """Serve the deployments from this process until it is stopped (schedules stay active on shutdown)."""
    serve(*deployments, pause_on_shutdown=False)
