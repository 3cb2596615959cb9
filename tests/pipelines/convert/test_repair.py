"""Salvage, not drop (``docs/reliability.md`` F7): a line whose only fault is in its text is kept, repaired,
counted.

What DuckDB's JSON reader refuses for a text defect (measured): invalid UTF-8 bytes, lone surrogate escapes
(high, low, reversed), raw control characters in a string (tab included), unknown escapes, ``\\u`` with fewer
than four hex digits. Everything else (truncated, not an object, junk between members) stays quarantined.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.convert.convert import ConvertOptions, convert_dump
from pipelines.convert.from_documents import documents_to_rows
from pipelines.convert.reader import BATCH_SCHEMA
from pipelines.convert.repair import repair_line
from pipelines.convert.transform import BatchTransformer

LONE = re.compile(r"[\ud800-\udfff]")


def _escaped(value: str) -> bytes:
    """A product line with ``value`` as its brands, non-ASCII written as escapes (lone surrogates included),
    as Perl's and JavaScript's encoders write them."""
    return json.dumps({"code": "3017620422003", "brands": value}).encode("ascii")


def _with_bytes(before: str, raw: bytes, after: str) -> bytes:
    """A product line whose brands is ``before``, then the bytes ``raw`` as they are, then ``after``."""
    line = orjson.dumps({"code": "3017620422003", "brands": "\x00MARK\x00"})
    value = orjson.dumps(before)[1:-1] + raw + orjson.dumps(after)[1:-1]
    return line.replace(b"\\u0000MARK\\u0000", value)


def _paired(value: str) -> str:
    """``value`` with each surrogate pair made the character it encodes (as a JSON reader reads it)."""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def _expected(value: str) -> str:
    """``value`` as read, with each lone surrogate (not part of a pair) replaced by U+FFFD."""
    return LONE.sub("\ufffd", _paired(value))


@pytest.mark.parametrize(
    ("line", "brands"),
    [
        (b'{"code": "1", "brands": "a\\ud800b"}', "a\ufffdb"),  # lone high surrogate
        (b'{"code": "1", "brands": "a\\udc00b"}', "a\ufffdb"),  # lone low surrogate
        (b'{"code": "1", "brands": "a\\udc00\\ud800b"}', "a\ufffd\ufffdb"),  # reversed pair
        (b'{"code": "1", "brands": "a\\ud800\\ud83d\\ude00b"}', "a\ufffd\U0001f600b"),  # lone, then a pair
        (b'{"code": "1", "brands": "caf\xe9"}', "caf\ufffd"),  # latin-1 byte
        (b'{"code": "1", "brands": "a\xed\xa0\x80b"}', "a\ufffd\ufffd\ufffdb"),  # UTF-8-encoded surrogate
        (b'{"code": "1", "brands": "a\xf0\x9f\x98"}', "a\ufffd"),  # cut multi-byte character
        (b'{"code": "1", "brands": "a\tb\x01c"}', "a\tb\x01c"),  # raw control characters: escaped, kept
        (b'{"code": "1", "brands": "a\\xb"}', "a\ufffdb"),  # unknown escape
        (b'{"code": "1", "brands": "a\\u12G4"}', "a\ufffdG4"),  # short \u escape
        (b'{"code": "1", "br\xffands": "x", "brands": "y"}', "y"),  # in a key: the key is repaired
    ],
)
def test_repair_line(line: bytes, brands: str) -> None:
    repaired = repair_line(line)
    assert repaired is not None
    assert orjson.loads(repaired)["brands"] == brands


@pytest.mark.parametrize(
    "line",
    [
        b'{"code": "1", "brands": "fine \\u00e9 \\ud83d\\ude00 \\" \\\\ \\/"}',  # nothing to repair
        b'{"code": "1", "brands": "a\\ud800',  # unterminated string: left as it is
        b"[1, 2]",
    ],
)
def test_nothing_to_repair(line: bytes) -> None:
    assert repair_line(line) is None


def test_structure_is_never_guessed() -> None:
    """Bytes between members are replaced, but the line is still not JSON: it stays refused."""
    repaired = repair_line(b'{"code": "1", \xff"brands": "x"}')
    assert repaired == '{"code": "1", \ufffd"brands": "x"}'.encode()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(repaired)


def test_long_unterminated_line_is_linear() -> None:
    """A truncated line full of escaped quotes: one pass, not one pass per quote (a 16 MiB line would take
    hours otherwise)."""
    line = b'{"code": "1", "brands": "' + b'\\"' * 2_000_000
    assert repair_line(line) is None


_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)  # no surrogates: those are added below
_SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
_WITH_SURROGATES = st.lists(st.one_of(_TEXT, _SURROGATE), min_size=1, max_size=6).map("".join)
_INVALID = st.binary(min_size=1, max_size=4).filter(lambda b: all(x >= 0x80 for x in b))


@given(_WITH_SURROGATES)
def test_any_lone_surrogate_is_repaired(value: str) -> None:
    line = _escaped(value)
    repaired = repair_line(line)
    expected = _expected(value)
    if expected == _paired(value):  # no lone surrogate: DuckDB reads the line as it is
        assert repaired is None
    else:
        assert orjson.loads(repaired)["brands"] == expected


@given(_TEXT, _INVALID, _TEXT)
def test_any_invalid_bytes_in_a_string_are_repaired(before: str, raw: bytes, after: str) -> None:
    line = _with_bytes(before, raw, after)
    expected = line.decode("utf-8", "replace")
    repaired = repair_line(line)
    if expected.encode() == line:  # the bytes happened to be valid UTF-8
        assert repaired is None
    else:
        assert orjson.loads(repaired)["brands"] == orjson.loads(expected)["brands"]


@pytest.fixture(scope="module")
def transformer() -> BatchTransformer:
    transformer = BatchTransformer(16 * 1024 * 1024, threads=1, memory_limit="512MB")
    yield transformer
    transformer.close()


def _batch(lines: list[bytes]) -> pa.RecordBatch:
    return pa.record_batch(
        [
            pa.array(np.arange(1, len(lines) + 1)),
            pa.array([line + b"\n" for line in lines], pa.large_binary()),
        ],
        schema=BATCH_SCHEMA,
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(_WITH_SURROGATES, st.tuples(_TEXT, _INVALID, _TEXT)), min_size=1, max_size=12))
def test_every_repairable_line_is_kept_in_place_through_the_queries(
    transformer: BatchTransformer, values: list
) -> None:
    """Any mix of lines with lone surrogates or invalid bytes in a string value, between good lines: every
    line is a row, in line order, with the repaired text; each one that needed it is counted."""
    lines, expected = [], []
    for value in values:
        lines.append(b'{"code": "0000000000017", "brands": "good"}')
        expected.append("good")
        if isinstance(value, str):
            lines.append(_escaped(value))
            expected.append(_expected(value))
        else:
            lines.append(_with_bytes(*value))
            expected.append(orjson.loads(lines[-1].decode("utf-8", "replace"))["brands"])
    needing = sum(repair_line(line) is not None for line in lines)
    before = transformer.repaired_lines
    result = transformer(_batch(lines))
    assert result.column("_reason").null_count == len(lines)
    assert result.column("_line_no").to_pylist() == list(range(1, len(lines) + 1))
    assert result.column("brands").to_pylist() == expected
    assert transformer.repaired_lines - before == needing


def test_what_duckdb_reads_and_orjson_does_not_is_still_salvaged(transformer: BatchTransformer) -> None:
    """The salvage checks a repaired line is an object before its second pass; a number beyond 64 bits or a
    NaN (which DuckDB reads) must not make it give up."""
    line = b'{"code": "3017620422003", "brands": "a\\ud800", "rev": 123456789012345678901234567890, "x": NaN}'
    result = transformer(_batch([line]))
    assert result.column("_reason").to_pylist() == [None]
    assert result.column("brands").to_pylist() == ["a\ufffd"]


def test_no_second_pass_for_a_line_the_repair_cannot_save(
    transformer: BatchTransformer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invalid bytes between members are replaced, but the line is still not JSON: running the queries
    again (~0.1 s of planning) would be wasted on every batch holding such a line."""
    calls = []
    original = BatchTransformer._transform

    def counted(self, batch, languages):
        calls.append(batch.num_rows)
        return original(self, batch, languages)

    monkeypatch.setattr(BatchTransformer, "_transform", counted)
    lines = [b'{"code": "1", \xff"brands": "x"}', b'{"code": "2", "brands": "a\\ud800"}']
    result = transformer(_batch(lines))
    assert result.column("_reason").to_pylist() == ["invalid_utf8", None]
    assert calls == [2, 1]  # the batch, then the one line worth a second pass
    calls.clear()
    transformer(_batch(lines[:1]))
    assert calls == [1]


