"""Hand-written cases for the nutrient and nutrient_mention rules
(``robotoff/prediction/ocr/nutrient.py``)."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.predictors.resources import Resources
from pipelines.predictors.rules import nutrient, nutrient_mention
from tests.pipelines.predictors.conftest import predicted

# --- nutrient --------------------------------------------------------------------------------------------


def test_nutrient_values_grouped_per_image_in_table_order(resources: Resources) -> None:
    text = "sel 120mg Énergie: 2393kJ / 572 kcal matières grasses 37,5 g"
    [row] = predicted(resources, text, types=("nutrient",))
    assert (row["type"], row["value"], row["value_tag"]) == ("nutrient", None, None)
    assert (row["predictor"], row["automatic_processing"], row["confidence"]) == ("regex", None, None)
    # keys follow the nutrient table (energy, …, fat, …, salt), not the text order
    assert list(row["data"]["nutrients"]) == ["energy", "fat", "salt"]
    assert row["data"]["nutrients"] == {
        "energy": [{"raw": "Énergie: 2393kJ", "nutrient": "energy", "value": "2393", "unit": "kJ"}],
        "fat": [{"raw": "matières grasses 37,5 g", "nutrient": "fat", "value": "37.5", "unit": "g"}],
        "salt": [{"raw": "sel 120mg", "nutrient": "salt", "value": "120", "unit": "mg"}],
    }


def test_nutrient_every_match_kept_in_text_order(resources: Resources) -> None:
    [row] = predicted(resources, "protein 3g ... Protéines - 4,5g", types=("nutrient",))
    assert [e["raw"] for e in row["data"]["nutrients"]["protein"]] == ["protein 3g", "Protéines - 4,5g"]


@pytest.mark.parametrize(
    "text",
    [
        "xsel 12g",  # preceded by a word character
        "sel 12gx",  # followed by a word character
        "sel 12 kg",  # not a salt unit
        "sel: : 12g",  # one separator at most
        "sel  12g",  # one space at most
        "énergie 12 g",  # energy takes kj/kcal only
        "sel12,,5g",  # one decimal separator at most
    ],
)
def test_nutrient_non_matches(resources: Resources, text: str) -> None:
    assert predicted(resources, text, types=("nutrient",)) == []


def test_nutrient_reads_the_contiguous_text(resources: Resources) -> None:
    # a match may span lines (newlines are spaces in the contiguous text), even if the full text splits it
    [row] = predicted(resources, "sel 12g", types=("nutrient",), full_texts=["sel\n12g"])
    assert row["data"]["nutrients"]["salt"][0]["raw"] == "sel 12g"
    assert predicted(resources, "sel|12g", types=("nutrient",), full_texts=["sel 12g"]) == []


def test_nutrient_only_images_with_a_match_get_a_prediction(resources: Resources) -> None:
    rows = predicted(resources, "rien ici", "sucres 5 g", "", types=("nutrient",))
    assert [r["source_image"] for r in rows] == ["/300/000/000/0001/1.jpg"]


def test_python_case_folding_of_dotless_i_is_kept(resources: Resources) -> None:
    # Python's re.I matches "ı"/"İ" with "i"; Rust's (?i) does not: the prefilter must not drop these rows
    rows = predicted(resources, "Proteın 12g", "PROTEİN 3 g", types=("nutrient",))
    assert [r["data"]["nutrients"]["protein"][0]["raw"] for r in rows] == ["Proteın 12g", "PROTEİN 3 g"]


def test_prefilter_is_a_superset_of_python_matches() -> None:
    samples = [
        "Énergie 1 kJ",
        "Proteın 1g",
        "KOHLENHYDRATE 5 G",
        "eiweiß 2g",
        "EİWEİSS 2g",
        "mættede fedtsyrer 1 g",
        "ſel 1g",
        "zsír 3g",
        "1\x1cg",
        "ernæringsindhold",
        "amelyből telített zsírsavak 1 g",
    ]
    folded = pl.Series(samples)  # the prefilter reads the texts as they are
    for regex in (*nutrient.VALUE_REGEXES, *nutrient_mention.MENTION_REGEXES):
        assert regex.prefilter is not None
        kept = folded.str.contains(regex.prefilter).to_list()
        for text, hit in zip(samples, kept, strict=True):
            if regex.pattern.search(text):
                assert hit, (regex.name, text)


# --- nutrient_mention ------------------------------------------------------------------------------------


def test_mentions_keys_spans_and_languages(resources: Resources) -> None:
    text = "Valeurs nutritionnelles moyennes: énergie 100 kcal, sel 1,2 g"
    [row] = predicted(resources, text, types=("nutrient_mention",))
    assert (row["predictor"], row["automatic_processing"], row["value"]) == (None, None, None)
    mentions = row["data"]["mentions"]
    assert list(mentions) == ["energy", "salt", "nutrition_values", "nutrient_value"]
    assert mentions["energy"] == [{"raw": "énergie", "span": [34, 41], "languages": ["fr"]}]
    assert text[34:41] == "énergie"
    assert mentions["salt"] == [{"raw": "sel", "span": [52, 55], "languages": ["fr"]}]
    assert mentions["nutrition_values"] == [
        {"raw": "Valeurs nutritionnelles moyennes", "span": [0, 32], "languages": ["fr"]}
    ]
    # values carry no languages
    assert mentions["nutrient_value"] == [
        {"raw": "100 kcal", "span": [42, 50]},
        {"raw": "1,2 g", "span": [56, 61]},
    ]


@pytest.mark.parametrize(
    ("text", "key", "languages"),
    [
        ("energie", "energy", ["fr", "de", "nl"]),
        ("ENERGIA", "energy", ["es", "it", "pt", "hu"]),
        ("calories", "energy", ["fr", "en"]),
        ("ernæringsindhold", "nutrition_values", ["da"]),  # an unnamed inner group does not count
        ("næringsindhold", "nutrition_values", ["da"]),
        ("dietary fiber", "fiber", ["en"]),
        ("fibres", "fiber", ["en", "fr", "it"]),  # the first alternative that matches wins
        ("lípidos", "fat", ["es", "pt"]),
    ],
)
def test_mention_languages(resources: Resources, text: str, key: str, languages: list[str]) -> None:
    [row] = predicted(resources, text, types=("nutrient_mention",))
    assert row["data"]["mentions"][key] == [{"raw": text, "span": [0, len(text)], "languages": languages}]


@pytest.mark.parametrize(
    ("text", "raws"),
    [
        ("12g", ["12g"]),
        ("1,5 g", ["1,5 g"]),
        ("12 kcal.", ["12 kcal"]),
        ("12 KJ", ["12 KJ"]),
        ("3.g", ["3.g"]),
        ("12gx", []),  # (?!\w)
        ("a12g", []),  # (?<!\w)
        ("é12g", []),  # Python's \w is Unicode
        ("12 kg", []),
        ("12  g", []),
        ("12g/34g", ["12g", "34g"]),
    ],
)
def test_nutrient_value_lookarounds(resources: Resources, text: str, raws: list[str]) -> None:
    rows = predicted(resources, text, types=("nutrient_mention",))
    found = [m["raw"] for r in rows for m in r["data"]["mentions"].get("nutrient_value", [])]
    assert found == raws
    if raws:
        assert all("languages" not in m for m in rows[0]["data"]["mentions"]["nutrient_value"])


def test_mention_boxes_only_with_words() -> None:
    words = [
        {"start": 0, "end": 4, "y_min": 10, "x_min": 20, "y_max": 30, "x_max": 60},
        {"start": 4, "end": 8, "y_min": 12, "x_min": 70, "y_max": 31, "x_max": 90},
    ]
    frame = pl.DataFrame(
        {"full_text_contiguous": ["sel 5g", "sel 5g"], "words": [words, None]},
    )
    result = nutrient_mention.run(frame)
    data = {row: d for row, d in zip(result["row"].to_list(), result["data"].to_list(), strict=True)}
    assert data[0] == (
        '{"mentions":{"salt":[{"raw":"sel","span":[0,3],"languages":["fr"],"bounding_box_absolute":[10,20,30,60]}],'
        '"nutrient_value":[{"raw":"5g","span":[4,6],"bounding_box_absolute":[12,70,31,90]}]}}'
    )
    assert "bounding_box_absolute" not in data[1]
