"""One facet run: plan the flavor's fiber facets, write the plan files, apply them (or stop at the plan)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from pipelines.common import files as atomic_files
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.convert.snapshot import existing_snapshot
from pipelines.facets.apply import DEFAULT_BATCH_SIZE, BulkWriter, apply_plan, mongo_collection
from pipelines.facets.plan import facet_flavor, plan_fiber_facets
from pipelines.facets.report import (
    CHECKPOINT_FILE,
    REPORT_FILE,
    FacetReport,
    plan_report,
    reports_dir,
    write_plan,
)
from pipelines.store.target import StoreTarget, store_target

logger = logging.getLogger(__name__)


def run_fiber_facets(
    flavor: Flavor | str = Flavor.off,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    store: StoreTarget | Path | str | None = None,
    settings: Settings | None = None,
    collection: BulkWriter | None = None,
) -> FacetReport:
    """Plan the flavor's fiber facets, write the plan under :func:`reports_dir`, and apply it.

    Nothing connects to MongoDB with ``dry_run`` or when ``MONGO_URI`` is unset (and no ``collection`` is
    given, as tests do): the plan files are the whole output then. The report is also written as JSON.
    """
    started = time.perf_counter()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    settings = settings or get_settings()
    chosen = facet_flavor(flavor)
    snapshot = existing_snapshot(chosen, settings)
    out_dir = reports_dir(chosen, settings)
    plan = plan_fiber_facets(store_target(store, settings), snapshot, server_type=chosen)
    files = write_plan(plan, out_dir)
    checkpoint = out_dir / CHECKPOINT_FILE
    if dry_run or (collection is None and not settings.mongo_uri):
        report = plan_report(plan)
        report.batches = math.ceil(plan.num_rows / batch_size)
        logger.info("fiber facets %s: %s, plan only", chosen.value, "dry run" if dry_run else "no MONGO_URI")
    elif collection is not None:
        report = apply_plan(collection, plan, batch_size=batch_size, checkpoint=checkpoint)
    else:
        with mongo_collection(settings) as target:
            report = apply_plan(target, plan, batch_size=batch_size, checkpoint=checkpoint)
    report.flavor = chosen.value
    report.dry_run = dry_run
    report.plan = str(files.plan)
    report.seconds = round(time.perf_counter() - started, 3)
    atomic_files.write_json(out_dir / REPORT_FILE, report.to_dict())
    return report
