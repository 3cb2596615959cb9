"""Hand-written cases for image_orientation, image_lang and image_flag (``robotoff/prediction/ocr/``), on
OCR-table rows."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from openfoodfacts.ocr import ImageOrientation, OrientationResult

from pipelines.ocr.rows import ocr_table_from_json, rows_to_table
from pipelines.predictors.registry import PREDICTORS, predict
from pipelines.predictors.resources import Resources
from pipelines.predictors.rules import image_flag, image_lang, image_orientation, nutrient, nutrient_mention

IMAGE_TYPES = ("image_orientation", "image_lang", "image_flag", "nutrient", "nutrient_mention")


def ocr_row(index: int = 0, **columns: Any) -> dict[str, Any]:
    """One OCR-table row: no annotation at all unless given."""
    text = columns.pop("text", None)
    row: dict[str, Any] = {
        "barcode": f"{3000000000000 + index}",
        "image_id": "1",
        "source_image": f"/300/000/000/{index:04d}/1.jpg",
        "ocr_source": "test",
        "full_text": text,
        "full_text_contiguous": text,
        "text_annotation": text,
        "words": None,
        "languages": None,
        "orientation": None,
        "logos": [],
        "labels": [],
        "faces": [],
        "safe_search": None,
    }
    row.update(columns)
    return row


def run(resources: Resources, rows: list[dict[str, Any]], types: tuple[str, ...]) -> list[dict]:
    table = rows_to_table(rows)
    result = predict(ocr=table, types=list(types), resources=resources).to_pylist()
    return [{**r, "data": json.loads(r["data"])} for r in result]


def orientation_counts(**counts: int) -> list[dict[str, Any]]:
    return [{"orientation": name, "count": n} for name, n in counts.items()]


def language_counts(**counts: int) -> list[dict[str, Any]]:
    return [{"key": key, "count": n} for key, n in counts.items()]


# --- image_orientation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "orientation", "rotation"),
    [
        ({"up": 143, "left": 2}, "up", 0),
        ({"left": 160}, "left", 90),
        ({"right": 9, "up": 5, "left": 3}, "right", 270),
        ({"up": 1, "down": 7}, "down", 180),
        ({"unknown": 4, "up": 1}, "unknown", 0),
        ({"left": 5, "up": 5, "right": 5}, "left", 90),  # ties: the first counted wins (Counter.most_common)
        ({"up": 2, "right": 3, "down": 3}, "right", 270),
        ({}, "unknown", 0),  # an annotation without words
    ],
)
def test_orientation_majority_and_rotation(
    resources: Resources, counts: dict[str, int], orientation: str, rotation: int
) -> None:
    [row] = run(resources, [ocr_row(orientation=orientation_counts(**counts))], ("image_orientation",))
    assert row["data"] == {"count": counts, "orientation": orientation, "rotation": rotation}
    assert list(row["data"]) == ["count", "orientation", "rotation"]
    assert list(row["data"]["count"]) == list(counts)
    assert (row["value"], row["value_tag"], row["predictor"], row["automatic_processing"]) == (None,) * 4


def test_orientation_matches_the_sdk_on_random_counts() -> None:
    rng = random.Random(7)
    names = [o for o in ImageOrientation]
    rows, expected = [], []
    for index in range(300):
        counter: Counter = Counter()
        for _ in range(rng.randint(0, 12)):
            counter[rng.choice(names)] += rng.randint(1, 3)
        result = OrientationResult(counter)
        rows.append(ocr_row(index, orientation=orientation_counts(**result.count)))
        expected.append(result.to_json())
    frame = pl.from_arrow(rows_to_table(rows))
    out = image_orientation.run(frame)
    got = [json.loads(d) for d in out["data"].to_list()]
    assert out["row"].to_list() == list(range(300))
    assert [{k: g[k] for k in ("count", "orientation")} for g in got] == expected


def test_no_orientation_without_full_text_annotation(resources: Resources) -> None:
    assert run(resources, [ocr_row(orientation=None)], ("image_orientation",)) == []


# --- image_lang ------------------------------------------------------------------------------------------


def test_lang_counts_and_percents(resources: Resources) -> None:
    counts = {"fr": 138, "words": 145, "it": 1, "null": 6}
    [row] = run(resources, [ocr_row(languages=language_counts(**counts))], ("image_lang",))
    assert row["data"] == {
        "count": counts,
        "percent": {"fr": 95.17241379310344, "it": 0.6896551724137931, "null": 4.137931034482759},
    }
    assert list(row["data"]["count"]) == ["fr", "words", "it", "null"]
    assert list(row["data"]["percent"]) == ["fr", "it", "null"]
    assert (row["predictor"], row["automatic_processing"], row["confidence"]) == (None, None, None)


def test_lang_percents_equal_pythons_division_on_random_counts() -> None:
    rng = random.Random(11)
    rows, expected = [], []
    for index in range(300):
        words = rng.randint(1, 5000)
        counts = {
            lang: rng.randint(0, words) for lang in rng.sample(["fr", "en", "de", "null", "zh-Hant"], 3)
        }
        counts = {**dict(list(counts.items())[:1]), "words": words, **dict(list(counts.items())[1:])}
        rows.append(ocr_row(index, languages=language_counts(**counts)))
        expected.append(
            {"count": counts, "percent": {k: n * 100 / words for k, n in counts.items() if k != "words"}}
        )
    frame = pl.from_arrow(rows_to_table(rows))
    got = [json.loads(d) for d in image_lang.run(frame)["data"].to_list()]
    assert got == expected
    assert [list(g["count"]) for g in got] == [list(e["count"]) for e in expected]


def test_lang_edge_cases(resources: Resources) -> None:
    rows = [
        ocr_row(0, languages=None),  # no full-text annotation
        ocr_row(1, languages=[]),  # no paragraph: Robotoff fails (no "words" key)
        ocr_row(2, languages=language_counts(words=0)),  # paragraphs without words
        ocr_row(3, languages=language_counts(**{'a"b\\': 1, "words": 2})),  # keys are JSON-escaped
    ]
    result = run(resources, rows, ("image_lang",))
    by_image = {r["source_image"]: r["data"] for r in result}
    assert by_image == {
        "/300/000/000/0002/1.jpg": {"count": {"words": 0}, "percent": {}},
        "/300/000/000/0003/1.jpg": {"count": {'a"b\\': 1, "words": 2}, "percent": {'a"b\\': 50.0}},
    }


# --- image_flag ------------------------------------------------------------------------------------------


def flags(rows: list[dict]) -> list[dict]:
    return [r["data"] for r in rows if r["type"] == "image_flag"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains PHENOXYETHANOL, fumer tue", {"text": "PHENOXYETHANOL", "type": "text", "label": "beauty"}),
        ("Fumer tue. phenoxyethanol", {"text": "Fumer tue", "type": "text", "label": "miscellaneous"}),
        ("xphenoxyethanol fumer tuex", None),  # ASCII word boundaries (flashtext)
        ("éphenoxyethanol", {"text": "phenoxyethanol", "type": "text", "label": "beauty"}),
    ],
)
def test_flag_first_keyword_only(resources: Resources, text: str, expected: dict | None) -> None:
    rows = run(resources, [ocr_row(text=text)], ("image_flag",))
    assert flags(rows) == ([] if expected is None else [expected])
    for row in rows:
        assert (row["value"], row["value_tag"], row["predictor"], row["automatic_processing"]) == (None,) * 4
        assert row["confidence"] is None


def test_flag_text_falls_back_to_the_text_annotation(resources: Resources) -> None:
    row = ocr_row(text=None, text_annotation="smoking seriously harms")
    assert flags(run(resources, [row], ("image_flag",))) == [
        {"text": "smoking seriously", "type": "text", "label": "miscellaneous"}
    ]


def test_flag_a_phrase_in_both_lists_is_miscellaneous(tmp_path: Path) -> None:
    (tmp_path / "image_flag_beauty.txt").write_text("// comment\nshared phrase\nparfum\n", encoding="utf-8")
    (tmp_path / "image_flag_miscellaneous.txt").write_text("Shared Phrase\n", encoding="utf-8")
    resources = Resources(tmp_path)
    rows = run(resources, [ocr_row(text="a shared phrase"), ocr_row(1, text="PARFUM")], ("image_flag",))
    assert flags(rows) == [
        {"text": "shared phrase", "type": "text", "label": "miscellaneous"},
        {"text": "PARFUM", "type": "text", "label": "beauty"},
    ]


def safe_search(**values: str) -> dict[str, str]:
    keys = ("adult", "spoof", "medical", "violence", "racy")
    return {key: values.get(key, "VERY_UNLIKELY") for key in keys}


@pytest.mark.parametrize(
    ("annotation", "labels"),
    [
        (safe_search(adult="VERY_LIKELY"), ["adult"]),
        (safe_search(adult="VERY_LIKELY", violence="VERY_LIKELY"), ["adult", "violence"]),
        (safe_search(adult="LIKELY", violence="POSSIBLE"), []),
        (safe_search(racy="VERY_LIKELY", medical="VERY_LIKELY", spoof="VERY_LIKELY"), []),
        (None, []),
    ],
)
def test_flag_safe_search(resources: Resources, annotation: dict | None, labels: list[str]) -> None:
    rows = run(resources, [ocr_row(safe_search=annotation)], ("image_flag",))
    assert flags(rows) == [
        {"type": "safe_search_annotation", "label": label, "likelihood": "VERY_LIKELY"} for label in labels
    ]


def test_flag_first_listed_label_at_or_above_threshold(resources: Resources) -> None:
    labels = [
        {"description": "Food", "score": 0.99},
        {"description": "Dog", "score": 0.59999},
        {"description": "Human Leg", "score": 0.6},
        {"description": "Face", "score": 0.95},
        {"description": "Thumb", "score": 0.99},
    ]
    rows = run(resources, [ocr_row(labels=labels), ocr_row(1, labels=labels[:2])], ("image_flag",))
    assert [(r["source_image"], r["data"], r["confidence"]) for r in rows] == [
        (
            "/300/000/000/0000/1.jpg",
            {"type": "label_annotation", "label": "human leg", "likelihood": 0.6},
            0.6,
        )
    ]


@pytest.mark.parametrize(
    ("faces", "best"),
    [([0.3, 0.91, 0.62], 0.91), ([0.6], 0.6), ([0.5999], None), ([], None)],
)
def test_flag_most_confident_face(resources: Resources, faces: list[float], best: float | None) -> None:
    rows = run(resources, [ocr_row(faces=faces)], ("image_flag",))
    expected = (
        [] if best is None else [({"type": "face_annotation", "label": "face", "likelihood": best}, best)]
    )
    assert [(r["data"], r["confidence"]) for r in rows] == expected


# --- end to end from a Cloud Vision document -------------------------------------------------------------


def test_document_without_full_text_annotation(resources: Resources) -> None:
    """Only annotations: no text predictions from the text annotation, but every image flag."""
    box = {"vertices": [{"x": 0, "y": 0}, {"x": 10, "y": 0}, {"x": 10, "y": 5}, {"x": 0, "y": 5}]}
    payload = {
        "responses": [
            {
                "textAnnotations": [{"description": "sel 12g fumer tue", "boundingPoly": box}],
                "labelAnnotations": [{"description": "Cat", "score": 0.8, "mid": "/m/01yrx"}],
                "faceAnnotations": [{"detectionConfidence": 0.7}, {}],
                "safeSearchAnnotation": safe_search(violence="VERY_LIKELY"),
            }
        ]
    }
    table = ocr_table_from_json(payload, barcode="3000000000000", image_id="2", source="test")
    rows = predict(ocr=table, types=list(IMAGE_TYPES), resources=resources).to_pylist()
    assert Counter(r["type"] for r in rows) == Counter({"image_flag": 4})
    assert [json.loads(r["data"]) for r in rows] == [
        {"text": "fumer tue", "type": "text", "label": "miscellaneous"},
        {"type": "safe_search_annotation", "label": "violence", "likelihood": "VERY_LIKELY"},
        {"type": "label_annotation", "label": "cat", "likelihood": 0.8},
        {"type": "face_annotation", "label": "face", "likelihood": 0.7},
    ]
    assert [r["confidence"] for r in rows] == [None, None, 0.8, 0.7]


def test_registered_for_ocr_only() -> None:
    modules = (image_flag, image_lang, image_orientation, nutrient, nutrient_mention)
    assert {m.PREDICTOR.type for m in modules} == set(IMAGE_TYPES)
    assert all(m.PREDICTOR.sources == frozenset({"ocr"}) for m in modules)
    assert {p.type for p in PREDICTORS} >= set(IMAGE_TYPES)
