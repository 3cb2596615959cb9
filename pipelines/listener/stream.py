"""Redis consumer-group plumbing for the listener: read, acknowledge, reclaim, dead-letter, status.

At-least-once delivery: entries are read with XREADGROUP into the group's pending list and acknowledged
(XACK) only after the work they caused is committed; a consumer that dies leaves its entries pending, and
any consumer reclaims entries idle longer than a timeout (XAUTOCLAIM) and redoes them — and a consumer that
restarts under its own name re-reads its own pending entries at once (XREADGROUP from id 0). The work is
idempotent, so an entry processed twice has the effect of once. Consumers long idle with nothing pending
are removed (XGROUP DELCONSUMER, checked and done atomically) so dead ones do not accumulate. Invalid
entries are copied, with their reason, to a dead-letter stream before being acknowledged, so nothing is
silently dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

logger = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ":dead-letter"
DEAD_LETTER_MAXLEN = 100_000  # approximate cap (MAXLEN ~) of each dead-letter stream


@dataclass(frozen=True)
class Entry:
    """One stream entry: stream name, entry id (``<ms>-<seq>``) and fields, all as text."""

    stream: str
    entry_id: str
    fields: Mapping[str, str]


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _entry(stream: Any, entry_id: Any, fields: Mapping[Any, Any] | None) -> Entry:
    return Entry(_text(stream), _text(entry_id), {_text(k): _text(v) for k, v in (fields or {}).items()})


def ensure_group(client: redis.Redis, stream: str, group: str) -> bool:
    """Create ``group`` on ``stream`` (and the stream) reading from the start; False when it existed."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    logger.info("created consumer group %s on %s", group, stream)
    return True


def read_new(
    client: redis.Redis, streams: Sequence[str], group: str, consumer: str, *, count: int, block_ms: int
) -> list[Entry]:
    """Entries never delivered to the group, up to ``count`` per stream, waiting up to ``block_ms``."""
    answer = client.xreadgroup(group, consumer, dict.fromkeys(streams, ">"), count=count, block=block_ms)
    return [
        _entry(stream, entry_id, fields) for stream, entries in answer or [] for entry_id, fields in entries
    ]


def read_pending(
    client: redis.Redis, stream: str, group: str, consumer: str, *, count: int = 500
) -> list[Entry]:
    """Every entry pending for ``consumer`` itself (``XREADGROUP … 0``, page by page): what this consumer
    had read and not acknowledged when its process died. Redis counts it as a new delivery.

    Entries trimmed from the stream meanwhile come back without fields: they are acknowledged here.
    """
    found: list[Entry] = []
    cursor = "0"
    while True:
        answer = client.xreadgroup(group, consumer, {stream: cursor}, count=count)
        entries = answer[0][1] if answer else []
        if not entries:
            return found
        gone = [entry_id for entry_id, fields in entries if not fields]  # an entry always has a field
        found += [_entry(stream, entry_id, fields) for entry_id, fields in entries if fields]
        if gone:
            client.xack(stream, group, *gone)
            logger.info("%d pending entries of %s were trimmed away", len(gone), stream)
        cursor = _text(entries[-1][0])


def reclaim(
    client: redis.Redis, stream: str, group: str, consumer: str, *, min_idle_ms: int, count: int = 100
) -> list[Entry]:
    """Pending entries idle for ``min_idle_ms`` or more, now owned by ``consumer`` (a dead consumer's work).

    Entries deleted from the stream meanwhile (trimmed) come back as ids without fields: they are
    acknowledged here, since there is nothing left to redo.
    """
    claimed: list[Entry] = []
    cursor = "0-0"
    while True:
        answer = client.xautoclaim(stream, group, consumer, min_idle_ms, start_id=cursor, count=count)
        cursor, entries = _text(answer[0]), answer[1]
        gone = [entry_id for entry_id, fields in entries if fields is None]
        claimed += [_entry(stream, entry_id, fields) for entry_id, fields in entries if fields is not None]
        if gone:
            client.xack(stream, group, *gone)
        if len(answer) > 2 and answer[2]:  # Redis 7: ids deleted from the stream, no longer pending
            logger.info("%d pending entries of %s were trimmed away", len(answer[2]), stream)
        if cursor == "0-0":
            return claimed


