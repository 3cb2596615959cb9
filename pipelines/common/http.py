"""Bounded, retried HTTP GETs of single files from Product Opener's servers (OCR JSON, images).

Per-product work fetches one small file at a time; what matters is that a slow, failing or runaway server
cannot stall or exhaust the listener: timeouts on connect and read, a cap on the body size, retries with
exponential backoff for transient failures only (connection errors, timeouts, 5xx), and a 404 that is
final — or, with several candidate URLs (the new image-path layout, then the legacy one), a reason to try
the next.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import requests

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
ATTEMPTS = 3
BACKOFF_S = 0.5


class FetchError(RuntimeError):
    """The file could not be downloaded (network, timeout, HTTP error, oversized body)."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(f"{message}: {url}")
        self.url = url
        self.status = status


class FetchNotFoundError(FetchError):
    """The server has no such file (HTTP 404)."""


def get_first(
    session: requests.Session,
    urls: Sequence[str],
    *,
    what: str,
    max_bytes: int,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> tuple[str, bytes]:
    """The first of ``urls`` the server has, and its body: a 404 moves on to the next URL, any other
    failure is raised (after retries for transient ones); the last 404 when none is found."""
    missing: FetchNotFoundError | None = None
    for url in dict.fromkeys(urls):
        try:
            return url, get_bytes(
                session, url, what=what, max_bytes=max_bytes, attempts=attempts, backoff_s=backoff_s
            )
        except FetchNotFoundError as exc:
            missing = exc
    if missing is None:
        raise ValueError("no URL to fetch")
    raise missing


def get_bytes(
    session: requests.Session,
    url: str,
    *,
    what: str,
    max_bytes: int,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> bytes:
    """The body of ``url``, retrying transient failures with exponential backoff."""
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        try:
            return _get(session, url, what, max_bytes)
        except FetchNotFoundError:
            raise
        except FetchError as exc:
            transient = exc.status is None or exc.status >= 500
            if not transient or attempt == attempts:
                raise
            delay = backoff_s * 2 ** (attempt - 1)
            logger.warning("%s (attempt %d/%d), retrying in %.1f s", exc, attempt, attempts, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")  # the loop returns or raises


def _get(session: requests.Session, url: str, what: str, max_bytes: int) -> bytes:
    """One GET: the (content-decoded) body, or a :class:`FetchError` that says what went wrong."""
    try:
        with session.get(url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), stream=True) as response:
            status = response.status_code
            if not response.ok:
                _drain(response)
            if status == 404:
                raise FetchNotFoundError(f"no {what} (HTTP 404)", url, status)
            if not response.ok:
                raise FetchError(f"HTTP {status} fetching {what}", url, status)
            return _body(response, url, what, max_bytes)
    except requests.RequestException as exc:
        raise FetchError(f"{type(exc).__name__} fetching {what} ({exc})", url) from exc


def _body(response: requests.Response, url: str, what: str, max_bytes: int) -> bytes:
    """The body, refused past ``max_bytes`` (a runaway response must not exhaust memory)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=256 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{what} larger than {max_bytes} bytes", url, response.status_code)
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
