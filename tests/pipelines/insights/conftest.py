"""Insight-refresh fixtures: a real store — a DuckDB file or a PostgreSQL database — with products and
predictions written by hand.

The ``store`` fixture runs each test on both backends with the same assertions: ``DuckStore`` works on a
store file, ``PgStore`` writes only through the seam the pipeline uses (``store_session``: a bulk session
without barcodes, a per-product one with them) and reads through ``store_reader``; its ``annotate`` and
``sql`` go to PostgreSQL directly, as Robotoff's API and its voters do.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import psycopg
import pyarrow as pa
import pytest

from pipelines.common.config import Settings, get_settings
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.insights.refresh import RefreshReport, refresh_insights
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows
from pipelines.store.session import store_reader, store_session
from pipelines.store.target import PostgresTarget
from tests.support.postgres import PostgresServer, truncate_store

BARCODE = "3017620422003"
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
PRODUCT_COLUMNS = (
    "code",
    "normalized_code",
    "dump_line",
    "product_type",
    "lang",
    "labels_tags",
    "categories_tags",
    "brands_tags",
    "emb_codes_tags",
    "quantity",
    "expiration_date",
    "countries_tags",
    "unique_scans_n",
    "images",
)
BACKENDS = ["duckdb", "postgresql"]


def product(code: str = BARCODE, images: tuple[int, ...] = (1, 2), **fields: Any) -> dict[str, Any]:
    """One product row with the importers' columns; images get a 1000×2000 (w×h) full size."""
    row: dict[str, Any] = {
        "code": code,
        "normalized_code": code,
        "dump_line": 1,
        "product_type": "food",
        "lang": "fr",
        "countries_tags": ["en:france"],
        "unique_scans_n": 3,
        "images": [{"key": str(i), "imgid": i, "sizes": {"full": {"w": 1000, "h": 2000}}} for i in images],
    }
    row.update(fields)
    return row


def products_table(*rows: dict[str, Any]) -> pa.Table:
    schema = pa.schema([PRODUCT_SCHEMA.field(c) for c in PRODUCT_COLUMNS])
    return pa.Table.from_pylist([{c: r.get(c) for c in PRODUCT_COLUMNS} for r in rows], schema=schema)


def prediction(type: str, code: str = BARCODE, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "type": type,
        "barcode": code,
        "server_type": "off",
        "predictor_version": "1",
        "data": {},
    }
    row.update(fields)
    return row


def real(value: float | None) -> float | None:
    """A confidence at PostgreSQL's ``real`` precision (Robotoff's column type), the same on both backends."""
    return None if value is None else float(np.float32(value))


def insight_rows(con: duckdb.DuckDBPyConnection, type: str | None = None) -> list[dict[str, Any]]:
    """The insights of a DuckDB connection (the store file or a PostgreSQL working copy) as dicts: ``data``
    parsed, timestamps aware, lists as lists, confidences at ``real`` precision."""
    where = " WHERE type = ?" if type else ""
    query = f"SELECT * FROM product_insight{where} ORDER BY type, value_tag, value"
    rows = con.execute(query, [type] if type else []).fetchall()
    names = [d[0] for d in con.description]
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        item["data"] = orjson.loads(item["data"]) if item["data"] else None
        item["confidence"] = real(item["confidence"])
        out.append(item)
    return out


class DuckStore:
    """A store file with helpers to load predictions, refresh, and read insights back."""

    backend = "duckdb"

    def __init__(self, path: Path, resources: Resources) -> None:
        self.path = path
        self.resources = resources
        self.con = open_store(path)

    def predict(self, *rows: dict[str, Any]) -> None:
        self.import_table(predictions_from_rows(rows))

    def import_table(self, predictions: pa.Table) -> None:
        import_predictions(self.con, predictions, now=NOW)

    def refresh(
        self, *products: dict[str, Any], barcodes: list[str] | None = None, **kwargs: Any
    ) -> RefreshReport:
        kwargs.setdefault("now", NOW)
        return refresh_insights(
            self.con, products_table(*products), barcodes=barcodes, resources=self.resources, **kwargs
        )

    def insights(self, type: str | None = None) -> list[dict[str, Any]]:
        return insight_rows(self.con, type)

    def annotate(self, insight_id: Any, annotation: int = 1) -> None:
        self.con.execute("UPDATE product_insight SET annotation = ? WHERE id = ?", [annotation, insight_id])

    def sql(self, query: str, *params: Any) -> list[tuple]:
        """Run ``query`` (``?`` placeholders) on the store itself."""
        return self.con.execute(query, list(params)).fetchall()

    def close(self) -> None:
        self.con.close()


