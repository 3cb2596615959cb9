"""In-process dispatch: units of work (``coalesce``) applied to the store, flavor by flavor.

Product rows come from the configured product source (:mod:`pipelines.listener.sources`: MongoDB, Product
Opener's API, or — the embedded default — the flavor's latest Parquet snapshot), OCR texts from the flavor's
image server (``fetch_ocr_table``: the URL is rebuilt from the barcode rules), and each flavor's
batch is applied under the store's writer lock with :func:`pipelines.listener.apply.apply_products`, in
short transactions, so the nightly run and the listener take turns and never interleave inside a write.
A product that cannot be applied fails alone (:mod:`pipelines.listener.failures`): the rest of the batch is
committed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import requests

from pipelines.barcodes import image_path
from pipelines.common.config import Flavor, Settings
from pipelines.common.http import FetchError, FetchNotFoundError
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.listener.apply import ApplyReport, NutriscoreHook, apply_products
from pipelines.listener.coalesce import ProductWork
from pipelines.listener.failures import (
    APPLY_FAILED,
    OCR_FETCH_FAILED,
    PRODUCT_NOT_FOUND,
    SOURCE_UNAVAILABLE,
    UnitFailure,
    describe,
    is_outage,
    isolate,
)
from pipelines.listener.sources import ProductSource, SourceUnavailableError, product_source
from pipelines.ocr.fetch import fetch_image as fetch_image_bytes
from pipelines.ocr.fetch import fetch_ocr_table
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules.nutriscore import NutriscoreDetector
from pipelines.store.db import KeptWriter
from pipelines.store.session import KeptPostgres, KeptStore, store_session
from pipelines.store.target import StoreTarget, store_target

logger = logging.getLogger(__name__)

OcrFetcher = Callable[[str, str, Flavor, str], pa.Table]  # (code, image id, flavor, raw code) → OCR row
ImageFetcher = Callable[[str, str, Flavor, str], bytes]  # (code, image id, flavor, raw code) → image


@dataclass
class DispatchReport:
    """Per flavor, what a batch did; OCR results that were not (yet) on the image server; the units that were
    not applied (every other unit's work is committed)."""

    flavors: dict[str, dict] = field(default_factory=dict)
    ocr_missing: list[tuple[str, str]] = field(default_factory=list)
    failed: list[UnitFailure] = field(default_factory=list)


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


@dataclass(frozen=True)
class _Task:
    """A unit's work in one flavor: its own (``unit.flavor``), or — after a product-type change — the
    deletion of its work from another flavor (``moved_out``)."""

    unit: ProductWork
    moved_out: bool = False

    @property
    def needs_row(self) -> bool:
        return not self.moved_out and not self.unit.deleted


def _tasks(units: Sequence[ProductWork]) -> dict[Flavor, list[_Task]]:
    """Per flavor, the tasks of the batch. A product-type change is the event's own statement that the
    product left every other flavor: its work there is deleted."""
    tasks: dict[Flavor, list[_Task]] = defaultdict(list)
    for unit in units:
        tasks[unit.flavor].append(_Task(unit))
        if unit.type_changed and not unit.deleted:
            for other in Flavor:
                if other not in (unit.flavor, Flavor.off_pro):
                    tasks[other].append(_Task(unit, moved_out=True))
    return tasks


def _plan(tasks: Sequence[_Task]) -> dict[str, list]:
    """The arguments of ``apply_products`` for these tasks of one flavor."""
    plan: dict[str, list] = defaultdict(list)
    for task in tasks:
        unit = task.unit
        if task.moved_out:
            plan["deleted"].append(unit.code)
            continue
        plan["image_ops"] += unit.image_ops
        if unit.deleted:
            plan["deleted"].append(unit.code)
            continue
        plan["updated"].append(unit.code)
        plan["deleted_images"] += [(unit.code, image) for image in sorted(unit.images_deleted)]
        plan["raw_codes"].append((unit.code, unit.raw_code or unit.code))
    return plan


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
    writer: KeptStore | None = None,
) -> DispatchReport:
    """Apply a batch of units flavor by flavor; the units that could not be applied are in the report's
    ``failed`` (with their reason), the work of the others is committed.

    Failures are isolated (docs/listener.md, "Failures"): an updated product its source does not have fails
    ``product_not_found`` and nothing of it is touched — absence is not deletion; the products of a flavor
    no source answers for fail ``source_unavailable``; a product whose OCR cannot be fetched fails
    ``ocr_fetch_failed``; when a flavor's work raises, it is split in halves until the failing products
    are found (``apply_failed``). Only an outage (:func:`~pipelines.listener.failures.is_outage`: the
    store, the disk) raises; the whole batch is then redone later (the work is idempotent).

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
    failed: dict[str, UnitFailure] = {}
    try:
        tasks = _tasks(units)
        rows = {
            flavor: _rows(flavor, flavor_tasks, fetchers.source, failed)
            for flavor, flavor_tasks in tasks.items()
        }
        for flavor, flavor_tasks in tasks.items():
            ocr = _ocr(flavor, flavor_tasks, fetchers, report, failed)
            todo = [task for task in flavor_tasks if task.moved_out or task.unit.code not in failed]
            target = writer or store_target(store, settings)
            parts = _apply_isolated(flavor, todo, rows[flavor], ocr, resources, target, fetchers, failed)
            if parts:
                report.flavors[flavor.value] = _merged(parts)
    finally:
        session.close()
    report.failed = [failed[unit.code] for unit in units if unit.code in failed]
    _log_failures(report.failed)
    return report


def _log_failures(failures: Sequence[UnitFailure]) -> None:
    """One line per reason (a source outage fails every product of a batch)."""
    by_reason: dict[str, list[UnitFailure]] = defaultdict(list)
    for failure in failures:
        by_reason[failure.reason].append(failure)
    for reason, group in by_reason.items():
        codes = ", ".join(failure.code for failure in group[:5]) + (", …" if len(group) > 5 else "")
        logger.warning(
            "%d products not applied (%s: %s), left pending: %s", len(group), reason, codes, group[0].detail
        )


def _rows(
    flavor: Flavor, tasks: Sequence[_Task], source: ProductSource, failed: dict[str, UnitFailure]
) -> pa.Table:
    """The rows of the flavor's updated products. A product the source does not have fails
    ``product_not_found`` (nothing of it is applied: absence is not deletion); when no source answers for
    the flavor, its updated products fail ``source_unavailable`` — an outage when a source could not be
    reached."""
    wanted = [task.unit for task in tasks if task.needs_row]
    if not wanted:
        return PRODUCT_SCHEMA.empty_table()
    raw_codes = {unit.code: unit.raw_code or unit.code for unit in wanted}
    try:
        rows = source.rows(flavor, [unit.code for unit in wanted], raw_codes)
    except Exception as exc:
        if not isinstance(exc, SourceUnavailableError) and is_outage(exc):
            raise
        outage = is_outage(exc)
        reason = SOURCE_UNAVAILABLE if isinstance(exc, SourceUnavailableError) else APPLY_FAILED
        for unit in wanted:
            failed.setdefault(unit.code, UnitFailure(unit.code, reason, describe(exc), outage=outage))
        return PRODUCT_SCHEMA.empty_table()
    found = set(rows.column("normalized_code").to_pylist())
    for unit in wanted:
        if unit.code not in found:
            detail = f"{unit.code} is not in the {flavor.value} product source ({source.name})"
            failed.setdefault(unit.code, UnitFailure(unit.code, PRODUCT_NOT_FOUND, detail))
    return rows


def _ocr(
    flavor: Flavor,
    tasks: Sequence[_Task],
    fetchers: _Fetchers,
    report: DispatchReport,
    failed: dict[str, UnitFailure],
) -> dict[str, list[pa.Table]]:
    """Per product, the OCR rows of its new images. A missing OCR result is logged and counted, not retried;
    an image server that fails (after its retries) or serves an unusable document fails the product
    (``ocr_fetch_failed``; an outage, never dead-lettered, when the server could not be reached or answered
    5xx)."""
    tables: dict[str, list[pa.Table]] = defaultdict(list)
    for task in tasks:
        unit = task.unit
        if not task.needs_row or unit.code in failed:
            continue
        for image in sorted(unit.ocr_images):
            try:
                tables[unit.code].append(fetchers.ocr(unit.code, image, flavor, unit.raw_code or unit.code))
            except FetchNotFoundError:
                logger.warning("no OCR result for %s image %s on %s", unit.code, image, flavor.value)
                report.ocr_missing.append((unit.code, image))
            except Exception as exc:
                if is_outage(exc):
                    raise
                transient = isinstance(exc, FetchError) and exc.transient  # the shared client's rule
                failed[unit.code] = UnitFailure(unit.code, OCR_FETCH_FAILED, describe(exc), outage=transient)
                break
    return tables


def _apply_isolated(
    flavor: Flavor,
    tasks: Sequence[_Task],
    rows: pa.Table,
    ocr: dict[str, list[pa.Table]],
    resources: Resources,
    store: StoreTarget | KeptStore,
    fetchers: _Fetchers,
    failed: dict[str, UnitFailure],
) -> list[ApplyReport]:
    """Apply ``tasks``; when that raises (not an outage), apply each half on its own, down to the products
    that fail alone (``apply_failed``): a poison product costs about 2·log2(n) more applications
    (:func:`~pipelines.listener.failures.isolate`)."""
    if not tasks:
        return []

    def attempt(group: Sequence[_Task]) -> ApplyReport:
        return _apply(flavor, group, rows, ocr, resources, store, fetchers)

    reports, errors = isolate(tasks, attempt, what=f"{flavor.value} products")
    for group, exc in errors:
        alone = len(group) == 1  # else not isolated (attempts spent): not the product's fault yet
        if alone:
            logger.error("the %s work of product %s failed", flavor.value, group[0].unit.code, exc_info=exc)
        for task in group:
            failure = UnitFailure(task.unit.code, APPLY_FAILED, describe(exc), outage=not alone)
            failed.setdefault(task.unit.code, failure)
    return reports


def _apply(
    flavor: Flavor,
    tasks: Sequence[_Task],
    rows: pa.Table,
    ocr: dict[str, list[pa.Table]],
    resources: Resources,
    store: StoreTarget | KeptStore,
    fetchers: _Fetchers,
) -> ApplyReport:
    """One ``apply_products`` call for ``tasks``, under the store's writer lock."""
    plan = _plan(tasks)
    raw_codes = dict(plan["raw_codes"])
    updated = plan["updated"]
    if updated and rows.num_rows:
        rows = rows.filter(pc.is_in(rows.column("normalized_code"), pa.array(updated, pa.string())))
    elif not updated:
        rows = PRODUCT_SCHEMA.empty_table()
    tables = [table for code in updated for table in ocr.get(code, ())]
    purpose = f"listener {flavor.value}"
    codes = sorted({task.unit.code for task in tasks})
    opened = (
        store.session(purpose, server_type=flavor.value, barcodes=codes)
        if isinstance(store, KeptWriter | KeptPostgres)
        else store_session(store, server_type=flavor.value, barcodes=codes, purpose=purpose)
    )
    with opened as con:
        return apply_products(
            con,
            flavor,
            updated=rows,
            updated_codes=updated,
            deleted_codes=plan["deleted"],
            ocr=pa.concat_tables(tables, promote_options="default") if tables else None,
            deleted_images=plan["deleted_images"],
            image_ops=plan["image_ops"],
            nutriscore=fetchers.nutriscore_hook(flavor, raw_codes),
            resources=resources,
        )


def _merged(parts: Sequence[ApplyReport]) -> dict:
    """One flavor's report from the reports of its parts (several when its work was split)."""
    merged: dict = {}
    for part in parts:
        _add(merged, vars(part))
    return merged


def _add(total: dict, part: dict) -> None:
    """Numbers are summed, nested counters too; anything else is the last part's."""
    for key, value in part.items():
        if isinstance(value, dict):
            _add(total.setdefault(key, {}), value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        else:
            total[key] = value