def test_conversion_keeps_repaired_lines_and_counts_them(tmp_path: Path) -> None:
    lines = [
        b'{"code": "3017620422003", "product_name": "ok"}',
        b'{"code": "3017620422004", "product_name": "Caf\\ud800 noir"}',  # lone surrogate escape
        b'{"code": "3017620422005", "product_name": "caf\xe9", "brands": "x"}',  # invalid UTF-8 in a string
        b'{"code": "3017620422006", "product_name": "tab\there"}',  # raw control character
        b'{"code": "3017620422007", \xe9"product_name": "x"}',  # invalid UTF-8 between members: kept out
        b'{"code": "3017620422008", "product_na',  # truncated: kept out
        b'{"code": "3017620422009", "product_name": "ok 2"}',
    ]
    source = tmp_path / "d.jsonl.gz"
    source.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    out = tmp_path / "out"
    report = convert_dump(
        source, "off", out_dir=out, options=ConvertOptions(batch_rows=3, first_batch_rows=2)
    )
    table = pq.read_table(out / "products.parquet")
    assert table.column("dump_line").to_pylist() == [1, 2, 3, 4, 7]
    assert [names[0]["text"] for names in table.column("product_name").to_pylist()] == [
        "ok", "Caf\ufffd noir", "caf\ufffd", "tab\there", "ok 2",
    ]  # fmt: skip
    assert table.column("brands").to_pylist() == [None, None, "x", None, None]
    assert (report.rows_out, report.repaired_lines) == (5, 3)
    assert report.quarantined == {"invalid_json": 1, "invalid_utf8": 1}
    assert report.lines_in == 7 == report.rows_out + report.quarantined_total
    saved = orjson.loads((out / "products.report.json").read_bytes())
    assert saved["repaired_lines"] == 3
    bad = [
        orjson.loads(line)
        for line in gzip.decompress((out / "products.bad.jsonl.gz").read_bytes()).splitlines()
    ]
    assert [(r["line"], r["reason"]) for r in bad] == [(5, "invalid_utf8"), (6, "invalid_json")]


