"""Stable consumer names (F32 of ``docs/reliability.md``) and the removal of dead consumers (F34), on real
Redis.

The listener applies nothing here: a recording dispatcher stands for the store, the group is real.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pipelines.common.config import Settings, get_settings
from pipelines.listener import stream
from pipelines.listener.consumer import (
    ConsumerNameInUseError,
    ConsumerNameLostError,
    NameLock,
    check_name,
    default_consumer,
    name_key,
)
from pipelines.listener.loop import Listener, LoopOptions

CODES = ["3017620422003", "5449000000996", "0000000012345"]


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    yield connection
    connection.close()


@pytest.fixture
def settings(client: redis.Redis, tmp_path: Path) -> Iterator[Settings]:
    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    yield get_settings(
        {
            "OFF_DATA_DIR": str(tmp_path / "data"),
            "OFF_REDIS_STREAMS": f"{prefix}:updates",
            "OFF_OCR_STREAM": f"{prefix}:ocr",
            "OFF_LISTENER_GROUP": f"{prefix}-group",
        }
    )
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)


class Recorder:
    """A dispatcher that applies nothing and remembers the entries it was given."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def __call__(self, units) -> None:
        self.entries += [entry for unit in units for entry in unit.entries]


def _listener(client: redis.Redis, settings: Settings, consumer: str, **options: float) -> Listener:
    defaults = {"delay_s": 0.0, "block_ms": 20, "claim_idle_ms": 3_600_000, "reclaim_every_s": 0.0}
    return Listener(
        client=client,
        settings=settings,
        dispatch=Recorder(),
        consumer=consumer,
        options=LoopOptions(**(defaults | options)),
    )


def _publish(client: redis.Redis, settings: Settings, codes: list[str]) -> list[str]:
    fields = {"product_type": "food", "user_id": "alice", "action": "updated", "diffs": "{}"}
    return [client.xadd(settings.redis_streams[0], fields | {"code": code}).decode() for code in codes]


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_default_names_are_stable_per_host_and_slot() -> None:
    assert default_consumer(0, "box") == "box-0"
    assert default_consumer(3, "box") == "box-3"
    assert check_name("build_host.example.org-0") == "build_host.example.org-0"
    assert default_consumer() == default_consumer()  # no pid in it: the same after a restart
    for bad in ("", "a b", "x\n", "é", "a" * 201):
        with pytest.raises(ValueError):
            check_name(bad)


def test_a_restarted_consumer_redoes_its_own_pending_entries_at_once(
    client: redis.Redis, settings: Settings
) -> None:
    """A listener read three entries and died before applying them; one started under the same name, with a
    claim idle time of an hour, holds and applies them on its first turns instead of in an hour."""
    dead = _listener(client, settings, "box-0", delay_s=3600.0)
    dead.setup()
    ids = _publish(client, settings, CODES)
    dead.turn()  # read and held: pending for box-0, never applied
    assert stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending == 3

    other = _listener(client, settings, "box-1")
    other.turn()
    assert other.dispatch.entries == []  # another consumer does not touch them before the claim idle time

    restarted = _listener(client, settings, "box-0")
    assert restarted.resume() == 3
    restarted.turn()
    assert sorted(restarted.dispatch.entries) == [(settings.redis_streams[0], i) for i in ids]
    status = stream.group_status(client, settings.redis_streams[0], settings.listener_group)
    assert (status.pending, status.lag) == (0, 0)


