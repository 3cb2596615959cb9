"""1,000 events applied while the nightly bulk run (predict + import + refresh) runs end in the same store as
the same events applied after it: the writer lock (DuckDB) or the products' locks and versions (PostgreSQL)
keep writes apart, and the bulk run replays the listener's newer work once it has committed. The listener
keeps its store open between batches, as ``offpipe listen`` does (``kept_store``)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis

from pipelines.common.config import Settings
from pipelines.insights.job import run_refresh
from pipelines.listener.dispatch import process_units
from pipelines.listener.loop import Listener, LoopOptions, listener_stats
from pipelines.listener.replay import replay_after_refresh
from pipelines.predictors.resources import Resources
from pipelines.store.session import kept_store
from tests.pipelines.listener.conftest import codes_with_insights, fork_world, publish
from tests.pipelines.listener.test_crash import _settled, _state

EVENTS = 1_000
EARLY = 400


def _event(client: redis.Redis, settings: Settings, codes: list[str], i: int) -> None:
    code = codes[i % len(codes)]
    kind = (i // len(codes) + i) % 5
    if kind == 0:
        publish(client, settings, code=code, action="deleted")
    elif kind == 1:
        publish(
            client, settings, code=code, diffs=json.dumps({"uploaded_images": {"add": [str(40 + i % 7)]}})
        )
    elif kind == 2:
        publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"delete": ["1"]}}))
    elif kind == 3:
        publish(client, settings, code=code, user_id="scanbot")
    else:  # an update after a deletion brings the product back
        publish(client, settings, code=code, diffs=json.dumps({"fields": {"change": ["product_name"]}}))


def _listener(
    settings: Settings, resources: Resources, client: redis.Redis, consumer: str, writer=None
) -> Listener:
    return Listener(
        client=client,
        settings=settings,
        dispatch=lambda units: process_units(units, settings=settings, resources=resources, writer=writer),
        consumer=consumer,
        options=LoopOptions(delay_s=0, low_delay_s=0, block_ms=20),
        idle=writer.tick if writer is not None else None,
    )


def test_events_during_a_bulk_run_end_as_events_after_it(
    world, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings, resources, client = world
    codes = codes_with_insights(settings)
    early, late = codes[: len(codes) // 2], codes[len(codes) // 2 :]
    # the reference: a copy of the world (data folder and store) to which the same events come after the bulk
    # run, through its own group
    reference = fork_world(
        request, settings, tmp_path / "reference-data", OFF_LISTENER_GROUP=settings.listener_group + "-after"
    )

    writer = kept_store(settings=settings)  # kept open between batches, as `offpipe listen` keeps it
    listener = _listener(settings, resources, client, "live", writer)

    def listen() -> None:  # as `offpipe listen`: the kept store is closed by the thread that used it
        try:
            listener.run()
        finally:
            writer.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    # 400 events newer than the snapshot, applied before the nightly job starts: the bulk run computes from
    # the older snapshot and would undo them (deleted products back, new images unknown) without the replay
    for i in range(EARLY):
        _event(client, settings, early, i)
    _wait_processed(client, settings, EARLY)
    bulk: dict = {}
    runner = threading.Thread(
        target=lambda: bulk.update(
            run_refresh("off", after_refresh=replay_after_refresh, settings=settings, resources=resources)
        )
    )
    runner.start()
    during = 0  # 600 more, from while it runs (the listener waits for the lock between its steps) to after it
    for i in range(EVENTS - EARLY):
        _event(client, settings, late, i)
        during += runner.is_alive()
        time.sleep(0.004)
    runner.join(timeout=300)
    _wait_processed(client, settings, EVENTS)
    listener.stop()
    thread.join(timeout=60)
    assert during > 50  # events kept coming while the bulk run ran
    assert bulk["refresh"]["listener_replay"]["products"] >= len(early)  # and it replayed the listener's work

    # the bulk run first …
    run_refresh("off", after_refresh=replay_after_refresh, settings=reference, resources=resources)
    after = _listener(reference, resources, client, "after")  # … then every event
    after.setup()
    while not _settled(client, reference):
        after.turn()
    assert _state(settings) == _state(reference)


def _wait_processed(client: redis.Redis, settings: Settings, count: int) -> None:
    deadline = time.monotonic() + 300
    while listener_stats(client, settings.listener_group).get("processed", 0) < count or not _settled(
        client, settings
    ):
        assert time.monotonic() < deadline, "the listener did not catch up"
        time.sleep(0.05)