def test_repaired_row_equals_the_row_of_the_repaired_text(tmp_path: Path, real_off_sample: Path) -> None:
    """The salvage runs the same queries: a repaired line's row is the row its repaired text gives, every
    column (real documents, so language variants, images and nutriments are all there)."""
    docs = gzip.decompress(real_off_sample.read_bytes()).splitlines()[:40]
    damaged = [line.replace(b'"product_name": "', b'"product_name": "\\udc00', 1) for line in docs]
    damaged = [line.replace(b'"brands": "', b'"brands": "\xff', 1) for line in damaged]
    assert sum(line != doc for line, doc in zip(damaged, docs, strict=True)) > 20
    for name, lines in (("damaged", damaged), ("clean", [repair_line(line) or line for line in damaged])):
        (tmp_path / f"{name}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        convert_dump(tmp_path / f"{name}.jsonl", "off", out_dir=tmp_path / name)
    assert pq.read_table(tmp_path / "damaged" / "products.parquet").equals(
        pq.read_table(tmp_path / "clean" / "products.parquet")
    )


def test_per_product_path_gets_the_same_repair() -> None:
    """A document from Product Opener's API may hold a lone surrogate (Python's JSON reader keeps "\\ud800"):
    orjson cannot write it and the batch failed; now it is written as its escape and repaired."""
    documents = [
        {"code": "3017620422003", "product_name": "Caf\ud800 noir", "brands": "a\udc00"},
        {"code": "3017620422004", "product_name": "ok"},
    ]
    rows, quarantined = documents_to_rows(documents)
    assert quarantined == {}
    assert rows.column("code").to_pylist() == ["3017620422003", "3017620422004"]
    assert rows.column("brands").to_pylist() == ["a\ufffd", None]
    assert [n[0]["text"] for n in rows.column("product_name").to_pylist()] == ["Caf\ufffd noir", "ok"]
