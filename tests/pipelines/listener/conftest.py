"""Listener tests' world: a small refreshed off store, private Redis streams and group, and helpers."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis

from pipelines.common.config import Settings, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.dispatch import process_units
from pipelines.listener.loop import Listener, LoopOptions
from pipelines.predictors.bulk import prediction_products
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.synth.generator import SynthSpec, generate


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Settings a test module adds to the world's (override in the module)."""
    return {}


@pytest.fixture
def world(
    extra_env: dict[str, str], tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> Iterator[tuple[Settings, Resources, redis.Redis]]:
    """A 120-product off snapshot refreshed in bulk, and settings naming private streams and group."""
    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    settings = get_settings(
        extra_env
        | {
            "OFF_DATA_DIR": str(tmp_path / "data"),
            "OFF_REDIS_STREAMS": f"{prefix}:updates",
            "OFF_OCR_STREAM": f"{prefix}:ocr",
            "OFF_LISTENER_GROUP": f"{prefix}-group",
        }
    )
    dump = tmp_path / "dump.jsonl.gz"
    generate(SynthSpec(products=120, seed=9, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", settings=settings)
    snapshot = settings.parquet_dir("off") / "products.parquet"
    resources = Resources(keywords_dir, taxonomy_dir)
    con = open_store(settings.store_path)
    predictions = predict(pq.read_table(snapshot), resources=resources)
    import_predictions(con, predictions, products=prediction_products(predictions, snapshot))
    refresh_insights(con, snapshot, resources=resources)
    con.close()
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    yield settings, resources, client
    keys = list(client.scan_iter(match=f"{prefix}*")) + list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*set(keys))
    client.close()


def query(settings: Settings, sql: str, params: list) -> list[tuple]:
    con = open_store(settings.store_path, read_only=True)  # waits for a listener to let go of the file
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def codes_with_insights(settings: Settings) -> list[str]:
    return [r[0] for r in query(settings, "SELECT DISTINCT barcode FROM product_insight ORDER BY 1", [])]


def publish(client: redis.Redis, settings: Settings, **fields: str) -> None:
    base = {"product_type": "food", "user_id": "alice", "action": "updated", "comment": "", "diffs": "{}"}
    client.xadd(settings.redis_streams[0], base | fields)


def make_listener(settings: Settings, resources: Resources, client: redis.Redis, dispatch=None) -> Listener:
    options = LoopOptions(delay_s=0, block_ms=20, claim_idle_ms=10, reclaim_every_s=0)
    dispatch = dispatch or (lambda units: process_units(units, settings=settings, resources=resources))
    return Listener(client=client, settings=settings, dispatch=dispatch, consumer="c1", options=options)


OFFPIPE = str(Path(sys.executable).parent / "offpipe")


def listener_env(settings: Settings, keywords_dir: Path, taxonomy_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``offpipe listen`` child on the world's data folder, streams and group, with
    the reference data the tests use (``extra``: more variables, or overrides)."""
    return os.environ | {
        "OFF_DATA_DIR": str(settings.data_dir),
        "OFF_REDIS_STREAMS": ",".join(settings.redis_streams),
        "OFF_OCR_STREAM": settings.ocr_stream,
        "OFF_LISTENER_GROUP": settings.listener_group,
        "OFF_KEYWORDS_DIR": str(keywords_dir),
        "OFF_TAXONOMY_DIR": str(taxonomy_dir),
        "OFF_GRAMMARS_DIR": str(keywords_dir.parent / "grammars"),
        **extra,
    }
