"""A crash never leaves a product half refreshed.

- DuckDB store: a refresh is one transaction; a SIGKILL between its writes and its COMMIT leaves the
  previous state.
- PostgreSQL store: a bulk refresh applies its changes in chunks of products, one transaction each; a SIGKILL
  after some chunks committed leaves every product fully before or fully after, and a rerun finishes the job
  (docs/store.md, "Concurrency").
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import Settings
from pipelines.insights.job import REFRESH_TABLES
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.resources import Resources
from pipelines.store.db import store_writer
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows
from pipelines.store.session import store_reader, store_session
from pipelines.store.target import PostgresTarget
from tests.pipelines.insights.conftest import (
    NOW,
    DuckStore,
    pg_settings,
    prediction,
    product,
    products_table,
)
from tests.support.postgres import PostgresServer

_REFRESH_THEN_HANG = """
    import sys, time
    from pathlib import Path
    from pipelines.insights import refresh
    from pipelines.predictors.resources import Resources
    from pipelines.store.db import store_writer

    store, marker, products, keywords, taxonomies = sys.argv[1:6]

    def hang(report):
        Path(marker).write_text(str(report.changes))
        time.sleep(600)

    refresh._run_counts = hang  # called inside the transaction, after every write
    with store_writer(store) as con:
        refresh.refresh_insights(con, Path(products), resources=Resources(Path(keywords), Path(taxonomies)))
"""


def _state(con) -> list[tuple]:
    insights = con.execute(
        "SELECT id::VARCHAR, barcode, type, value_tag, value, timestamp::VARCHAR "
        "FROM product_insight ORDER BY 1"
    ).fetchall()
    predictions = con.execute("SELECT count(*) FROM prediction").fetchall()
    runs = con.execute("SELECT count(*) FROM run").fetchall()
    return [*insights, *predictions, *runs]


CRASH_CODES = [f"30000000{i:05d}" for i in range(2_000)]


def store_and_brand_predictions(codes: list[str]) -> list[dict[str, Any]]:
    """A store prediction (its insight is created) and a brand one from OCR (not automatic) per product."""
    stores = [prediction("store", code=c, value="Auchan", value_tag="auchan") for c in codes]
    brands = [
        prediction(
            "brand",
            code=c,
            value="Materne",
            value_tag="materne",
            predictor="google-cloud-vision",
            automatic_processing=False,
        )
        for c in codes
    ]
    return stores + brands


def test_sigkill_before_commit_leaves_the_previous_insights(
    duckdb_store: DuckStore, tmp_path: Path, resources: Resources, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """DuckDB only: the child holds the store file's single transaction open; the PostgreSQL store's bulk
    apply is chunked and has its own test below."""
    store = duckdb_store
    codes = CRASH_CODES
    store.predict(*store_and_brand_predictions(codes))
    store.refresh(*[product(code=c) for c in codes])
    # the next refresh has plenty to do: half the products are gone, the others got a brand
    products = tmp_path / "products.parquet"
    pq.write_table(
        products_table(*[product(code=c, brands_tags=["materne"]) for c in codes[:1_000]]), products
    )
    before = _state(store.con)
    store.con.close()

    marker = tmp_path / "inside-transaction"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(_REFRESH_THEN_HANG),
            str(store.path),
            str(marker),
            str(products),
            str(keywords_dir),
            str(taxonomy_dir),
        ],
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the child never reached the end of its transaction"
        assert int(marker.read_text()) > 0  # its deletions were made, uncommitted
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)

    with store_writer(store.path, timeout=10) as con:
        assert _state(con) == before
        report = refresh_insights(con, products, resources=resources, now=NOW, force=True)
        assert report.missing_products == 1_000 and report.changes > 0


# --- PostgreSQL ------------------------------------------------------------------------------------------

# A bulk refresh in a child process that hangs at one point of its session (``point``, the ``nth`` time it
# gets there) after writing ``marker``: the test then SIGKILLs it there.
_BULK_REFRESH = """
    import sys, time
    from datetime import datetime
    from pathlib import Path
    from pipelines.common.config import get_settings
    from pipelines.insights import refresh
    from pipelines.insights.job import REFRESH_TABLES
    from pipelines.insights.refresh import refresh_insights
    from pipelines.predictors.resources import Resources
    from pipelines.store.postgres import session
    from pipelines.store.session import store_session
    from pipelines.store.target import PostgresTarget

    url, products, data, keywords, taxonomies, now, point, nth, marker = sys.argv[1:10]
    session.CHUNK_BUCKETS = 128  # about 10 chunks, one transaction each
    calls = {}

    def hang_at(name, module, before=False, when=lambda *args: True):
        real = getattr(module, name)

        def hanging(*args, **kwargs):
            if not when(*args):
                return real(*args, **kwargs)
            calls[name] = calls.get(name, 0) + 1
            if calls[name] != int(nth):
                return real(*args, **kwargs)
            if not before:
                real(*args, **kwargs)
            Path(marker).write_text(point)
            time.sleep(600)

        setattr(module, name, hanging)

    if point == "read":  # after the nth table's COPY of the session's read: its snapshot half loaded
        hang_at("_copy_out_parts", session)
    elif point == "decide":  # the rules have written the working copy, nothing is applied yet
        hang_at("_run_counts", refresh, before=True)
    elif point == "between chunks":  # chunks 1..nth-1 committed, the next not begun
        hang_at("_pg", session, before=True, when=lambda name, *rest: name == "postgres/lock_buckets")
    elif point == "inside a chunk":  # the nth chunk's insight changes made, under its locks, not committed
        insights = lambda conn, work, table, *rest: table.name == "product_insight"
        hang_at("_apply_chunk", session, when=insights)
    elif point == "run row":  # every chunk committed, the run row inserted and not committed
        hang_at("_apply_unscoped", session)
    settings = get_settings({"OFF_DATA_DIR": data})
    target = PostgresTarget(url)
    with store_session(target, server_type="off", tables=REFRESH_TABLES, settings=settings) as con:
        refresh_insights(
            con,
            Path(products),
            resources=Resources(Path(keywords), Path(taxonomies)),
            now=datetime.fromisoformat(now),
            force=True,
        )