def test_run_resumes_before_reading_new_entries(client: redis.Redis, settings: Settings) -> None:
    dead = _listener(client, settings, "box-0", delay_s=3600.0)
    dead.setup()
    ids = _publish(client, settings, CODES[:2])
    dead.turn()
    restarted = _listener(client, settings, "box-0")
    thread = threading.Thread(target=restarted.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(restarted.dispatch.entries) < 2:
            assert time.monotonic() < deadline, "the restarted listener did not redo its entries"
            time.sleep(0.02)
    finally:
        restarted.stop()
        thread.join(timeout=30)
    assert sorted(restarted.dispatch.entries) == [(settings.redis_streams[0], i) for i in ids]
    assert client.exists(name_key(settings.listener_group, "box-0")) == 0  # the lease is given back


def test_trimmed_own_pending_entries_are_acknowledged(client: redis.Redis, settings: Settings) -> None:
    dead = _listener(client, settings, "box-0", delay_s=3600.0)
    dead.setup()
    ids = _publish(client, settings, CODES[:2])
    dead.turn()
    client.xdel(settings.redis_streams[0], ids[0])
    entries = stream.read_pending(client, settings.redis_streams[0], settings.listener_group, "box-0")
    assert [e.entry_id for e in entries] == ids[1:]
    assert stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending == 1


# -- the lease of a name ----------------------------------------------------------------------------------


def test_a_name_held_by_a_live_process_of_this_host_is_refused(
    client: redis.Redis, settings: Settings
) -> None:
    group = settings.listener_group
    parent = os.getppid()  # a live process that is not this one
    holder = NameLock(client, group, "box-0", pid=parent)
    holder.acquire()
    try:
        with pytest.raises(ConsumerNameInUseError, match=f"in use by pid {parent}"):
            NameLock(client, group, "box-0").acquire()
        NameLock(client, group, "box-1").acquire()  # another slot is free
    finally:
        holder.release()
    assert client.exists(name_key(group, "box-0")) == 0


def test_a_name_left_by_a_dead_process_of_this_host_is_taken_over_at_once(
    client: redis.Redis, settings: Settings
) -> None:
    group = settings.listener_group
    gone = NameLock(client, group, "box-0", pid=_dead_pid(), ttl_ms=3_600_000)  # a SIGKILLed listener's
    client.set(gone.key, gone.value, px=gone.ttl_ms)
    lock = NameLock(client, group, "box-0")
    lock.acquire()  # no wait for the hour-long lease
    try:
        assert client.get(lock.key).decode() == lock.value
    finally:
        lock.release()


def test_a_name_of_another_host_is_waited_for_then_refused_while_renewed(
    client: redis.Redis, settings: Settings
) -> None:
    group = settings.listener_group
    elsewhere = NameLock(client, group, "box-0", host="elsewhere", ttl_ms=2000)
    elsewhere.acquire()  # its heartbeat renews the lease
    try:
        with pytest.raises(ConsumerNameInUseError, match="on elsewhere"):
            NameLock(client, group, "box-0", ttl_ms=2000).acquire()
    finally:
        elsewhere.release()
    lapsed = NameLock(client, group, "box-0", host="elsewhere", ttl_ms=300)
    client.set(lapsed.key, lapsed.value, px=300)  # a dead process of another host: nobody renews it
    lock = NameLock(client, group, "box-0", ttl_ms=300)
    lock.acquire()
    lock.release()


def test_a_listener_whose_name_was_taken_stops(client: redis.Redis, settings: Settings) -> None:
    listener = _listener(client, settings, "box-0", name_ttl_ms=300)
    listener.setup()
    listener.claim_name()
    key = name_key(settings.listener_group, "box-0")
    client.set(key, "elsewhere 1 other-token", px=60_000)  # it stalled, the lease lapsed, another took it
    with pytest.raises(ConsumerNameLostError):
        listener.run()
    assert client.get(key) == b"elsewhere 1 other-token"  # not released: it is not ours


# -- dead consumers (docs/reliability.md F34) ----------------------------------------------------------------


def _consumers(client: redis.Redis, settings: Settings) -> dict[str, int]:
    """The others' names and pending counts (whether me-0 shows yet depends on the Redis version)."""
    found = stream.consumers(client, settings.redis_streams[0], settings.listener_group)
    return {c.name: c.pending for c in found if c.name != "me-0"}


def test_dead_consumers_with_nothing_pending_are_removed(client: redis.Redis, settings: Settings) -> None:
    """Idle consumers with nothing pending go; one with pending entries stays (DELCONSUMER would drop them)
    until the reclaim has taken its entries; one whose name a live process holds stays."""
    name, group = settings.redis_streams[0], settings.listener_group
    for consumer in ("old-1234", "busy-0", "alive-0"):
        _listener(client, settings, consumer).setup()
        _publish(client, settings, [CODES[0]])
        [entry] = stream.read_new(client, [name], group, consumer, count=10, block_ms=10)
        if consumer != "busy-0":
            stream.acknowledge(client, [entry], group)
    live = NameLock(client, group, "alive-0", pid=os.getppid())
    live.acquire()
    try:
        time.sleep(0.1)
        me = _listener(client, settings, "me-0", forget_idle_ms=50)
        me.turn()  # reclaim (nothing idle an hour), then forget
        assert _consumers(client, settings) == {"busy-0": 1, "alive-0": 0}

        me.options.claim_idle_ms = 50  # now busy-0's entry is reclaimed and redone by me-0…
        me.turn()
        assert len(me.dispatch.entries) == 1
        time.sleep(0.1)
        me.turn()  # …so busy-0 has nothing pending any more and goes too
        assert _consumers(client, settings) == {"alive-0": 0}
    finally:
        live.release()
    status = stream.group_status(client, name, group)
    assert (status.pending, status.lag) == (0, 0)


def test_a_consumer_is_not_removed_while_it_is_not_idle_enough(
    client: redis.Redis, settings: Settings
) -> None:
    name, group = settings.redis_streams[0], settings.listener_group
    _listener(client, settings, "old-1234").setup()
    _publish(client, settings, [CODES[0]])
    stream.acknowledge(
        client, stream.read_new(client, [name], group, "old-1234", count=10, block_ms=10), group
    )
    me = _listener(client, settings, "me-0")  # the default: an hour
    me.turn()
    assert "old-1234" in _consumers(client, settings)
    lease = name_key(group, "old-1234")
    assert not stream.forget_consumer(client, name, group, "old-1234", min_idle_ms=3_600_000, lease_key=lease)
    assert stream.forget_consumer(client, name, group, "old-1234", min_idle_ms=0, lease_key=lease)
