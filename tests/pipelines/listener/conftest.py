"""Listener tests' world: a small refreshed off store, private Redis streams and group, and helpers.

The ``world`` fixture runs each test on both stores with the same assertions (issue 22): the store file
(DuckDB) or a PostgreSQL database (``OFF_STORE_URL``), the same 120 products refreshed in bulk. The world is
built once per session — the dump, its snapshot and the DuckDB store in a folder, the PostgreSQL store in a
database written through ``store_session`` as the nightly run writes it — and copied for each test: the
folder (a few files) and, on PostgreSQL, the database (``CREATE DATABASE … TEMPLATE``, tens of milliseconds).
A test that is about DuckDB's own mechanics says so with :func:`duckdb_only` and its reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg
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
from pipelines.store.session import store_session
from pipelines.synth.generator import SynthSpec, generate
from tests.support.postgres import PostgresServer

BACKENDS = ["duckdb", "postgresql"]
STORE_FILE = "store.duckdb"


def duckdb_only(reason: str) -> pytest.MarkDecorator:
    """Run a test on the DuckDB world only; ``reason`` says why it cannot or need not run on PostgreSQL."""
    assert reason
    return pytest.mark.parametrize("world", ["duckdb"], indirect=True)


def postgres_only(reason: str) -> pytest.MarkDecorator:
    """Run a test on the PostgreSQL world only; ``reason`` says why it has no DuckDB counterpart."""
    assert reason
    return pytest.mark.parametrize("world", ["postgresql"], indirect=True)


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Settings a test module adds to the world's (override in the module)."""
    return {}


@pytest.fixture(scope="session")
def listener_resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    """The reference data, parsed once for the session (the predictors only read it)."""
    return Resources(keywords_dir, taxonomy_dir)


def _bulk(con: duckdb.DuckDBPyConnection, snapshot: Path, resources: Resources) -> None:
    """The nightly run's predict, import and refresh of ``snapshot`` on a store connection."""
    predictions = predict(pq.read_table(snapshot), resources=resources)
    import_predictions(con, predictions, products=prediction_products(predictions, snapshot))
    refresh_insights(con, snapshot, resources=resources)


