"""Per-product work: the nightly run's functions on the rows of a few products.

An updated product goes through exactly what the bulk run does to every product — ``predict`` on its rows,
``import_predictions`` with the validity filter fed from the same rows, ``refresh_insights`` scoped to its
barcode — so a product refreshed from an event ends as a bulk refresh would leave it. A deleted product is
a refresh of its barcode against a product table that does not hold it: the refresh's own missing-product
step deletes its predictions and unannotated insights (annotated ones stay, as in the bulk run). Only a
product named as deleted goes that way: an updated product without rows (the source does not have it) is
left untouched — absence is not deletion (docs/listener.md, "Failures").

Products come from a product table with the snapshot's columns: the latest Parquet snapshot (the embedded
default), or documents fetched from MongoDB or Product Opener's API and converted by the conversion's own SQL
(:mod:`pipelines.listener.sources`). Every product applied is logged (:func:`log_applied`) for the bulk
run's replay (:mod:`pipelines.listener.replay`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.barcodes import image_path
from pipelines.common.config import Flavor
from pipelines.common.http import FetchError
from pipelines.common.sql import arrow_table, load_statement
from pipelines.insights.refresh import RefreshReport, refresh_insights
from pipelines.listener.coalesce import ImageOp
from pipelines.predictors import ocr_ledger
from pipelines.predictors.bulk import prediction_products
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules import nutriscore
from pipelines.store import images
from pipelines.store.db import write_transaction
from pipelines.store.predictions import delete_image_predictions, import_predictions
from pipelines.store.schema import concat_predictions

logger = logging.getLogger(__name__)


@dataclass
class ApplyReport:
    """What one batch of per-product work did."""

    flavor: str
    updated: int = 0
    deleted: int = 0
    not_found: int = 0  # updated codes absent from the product source: left untouched, not deleted
    images: int = 0  # OCR'd images predicted
    images_deleted: int = 0  # predictions and insights deleted with their images
    images_recorded: int = 0  # uploads recorded in the image table
    nutriscore_images: int = 0  # images the Nutri-Score detector ran on
    nutriscore_failed: int = 0  # images it could not run on (not downloadable, not decodable)
    predictions: int = 0
    refresh: dict = field(default_factory=dict)


NutriscoreHook = Callable[[str, str], pa.Table]  # (code, image id) → the detector's prediction rows


def _detect_nutriscore(predictions: pa.Table, hook: NutriscoreHook, report: ApplyReport) -> pa.Table:
    """The detector's predictions for the images whose OCR predictions hold the ``en:nutriscore`` label."""
    trigger = pc.and_(
        pc.equal(predictions.column("type"), "label"),
        pc.equal(predictions.column("value_tag"), nutriscore.TRIGGER_TAG),
    )
    found = predictions.filter(pc.fill_null(trigger, False)).select(["barcode", "source_image"])
    tables = []
    for code, source in sorted(
        {(r["barcode"], r["source_image"]) for r in found.to_pylist() if r["source_image"]}
    ):
        image_id = source.rsplit("/", 1)[-1].removesuffix(".jpg")
        report.nutriscore_images += 1
        try:
            tables.append(hook(code, image_id))
        except (FetchError, nutriscore.ImageDecodeError) as exc:
            report.nutriscore_failed += 1
            logger.warning("Nutri-Score detection skipped for %s image %s: %s", code, image_id, exc)
    return concat_predictions(tables)


def with_known_images(
    con: duckdb.DuckDBPyConnection, flavor: Flavor, rows: pa.Table, ocr: pa.Table | None
) -> pa.Table:
    """``rows`` with the uploaded images the listener knows of and the source does not list yet
    (``sql/listener/overlay_images.sql``). The overlay is skipped — ``rows`` returned as they are — when
    no OCR result names an image and the ``image`` table holds nothing for these products
    (``overlay_needed.sql``): most batches, whose planning it saves."""
    if not rows.num_rows:
        return rows
    if (ocr is None or not ocr.num_rows) and not _overlay_needed(con, flavor, rows):
        return rows  # nothing known beyond the source: the overlay would change nothing
    seen = (
        ocr.select(["barcode", "image_id"])
        if ocr is not None
        else pa.table({"barcode": pa.array([], pa.string()), "image_id": pa.array([], pa.string())})
    )
    narrow = pa.table(
        {
            "row_index": pa.array(range(rows.num_rows), pa.int64()),
            "normalized_code": rows.column("normalized_code"),
            "images": rows.column("images"),
        }
    )
    con.register("overlay_rows", narrow)
    con.register("ocr_seen", seen)
    try:
        overlaid = arrow_table(con, load_statement("listener/overlay_images"), {"server_type": flavor.value})
        images = overlaid.column("images").cast(rows.schema.field("images").type)
        return rows.set_column(rows.schema.get_field_index("images"), rows.schema.field("images"), images)
    finally:
        con.unregister("overlay_rows")
        con.unregister("ocr_seen")


def _overlay_needed(con: duckdb.DuckDBPyConnection, flavor: Flavor, rows: pa.Table) -> bool:
    codes = sorted({code for code in rows.column("normalized_code").to_pylist() if code is not None})
    params = {"server_type": flavor.value, "codes": codes}
    return bool(con.execute(load_statement("listener/overlay_needed"), params).fetchall()[0][0])


