"""Generated documents: both layouts, consistent fields, OCR archive that the SDK parses, truthful facts."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from openfoodfacts.images import convert_to_legacy_schema
from openfoodfacts.ocr import OCRResult

from pipelines import barcodes
from tests.pipelines.synth.conftest import SynthRun


@pytest.fixture(scope="module")
def docs(synth_run: SynthRun) -> list[dict]:
    return synth_run.documents()


def test_both_image_and_nutrition_layouts(docs: list[dict]) -> None:
    new = [d for d in docs if d.get("schema_version") == 1003]
    old = [d for d in docs if d.get("schema_version") != 1003]
    assert 0.05 < len(new) / len(docs) < 0.2
    for doc in new:
        assert doc["nutriments"] == {}
        assert "nutrients" in doc["nutrition"]["aggregated_set"]
        if "images" in doc:
            assert set(doc["images"]) == {"uploaded", "selected"}
            legacy = convert_to_legacy_schema(doc["images"])  # the SDK reads our new layout
            assert all(key in legacy for key in doc["images"]["uploaded"])
    assert any("images" in d for d in new)
    for doc in old:
        assert "nutrition" not in doc
        if "images" in doc:
            assert "uploaded" not in doc["images"]
    fiber_layouts = Counter(
        ("nutrition" if "nutrition" in d else "nutriments")
        for d in docs
        if "fiber" in d.get("nutriments", {})
        or "fiber" in d.get("nutrition", {}).get("aggregated_set", {}).get("nutrients", {})
    )
    assert fiber_layouts["nutrition"] > 0 and fiber_layouts["nutriments"] > 0


def test_real_mixed_types_are_reproduced(docs: list[dict]) -> None:
    def types(key: str) -> set[str]:
        return {type(d[key]).__name__ for d in docs if key in d}

    assert {"str", "float"} <= types("serving_quantity")
    assert {"int", "float", "str"} <= types("ingredients_n")
    uploaded_t = {
        type(img["uploaded_t"]).__name__
        for d in docs
        if "images" in d and "uploaded" not in d["images"]
        for key, img in d["images"].items()
        if key.isdigit()
    }
    assert uploaded_t == {"int", "str"}
    assert any(isinstance(d["nutriments"].get("fat"), str) for d in docs if "fat" in d["nutriments"])


def test_tags_come_with_their_ancestors(docs: list[dict]) -> None:
    with_categories = [d for d in docs if d.get("categories_tags")]
    assert len(with_categories) / len(docs) > 0.8
    assert any(len(d["categories_tags"]) > 1 for d in with_categories)
    for doc in with_categories:
        assert doc["categories_tags"] == doc["categories_hierarchy"]
        assert (
            doc["compared_to_category"] in doc["categories_tags"] if "compared_to_category" in doc else True
        )


class LazyOcr(dict):
    """source → parsed Cloud Vision content, parsed on first access."""

    def __init__(self, lines: dict[str, bytes]) -> None:
        super().__init__()
        self.lines = lines

    def __missing__(self, source: str) -> dict:
        self[source] = orjson.loads(self.lines[source])["content"]
        return self[source]


@pytest.fixture(scope="module")
def ocr_records(synth_ocr_run: SynthRun) -> LazyOcr:
    return LazyOcr(synth_ocr_run.ocr_lines())


def test_ocr_archive_matches_products(synth_ocr_run: SynthRun, ocr_records: LazyOcr) -> None:
    partners = {r["code"] for r in synth_ocr_run.truth_records() if r["conflict_with"]}
    docs = [d for d in synth_ocr_run.documents() if d["code"] not in partners]  # partners have no OCR
    by_path = {barcodes.split_code(d["code"]): d for d in docs if barcodes.is_valid_code(d["code"])}
    assert len(ocr_records.lines) == synth_ocr_run.report.ocr_images > 500
    for source in list(ocr_records.lines)[::5]:
        record = {"source": source, "content": ocr_records[source]}
        folder, image_file = record["source"].rsplit("/", 1)
        doc = by_path[folder.lstrip("/")]
        image_id = image_file.removesuffix(".json")
        images = doc["images"].get("uploaded", doc["images"])
        full = images[image_id]["sizes"]["full"]
        page = record["content"]["responses"][0]["fullTextAnnotation"]["pages"][0]
        assert (page["width"], page["height"]) == (full["w"], full["h"])


def test_planted_ocr_facts_are_in_the_sdk_text(synth_ocr_run: SynthRun, ocr_records: LazyOcr) -> None:
    truth = {r["code"]: r for r in synth_ocr_run.truth_records()[:500]}
    ocr_by_key = ocr_records
    checked = Counter()
    for record in truth.values():
        for fact in record["facts"]:
            if fact["source"] != "ocr":
                continue
            content = ocr_by_key[barcodes.ocr_path(record["code"], fact["image_id"])]
            result = OCRResult.from_json(content)
            assert result is not None
            contiguous = result.get_full_text_contiguous()
            needle = fact.get("text") or fact.get("raw") or fact.get("value")
            if fact["type"] == "image_orientation":
                assert result.get_orientation().orientation.name == fact["value"]
            elif fact["type"] == "packager_code" and fact.get("matcher") == "eu_fr":
                assert fact["value"].replace(" EC", " CE") in contiguous
            elif isinstance(needle, str):
                assert needle in contiguous, (fact, contiguous[:300])
            checked[fact["type"]] += 1
    for kind in (
        "label",
        "brand",
        "store",
        "packager_code",
        "expiration_date",
        "nutrient_mention",
        "image_orientation",
    ):
        assert checked[kind] > 10, kind


def test_planted_name_facts_are_in_product_names(synth_run: SynthRun, docs: list[dict]) -> None:
    names = {d["code"]: d.get("product_name", "") for d in docs}
    found = Counter()
    for record in synth_run.truth_records():
        for fact in record["facts"]:
            if fact["source"] != "product_name" or not names[record["code"]]:
                continue
            name = names[record["code"]]
            if fact["type"] == "label":
                assert fact["text"] in name
            elif fact["type"] == "brand":
                assert fact["value"] in name
            elif fact["type"] == "product_weight":
                assert fact["value"] in name
                assert 10 < fact["normalized_value"] < 10000
            found[fact["type"]] += 1
    assert found["label"] > 50 and found["brand"] > 200 and found["product_weight"] > 200


def test_fiber_facts_agree_with_the_product(synth_ocr_run: SynthRun) -> None:
    by_code = {d["code"]: d for d in synth_ocr_run.documents()}
    facets = 0
    for record in synth_ocr_run.truth_records():
        doc = by_code[record["code"]]
        fiber = "fiber" in doc["nutriments"] or "fiber" in doc.get("nutrition", {}).get(
            "aggregated_set", {}
        ).get("nutrients", {})
        for fact in record["facts"]:
            if fact["type"] == "quality_facet":
                facets += 1
                assert not fiber
                assert fact["value"][0] == "en:missing-nutrition-facts-fibers-present-on-photos"
    assert facets > 20