@pytest.fixture(scope="session")
def world_source(
    tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path, listener_resources
) -> Path:
    """The session's world folder: ``dump.jsonl.gz`` (120 products) and ``data/`` with its off snapshot and
    the DuckDB store refreshed in bulk."""
    folder = tmp_path_factory.mktemp("listener-world")
    settings = get_settings({"OFF_DATA_DIR": str(folder / "data")})
    dump = folder / "dump.jsonl.gz"
    generate(SynthSpec(products=120, seed=9, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", settings=settings)
    con = open_store(settings.store_path)
    try:
        _bulk(con, settings.parquet_dir("off") / "products.parquet", listener_resources)
    finally:
        con.close()
    return folder


@pytest.fixture(scope="session")
def world_database(
    postgres_server: PostgresServer,
    world_source: Path,
    tmp_path_factory: pytest.TempPathFactory,
    listener_resources: Resources,
) -> str:
    """The world's store on PostgreSQL, written as the nightly run writes it (bulk sessions): the name of
    the database each test copies."""
    url = postgres_server.create()
    data = tmp_path_factory.mktemp("listener-world-pg") / "data"
    shutil.copytree(world_source / "data", data, ignore=shutil.ignore_patterns(f"{STORE_FILE}*"))
    settings = get_settings({"OFF_DATA_DIR": str(data), "OFF_STORE_URL": url})
    with store_session(settings=settings, server_type="off", purpose="listener world") as con:
        _bulk(con, settings.parquet_dir("off") / "products.parquet", listener_resources)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    extra_env: dict[str, str],
    tmp_path: Path,
    world_source: Path,
    listener_resources: Resources,
) -> Iterator[tuple[Settings, Resources, redis.Redis]]:
    """A 120-product off snapshot refreshed in bulk, and settings naming private streams and group."""
    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    postgres = request.param == "postgresql"
    shutil.copytree(
        world_source / "data",
        tmp_path / "data",
        ignore=shutil.ignore_patterns(f"{STORE_FILE}*") if postgres else None,
    )
    shutil.copyfile(world_source / "dump.jsonl.gz", tmp_path / "dump.jsonl.gz")
    env = extra_env | {
        "OFF_DATA_DIR": str(tmp_path / "data"),
        "OFF_REDIS_STREAMS": f"{prefix}:updates",
        "OFF_OCR_STREAM": f"{prefix}:ocr",
        "OFF_LISTENER_GROUP": f"{prefix}-group",
    }
    server: PostgresServer | None = None
    if postgres:
        server = request.getfixturevalue("postgres_server")
        env["OFF_STORE_URL"] = server.create(template=request.getfixturevalue("world_database"))
        request.node.stash[_SERVER] = server
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    yield get_settings(env), listener_resources, client
    keys = list(client.scan_iter(match=f"{prefix}*")) + list(client.scan_iter(match=f"*{prefix}*"))
    if keys:
        client.delete(*set(keys))
    client.close()
    if server is not None:
        server.drop_later(env["OFF_STORE_URL"])


_SERVER = pytest.StashKey[PostgresServer]()


def world_settings(settings: Settings, **env: str) -> Settings:
    """Settings on the world's data folder, store, streams and group, with ``env`` added or overriding."""
    base = {
        "OFF_DATA_DIR": str(settings.data_dir),
        "OFF_REDIS_STREAMS": ",".join(settings.redis_streams),
        "OFF_OCR_STREAM": settings.ocr_stream,
        "OFF_LISTENER_GROUP": settings.listener_group,
    }
    if settings.store_url:
        base["OFF_STORE_URL"] = settings.store_url
    return get_settings(base | env)


def fork_world(request: pytest.FixtureRequest, settings: Settings, data: Path, **env: str) -> Settings:
    """A copy of the world as it is now — its data folder copied to ``data``, its store too (a new
    database on PostgreSQL, dropped with the session) — and settings on it (``env`` added)."""
    shutil.copytree(settings.data_dir, data)
    extra = {"OFF_DATA_DIR": str(data)} | env
    if settings.store_url:
        server = request.node.stash[_SERVER]
        extra["OFF_STORE_URL"] = url = server.create(template=settings.store_url.rsplit("/", 1)[1])
        request.addfinalizer(lambda: server.drop_later(url))
    return world_settings(settings, **extra)


def is_postgres(settings: Settings) -> bool:
    return bool(settings.store_url and settings.store_url.startswith("postgresql"))


def query(settings: Settings, sql: str, params: list) -> list[tuple]:
    """Run ``sql`` (``?`` placeholders; SQL both stores understand) on the world's store: the store file, or
    PostgreSQL itself (another client's view: what was committed)."""
    if is_postgres(settings):
        # offpipe first: its image table, not Robotoff's public.image
        with psycopg.connect(settings.store_url, options="-c search_path=offpipe,public") as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()
    con = open_store(settings.store_path, read_only=True)  # waits for a listener to let go of the file
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def codes_with_insights(settings: Settings) -> list[str]:
    return [r[0] for r in query(settings, "SELECT DISTINCT barcode FROM product_insight ORDER BY 1", [])]


@contextmanager
def writer(settings: Settings, barcodes: list[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writing session on the world's store for ``barcodes`` of off (the store file itself on DuckDB)."""
    with store_session(settings=settings, server_type="off", barcodes=barcodes, purpose="test") as con:
        yield con


def publish(client: redis.Redis, settings: Settings, **fields: str) -> None:
    base = {"product_type": "food", "user_id": "alice", "action": "updated", "comment": "", "diffs": "{}"}
    client.xadd(settings.redis_streams[0], base | fields)


def make_listener(settings: Settings, resources: Resources, client: redis.Redis, dispatch=None) -> Listener:
    options = LoopOptions(delay_s=0, block_ms=20, claim_idle_ms=10, reclaim_every_s=0)
    dispatch = dispatch or (lambda units: process_units(units, settings=settings, resources=resources))
    return Listener(client=client, settings=settings, dispatch=dispatch, consumer="c1", options=options)


OFFPIPE = str(Path(sys.executable).parent / "offpipe")


def listener_env(settings: Settings, keywords_dir: Path, taxonomy_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an ``offpipe listen`` child on the world's data folder, store, streams and group,
    with the reference data the tests use (``extra``: more variables, or overrides)."""
    env = os.environ | {
        "OFF_DATA_DIR": str(settings.data_dir),
        "OFF_REDIS_STREAMS": ",".join(settings.redis_streams),
        "OFF_OCR_STREAM": settings.ocr_stream,
        "OFF_LISTENER_GROUP": settings.listener_group,
        "OFF_KEYWORDS_DIR": str(keywords_dir),
        "OFF_TAXONOMY_DIR": str(taxonomy_dir),
        "OFF_GRAMMARS_DIR": str(keywords_dir.parent / "grammars"),
    }
    env.pop("OFF_STORE_URL", None)
    if settings.store_url:
        env["OFF_STORE_URL"] = settings.store_url
    return env | extra
