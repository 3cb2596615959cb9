"""One OCR JSON → one row: source paths, SDK text equality, word boxes equal to the SDK's match boxes."""

from __future__ import annotations

import copy
import logging
import random
from collections import Counter
from typing import Any

import orjson
import pyarrow as pa
import pytest
from openfoodfacts.ocr import OCRResult, get_match_bounding_box

from pipelines import barcodes
from pipelines.ocr.rows import (
    INVALID_BARCODE,
    INVALID_IMAGE_ID,
    INVALID_SOURCE,
    NO_RESPONSES,
    OCR_ERROR,
    PARSE_ERROR,
    InvalidOcrSourceError,
    OcrRecordError,
    ocr_table_from_json,
    parse_source,
)
from pipelines.ocr.schema import OCR_TEXT_SCHEMA
from tests.pipelines.ocr.conftest import RealOcr, SynthOcr

# -- source paths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "barcode", "image_id"),
    [
        ("/303/835/001/3804/11.json", "3038350013804", "11"),
        ("/000/001/234/5678/1.json", "12345678", "1"),  # migrated EAN8 folder
        ("/12345678/2.json", "12345678", "2"),  # legacy EAN8 folder, same product
        ("/089/000/000/1202/1.json.gz", "0890000001202", "1"),
        ("https://images.openfoodfacts.org/images/products/303/835/001/3804/11.json", "3038350013804", "11"),
        ("/images/products/303/835/001/3804/11.json", "3038350013804", "11"),
        ("303/835/001/3804/11.json", "3038350013804", "11"),
        ("/0303/835/001/3804/3.json", "3038350013804", "3"),  # a stray leading zero is normalized away
    ],
)
def test_parse_source(source: str, barcode: str, image_id: str) -> None:
    assert parse_source(source) == (barcode, image_id)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("/12/1.json", INVALID_BARCODE),  # 2 digits: bogus code
        ("/1/2/3/1.json", INVALID_BARCODE),  # 3 digits
        ("/products/1.json", INVALID_BARCODE),  # no digit folder at all
        ("/1.json", INVALID_BARCODE),
        ("/" + "1234567890" * 3 + "/1.json", INVALID_BARCODE),  # 30 digits cannot be stored
        ("/303/835/00\u0661/3804/1.json", INVALID_SOURCE),  # an Arabic-Indic digit is not a digit
        ("/org-acme/303/835/001/3804/1.json", INVALID_SOURCE),  # owner folders are not supported
        ("/data/303/835/001/3804/1.json", INVALID_SOURCE),
        ("/303/835/001/3804/front_fr.json", INVALID_IMAGE_ID),
        ("/303/835/001/3804/1a.json", INVALID_IMAGE_ID),
        ("/303/835/001/3804/\u00b2.json", INVALID_IMAGE_ID),  # superscript two: isdigit() but not a digit
        ("/303/835/001/3804/.json", INVALID_IMAGE_ID),
        ("/303/835/001/3804/11.jpg", INVALID_SOURCE),
        ("/303/835/001/3804/11", INVALID_SOURCE),
        ("", INVALID_SOURCE),
    ],
)
def test_invalid_sources_are_rejected_with_their_reason(source: str, reason: str) -> None:
    with pytest.raises(InvalidOcrSourceError) as caught:
        parse_source(source)
    assert caught.value.reason == reason
    # callers guarding every edge against bad codes catch it as an InvalidBarcodeError
    assert isinstance(caught.value, barcodes.InvalidBarcodeError)


def test_source_image_is_robotoffs_form_built_from_the_normalized_code() -> None:
    table = ocr_table_from_json(
        {"responses": [{}]}, barcode="12345678", image_id=2, source="/12345678/2.json"
    )
    row = table.to_pylist()[0]
    assert row["barcode"] == "12345678"
    assert row["image_id"] == "2"
    assert row["source_image"] == "/000/001/234/5678/2.jpg" == barcodes.image_path("12345678", "2")
    assert row["ocr_source"] == "/12345678/2.json"


@pytest.mark.parametrize(("barcode", "image_id"), [("12", 1), ("abc", 1), ("3038350013804", "front")])
def test_table_from_json_validates_ids(barcode: str, image_id: str | int) -> None:
    with pytest.raises(barcodes.InvalidBarcodeError):
        ocr_table_from_json({"responses": [{}]}, barcode=barcode, image_id=image_id, source="x")


