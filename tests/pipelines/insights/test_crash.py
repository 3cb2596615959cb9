"""A crash never leaves a product half refreshed.

- DuckDB store: a refresh is one transaction; a SIGKILL between its writes and its COMMIT leaves the
  previous state.
- PostgreSQL store: a bulk refresh applies its changes in chunks of products, one transaction each; a SIGKILL
  after some chunks committed leaves every product fully before or fully after, and a rerun finishes the job
  (docs/store.md, "Concurrency").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from pipelines.common.config import Settings
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


def test_sigkill_before_commit_leaves_the_previous_insights(
    duckdb_store: DuckStore, tmp_path: Path, resources: Resources, keywords_dir: Path, taxonomy_dir: Path
) -> None:
    """DuckDB only: the child holds the store file's single transaction open; the PostgreSQL store's bulk
    apply is chunked and has its own test below."""
    store = duckdb_store
    codes = [f"30000000{i:05d}" for i in range(2_000)]
    store.predict(*[prediction("store", code=c, value="Auchan", value_tag="auchan") for c in codes])
    store.predict(
        *[
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
    )
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

_BULK_REFRESH = """
    import sys
    from datetime import datetime
    from pathlib import Path
    from pipelines.common.config import get_settings
    from pipelines.insights.refresh import refresh_insights
    from pipelines.predictors.resources import Resources
    from pipelines.store.postgres import session
    from pipelines.store.session import store_session
    from pipelines.store.target import PostgresTarget

    url, products, data, keywords, taxonomies, now = sys.argv[1:7]
    session.CHUNK_ROWS = 1  # one lock bucket per transaction: many commits, the kill lands between two
    settings = get_settings({"OFF_DATA_DIR": data})
    with store_session(PostgresTarget(url), server_type="off", settings=settings) as con:
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


def _bulk_refresh(target: PostgresTarget, settings: Settings, products: Path, resources: Resources) -> None:
    with store_session(target, server_type="off", settings=settings) as con:
        refresh_insights(con, products, resources=resources, now=NOW, force=True)


def test_sigkill_during_a_postgresql_bulk_apply_leaves_each_product_before_or_after(
    postgres_server: PostgresServer,
    tmp_path: Path,
    resources: Resources,
    keywords_dir: Path,
    taxonomy_dir: Path,
) -> None:
    settings = pg_settings(tmp_path)
    killed_url = postgres_server.create()
    killed = PostgresTarget(killed_url)
    codes = [f"30000000{i:05d}" for i in range(2_000)]
    rows = [prediction("store", code=c, value="Auchan", value_tag="auchan") for c in codes]
    rows += [
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
    with store_session(killed, server_type="off", settings=settings) as con:
        import_predictions(con, predictions_from_rows(rows), now=NOW)
    first = tmp_path / "first.parquet"
    pq.write_table(products_table(*[product(code=c) for c in codes]), first)
    _bulk_refresh(killed, settings, first, resources)
    # the next refresh changes every product: a third are gone (predictions and insights deleted), a third got
    # their brand (its insight deleted), a third more scans (their insights updated)
    changed = [
        product(code=c, brands_tags=["materne"]) if i % 3 == 1 else product(code=c, unique_scans_n=50)
        for i, c in enumerate(codes)
        if i % 3
    ]
    second = tmp_path / "second.parquet"
    pq.write_table(products_table(*changed), second)
    clean = PostgresTarget(postgres_server.create(template=killed_url.rsplit("/", 1)[1]))
    before = _products_state(killed, settings)
    _bulk_refresh(clean, settings, second, resources)
    after = _products_state(clean, settings)
    assert all(before.get(c) != after.get(c) for c in codes)

    with psycopg.connect(killed_url, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM product_insight").fetchone()[0]
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(_BULK_REFRESH),
                killed_url,
                str(second),
                str(tmp_path / "child"),
                str(keywords_dir),
                str(taxonomy_dir),
                NOW.isoformat(),
            ]
        )
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if conn.execute("SELECT count(*) FROM product_insight").fetchone()[0] != stored:
                    break  # a chunk committed
                time.sleep(0.005)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the child ended before it was killed"

    crashed = _products_state(killed, settings)
    assert all(crashed.get(c) in (before.get(c), after.get(c)) for c in codes)
    done = sum(crashed.get(c) == after.get(c) for c in codes)
    assert 0 < done < len(codes)  # killed between two chunks: some products applied, others not
    _bulk_refresh(killed, settings, second, resources)
    assert _products_state(killed, settings) == after
