"""Hand-written cases for the OCR text rules (``robotoff/prediction/ocr/``): store, packager code, expiration
date, AOC category and the label regex table."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.predictors.resources import Resources
from tests.pipelines.predictors.conftest import predicted


def values(rows: list[dict], key: str = "value") -> list:
    return [r[key] for r in rows]


# --- store -----------------------------------------------------------------------------------------------


def test_store_names_tags_and_boundaries(resources: Resources) -> None:
    rows = predicted(resources, "vendu par Albert Heijn et AUCHAN", types=("store",))
    assert [(r["value"], r["value_tag"]) for r in rows] == [
        ("Albert Heijn", "albert-heijn"),
        ("Auchan", "auchan"),
    ]
    assert rows[0]["data"] == {"text": "Albert Heijn"}
    assert rows[0]["predictor"] == "regex" and rows[0]["automatic_processing"] is None
    assert predicted(resources, "xauchan auchanx", types=("store",)) == []


def test_store_last_line_of_a_name_wins(resources: Resources) -> None:
    # store_regex.txt has "Carrefour" then "Carrefour||grand jury": only the later pattern is kept
    assert values(predicted(resources, "Grand Jury", types=("store",))) == ["Carrefour"]
    assert predicted(resources, "Carrefour", types=("store",)) == []


# --- packager codes --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("EMB 29181A", "EMB 29181A", "fr_emb"),
        ("emb 2 9 1 8 1", "EMB 29181", "fr_emb"),
        ("FSC C123456", "FSC-C123456", "fsc"),
        ("FR 29.181.001 CE", "FR 29.181.001 EC", "eu_fr"),
        ("fr 2a-181-001 ec", "FR 2A.181.001 EC", "eu_fr"),
        ("DE BY-123 EG", "DE BY-123 EC", "eu_de"),
        ("RSPO-1234567", "RSPO-1234567", "rspo"),
        ("FR-123-456", "FR-123-456", "fr_gluten"),
    ],
)
def test_packager_code_regexes(text: str, value: str, kind: str, resources: Resources) -> None:
    rows = [r for r in predicted(resources, text, types=("packager_code",)) if r["data"]["type"] == kind]
    assert values(rows) == [value]
    assert rows[0]["predictor"] is None and rows[0]["automatic_processing"] is True
    assert rows[0]["data"]["raw"] == text


def test_packager_code_rejections(resources: Resources) -> None:
    regex = [r for r in predicted(resources, "EMB 29181AB RSPO-12345678", types=("packager_code",))]
    assert [r for r in regex if r["data"]["type"] in ("fr_emb", "rspo")] == []


def test_fishing_codes_with_flashtext(resources: Resources) -> None:
    code = resources.lines("fishing_flashtext.txt")[0]
    rows = predicted(resources, f"pêché en zone {code.lower()}.", types=("packager_code",))
    fishing = [r for r in rows if r["predictor"] == "flashtext"]
    assert values(fishing) == [code.upper()]
    assert fishing[0]["data"] == {"type": "fishing", "raw": code.lower()}


# --- expiration dates ------------------------------------------------------------------------------------


def dates(resources: Resources, text: str) -> list[str]:
    return values(predicted(resources, text, types=("expiration_date",)))


def test_expiration_dates_short_and_long(resources: Resources) -> None:
    assert dates(resources, "A consommer avant le 12/03/24 lot 5") == ["2024-03-12"]
    assert dates(resources, "DLUO 01.12.2023") == ["2023-12-01"]
    rows = predicted(resources, "12-03-2024", types=("expiration_date",))
    assert rows[0]["data"] == {"raw": "12-03-2024", "type": "full_digits_long"}


def test_expiration_dates_need_real_dates_and_free_digits(resources: Resources) -> None:
    assert dates(resources, "31/02/24 112/03/24 12/03/245") == []


def test_expiration_year_window_follows_the_reference_date(keywords_dir, taxonomy_dir) -> None:
    then = Resources(keywords_dir, taxonomy_dir, today=dt.date(2020, 6, 1))
    now = Resources(keywords_dir, taxonomy_dir, today=dt.date(2026, 11, 23))
    text = "12/03/2009 12/03/2010 12/03/2030 12/03/2036 12/03/2037"
    assert dates(then, text) == ["2010-03-12", "2030-03-12"]
    assert dates(now, text) == ["2030-03-12", "2036-03-12"]


# --- AOC categories --------------------------------------------------------------------------------------


def test_aoc_category_needs_an_exact_taxonomy_id(resources: Resources) -> None:
    known = sorted(i for i in resources.category_ids if i.startswith("fr:") and "-" not in i)[0]
    name = known.removeprefix("fr:")
    rows = predicted(resources, f"{name} appellation d'origine protégée", types=("category",))
    assert values(rows, "value_tag") == [known]
    assert rows[0]["automatic_processing"] is False
    assert predicted(resources, "zzqxv appellation d'origine protégée", types=("category",)) == []


# --- label regexes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("ingrédients biologiques", "en:organic"),
        ("FR-BIO-01", "en:fr-bio-01"),
        ("AT-ÖKO-301", "en:at-öko-301"),  # Robotoff folds ö only before lowercasing
        ("ES-ECO-001-AN", "en:es-eco-001-an"),
        ("Certifié AB.", "fr:ab-agriculture-biologique"),
        ("Homologation n° LA 12/89", "fr:label-rouge"),
        ("vin AOC", "fr:aoc"),
        ("NUTRI-SCORE", "en:nutriscore"),
        ("sans conservateur", "en:no-preservatives"),
        ("sans colorants", "en:no-colorings"),
    ],
)
def test_label_regexes(text: str, tag: str, resources: Resources) -> None:
    rows = [r for r in predicted(resources, text, types=("label",)) if r["predictor"] == "regex"]
    assert tag in values(rows, "value_tag")


@pytest.mark.parametrize(
    "text",
    [
        "DE-ÖKO-01",  # German codes need three digits
        "XFR-BIO-01",  # a letter right before the country code
        "vin aoc",  # AOC is case-sensitive
        "sans conservateurs artificiels",  # the negative look-ahead
    ],
)
def test_label_regex_rejections(text: str, resources: Resources) -> None:
    rows = [r for r in predicted(resources, text, types=("label",)) if r["predictor"] == "regex"]
    assert rows == []
