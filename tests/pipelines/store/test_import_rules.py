"""Robotoff's prediction import (robotoff/insights/importer.py), rule by rule, with hand-written batches
imported into a real DuckDB store file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pipelines.store.predictions import import_predictions
from tests.pipelines.store.conftest import BARCODE, IMAGE_1, IMAGE_2, T0, T1, batch, content, pred, stored

OTHER = "5449000000996"


def products(*entries: tuple[str, list[str]]) -> pa.Table:
    return pa.table({"barcode": [b for b, _ in entries], "image_ids": [ids for _, ids in entries]})


def by_value_tag(rows: list[dict]) -> dict[str | None, dict]:
    return {row["value_tag"]: row for row in rows}


# --- step 2: predictor_version replacement -------------------------------------------------------------


def test_new_predictor_version_replaces_the_same_type_and_image(con: duckdb.DuckDBPyConnection) -> None:
    """Robotoff's own test (test_import_product_predictions), restated."""
    old = None
    import_predictions(
        con,
        batch(
            pred(predictor_version=old, value_tag="en:organic"),  # replaced
            pred(predictor_version=old, value_tag="en:organic", source_image=IMAGE_2),  # other image
            pred(predictor_version=old, value_tag="en:organic", server_type="obf"),  # other server type
            pred(predictor_version=old, value_tag="en:fairtrade-international"),  # replaced
            pred(predictor_version=old, value_tag="Auchan", type="store"),  # other type
        ),
        now=T0,
    )
    report = import_predictions(con, batch(pred(predictor_version="2", value_tag="en:organic")), now=T1)
    assert report.deleted == {"category": 0, "predictor_version": 2}
    assert report.inserted == 1
    rows = stored(con, "timestamp")
    assert {(r["value_tag"], r["source_image"], r["server_type"], r["predictor_version"]) for r in rows} == {
        ("en:organic", IMAGE_2, "off", None),
        ("en:organic", IMAGE_1, "obf", None),
        ("Auchan", IMAGE_1, "off", None),
        ("en:organic", IMAGE_1, "off", "2"),
    }
    assert rows[-1]["timestamp"] == T1  # the last id is the one inserted last


def test_same_predictor_version_deletes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred(value_tag="en:organic"), pred(value_tag="en:vegan")), now=T0)
    report = import_predictions(con, batch(pred(value_tag="en:organic")), now=T1)
    assert report.deleted_total == 0
    assert report.skipped_existing == 1
    assert {r["value_tag"] for r in stored(con)} == {"en:organic", "en:vegan"}


def test_null_predictor_versions_are_not_distinct(con: duckdb.DuckDBPyConnection) -> None:
    """IS DISTINCT FROM: NULL vs NULL is "same version" (kept), NULL vs "1" is a different one."""
    import_predictions(con, batch(pred(predictor_version=None, value_tag="a")), now=T0)
    assert (
        import_predictions(con, batch(pred(predictor_version=None, value_tag="b")), now=T1).deleted_total == 0
    )
    report = import_predictions(con, batch(pred(predictor_version="1", value_tag="c")), now=T1)
    assert report.deleted == {"category": 0, "predictor_version": 2}
    assert [r["value_tag"] for r in stored(con)] == ["c"]


def test_null_source_image_is_never_replaced_by_version(con: duckdb.DuckDBPyConnection) -> None:
    """`source_image = NULL` is never true: product-name predictions survive a new predictor version."""
    import_predictions(
        con, batch(pred(source_image=None, predictor_version="1", value_tag="en:organic")), now=T0
    )
    report = import_predictions(
        con,
        batch(
            pred(source_image=None, predictor_version="2", value_tag="en:vegan"),
            # same key as the stored row (predictor_version is not part of it): skipped, not replaced
            pred(source_image=None, predictor_version="2", value_tag="en:organic"),
        ),
        now=T1,
    )
    assert report.deleted_total == 0
    assert report.inserted == 1 and report.skipped_existing == 1
    assert {(r["value_tag"], r["predictor_version"]) for r in stored(con)} == {
        ("en:organic", "1"),
        ("en:vegan", "2"),
    }


def test_empty_source_image_is_a_value_for_the_version_rule(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred(source_image="", predictor_version="1", value_tag="a")), now=T0)
    report = import_predictions(
        con, batch(pred(source_image="", predictor_version="2", value_tag="b")), now=T1
    )
    assert report.deleted == {"category": 0, "predictor_version": 1}


