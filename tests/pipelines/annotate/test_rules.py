"""What annotating an insight sends to Product Opener, per type (Robotoff 1.85.10's annotators)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.annotate.base import PRODUCT_UPDATE, Done, Insight, Write
from pipelines.annotate.errors import UnsupportedInsightError
from pipelines.annotate.registry import RULES, decide, fields
from pipelines.annotate.results import RECORDED, AnnotationStatus
from pipelines.insights.refresh import normalize_emb_code

CODE = "3017620422003"
INSIGHT_ID = "0f7c7b7e-1d3c-4f0e-9a53-2b7d6f1f2a10"


def insight(kind: str, value: str | None = None, value_tag: str | None = None) -> Insight:
    return Insight(
        id="0f7c7b7e-1d3c-4f0e-9a53-2b7d6f1f2a10", barcode=CODE, type=kind, value=value, value_tag=value_tag
    )


@pytest.mark.parametrize(
    ("kind", "value", "value_tag", "product", "fields_sent", "action"),
    [
        (
            "label",
            None,
            "en:organic",
            {"labels_tags": ["en:vegan"]},
            {"add_labels": "en:organic"},
            "Adding label tag 'en:organic'",
        ),
        (
            "category",
            None,
            "en:biscuits",
            {"categories_tags": None},
            {"add_categories": "en:biscuits"},
            "Adding category 'en:biscuits'",
        ),
        (
            "brand",
            "Ferrero",
            "ferrero",
            {"brands_tags": ["ferrero"]},
            {"add_brands": "Ferrero"},
            "Adding brand 'Ferrero'",
        ),
        (
            "store",
            "Carrefour",
            "carrefour",
            {"stores_tags": ["auchan"]},
            {"add_stores": "Carrefour"},
            "Adding store 'Carrefour'",
        ),
        (
            "product_weight",
            "400 g",
            None,
            {"quantity": ""},
            {"quantity": "400 g"},
            "Updating quantity to '400 g'",
        ),
        (
            "expiration_date",
            "12/2027",
            None,
            {},
            {"expiration_date": "12/2027"},
            "Adding expiration date '12/2027'",
        ),
        (
            "packager_code",
            "FR 40.261.001 CE",
            None,
            {"emb_codes": "EMB 72180"},
            {"emb_codes": "EMB 72180,FR 40.261.001 CE"},
            "Adding packager codes 'EMB 72180,FR 40.261.001 CE'",
        ),
        (
            "packager_code",
            "EMB 72180",
            None,
            {"emb_codes": None},
            {"emb_codes": "EMB 72180"},
            "Adding packager codes 'EMB 72180'",
        ),
    ],
)
def test_each_type_sends_robotoffs_call(
    kind: str, value: str | None, value_tag: str | None, product: dict, fields_sent: dict, action: str
) -> None:
    decided = decide(insight(kind, value, value_tag), product)
    assert decided == Write(PRODUCT_UPDATE, fields_sent, action)


@pytest.mark.parametrize(
    ("kind", "value", "value_tag", "product"),
    [
        ("label", None, "en:organic", {"labels_tags": ["en:vegan", "en:organic"]}),
        ("category", None, "en:biscuits", {"categories_tags": ["en:biscuits"]}),
        ("store", "Carrefour", "carrefour", {"stores_tags": ["carrefour"]}),
        ("product_weight", "400 g", None, {"quantity": "1 kg"}),
        ("expiration_date", "12/2027", None, {"expiration_date": "01/2026"}),
        # the same code once normalized: spaces, dots, dashes, case, accents, a trailing "CE" read as "EC"
        ("packager_code", "FR 40.261.001 CE", None, {"emb_codes": "EMB 72180,fr-40261001-ec"}),
    ],
)
def test_a_product_that_has_the_value_gets_nothing(
    kind: str, value: str | None, value_tag: str | None, product: dict
) -> None:
    decided = decide(insight(kind, value, value_tag), product)
    assert decided == Done(AnnotationStatus.error_already_annotated, "the product already has this value")
    assert AnnotationStatus.error_already_annotated not in RECORDED  # Robotoff leaves annotated_result empty


def test_brand_is_sent_even_when_the_product_has_it() -> None:
    """Robotoff's BrandAnnotator only checks that the product exists."""
    decided = decide(insight("brand", "Ferrero", "ferrero"), {"brands_tags": ["ferrero"]})
    assert isinstance(decided, Write)


@pytest.mark.parametrize("kind", sorted(RULES))
def test_a_missing_product_is_robotoffs_missing_product(kind: str) -> None:
    decided = decide(insight(kind, "x", "en:x"), None)
    assert decided.status is AnnotationStatus.error_missing_product  # type: ignore[union-attr]
    assert AnnotationStatus.error_missing_product in RECORDED


def test_an_unwritten_type_is_one_clear_error() -> None:
    with pytest.raises(UnsupportedInsightError, match=r"nutrient.*written: brand, category"):
        decide(insight("nutrient", "x"), {})
    with pytest.raises(UnsupportedInsightError):
        fields("nutrient")


def test_each_type_names_the_fields_its_check_reads() -> None:
    assert fields("label") == ("labels_tags",)
    assert fields("packager_code") == ("emb_codes",)
    assert set(RULES) == {
        "brand",
        "category",
        "expiration_date",
        "label",
        "packager_code",
        "product_weight",
        "store",
    }


tag_lists = st.lists(
    st.sampled_from(["en:organic", "en:vegan", "fr:label-rouge", "en:fair-trade"]), max_size=4
)


@given(tag=st.sampled_from(["en:organic", "en:vegan", "fr:label-rouge"]), present=tag_lists)
def test_label_is_sent_exactly_when_the_product_lacks_it(tag: str, present: list[str]) -> None:
    decided = decide(insight("label", None, tag), {"labels_tags": present})
    assert isinstance(decided, Write) == (tag not in present)


codes = st.lists(
    st.sampled_from(["EMB 72180", "FR 40.261.001 CE", "fr40261001ec", "ES 12.345/M", "émb 72180"]), max_size=3
)


@given(new=st.sampled_from(["EMB 72180", "FR 40.261.001 CE", "ES 12.345/M"]), existing=codes)
def test_packager_codes_keep_the_existing_list_and_add_once(new: str, existing: list[str]) -> None:
    decided = decide(insight("packager_code", new), {"emb_codes": ",".join(existing)})
    present = {normalize_emb_code(code) for code in existing}
    if normalize_emb_code(new) in present:
        assert isinstance(decided, Done)
    else:
        assert isinstance(decided, Write)
        assert decided.fields["emb_codes"].split(",") == [*existing, new]
