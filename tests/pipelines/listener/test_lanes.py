"""Lanes: editors' events are applied before mass updates, a product's events stay together and in order,
and batches are capped — on the real Redis, with a hand-driven clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from pipelines.common.config import Settings, get_settings
from pipelines.listener.loop import Listener, LoopOptions

A, B, C, D = "3017620422003", "5449000000996", "3274080005003", "7622210449283"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup() -> Iterator[tuple[Settings, redis.Redis]]:
    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    settings = get_settings(
        {
            "OFF_REDIS_STREAMS": f"{prefix}:updates",
            "OFF_OCR_STREAM": f"{prefix}:ocr",
            "OFF_LISTENER_GROUP": f"{prefix}-group",
        }
    )
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    yield settings, client
    keys = list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def _listener(settings: Settings, client: redis.Redis, batches: list, **options) -> tuple[Listener, Clock]:
    clock = Clock()
    opts = LoopOptions(
        **({"delay_s": 1.0, "low_delay_s": 10.0, "block_ms": 5, "reclaim_every_s": 1e9} | options)
    )
    listener = Listener(
        client=client,
        settings=settings,
        dispatch=lambda units: batches.append([(u.code, u.lane.value, len(u.entries)) for u in units]),
        consumer="c1",
        options=opts,
        clock=clock,
    )
    listener.setup()
    return listener, clock


def _publish(
    client: redis.Redis, settings: Settings, code: str, user: str = "alice", action: str = "updated"
):
    fields = {"code": code, "product_type": "food", "user_id": user, "action": action, "diffs": "{}"}
    client.xadd(settings.redis_streams[0], fields)


def test_editors_go_first_and_bots_wait_their_longer_delay(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches)
    for code in (A, B, C):
        _publish(client, settings, code, user="scanbot")
    _publish(client, settings, D)
    listener.turn()
    assert batches == []  # nothing due yet
    clock.now += 1.0
    listener.turn()
    assert batches == [[(D, "high", 1)]]  # the editor's event, alone
    clock.now += 5.0
    listener.turn()
    assert len(batches) == 1  # the bots' events wait 10 s
    clock.now += 5.0
    listener.turn()
    assert batches[1] == [(A, "low", 1), (B, "low", 1), (C, "low", 1)]


def test_a_waiting_editor_event_holds_back_a_due_bot_batch(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches, ride_along=0)
    _publish(client, settings, A, user="scanbot")
    listener.turn()
    clock.now += 10.5  # the bot's event is due …
    _publish(client, settings, B)  # … but an editor's event has just arrived
    listener.turn()
    assert batches == []
    clock.now += 1.0
    listener.turn()
    listener.turn()
    assert batches == [[(B, "high", 1)], [(A, "low", 1)]]


def test_a_products_events_stay_together_in_its_highest_lane(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches)
    _publish(client, settings, A, user="scanbot", action="deleted")
    _publish(client, settings, A)  # an editor brings it back: one unit, high, both events in order
    _publish(client, settings, B, user="scanbot")
    listener.turn()
    clock.now += 1.0
    listener.turn()
    assert batches == [[(A, "high", 2)]]


def test_batches_are_capped_and_the_rest_follows(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, _ = _listener(settings, client, batches, max_batch=2)
    for code in (A, B, C):
        _publish(client, settings, code)
    listener.turn()  # 3 held ≥ max_batch: due at once, 2 products per batch
    listener.turn()
    assert batches == [[(A, "high", 1), (B, "high", 1)], [(C, "high", 1)]]


def test_steady_editor_traffic_does_not_starve_the_bots(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches)
    _publish(client, settings, A, user="scanbot")
    listener.turn()
    for _ in range(25):  # an editor's event every second, for 25 s: always one held
        clock.now += 1.0
        _publish(client, settings, B)
        listener.turn()
    served = [i for i, batch in enumerate(batches) if batch[0][1] == "low"]
    assert served and served[0] <= 21  # the bot's event waited twice its delay (20 s), not until the end


def test_without_delays_both_lanes_are_served_oldest_first(setup) -> None:
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches, delay_s=0.0, low_delay_s=0.0, ride_along=0)
    _publish(client, settings, A, user="scanbot")
    clock.now += 0.5
    for _ in range(3):  # an editor's event at every turn
        _publish(client, settings, B)
        listener.turn()
        clock.now += 0.1
    assert batches[0] == [(A, "low", 1)]  # the older bot event first, then the editors'
    assert all(batch[0][1] == "high" for batch in batches[1:])


def test_a_few_due_bot_products_share_the_editors_batch(setup) -> None:
    """Both lanes due: up to ``ride_along`` bot products go with the editors' batch (one fixed cost instead
    of two); more than that, and the editors' batch goes alone, first."""
    settings, client = setup
    batches: list = []
    listener, clock = _listener(settings, client, batches, ride_along=2)
    for code in (A, B):
        _publish(client, settings, code, user="scanbot")
    listener.turn()
    clock.now += 10.5  # the bots' events are due
    _publish(client, settings, C)
    listener.turn()
    assert batches == []  # the editor's event is not due yet: the bots wait behind it
    clock.now += 1.0
    listener.turn()
    assert batches == [[(A, "low", 1), (B, "low", 1), (C, "high", 1)]]  # one batch
    batches.clear()
    for code in (A, B, C):
        _publish(client, settings, code, user="scanbot")
    listener.turn()
    clock.now += 10.5
    _publish(client, settings, D)
    listener.turn()
    clock.now += 1.0
    listener.turn()
    listener.turn()
    # 3 bot products > ride_along: the editors' batch first, alone
    assert batches == [[(D, "high", 1)], [(A, "low", 1), (B, "low", 1), (C, "low", 1)]]
