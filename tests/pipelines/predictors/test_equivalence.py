"""One code path: predictions over a whole table, restricted to a product or an image, equal the predictions
over that product or image alone (``docs/predictions.md``: 300 products of a 50k synthetic dump, every real
product)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.convert.convert import convert_dump
from pipelines.predictors.bulk import PRODUCT_COLUMNS
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(tuple(r.values()) for r in table.to_pylist())


def _products(path: Path) -> pa.Table:
    table = pq.read_table(path)
    return table.select([c for c in PRODUCT_COLUMNS if c in table.column_names])


@pytest.fixture(scope="module")
def synthetic(synthetic_50k: dict[str, Path]) -> tuple[pa.Table, pa.Table]:
    return _products(synthetic_50k["products"]), pq.read_table(synthetic_50k["ocr"])


def _assert_equivalent_products(products: pa.Table, sample: list[int], resources: Resources) -> None:
    whole = predict(products, resources=resources)
    for index in sample:
        one = products.slice(index, 1)
        code = one["normalized_code"][0].as_py()
        restricted = whole.filter(pc.equal(whole["barcode"], code))
        assert _rows(predict(one, resources=resources)) == _rows(restricted), code


def test_300_synthetic_products(synthetic, resources: Resources) -> None:
    products, _ = synthetic
    assert products.num_rows == 50_000
    sample = random.Random(4).sample(range(products.num_rows), 300)
    # conflict pairs share a normalized code: keep products whose code is theirs alone
    codes = products["normalized_code"].to_pylist()
    unique = {c for c in codes if codes.count(c) == 1} if len(set(codes)) != len(codes) else set(codes)
    _assert_equivalent_products(products, [i for i in sample if codes[i] in unique], resources)


def test_every_real_product(tmp_path: Path, real_off_sample: Path, resources: Resources) -> None:
    convert_dump(real_off_sample, "off", out_dir=tmp_path)
    products = _products(tmp_path / "products.parquet")
    codes = products["normalized_code"].to_pylist()
    unique = [i for i, c in enumerate(codes) if c is not None and codes.count(c) == 1]
    assert len(unique) > 700
    _assert_equivalent_products(products, unique, resources)


def test_ocr_images(synthetic, resources: Resources) -> None:
    _, ocr = synthetic
    whole = predict(ocr=ocr, resources=resources)
    assert whole.num_rows > ocr.num_rows  # at least lang and orientation per image, plus planted facts
    for index in random.Random(5).sample(range(ocr.num_rows), 60):
        one = ocr.slice(index, 1)
        image = one["source_image"][0].as_py()
        restricted = whole.filter(pc.equal(whole["source_image"], image))
        assert _rows(predict(ocr=one, resources=resources)) == _rows(restricted), image
