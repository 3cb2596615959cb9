"""The legacy nutriments regrouping: one item per nutrient name, in name order, from one column per key."""

from __future__ import annotations

import json
import re

import orjson
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.common.sql import connect
from pipelines.convert.schema import LANGUAGE_FAMILIES
from pipelines.convert.transform import (
    NUTRIMENT_SUFFIXES,
    BatchTransformer,
    language_keys,
    nutriment_lists,
    prepare_batch,
)

ITEM = pa.struct(
    [
        ("name", pa.string()),
        ("value", pa.float32()),
        ("100g", pa.float32()),
        ("serving", pa.float32()),
        ("unit", pa.string()),
        ("prepared_value", pa.float32()),
        ("prepared_100g", pa.float32()),
        ("prepared_serving", pa.float32()),
        ("prepared_unit", pa.string()),
    ]
)
LIST = pa.list_(ITEM)
NAMES = ("fat", "fiber", "salt", "energy-kcal", "vitamin-c", "fat_prepared")
TEXT = {"unit", "prepared_unit"}


def expected_lists(rows: list[dict]) -> list[list[dict]]:
    """What OFF's export makes of each legacy object (the rule, written out product by product)."""
    out = []
    for doc in rows:
        items: dict[str, dict] = {}
        for key, value in doc.items():
            for suffix, field in NUTRIMENT_SUFFIXES:
                if key.endswith(suffix) and len(key) > len(suffix):
                    if value is not None:
                        items.setdefault(key[: -len(suffix)], {})[field] = value
                    break
        out.append(
            [
                {"name": name} | {f.name: items[name].get(f.name) for f in ITEM if f.name != "name"}
                for name in sorted(items)
            ]
        )
    return out


def plan_and_values(rows: list[dict]) -> tuple[dict[str, dict[str, str]], pa.Table]:
    keys = sorted({key for doc in rows for key in doc})
    fields: dict[str, dict[str, str]] = {}
    for key in keys:
        for suffix, field in NUTRIMENT_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix):
                fields.setdefault(key[: -len(suffix)], {})[field] = key
                break
    columns: dict[str, pa.Array] = {"has_fiber_value": pa.nulls(len(rows), pa.bool_())}  # as in the real pass
    for name in sorted(fields):
        for field, key in fields[name].items():
            kind = pa.string() if field in TEXT else pa.float32()
            columns[key] = pa.array([doc.get(key) for doc in rows], type=kind)
    return {name: fields[name] for name in sorted(fields)}, pa.table(columns)


nutriment_doc = st.dictionaries(
    st.builds(
        lambda name, suffix: name + suffix[0],
        st.sampled_from(NAMES),
        st.sampled_from(NUTRIMENT_SUFFIXES),
    ),
    st.one_of(st.none(), st.floats(-1000, 1000, width=32, allow_nan=False)),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(nutriment_doc, min_size=1, max_size=20))
def test_lists_follow_the_export_rule(rows: list[dict]) -> None:
    # Units are text: give them text values so both kinds of column are exercised.
    rows = [{k: str(v) if k.endswith("unit") and v is not None else v for k, v in d.items()} for d in rows]
    fields, values = plan_and_values(rows)
    got = nutriment_lists(values, fields, LIST).to_pylist()
    assert got == expected_lists(rows)


def test_names_without_a_value_are_dropped_and_order_is_by_name() -> None:
    rows = [{"salt_100g": 1.0, "fat_unit": "g", "fiber_100g": None}, {}, {"fiber_100g": 2.0}]
    fields, values = plan_and_values(rows)
    got = nutriment_lists(values, fields, LIST).to_pylist()
    assert [[item["name"] for item in items] for items in got] == [["fat", "salt"], [], ["fiber"]]
    assert got[0][0]["unit"] == "g" and got[0][1]["100g"] == 1.0