# -- malformed documents -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({}, NO_RESPONSES),
        ({"responses": []}, NO_RESPONSES),
        ({"responses": {"a": 1}}, NO_RESPONSES),
        ({"responses": [{"error": {"code": 3, "message": "Bad image data."}}]}, OCR_ERROR),
        ({"responses": ["text"]}, PARSE_ERROR),
        ({"responses": [{"fullTextAnnotation": {"text": "x"}}]}, PARSE_ERROR),  # no pages: SDK KeyError
        ({"responses": [{"safeSearchAnnotation": {"adult": "VERY_LIKELY"}}]}, PARSE_ERROR),
        ({"responses": [{"textAnnotations": [{"description": "x"}]}]}, PARSE_ERROR),  # no boundingPoly
    ],
)
def test_unusable_documents_raise_their_reason(payload: Any, reason: str) -> None:
    with pytest.raises(OcrRecordError) as caught:
        ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s")
    assert caught.value.reason == reason


def _one_word_payload(vertices: list[dict]) -> dict:
    symbol = {"text": "a", "property": {"detectedBreak": {"type": "LINE_BREAK"}}}
    word = {"boundingBox": {"vertices": vertices}, "symbols": [symbol]}
    block = {"blockType": "TEXT", "paragraphs": [{"words": [word]}]}
    page = {"width": 10, "height": 10, "blocks": [block]}
    return {"responses": [{"fullTextAnnotation": {"text": "a\n", "pages": [page]}}]}


def test_missing_vertex_coordinates_count_as_zero_like_the_sdk() -> None:
    payload = _one_word_payload([{"x": 5}, {"x": 9, "y": 2}, {"x": 9, "y": 8}, {"y": 8}])
    row = ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s").to_pylist()[0]
    assert row["words"] == [{"start": 0, "end": 2, "y_min": 0, "x_min": 0, "y_max": 8, "x_max": 9}]
    result = OCRResult.from_json(payload)
    assert get_match_bounding_box(result, 0, 1) == (0, 0, 8, 9)


@pytest.mark.parametrize("bad", [1.5, "3", None, 2**31])
def test_a_vertex_that_is_not_an_int32_is_a_parse_error_not_a_truncation(bad: object) -> None:
    payload = _one_word_payload([{"x": bad, "y": 0}, {"x": 9, "y": 0}, {"x": 9, "y": 8}, {"x": 0, "y": 8}])
    with pytest.raises(OcrRecordError) as caught:
        ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s")
    assert caught.value.reason == PARSE_ERROR


def test_integral_float_vertices_are_kept() -> None:
    payload = _one_word_payload([{"x": 1.0, "y": 0}, {"x": 9, "y": 0}, {"x": 9, "y": 8}, {"x": 1, "y": 8}])
    row = ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s").to_pylist()[0]
    assert row["words"][0]["x_min"] == 1


def test_a_value_arrow_cannot_take_is_a_parse_error() -> None:
    payload = {"responses": [{"logoAnnotations": [{"description": "x", "score": "high"}]}]}
    with pytest.raises(OcrRecordError) as caught:
        ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s")
    assert caught.value.reason == PARSE_ERROR


def test_response_without_text_has_null_texts_and_empty_lists() -> None:
    payload = {
        "responses": [
            {
                "textAnnotations": [{"description": "only this", "boundingPoly": {"vertices": []}}],
                "faceAnnotations": [{"detectionConfidence": 0.93}, {}],
            }
        ]
    }
    row = ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s").to_pylist()[0]
    assert row["full_text"] is None
    assert row["full_text_contiguous"] is None
    assert row["words"] is None
    assert row["languages"] is None
    assert row["orientation"] is None
    assert row["text_annotation"] == "only this"
    assert row["faces"] == [0.93, 0.0]
    assert row["logos"] == row["labels"] == []
    assert row["safe_search"] is None
    empty = ocr_table_from_json({"responses": [{}]}, barcode="3038350013804", image_id=1, source="s")
    assert empty.to_pylist()[0]["text_annotation"] is None


# -- equality with the SDK on real and synthetic responses ---------------------------------------------------


def _expected(result: OCRResult) -> dict[str, Any]:
    """What each column must hold, read straight from the SDK objects."""
    languages = result.get_languages()
    orientation = result.get_orientation()
    safe = result.get_safe_search_annotation()
    has_text = result.full_text_annotation is not None
    return {
        "full_text": result.get_full_text() if has_text else None,
        "full_text_contiguous": result.get_full_text_contiguous() if has_text else None,
        "text_annotation": result.text_annotations[0].text if result.text_annotations else None,
        "languages": None if languages is None else list(languages.items()),
        "orientation": None if orientation is None else list(orientation.count.items()),
        "logos": [(a.description, a.score) for a in result.logo_annotations],
        "labels": [(a.description, a.score) for a in result.label_annotations],
        "faces": [f.detection_confidence for f in result.face_annotations],
        "safe_search": None
        if safe is None
        else {k: getattr(safe, k).name for k in ("adult", "spoof", "medical", "violence", "racy")},
    }


