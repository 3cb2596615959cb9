"""The consumer-group plumbing against the real Redis on 127.0.0.1:6379 (private stream names, cleaned up)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from pipelines.listener.stream import (
    DEAD_LETTER_SUFFIX,
    acknowledge,
    dead_letter,
    ensure_group,
    group_status,
    read_new,
    reclaim,
)

GROUP = "offpipe-test"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.fail("the tests need the Redis server on 127.0.0.1:6379")
    yield connection
    connection.close()


@pytest.fixture
def streams(client: redis.Redis) -> Iterator[list[str]]:
    """Two private stream names; every key under their prefix is deleted afterwards."""
    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    yield [f"{prefix}:updates", f"{prefix}:ocr"]
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


def _add(client: redis.Redis, stream: str, n: int) -> list[str]:
    return [
        client.xadd(stream, {"code": f"30176204220{i:02d}", "action": "updated"}).decode() for i in range(n)
    ]


def test_group_creation_is_idempotent_and_starts_from_the_beginning(
    client: redis.Redis, streams: list[str]
) -> None:
    stream = streams[0]
    ids = _add(client, stream, 3)  # published before the listener's first start: still delivered
    assert ensure_group(client, stream, GROUP) is True
    assert ensure_group(client, stream, GROUP) is False
    entries = read_new(client, [stream], GROUP, "c1", count=10, block_ms=100)
    assert [e.entry_id for e in entries] == ids
    assert entries[0].fields == {"code": "3017620422000", "action": "updated"}
    assert read_new(client, [stream], GROUP, "c1", count=10, block_ms=50) == []


def test_unacknowledged_entries_are_reclaimed_by_another_consumer(
    client: redis.Redis, streams: list[str]
) -> None:
    stream = streams[0]
    ensure_group(client, stream, GROUP)
    ids = _add(client, stream, 4)
    delivered = read_new(client, [stream], GROUP, "crashed", count=10, block_ms=100)
    assert acknowledge(client, delivered[:1], GROUP) == 1  # the consumer died after committing the first
    assert reclaim(client, stream, GROUP, "survivor", min_idle_ms=60_000) == []  # not idle long enough yet
    time.sleep(0.05)
    redone = reclaim(client, stream, GROUP, "survivor", min_idle_ms=20)
    assert [e.entry_id for e in redone] == ids[1:]
    assert group_status(client, stream, GROUP).pending == 3
    assert acknowledge(client, redone, GROUP) == 3
    status = group_status(client, stream, GROUP)
    assert (status.pending, status.lag) == (0, 0)


def test_trimmed_pending_entries_are_dropped_from_the_pending_list(
    client: redis.Redis, streams: list[str]
) -> None:
    stream = streams[0]
    ensure_group(client, stream, GROUP)
    ids = _add(client, stream, 2)
    read_new(client, [stream], GROUP, "crashed", count=10, block_ms=100)
    client.xdel(stream, ids[0])
    time.sleep(0.05)
    redone = reclaim(client, stream, GROUP, "survivor", min_idle_ms=20)
    assert [e.entry_id for e in redone] == ids[1:]
    assert group_status(client, stream, GROUP).pending == 1


def test_reads_span_several_streams(client: redis.Redis, streams: list[str]) -> None:
    for stream in streams:
        ensure_group(client, stream, GROUP)
    _add(client, streams[0], 2)
    _add(client, streams[1], 1)
    entries = read_new(client, streams, GROUP, "c1", count=10, block_ms=100)
    assert sorted(e.stream for e in entries) == sorted([streams[0], streams[0], streams[1]])


def test_dead_letters_keep_the_entry_and_its_reason(client: redis.Redis, streams: list[str]) -> None:
    stream = streams[0]
    ensure_group(client, stream, GROUP)
    client.xadd(stream, {"code": "12", "product_type": "toys"})
    [entry] = read_new(client, [stream], GROUP, "c1", count=10, block_ms=100)
    dead_letter(client, entry, "invalid_code")
    acknowledge(client, [entry], GROUP)
    [(_, fields)] = client.xrange(stream + DEAD_LETTER_SUFFIX)
    assert {k.decode(): v.decode() for k, v in fields.items()} == {
        "field:code": "12",
        "field:product_type": "toys",
        "reason": "invalid_code",
        "source_stream": stream,
        "source_id": entry.entry_id,
    }
    status = group_status(client, stream, GROUP)
    assert (status.pending, status.dead_letters) == (0, 1)


def test_status_of_a_missing_stream_or_group(client: redis.Redis, streams: list[str]) -> None:
    status = group_status(client, streams[0], GROUP)
    assert (status.lag, status.pending, status.consumers, status.dead_letters) == (None, 0, 0, 0)
    _add(client, streams[0], 5)
    ensure_group(client, streams[0], GROUP)
    assert group_status(client, streams[0], GROUP).lag == 5
