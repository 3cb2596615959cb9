"""A refresh is one transaction: a SIGKILL between its writes and its COMMIT leaves the previous state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.resources import Resources
from pipelines.store.db import store_writer
from tests.pipelines.insights.conftest import NOW, DuckStore, prediction, product, products_table

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
    apply is chunked and has its own crash test (test_postgres_crash.py)."""
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
