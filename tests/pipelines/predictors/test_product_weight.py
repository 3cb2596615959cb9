"""Product weight rules (``robotoff/prediction/ocr/product_weight.py``): matchers, validation, normalization,
automatic processing."""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules import product_weight as pw


def weights(text: str, resources: Resources) -> list[dict]:
    table = pl.DataFrame({"code": ["3017620422003"], "product_name": [text]})
    rows = predict(table, types=["product_weight"], resources=resources).to_pylist()
    return [{**r, "data": json.loads(r["data"])} for r in rows]


@pytest.mark.parametrize(
    ("text", "value", "matcher", "auto", "normalized"),
    [
        ("Poids net: 500 g", "500 g", "with_mention", True, (500, "g")),
        ("poids net égoutté 250g", "250 g", "with_mention", True, (250, "g")),
        ("Net Wt. 16 oz", "16 oz", "with_mention", True, (453.5923700000001, "g")),
        ("net wt 12 fl oz", "12 fl oz", "with_mention", True, (360, "ml")),
        ("Volume net total 1 L", "1 l", "with_mention", True, (1000, "ml")),
        ("1250 g net", "1250 g", "with_ending_mention", True, (1250, "g")),
        ("peso neto 1255 g", "1255 g", "with_mention", False, (1255, "g")),  # suspicious: last digit not 0
        ("6 x 125 g", "6 x 125 g", "multi_packaging", True, (125, "g")),
        ("tablette 100ge", "100 g", "no_mention", False, (100, "g")),
        ("bouteille 75 cle", "75 cl", "no_mention", False, (750, "ml")),
    ],
)
def test_accepted_weights(text, value, matcher, auto, normalized, resources) -> None:
    rows = weights(text, resources)
    assert [r["value"] for r in rows] == [value]
    data = rows[0]["data"]
    assert data["matcher_type"] == matcher
    assert data["automatic_processing"] is auto
    assert (data["normalized_value"], data["normalized_unit"]) == normalized
    assert type(data["normalized_value"]) is type(normalized[0])
    assert rows[0]["automatic_processing"] is False  # from a product name: never automatic
    assert data["source"] == "product_name"
    assert data["priority"] == {"with_mention": 1, "with_ending_mention": 1, "multi_packaging": 2}.get(
        matcher, 3
    )


@pytest.mark.parametrize(
    "text",
    [
        "poids net 1,5 kg",  # not an integer
        "poids net 0500 g",  # leading zero
        "poids net 5 g",  # ≤ 10
        "poids net 10 kg",  # ≥ 10,000 g
        "21 x 100 g",  # more than 20 items
        "500 g",  # no mention and no ℮ sign
        "poidsnet 500 g",  # a letter before the prompt
        "poids net 500 gr",  # a letter after the unit
    ],
)
def test_rejected_weights(text, resources) -> None:
    assert weights(text, resources) == []


def test_all_matchers_report_their_own_matches(resources) -> None:
    rows = weights("Poids net : 2 x 200 ge", resources)
    assert sorted(r["data"]["matcher_type"] for r in rows) == ["multi_packaging", "no_mention"]


@given(st.integers(min_value=11, max_value=9999), st.sampled_from(["g", "ml"]))
def test_normalization_of_base_units_keeps_the_integer(value: int, unit: str) -> None:
    assert pw.normalize_weight(str(value), unit) == (value, unit)


@given(st.integers(min_value=1, max_value=9))
def test_kilograms_and_litres_are_exact_integers(value: int) -> None:
    assert pw.normalize_weight(str(value), "kg") == (value * 1000, "g")
    assert pw.normalize_weight(f"{value}.0", "l") == (value * 1000, "ml")
    assert isinstance(pw.normalize_weight(str(value), "kg")[0], int)
