"""One code path: insight rows after a bulk refresh equal those after per-product refreshes
(``docs/insights.md``: 300 products of a 50k synthetic dump, every product of the real sample, and OCR-based
insights) — and, one rule for two stores, the PostgreSQL store's rows equal the DuckDB store's
(docs/store.md).

Each data set is predicted, imported into a DuckDB store and bulk-refreshed once (the reference), for both
variants:

- DuckDB: one refresh per sampled product, each on its one-row product table, in a copy of the store as it
  was before the bulk refresh;
- PostgreSQL: the predictions go in through a bulk session; part of the sample is refreshed one product per
  session, as the listener does (one kept working copy), then a bulk session refreshes everything. The
  sample's rows after the per-product sessions, and every product's rows after the bulk refresh, equal the
  reference's.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import Settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.bulk import PRODUCT_COLUMNS
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.store.session import kept_store, store_reader, store_session
from pipelines.store.target import PostgresTarget
from tests.pipelines.insights.conftest import BACKENDS, NOW, pg_settings

# Everything an insight row holds except what a refresh draws fresh each time (id, timestamp).
COMPARED = (
    "barcode type data completed_at annotation annotated_result n_votes username countries brands "
    "process_after value_tag value source_image automatic_processing server_type unique_scans_n "
    "reserved_barcode predictor predictor_version campaign confidence bounding_box lc with_image"
).split()
# PostgreSQL keeps confidences as `real` and JSON as `jsonb` (no key order): both stores' values are compared
# at that precision, and documents with sorted keys.
_AS_STORED = {
    "confidence": "confidence::FLOAT::VARCHAR",
    "data": "json_canonical(data)",
    "bounding_box": "json_canonical(bounding_box)",
}
_COLUMNS = ", ".join(_AS_STORED.get(c, f"{c}::VARCHAR") for c in COMPARED)
# Products refreshed one session each in the PostgreSQL variant (~0.2 s a session): most hold insights, a
# few none. The bulk refresh that follows compares every product.
PG_SAMPLE, PG_SAMPLE_WITHOUT = 40, 8


def _insights(con, barcodes: list[str] | None = None) -> list[tuple]:
    """The compared columns of the insights of ``barcodes`` (None: all), as text, sorted."""
    if barcodes is None:
        return sorted(con.execute(f"SELECT {_COLUMNS} FROM product_insight").fetchall())
    con.register("wanted", pa.table({"barcode": barcodes}))
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM product_insight WHERE barcode IN (SELECT barcode FROM wanted)"
    ).fetchall()
    con.unregister("wanted")
    return sorted(rows)


def _unique_codes(products: pa.Table) -> list[str]:
    codes = [c for c in products["normalized_code"].to_pylist() if c is not None]
    seen: dict[str, int] = {}
    for code in codes:
        seen[code] = seen.get(code, 0) + 1
    return [c for c in codes if seen[c] == 1]


@dataclass
class Reference:
    """A data set predicted once: its products, its predictions, a DuckDB store holding them (not refreshed)
    and the insight rows of a bulk refresh of that store."""

    products: pa.Table
    predictions: pa.Table
    imported: Path
    insights: list[tuple]

    def of(self, barcodes: list[str]) -> list[tuple]:
        wanted = set(barcodes)
        return [row for row in self.insights if row[0] in wanted]


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, keywords_dir: Path, taxonomy_dir: Path
) -> Callable[[Path, pa.Table | None], Reference]:
    """The :class:`Reference` of a snapshot, made once for the module (both variants use it)."""
    resources = Resources(keywords_dir, taxonomy_dir)
    made: dict[Path, Reference] = {}

    def make(snapshot: Path, ocr: pa.Table | None) -> Reference:
        if snapshot not in made:
            products = pq.read_table(snapshot)
            columns = [c for c in PRODUCT_COLUMNS if c in products.column_names]
            predictions = predict(products.select(columns), ocr, resources=resources)
            folder = tmp_path_factory.mktemp("reference")
            imported, bulk = folder / "imported.duckdb", folder / "bulk.duckdb"
            con = open_store(imported)
            import_predictions(con, predictions, now=NOW)
            con.close()
            shutil.copyfile(imported, bulk)
            con = open_store(bulk)
            try:
                refresh_insights(con, snapshot, resources=resources, now=NOW)
                rows = _insights(con)
            finally:
                con.close()
            made[snapshot] = Reference(products, predictions, imported, rows)
        return made[snapshot]

    return make


def _compare(
    backend: str,
    ref: Reference,
    sample: list[str],
    tmp_path: Path,
    resources: Resources,
    request: pytest.FixtureRequest,
) -> None:
    expected = ref.of(sample)
    assert expected, "the sample should hold insights"
    if backend == "postgresql":
        target = PostgresTarget(request.getfixturevalue("empty_postgres_store"))
        _compare_postgres(target, pg_settings(tmp_path), ref, sample, resources)
        return
    single = tmp_path / "single.duckdb"
    shutil.copyfile(ref.imported, single)
    con = open_store(single)
    try:
        for code in sample:
            refresh_insights(con, _one(ref, code), barcodes=[code], resources=resources, now=NOW)
        assert _insights(con, sample) == expected
    finally:
        con.close()


def _one(ref: Reference, code: str) -> pa.Table:
    return ref.products.filter(pc.equal(ref.products["normalized_code"], code))


def _compare_postgres(
    target: PostgresTarget, settings: Settings, ref: Reference, sample: list[str], resources: Resources
) -> None:
    holding = {row[0] for row in ref.insights}
    with_insights = [c for c in sample if c in holding][: PG_SAMPLE - PG_SAMPLE_WITHOUT]
    sample = with_insights + [c for c in sample if c not in holding][:PG_SAMPLE_WITHOUT]
    with store_session(target, server_type="off", settings=settings) as con:
        import_predictions(con, ref.predictions, now=NOW)
    kept = kept_store(target, settings)  # the listener's: one working copy, one session per product
    try:
        for code in sample:
            with kept.session("equivalence", server_type="off", barcodes=[code]) as con:
                refresh_insights(con, _one(ref, code), barcodes=[code], resources=resources, now=NOW)
    finally:
        kept.close()
    assert _stored(target, settings, sample) == ref.of(sample)
    with store_session(target, server_type="off", settings=settings) as con:
        refresh_insights(con, ref.products, resources=resources, now=NOW)
    assert _stored(target, settings) == ref.insights


def _stored(target: PostgresTarget, settings: Settings, barcodes: list[str] | None = None) -> list[tuple]:
    with store_reader(target, server_type="off", tables=["product_insight"], settings=settings) as con:
        return _insights(con, barcodes)


@pytest.mark.parametrize("backend", BACKENDS)
def test_300_synthetic_products(
    backend: str,
    reference: Callable[[Path, pa.Table | None], Reference],
    synthetic_50k: dict[str, Path],
    tmp_path: Path,
    resources: Resources,
    request: pytest.FixtureRequest,
) -> None:
    snapshot = synthetic_50k["products"]
    codes = _unique_codes(pq.read_table(snapshot, columns=["normalized_code"]))
    sample = random.Random(7).sample(codes, 300)
    _compare(backend, reference(snapshot, None), sample, tmp_path, resources, request)


@pytest.fixture(scope="module")
def real_snapshot(tmp_path_factory: pytest.TempPathFactory, real_off_sample: Path) -> Path:
    folder = tmp_path_factory.mktemp("real")
    convert_dump(real_off_sample, "off", out_dir=folder)
    return folder / "products.parquet"


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_real_product(
    backend: str,
    reference: Callable[[Path, pa.Table | None], Reference],
    real_snapshot: Path,
    tmp_path: Path,
    resources: Resources,
    request: pytest.FixtureRequest,
) -> None:
    codes = _unique_codes(pq.read_table(real_snapshot, columns=["normalized_code"]))
    assert len(codes) > 700
    _compare(backend, reference(real_snapshot, None), codes, tmp_path, resources, request)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ocr_based_insights(
    backend: str,
    reference: Callable[[Path, pa.Table | None], Reference],
    synthetic_50k: dict[str, Path],
    tmp_path: Path,
    resources: Resources,
    request: pytest.FixtureRequest,
) -> None:
    snapshot = synthetic_50k["small_products"]
    codes = _unique_codes(pq.read_table(snapshot, columns=["normalized_code"]))
    ocr = pq.read_table(synthetic_50k["ocr"])
    _compare(
        backend, reference(snapshot, ocr), random.Random(8).sample(codes, 150), tmp_path, resources, request
    )


@pytest.fixture
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)
