"""Download a flavor's JSONL dump: conditional, resumable, retried, validated, atomically installed.

Layout under ``$OFF_DATA_DIR/dumps/<flavor>/``:

- ``products.jsonl.gz``: the last good dump, replaced only by a validated one (``os.replace``);
- ``products.jsonl.gz.meta.json``: its sidecar (URL, ETag, Last-Modified, size, sha256, lines, time);
- ``products.jsonl.gz.part`` and ``.part.json``: a transfer in progress and the validator it was started
  against, so that an interrupted transfer continues with ``Range`` + ``If-Range`` (and restarts from zero
  when the server ignores the range or the file changed).

The request carries ``If-None-Match`` / ``If-Modified-Since`` from the sidecar: a 304 (or a 200 whose ETag
is the one we have) reports ``unchanged`` and downloads nothing, unless ``force``. Requests go through the
pipeline's HTTP client (:mod:`pipelines.common.http`): connection errors, timeouts, broken transfers, 5xx and
429 are retried with exponential backoff (each attempt resumes what the previous one wrote); other errors
fail with a clear message.
A SIGKILL at any moment leaves the previous dump and sidecar untouched.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from urllib.parse import unquote, urlparse

import requests

from pipelines.common import http
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.http import FetchError, RetryPolicy
from pipelines.download.meta import (
    DumpMeta,
    PartMeta,
    part_meta_path,
    part_path,
    read_meta,
    read_part_meta,
    write_meta,
    write_part_meta,
)
from pipelines.download.validate import DumpValidationError, validate_dump

logger = logging.getLogger(__name__)

DUMP_NAME = "products.jsonl.gz"
CHUNK = 256 * 1024  # bytes kept on disk before a broken connection: what a resume saves
# A dump is large and its server sometimes busy: more, slower attempts than for small files.
DUMP_RETRY = RetryPolicy(attempts=6, backoff_s=1.0)
Progress = Callable[[int], None]


class DownloadError(OffpipeError, RuntimeError):
    """The dump could not be downloaded; the previous dump is untouched."""


class DownloadUnavailableError(DownloadError):
    """The server or the network failed on every attempt: worth trying again later (a flow retry)."""


@dataclass(frozen=True)
class DownloadResult:
    status: str  # "downloaded" or "unchanged"
    path: Path
    meta: DumpMeta
    resumed_from: int = 0
    attempts: int = 1


def download_dump(
    flavor: Flavor | str,
    *,
    url: str | None = None,
    dest: Path | None = None,
    force: bool = False,
    min_lines: int | None = None,
    settings: Settings | None = None,
    retry: RetryPolicy | None = None,
    progress: Progress | None = None,
    session: requests.Session | None = None,
) -> DownloadResult:
    """Bring ``flavor``'s dump up to date. ``url`` may be http(s), ``file://`` or a plain path."""
    settings = settings or get_settings()
    flavor = Flavor(flavor)
    source = url or settings.dump_url(flavor)
    dest = dest or settings.dump_dir(flavor) / DUMP_NAME
    dest.parent.mkdir(parents=True, exist_ok=True)
    floor = settings.dump_min_lines.get(flavor, 0) if min_lines is None else min_lines
    scheme = urlparse(source).scheme
    if scheme in ("http", "https"):
        fetcher = _HttpFetcher(
            source, dest, force, retry or DUMP_RETRY, session or requests.Session(), progress
        )
        outcome = fetcher.run()
    elif scheme in ("file", ""):
        outcome = _copy_file(_local_path(source), dest, force, progress)
    else:
        raise DownloadError(f"unsupported dump URL scheme {scheme!r}: use http(s)://, file:// or a path")
    if outcome.status == "unchanged":
        assert outcome.meta is not None
        logger.info("%s dump unchanged (ETag %s)", flavor.value, outcome.meta.etag)
        return DownloadResult("unchanged", dest, outcome.meta, attempts=outcome.attempts)
    return _install(flavor, source, dest, floor, outcome)


@dataclass
class _Outcome:
    status: str  # "unchanged" or "fetched"
    meta: DumpMeta | None = None
    etag: str | None = None
    last_modified: str | None = None
    resumed_from: int = 0
    attempts: int = 1


def _install(flavor: Flavor, source: str, dest: Path, floor: int, outcome: _Outcome) -> DownloadResult:
    """Validate the finished ``.part`` and install it; on failure delete it and keep the previous dump."""
    part = part_path(dest)
    try:
        checked = validate_dump(part, min_lines=floor)
    except DumpValidationError as exc:
        part.unlink(missing_ok=True)
        part_meta_path(dest).unlink(missing_ok=True)
        raise DownloadError(f"{flavor.value} dump refused, previous dump kept: {exc}") from exc
    meta = DumpMeta(
        url=source,
        size=checked.size,
        sha256=checked.sha256,
        lines=checked.lines,
        downloaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        etag=outcome.etag,
        last_modified=outcome.last_modified,
        flavor=flavor.value,
    )
    # Dump first, sidecar second: a crash in between leaves a sidecar whose size no longer matches, which
    # read_meta() ignores (next run re-downloads) — never a sidecar vouching for a dump that is not there.
    part.replace(dest)
    write_meta(dest, meta)
    part_meta_path(dest).unlink(missing_ok=True)
    logger.info(
        "%s dump installed: %s lines, %s bytes, sha256 %s", flavor.value, meta.lines, meta.size, meta.sha256
    )
    return DownloadResult("downloaded", dest, meta, outcome.resumed_from, outcome.attempts)


