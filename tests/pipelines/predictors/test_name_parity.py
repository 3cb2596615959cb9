"""Parity with Robotoff on product names: its own predictions on the dev names (../shared/data/golden)."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl

from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources

COMPARED = ("barcode", "type", "value", "value_tag", "predictor", "automatic_processing")


def _key(row: dict) -> tuple:
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    return (*(row[c] for c in COMPARED), json.dumps(data, sort_keys=True, ensure_ascii=False))


def test_name_predictions_equal_robotoffs(golden_names, resources: Resources) -> None:
    products, golden = golden_names
    table = pl.DataFrame(
        {"code": [p["barcode"] for p in products], "product_name": [p["product_name"] for p in products]}
    )
    rows = predict(table, resources=resources).to_pylist()
    assert Counter(_key(r) for r in rows) == Counter(_key(g) for g in golden)
    # "no prediction" is golden too: every name has exactly Robotoff's number of predictions
    per_code = Counter(r["barcode"] for r in rows)
    assert {p["barcode"]: per_code.get(p["barcode"], 0) for p in products} == {
        p["barcode"]: p["n_predictions"] for p in products
    }
    assert {r["predictor_version"] for r in rows} == {"1"}
    assert all(r["source_image"] is None and r["server_type"] == "off" for r in rows)