"""
# What a product's rows hold, ids and import times aside: its insights and its predictions.
_PRODUCT_INSIGHTS = (
    "SELECT barcode, type, value_tag, value, json_canonical(data), automatic_processing, n_votes, "
    "unique_scans_n, brands::VARCHAR, timestamp FROM product_insight"
)
_PRODUCT_PREDICTIONS = (
    "SELECT barcode, type, value_tag, value, json_canonical(data), automatic_processing, predictor "
    "FROM prediction"
)
# The kill points, and the range the nth arrival is drawn from (a refresh reads REFRESH_TABLES, one COPY
# each, and applies ~10 chunks of at most 128 lock buckets each).
KILL_POINTS = {
    "read": (1, len(REFRESH_TABLES)),
    "decide": (1, 1),
    "between chunks": (2, 8),
    "inside a chunk": (1, 8),
    "run row": (1, 1),
}
SEED = int(os.environ.get("OFF_TEST_CRASH_SEED", str(time.time_ns() % 1_000_000)))


def _products_state(target: PostgresTarget, settings: Settings) -> dict[str, tuple[list, list]]:
    """Each product's (insights, predictions), read through the store's own reader."""
    state: dict[str, tuple[list, list]] = {}
    with store_reader(
        target, server_type="off", tables=["prediction", "product_insight"], settings=settings
    ) as con:
        for index, query in enumerate((_PRODUCT_INSIGHTS, _PRODUCT_PREDICTIONS)):
            for row in con.execute(query).fetchall():
                state.setdefault(row[0], ([], []))[index].append(row)
    return {code: (sorted(ins), sorted(preds)) for code, (ins, preds) in state.items()}


def _runs(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM offpipe.run").fetchone()[0]  # type: ignore[index]


def _bulk_refresh(target: PostgresTarget, settings: Settings, products: Path, resources: Resources) -> None:
    with store_session(target, server_type="off", settings=settings) as con:
        refresh_insights(con, products, resources=resources, now=NOW, force=True)


@dataclass
class CrashWorld:
    """A store of 2,000 refreshed products (``before``: the database the kills start from, a template), the
    snapshot of the next refresh, which changes every product, and each product's state after it."""

    settings: Settings
    before_url: str
    second: Path
    codes: list[str]
    before: dict[str, tuple[list, list]]
    after: dict[str, tuple[list, list]]
    runs: int


