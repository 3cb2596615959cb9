"""Brand rules (``robotoff/prediction/ocr/brand.py``): curated list (automatic, its own patterns), taxonomy
list, blacklist, numeric names, and the curated list first."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from pipelines.predictors.keywords import KeywordSet
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import Resources, keep_brand
from tests.pipelines.predictors.conftest import predicted


def brands(resources: Resources, name: str) -> list[tuple]:
    table = pl.DataFrame({"code": ["3017620422003"], "product_name": [name]})
    rows = predict(table, types=["brand"], resources=resources).to_pylist()
    return [(r["predictor"], r["value"], r["value_tag"]) for r in rows]


def test_curated_pattern_gives_the_curated_name_and_is_automatic_on_ocr(resources: Resources) -> None:
    [row] = [
        r
        for r in predicted(resources, "Sauce Sacla Italia", types=("brand",))
        if r["predictor"] == "curated-list"
    ]
    assert (row["value"], row["value_tag"], row["automatic_processing"]) == ("Sacla", "sacla", True)
    assert row["data"] == {"text": "Sacla Italia"}


def test_product_name_brands_are_never_automatic(resources: Resources) -> None:
    table = pl.DataFrame({"code": ["3017620422003"], "product_name": ["Sacla Italia pesto"]})
    rows = predict(table, types=["brand"], resources=resources).to_pylist()
    assert {r["automatic_processing"] for r in rows} == {False}


def test_both_lists_and_curated_first(resources: Resources) -> None:
    found = brands(resources, "Auchan production, Coca-Cola")
    assert found[0][0] == "curated-list"
    assert ("curated-list", "Auchan", "auchan") in found
    assert [f for f in found if f[0] == "taxonomy"] == sorted(f for f in found if f[0] == "taxonomy")


def test_blacklisted_tags_are_not_matched(resources: Resources) -> None:
    blacklisted = sorted(resources.brand_blacklist)
    assert blacklisted
    assert all(tag not in {key for key, _ in resources.taxonomy_brands.clean.values()} for tag in blacklisted)


@pytest.mark.parametrize(("key", "name", "kept"), [("7-up", "7 Up", True), ("1664", "1664", False)])
def test_numeric_names_are_dropped(key: str, name: str, kept: bool) -> None:
    assert keep_brand(key, name, frozenset()) is kept
    assert keep_brand(key, name, frozenset({key})) is False


def test_lists_come_from_the_keywords_folder(tmp_path: Path) -> None:
    (tmp_path / "brand.txt").write_text("// comment\nfoo||Foo||foo bar\n")
    (tmp_path / "brand_from_taxonomy.gz").write_bytes(__import__("gzip").compress(b"baz||Baz\n123||123\n"))
    (tmp_path / "brand_taxonomy_blacklist.txt").write_text("baz\n")
    resources = Resources(tmp_path)
    assert resources.curated_brands.clean == {"foo bar": ("foo", "Foo")}
    assert resources.taxonomy_brands.clean == {}
    assert isinstance(resources.taxonomy_brands, KeywordSet)
