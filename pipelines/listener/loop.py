"""The listen loop: read, validate, hold, coalesce, apply, acknowledge — at least once, never lost.

Each turn reads new entries of every stream (and, every ``reclaim_every_s``, the entries a dead consumer left
pending), settles the ones that need no work at once (skipped: acknowledged; invalid: dead-lettered then
acknowledged), and holds the others. When the oldest held event is ``delay_s`` old (Product Opener may
publish before it has saved) the held events are coalesced into one unit per product, applied by the
dispatcher in one go, and acknowledged only then. Two lanes: mass updates (``scanbot``…) wait
``low_delay_s`` and only while no editor's event is held, so a bot rewriting 100,000 products never delays an
editor's fix by more than one batch (when only a few are due with the editors', they share their batch);
a product's events always stay together, in the highest lane of any of them. The work of a product that
fails is not acknowledged (the rest of its batch is): its entries stay pending and come back through the
reclaim after ``claim_idle_ms``, and are dead-lettered at their last delivery unless the cause is an
outage (:mod:`pipelines.listener.failures`). Counters live in a Redis hash so ``offpipe listen --status``
can show them from another process.

The consumer name is stable (``<host>-<slot>``) and leased to one live process (:mod:`.consumer`): at start
the listener first redoes its own pending entries — those its killed predecessor had read — instead of
waiting ``claim_idle_ms`` for another consumer's reclaim; the periodic reclaim still takes the entries of
consumers that are really gone, and removes consumers idle for ``forget_idle_ms`` with nothing pending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis

from pipelines.common.config import Settings
from pipelines.listener import stream
from pipelines.listener.coalesce import ProductWork, coalesce
from pipelines.listener.consumer import DEFAULT_TTL_MS, ConsumerNameLostError, NameLock, name_key
from pipelines.listener.events import (
    InvalidEventError,
    Lane,
    OcrEvent,
    ProductEvent,
    Skipped,
    parse_ocr_event,
    parse_product_event,
)
from pipelines.listener.failures import APPLY_FAILED, ReportsFailures, UnitFailure, describe, isolate

logger = logging.getLogger(__name__)

# Applies a batch; may return a report of the units it did not apply (``ReportsFailures``), raises only when
# it applied nothing it can vouch for.
Dispatcher = Callable[[Sequence[ProductWork]], object]
STATS_KEY = "offpipe:listener:{group}:stats"


@dataclass
class LoopOptions:
    """Tuning of the loop; the defaults suit Product Opener's traffic (tens of events a second)."""

    delay_s: float = 2.0
    count: int = 500  # entries read per stream and turn
    block_ms: int = 200
    max_batch: int = 2_000  # held events that trigger a batch before the delay (and products per batch)
    low_delay_s: float = 10.0  # mass updates (scanbot…) wait longer, and behind editors' events
    ride_along: int = 10  # …unless few of them are due with the editors': then they share the batch
    max_held: int = 20_000  # beyond this many held events, the oldest lane is applied whatever its delay
    claim_idle_ms: int = 60_000  # a pending entry this idle belongs to a dead consumer
    reclaim_every_s: float = 30.0
    forget_idle_ms: int = 3_600_000  # a consumer this idle, with nothing pending, is removed from the group
    name_ttl_ms: int = DEFAULT_TTL_MS  # lease of the consumer name, renewed by a heartbeat
    backoff_max_s: float = 30.0
    max_deliveries: int = 5  # a failing event is dead-lettered at its 5th failed delivery…
    health_window_s: float = 600.0  # …if other products were applied within this window (else: an outage)


@dataclass
class _Held:
    event: ProductEvent | OcrEvent
    since: float