def test_batch_regroups_legacy_objects_and_keeps_v3_lists() -> None:
    """Through DuckDB: legacy rows get regrouped lists, other rows keep theirs, the fiber flag follows."""
    transformer = BatchTransformer(1 << 20, threads=1)
    v3 = [{"name": "fiber", "100g": 3.0}]
    result = pa.table(
        {
            "_legacy_nutriments": [
                orjson.dumps(
                    {"fat_100g": "12,5", "fat_unit": "g", "sugars_value": 4, "salt_100g": True}
                ).decode(),
                None,
                orjson.dumps({"fiber": 1.5, "fiber_100g": 1.5, "weird key_100g": 3}).decode(),
            ],
            "nutriments": pa.array([None, v3, None], type=LIST),
            "has_fiber_value": [None, True, False],
        }
    )
    try:
        transformer.con = connect()
        out = transformer._with_legacy_nutriments(result)
    finally:
        transformer.close()
    lists = out.column("nutriments").to_pylist()
    assert [item["name"] for item in lists[0]] == ["fat", "salt", "sugars"]
    assert lists[0][0]["100g"] is None and lists[0][0]["unit"] == "g"  # "12,5" is not a number
    assert lists[0][1]["100g"] == 1.0  # true reads as 1, as the export's float fields take it
    assert lists[0][2]["value"] == 4.0
    assert lists[1] == [{f.name: v3[0].get(f.name) for f in ITEM}]
    assert [item["name"] for item in lists[2]] == ["fiber"]
    assert out.column("has_fiber_value").to_pylist() == [False, True, True]
    assert transformer.unsafe_keys == 1  # "weird key_100g" cannot be named in the query: skipped, counted
    assert "_legacy_nutriments" not in out.column_names


language_doc = st.dictionaries(
    st.one_of(
        st.builds(
            lambda f, lang: f"{f}_{lang}",
            st.sampled_from(LANGUAGE_FAMILIES),
            st.from_regex(r"[a-z]{2}", fullmatch=True),
        ),
        st.sampled_from(["product_name", "code", "x_product_name_fr", "product_name_fra", "generic_name_EN"]),
    ),
    st.one_of(
        st.text(max_size=8),
        st.just('"product_name_zz": "in a value"'),
        st.dictionaries(st.just("ingredients_text_yy"), st.just(1)),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(language_doc, min_size=1, max_size=6),
    st.sampled_from([(",", ":"), (", ", ": "), (",\t", " :\n ")]),
)
def test_language_keys_cover_every_top_level_variant(docs: list[dict], separators: tuple[str, str]) -> None:
    """Every `<family>_<xx>` key of a document is found (whatever the spacing); anything else found is only
    a key-like name that reads as NULL, and is always a well-formed variant name."""
    lines = [json.dumps(doc, separators=separators).encode() + b"\n" for doc in docs]
    found = language_keys(pa.table({"line": pa.array(lines, pa.large_binary())}))
    variant = re.compile("(%s)_[a-z]{2}" % "|".join(LANGUAGE_FAMILIES))  # noqa: UP031
    assert {key for doc in docs for key in doc if variant.fullmatch(key)} <= set(found)
    assert found == sorted(found) and all(variant.fullmatch(key) for key in found)


def test_prepared_text_is_the_lines_decoded_without_copying_valid_chunks() -> None:
    """The ``text`` column DuckDB parses: each line decoded (NULL where not UTF-8); a chunk that is UTF-8 as a
    whole is a view on the reader's own buffer, a chunk with a bad line is decoded line by line."""
    good = [b'{"code": "1", "product_name_fr": "P\xc3\xa2te"}\n', b'{"code": "2"}\n']
    bad = [b'{"code": "3"}\n', b'{"code": "\xff"}\n', b'{"code": "4", "generic_name_de": "x"}\n']
    chunks = [pa.array(lines, pa.large_binary()) for lines in (good, bad)]
    numbers = [pa.array([1, 2], pa.int64()), pa.array([3, 4, 5], pa.int64())]
    batch = pa.Table.from_batches(
        [pa.record_batch([n, c], names=["line_no", "line"]) for n, c in zip(numbers, chunks, strict=True)]
    )
    table, languages = prepare_batch(batch)
    assert languages == ["generic_name_de", "product_name_fr"]
    assert table.column("text").to_pylist() == [
        '{"code": "1", "product_name_fr": "Pâte"}\n',
        '{"code": "2"}\n',
        '{"code": "3"}\n',
        None,
        '{"code": "4", "generic_name_de": "x"}\n',
    ]
    text, line = table.column("text").chunk(0), table.column("line").chunk(0)
    assert text.buffers()[2].address == line.buffers()[2].address  # no copy of the valid chunk
    again, _ = prepare_batch(table)  # a prepared batch prepared again: one text column, the same
    assert again.column_names == ["line_no", "line", "text"]
    assert again.column("text").to_pylist() == table.column("text").to_pylist()
