"""In-process dispatch: units of work (``coalesce``) applied to the store, flavor by flavor.

The embedded default: product rows come from the flavor's latest Parquet snapshot, OCR texts from the
flavor's image server (``fetch_ocr_table``: the URL is rebuilt from the barcode rules), and each flavor's
batch is applied under the store's writer lock with :func:`pipelines.listener.apply.apply_products`, in
short transactions, so the nightly run and the listener take turns and never interleave inside a write.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import requests

from pipelines.config import Flavor, Settings
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.listener.apply import ApplyReport, apply_products, snapshot_rows
from pipelines.listener.coalesce import ProductWork
from pipelines.ocr.fetch import OcrNotFoundError, fetch_ocr_table
from pipelines.predictors.resources import Resources
from pipelines.predictors.run import products_path
from pipelines.store.db import store_writer

logger = logging.getLogger(__name__)

OcrFetcher = Callable[[str, str, Flavor], pa.Table]


@dataclass
class DispatchReport:
    """Per flavor, what a batch did; OCR results that were not (yet) on the image server."""

    flavors: dict[str, dict] = field(default_factory=dict)
    ocr_missing: list[tuple[str, str]] = field(default_factory=list)


def _plan(units: Sequence[ProductWork]) -> dict[Flavor, dict[str, list]]:
    """Per flavor: codes to update (rows needed), codes to delete, images deleted, OCR images to fetch."""
    plans: dict[Flavor, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for unit in units:
        plan = plans[unit.flavor]
        if unit.deleted:
            plan["deleted"].append(unit.code)
            continue
        plan["updated"].append(unit.code)
        plan["deleted_images"] += [(unit.code, image) for image in sorted(unit.images_deleted)]
        plan["uploads"] += [(unit.code, image, at) for image, at in sorted(unit.images_added.items())]
        plan["ocr"] += [(unit.code, image) for image in sorted(unit.ocr_images)]
        if unit.type_changed:  # the product's work leaves every other flavor
            for other in Flavor:
                if other not in (unit.flavor, Flavor.off_pro):
                    plans[other]["deleted"].append(unit.code)
    return plans


def process_units(
    units: Sequence[ProductWork],
    *,
    settings: Settings,
    resources: Resources,
    store: Path | None = None,
    fetch_ocr: OcrFetcher | None = None,
) -> DispatchReport:
    """Apply a batch of units; raises (nothing acknowledged) when a flavor's work cannot be committed."""
    report = DispatchReport()
    session = requests.Session()
    fetch = fetch_ocr or (lambda code, image, flavor: fetch_ocr_table(code, image, flavor, settings, session))
    try:
        for flavor, plan in _plan(units).items():
            report.flavors[flavor.value] = _apply_flavor(
                flavor, plan, settings, resources, store or settings.store_path, fetch, report
            ).__dict__
    finally:
        session.close()
    return report


def _apply_flavor(
    flavor: Flavor,
    plan: dict[str, list],
    settings: Settings,
    resources: Resources,
    store: Path,
    fetch: OcrFetcher,
    report: DispatchReport,
) -> ApplyReport:
    snapshot = products_path(flavor, settings)
    updated_codes, deleted_codes = plan["updated"], plan["deleted"]
    if updated_codes and not snapshot.is_file():
        raise FileNotFoundError(f"no {flavor.value} snapshot at {snapshot}: run the nightly job first")
    # no snapshot and nothing to update: deletions only, refreshed against an empty product table
    rows = snapshot_rows(snapshot, updated_codes) if snapshot.is_file() else PRODUCT_SCHEMA.empty_table()
    tables = []
    for code, image in plan["ocr"]:
        try:
            tables.append(fetch(code, image, flavor))
        except OcrNotFoundError:
            logger.warning("no OCR result for %s image %s on %s", code, image, flavor.value)
            report.ocr_missing.append((code, image))
    ocr = pa.concat_tables(tables, promote_options="default") if tables else None
    with store_writer(store, purpose=f"listener {flavor.value}") as con:
        return apply_products(
            con,
            flavor,
            updated=rows,
            updated_codes=updated_codes,
            deleted_codes=deleted_codes,
            ocr=ocr,
            deleted_images=plan["deleted_images"],
            uploads=plan["uploads"],
            resources=resources,
        )
