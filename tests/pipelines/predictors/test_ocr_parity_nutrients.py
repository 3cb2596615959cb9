"""Parity with Robotoff for nutrient, nutrient_mention, image_lang, image_orientation and image_flag on the
real OCR files of ../shared/data/ocr-json: its own predictions (golden), ``data`` key order included."""

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

TYPES = ("nutrient", "nutrient_mention", "image_lang", "image_orientation", "image_flag")
COMPARED = (
    "barcode",
    "source_image",
    "type",
    "value",
    "value_tag",
    "predictor",
    "automatic_processing",
    "confidence",
)


def _payload(path: Path) -> dict:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


def _ids(path: Path, golden: list[dict]) -> tuple[str, str]:
    """Barcode and image id of a file: from its golden rows, else from ``<origin>__<barcode>_<id>.json``."""
    for row in golden:
        if row["file"] in (path.name, path.name.removesuffix(".gz")):
            return row["barcode"], row["image_id"]
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    barcode, image_id = stem.rsplit("__", 1)[-1].split("_")
    return barcode, image_id


@pytest.fixture(scope="module")
def golden() -> list[dict]:
    return read_jsonl(shared_path("golden", "ocr_predictions_dev.jsonl"))


@pytest.fixture(scope="module")
def ocr_table(golden: list[dict]) -> pa.Table:
    tables = []
    for path in sorted(shared_path("ocr-json").iterdir()):
        barcode, image_id = _ids(path, golden)
        tables.append(
            ocr_table_from_json(_payload(path), barcode=barcode, image_id=image_id, source=path.name)
        )
    return pa.concat_tables(tables)


def _key(row: dict) -> tuple:
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    # no sort_keys: Robotoff's key order (nutrients, mentions, count/percent, box last) is part of parity
    return (*(row[c] for c in COMPARED), json.dumps(data, ensure_ascii=False))


@pytest.fixture(scope="module")
def predicted_rows(ocr_table: pa.Table, resources: Resources) -> list[dict]:
    return predict(ocr=ocr_table, types=TYPES, resources=resources).to_pylist()


def test_predictions_equal_robotoffs(predicted_rows: list[dict], golden: list[dict]) -> None:
    expected = [g for g in golden if g["type"] in TYPES]
    assert Counter(_key(r) for r in predicted_rows) == Counter(_key(g) for g in expected)
    assert {r["predictor_version"] for r in predicted_rows} == {"1"}
    assert {r["server_type"] for r in predicted_rows} == {"off"}


def test_one_prediction_per_image_and_type(predicted_rows: list[dict], ocr_table: pa.Table) -> None:
    per_image = Counter((r["source_image"], r["type"]) for r in predicted_rows)
    assert set(per_image.values()) == {1}
    # every file has a full-text annotation: each gets its language and orientation predictions
    images = set(ocr_table.column("source_image").to_pylist())
    for kind in ("image_lang", "image_orientation", "nutrient_mention"):
        assert {image for image, t in per_image if t == kind} == images


def test_golden_covers_the_rules(golden: list[dict]) -> None:
    """Guard: the golden set has boxes, multi-language mentions and several orientations, or parity proves
    little."""
    mentions = [g["data"]["mentions"] for g in golden if g["type"] == "nutrient_mention"]
    entries = [e for m in mentions for key, values in m.items() if key != "nutrient_value" for e in values]
    assert any("bounding_box_absolute" in e for e in entries)
    assert {len(e["languages"]) for e in entries} > {1}
    orientations = {g["data"]["orientation"] for g in golden if g["type"] == "image_orientation"}
    assert {"up", "left", "right"} <= orientations
