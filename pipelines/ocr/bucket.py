"""Open Food Facts' images bucket as an OCR source: the corpus's OCR JSON synced into a Parquet dataset.

The AWS open-data bucket ``openfoodfacts-images`` (anonymous HTTPS, ``OFF_OCR_BUCKET_URL``) holds, under
``data/<image folder>/``, each uploaded image and its Cloud Vision OCR as ``<imgid>.json.gz``; the folder is
Product Opener's image path of the barcode, and every key is listed in ``data/data_keys.gz`` (synced monthly:
recent images may be missing; docs/ocr.md, "The images bucket"). A sync:

1. downloads the key list (temp + rename) unless given a local one, and streams it, keeping the OCR keys
   (``*.json.gz``) — under ``prefix`` when given — whose path is a valid barcode and image id by the rules of
   :func:`pipelines.ocr.rows.parse_source` (others are quarantined with the reason);
2. skips the images the dataset already holds, so a rerun fetches nothing new;
3. fetches the others, ``workers`` at a time with the shared HTTP client's timeouts and bounded retries, and
   builds each row with the very function the archive ingestion and the per-image fetch use
   (:func:`pipelines.ocr.rows.build_row`);
4. writes each batch as one Parquet part per barcode prefix under
   ``$OFF_DATA_DIR/parquet/<flavor>/ocr_texts/prefix=<first 3 digits>/`` (temp + rename: a killed sync
   leaves whole parts only), and the batch's failures to ``ocr_texts/_quarantine/<run>.jsonl``.

Counts balance: ``selected == present + rows_out + quarantined`` for the OCR keys.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import requests

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.files import atomic_path, write_bytes, write_text
from pipelines.common.http import FetchError, FetchNotFoundError, RetryPolicy, get_bytes, retrying, stream
from pipelines.ocr.fetch import decode_ocr_body
from pipelines.ocr.rows import OcrRecordError, build_row, parse_source, rows_to_table

logger = logging.getLogger(__name__)

KEYS_PATH = "data/data_keys.gz"
OCR_SUFFIX = ".json.gz"
PREFIX_DIGITS = 3  # partitions: the first three digits of the barcode (the image path's first folder)
DEFAULT_WORKERS = 8  # fetches in flight: the bucket answers each request on its own
DEFAULT_BATCH = 2000  # images per batch: one part per prefix and batch
PARSE_CHUNK = 100  # documents per task of the parsing processes
MAX_OCR_BYTES = 64 * 1024 * 1024  # the largest real responses weigh a few MB
NOT_FOUND = "not_found"
FETCH_FAILED = "fetch_failed"


class BucketSyncError(OffpipeError, RuntimeError):
    """A sync that cannot run (the key list unreachable, a flavor without a bucket)."""


@dataclass(frozen=True)
class OcrKey:
    """One OCR key of the bucket and the image it names."""

    key: str  # data/301/762/042/2003/1.json.gz
    barcode: str
    image_id: str

    @property
    def prefix(self) -> str:
        return self.barcode[:PREFIX_DIGITS]


@dataclass
class SyncReport:
    flavor: str
    keys_listed: int = 0  # every key of the list, images included
    selected: int = 0  # OCR keys under the prefix
    present: int = 0  # already in the dataset: not fetched
    rows_out: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    parts: int = 0
    dataset: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"quarantined_total": sum(self.quarantined.values())}


def dataset_path(flavor: Flavor | str, settings: Settings) -> Path:
    """The flavor's OCR text dataset: ``$OFF_DATA_DIR/parquet/<flavor>/ocr_texts/``."""
    return settings.parquet_dir(flavor) / "ocr_texts"


def select_keys(lines: Iterable[str], prefix: str | None = None) -> Iterator[OcrKey | tuple[str, str, str]]:
    """The OCR keys of a key list under ``prefix`` (a barcode start): an :class:`OcrKey` per valid one, a
    ``(key, reason, detail)`` per OCR key whose path is not a valid barcode and image id."""
    for raw in lines:
        key = raw.strip()
        if not key.endswith(OCR_SUFFIX) or not key.startswith("data/"):
            continue
        folder = key[len("data/") :]
        if prefix and not folder.replace("/", "").startswith(prefix):
            continue
        try:
            barcode, image_id = parse_source("/" + folder)
        except OcrRecordError as exc:
            yield key, exc.reason, exc.detail
            continue
        if not prefix or barcode.startswith(prefix):
            yield OcrKey(key, barcode, image_id)


