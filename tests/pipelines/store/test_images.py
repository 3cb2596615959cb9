"""The image table: uploads sized from the product's data when it knows them, redeliveries, deletions."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from pipelines.barcodes import InvalidBarcodeError
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.store.images import mark_deleted, record_uploads
from tests.pipelines.store.conftest import BARCODE, IMAGE_1, T0, T1

OTHER = "5449000000996"
UPLOADED = datetime(2025, 12, 24, 10, 0, tzinfo=UTC)


def _products(images: list[dict]) -> pa.Table:
    """A one-product table with the snapshot's columns and the given ``images`` items."""
    fields = {"key": None, "imgid": None, "rev": None, "sizes": None, "uploaded_t": None, "uploader": None}
    row = {name: None for name in PRODUCT_SCHEMA.names}
    row |= {"normalized_code": BARCODE, "images": [fields | {"angle": None} | item for item in images]}
    return pa.Table.from_pylist([row], PRODUCT_SCHEMA)


def _images(con) -> list[tuple]:
    sql = """SELECT barcode, server_type, image_id, source_image, width, height, uploaded_at, deleted,
                    updated_at
             FROM image ORDER BY barcode, image_id"""
    return con.execute(sql).fetchall()


def test_uploads_take_size_and_time_from_the_product_else_the_event(con) -> None:
    products = _products(
        [
            {"key": "1", "width": 1200, "height": 1600, "uploaded_t": int(UPLOADED.timestamp())},
            {"key": "front_fr", "imgid": 2, "width": 10, "height": 10},  # a selection, not an upload
        ]
    )
    recorded = record_uploads(con, "off", [(BARCODE, "1", T0), (BARCODE, "2", T0)], products, now=T1)
    assert recorded == 2
    assert _images(con) == [
        (BARCODE, "off", "1", IMAGE_1, 1200, 1600, UPLOADED, False, T1),
        (BARCODE, "off", "2", "/301/762/042/2003/2.jpg", None, None, T0, False, T1),
    ]


def test_a_redelivered_upload_keeps_what_was_known_and_a_later_source_fills_the_size(con) -> None:
    record_uploads(con, "off", [(BARCODE, "1", T1)], now=T1)
    record_uploads(con, "off", [(BARCODE, "1", T1)], now=T1)  # at-least-once: the same event again
    assert len(_images(con)) == 1
    sized = _products([{"key": "1", "width": 640, "height": 480}])
    record_uploads(con, "off", [(BARCODE, "1", T1)], sized, now=T1)
    record_uploads(con, "off", [(BARCODE, "1", T1)], now=T1)  # a source without the size: kept
    [row] = _images(con)
    assert row[4:7] == (640, 480, T1)


def test_deletions_by_image_and_by_product_and_a_reupload(con) -> None:
    uploads = [(BARCODE, "1", T0), (BARCODE, "2", T0), (OTHER, "1", T0)]
    record_uploads(con, "off", uploads, now=T0)
    record_uploads(con, "obf", [(BARCODE, "1", T0)], now=T0)
    assert mark_deleted(con, "off", [(BARCODE, "2")], now=T1) == 1
    assert mark_deleted(con, "off", [(BARCODE, "2")], now=T1) == 0  # already deleted
    assert mark_deleted(con, "off", [(OTHER, None)], now=T1) == 1  # the product's every image
    deleted = {(r[0], r[1], r[2]) for r in _images(con) if r[7]}
    assert deleted == {(BARCODE, "off", "2"), (OTHER, "off", "1")}  # obf's row untouched
    record_uploads(con, "off", [(BARCODE, "2", T1)], now=T1)  # a redelivered upload: still deleted
    row = next(r for r in _images(con) if r[:3] == (BARCODE, "off", "2"))
    assert (row[6], row[7]) == (T0, True)
    assert mark_deleted(con, "off", [(BARCODE, "9")], now=T1) == 1  # never seen uploaded: a tombstone
    row = next(r for r in _images(con) if r[:3] == (BARCODE, "off", "9"))
    assert (row[3], row[6], row[7]) == ("/301/762/042/2003/9.jpg", None, True)
    record_uploads(con, "off", [(BARCODE, "9", T0)], now=T1)  # its upload event, late: stays deleted
    row = next(r for r in _images(con) if r[:3] == (BARCODE, "off", "9"))
    assert (row[6], row[7]) == (T0, True)


@pytest.mark.parametrize("code, image", [("12", "1"), (BARCODE, "../1"), (BARCODE, "front_fr")])
def test_unvalidated_codes_or_ids_never_reach_the_table(con, code: str, image: str) -> None:
    with pytest.raises((InvalidBarcodeError, ValueError)):
        record_uploads(con, "off", [(code, image, T0)], now=T0)
    assert _images(con) == []
