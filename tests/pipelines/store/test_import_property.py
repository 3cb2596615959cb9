"""Property: the set-based import equals a row-by-row reading of ``robotoff/insights/importer.py`` on random
small batches.

The reference below follows Robotoff's ``import_predictions`` / ``import_product_predictions`` loop structure
(per product: delete per group, then insert what the stored key set lacks), in plain Python, plus the one
documented deviation on the insertion side: a key repeated within the batch is stored once. The other
deviation (an evicted row identical to its replacement is kept) changes ids and timestamps only, so the
comparison is on content, and the counts are compared through ``kept_identical``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from itertools import groupby
from pathlib import Path
from typing import Any

import duckdb
import hypothesis.strategies as st
import pyarrow as pa
from hypothesis import HealthCheck, given, settings

from pipelines.store.db import open_store
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import COLUMNS
from tests.pipelines.store.conftest import T0, T1, batch, content, stored

KEY = ("type", "server_type", "source_image", "value_tag", "value", "predictor", "automatic_processing")
BARCODES = ["1", "2"]

KEY_VALUES: dict[str, st.SearchStrategy] = {
    "type": st.sampled_from(["category", "label", "brand"]),
    "barcode": st.sampled_from(BARCODES),
    "server_type": st.sampled_from(["off", "obf"]),
    "value": st.sampled_from([None, "x"]),
    "value_tag": st.sampled_from([None, "a", "b"]),
    "automatic_processing": st.sampled_from([None, True, False]),
    "predictor": st.sampled_from([None, "p", "q"]),
    "source_image": st.sampled_from([None, "", "/1/1.jpg", "/1/2.jpg", "/1/front_fr.3.400.jpg"]),
}
payloads = st.fixed_dictionaries(
    {
        "data": st.sampled_from([{}, {"k": 1}, {"k": 2}]),
        "confidence": st.sampled_from([None, 0.5, 0.75]),
        "predictor_version": st.sampled_from([None, "1", "2"]),
    }
)
product_tables = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(BARCODES), st.lists(st.sampled_from(["1", "2", "3"]), unique=True)),
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[list[dict[str, Any]], Any]]]:
    """Stored rows and up to three batches drawn from a few keys that differ from one base key in 0-2
    columns, with free data/confidence/version: collisions (same key, same group, same product) are the
    rule rather than the exception, which is where the import's rules differ from one another."""
    base = draw(st.fixed_dictionaries(KEY_VALUES))
    variants = []
    for _ in range(draw(st.integers(1, 4))):
        changed = draw(st.lists(st.sampled_from(sorted(KEY_VALUES)), max_size=2, unique=True))
        variants.append(base | {name: draw(KEY_VALUES[name]) for name in changed})
    rows = st.builds(lambda key, payload: key | payload, st.sampled_from(variants), payloads)
    initial = draw(st.lists(rows, max_size=6))
    plan = draw(st.lists(st.tuples(st.lists(rows, max_size=8), product_tables), min_size=1, max_size=3))
    return initial, plan


def is_valid(prediction: dict[str, Any], products: dict[str, list[str]] | None) -> bool:
    """importer.py is_valid_product_prediction + products.py is_valid_image."""
    if products is None:
        return True
    if prediction["barcode"] not in products:
        return False
    image = prediction["source_image"]
    if image:
        stem = Path(image).stem
        return stem.isdigit() and stem in products[prediction["barcode"]]
    return True


def evicted(row: dict[str, Any], group: tuple[str, str, str, str | None, str | None]) -> bool:
    """Whether importer.py's delete for one incoming (barcode, server_type, type, source_image, version)
    group removes the stored ``row``."""
    barcode, server_type, type_, image, version = group
    if (row["barcode"], row["server_type"], row["type"]) != (barcode, server_type, type_):
        return False
    if type_ == "category":
        return True
    # raw SQL `source_image = %s`: NULL on either side is never equal
    same_image = image is not None and row["source_image"] is not None and row["source_image"] == image
    return same_image and row["predictor_version"] != version  # IS DISTINCT FROM


def reference_import(
    state: list[dict[str, Any]], predictions: list[dict[str, Any]], products: dict[str, list[str]] | None
) -> tuple[list[dict[str, Any]], dict[tuple[str, str], set[str]], int, int]:
    """Robotoff's prediction import (robotoff/insights/importer.py) applied row by row; returns (state,
    types per product, deleted, inserted)."""
    state = list(state)
    valid = [p for p in predictions if is_valid(p, products)]
    types: dict[tuple[str, str], set[str]] = {}
    deleted = inserted = 0

    def product(p: dict[str, Any]) -> tuple[str, str]:
        return p["barcode"], p["server_type"]

    for (barcode, server_type), group_iter in groupby(sorted(valid, key=product), key=product):
        group = list(group_iter)
        for type_, image, version in {(p["type"], p["source_image"], p["predictor_version"]) for p in group}:
            group_key = (barcode, server_type, type_, image, version)
            deleted += sum(1 for s in state if evicted(s, group_key))
            state = [s for s in state if not evicted(s, group_key)]
        existing = {tuple(s[k] for k in KEY) for s in state if product(s) == (barcode, server_type)}
        for p in group:
            key = tuple(p[k] for k in KEY)
            if key not in existing:
                state.append(p)
                inserted += 1
                existing.add(key)  # the deviation: Robotoff does not add it, storing in-batch duplicates
        types[(barcode, server_type)] = {p["type"] for p in group}
    return state, types, deleted, inserted


def seed(con: duckdb.DuckDBPyConnection, initial: list[dict[str, Any]]) -> None:
    """Put arbitrary rows (duplicates, several versions…) in the store directly, bypassing the import."""
    table = batch(*initial).select(list(COLUMNS))
    con.register("seed_rows", table)
    con.execute(
        f"INSERT INTO prediction ({', '.join(COLUMNS)}, timestamp) "
        f"SELECT {', '.join(COLUMNS)}, $t FROM seed_rows",
        {"t": T0},
    )
    con.unregister("seed_rows")


def table_types(report_table: pa.Table) -> dict[tuple[str, str], set[str]]:
    return {(r["barcode"], r["server_type"]): set(r["types"]) for r in report_table.to_pylist()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_set_based_import_matches_the_row_by_row_reference(
    scenario: tuple[list[dict[str, Any]], list[tuple[list[dict[str, Any]], dict[str, list[str]] | None]]],
) -> None:
    initial, plan = scenario
    with tempfile.TemporaryDirectory() as folder:
        con = open_store(Path(folder) / "store.duckdb")
        try:
            seed(con, initial)
            state = list(initial)
            for predictions, products in plan:
                table = None
                if products is not None:
                    table = pa.table(
                        {"barcode": list(products), "image_ids": list(products.values())},
                        schema=pa.schema([("barcode", pa.string()), ("image_ids", pa.list_(pa.string()))]),
                    )
                report = import_predictions(con, batch(*predictions), products=table, now=T1)
                state, types, deleted, inserted = reference_import(state, predictions, products)

                assert Counter(map(content, stored(con))) == Counter(map(content, state))
                assert table_types(report.types_by_product) == types
                assert report.deleted_total + report.kept_identical == deleted
                assert report.inserted + report.kept_identical == inserted
                dropped = sum(1 for p in predictions if not is_valid(p, products))
                assert sum(report.dropped.values()) == dropped
                assert report.balances()

            predictions, products = plan[-1]
            again = import_predictions(con, batch(*predictions), products=table, now=T1)
            assert (again.inserted, again.deleted_total) == (0, 0)
        finally:
            con.close()
