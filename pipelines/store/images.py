"""The store's image table: uploads the listener learns of, and their deletions (Robotoff's ``image``).

An upload event names image ids only; the product's own data (``images`` of its row in the product source)
gives each image's size and upload time when the source already knows the image — a snapshot older than the
upload does not, and then the event's time stands for the upload time and the size stays unknown until a
later event brings it. Set-based, one transaction per call, for one upload or thousands.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence

import duckdb
import pyarrow as pa

from pipelines.barcodes import image_path
from pipelines.common.config import Flavor
from pipelines.common.sql import load_statement
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.store.db import write_transaction

UPLOADS_SCHEMA = pa.schema(
    [
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("image_id", pa.string(), nullable=False),
        pa.field("source_image", pa.string(), nullable=False),
        pa.field("event_at", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
GONE_SCHEMA = pa.schema(
    [
        pa.field("barcode", pa.string()),
        pa.field("image_id", pa.string()),
        pa.field("source_image", pa.string()),
    ]
)


def _upload_id(image_id: str) -> str:
    """Uploaded images have digit ids; selections (``front_fr``) are not uploads."""
    if not (image_id.isascii() and image_id.isdigit()):
        raise ValueError(f"not an uploaded image id: {image_id[:40]!r}")
    return image_id


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def record_uploads(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    uploads: Iterable[tuple[str, str, dt.datetime]],
    products: pa.Table | None = None,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Record ``(barcode, image id, event time)`` uploads (codes normalized and valid, ids digits; the path
    check raises otherwise), sized from ``products`` (snapshot columns) when they hold the image."""
    rows = [(code, _upload_id(image), image_path(code, image), at) for code, image, at in uploads]
    if not rows:
        return 0
    table = pa.Table.from_pylist(
        [dict(zip(UPLOADS_SCHEMA.names, row, strict=True)) for row in rows], UPLOADS_SCHEMA
    )
    known = products if products is not None else PRODUCT_SCHEMA.empty_table()
    params = {"server_type": Flavor(flavor).value, "now": _now(now)}
    con.register("image_uploads", table)
    con.register("image_products", known.select(["normalized_code", "images"]))
    try:
        with write_transaction(con, purpose="record images"):
            con.execute(load_statement("store/image_record"), params)
    finally:
        con.unregister("image_uploads")
        con.unregister("image_products")
    return len({(code, image) for code, image, _, _ in rows})


def mark_deleted(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    gone: Sequence[tuple[str, str | None]],
    *,
    now: dt.datetime | None = None,
) -> int:
    """Mark images deleted: ``(barcode, image id)``, or ``(barcode, None)`` for every image of a deleted
    product; the number of rows newly marked. An image id never seen uploaded is recorded as deleted."""
    images = [(code, _upload_id(image), image_path(code, image)) for code, image in gone if image is not None]
    products = sorted({code for code, image in gone if image is None})
    if not images and not products:
        return 0
    params = {"server_type": Flavor(flavor).value, "now": _now(now)}
    con.register(
        "image_gone",
        pa.Table.from_pylist(
            [{"barcode": b, "image_id": i, "source_image": s} for b, i, s in images], GONE_SCHEMA
        ),
    )
    con.register("products_gone", pa.table({"barcode": pa.array(products, pa.string())}))
    try:
        with write_transaction(con, purpose="delete images"):
            marked = (
                len(con.execute(load_statement("store/image_delete"), params).fetchall()) if images else 0
            )
            if products:
                marked += len(con.execute(load_statement("store/image_delete_product"), params).fetchall())
    finally:
        con.unregister("image_gone")
        con.unregister("products_gone")
    return marked


def apply_ops(
    con: duckdb.DuckDBPyConnection,
    flavor: Flavor | str,
    ops: Sequence[tuple[str, str, str | None, dt.datetime | None]],
    products: pa.Table | None = None,
    *,
    now: dt.datetime | None = None,
) -> tuple[int, int]:
    """Apply ``(code, kind, image id, time)`` changes in order — runs of uploads (``upload``) and of deletions
    (``delete``, image id None for a deleted product) at once; (uploads recorded, rows marked deleted)."""
    recorded = marked = 0
    for kind, run in itertools.groupby(ops, key=lambda op: op[1]):
        batch = list(run)
        if kind == "upload":
            uploads = [
                (code, image, at) for code, _, image, at in batch if image is not None and at is not None
            ]
            recorded += record_uploads(con, flavor, uploads, products, now=now)
        elif kind == "delete":
            marked += mark_deleted(con, flavor, [(code, image) for code, _, image, _ in batch], now=now)
        else:
            raise ValueError(f"unknown image change {kind!r}")
    return recorded, marked