@pytest.fixture(scope="module")
def crash_world(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory, resources: Resources
) -> Iterator[CrashWorld]:
    tmp = tmp_path_factory.mktemp("crash")
    settings = pg_settings(tmp)
    url = postgres_server.create()
    target = PostgresTarget(url)
    codes = CRASH_CODES
    rows = store_and_brand_predictions(codes)
    with store_session(target, server_type="off", settings=settings) as con:
        import_predictions(con, predictions_from_rows(rows), now=NOW)
    first = tmp / "first.parquet"
    pq.write_table(products_table(*[product(code=c) for c in codes]), first)
    _bulk_refresh(target, settings, first, resources)
    # the next refresh changes every product: a third are gone (predictions and insights deleted), a
    # third got their brand (its insight deleted), a third more scans (their insights updated)
    changed = [
        product(code=c, brands_tags=["materne"]) if i % 3 == 1 else product(code=c, unique_scans_n=50)
        for i, c in enumerate(codes)
        if i % 3
    ]
    second = tmp / "second.parquet"
    pq.write_table(products_table(*changed), second)
    clean = PostgresTarget(postgres_server.create(template=url.rsplit("/", 1)[1]))
    before = _products_state(target, settings)
    _bulk_refresh(clean, settings, second, resources)
    after = _products_state(clean, settings)
    assert all(before.get(c) != after.get(c) for c in codes)
    yield CrashWorld(settings, url, second, codes, before, after, _runs(url))


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_during_a_postgresql_bulk_refresh_leaves_each_product_before_or_after(
    point: str,
    crash_world: CrashWorld,
    postgres_server: PostgresServer,
    tmp_path: Path,
    resources: Resources,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    world = crash_world
    low, high = KILL_POINTS[point]
    nth = random.Random(f"{SEED}-{point}").randint(low, high)
    where = f"{point} #{nth} (OFF_TEST_CRASH_SEED={SEED})"
    url = postgres_server.create(template=world.before_url.rsplit("/", 1)[1])
    killed = PostgresTarget(url)
    marker = tmp_path / "marker"
    args = [url, str(world.second), str(tmp_path / "child"), str(keywords_dir), str(taxonomy_dir)]
    args += [NOW.isoformat(), point, str(nth), str(marker)]
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_BULK_REFRESH), *args])
    try:
        deadline = time.monotonic() + 300
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), f"the child never reached {where} (exit {proc.poll()})"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the child ended before it was killed at {where}"

    crashed = _products_state(killed, world.settings)
    half = [c for c in world.codes if crashed.get(c) not in (world.before.get(c), world.after.get(c))]
    assert not half, f"killed at {where}: {len(half)} products half applied, e.g. {half[0]}"
    done = sum(crashed.get(c) == world.after.get(c) for c in world.codes)
    if point in ("read", "decide"):
        assert done == 0, where
    elif point == "run row":
        assert done == len(world.codes), where
    elif point == "inside a chunk" and nth == 1:  # the first chunk not committed: nothing applied yet
        assert done == 0, where
    else:
        assert 0 < done < len(world.codes), f"killed at {where}: {done} products applied"
    assert _runs(url) == world.runs, where  # the run row commits last

    _bulk_refresh(killed, world.settings, world.second, resources)
    assert _products_state(killed, world.settings) == world.after, where
    assert _runs(url) == world.runs + 1, where
