"""The one HTTP client of the pipeline: dumps, reference files, OCR JSON, images, products.

Why one: the servers (Product Opener's, GitHub's) see a single User-Agent naming the project and its version;
every request has a connect and a read timeout, so a silent server cannot stall a run; transient failures
(connection errors, timeouts, bodies cut short, 5xx, and 429, Product Opener's "slow down") are retried with
exponential backoff under one :class:`RetryPolicy`, while any other HTTP error is final — a 404 as
:class:`FetchNotFoundError`, which callers with several candidate URLs take as a reason to try the next.

Two ways to read a body: :func:`get` keeps it in memory under a size cap (a runaway response must not exhaust
memory); :func:`stream` hands the open response to a caller that writes it to disk as it arrives and owns
the attempt (the dump download: ``Range`` resume, conditional headers), with :func:`retrying` around it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

import requests

from pipelines.common.errors import OffpipeError

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _project_version() -> str:
    try:
        return version("offpipe")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


USER_AGENT = f"offpipe/{_project_version()} (+https://github.com/openfoodfacts)"
# Starts the comment of every edit the project makes on Product Opener (docs/annotate.md): the listener skips
# the update events those edits cause, as it skips Robotoff's "[robotoff]" ones.
EDIT_COMMENT_MARK = "[offpipe]"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to ask: ``attempts`` in all, the n-th retry after
    ``min(max_backoff_s, backoff_s * 2**(n-1))`` seconds; ``timeout_s`` is the longest silence while reading,
    ``connect_timeout_s`` the longest wait for a connection."""

    attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))

    @property
    def timeouts(self) -> tuple[float, float]:
        return self.connect_timeout_s, self.timeout_s


DEFAULT_RETRY = RetryPolicy()


def is_transient(status: int | None) -> bool:
    """Worth another attempt: no answer at all (``None``), a server error or a rate limit."""
    return status is None or status >= 500 or status == 429


class FetchError(OffpipeError, RuntimeError):
    """A file could not be downloaded (network, timeout, HTTP error, oversized or truncated body).

    ``reason`` is the message without the URL; ``transient`` tells whether another attempt may succeed;
    ``attempts`` is how many were made before giving up."""

    def __init__(self, reason: str, url: str, status: int | None = None, *, transient: bool | None = None):
        super().__init__(f"{reason}: {url}")
        self.reason = reason
        self.url = url
        self.status = status
        self.transient = is_transient(status) if transient is None else transient
        self.attempts = 1


