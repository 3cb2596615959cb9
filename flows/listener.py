"""The per-product flow, and the listener's dispatch to it through a Prefect deployment.

By default the listener applies its batches in its own process (``pipelines.listener.dispatch``). With
``OFF_LISTENER_DISPATCH=deployment`` it hands each batch to the deployment ``OFF_LISTENER_DEPLOYMENT``
instead (``per_product/per-product``, registered by ``offpipe deploy``): ``run_deployment`` with
``timeout=0`` creates the flow run and returns at once, and the idempotency key — a hash of the batch's
stream entry ids — makes a batch dispatched twice (a listener that crashed before its XACK) one flow run.
The entries are acknowledged once the flow run exists: from then on Prefect owns the work (its state, its
retries, the UI). The flow runs the same function as the in-process path: the work of the products that can
be applied is committed, and the flow run then fails naming the others (``product_not_found``…), so Prefect
retries them and shows them. A dispatch that cannot create the flow run is an outage for the listener (its
batch waits, docs/listener.md "Failures").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment

from pipelines.common.errors import OffpipeError
from pipelines.listener.coalesce import ProductWork
from pipelines.listener.failures import OutageError, UnitFailure, describe

DEFAULT_DEPLOYMENT = "per_product/per-product"


@flow(name="per_product", flow_run_name="per-product-{label}", retries=2, retry_delay_seconds=30)
def per_product(units: list[dict[str, Any]], label: str = "batch") -> dict[str, Any]:
    """Apply a batch of the listener's units of work (``ProductWork.to_dict``) to the store."""
    from pipelines.common.config import get_settings
    from pipelines.listener.dispatch import process_units
    from pipelines.predictors.resources import default_resources
    from pipelines.predictors.rules.nutriscore import NutriscoreDetector

    settings = get_settings()
    work = [ProductWork.from_dict(unit) for unit in units]
    detector = (
        NutriscoreDetector(settings.nutriscore_model, version=settings.nutriscore_model_version)
        if settings.nutriscore_model is not None
        else None
    )
    report = process_units(work, settings=settings, resources=default_resources(), detector=detector)
    get_run_logger().info("applied %d products: %s", len(work) - len(report.failed), report.flavors)
    if report.failed:  # the others are committed; a retry of the flow redoes these (idempotent work)
        raise UnitsNotAppliedError(report.failed)
    return {"flavors": report.flavors, "ocr_missing": report.ocr_missing}


class UnitsNotAppliedError(OffpipeError, RuntimeError):
    """Some products of a per-product flow run were not applied (each with its reason)."""

    def __init__(self, failed: Sequence[UnitFailure]) -> None:
        shown = "; ".join(f"{f.code} {f.reason}: {f.detail}" for f in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        super().__init__(f"{len(failed)} products not applied: {shown}{more}")
        self.failed = list(failed)


def idempotency_key(units: Sequence[ProductWork]) -> str:
    """The same batch of stream entries gives the same key, whatever the order of its units."""
    entries = sorted(f"{stream}/{entry_id}" for unit in units for stream, entry_id in unit.entries)
    return "offpipe-listener-" + hashlib.sha256("\n".join(entries).encode()).hexdigest()[:40]


def deployment_dispatcher(name: str = DEFAULT_DEPLOYMENT):
    """A listener dispatcher that creates a flow run of deployment ``name`` per batch; the flow run."""

    def dispatch(units: Sequence[ProductWork]):
        key = idempotency_key(units)
        parameters = {"units": [unit.to_dict() for unit in units], "label": key[-12:]}
        try:
            return run_deployment(
                name, parameters=parameters, timeout=0, idempotency_key=key, tags=["offpipe", "listener"]
            )
        except Exception as exc:  # the API is down or refuses: no product's fault, the batch waits
            raise OutageError(f"cannot create a flow run of {name}: {describe(exc)}") from exc

    return dispatch
