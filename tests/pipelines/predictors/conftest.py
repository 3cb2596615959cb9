"""Predictor fixtures: Robotoff's keyword lists from ../shared/data, golden outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.predictors.resources import Resources
from tests.conftest import shared_path


@pytest.fixture
def ocr_archive(
    data_dir: Path, taxonomy_dir: Path, keywords_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A 300-product synthetic dump converted into ``data_dir``'s off snapshot; returns its OCR archive."""
    from pipelines.convert.convert import convert_dump
    from pipelines.synth.generator import SynthSpec, generate

    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    dump, archive = data_dir / "synth.jsonl.gz", data_dir / "ocr.jsonl.gz"
    spec = SynthSpec(products=300, seed=5, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, dump, ocr_out=archive)
    convert_dump(dump, "off")
    return archive


@pytest.fixture(scope="session")
def resources(keywords_dir: Path, taxonomy_dir: Path) -> Resources:
    return Resources(keywords_dir, taxonomy_dir)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def golden_names() -> tuple[list[dict], list[dict]]:
    products = read_jsonl(shared_path("golden", "name_products_dev.jsonl"))
    predictions = read_jsonl(shared_path("golden", "name_predictions_dev.jsonl"))
    return products, predictions


def text_table(*texts: str, full_texts: list[str] | None = None):
    """A minimal OCR-text table: one image per text, no word boxes (string input, as Robotoff's str path)."""
    import pyarrow as pa

    count = len(texts)
    return pa.table(
        {
            "barcode": [f"{3000000000000 + i}" for i in range(count)],
            "image_id": ["1"] * count,
            "source_image": [f"/300/000/000/{i:04d}/1.jpg" for i in range(count)],
            "full_text": full_texts or list(texts),
            "full_text_contiguous": list(texts),
            "text_annotation": list(texts),
        }
    )


def predicted(
    resources, *texts: str, types: tuple[str, ...], full_texts: list[str] | None = None
) -> list[dict]:
    """Predictions of ``types`` for each text, ``data`` parsed, in output order."""
    from pipelines.predictors.registry import predict

    table = text_table(*texts, full_texts=full_texts)
    rows = predict(ocr=table, types=list(types), resources=resources).to_pylist()
    return [{**r, "data": json.loads(r["data"])} for r in rows]
