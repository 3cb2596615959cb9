"""One code path: insight rows after a bulk refresh equal those after per-product refreshes
(``docs/insights.md``: 300 products of a 50k synthetic dump, every product of the real sample, and OCR-based
insights)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.convert.convert import convert_dump
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.bulk import PRODUCT_COLUMNS
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from tests.pipelines.insights.conftest import NOW

# Everything an insight row holds except what a refresh draws fresh each time (id, timestamp).
COMPARED = (
    "barcode type data completed_at annotation annotated_result n_votes username countries brands "
    "process_after value_tag value source_image automatic_processing server_type unique_scans_n "
    "reserved_barcode predictor predictor_version campaign confidence bounding_box lc with_image"
).split()


def _insights(con, barcodes: list[str]) -> list[tuple]:
    con.register("wanted", pa.table({"barcode": barcodes}))
    columns = ", ".join(f"{c}::VARCHAR" for c in COMPARED)
    rows = con.execute(
        f"SELECT {columns} FROM product_insight WHERE barcode IN (SELECT barcode FROM wanted)"
    ).fetchall()
    con.unregister("wanted")
    return sorted(rows)


def _unique_codes(products: pa.Table) -> list[str]:
    codes = [c for c in products["normalized_code"].to_pylist() if c is not None]
    seen: dict[str, int] = {}
    for code in codes:
        seen[code] = seen.get(code, 0) + 1
    return [c for c in codes if seen[c] == 1]


def _compare(
    tmp_path: Path, snapshot: Path, ocr: pa.Table | None, sample: list[str], resources: Resources
) -> None:
    """Store A: bulk refresh. Store B: one refresh per sampled product, each on its one-row product table."""
    products = pq.read_table(snapshot)
    predictions = predict(
        products.select([c for c in PRODUCT_COLUMNS if c in products.column_names]), ocr, resources=resources
    )
    bulk, single = tmp_path / "bulk.duckdb", tmp_path / "single.duckdb"
    con = open_store(bulk)
    import_predictions(con, predictions, now=NOW)
    con.close()
    shutil.copyfile(bulk, single)
    con_bulk, con_single = open_store(bulk), open_store(single)
    try:
        refresh_insights(con_bulk, snapshot, resources=resources, now=NOW)
        for code in sample:
            one = products.filter(pc.equal(products["normalized_code"], code))
            refresh_insights(con_single, one, barcodes=[code], resources=resources, now=NOW)
        expected = _insights(con_bulk, sample)
        assert expected, "the sample should hold insights"
        assert _insights(con_single, sample) == expected
    finally:
        con_bulk.close()
        con_single.close()


def test_300_synthetic_products(tmp_path: Path, synthetic_50k: dict[str, Path], resources: Resources) -> None:
    snapshot = synthetic_50k["products"]
    codes = _unique_codes(pq.read_table(snapshot, columns=["normalized_code"]))
    _compare(tmp_path, snapshot, None, random.Random(7).sample(codes, 300), resources)


def test_every_real_product(tmp_path: Path, real_off_sample: Path, resources: Resources) -> None:
    convert_dump(real_off_sample, "off", out_dir=tmp_path / "real")
    snapshot = tmp_path / "real" / "products.parquet"
    codes = _unique_codes(pq.read_table(snapshot, columns=["normalized_code"]))
    assert len(codes) > 700
    _compare(tmp_path, snapshot, None, codes, resources)


def test_ocr_based_insights(tmp_path: Path, synthetic_50k: dict[str, Path], resources: Resources) -> None:
    snapshot = synthetic_50k["small_products"]
    codes = _unique_codes(pq.read_table(snapshot, columns=["normalized_code"]))
    ocr = pq.read_table(synthetic_50k["ocr"])
    _compare(tmp_path, snapshot, ocr, random.Random(8).sample(codes, 150), resources)


@pytest.fixture
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)