def _actual(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "full_text": row["full_text"],
        "full_text_contiguous": row["full_text_contiguous"],
        "text_annotation": row["text_annotation"],
        "languages": None if row["languages"] is None else [(d["key"], d["count"]) for d in row["languages"]],
        "orientation": None
        if row["orientation"] is None
        else [(d["orientation"], d["count"]) for d in row["orientation"]],
        "logos": [(d["description"], d["score"]) for d in row["logos"]],
        "labels": [(d["description"], d["score"]) for d in row["labels"]],
        "faces": row["faces"],
        "safe_search": row["safe_search"],
    }


def _majority(row: dict[str, Any]) -> str:
    """The orientation a reader of the table picks: the first of the largest counts."""
    counts = row["orientation"] or []
    if not counts:
        return "unknown"
    best = max(d["count"] for d in counts)
    return next(d["orientation"] for d in counts if d["count"] == best)


def test_real_files_equal_the_sdk(real_ocr: list[RealOcr]) -> None:
    for real in real_ocr:
        table = ocr_table_from_json(
            real.payload, barcode=real.barcode, image_id=real.image_id, source=real.source
        )
        assert table.schema == OCR_TEXT_SCHEMA
        row = table.to_pylist()[0]
        result = OCRResult.from_json(real.payload)
        assert _actual(row) == _expected(result), real.name
        assert row["full_text"], real.name  # every real file has text
        # the special keys of get_languages() are kept, in its order
        keys = [d["key"] for d in row["languages"]]
        assert "words" in keys
        assert keys == list(result.get_languages())
        assert _majority(row) == result.get_orientation().orientation.name
        # the words are every word of the annotation, with their SDK offsets, in text order
        sdk_words = [
            w
            for p in result.full_text_annotation.pages
            for b in p.blocks
            for para in b.paragraphs
            for w in para.words
        ]
        assert [(w["start"], w["end"]) for w in row["words"]] == [(w.start_idx, w.end_idx) for w in sdk_words]
        for word, sdk in zip(row["words"], sdk_words, strict=True):
            assert row["full_text"][word["start"] : word["end"]] == sdk.text


def test_real_files_cover_the_interesting_columns(real_ocr: list[RealOcr]) -> None:
    """The real sample has logos, rotated images and many languages (else the test above proves little)."""
    rows = [
        ocr_table_from_json(r.payload, barcode=r.barcode, image_id=r.image_id, source=r.source).to_pylist()[0]
        for r in real_ocr
    ]
    assert any(row["logos"] for row in rows)
    assert all(row["labels"] for row in rows)
    assert {_majority(row) for row in rows} >= {"up", "left", "right"}
    assert any(len(row["languages"]) > 5 for row in rows)
    assert any("|" in row["full_text"] for row in rows)


def test_synthetic_archive_equals_the_sdk(synth_ocr: SynthOcr) -> None:
    orientations: Counter[str] = Counter()
    for line in synth_ocr.lines():
        record = orjson.loads(line)
        barcode, image_id = parse_source(record["source"])
        row = ocr_table_from_json(
            record["content"], barcode=barcode, image_id=image_id, source=record["source"]
        ).to_pylist()[0]
        result = OCRResult.from_json(record["content"])
        assert _actual(row) == _expected(result), record["source"]
        assert _majority(row) == result.get_orientation().orientation.name
        orientations[_majority(row)] += 1
    assert set(orientations) >= {"up", "left", "right", "down"}, orientations


# -- bounding boxes: the union of overlapping words is the SDK's match box -----------------------------------


def _union(words: list[dict[str, Any]], start: int, end: int) -> tuple[int, int, int, int] | None:
    """The predictors' rule: words with end > start and start < end; min/max of their boxes."""
    hits = [w for w in words if w["end"] > start and w["start"] < end]
    if not hits:
        return None
    return (
        min(w["y_min"] for w in hits),
        min(w["x_min"] for w in hits),
        max(w["y_max"] for w in hits),
        max(w["x_max"] for w in hits),
    )


