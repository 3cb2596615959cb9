"""Keep the reference files (taxonomies, Robotoff's keyword lists and grammars) current and cached.

Why at run time: Robotoff refreshes the taxonomies every 2 hours and its keyword lists change with its
releases; a pipeline reading a checkout's copy would drift from the service whose behaviour it reproduces.
Why cached: the nightly run and every per-product run read these files, and the servers should be asked at
most once per ``max_age``.

For each file of :func:`pipelines.reference.catalog.reference_files`:

1. a file checked less than ``max_age`` ago is left alone (``fresh``) unless ``force``;
2. otherwise a conditional GET (``If-None-Match`` / ``If-Modified-Since`` from the sidecar) is sent;
   connection errors, timeouts, 429 and 5xx are retried with backoff (the pipeline's HTTP client,
   :mod:`pipelines.common.http`);
3. a 304, or a body identical to the installed one, is ``unchanged``: only the sidecar's ``checked_at`` moves;
4. a new body is validated (:mod:`pipelines.reference.validate`), then installed atomically (temp file +
   rename; taxonomies gzip-compressed as ``<name>.full.json.gz``), and its sidecar written;
5. any failure leaves the previous good copy in place and is reported (``failed``); the other files go on.

The run raises :class:`ReferenceDataError` only when a required file failed and has never been installed:
then the pipeline cannot run at all. Otherwise failures are warnings and the report carries them.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests

from pipelines.common import files
from pipelines.common.config import Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.http import Fetched, FetchError, RetryPolicy, get
from pipelines.reference.catalog import ReferenceFile, reference_files, select
from pipelines.reference.meta import ReferenceMeta, read_meta, sweep_stale_temps, write_meta
from pipelines.reference.validate import validate

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(hours=2)  # Robotoff's taxonomy refresh period
# Small files from well-provisioned hosts: a few quick retries, then report and keep the previous copy.
DEFAULT_RETRY = RetryPolicy(attempts=3, backoff_s=1.0, max_backoff_s=10.0, timeout_s=60.0)
MAX_BODY_BYTES = 512 * 1024 * 1024  # the largest file (a taxonomy) weighs tens of MB


class Status(StrEnum):
    downloaded = "downloaded"  # first install
    updated = "updated"  # a new version replaced the installed one
    unchanged = "unchanged"  # the server has nothing newer (304 or identical body)
    fresh = "fresh"  # checked less than max_age ago: not asked
    failed = "failed"  # the previous copy (if any) stays


@dataclass(frozen=True)
class FileReport:
    """What happened to one file. ``installed`` tells whether a usable copy is in place afterwards."""

    name: str
    group: str
    status: Status
    path: Path
    url: str
    required: bool = True
    installed: bool = True
    error: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    checked_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "status": self.status.value,
            "path": str(self.path),
            "url": self.url,
            "required": self.required,
            "installed": self.installed,
            "error": self.error,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class ReferenceReport:
    files: tuple[FileReport, ...]

    @property
    def failed(self) -> list[FileReport]:
        return [f for f in self.files if f.status is Status.failed]

    @property
    def missing(self) -> list[FileReport]:
        """Required files that are not installed at all: the pipeline cannot run without them."""
        return [f for f in self.files if f.required and not f.installed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.status.value for f in self.files))

    def file(self, name: str) -> FileReport:
        return next(f for f in self.files if f.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts(),
            "failed": [f.name for f in self.failed],
            "files": [f.to_dict() for f in self.files],
        }


class ReferenceDataError(OffpipeError, RuntimeError):
    """A required reference file could not be downloaded and no previous copy exists."""

    def __init__(self, message: str, report: ReferenceReport) -> None:
        super().__init__(message)
        self.report = report


def refresh_reference_data(
    settings: Settings | None = None,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    force: bool = False,
    only: Iterable[str] | None = None,
    retry: RetryPolicy | None = None,
    session: requests.Session | None = None,
) -> ReferenceReport:
    """Bring the reference files up to date (see the module docstring); return what happened to each.

    ``only`` restricts the run to some files: taxonomy names (``categories``), file names
    (``brand.txt``) or groups (``taxonomies``, ``keywords``, ``grammars``); unknown names raise
    :class:`~pipelines.reference.catalog.UnknownReferenceError` (a ``ValueError``).
    ``force`` ignores ``max_age`` and the validators and reinstalls every file.
    """
    settings = settings or get_settings()
    files = select(reference_files(settings), only)
    own_session = session is None
    http = session or requests.Session()
    try:
        reports = tuple(_refresh_file(f, max_age, force, retry or DEFAULT_RETRY, http) for f in files)
    finally:
        if own_session:
            http.close()
    report = ReferenceReport(reports)
    logger.info("reference data: %s", ", ".join(f"{n} {s}" for s, n in sorted(report.counts().items())))
    if report.missing:
        names = ", ".join(f.name for f in report.missing)
        raise ReferenceDataError(f"required reference files never downloaded: {names}", report)
    return report


def _refresh_file(
    file: ReferenceFile, max_age: timedelta, force: bool, retry: RetryPolicy, session: requests.Session
) -> FileReport:
    """One file; every failure becomes a ``failed`` report so that the next file still runs."""
    sweep_stale_temps(file.dest)
    previous = _previous_meta(file)
    if previous is not None and not force and _age(previous) < max_age:
        logger.debug("%s checked %s ago: fresh", file.name, _age(previous))
        return _report(file, Status.fresh, previous)
    try:
        status, meta = _download(file, previous, force, retry, session)
    except Exception as exc:
        expected = isinstance(exc, (OffpipeError, ValueError, OSError))
        kept = "previous copy kept" if file.dest.is_file() else "no copy installed"
        logger.warning("%s: refresh failed (%s): %s", file.name, kept, exc, exc_info=not expected)
        return _report(file, Status.failed, read_meta(file.dest), error=str(exc))
    return _report(file, status, meta)


def _download(
    file: ReferenceFile,
    previous: ReferenceMeta | None,
    force: bool,
    retry: RetryPolicy,
    session: requests.Session,
) -> tuple[Status, ReferenceMeta]:
    headers = _conditional_headers(previous, force)
    response = get(session, file.url, what=file.name, max_bytes=MAX_BODY_BYTES, headers=headers, retry=retry)
    now = _now()
    if response.status == 304:
        if previous is None:  # conditions are only sent with a valid sidecar
            raise FetchError("HTTP 304 Not Modified but no copy is installed", file.url, 304, transient=False)
        return Status.unchanged, _touch(file, previous, response, now)
    sha256 = hashlib.sha256(response.body).hexdigest()
    if previous is not None and not force and previous.sha256 == sha256:
        return Status.unchanged, _touch(file, previous, response, now)
    installed = validate(file.kind, response.body)
    status = Status.updated if file.dest.is_file() else Status.downloaded
    # File first, sidecar second: a crash in between leaves a sidecar whose size does not match, which
    # read_meta() ignores (the next run downloads again), never a sidecar vouching for another file.
    files.write_bytes(file.dest, installed)
    meta = ReferenceMeta(
        url=file.url,
        size=len(installed),
        sha256=sha256,
        downloaded_at=now,
        checked_at=now,
        etag=response.etag,
        last_modified=response.last_modified,
    )
    write_meta(file.dest, meta)
    logger.info("%s %s: %s bytes from %s", file.name, status.value, f"{len(response.body):,}", file.url)
    return status, meta


def _touch(file: ReferenceFile, previous: ReferenceMeta, response: Fetched, now: str) -> ReferenceMeta:
    """Record that the server was consulted now (and any validators it sent) without touching the file."""
    meta = replace(
        previous,
        checked_at=now,
        etag=response.etag or previous.etag,
        last_modified=response.last_modified or previous.last_modified,
    )
    write_meta(file.dest, meta)
    return meta


def _previous_meta(file: ReferenceFile) -> ReferenceMeta | None:
    """The installed file's sidecar, if it describes this URL: a changed source (another Robotoff ref, a
    mirror) must be downloaded now, not after ``max_age``, and its validators are not ours to send."""
    meta = read_meta(file.dest)
    return meta if meta is not None and meta.url == file.url else None


def _age(meta: ReferenceMeta) -> timedelta:
    """Time since the server was last consulted; a time in the future (clock change) counts as stale."""
    try:
        checked = datetime.fromisoformat(meta.checked_at)
    except ValueError:
        return timedelta.max
    age = datetime.now(UTC) - checked
    return age if age >= timedelta(0) else timedelta.max


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _conditional_headers(previous: ReferenceMeta | None, force: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    if previous is not None and not force:
        if previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
    return headers


def _report(
    file: ReferenceFile, status: Status, meta: ReferenceMeta | None, error: str | None = None
) -> FileReport:
    return FileReport(
        name=file.name,
        group=file.group.value,
        status=status,
        path=file.dest,
        url=file.url,
        required=file.required,
        installed=file.dest.is_file(),
        error=error,
        etag=meta.etag if meta else None,
        last_modified=meta.last_modified if meta else None,
        checked_at=meta.checked_at if meta else None,
    )
