"""Packaging predictions (Robotoff's French Lark grammar): golden parity, rules, and the shape prefilter."""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lark.exceptions import LarkError
from openfoodfacts.utils.text import strip_accents

from pipelines.ocr.rows import ocr_table_from_json
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import (
    MissingResourceError,
    PackagingGrammar,
    Resources,
    UnmappedTerminalError,
)
from pipelines.predictors.rules import packaging
from pipelines.predictors.texts import ocr_texts
from tests.conftest import shared_path
from tests.pipelines.predictors.conftest import predicted, read_jsonl

TYPES = ("packaging",)


@pytest.fixture(scope="module")
def grammar(resources: Resources) -> PackagingGrammar:
    return resources.packaging_grammar


def _payload(path: Path) -> dict:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)


@pytest.fixture(scope="module")
def ocr_table() -> pa.Table:
    """Every real OCR file of ../shared, with the barcode and image id the golden file gives it."""
    golden = read_jsonl(shared_path("golden", "ocr_predictions_dev.jsonl"))
    ids = {g["file"]: (g["barcode"], g["image_id"]) for g in golden}
    tables = []
    for path in sorted(shared_path("ocr-json").iterdir()):
        name = path.name.removesuffix(".gz")
        barcode, image_id = ids.get(name, tuple(name.removesuffix(".json").rsplit("__", 1)[-1].split("_")))
        tables.append(
            ocr_table_from_json(_payload(path), barcode=barcode, image_id=image_id, source=path.name)
        )
    return pa.concat_tables(tables)


def _key(row: dict) -> tuple:
    """Every column, ``data`` as compact JSON in its own key order (Robotoff's order must be kept)."""
    data = row["data"] if isinstance(row["data"], str) else json.dumps(row["data"], separators=(",", ":"))
    columns = ("barcode", "source_image", "type", "value", "value_tag", "predictor", "predictor_version")
    return (*(row[c] for c in columns), row["automatic_processing"], row["confidence"], data)


def test_golden_packaging_predictions(ocr_table: pa.Table, resources: Resources) -> None:
    golden = [g for g in read_jsonl(shared_path("golden", "ocr_predictions_dev.jsonl")) if g["type"] in TYPES]
    assert len(golden) == 1  # "fourchette" on 3038350013804/11; the other files have none
    rows = predict(ocr=ocr_table, types=TYPES, resources=resources).to_pylist()
    assert Counter(_key(r) for r in rows) == Counter(_key(g) for g in golden)


def _values(rows: list[dict]) -> list[str]:
    return [r["value"] for r in rows]


def test_shape_alone_is_kept_unless_excluded(resources: Resources) -> None:
    kept = predicted(resources, "Étui", types=TYPES)
    assert [r["data"] for r in kept] == [
        {"lang": "fr", "element": {"shape": {"value": "etui", "value_tag": "en:sleeve"}}}
    ]
    assert _values(kept) == ["{'shape': 'en:sleeve', 'material': None, 'recycling': None}"]
    assert kept[0]["value_tag"] is None and kept[0]["automatic_processing"] is False
    assert kept[0]["predictor"] == "grammar" and kept[0]["predictor_version"] == "1"
    # "coque" (en:tray) alone is too vague; with a material it is predicted.
    assert predicted(resources, "fruits à coque", types=TYPES) == []
    with_material = predicted(resources, "coque en métal", types=TYPES)
    assert _values(with_material) == ["{'shape': 'en:tray', 'material': 'en:metal', 'recycling': None}"]


def test_shape_material_and_recycling(resources: Resources) -> None:
    rows = predicted(resources, "Packaging: BOÎTE  EN carton  à recycler.", types=TYPES)
    assert _values(rows) == ["{'shape': 'en:box', 'material': 'en:cardboard', 'recycling': 'en:recycle'}"]
    element = rows[0]["data"]["element"]
    assert list(rows[0]["data"]) == ["lang", "element"]
    assert list(element) == ["shape", "material", "recycling"]
    assert element["recycling"] == {"value": "recycler", "value_tag": "en:recycle"}


def test_two_materials_keep_the_last(resources: Resources) -> None:
    rows = predicted(resources, "bouteille en plastique PET", types=TYPES)
    assert [r["data"]["element"] for r in rows] == [
        {
            "shape": {"value": "bouteille", "value_tag": "en:bottle"},
            "material": {"value": "pet", "value_tag": "en:pet-1-polyethylene-terephthalate"},
        }
    ]


def test_several_elements_in_text_order_and_duplicates_kept(resources: Resources) -> None:
    rows = predicted(resources, "pot en verre, couvercle en métal à recycler", types=TYPES)
    assert _values(rows) == [
        "{'shape': 'en:pot', 'material': 'en:glass', 'recycling': None}",
        "{'shape': 'en:lid', 'material': 'en:metal', 'recycling': 'en:recycle'}",
    ]
    # Robotoff predicts an element each time it appears (the store keeps one per value).
    twice = predicted(resources, "bouteille verre à recycler / bouteille verre à recycler", types=TYPES)
    assert _values(twice) == ["{'shape': 'en:bottle', 'material': 'en:glass', 'recycling': 'en:recycle'}"] * 2


