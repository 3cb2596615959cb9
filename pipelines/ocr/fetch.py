"""Files of one product image fetched from Product Opener's image server: its OCR JSON (→ a one-row OCR text
table) and the full-size image itself.

The per-product run (a Redis update event, a new image) needs the same row the nightly ingestion would have
written for that image: this module only downloads the document and hands it to the ingestion's own row
builder (:func:`pipelines.ocr.rows.ocr_table_from_json`). The barcode and image id are validated before they
reach the URL, as at every edge of the pipeline. Both files are tried under the new path layout first, then
(on a 404) under the legacy path of the code as the event gave it, for files that were never moved.
"""

from __future__ import annotations

import gzip
import logging
import zlib

import orjson
import pyarrow as pa
import requests

from pipelines import barcodes
from pipelines.common.config import Flavor, Settings
from pipelines.common.http import RetryPolicy, get_first
from pipelines.ocr.rows import NOT_JSON, OcrRecordError, checked_ids, ocr_table_from_json

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024  # the largest real responses weigh a few MB
MAX_IMAGE_BYTES = 48 * 1024 * 1024  # full-size product photos weigh up to a few MB
ATTEMPTS = 3  # connection errors, timeouts and 5xx are retried; a 404 is final
BACKOFF_S = 0.5


def fetch_ocr_table(
    barcode: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    settings: Settings | None = None,
    session: requests.Session | None = None,
    *,
    raw_code: str | None = None,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> pa.Table:
    """The one-row OCR text table of image ``image_id`` of product ``barcode`` on ``flavor``'s server.

    Raises :class:`~pipelines.ocr.rows.InvalidOcrSourceError` (an ``InvalidBarcodeError``) for an invalid
    barcode or image id, before any request; :class:`~pipelines.common.http.FetchNotFoundError` on 404;
    :class:`~pipelines.common.http.FetchError` on other HTTP errors, timeouts and connection failures (after
    ``attempts`` tries for the transient ones);
    :class:`~pipelines.ocr.rows.OcrRecordError` when the document is not a usable OCR JSON. The new path
    layout is tried first; on a 404, the legacy path of ``raw_code`` (the code as the event gave it), for
    files that were never moved.
    """
    code, image = checked_ids(barcode, image_id)
    urls = [barcodes.ocr_url(code, image, Flavor(flavor), settings=settings)]
    if raw_code is not None:
        urls.append(barcodes.legacy_ocr_url(raw_code, image, Flavor(flavor), settings=settings))
    own_session = session is None
    http = session or requests.Session()
    try:
        retry = RetryPolicy(attempts=attempts, backoff_s=backoff_s)
        url, body = get_first(http, urls, what="OCR JSON", max_bytes=MAX_BODY_BYTES, retry=retry)
    finally:
        if own_session:
            http.close()
    payload = decode_ocr_body(body, url)
    return ocr_table_from_json(payload, barcode=code, image_id=image, source=url)


def decode_ocr_body(body: bytes, url: str) -> object:
    """The JSON document of a body. ``Content-Encoding: gzip`` is undone by requests; a body that is itself
    gzip (a ``.json.gz`` file served as is) is decompressed here."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise OcrRecordError(NOT_JSON, f"corrupt gzip body from {url}: {exc}") from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OcrRecordError(NOT_JSON, f"body of {url} is not JSON: {exc}") from exc


def fetch_image(
    code: str,
    image_id: str,
    flavor: Flavor | str,
    *,
    settings: Settings | None = None,
    session: requests.Session | None = None,
    raw_code: str | None = None,
) -> bytes:
    """The full-size image ``image_id`` of product ``code`` from the flavor's image server: the new path
    layout first, then (on a 404) the legacy path of ``raw_code``. The code and id are checked by the
    barcode rules before they reach a URL."""
    urls = [barcodes.image_url(code, image_id, flavor, settings=settings)]
    if raw_code is not None:
        urls.append(barcodes.legacy_image_url(raw_code, image_id, flavor, settings=settings))
    http = session or requests.Session()
    try:
        return get_first(http, urls, what="image", max_bytes=MAX_IMAGE_BYTES)[1]
    finally:
        if session is None:
            http.close()
