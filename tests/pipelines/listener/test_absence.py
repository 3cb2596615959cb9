"""Absence is not deletion (``docs/reliability.md`` F27): an update for a product the product source does not
have — absent from the snapshot, a 404 of Product Opener's API — deletes nothing. Its entry stays pending,
comes back through the reclaim and, at the last delivery, is dead-lettered with reason ``product_not_found``;
the other products of the batch are applied meanwhile."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import redis

from pipelines.barcodes import normalize_code
from pipelines.common.config import Settings
from pipelines.listener import stream
from pipelines.listener.loop import listener_stats
from pipelines.predictors.resources import Resources
from tests.pipelines.listener.conftest import (
    codes_with_insights,
    make_listener,
    publish,
    query,
    world_settings,
)
from tests.support.http_server import DumpServer, ServedFile

NAME_CHANGED = json.dumps({"fields": {"change": ["product_name"]}})


def _work(settings: Settings, code: str) -> tuple[list[tuple], list[tuple]]:
    """The product's insights and predictions (ids included: kept means untouched, not rebuilt)."""
    insights = query(settings, "SELECT id FROM product_insight WHERE barcode = ? ORDER BY 1", [code])
    predictions = query(settings, "SELECT id FROM prediction WHERE barcode = ? ORDER BY 1", [code])
    return insights, predictions


def _logged(settings: Settings, code: str) -> list[tuple]:
    return query(settings, "SELECT deleted FROM listener_log WHERE barcode = ?", [code])


def _dead_letters(client: redis.Redis, settings: Settings) -> list[dict[str, str]]:
    dead = client.xrange(settings.redis_streams[0] + stream.DEAD_LETTER_SUFFIX)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in dead]


def _pending(client: redis.Redis, settings: Settings) -> int:
    return stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending


def _absent_then_dead_lettered(
    settings: Settings, resources: Resources, client: redis.Redis, missing: str, present: list[str]
) -> None:
    """The scenario, on whatever product source ``settings`` names: ``missing`` is not in it, ``present``
    (three products) are."""
    before = _work(settings, missing)
    assert before[0] and before[1]  # it has insights and predictions to lose
    listener = make_listener(settings, resources, client)
    listener.options.max_deliveries = 3
    listener.setup()
    publish(client, settings, code=missing, diffs=NAME_CHANGED)
    publish(client, settings, code=present[0], diffs=NAME_CHANGED)
    listener.turn()
    assert _work(settings, missing) == before  # nothing deleted …
    assert _logged(settings, missing) == []  # … nor logged as gone for the nightly replay
    assert _logged(settings, present[0]) == [(False,)]  # the other product of the batch was applied
    assert _pending(client, settings) == 1  # only the missing product's entry waits

    for code in present[1:]:  # redelivered through the reclaim while other products are applied
        publish(client, settings, code=code, diffs=NAME_CHANGED)
        time.sleep(0.05)  # idle longer than claim_idle_ms
        listener.turn()
    [dead] = _dead_letters(client, settings)
    assert dead["reason"] == "product_not_found"
    assert dead["field:code"] == missing
    assert missing in dead["detail"]
    assert _pending(client, settings) == 0
    assert _work(settings, missing) == before  # still untouched after its last delivery
    assert _logged(settings, missing) == []
    stats = listener_stats(client, settings.listener_group)
    assert (stats["processed"], stats["dead_lettered"]) == (3, 1)


def test_a_product_missing_from_the_snapshot_keeps_its_insights_and_is_dead_lettered(world) -> None:
    settings, resources, client = world
    missing, *present = codes_with_insights(settings)[:4]
    snapshot = settings.parquet_dir("off") / "products.parquet"
    table = pq.read_table(snapshot)
    keep = pc.invert(pc.equal(table.column("normalized_code"), pa.scalar(missing)))
    pq.write_table(table.filter(pc.fill_null(keep, True)), snapshot)  # a snapshot that lacks it
    _absent_then_dead_lettered(settings, resources, client, missing, present)


@pytest.fixture
def api() -> Iterator[DumpServer]:
    with DumpServer() as server:
        yield server


def test_an_api_404_keeps_the_insights_and_is_dead_lettered(world, api: DumpServer, tmp_path: Path) -> None:
    settings, resources, client = world
    missing, *present = codes_with_insights(settings)[:4]
    with gzip.open(tmp_path / "dump.jsonl.gz", "rb") as lines:  # the world's dump
        documents = {normalize_code(d.get("code")): d for d in map(orjson.loads, lines) if d.get("code")}
    for code in present:
        answer = {"code": code, "product": documents[code], "status": 1}
        api.files[f"/api/v2/product/{code}"] = ServedFile(orjson.dumps(answer))
    api_settings = world_settings(settings, OFF_PRODUCT_SOURCES="api", OFF_WORLD_URL_OFF=api.base)
    _absent_then_dead_lettered(api_settings, resources, client, missing, present)
    asked = [r["path"] for r in api.requests]
    assert asked.count(f"/api/v2/product/{missing}") == 3  # asked again at each delivery, 404 each time
