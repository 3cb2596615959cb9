"""Robotoff's importer rules (``robotoff/insights/importer.py``), one behaviour per test, on a real store:
a DuckDB file and a PostgreSQL database (the ``store`` fixture), with the same assertions."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.pipelines.insights.conftest import BARCODE, NOW, Store, prediction, product

IMAGE_1 = "/301/762/042/2003/1.jpg"
IMAGE_2 = "/301/762/042/2003/2.jpg"


def values(store: Store, type: str, key: str = "value_tag") -> list:
    return [i[key] for i in store.insights(type)]


# --- store -----------------------------------------------------------------------------------------------


def test_store_insights_are_always_automatic(store: Store) -> None:
    store.predict(
        prediction("store", value="Auchan", value_tag="auchan", predictor="regex", source_image=IMAGE_1)
    )
    report = store.refresh(product())
    [insight] = store.insights("store")
    assert (insight["value_tag"], insight["automatic_processing"]) == ("auchan", True)
    assert insight["process_after"] == NOW + dt.timedelta(minutes=10)
    assert insight["with_image"] is True and insight["n_votes"] == 0
    assert report.created == {"store": 1}


# --- packager codes --------------------------------------------------------------------------------------


def test_packager_code_already_on_the_product_is_not_suggested(store: Store) -> None:
    store.predict(
        prediction(
            "packager_code", value="FR 29.181.001 EC", automatic_processing=True, source_image=IMAGE_1
        ),
        prediction("packager_code", value="EMB 29181", automatic_processing=True, source_image=IMAGE_1),
    )
    store.refresh(product(emb_codes_tags=["fr-29-181-001-ce"]))
    assert values(store, "packager_code", "value") == ["EMB 29181"]


# --- brand -----------------------------------------------------------------------------------------------


def test_brand_needs_a_product_without_brand(store: Store) -> None:
    store.predict(prediction("brand", value="Materne", value_tag="materne", predictor="google-cloud-vision"))
    store.refresh(product(brands_tags=["materne"]))
    assert store.insights("brand") == []
    store.refresh(product())
    assert values(store, "brand") == ["materne"]


def test_brand_lists_check_blacklist_and_barcode_range(store: Store, resources) -> None:
    tag, prefix = sorted(resources.brand_prefixes)[0]
    code = prefix[:7] + "000000"
    blacklisted = sorted(resources.brand_blacklist)[0]
    store.predict(
        prediction(
            "brand", code=code, value=tag, value_tag=tag, predictor="taxonomy", automatic_processing=False
        ),
        prediction(
            "brand",
            code=code,
            value="x",
            value_tag=blacklisted,
            predictor="taxonomy",
            automatic_processing=False,
        ),
        prediction(
            "brand",
            code=code,
            value="y",
            value_tag="not-a-brand-of-this-range",
            predictor="curated-list",
            automatic_processing=True,
        ),
        prediction(
            "brand",
            code="12345678",
            value="y",
            value_tag="not-a-brand-of-this-range",
            predictor="taxonomy",
            automatic_processing=False,
        ),
    )
    store.refresh(product(code=code), product(code="12345678"))
    assert sorted((i["barcode"], i["value_tag"]) for i in store.insights("brand")) == [
        ("12345678", "not-a-brand-of-this-range"),  # 8-digit codes have no range check
        (code, tag),
    ]


# --- product weight --------------------------------------------------------------------------------------


def weight(value: str, matcher: str, priority: int, image: str | None = IMAGE_1, **data) -> dict:
    return prediction(
        "product_weight",
        value=value,
        predictor="regex",
        automatic_processing=True,
        source_image=image,
        data={"matcher_type": matcher, "priority": priority, **data},
    )


def test_product_weight_one_candidate_the_best_one(store: Store) -> None:
    store.predict(weight("250 g", "no_mention", 3), weight("500 g", "with_mention", 1, image=IMAGE_1))
    store.refresh(product())
    [insight] = store.insights("product_weight")
    assert insight["value"] == "500 g" and insight["automatic_processing"] is True


def test_product_weight_disagreement_or_name_source_is_not_automatic(store: Store) -> None:
    store.predict(weight("500 g", "with_mention", 1, image=IMAGE_2), weight("400 g", "with_mention", 1))
    store.refresh(product())
    [insight] = store.insights("product_weight")
    assert insight["value"] == "500 g"  # the newest image first
    assert insight["automatic_processing"] is False


def test_product_weight_not_when_the_product_has_a_quantity(store: Store) -> None:
    store.predict(weight("500 g", "with_mention", 1))
    store.refresh(product(quantity="500 g"))
    assert store.insights("product_weight") == []


# --- expiration date -------------------------------------------------------------------------------------


def test_expiration_date_latest_and_disagreement(store: Store) -> None:
    store.predict(
        prediction("expiration_date", value="2026-01-02", automatic_processing=True, source_image=IMAGE_1),
        prediction("expiration_date", value="2027-03-04", automatic_processing=True, source_image=IMAGE_1),
    )
    store.refresh(product())
    [insight] = store.insights("expiration_date")
    assert (insight["value"], insight["automatic_processing"]) == ("2027-03-04", False)
    store.refresh(product(expiration_date="04/03/2027"))
    assert store.insights("expiration_date") == []


# --- label -----------------------------------------------------------------------------------------------


def label(tag: str, predictor: str = "flashtext", **fields) -> dict:
    fields.setdefault("source_image", IMAGE_1)
    return prediction("label", value_tag=tag, predictor=predictor, **fields)


def test_label_on_product_or_ancestor_of_its_labels_is_dropped(store: Store) -> None:
    store.predict(label("en:organic"), label("en:eu-organic"), label("en:vegan"))
    store.refresh(product(labels_tags=["en:eu-organic"]))
    assert values(store, "label") == ["en:vegan"]


def test_label_disabled_tags_are_dropped(store: Store) -> None:
    store.predict(label("en:eu-agriculture", "regex"), label("en:non-eu-agriculture", "regex"))
    store.refresh(product())
    assert store.insights("label") == []


def test_label_deepest_only_and_canonical_tag(store: Store) -> None:
    store.predict(label("en:organic"), label("en:eu-organic"), label("fr:sans-gluten"))
    store.refresh(product())
    assert values(store, "label") == ["en:eu-organic", "en:no-gluten"]


def test_label_whitelist_decides_automatic_processing(store: Store, resources) -> None:
    whitelisted = sorted(resources.lines("label_whitelist.txt"))[0]
    store.predict(
        label(whitelisted), label("en:vegan", predictor="google-cloud-vision", automatic_processing=False)
    )
    store.refresh(product())
    auto = {i["value_tag"]: i["automatic_processing"] for i in store.insights("label")}
    assert auto[whitelisted] is True
    assert auto.get("en:vegan") is False


def test_label_and_category_with_image_means_the_product_has_images(store: Store) -> None:
    store.predict(label("en:vegan", source_image=None))
    store.refresh(product(images=()))
    assert values(store, "label", "with_image") == [False]


# --- category --------------------------------------------------------------------------------------------


def test_category_canonical_deepest_and_campaigns(store: Store) -> None:
    store.predict(
        prediction("category", value_tag="en:dairies", predictor="regex"),
        prediction("category", value_tag="en:cheeses", predictor="regex"),
        prediction("category", value_tag="xx:not-a-category", predictor="regex"),
    )
    store.refresh(product())
    [insight] = store.insights("category")
    assert insight["value_tag"] == "en:cheeses"
    assert "missing-category" in insight["campaign"]
    store.refresh(product(categories_tags=["en:cheeses"]))
    assert store.insights("category") == []


# --- generic steps ---------------------------------------------------------------------------------------


def test_invalid_source_image_drops_the_candidate(store: Store) -> None:
    store.predict(
        prediction("store", value="Auchan", value_tag="auchan", source_image="/301/762/042/2003/9.jpg")
    )
    store.refresh(product(images=(1, 2)))
    assert store.insights("store") == []


def test_bounding_box_becomes_relative(store: Store) -> None:
    data = {"text": "Auchan", "bounding_box_absolute": [200, 100, 400, 1500]}
    store.predict(prediction("store", value="Auchan", value_tag="auchan", source_image=IMAGE_1, data=data))
    store.refresh(product())
    [insight] = store.insights("store")
    assert insight["data"] == {"text": "Auchan", "bounding_box": [0.1, 0.1, 0.2, 1.0]}


def test_reserved_barcode(store: Store) -> None:
    code = "0200000000015"
    store.predict(prediction("store", code=code, value="Auchan", value_tag="auchan"))
    store.refresh(product(code=code))
    assert values(store, "store", "reserved_barcode") == [True]


# --- create / update / delete / keep ---------------------------------------------------------------------


def test_second_refresh_changes_nothing(store: Store) -> None:
    store.predict(
        weight("500 g", "with_mention", 1),
        label("en:vegan"),
        prediction("store", value="Auchan", value_tag="auchan"),
    )
    first = store.refresh(product())
    assert first.changes == 3
    before = store.insights()
    second = store.refresh(product())
    assert second.changes == 0
    assert store.insights() == before


def test_annotated_insight_is_kept_and_blocks_its_conflicts(store: Store) -> None:
    store.predict(label("en:vegan"))
    store.refresh(product())
    [insight] = store.insights("label")
    store.annotate(insight["id"], -1)
    store.predict(label("en:vegan", data={"text": "vegan"}))
    report = store.refresh(product())
    assert [i["id"] for i in store.insights("label")] == [insight["id"]]
    assert report.changes == 0
    assert report.kept_protected == {"label": 1}


def test_unannotated_reference_is_updated_in_place(store: Store) -> None:
    store.predict(weight("500 g", "with_mention", 1))
    store.refresh(product())
    [first] = store.insights("product_weight")
    store.sql("UPDATE product_insight SET n_votes = 2")
    store.refresh(product(unique_scans_n=10))
    [again] = store.insights("product_weight")
    assert again["id"] == first["id"]
    assert again["unique_scans_n"] == 10


def test_unmatched_unannotated_reference_is_deleted(store: Store) -> None:
    store.predict(
        prediction(
            "brand",
            value="Materne",
            value_tag="materne",
            predictor="google-cloud-vision",
            automatic_processing=False,
        )
    )
    store.refresh(product())
    store.sql("DELETE FROM prediction")
    store.predict(
        prediction(
            "brand",
            value="Panzani",
            value_tag="panzani",
            predictor="google-cloud-vision",
            automatic_processing=False,
        )
    )
    report = store.refresh(product())
    assert values(store, "brand") == ["panzani"]
    assert report.deleted == {"brand": 1} and report.created == {"brand": 1}


def test_automatic_reference_is_protected(store: Store) -> None:
    store.predict(prediction("store", value="Auchan", value_tag="auchan"))
    store.refresh(product())
    store.sql("DELETE FROM prediction")
    store.predict(prediction("store", value="Lidl", value_tag="lidl"))
    report = store.refresh(product())
    assert values(store, "store") == ["auchan", "lidl"]  # the automatic one is about to be applied: kept
    assert report.deleted == {}
    assert report.kept_protected == {"store": 1}


def test_types_without_predictions_are_left_alone(store: Store) -> None:
    store.predict(prediction("store", value="Auchan", value_tag="auchan"))
    store.refresh(product())
    store.sql("DELETE FROM prediction")
    store.predict(label("en:vegan"))
    store.refresh(product())
    assert values(store, "store") == ["auchan"]


def test_missing_product_loses_predictions_and_unannotated_insights(store: Store) -> None:
    store.predict(label("en:vegan"), prediction("store", value="Auchan", value_tag="auchan"))
    store.refresh(product())
    [vegan] = store.insights("label")
    store.annotate(vegan["id"])
    report = store.refresh(product(code="3000000000001"), force=True)
    assert report.missing_products == 1
    assert [i["value_tag"] for i in store.insights() if i["barcode"] == BARCODE] == ["en:vegan"]
    assert store.sql("SELECT count(*) FROM prediction WHERE barcode = ?", BARCODE) == [(0,)]


def test_safety_stop_on_a_shrunken_product_table(store: Store) -> None:
    codes = [f"30000000000{i:02d}" for i in range(10)]
    store.predict(*[prediction("store", code=c, value="Auchan", value_tag="auchan") for c in codes])
    store.refresh(*[product(code=c) for c in codes])
    report = store.refresh(*[product(code=c) for c in codes[:5]])
    assert report.missing_deletion_skipped and len(store.insights("store")) == 10
    forced = store.refresh(*[product(code=c) for c in codes[:5]], force=True)
    assert not forced.missing_deletion_skipped and len(store.insights("store")) == 5


CODES = [f"30000000000{i:02d}" for i in range(10)]


def _unannotated_labels(store: Store) -> None:
    """Ten products, each with one unannotated, non-automatic label insight (not protected)."""
    store.predict(*[label("en:vegan", code=c, automatic_processing=False) for c in CODES])
    store.refresh(*[product(code=c) for c in CODES])
    assert len(store.insights("label")) == 10 and not any(i["automatic_processing"] for i in store.insights())


def _rows(store: Store) -> list[tuple]:
    return store.sql("SELECT * FROM product_insight ORDER BY id")


@pytest.mark.parametrize("kept", [5, 0], ids=["half", "empty"])
def test_safety_stop_keeps_every_insight_of_the_missing_products(store: Store, kept: int) -> None:
    """``docs/reliability.md`` F19: the importers used to run for the missing products too, find no candidate
    and delete their unprotected insights, although the safety stop had skipped the deletion."""
    _unannotated_labels(store)
    before = _rows(store)
    predictions = store.sql("SELECT count(*) FROM prediction")
    report = store.refresh(*[product(code=c) for c in CODES[:kept]])
    assert report.missing_deletion_skipped and report.missing_products == 10 - kept
    assert report.deleted == {} and report.deleted_missing == {} and report.missing_deleted_products == 0
    assert _rows(store) == before  # same rows, same ids, timestamps and votes
    assert store.sql("SELECT count(*) FROM prediction") == predictions
    forced = store.refresh(*[product(code=c) for c in CODES[:kept]], force=True)
    assert forced.deleted_missing == {"label": 10 - kept} == forced.deleted
    assert forced.missing_deleted_products == 10 - kept and len(store.insights("label")) == kept


def test_safety_stop_without_a_previous_bulk_run(store: Store) -> None:
    """A store filled by per-product refreshes only (the listener) has no bulk run to compare with: the
    products it holds data for are the reference, so an empty product table deletes nothing."""
    store.predict(*[label("en:vegan", code=c, automatic_processing=False) for c in CODES])
    store.refresh(*[product(code=c) for c in CODES], barcodes=CODES)
    before = _rows(store)
    report = store.refresh()  # bulk, empty product table
    assert report.missing_deletion_skipped and _rows(store) == before


def test_per_product_refresh_deletes_only_products_declared_gone(store: Store) -> None:
    """Absence from the product table is not deletion in a per-product refresh (``docs/reliability.md`` F20):
    a product the source did not return keeps everything; one declared gone loses its unannotated data."""
    _unannotated_labels(store)
    before = _rows(store)
    absent = store.refresh(barcodes=CODES[:2])
    assert absent.missing_products == 2 and absent.missing_deleted_products == 0 and absent.deleted == {}
    assert _rows(store) == before
    gone = store.refresh(barcodes=CODES[:2], gone=CODES[:1])
    assert gone.missing_products == 2 and gone.missing_deleted_products == 1
    assert gone.deleted_missing == {"label": 1} and gone.predictions_deleted == 1
    assert sorted(i["barcode"] for i in store.insights("label")) == CODES[1:]