def test_two_versions_in_one_batch_evict_every_stored_row_of_the_group(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Robotoff loops over the (…, version) groups: each version deletes the other's rows."""
    import_predictions(con, batch(pred(predictor_version="1", value_tag="old")), now=T0)
    two = batch(pred(predictor_version="1", value_tag="a"), pred(predictor_version="2", value_tag="b"))
    report = import_predictions(con, two, now=T1)
    assert report.deleted == {"category": 0, "predictor_version": 1}
    assert sorted(r["value_tag"] for r in stored(con)) == ["a", "b"]
    again = import_predictions(con, two, now=T1)
    assert (again.deleted_total, again.inserted, again.kept_identical) == (0, 0, 2)


# --- step 2: category ---------------------------------------------------------------------------------


def test_category_evicts_every_stored_category_of_the_product(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(
        con,
        batch(
            pred(type="category", value_tag="en:snacks", predictor="neural", predictor_version="v3"),
            pred(type="category", value_tag="en:biscuits", predictor="neural", source_image=IMAGE_2),
            pred(type="category", value_tag="en:cheeses", predictor="regex", source_image=None),
            pred(type="category", value_tag="en:cheeses", barcode=OTHER),  # other product
            pred(type="category", value_tag="en:cheeses", server_type="obf"),  # other server type
            pred(type="label", value_tag="en:organic"),  # other type
        ),
        now=T0,
    )
    report = import_predictions(
        con,
        batch(pred(type="category", value_tag="en:crackers", predictor="matcher", source_image=None)),
        now=T1,
    )
    assert report.deleted == {"category": 3, "predictor_version": 0}
    assert report.inserted == 1
    left = {(r["barcode"], r["server_type"], r["type"], r["value_tag"]) for r in stored(con)}
    assert left == {
        (OTHER, "off", "category", "en:cheeses"),
        (BARCODE, "obf", "category", "en:cheeses"),
        (BARCODE, "off", "label", "en:organic"),
        (BARCODE, "off", "category", "en:crackers"),
    }


def test_category_replaces_data_and_confidence_and_reimport_is_a_no_op(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """Robotoff deletes and re-inserts categories, so new data wins; an identical row is kept instead."""
    first = pred(type="category", value_tag="en:snacks", confidence=0.6, data={"v": 1})
    import_predictions(con, batch(first), now=T0)
    (before,) = stored(con, "id", "timestamp")

    again = import_predictions(con, batch(first), now=T1)
    assert (again.deleted_total, again.inserted, again.kept_identical, again.skipped_existing) == (0, 0, 1, 1)
    assert stored(con, "id", "timestamp") == [before]

    changed = import_predictions(con, batch(first | {"confidence": 0.9, "data": {"v": 2}}), now=T1)
    assert (changed.deleted["category"], changed.inserted) == (1, 1)
    (after,) = stored(con, "timestamp")
    assert (after["confidence"], after["data"], after["timestamp"]) == (0.9, {"v": 2}, T1)


def test_legacy_duplicate_categories_collapse_to_one(con: duckdb.DuckDBPyConnection) -> None:
    row = pred(type="category", value_tag="en:snacks")
    import_predictions(con, batch(row), now=T0)
    con.execute("INSERT INTO prediction SELECT nextval('prediction_id_seq'), * EXCLUDE (id) FROM prediction")
    assert len(stored(con)) == 2
    report = import_predictions(con, batch(row), now=T1)
    assert (report.deleted["category"], report.kept_identical, report.inserted) == (1, 1, 0)
    assert len(stored(con)) == 1


# --- step 3: the existence key ------------------------------------------------------------------------


def test_data_and_confidence_are_not_part_of_the_key(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred(data={"text": "bio"}, confidence=0.5)), now=T0)
    report = import_predictions(con, batch(pred(data={"text": "organic"}, confidence=0.9)), now=T1)
    assert (report.inserted, report.skipped_existing, report.deleted_total) == (0, 1, 0)
    (row,) = stored(con, "timestamp")
    assert (row["data"], row["confidence"], row["timestamp"]) == ({"text": "bio"}, 0.5, T0)


@pytest.mark.parametrize(
    "change",
    [
        {"value_tag": "en:vegan"},
        {"value_tag": None},
        {"value": "bio"},
        {"predictor": "regex"},
        {"predictor": None},
        {"automatic_processing": False},
        {"automatic_processing": True},
        {"source_image": IMAGE_2},
        {"source_image": None},
        {"type": "brand"},
        {"server_type": "obf"},
        {"barcode": OTHER},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
def test_every_key_column_distinguishes_rows(con: duckdb.DuckDBPyConnection, change: dict) -> None:
    import_predictions(con, batch(pred()), now=T0)
    report = import_predictions(con, batch(pred(**change)), now=T1)
    assert report.inserted == 1
    assert len(stored(con)) == 2


def test_null_matches_null_in_the_key(con: duckdb.DuckDBPyConnection) -> None:
    """Robotoff tests `tuple in set_of_tuples`: None == None, so NULL key values match NULL."""
    row = pred(value=None, value_tag=None, predictor=None, automatic_processing=None, source_image=None)
    import_predictions(con, batch(row), now=T0)
    report = import_predictions(con, batch(row | {"data": {"x": 1}}), now=T1)
    assert (report.inserted, report.skipped_existing) == (0, 1)


def test_duplicates_in_one_batch_are_stored_once_first_wins(con: duckdb.DuckDBPyConnection) -> None:
    report = import_predictions(
        con,
        batch(
            pred(data={"n": 1}),
            pred(data={"n": 2}),  # same key, other data
            pred(data={"n": 1}),  # identical to the first
            pred(value_tag=None, data={"n": 3}),
            pred(value_tag=None, data={"n": 4}),  # same key with a NULL: still a duplicate
        ),
        now=T0,
    )
    assert (report.rows_in, report.duplicates_in_batch, report.inserted) == (5, 3, 2)
    assert [r["data"] for r in stored(con)] == [{"n": 1}, {"n": 3}]
    assert report.balances()


# --- step 1: validity filter --------------------------------------------------------------------------


def test_validity_filter_drops_and_counts(con: duckdb.DuckDBPyConnection) -> None:
    report = import_predictions(
        con,
        batch(
            pred(value_tag="valid image"),
            pred(value_tag="no image", source_image=None),
            pred(value_tag="empty image", source_image=""),
            pred(value_tag="unknown image", source_image=IMAGE_2),
            pred(value_tag="selected image", source_image="/301/762/042/2003/front_fr.4.400.jpg"),
            pred(value_tag="missing product", barcode=OTHER),
            pred(value_tag="missing product category", barcode=OTHER, type="category", source_image=None),
        ),
        products=products((BARCODE, ["1", "3"])),
        now=T0,
    )
    assert report.dropped == {"product_missing": 2, "invalid_image": 2}
    assert sorted(r["value_tag"] for r in stored(con)) == ["empty image", "no image", "valid image"]
    assert report.types_by_barcode() == {BARCODE: {"label"}}
    assert report.balances()


def test_dropped_predictions_evict_nothing(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred(type="category", value_tag="en:snacks", source_image=None)), now=T0)
    import_predictions(con, batch(pred(value_tag="old", predictor_version="1")), now=T0)
    report = import_predictions(
        con,
        batch(
            pred(type="category", value_tag="en:biscuits", source_image=IMAGE_2),  # image 2 unknown
            pred(value_tag="new", predictor_version="2", source_image=IMAGE_2),
        ),
        products=products((BARCODE, ["1"])),
        now=T1,
    )
    assert report.dropped["invalid_image"] == 2
    assert report.deleted_total == 0
    assert sorted(r["value_tag"] for r in stored(con)) == ["en:snacks", "old"]


def _robotoff_is_valid_image(image_ids: list[str], source_image: str) -> bool:
    """robotoff/products.py is_valid_image."""
    stem = Path(source_image).stem
    return stem.isdigit() and stem in image_ids


@pytest.mark.parametrize(
    "source_image",
    [
        "/301/762/042/2003/1.jpg",
        "/301/762/042/2003/12.jpg",
        "/301/762/042/2003/2.jpg",
        "/301/762/042/2003/1.json",
        "/301/762/042/2003/1",
        "/301/762/042/2003/1/",
        "1.jpg",
        "/301/762/042/2003/01.jpg",
        "/301/762/042/2003/1.400.jpg",
        "/301/762/042/2003/front_fr.1.jpg",
        "/301/762/042/2003/.1",
        "/301/762/042/2003/1.",
        "/301/762/042/2003/x1.jpg",
        "/1.jpg/12",
        "/",
    ],
)
def test_image_stem_matches_robotoff(con: duckdb.DuckDBPyConnection, source_image: str) -> None:
    ids = ["1", "12"]
    report = import_predictions(
        con, batch(pred(source_image=source_image)), products=products((BARCODE, ids)), now=T0
    )
    assert report.inserted == int(_robotoff_is_valid_image(ids, source_image))


def test_duplicate_product_rows_and_null_image_lists(con: duckdb.DuckDBPyConnection) -> None:
    table = pa.table(
        {"barcode": [BARCODE, BARCODE, OTHER], "image_ids": [["1"], ["2"], None]},
        schema=pa.schema([("barcode", pa.string()), ("image_ids", pa.list_(pa.string()))]),
    )
    report = import_predictions(
        con,
        batch(
            pred(value_tag="a", source_image=IMAGE_1),
            pred(value_tag="b", source_image=IMAGE_2),
            pred(value_tag="c", barcode=OTHER, source_image=IMAGE_1),
            pred(value_tag="d", barcode=OTHER, source_image=None),
        ),
        products=table,
        now=T0,
    )
    assert report.dropped == {"product_missing": 0, "invalid_image": 1}
    assert sorted(r["value_tag"] for r in stored(con)) == ["a", "b", "d"]


# --- step 4 and the report ----------------------------------------------------------------------------


def test_types_by_product_include_types_whose_rows_were_skipped(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred()), now=T0)
    report = import_predictions(
        con,
        batch(
            pred(),  # already stored
            pred(type="brand", value_tag="ferrero"),
            pred(type="label", barcode=OTHER),
            pred(type="label", server_type="obf"),
        ),
        now=T1,
    )
    assert report.types_by_product.to_pylist() == [
        {"barcode": BARCODE, "server_type": "obf", "types": ["label"]},
        {"barcode": BARCODE, "server_type": "off", "types": ["brand", "label"]},
        {"barcode": OTHER, "server_type": "off", "types": ["label"]},
    ]
    assert report.types_by_barcode("off") == {BARCODE: {"brand", "label"}, OTHER: {"label"}}
    assert report.to_dict()["products"] == 3


def test_server_types_are_separate_products(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(
        con,
        batch(
            pred(type="category", value_tag="off-cat", source_image=None),
            pred(type="category", value_tag="obf-cat", source_image=None, server_type="obf"),
        ),
        now=T0,
    )
    report = import_predictions(
        con, batch(pred(type="category", value_tag="new", source_image=None, server_type="obf")), now=T1
    )
    assert report.deleted["category"] == 1
    assert sorted((r["server_type"], r["value_tag"]) for r in stored(con)) == [
        ("obf", "new"),
        ("off", "off-cat"),
    ]


def test_mixed_batch_is_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    rows = batch(
        pred(),
        pred(value_tag="en:vegan", data={"a": [1, "é"]}, confidence=0.25),
        pred(type="category", value_tag="en:snacks", source_image=None, confidence=0.7),
        pred(type="category", value_tag="en:snacks", source_image=None, confidence=0.8),  # dup key
        pred(type="product_weight", value="250 g", source_image=None, predictor_version=None),
        pred(barcode=OTHER, predictor_version="2", automatic_processing=True),
    )
    import_predictions(con, rows, now=T0)
    before = stored(con, "id", "timestamp")
    report = import_predictions(con, rows, now=T1)
    assert (report.inserted, report.deleted_total) == (0, 0)
    assert stored(con, "id", "timestamp") == before


def test_empty_batch(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred()), now=T0)
    report = import_predictions(con, batch(), now=T1)
    assert (report.rows_in, report.inserted, report.deleted_total) == (0, 0, 0)
    assert report.types_by_product.num_rows == 0
    assert len(stored(con)) == 1


def test_ids_come_from_the_sequence_and_timestamps_from_now(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred(value_tag="a"), pred(value_tag="b")), now=T0)
    import_predictions(con, batch(pred(value_tag="c")), now=T1)
    rows = stored(con, "id", "timestamp")
    assert sorted(r["id"] for r in rows) == [1, 2, 3]
    assert [r["timestamp"] for r in rows] == [T0, T0, T1]


# --- input checks -------------------------------------------------------------------------------------


def test_bad_input_is_refused_before_touching_the_store(con: duckdb.DuckDBPyConnection) -> None:
    import_predictions(con, batch(pred()), now=T0)
    before = stored(con, "id", "timestamp")
    good = batch(pred(value_tag="new"))
    with pytest.raises(ValueError, match="lack columns: confidence"):
        import_predictions(con, good.drop_columns(["confidence"]))
    with pytest.raises(ValueError, match="server_type"):
        import_predictions(con, batch(pred(server_type="world")))
    with pytest.raises(ValueError, match=r"barcode.*null"):
        import_predictions(con, good.set_column(1, "barcode", pa.array([None], pa.string())))
    with pytest.raises(ValueError, match="timezone"):
        import_predictions(con, good, now=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="products lack"):
        import_predictions(con, good, products=pa.table({"barcode": [BARCODE]}))
    with pytest.raises(duckdb.Error, match="JSON"):
        import_predictions(con, batch(pred(data="{not json")))
    assert stored(con, "id", "timestamp") == before
    assert import_predictions(con, good, now=T1).inserted == 1


def test_content_helper_is_hashable() -> None:
    assert content(pred()) == content(pred())