@dataclass
class Listener:
    """One consumer of the group; :meth:`run` until :meth:`stop` (or SIGTERM, wired by the CLI)."""

    client: redis.Redis
    settings: Settings
    dispatch: Dispatcher
    consumer: str
    options: LoopOptions = field(default_factory=LoopOptions)
    clock: Callable[[], float] = time.monotonic
    idle: Callable[[], None] | None = None  # called after each turn that applied nothing (KeptWriter.tick)
    _held: list[_Held] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _last_reclaim: float = float("-inf")
    _last_success: float = float("-inf")
    _draining: set[Lane] = field(default_factory=set)  # lanes cut by max_batch: the rest follows at once
    _lease: NameLock | None = None

    @property
    def streams(self) -> list[str]:
        return [*self.settings.redis_streams, self.settings.ocr_stream]

    @property
    def group(self) -> str:
        return self.settings.listener_group

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run` (held, unapplied events stay pending)."""
        self._stop.set()

    def setup(self) -> None:
        for name in self.streams:
            stream.ensure_group(self.client, name, self.group)

    def claim_name(self) -> None:
        """Lease the consumer name (:class:`~pipelines.listener.consumer.ConsumerNameInUseError` when a live
        process has it); :meth:`run` does it if the caller has not."""
        if self._lease is None:
            lease = NameLock(self.client, self.group, self.consumer, ttl_ms=self.options.name_ttl_ms)
            lease.acquire()
            self._lease = lease

    def release_name(self) -> None:
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def resume(self) -> int:
        """Hold again the entries pending for this consumer itself (``XREADGROUP … 0``): a killed listener's
        batch in hand, redone now rather than after ``claim_idle_ms``; the number of entries read.

        They were held once already, so they are due at once.
        """
        entries: list[stream.Entry] = []
        for name in self.streams:
            entries += stream.read_pending(
                self.client, name, self.group, self.consumer, count=self.options.count
            )
        if entries:
            logger.info("consumer %s: redoing %d entries it had read before", self.consumer, len(entries))
        self._settle(entries, since=self.clock() - max(self.options.delay_s, self.options.low_delay_s))
        return len(entries)

    def run(self) -> None:
        """Loop until stopped; Redis connection errors are retried with exponential backoff.

        Leases the consumer name first, then redoes this consumer's own pending entries; raises
        :class:`~pipelines.listener.consumer.ConsumerNameError` when the name is (or becomes) another's.
        """
        self.setup()
        self.claim_name()
        try:
            self._loop()
        finally:
            self.release_name()

    def _loop(self) -> None:
        backoff = 0.5
        resumed = False
        while not self._stop.is_set():
            if self._lease is not None and self._lease.lost.is_set():
                raise ConsumerNameLostError(
                    f"consumer name {self.consumer} was taken by another process while this one stalled"
                )
            try:
                if not resumed:
                    self.resume()
                    resumed = True
                self.turn()
                backoff = 0.5
            except redis.ConnectionError as exc:
                logger.warning("Redis connection lost (%s): retrying in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.options.backoff_max_s)
                try:
                    self.setup()  # a restarted Redis without persistence has lost the groups
                except redis.ConnectionError:
                    continue

    def turn(self) -> int:
        """One read (plus a reclaim when due) and, when due, one batch; the number of events applied."""
        now = self.clock()
        entries: list[stream.Entry] = []
        if now - self._last_reclaim >= self.options.reclaim_every_s:
            self._last_reclaim = now
            for name in self.streams:
                entries += stream.reclaim(
                    self.client, name, self.group, self.consumer, min_idle_ms=self.options.claim_idle_ms
                )
            if entries and self._held:  # our own held entries, idle that long: held once is enough
                held = {(h.event.stream, h.event.entry_id) for h in self._held}
                entries = [e for e in entries if (e.stream, e.entry_id) not in held]
            self._forget_gone_consumers()
        block = self.options.block_ms  # never 0: BLOCK 0 waits forever
        if self._held:  # wait no longer than the first lane's remaining delay
            block = max(1, min(block, int(self._next_due_in(now) * 1000)))
        entries += stream.read_new(
            self.client, self.streams, self.group, self.consumer, count=self.options.count, block_ms=block
        )
        self._settle(entries)
        now = self.clock()
        lane = self._due_lane(now)
        if lane is not None:
            return self.flush(None if self._rides_along(now) else lane)
        if self.idle is not None:
            self.idle()
        return 0

    def _lanes(self) -> dict[str, Lane]:
        """Each held product's lane: high if any of its held events is (a product's events stay together)."""
        lanes: dict[str, Lane] = {}
        for held in self._held:
            if held.event.lane is Lane.high or held.event.code not in lanes:
                lanes[held.event.code] = held.event.lane
        return lanes

    def _lane_state(self, now: float) -> dict[Lane, tuple[int, float]]:
        """Per lane: events held and the age of the oldest."""
        lanes = self._lanes()
        state: dict[Lane, tuple[int, float]] = {}
        for held in self._held:
            lane = lanes[held.event.code]
            count, age = state.get(lane, (0, 0.0))
            state[lane] = (count + 1, max(age, now - held.since))
        return state

    def _delay(self, lane: Lane) -> float:
        return (
            self.options.delay_s if lane is Lane.high else max(self.options.delay_s, self.options.low_delay_s)
        )

    def _due_lane(self, now: float) -> Lane | None:
        """The lane to apply now: editors' events (high) when due; mass updates (low) when due and no editor's
        event is waiting, or once they have waited twice their delay (steady editors' traffic must not starve
        them) — or when too many events are held, whatever their lane."""
        state = self._lane_state(now)
        self._draining &= set(state)

        def due(lane: Lane) -> bool:
            count, age = state.get(lane, (0, 0.0))
            return bool(count) and (
                lane in self._draining or count >= self.options.max_batch or age >= self._delay(lane)
            )

        low_age, high_age = state.get(Lane.low, (0, 0.0))[1], state.get(Lane.high, (0, 0.0))[1]
        starving = low_age >= 2 * self._delay(Lane.low)  # under steady editors' traffic, still served
        if due(Lane.high):
            # both due: editors first, unless the bots have waited twice their delay and longer than them
            return Lane.low if due(Lane.low) and starving and low_age >= high_age else Lane.high
        if due(Lane.low):
            if Lane.high in state and not starving and len(self._held) < self.options.max_held:
                return None  # editors first: the high lane becomes due soon
            return Lane.low
        if len(self._held) >= self.options.max_held:
            return Lane.low if Lane.low in state else Lane.high
        return None

    def _rides_along(self, now: float) -> bool:
        """Both lanes due, and so few mass-update products that serving them with the editors' batch costs
        less than the separate batch they would otherwise take right after it (a batch has a fixed cost of
        tens of statements; a product adds little): one batch for all."""
        lanes = self._lanes()
        low = sum(1 for lane in lanes.values() if lane is Lane.low)
        state = self._lane_state(now)
        return (
            0 < low <= self.options.ride_along
            and len(lanes) <= self.options.max_batch
            and all(state.get(lane, (0, 0.0))[1] >= self._delay(lane) for lane in Lane)
        )

    def _next_due_in(self, now: float) -> float:
        state = self._lane_state(now)
        return min(self._delay(lane) - age for lane, (_, age) in state.items())

    def flush(self, lane: Lane | None = None) -> int:
        """Apply the held events of ``lane``'s products (all held events by default), at most ``max_batch``
        products at a time; acknowledge those whose work is committed.

        Failures are isolated (:meth:`_apply`): the products that were applied are acknowledged, the others
        stay pending and come back through the reclaim after ``claim_idle_ms``. After ``max_deliveries``
        deliveries a failing entry is dead-lettered with its reason and error, so a poison event cannot go
        round forever — unless the cause is an outage (the store, the disk, an unreachable product source
        or image server), or nothing was applied for ``health_window_s``: then the events wait it out.
        """
        held = self._take(lane)
        units = coalesce(h.event for h in held)
        if not units:
            return 0
        failed = self._apply(units)
        done = [unit for unit in units if unit.code not in failed]
        acked = stream.acknowledge(
            self.client, (stream.Entry(s, i, {}) for unit in done for s, i in unit.entries), self.group
        )
        processed = sum(len(unit.entries) for unit in done)
        if done:
            self._last_success = self.clock()
            self._count(processed=processed, batches=1)
            logger.info("applied %d events for %d products", processed, len(done))
        if failed:
            self._count(failed_batches=1)
            poison = [(u, failed[u.code]) for u in units if u.code in failed and not failed[u.code].outage]
            # Nothing applied lately: not bad products but an outage nobody named; the events wait for it.
            if poison and self.clock() - self._last_success <= self.options.health_window_s:
                acked += self._retire_poison(poison)
        return acked

    def _take(self, lane: Lane | None) -> list[_Held]:
        """Remove and return the held events of the first ``max_batch`` products of ``lane``."""
        lanes = self._lanes()
        chosen: set[str] = set()
        for code, product_lane in lanes.items():
            if lane is None or product_lane is lane:
                chosen.add(code)
                if lane is not None and len(chosen) >= self.options.max_batch:
                    break
        taken = [h for h in self._held if h.event.code in chosen]
        self._held = [h for h in self._held if h.event.code not in chosen]
        if lane is not None and any(lanes[h.event.code] is lane for h in self._held):
            self._draining.add(lane)
        return taken

    def _apply(self, units: Sequence[ProductWork]) -> dict[str, UnitFailure]:
        """Dispatch ``units``; the ones that were not applied, by code.

        The in-process dispatcher (``process_units``) isolates its failures itself and reports them. A
        dispatcher that raises instead is classified by the error, not by position: an outage
        (:func:`~pipelines.listener.failures.is_outage`) leaves the whole batch pending; any other error
        sends each half of the batch again on its own, down to the products that fail alone.
        """

        def attempt(group: Sequence[ProductWork]) -> Sequence[UnitFailure]:
            result = self.dispatch(group)
            return result.failed if isinstance(result, ReportsFailures) else ()

        try:
            reported, errors = isolate(units, attempt, what="products")
        except Exception as exc:  # an outage: isolate lets nothing else through
            error = describe(exc)
            logger.warning("a batch of %d products waits for an outage to end: %s", len(units), error)
            return {unit.code: UnitFailure(unit.code, "outage", error, outage=True) for unit in units}
        failed = {failure.code: failure for failures in reported for failure in failures}
        for group, exc in errors:  # a group of several was not isolated: none of them is to blame yet
            logger.error("the work of %d products failed: left pending", len(group), exc_info=exc)
            failed |= {
                unit.code: UnitFailure(unit.code, APPLY_FAILED, describe(exc), outage=len(group) > 1)
                for unit in group
            }
        return failed

    def _retire_poison(self, failed: list[tuple[ProductWork, UnitFailure]]) -> int:
        """Dead-letter (and acknowledge) the entries of failed units delivered ``max_deliveries`` times, with
        the failure's reason and error."""
        retired = 0
        for unit, failure in failed:
            by_stream: dict[str, list[str]] = {}
            for name, entry_id in unit.entries:
                by_stream.setdefault(name, []).append(entry_id)
            for name, ids in by_stream.items():
                counts = stream.deliveries(self.client, name, self.group, ids)
                for entry_id in ids:
                    if counts.get(entry_id, 0) < self.options.max_deliveries:
                        continue
                    entry = stream.fetch(self.client, name, entry_id)
                    stream.dead_letter(self.client, entry, failure.reason, detail=failure.detail)
                    retired += stream.acknowledge(self.client, [entry], self.group)
                    logger.error(
                        "event %s %s of product %s failed %d times: dead-lettered (%s: %s)",
                        name, entry_id, unit.code, counts[entry_id], failure.reason, failure.detail,
                    )  # fmt: skip
        if retired:
            self._count(dead_lettered=retired)
        return retired

    def _forget_gone_consumers(self) -> None:
        """Remove from the group the consumers idle for ``forget_idle_ms`` with nothing pending and no live
        process holding their name: dead listeners' names would otherwise pile up (each restart under a new
        name left one). Their entries, if any, are reclaimed first, which empties them for a later turn."""
        for name in self.streams:
            for consumer in stream.consumers(self.client, name, self.group):
                if (
                    consumer.name == self.consumer
                    or consumer.pending
                    or consumer.idle_ms < self.options.forget_idle_ms
                ):
                    continue
                lease = name_key(self.group, consumer.name)
                if stream.forget_consumer(
                    self.client, name, self.group, consumer.name,
                    min_idle_ms=self.options.forget_idle_ms, lease_key=lease,
                ):  # fmt: skip
                    logger.info(
                        "removed consumer %s from %s (idle %.0f s, nothing pending)",
                        consumer.name, name, consumer.idle_ms / 1000,
                    )  # fmt: skip

    def _settle(self, entries: list[stream.Entry], since: float | None = None) -> None:
        """Settle entries: skipped and invalid ones at once, the others held (from ``since``, default now)."""
        for entry in entries:
            try:
                if entry.stream == self.settings.ocr_stream:
                    event: ProductEvent | OcrEvent | Skipped = parse_ocr_event(
                        entry.stream, entry.entry_id, entry.fields
                    )
                else:
                    event = parse_product_event(
                        entry.stream,
                        entry.entry_id,
                        entry.fields,
                        robotoff_users=frozenset(self.settings.listener_skip_users),
                        own_users=frozenset(filter(None, (self.settings.write_user,))),
                    )
            except InvalidEventError as exc:
                logger.warning("invalid event %s %s: %s", entry.stream, entry.entry_id, exc)
                stream.dead_letter(self.client, entry, exc.reason)
                stream.acknowledge(self.client, [entry], self.group)
                self._count(dead_lettered=1)
                continue
            if isinstance(event, Skipped):
                stream.acknowledge(self.client, [entry], self.group)
                self._count(skipped=1)
                continue
            self._held.append(_Held(event, self.clock() if since is None else since))

    def _count(self, **counts: int) -> None:
        key = STATS_KEY.format(group=self.group)
        pipe = self.client.pipeline(transaction=False)
        for name, value in counts.items():
            pipe.hincrby(key, name, value)
        pipe.execute()


def listener_stats(client: redis.Redis, group: str) -> dict[str, int]:
    """The group's counters (processed, batches, skipped, dead_lettered, failed_batches)."""
    raw = client.hgetall(STATS_KEY.format(group=group))
    return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}
