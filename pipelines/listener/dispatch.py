"""In-process dispatch: units of work (``coalesce``) applied to the store, flavor by flavor.

Product rows come from the configured product source (:mod:`pipelines.listener.sources`: MongoDB, Product
Opener's API, or — the embedded default — the flavor's latest Parquet snapshot), OCR texts from the flavor's
image server (``fetch_ocr_table``: the URL is rebuilt from the barcode rules), and each flavor's
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

from pipelines.barcodes import image_path
from pipelines.config import Flavor, Settings
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.fetch import fetch_image as fetch_image_bytes
from pipelines.listener.apply import ApplyReport, NutriscoreHook, apply_products
from pipelines.listener.coalesce import ProductWork
from pipelines.listener.sources import ProductSource, product_source
from pipelines.ocr.fetch import OcrNotFoundError, fetch_ocr_table
from pipelines.predictors.nutriscore import NutriscoreDetector
from pipelines.predictors.resources import Resources
from pipelines.store.db import KeptWriter, store_writer

logger = logging.getLogger(__name__)

OcrFetcher = Callable[[str, str, Flavor, str], pa.Table]  # (code, image id, flavor, raw code) → OCR row
ImageFetcher = Callable[[str, str, Flavor, str], bytes]  # (code, image id, flavor, raw code) → image


@dataclass
class DispatchReport:
    """Per flavor, what a batch did; OCR results that were not (yet) on the image server."""

    flavors: dict[str, dict] = field(default_factory=dict)
    ocr_missing: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Fetchers:
    """Where a batch's files come from, and the detector that looks at its images."""

    ocr: OcrFetcher
    image: ImageFetcher
    source: ProductSource
    detector: NutriscoreDetector | None = None

    def nutriscore_hook(self, flavor: Flavor, raw_codes: dict[str, str]) -> NutriscoreHook | None:
        detector = self.detector
        if detector is None:
            return None

        def hook(code: str, image_id: str) -> pa.Table:
            data = self.image(code, image_id, flavor, raw_codes.get(code, code))
            source = image_path(code, image_id)
            return detector.predictions(data, barcode=code, source_image=source, server_type=flavor.value)

        return hook


def _plan(units: Sequence[ProductWork]) -> dict[Flavor, dict[str, list]]:
    """Per flavor: codes to update (rows needed), codes to delete, images deleted, OCR images to fetch."""
    plans: dict[Flavor, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for unit in units:
        plan = plans[unit.flavor]
        plan["image_ops"] += unit.image_ops
        if unit.deleted:
            plan["deleted"].append(unit.code)
            continue
        plan["updated"].append(unit.code)
        plan["deleted_images"] += [(unit.code, image) for image in sorted(unit.images_deleted)]
        plan["ocr"] += [(unit.code, image) for image in sorted(unit.ocr_images)]
        plan["raw_codes"].append((unit.code, unit.raw_code or unit.code))
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
    detector: NutriscoreDetector | None = None,
    source: ProductSource | None = None,
    fetch_ocr: OcrFetcher | None = None,
    fetch_image: ImageFetcher | None = None,
    writer: KeptWriter | None = None,
) -> DispatchReport:
    """Apply a batch of units; raises (nothing acknowledged) when a flavor's work cannot be committed.

    Product rows come from ``source`` (default: the configured chain, :mod:`pipelines.listener.sources`);
    OCR results and images come from the flavor's image server (``fetch_ocr``/``fetch_image`` replace the
    downloads); with a ``detector``, images whose OCR mentions the Nutri-Score go through it. The store is
    ``writer``'s kept connection when given (the listener's), else opened and closed for this batch.
    """
    report = DispatchReport()
    session = requests.Session()
    fetchers = _Fetchers(
        ocr=fetch_ocr
        or (
            lambda code, image, flavor, raw: fetch_ocr_table(
                code, image, flavor, settings, session, raw_code=raw
            )
        ),
        image=fetch_image
        or (
            lambda code, image, flavor, raw: fetch_image_bytes(
                code, image, flavor, settings=settings, session=session, raw_code=raw
            )
        ),
        source=source or product_source(settings),
        detector=detector,
    )
    try:
        for flavor, plan in _plan(units).items():
            report.flavors[flavor.value] = _apply_flavor(
                flavor, plan, settings, resources, writer or store or settings.store_path, fetchers, report
            ).__dict__
    finally:
        session.close()
    return report


def _apply_flavor(
    flavor: Flavor,
    plan: dict[str, list],
    settings: Settings,
    resources: Resources,
    store: Path | KeptWriter,
    fetchers: _Fetchers,
    report: DispatchReport,
) -> ApplyReport:
    raw_codes = dict(plan["raw_codes"])
    rows = (
        fetchers.source.rows(flavor, plan["updated"], raw_codes)
        if plan["updated"]
        else PRODUCT_SCHEMA.empty_table()
    )
    tables = []
    for code, image in plan["ocr"]:
        try:
            tables.append(fetchers.ocr(code, image, flavor, raw_codes.get(code, code)))
        except OcrNotFoundError:
            logger.warning("no OCR result for %s image %s on %s", code, image, flavor.value)
            report.ocr_missing.append((code, image))
    ocr = pa.concat_tables(tables, promote_options="default") if tables else None
    purpose = f"listener {flavor.value}"
    opened = store.session(purpose) if isinstance(store, KeptWriter) else store_writer(store, purpose=purpose)
    with opened as con:
        return apply_products(
            con,
            flavor,
            updated=rows,
            updated_codes=plan["updated"],
            deleted_codes=plan["deleted"],
            ocr=ocr,
            deleted_images=plan["deleted_images"],
            image_ops=plan["image_ops"],
            nutriscore=fetchers.nutriscore_hook(flavor, raw_codes),
            resources=resources,
        )
