"""One image's OCR JSON fetched from Product Opener's image server → a one-row OCR text table.

The per-product run (a Redis update event, a new image) needs the same row the nightly ingestion would have
written for that image: this module only downloads the document and hands it to the ingestion's own row
builder (:func:`pipelines.ocr.rows.ocr_table_from_json`). The barcode and image id are validated before they
reach the URL, as at every edge of the pipeline.
"""

from __future__ import annotations

import gzip
import logging
import time
import zlib

import orjson
import pyarrow as pa
import requests

from pipelines import barcodes
from pipelines.config import Flavor, Settings
from pipelines.ocr.rows import NOT_JSON, OcrRecordError, checked_ids, ocr_table_from_json

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
MAX_BODY_BYTES = 64 * 1024 * 1024  # the largest real responses weigh a few MB
ATTEMPTS = 3  # connection errors, timeouts and 5xx are retried; a 404 is final
BACKOFF_S = 0.5


class OcrFetchError(RuntimeError):
    """The OCR JSON could not be downloaded (network, timeout, HTTP error, oversized body)."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(f"{message}: {url}")
        self.url = url
        self.status = status


class OcrNotFoundError(OcrFetchError):
    """The image server has no OCR JSON for this image (HTTP 404)."""


def fetch_ocr_table(
    barcode: str,
    image_id: str | int,
    flavor: Flavor | str = Flavor.off,
    settings: Settings | None = None,
    session: requests.Session | None = None,
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> pa.Table:
    """The one-row OCR text table of image ``image_id`` of product ``barcode`` on ``flavor``'s server.

    Raises :class:`~pipelines.ocr.rows.InvalidOcrSourceError` (an ``InvalidBarcodeError``) for an invalid
    barcode or image id, before any request; :class:`OcrNotFoundError` on 404; :class:`OcrFetchError` on
    other HTTP errors, timeouts and connection failures (after ``attempts`` tries for the transient ones);
    :class:`~pipelines.ocr.rows.OcrRecordError` when the document is not a usable OCR JSON.
    """
    code, image = checked_ids(barcode, image_id)
    url = barcodes.ocr_url(code, image, Flavor(flavor), settings=settings)
    own_session = session is None
    http = session or requests.Session()
    try:
        body = _download(http, url, max(1, attempts), backoff_s)
    finally:
        if own_session:
            http.close()
    payload = _decode(body, url)
    return ocr_table_from_json(payload, barcode=code, image_id=image, source=url)


def _download(session: requests.Session, url: str, attempts: int, backoff_s: float) -> bytes:
    """The body of ``url``, retrying transient failures with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return _get(session, url)
        except OcrNotFoundError:
            raise
        except OcrFetchError as exc:
            transient = exc.status is None or exc.status >= 500
            if not transient or attempt == attempts:
                raise
            delay = backoff_s * 2 ** (attempt - 1)
            logger.warning("%s (attempt %d/%d), retrying in %.1f s", exc, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _get(session: requests.Session, url: str) -> bytes:
    """One GET: the (content-decoded) body, or an :class:`OcrFetchError` that says what went wrong."""
    try:
        with session.get(url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), stream=True) as response:
            status = response.status_code
            if not response.ok:
                _drain(response)
            if status == 404:
                raise OcrNotFoundError("no OCR JSON (HTTP 404)", url, status)
            if not response.ok:
                raise OcrFetchError(f"HTTP {status} fetching OCR JSON", url, status)
            return _body(response, url)
    except requests.RequestException as exc:
        raise OcrFetchError(f"{type(exc).__name__} fetching OCR JSON ({exc})", url) from exc


def _body(response: requests.Response, url: str) -> bytes:
    """The body, refused past :data:`MAX_BODY_BYTES` (a runaway response must not exhaust memory)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=256 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise OcrFetchError(f"OCR JSON larger than {MAX_BODY_BYTES} bytes", url, response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def _drain(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Read a (small) error body before the connection closes: closing a socket with unread data resets
    the connection, which servers log as an error."""
    read = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        read += len(chunk)
        if read >= limit:
            return


def _decode(body: bytes, url: str) -> object:
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
