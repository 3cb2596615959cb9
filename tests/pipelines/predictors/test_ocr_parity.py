"""Parity with Robotoff on real OCR files: its own predictions on ../shared/data/ocr-json (golden)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.ocr.rows import ocr_table_from_json
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from tests.conftest import shared_path
from tests.pipelines.predictors.conftest import read_jsonl

# Types whose predictors are compared here (golden rows of other types are checked by their own tests).
TYPES = ("brand", "label", "product_weight", "packager_code", "expiration_date", "store", "category")
COMPARED = ("barcode", "source_image", "type", "value", "value_tag", "predictor", "automatic_processing")


def _payload(path: Path) -> dict:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


@pytest.fixture(scope="module")
def ocr_table() -> pa.Table:
    folder = shared_path("ocr-json")
    golden = read_jsonl(shared_path("golden", "ocr_predictions_dev.jsonl"))
    ids = {g["file"]: (g["barcode"], g["image_id"]) for g in golden}
    tables = []
    for path in sorted(folder.iterdir()):
        name = path.name.removesuffix(".gz")
        stem = name.removesuffix(".json")
        barcode, image_id = ids.get(name, tuple(stem.rsplit("__", 1)[-1].split("_")))
        tables.append(
            ocr_table_from_json(_payload(path), barcode=barcode, image_id=image_id, source=path.name)
        )
    return pa.concat_tables(tables)


def _key(row: dict) -> tuple:
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    return (*(row[c] for c in COMPARED), json.dumps(data, sort_keys=True, ensure_ascii=False))


def test_ocr_predictions_equal_robotoffs(ocr_table: pa.Table, resources: Resources) -> None:
    golden = [g for g in read_jsonl(shared_path("golden", "ocr_predictions_dev.jsonl")) if g["type"] in TYPES]
    rows = predict(ocr=ocr_table, types=TYPES, resources=resources).to_pylist()
    assert Counter(_key(r) for r in rows) == Counter(_key(g) for g in golden)
    assert {r["predictor_version"] for r in rows} == {"1"}