def test_no_shape_no_prediction(resources: Resources) -> None:
    assert predicted(resources, "Ingrédients: 100% tomate, plastique, verre", "", "  ", types=TYPES) == []


def test_lark_version_resolution(resources: Resources) -> None:
    """Lark 1.1 (Robotoff's lock) reads "81" as junk here; Lark 1.2+ lexes a material "81 " that is in no
    map, and the whole text fails."""
    rows = predicted(resources, "sacs 81 tablettes", types=TYPES)
    assert _values(rows) == ["{'shape': 'en:bag', 'material': None, 'recycling': None}"]


def test_parse_failures_skip_only_that_text(resources: Resources, caplog: pytest.LogCaptureFixture) -> None:
    # An unmapped material ("81 c"); a vertical tab, which neither WS nor OTHER accepts.
    texts = ("sac 81 c", "x\x0bbouteille", "bouteille en verre")
    with caplog.at_level(logging.WARNING, logger="pipelines.predictors.rules.packaging"):
        rows = predicted(resources, *texts, types=TYPES)
    assert [(r["barcode"], r["value"]) for r in rows] == [
        ("3000000000002", "{'shape': 'en:bottle', 'material': 'en:glass', 'recycling': None}")
    ]
    assert "2 text(s)" in caplog.text


def test_missing_grammar_is_a_missing_resource(tmp_path: Path) -> None:
    resources = Resources(tmp_path / "ocr-keywords")
    assert resources.grammars_dir == tmp_path / "grammars"
    with pytest.raises(MissingResourceError):
        _ = resources.packaging_grammar


# --- the prefilter -----------------------------------------------------------------------------------


def _sdk_normalize(text: str) -> str:
    """Robotoff's steps with the SDK's own fold (slow: it rebuilds its table on every call)."""
    return re.sub(" {2,}", " ", strip_accents(text.lower()))


def test_normalization_equals_robotoffs_on_every_code_point() -> None:
    """``normalize`` and the vectorized ``normalized_texts`` equal the SDK's fold on every code point, in
    runs of neighbours (final sigma, combining marks, \\x7f next to non-ASCII), and in ASCII-only texts."""
    code_points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = ["".join(code_points[i : i + 64]) for i in range(0, len(code_points), 64)]
    texts += ["AΣ B", "ΑΣ", "aΣb", "K\x7f  x", "İ  \x7f", "ÉTUI\x7f", "a\x7f  b", "ﬁlm", "bo\u0301ite"]
    vectorized = packaging.normalized_texts(pl.Series(texts)).to_list()
    assert vectorized == [packaging.normalize(t) for t in texts]
    assert vectorized == [_sdk_normalize(t) for t in texts]


_FRAGMENTS = [
    "étui",
    "BOÎTE",
    "bo\u0302ite",  # combining circumflex: deleted by the fold
    "Bouteille",
    "fourchette",
    "ﬁlm",  # ligature folded to "fi"
    "pot",
    "coque",
    "sacs",
    "couvercle",
    "en",
    "métal",
    "verre",
    "plastique",
    "PET",
    "81",
    "c",
    "à recycler",
    "à jeter",
    "a",
    "tomate",
    " ",
    "  ",
    "\u00a0",
    "\n",
    ",",
    "/",
    "-",
    "\x7f",
    "\x0b",
    "İ",
    "K",
    "œ",
    "ß",
]
TEXTS = st.lists(st.sampled_from(_FRAGMENTS), max_size=8).map("".join)


def _kept(texts: list[str], grammar: PackagingGrammar) -> set[int]:
    return set(packaging.candidate_rows(pl.Series(texts, dtype=pl.String), grammar).to_list())


def _yields_prediction(text: str, grammar: PackagingGrammar) -> bool:
    try:
        return any(packaging.is_predicted(e) for e in packaging.parse_elements(text, grammar))
    except (LarkError, UnmappedTerminalError):  # a failing text yields nothing
        return False


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=8))
def test_prefilter_never_drops_a_text_with_a_prediction(grammar: PackagingGrammar, texts: list[str]) -> None:
    """Without the prefilter, every text that yields a prediction is one the prefilter keeps; and the
    prefilter is exactly "the Python shape terminal matches the normalized text"."""
    kept = _kept(texts, grammar)
    shape = re.compile(grammar.shape_pattern)
    for row, text in enumerate(texts):
        assert (row in kept) == bool(shape.search(packaging.normalize(text))), text
        if _yields_prediction(text, grammar):
            assert row in kept, text


def test_prefilter_on_real_texts(ocr_table: pa.Table, grammar: PackagingGrammar) -> None:
    texts = ocr_texts(ocr_table)["text"].to_list()
    kept = _kept(texts, grammar)
    assert kept  # the "fourchette" image
    for row, text in enumerate(texts):
        if _yields_prediction(text, grammar):
            assert row in kept
