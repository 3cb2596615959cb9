"""The vectorized prefilter of every regex rule is a superset of the Python pattern
(``pipelines/predictors/regex.py``)."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.predictors.regex import TextRegex, superset_pattern
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules import category, expiration_date, label, packager_code, product_weight, store
from tests.conftest import shared_path
from tests.pipelines.predictors.conftest import read_jsonl


def all_rules(resources: Resources) -> list[TextRegex]:
    rules = [
        *label.LABEL_REGEXES,
        *product_weight.MATCHERS,
        *packager_code.RULES,
        *expiration_date.RULES,
        *category.RULES,
    ]
    rules.append(store._store_regex(tuple(resources.lines("store_regex.txt")))[0])
    return rules


def assert_superset(rule: TextRegex, texts: list[str]) -> None:
    if rule.prefilter is None:
        return
    kept = pl.Series(texts, dtype=pl.String).str.contains(rule.prefilter).to_list()
    for text, hit in zip(texts, kept, strict=True):
        if rule.pattern.search(text):
            assert hit, (rule.name, text)


def test_every_rule_has_a_prefilter(resources: Resources) -> None:
    assert [r.name for r in all_rules(resources) if r.prefilter is None] == []


def test_superset_on_real_texts_and_planted_matches(resources: Resources) -> None:
    names = [p["product_name"] for p in read_jsonl(shared_path("golden", "name_products_dev.jsonl"))]
    planted = [
        "Poids net : 500g",
        "2 x 125 ge",
        "FR-BIO-01",
        "ES-ECO-001-AN",
        "emb 29181a",
        "DE BY-12 EG",
        "12/03/24",
        "appellation Comté protégée",
        "ingrédients\x1cbio.",  # Python's \s matches the information separators, Rust's does not
        "agriculture\u00a0bio,",
    ]
    for rule in all_rules(resources):
        assert_superset(rule, names + planted)


TEXTS = st.text(
    st.sampled_from(list("poidsnetgkml 0123456789x.,:/-\x1c\u00a0ABCDEFRIOÖéè℮ıİſK")), max_size=30
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=20))
def test_superset_on_random_texts(texts: list[str]) -> None:
    for rule in (
        *product_weight.MATCHERS,
        *label.LABEL_REGEXES,
        *packager_code.RULES,
        *expiration_date.RULES,
    ):
        assert_superset(rule, texts)


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"(?<!\w)ab(?!\d)", 0, "ab"),
        (r"a\sb", 0, r"a[\s\x1c-\x1f]b"),
        (r"[\s.]x", re.I, r"(?i)[\s\x1c-\x1f.ıİ]x"),
        (r"[- \n]x[a-]", re.I, r"(?i)[- \nıİ]x[aıİ-]"),
        (r"fibre", re.I, r"(?i)f[iIıİ]bre"),
        (r"[^a-z]i", 0, r"[^a-z]i"),
        (r"(?P<x>a)\w", 0, r"(?:a)[\w\p{N}]"),
        (r"a\bb", 0, None),
        (r"a(?=b)c", 0, "ac"),
    ],
)
def test_superset_translation(pattern: str, flags: int, expected: str | None) -> None:
    assert superset_pattern(pattern, flags) == expected