def _spans(text: str, words: list[dict[str, Any]], rng: random.Random, count: int) -> list[tuple[int, int]]:
    """Random spans, short and long, plus spans on word edges and off-by-one around them."""
    spans = []
    for _ in range(count):
        start = rng.randrange(0, len(text))
        length = rng.choice([1, 2, 3, 5, 8, 13, 30, 100, len(text)])
        spans.append((start, min(len(text), start + length)))
    for word in rng.sample(words, min(len(words), count // 4)):
        for start, end in ((word["start"], word["end"]), (word["start"] + 1, word["end"] - 1)):
            for delta_start, delta_end in ((0, 0), (-1, 0), (0, 1), (1, 1)):
                s, e = start + delta_start, end + delta_end
                if 0 <= s < e <= len(text):
                    spans.append((s, e))
    return spans


def _check_boxes(payload: dict, row: dict[str, Any], rng: random.Random, count: int) -> int:
    result = OCRResult.from_json(payload)
    text = row["full_text_contiguous"]
    checked = 0
    for start, end in _spans(text, row["words"], rng, count):
        assert _union(row["words"], start, end) == get_match_bounding_box(result, start, end), (start, end)
        checked += 1
    return checked


def test_word_boxes_give_the_sdk_match_box_on_real_files(
    real_ocr: list[RealOcr], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)  # the SDK warns about spans that cover no word
    rng = random.Random(2026)
    checked = 0
    for real in real_ocr:
        row = ocr_table_from_json(
            real.payload, barcode=real.barcode, image_id=real.image_id, source=real.source
        ).to_pylist()[0]
        checked += _check_boxes(real.payload, row, rng, 1500)
    assert checked > 6 * 1500


def test_word_boxes_give_the_sdk_match_box_on_synthetic_rotated_images(
    synth_ocr: SynthOcr, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    rng = random.Random(7)
    for line in synth_ocr.lines()[:80]:
        record = orjson.loads(line)
        barcode, image_id = parse_source(record["source"])
        row = ocr_table_from_json(
            record["content"], barcode=barcode, image_id=image_id, source=record["source"]
        ).to_pylist()[0]
        _check_boxes(record["content"], row, rng, 60)


def test_word_boxes_follow_the_sdk_offsets_when_it_inserts_a_paragraph_space() -> None:
    """The SDK inserts a space between paragraphs that do not end with one, and its offsets for the next
    paragraph do not count it; the table keeps the SDK's offsets, so the boxes still match its boxes."""

    def word(text: str, x: int, brk: str | None) -> dict:
        symbols = [{"text": c} for c in text]
        if brk:
            symbols[-1]["property"] = {"detectedBreak": {"type": brk}}
        box = [{"x": x, "y": 0}, {"x": x + 10, "y": 0}, {"x": x + 10, "y": 5}, {"x": x, "y": 5}]
        return {"boundingBox": {"vertices": box}, "symbols": symbols}

    paragraphs = [
        {"words": [word("ab", 0, None)]},
        {"words": [word("cd", 20, "SPACE"), word("ef", 40, None)]},
    ]
    page = {"width": 100, "height": 10, "blocks": [{"blockType": "TEXT", "paragraphs": paragraphs}]}
    payload = {"responses": [{"fullTextAnnotation": {"text": "", "pages": [page]}}]}
    row = ocr_table_from_json(payload, barcode="3038350013804", image_id=1, source="s").to_pylist()[0]
    assert row["full_text"] == "ab cd ef"
    assert [(w["start"], w["end"]) for w in row["words"]] == [(0, 2), (2, 5), (5, 7)]
    result = OCRResult.from_json(copy.deepcopy(payload))
    for start in range(len(row["full_text"])):
        for end in range(start + 1, len(row["full_text"]) + 1):
            assert _union(row["words"], start, end) == get_match_bounding_box(result, start, end)


def test_boxes_are_computable_set_based_in_duckdb(real_ocr: list[RealOcr]) -> None:
    """The predictors' use: one SQL join of match spans with the unnested words gives every SDK box."""
    import duckdb

    tables = [
        ocr_table_from_json(r.payload, barcode=r.barcode, image_id=r.image_id, source=r.source)
        for r in real_ocr
    ]
    ocr = pa.concat_tables(tables)
    rng = random.Random(5)
    spans_rows = []
    for table in tables:
        row = table.to_pylist()[0]
        for start, end in _spans(row["full_text_contiguous"], row["words"], rng, 200):
            spans_rows.append({"source_image": row["source_image"], "s": start, "e": end})
    spans = pa.Table.from_pylist(spans_rows)
    con = duckdb.connect()
    con.register("ocr", ocr)
    con.register("spans", spans)
    boxes = con.execute(
        """
        WITH w AS (SELECT source_image, unnest(words, recursive := true) FROM ocr)
        SELECT spans.source_image, s, e, min(y_min), min(x_min), max(y_max), max(x_max)
        FROM spans JOIN w ON w.source_image = spans.source_image AND w."end" > s AND w.start < e
        GROUP BY ALL
        """
    ).fetchall()
    got = {(r[0], r[1], r[2]): tuple(r[3:]) for r in boxes}
    results = {
        t.column("source_image")[0].as_py(): OCRResult.from_json(r.payload)
        for t, r in zip(tables, real_ocr, strict=True)
    }
    logging.getLogger("openfoodfacts").setLevel(logging.ERROR)
    for span in spans_rows:
        expected = get_match_bounding_box(results[span["source_image"]], span["s"], span["e"])
        assert got.get((span["source_image"], span["s"], span["e"])) == expected, span
    assert len(got) > 0.9 * len(spans_rows)