def sync_bucket(
    flavor: Flavor | str = Flavor.off,
    *,
    settings: Settings | None = None,
    prefix: str | None = None,
    keys_file: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    batch: int = DEFAULT_BATCH,
    retry: RetryPolicy | None = None,
    progress: Callable[[int], None] | None = None,
    parse_workers: int | None = None,
) -> SyncReport:
    """Sync the OCR texts of the bucket (under ``prefix``) into the flavor's dataset; ``keys_file``: a local
    key list instead of the bucket's ``data/data_keys.gz``; ``progress`` is told of each batch's images;
    ``parse_workers``: processes parsing the documents (default one per core; 1: in this process)."""
    started = time.perf_counter()
    try:
        flavor = Flavor(flavor)
    except ValueError:
        raise BucketSyncError(f"unknown flavor {flavor!r}") from None
    if flavor is not Flavor.off:
        raise BucketSyncError(f"the images bucket holds Open Food Facts' images only, not {flavor.value}'s")
    if prefix is not None and not (prefix.isascii() and prefix.isdigit()):
        raise BucketSyncError(f"--prefix must be digits (a barcode start), not {prefix!r}")
    settings = settings or get_settings()
    retry = retry or RetryPolicy(attempts=3, backoff_s=0.5)
    dataset = dataset_path(flavor, settings)
    report = SyncReport(flavor=flavor.value, dataset=str(dataset))
    run = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
    bad: list[Quarantined] = []
    parsers = parse_workers or os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        session = stack.enter_context(requests.Session())
        pool = stack.enter_context(ProcessPoolExecutor(parsers)) if parsers > 1 else None
        fetch = _Fetch(session, settings, retry, workers, pool)
        keys = keys_file or _download_keys(session, settings, dataset, retry)
        present = _Present(dataset)
        pending: list[OcrKey] = []
        for item in select_keys(_key_lines(keys, report), prefix):
            report.selected += 1
            if not isinstance(item, OcrKey):
                bad.append(_bad(item[0], item[1], item[2]))
                continue
            if present.has(item):
                report.present += 1
                continue
            pending.append(item)
            if len(pending) >= batch:
                _sync_batch(pending, fetch, dataset, run, report, bad)
                if progress is not None:
                    progress(len(pending))
                pending = []
        if pending:
            _sync_batch(pending, fetch, dataset, run, report, bad)
            if progress is not None:
                progress(len(pending))
    counts = Counter(record.reason for record in bad)
    report.quarantined = dict(sorted(counts.items()))
    if bad:
        lines = b"".join(orjson.dumps(asdict(record)) + b"\n" for record in bad)
        write_bytes(dataset / "_quarantine" / f"{run}.jsonl", lines)
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "ocr sync %s: %d keys listed, %d OCR keys selected, %d present, %d rows out, %d quarantined %s "
        "(%.1f s)",
        flavor.value, report.keys_listed, report.selected, report.present, report.rows_out,
        sum(counts.values()), report.quarantined, report.seconds,
    )  # fmt: skip
    return report


def _download_keys(session: requests.Session, settings: Settings, dataset: Path, retry: RetryPolicy) -> Path:
    """The bucket's key list, kept beside the dataset (temp + rename) with its ETag: it changes monthly, so a
    nightly sync asks ``If-None-Match`` and reuses the copy on a 304."""
    url = f"{settings.ocr_bucket_url}/{KEYS_PATH}"
    dest = dataset / "_keys" / "data_keys.gz"
    etag_file = dest.with_name("data_keys.etag")
    known = etag_file.read_text().strip() if dest.is_file() and etag_file.is_file() else ""
    headers = {"If-None-Match": known} if known else {}

    def attempt() -> str | None:
        with stream(session, url, what="key list", headers=headers, retry=retry, accept=(200, 304)) as body:
            if body.status == 304:
                return None
            with atomic_path(dest) as tmp, tmp.open("wb") as out:
                for chunk in body.chunks():
                    out.write(chunk)
            return body.headers.get("ETag")

    try:
        etag = retrying(retry, attempt)
    except FetchError as exc:
        raise BucketSyncError(f"the bucket's key list could not be downloaded: {exc}") from exc
    if etag is None and known:
        logger.info("key list unchanged (ETag %s): reusing %s", known, dest)
    elif etag:  # written after the list: a crash in between only costs one more download
        write_text(etag_file, etag)
    else:
        etag_file.unlink(missing_ok=True)
    return dest


def key_list(flavor: Flavor | str = Flavor.off, settings: Settings | None = None) -> Path:
    """The bucket's key list, downloaded unless the copy kept beside the dataset is current (ETag)."""
    settings = settings or get_settings()
    retry = RetryPolicy(attempts=3, backoff_s=0.5)
    with requests.Session() as session:
        return _download_keys(session, settings, dataset_path(flavor, settings), retry)