class PgStore:
    """The same helpers on a PostgreSQL store: writes through ``store_session``, reads through
    ``store_reader``; ``annotate`` and ``sql`` act on PostgreSQL directly (another client's edits)."""

    backend = "postgresql"

    def __init__(self, url: str, settings: Settings, resources: Resources) -> None:
        self.url = url
        self.target = PostgresTarget(url)
        self.settings = settings
        self.resources = resources
        self.conn = psycopg.connect(url, autocommit=True, options="-c search_path=public,offpipe")

    @contextmanager
    def session(self, barcodes: list[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """A writing session of flavor off: bulk (``barcodes`` None) or per product."""
        with store_session(self.target, server_type="off", barcodes=barcodes, settings=self.settings) as con:
            yield con

    def predict(self, *rows: dict[str, Any]) -> None:
        self.import_table(predictions_from_rows(rows))

    def import_table(self, predictions: pa.Table) -> None:
        with self.session() as con:
            import_predictions(con, predictions, now=NOW)

    def refresh(
        self, *products: dict[str, Any], barcodes: list[str] | None = None, **kwargs: Any
    ) -> RefreshReport:
        kwargs.setdefault("now", NOW)
        with self.session(barcodes) as con:
            return refresh_insights(
                con, products_table(*products), barcodes=barcodes, resources=self.resources, **kwargs
            )

    def insights(self, type: str | None = None) -> list[dict[str, Any]]:
        reader = store_reader(
            self.target, server_type="off", tables=["product_insight"], settings=self.settings
        )
        with reader as con:
            return insight_rows(con, type)

    def annotate(self, insight_id: Any, annotation: int = 1) -> None:
        self.conn.execute(
            "UPDATE product_insight SET annotation = %s WHERE id = %s", [annotation, insight_id]
        )

    def sql(self, query: str, *params: Any) -> list[tuple]:
        """Run ``query`` (``?`` placeholders) on PostgreSQL, as another client would."""
        cur = self.conn.execute(query.replace("?", "%s"), list(params))
        return cur.fetchall() if cur.description else []

    def close(self) -> None:
        self.conn.close()


Store = DuckStore | PgStore


@pytest.fixture(scope="session")
def template_store(tmp_path_factory: pytest.TempPathFactory, resources: Resources) -> Path:
    """A store file with its schema and the label/category taxonomies loaded once per session."""
    from pipelines.insights.refresh import TAXONOMIES
    from pipelines.taxonomy import ensure_taxonomies

    path = tmp_path_factory.mktemp("template") / "store.duckdb"
    con = open_store(path)
    ensure_taxonomies(con, list(TAXONOMIES), resources.taxonomy_dir)
    con.close()
    return path


@pytest.fixture
def duckdb_store(tmp_path: Path, template_store: Path, resources: Resources) -> Iterator[DuckStore]:
    """The DuckDB store only: for tests of its file, its writer lock or its transaction."""
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    s = DuckStore(path, resources)
    yield s
    s.close()


@pytest.fixture
def empty_postgres_store(postgres_store_url: str) -> str:
    """The session's PostgreSQL store, emptied for this test: its URL."""
    with psycopg.connect(postgres_store_url, autocommit=True) as conn:
        truncate_store(conn)
    return postgres_store_url


@pytest.fixture
def pg_store(empty_postgres_store: str, tmp_path: Path, resources: Resources) -> Iterator[PgStore]:
    """The PostgreSQL store only, emptied: for tests of PostgreSQL's own behaviour."""
    s = PgStore(empty_postgres_store, pg_settings(tmp_path), resources)
    yield s
    s.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Store:
    """Every insight test on both stores, with the same assertions."""
    return request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'duckdb'}_store")


@pytest.fixture(scope="session")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


def pg_settings(tmp_path: Path) -> Settings:
    """Settings whose data folder is the test's: the PostgreSQL sessions' working copies go to its tmp/."""
    return get_settings({"OFF_DATA_DIR": str(tmp_path / "data")})


# --- PostgreSQL databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_store_url(postgres_server: PostgresServer) -> str:
    """One database with the store's tables for the session's insight tests (emptied before each)."""
    return postgres_server.create()


def duck(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return con.execute(query).fetchall()
