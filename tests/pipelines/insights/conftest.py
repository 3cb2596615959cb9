"""Insight-refresh fixtures: a real store file, products and predictions written by hand."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.insights.refresh import RefreshReport, refresh_insights
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows

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


class Store:
    """A store file with helpers to load predictions, refresh, and read insights back."""

    def __init__(self, path: Path, resources: Resources) -> None:
        self.path = path
        self.resources = resources
        self.con = open_store(path)

    def predict(self, *rows: dict[str, Any]) -> None:
        import_predictions(self.con, predictions_from_rows(rows), now=NOW)

    def refresh(
        self, *products: dict[str, Any], barcodes: list[str] | None = None, **kwargs: Any
    ) -> RefreshReport:
        kwargs.setdefault("now", NOW)
        return refresh_insights(
            self.con, products_table(*products), barcodes=barcodes, resources=self.resources, **kwargs
        )

    def insights(self, type: str | None = None) -> list[dict[str, Any]]:
        query = (
            "SELECT * FROM product_insight"
            + (" WHERE type = ?" if type else "")
            + " ORDER BY type, value_tag, value"
        )
        rows = self.con.execute(query, [type] if type else []).fetchall()
        names = [d[0] for d in self.con.description]
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            item["data"] = orjson.loads(item["data"]) if item["data"] else None
            out.append(item)
        return out

    def annotate(self, insight_id: Any, annotation: int = 1) -> None:
        self.con.execute("UPDATE product_insight SET annotation = ? WHERE id = ?", [annotation, insight_id])


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
def store(tmp_path: Path, template_store: Path, resources: Resources) -> Iterator[Store]:
    path = tmp_path / "store.duckdb"
    shutil.copyfile(template_store, path)
    s = Store(path, resources)
    yield s
    s.con.close()


@pytest.fixture(scope="session")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


def duck(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return con.execute(query).fetchall()