class FetchNotFoundError(FetchError):
    """The server has no such file (HTTP 404): final, never retried."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(reason, url, 404, transient=False)


def retrying(retry: RetryPolicy, call: Callable[[], T]) -> T:
    """``call()`` until it returns, raises anything but a transient :class:`FetchError`, or ``retry.attempts``
    are used up; the last error is then raised with its ``attempts`` set."""
    attempts = max(1, retry.attempts)
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except FetchError as exc:
            exc.attempts = attempt
            if not exc.transient or attempt == attempts:
                raise
            delay = retry.delay(attempt)
            logger.warning("%s (attempt %d/%d), retrying in %.1f s", exc, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


class Stream:
    """An open response whose status the caller accepted; :meth:`chunks` reads its (content-decoded) body."""

    def __init__(self, response: requests.Response, url: str, what: str) -> None:
        self.response = response
        self.url = url
        self.what = what

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    def chunks(self, size: int = 256 * 1024) -> Iterator[bytes]:
        """The body piece by piece; a transfer that breaks or ends before its ``Content-Length`` raises a
        transient :class:`FetchError` (what was already yielded stays the caller's)."""
        received = 0
        try:
            for chunk in self.response.iter_content(chunk_size=size):
                received += len(chunk)
                yield chunk
        except requests.RequestException as exc:
            raise FetchError(
                f"{self.what} transfer interrupted after {received:,} bytes ({type(exc).__name__})",
                self.url,
                transient=True,
            ) from exc
        expected = self.headers.get("Content-Length", "")
        # A content-encoded body is counted decoded, its Content-Length encoded: nothing to compare.
        if expected.isdigit() and "Content-Encoding" not in self.headers and received < int(expected):
            raise FetchError(
                f"{self.what} transfer ended early: {received:,} of {int(expected):,} bytes",
                self.url,
                transient=True,
            )

    def read(self, max_bytes: int) -> bytes:
        """The whole body, refused past ``max_bytes`` (final: asking again brings the same size)."""
        parts: list[bytes] = []
        size = 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{self.what} larger than {max_bytes:,} bytes", self.url, self.status)
            parts.append(chunk)
        return b"".join(parts)


@contextmanager
def stream(
    session: requests.Session,
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    accept: Sequence[int] = (200,),
) -> Iterator[Stream]:
    """One GET (no retry: wrap the caller's whole attempt in :func:`retrying`). A status in ``accept`` is
    handed over as a :class:`Stream`; a 404 raises :class:`FetchNotFoundError`, any other status a
    :class:`FetchError` (transient for 5xx and 429); so do connection errors and timeouts (transient)."""
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    try:
        response = session.get(url, headers=sent, stream=True, timeout=retry.timeouts)
    except requests.RequestException as exc:
        raise FetchError(f"{type(exc).__name__} fetching {what} ({exc})", url) from exc
    with response:
        status = response.status_code
        if status not in accept:
            _drain(response)
            if status == 404:
                raise FetchNotFoundError(f"no {what} (HTTP 404)", url)
            raise FetchError(f"HTTP {status} {response.reason} fetching {what}", url, status)
        yield Stream(response, url, what)


@dataclass(frozen=True)
class Fetched:
    """A body read whole; ``status`` is 200, or 304 when conditional headers matched (empty body)."""

    url: str
    status: int
    body: bytes
    etag: str | None = None
    last_modified: str | None = None


def get(
    session: requests.Session,
    url: str,
    *,
    what: str,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Fetched:
    """GET ``url`` into memory (at most ``max_bytes``), retrying transient failures. With conditional
    ``headers`` (``If-None-Match``, ``If-Modified-Since``) a 304 is an answer, not an error."""

    def attempt() -> Fetched:
        with stream(session, url, what=what, headers=headers, retry=retry, accept=(200, 304)) as response:
            body = response.read(max_bytes) if response.status == 200 else b""
            return Fetched(
                url,
                response.status,
                body,
                response.headers.get("ETag"),
                response.headers.get("Last-Modified"),
            )

    return retrying(retry, attempt)


def get_bytes(
    session: requests.Session,
    url: str,
    *,
    what: str,
    max_bytes: int,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> bytes:
    """The body of ``url`` (see :func:`get`)."""
    return get(session, url, what=what, max_bytes=max_bytes, retry=retry).body


def get_first(
    session: requests.Session,
    urls: Sequence[str],
    *,
    what: str,
    max_bytes: int,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> tuple[str, bytes]:
    """The first of ``urls`` the server has, and its body: a 404 moves on to the next URL, any other
    failure is raised (after retries for transient ones); the last 404 when none is found."""
    missing: FetchNotFoundError | None = None
    for url in dict.fromkeys(urls):
        try:
            return url, get_bytes(session, url, what=what, max_bytes=max_bytes, retry=retry)
        except FetchNotFoundError as exc:
            missing = exc
    if missing is None:
        raise ValueError("no URL to fetch")
    raise missing


def _drain(response: requests.Response, limit: int = 64 * 1024) -> None:
    """Read a (small) error body before the connection closes: closing a socket with unread data resets
    the connection, which servers log as an error."""
    read = 0
    try:
        for chunk in response.iter_content(chunk_size=16 * 1024):
            read += len(chunk)
            if read >= limit:
                return
    except requests.RequestException:  # the status already says what went wrong
        return
