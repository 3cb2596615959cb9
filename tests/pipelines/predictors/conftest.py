"""Predictor fixtures: Robotoff's keyword lists from ../shared/data, golden outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.predictors.resources import Resources
from tests.conftest import shared_path


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