class _HttpFetcher:
    def __init__(
        self,
        url: str,
        dest: Path,
        force: bool,
        retry: RetryPolicy,
        session: requests.Session,
        progress: Progress | None,
    ) -> None:
        self.url = url
        self.dest = dest
        self.part = part_path(dest)
        self.force = force
        self.retry = retry
        self.session = session
        self.progress = progress
        self.previous = read_meta(dest)
        self.resumed_from = 0

    def run(self) -> _Outcome:
        attempts = 0

        def attempt() -> _Outcome:
            nonlocal attempts
            attempts += 1
            return self._attempt()

        try:
            outcome = http.retrying(self.retry, attempt)
        except FetchError as exc:
            if exc.transient:
                raise DownloadUnavailableError(
                    f"download of {self.url} failed after {exc.attempts} attempts: {exc.reason}"
                ) from exc
            raise DownloadError(str(exc)) from exc
        outcome.attempts = attempts
        outcome.resumed_from = self.resumed_from
        return outcome

    def _headers(self) -> tuple[dict[str, str], int]:
        headers = {"Accept-Encoding": "identity"}  # Range counts the bytes as stored
        part_meta = read_part_meta(self.dest)
        offset = self.part.stat().st_size if self.part.is_file() else 0
        if offset and part_meta and part_meta.url == self.url and part_meta.validator:
            headers["Range"] = f"bytes={offset}-"
            headers["If-Range"] = part_meta.validator
            return headers, offset
        if self.previous and not self.force:
            if self.previous.etag:
                headers["If-None-Match"] = self.previous.etag
            if self.previous.last_modified:
                headers["If-Modified-Since"] = self.previous.last_modified
        return headers, 0

    def _attempt(self) -> _Outcome:
        headers, offset = self._headers()
        accept = (200, 206, 304, 416)
        with http.stream(
            self.session, self.url, what="dump", headers=headers, retry=self.retry, accept=accept
        ) as response:
            status = response.status
            if status == 304:
                if self.previous is None:
                    raise DownloadError("server answered 304 Not Modified but no previous dump is installed")
                return _Outcome("unchanged", meta=self.previous)
            if status == 416:
                # Our partial file does not fit the current file: start again from zero.
                self._reset_part()
                raise FetchError(
                    "HTTP 416: partial file no longer matches, restarting", self.url, 416, transient=True
                )
            etag = response.headers.get("ETag")
            last_modified = response.headers.get("Last-Modified")
            if status == 200 and self._same_as_previous(etag):
                return _Outcome("unchanged", meta=self.previous)
            if status == 206 and _range_start(response) == offset:
                self.resumed_from = offset
                mode = "ab"
            else:
                mode = "wb"  # 200: the server ignored the range or the file changed
            write_part_meta(self.dest, PartMeta(self.url, etag, last_modified))
            self._stream(response, mode)
            return _Outcome("fetched", etag=etag, last_modified=last_modified)

    def _same_as_previous(self, etag: str | None) -> bool:
        return bool(not self.force and self.previous and etag and self.previous.etag == etag)

    def _stream(self, response: http.Stream, mode: str) -> None:
        """Append the body to ``.part`` as it arrives; a broken transfer keeps what reached the disk."""
        with self.part.open(mode) as handle:
            for chunk in response.chunks(CHUNK):
                handle.write(chunk)
                if self.progress is not None:
                    self.progress(len(chunk))

    def _reset_part(self) -> None:
        self.part.unlink(missing_ok=True)
        part_meta_path(self.dest).unlink(missing_ok=True)


def _range_start(response: http.Stream) -> int | None:
    """First byte of a 206 response (``Content-Range: bytes 100-199/200``)."""
    value = response.headers.get("Content-Range", "")
    if not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _local_path(source: str) -> Path:
    parsed = urlparse(source)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(source)


def _copy_file(source: Path, dest: Path, force: bool, progress: Progress | None) -> _Outcome:
    """A local dump: "unchanged" when size and mtime match the installed one, else copied to ``.part``."""
    if not source.is_file():
        raise DownloadError(f"no dump file at {source}")
    stat = source.stat()
    last_modified = formatdate(stat.st_mtime, usegmt=True)
    previous = read_meta(dest)
    if previous and not force and previous.size == stat.st_size and previous.last_modified == last_modified:
        return _Outcome("unchanged", meta=previous)
    part = part_path(dest)
    with source.open("rb") as src, part.open("wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
            if progress is not None:
                progress(len(chunk))
    shutil.copystat(source, part)
    return _Outcome("fetched", last_modified=last_modified)
