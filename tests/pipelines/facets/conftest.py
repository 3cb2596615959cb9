"""Fixtures of the facet writer's tests: a tiny Parquet snapshot and a real store file, written by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.barcodes import image_path, is_valid_code, normalize_code
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.facets.plan import FIBER_FACET, FIBER_NUTRITION_FACET, is_mongo_code, plan_fiber_facets
from pipelines.store.db import store_writer
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows

PHOTOS = FIBER_FACET
NUTRITION = FIBER_NUTRITION_FACET
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def product(
    code: str,
    *,
    images: Sequence[int] = (1, 2, 3),
    nutrition_imgid: int | None = None,
    has_fiber: bool = False,
    tags: Sequence[str] = (),
    warnings: Sequence[str] = (),
    dump_line: int = 1,
    modified: int = 1_700_000_000,
) -> dict[str, Any]:
    """One snapshot row: raw images keyed by id, optionally a selected ``nutrition_fr`` image."""
    items: list[dict[str, Any]] = [{"key": str(i), "imgid": i} for i in images]
    if nutrition_imgid is not None:
        items.append({"key": "nutrition_fr", "imgid": nutrition_imgid})
    normalized = normalize_code(code)
    return {
        "code": code,
        "normalized_code": normalized,
        "code_valid": is_valid_code(code),
        "images": items,
        "has_fiber_value": has_fiber,
        "data_quality_tags": list(tags),
        "data_quality_warnings_tags": list(warnings),
        "dump_line": dump_line,
        "last_modified_t": modified,
    }


def mention(
    barcode: str,
    image: int | str | None,
    *,
    keys: Iterable[str] = ("fiber", "nutrient_value"),
    server_type: str = "off",
    type: str = "nutrient_mention",
) -> dict[str, Any]:
    """A nutrient-mention prediction of image ``image`` (an image id, or a source_image path as it is)."""
    source = image_path(barcode, image) if isinstance(image, int) else image
    return {
        "type": type,
        "barcode": barcode,
        "server_type": server_type,
        "data": {"mentions": {key: [{"raw": key, "span": [0, len(key)]}] for key in keys}},
        "source_image": source,
    }


def write_snapshot(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    """The rows as a Parquet file of the snapshot's full schema (other columns null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=PRODUCT_SCHEMA), path)
    return path


def write_store(path: Path, predictions: Iterable[dict[str, Any]]) -> Path:
    """A store file holding ``predictions`` (through the store's own import)."""
    with store_writer(path, purpose="test") as con:
        rows = list(predictions)
        if rows:
            import_predictions(con, predictions_from_rows(rows), now=NOW)
    return path


@dataclass
class World:
    """A snapshot and a store in one folder; ``plan()`` runs the planner on them."""

    root: Path
    products: list[dict[str, Any]] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    snapshot_file: Path | None = None  # default: <root>/products.parquet

    @property
    def snapshot(self) -> Path:
        return self.snapshot_file or self.root / "products.parquet"

    @property
    def store(self) -> Path:
        return self.root / "store.duckdb"

    def write(self) -> World:
        write_snapshot(self.snapshot, self.products)
        write_store(self.store, self.predictions)
        return self

    def plan(self) -> pa.Table:
        return plan_fiber_facets(self.store, self.snapshot)

    def documents(self) -> list[dict[str, Any]]:
        """MongoDB documents mirroring the snapshot's rows (valid codes only)."""
        return [
            {
                "code": row["code"],
                "data_quality_tags": list(row["data_quality_tags"]),
                "data_quality_warnings_tags": list(row["data_quality_warnings_tags"]),
            }
            for row in self.products
            if is_mongo_code(row["code"])
        ]
