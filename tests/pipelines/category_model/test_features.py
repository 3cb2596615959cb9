"""Model inputs: stable token ids, names before ingredients, nutrient scaling, and one row = the same row in
a table of many."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.category_model.features import (
    FEATURES,
    MAX_TOKENS,
    NUTRIENTS,
    _frame,
    build_inputs,
    product_tokens,
    token_id,
)
from pipelines.convert.schema import PRODUCT_SCHEMA

COLUMNS = ("product_name", "ingredients_original_tags", "nutriments")
SCHEMA = pa.schema([PRODUCT_SCHEMA.field(name) for name in COLUMNS])


def _nutriment(name: str, per_100g: float | None) -> dict:
    empty = dict.fromkeys(("value", "serving", "prepared_value", "prepared_100g", "prepared_serving"))
    return {"name": name, "100g": per_100g, "unit": "g", "prepared_unit": None, **empty}


def _table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


ROWS = [
    {
        "product_name": [
            {"lang": "main", "text": "Pâte à tartiner Noisettes"},
            {"lang": "en", "text": "Hazelnut spread"},
        ],
        "ingredients_original_tags": ["en:sugar", "en:hazelnut", "en:sugar"],
        "nutriments": [
            _nutriment("fat", 30.9), _nutriment("energy-kcal", 539.0), _nutriment("salt", None),
            _nutriment("fat", 99.0),  # listed twice: the first value counts
        ],
    },
    {"product_name": None, "ingredients_original_tags": None, "nutriments": None},
    {
        "product_name": [{"lang": "main", "text": "a b Cola COLA cola 330ml"}],
        "ingredients_original_tags": [],
        "nutriments": [
            _nutriment("sugars", 250.0), _nutriment("energy-kcal", 9000.0), _nutriment("fiber", -3.0)
        ],
    },
]  # fmt: skip


def test_token_ids_are_a_fixed_hash_in_the_vocabulary() -> None:
    """A model trained today reads ids computed by later releases: the values are pinned."""
    assert token_id("n:chocolate") == 99757
    assert token_id("i:en:sugar") == 93681
    assert token_id("n:chocolate", 1000) == 748
    assert all(1 <= token_id(f"n:{i}", 7) < 7 for i in range(200))


def test_tokens_names_in_every_language_then_ingredients_distinct_and_lowercased() -> None:
    tokens = product_tokens(_frame(_table(ROWS)))
    by_row = {row: tokens.filter(tokens["row"] == row)["token"].to_list() for row in range(3)}
    assert by_row[0] == [
        "n:pâte", "n:tartiner", "n:noisettes", "n:hazelnut", "n:spread", "i:en:sugar", "i:en:hazelnut",
    ]  # fmt: skip
    assert by_row[1] == []  # nothing known: no token (all padding)
    assert by_row[2] == ["n:cola", "n:330ml"]  # one-letter words dropped, case folded, repeats once


def test_inputs_place_ids_in_token_order_with_padding_after() -> None:
    inputs = build_inputs(_table(ROWS))
    assert inputs.tokens.shape == (3, MAX_TOKENS) and inputs.tokens.dtype == np.int64
    assert inputs.tokens[0, :7].tolist() == [
        token_id(t)
        for t in (
            "n:pâte",
            "n:tartiner",
            "n:noisettes",
            "n:hazelnut",
            "n:spread",
            "i:en:sugar",
            "i:en:hazelnut",
        )
    ]
    assert not inputs.tokens[0, 7:].any() and not inputs.tokens[1].any()


def test_nutrients_are_scaled_clipped_and_flagged() -> None:
    features = build_inputs(_table(ROWS)).features
    assert features.shape == (3, FEATURES) and features.dtype == np.float32
    index = {name: i for i, (name, _, _) in enumerate(NUTRIENTS)}
    fat, kcal, salt = (2 * index[n] for n in ("fat", "energy-kcal", "salt"))
    assert features[0, fat] == np.float32(0.309) and features[0, fat + 1] == 1.0
    assert features[0, kcal] == np.float32(0.539) and features[0, kcal + 1] == 1.0
    assert features[0, salt] == 0.0 and features[0, salt + 1] == 0.0  # no value: absent, not zero
    assert not features[1].any()
    sugars, fiber = 2 * index["sugars"], 2 * index["fiber"]
    assert features[2, sugars] == 1.0 and features[2, kcal] == 4.0  # clipped
    assert features[2, fiber] == 0.0 and features[2, fiber + 1] == 1.0  # negative: clipped to 0, present


def test_token_cap_keeps_names_first() -> None:
    words = " ".join(f"word{i}" for i in range(MAX_TOKENS + 10))
    row = {
        "product_name": [{"lang": "main", "text": words}],
        "ingredients_original_tags": ["en:salt"],
        "nutriments": None,
    }
    tokens = build_inputs(_table([row])).tokens[0]
    assert tokens.tolist() == [token_id(f"n:word{i}") for i in range(MAX_TOKENS)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "names": st.lists(st.text(max_size=40), max_size=3),
                "ingredients": st.one_of(st.none(), st.lists(st.text(min_size=1, max_size=15), max_size=5)),
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_each_row_alone_equals_that_row_among_others(products: list[dict]) -> None:
    """The per-product path computes one row with the function the bulk run calls on millions."""
    rows = [
        {
            "product_name": [{"lang": "main", "text": text} for text in p["names"]] or None,
            "ingredients_original_tags": p["ingredients"],
            "nutriments": [_nutriment("proteins", float(len(p["names"])))],
        }
        for p in products
    ]
    together = build_inputs(_table(rows))
    for position, row in enumerate(rows):
        alone = build_inputs(_table([row]))
        assert np.array_equal(alone.tokens[0], together.tokens[position])
        assert np.array_equal(alone.features[0], together.features[position])
        used = int((together.tokens[position] > 0).sum())
        assert not together.tokens[position, used:].any()  # ids first, then only padding