def key_lines(path: Path) -> Iterator[str]:
    """The lines of a key list, gzip or plain (a proxy may have undone the compression)."""
    with path.open("rb") as probe:
        zipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if zipped else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:  # type: ignore[operator]
        yield from lines


def _key_lines(path: Path, report: SyncReport) -> Iterator[str]:
    for line in key_lines(path):
        report.keys_listed += 1
        yield line


class _Present:
    """The images a dataset holds, read per prefix partition when first asked."""

    def __init__(self, dataset: Path) -> None:
        self.dataset = dataset
        self._known: dict[str, set[tuple[str, str]]] = {}

    def has(self, key: OcrKey) -> bool:
        known = self._known.get(key.prefix)
        if known is None:
            known = self._known[key.prefix] = self._read(key.prefix)
        return (key.barcode, key.image_id) in known

    def _read(self, prefix: str) -> set[tuple[str, str]]:
        folder = self.dataset / f"prefix={prefix}"
        parts = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        found: set[tuple[str, str]] = set()
        for part in parts:
            table = pq.read_table(part, columns=["barcode", "image_id"])
            codes, images = table.column("barcode").to_pylist(), table.column("image_id").to_pylist()
            found.update(zip(codes, images, strict=True))
        return found


@dataclass
class _Fetch:
    """How a sync fetches (``workers`` threads: the bucket answers each request on its own) and parses
    (``parsers``, a process pool: the SDK's parsing is pure Python, 2–5 ms a document; None: here)."""

    session: requests.Session
    settings: Settings
    retry: RetryPolicy
    workers: int
    parsers: ProcessPoolExecutor | None

    def url(self, key: OcrKey) -> str:
        return f"{self.settings.ocr_bucket_url}/{key.key}"

    def body(self, key: OcrKey) -> bytes | Quarantined:
        url = self.url(key)
        try:
            return get_bytes(self.session, url, what="OCR JSON", max_bytes=MAX_OCR_BYTES, retry=self.retry)
        except FetchNotFoundError as exc:
            return _bad(key.key, NOT_FOUND, str(exc))
        except FetchError as exc:
            return _bad(key.key, FETCH_FAILED, str(exc))

    def rows(self, keys: list[OcrKey]) -> list[dict[str, Any] | Quarantined]:
        """Each key's row or quarantine record, in order."""
        with ThreadPoolExecutor(max(1, self.workers), thread_name_prefix="offpipe-ocr-sync") as threads:
            bodies = list(threads.map(self.body, keys))
        jobs = [
            (key.key, key.barcode, key.image_id, self.url(key), body)
            for key, body in zip(keys, bodies, strict=True)
            if not isinstance(body, Quarantined)
        ]
        chunks = [jobs[i : i + PARSE_CHUNK] for i in range(0, len(jobs), PARSE_CHUNK)]
        results = self.parsers.map(parse_chunk, chunks) if self.parsers else map(parse_chunk, chunks)
        parsed = iter([item for chunk in results for item in chunk])
        return [body if isinstance(body, Quarantined) else next(parsed) for body in bodies]


def parse_chunk(items: list[tuple[str, str, str, str, bytes]]) -> list[dict[str, Any] | Quarantined]:
    """Rows (or quarantine records) of fetched documents ``(key, barcode, image id, url, body)``, built by the
    function the archive ingestion uses; run in a parsing process."""
    out: list[dict[str, Any] | Quarantined] = []
    for key, barcode, image_id, url, body in items:
        try:
            out.append(build_row(decode_ocr_body(body, url), barcode=barcode, image_id=image_id, source=url))
        except OcrRecordError as exc:
            out.append(_bad(key, exc.reason, exc.detail))
    return out


def _sync_batch(
    keys: list[OcrKey], fetch: _Fetch, dataset: Path, run: str, report: SyncReport, bad: list[Quarantined]
) -> None:
    """Fetch and parse ``keys``, then write one part per prefix."""
    by_prefix: dict[str, list[dict[str, Any]]] = {}
    for key, result in zip(keys, fetch.rows(keys), strict=True):
        if isinstance(result, Quarantined):
            bad.append(result)
        else:
            by_prefix.setdefault(key.prefix, []).append(result)
    for prefix, rows in sorted(by_prefix.items()):
        table = rows_to_table(rows)
        part = dataset / f"prefix={prefix}" / f"part-{run}-{report.parts:05d}.parquet"
        with atomic_path(part) as tmp:
            pq.write_table(table, tmp, compression="zstd")
        report.parts += 1
        report.rows_out += table.num_rows


@dataclass(frozen=True)
class Quarantined:
    """An OCR key that gave no row, and why."""

    key: str
    reason: str
    detail: str


def _bad(key: str, reason: str, detail: str) -> Quarantined:
    return Quarantined(key, reason, detail[:500])
