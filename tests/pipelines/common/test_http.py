"""The HTTP client against a real server on 127.0.0.1: retries, 404, caps, conditions, User-Agent."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from pipelines.common import http
from pipelines.common.http import FetchError, FetchNotFoundError, RetryPolicy
from tests.support.http_server import DumpServer, ServedFile

FAST = RetryPolicy(attempts=3, backoff_s=0, timeout_s=10)
BODY = b"0123456789" * 1000


@pytest.fixture
def server() -> Iterator[DumpServer]:
    with DumpServer() as srv:
        srv.files["/file"] = ServedFile(BODY)
        yield srv


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def test_get_sends_the_projects_user_agent(server: DumpServer, session: requests.Session) -> None:
    assert http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST) == BODY
    agent = server.requests[0]["headers"]["User-Agent"]
    assert agent == http.USER_AGENT
    assert agent.startswith("offpipe/") and "https://github.com/openfoodfacts" in agent


@pytest.mark.parametrize("status", [503, 429])
def test_transient_statuses_are_retried(server: DumpServer, session: requests.Session, status: int) -> None:
    server.behaviour.status_override = status
    with pytest.raises(FetchError, match=f"HTTP {status}") as caught:
        http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST)
    assert caught.value.status == status and caught.value.transient
    assert caught.value.attempts == 3 and len(server.requests) == 3


def test_a_passing_5xx_is_retried_to_success(server: DumpServer, session: requests.Session) -> None:
    server.behaviour.fail_5xx = 2
    assert http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST) == BODY
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 403, 410])
def test_other_4xx_are_final(server: DumpServer, session: requests.Session, status: int) -> None:
    server.behaviour.status_override = status
    with pytest.raises(FetchError, match=f"HTTP {status}") as caught:
        http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST)
    assert not caught.value.transient and not isinstance(caught.value, FetchNotFoundError)
    assert len(server.requests) == 1


def test_404_is_final_and_its_own_type(server: DumpServer, session: requests.Session) -> None:
    with pytest.raises(FetchNotFoundError, match=r"no file \(HTTP 404\): http://") as caught:
        http.get_bytes(session, server.url("/missing"), what="file", max_bytes=10, retry=FAST)
    assert caught.value.status == 404 and caught.value.url == server.url("/missing")
    assert len(server.requests) == 1


def test_get_first_moves_on_after_a_404(server: DumpServer, session: requests.Session) -> None:
    urls = [server.url("/missing"), server.url("/file")]
    assert http.get_first(session, urls, what="file", max_bytes=len(BODY), retry=FAST) == (urls[1], BODY)
    with pytest.raises(FetchNotFoundError, match="/other"):  # the last 404 is the one reported
        http.get_first(session, [urls[0], server.url("/other")], what="file", max_bytes=10, retry=FAST)


def test_the_size_cap_is_final(server: DumpServer, session: requests.Session) -> None:
    with pytest.raises(FetchError, match="file larger than 9,999 bytes") as caught:
        http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY) - 1, retry=FAST)
    assert not caught.value.transient
    assert len(server.requests) == 1


def test_a_broken_transfer_is_retried(server: DumpServer, session: requests.Session) -> None:
    server.behaviour.drop_after, server.behaviour.drops = 100, 1
    assert http.get_bytes(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST) == BODY
    assert len(server.requests) == 2


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with requests.Session() as session, pytest.raises(FetchError, match="ConnectionError") as caught:
        http.get_bytes(session, f"http://127.0.0.1:{port}/x", what="file", max_bytes=10, retry=FAST)
    assert caught.value.status is None and caught.value.transient and caught.value.attempts == 3


def test_conditional_get_answers_304(server: DumpServer, session: requests.Session) -> None:
    first = http.get(session, server.url("/file"), what="file", max_bytes=len(BODY), retry=FAST)
    assert (first.status, first.body, first.etag) == (200, BODY, server.files["/file"].etag)
    again = http.get(
        session,
        server.url("/file"),
        what="file",
        max_bytes=len(BODY),
        headers={"If-None-Match": first.etag},
        retry=FAST,
    )
    assert (again.status, again.body) == (304, b"")


def test_stream_hands_over_accepted_statuses(server: DumpServer, session: requests.Session) -> None:
    headers = {"Range": "bytes=10-", "Accept-Encoding": "identity"}
    with http.stream(session, server.url("/file"), what="file", headers=headers, accept=(200, 206)) as got:
        assert got.status == 206
        assert b"".join(got.chunks(1024)) == BODY[10:]
    assert server.requests[-1]["headers"]["User-Agent"] == http.USER_AGENT


def test_retry_delays_double_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_s=1.0, max_backoff_s=5.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