@dataclass(frozen=True)
class Consumer:
    """One consumer of a group on one stream (``XINFO CONSUMERS``)."""

    name: str
    pending: int
    idle_ms: int


def consumers(client: redis.Redis, stream: str, group: str) -> list[Consumer]:
    """The group's consumers on ``stream`` (none when the stream or the group does not exist)."""
    try:
        infos = client.xinfo_consumers(stream, group)
    except redis.ResponseError:
        return []
    return [Consumer(_text(i["name"]), int(i["pending"]), int(i["idle"])) for i in infos]


# Checked and deleted in one step: XGROUP DELCONSUMER drops the consumer's pending entries, so the check
# that it has none must not be outdated by a read in between. KEYS: the stream, the consumer's lease.
_FORGET = """
local consumers = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, consumer in ipairs(consumers) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['name'] == ARGV[2] then
    if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[3]) and redis.call('EXISTS', KEYS[2]) == 0 then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0
"""


def forget_consumer(
    client: redis.Redis, stream: str, group: str, consumer: str, *, min_idle_ms: int, lease_key: str
) -> bool:
    """Delete ``consumer`` from the group on ``stream`` if, at this instant, it has nothing pending, has been
    idle ``min_idle_ms`` or more and nobody holds its lease ``lease_key``; True when deleted."""
    try:
        return bool(client.eval(_FORGET, 2, stream, lease_key, group, consumer, min_idle_ms))
    except redis.ResponseError:  # the stream or the group is gone
        return False


def acknowledge(client: redis.Redis, entries: Iterable[Entry], group: str) -> int:
    """XACK the entries, stream by stream; the number acknowledged."""
    by_stream: dict[str, list[str]] = {}
    for entry in entries:
        by_stream.setdefault(entry.stream, []).append(entry.entry_id)
    return sum(int(client.xack(stream, group, *ids)) for stream, ids in by_stream.items())


def dead_letter(client: redis.Redis, entry: Entry, reason: str, detail: str | None = None) -> str:
    """Copy ``entry`` with its reason (and an optional detail, e.g. the error) to ``<stream>:dead-letter``;
    the new entry's id."""
    fields = {f"field:{k}": v for k, v in entry.fields.items()}
    fields |= {"reason": reason, "source_stream": entry.stream, "source_id": entry.entry_id}
    if detail:
        fields["detail"] = detail[:2_000]
    new_id = client.xadd(
        entry.stream + DEAD_LETTER_SUFFIX, fields, maxlen=DEAD_LETTER_MAXLEN, approximate=True
    )
    return _text(new_id)


def deliveries(client: redis.Redis, stream: str, group: str, entry_ids: Sequence[str]) -> dict[str, int]:
    """How many times each pending entry was delivered (XPENDING); entries no longer pending are left out."""
    counts: dict[str, int] = {}
    for entry_id in entry_ids:
        for info in client.xpending_range(stream, group, min=entry_id, max=entry_id, count=1):
            counts[_text(info["message_id"])] = int(info["times_delivered"])
    return counts


def fetch(client: redis.Redis, stream: str, entry_id: str) -> Entry:
    """One entry by id (its fields empty when it was trimmed from the stream)."""
    found = client.xrange(stream, min=entry_id, max=entry_id, count=1)
    return _entry(stream, entry_id, found[0][1] if found else {})


@dataclass(frozen=True)
class GroupStatus:
    """Where the group stands on one stream: entries not yet delivered (lag) and delivered but unacked."""

    stream: str
    group: str
    lag: int | None
    pending: int
    consumers: int
    last_delivered_id: str | None
    dead_letters: int


def group_status(client: redis.Redis, stream: str, group: str) -> GroupStatus:
    """The group's lag and pending count on ``stream`` (zeros when the stream or group does not exist)."""
    dead = int(client.xlen(stream + DEAD_LETTER_SUFFIX))
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream
        groups = []
    for info in groups:
        info = {_text(k): v for k, v in info.items()}
        if _text(info["name"]) == group:
            lag = info.get("lag")
            return GroupStatus(
                stream=stream,
                group=group,
                lag=int(lag) if lag is not None else None,
                pending=int(info["pending"]),
                consumers=int(info["consumers"]),
                last_delivered_id=_text(info["last-delivered-id"]),
                dead_letters=dead,
            )
    return GroupStatus(stream, group, None, 0, 0, None, dead)