def log_applied(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor,
    updated: list[str],
    deleted: list[str],
    *,
    now: dt.datetime | None = None,
) -> None:
    """Record that the listener applied work for these products (``deleted``: they are gone)."""
    if not updated and not deleted:
        return
    logged = pa.table(
        {
            "barcode": pa.array([*updated, *deleted], pa.string()),
            "deleted": pa.array([False] * len(updated) + [True] * len(deleted), pa.bool_()),
        }
    )
    params = {"server_type": flavor.value, "now": now or dt.datetime.now(dt.UTC)}
    con.register("logged", logged)
    try:
        with write_transaction(con, purpose="listener log"):
            con.execute(load_statement("store/listener_log_record"), params)
    finally:
        con.unregister("logged")


def delete_image(con: duckdb.DuckDBPyConnection, flavor: Flavor, code: str, image_id: str) -> int:
    """An image deleted from a product: its predictions and its unannotated insights (Robotoff's
    ``deleted_image_job``); the rows deleted."""
    source = image_path(code, image_id)
    deleted = delete_image_predictions(con, code, source, flavor.value)
    params = {"barcode": code, "server_type": flavor.value, "source_image": source}
    with write_transaction(con, purpose="delete image insights"):
        deleted += len(con.execute(load_statement("listener/delete_image_insights"), params).fetchall())
    return deleted


def apply_products(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    *,
    updated: pa.Table,
    updated_codes: Sequence[str],
    deleted_codes: Sequence[str] = (),
    ocr: pa.Table | None = None,
    deleted_images: Sequence[tuple[str, str]] = (),
    image_ops: Sequence[ImageOp] = (),
    nutriscore: NutriscoreHook | None = None,
    resources: Resources,
    now: dt.datetime | None = None,
) -> ApplyReport:
    """Predict, import and refresh ``updated_codes`` from their rows ``updated`` (and the OCR texts ``ocr`` of
    their new images); refresh ``deleted_codes`` as gone; drop ``deleted_images`` ``(code, image id)`` first
    (their products belong in ``updated_codes``); record ``image_ops`` (uploads, image and product
    deletions, in event order) in the image table, uploads sized from ``updated``. An updated code without
    rows is not found: nothing of it is done (the caller retries it; absence is not deletion). With a
    ``nutriscore`` hook, each new image whose OCR text gave the ``en:nutriscore`` label also goes through
    the Nutri-Score detector (Robotoff's trigger). Codes must be normalized and valid
    (``pipelines.listener.events``)."""
    flavor = Flavor(flavor)
    report = ApplyReport(flavor=flavor.value, deleted=len(set(deleted_codes)))
    found = set(updated.column("normalized_code").to_pylist()) if updated.num_rows else set()
    missing = set(updated_codes) - found - set(deleted_codes)
    if missing:  # untouched: not predicted, not refreshed (whose missing-product step would delete them)
        logger.warning("%d updated products are not in the product source: left untouched", len(missing))
        updated_codes = [code for code in updated_codes if code not in missing]
        deleted_images = [(code, image) for code, image in deleted_images if code not in missing]
        image_ops = [op for op in image_ops if op.code not in missing]
        if ocr is not None:
            ocr = ocr.filter(
                pc.invert(pc.is_in(ocr.column("barcode"), pa.array(sorted(missing), pa.string())))
            )
    report.updated = len(found & set(updated_codes))
    report.not_found = len(missing)
    for code, image_id in deleted_images:
        report.images_deleted += delete_image(con, flavor, code, image_id)
    report.images_recorded, _ = images.apply_ops(con, flavor, image_ops, updated, now=now)
    ocr = ocr if ocr is not None and ocr.num_rows else None
    updated = with_known_images(con, flavor, updated, ocr)
    if updated.num_rows or ocr is not None:
        predictions = predict(updated if updated.num_rows else None, ocr, flavor=flavor, resources=resources)
        if nutriscore is not None and ocr is not None:
            detected = _detect_nutriscore(predictions, nutriscore, report)
            predictions = concat_predictions([predictions, detected])
        report.predictions = predictions.num_rows
        report.images = ocr.num_rows if ocr is not None else 0
        products = prediction_products(predictions, updated)
        # the ledger entries (the nightly run will not predict these images again) commit with the
        # predictions they vouch for
        hashed = ocr_ledger.ocr_hashes(ocr) if ocr is not None else None
        with write_transaction(con, purpose=f"listener predictions {flavor.value}"):
            import_predictions(con, predictions, products=products, now=now)
            if hashed is not None:
                fingerprint = ocr_ledger.predictors_fingerprint(resources)
                ocr_ledger.record_images(
                    con, hashed, server_type=flavor.value, fingerprint=fingerprint, now=now
                )
    scope = sorted(set(updated_codes) | set(deleted_codes))
    log_applied(
        con, flavor, sorted(set(updated_codes) - set(deleted_codes)), sorted(set(deleted_codes)), now=now
    )
    if scope:
        refreshed: RefreshReport = refresh_insights(
            con,
            updated,
            flavor=flavor,
            barcodes=scope,
            gone=sorted(set(deleted_codes)),
            resources=resources,
            now=now,
        )
        report.refresh = refreshed.to_dict()
    return report
