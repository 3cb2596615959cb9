"""JSONL → Parquet: explicit schema, real samples, quarantine, coercions, counts, atomicity."""

from __future__ import annotations

import base64
import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pyarrow.parquet as pq
import pytest
from openfoodfacts.images import convert_to_legacy_schema

from pipelines import barcodes
from pipelines.convert import convert as convert_module
from pipelines.convert.convert import ConversionError, ConvertOptions, convert_dump
from pipelines.convert.reader import DumpReadError
from pipelines.convert.schema import HF_COLUMNS, PRODUCT_SCHEMA, render_markdown
from pipelines.synth.generator import SynthSpec, generate

REPO = Path(__file__).resolve().parents[3]


def read_docs(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as handle:
        return [orjson.loads(line) for line in handle]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def convert(source: Path, out: Path, **options) -> tuple:
    report = convert_dump(source, "off", out_dir=out, options=ConvertOptions(**options))
    return report, pq.read_table(out / "products.parquet")


@pytest.fixture(scope="module")
def real_off(real_off_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("off")
    report, table = convert(real_off_sample, out)
    return report, table, read_docs(real_off_sample), out


def test_schema_matches_the_export_and_the_docs() -> None:
    tsv = (
        [
            line.split("\t")[0]
            for line in (REPO.parent / "shared" / "spec" / "hf-food-parquet-schema.tsv")
            .read_text()
            .splitlines()
            if line and not line.startswith("#")
        ]
        if (REPO.parent / "shared" / "spec").exists()
        else [name for name, _ in HF_COLUMNS]
    )
    assert [name for name, _ in HF_COLUMNS] == tsv
    assert len(HF_COLUMNS) == 111
    assert render_markdown() in (REPO / "docs" / "parquet-schema.md").read_text()


def test_real_off_sample_converts_completely(real_off: tuple, real_off_sample: Path) -> None:
    report, table, docs, _ = real_off
    assert report.lines_in == report.rows_out == len(docs) == table.num_rows == 718
    with gzip.open(real_off_sample, "rb") as handle:
        assert report.bytes_in == len(handle.read())
    assert report.quarantined == {}
    assert report.coerced_to_null == {}
    assert table.schema == PRODUCT_SCHEMA
    assert table.column("code").to_pylist() == [d["code"] for d in docs]
    assert table.column("dump_line").to_pylist() == list(range(1, 719))


def test_obf_sample_converts_completely(tmp_path: Path, real_off_sample: Path) -> None:
    source = real_off_sample.with_name("obf-real-sample.jsonl.gz")
    report = convert_dump(source, "obf", out_dir=tmp_path)
    assert report.lines_in == report.rows_out == 593
    assert report.quarantined == {}
    products = pq.read_table(tmp_path / "products.parquet")
    assert set(products.column("product_type").to_pylist()) == {"beauty"}


def test_values_follow_the_documents(real_off: tuple) -> None:
    _, table, docs, _ = real_off
    rows = table.to_pylist()
    for doc, row in zip(docs, rows, strict=True):
        assert row["normalized_code"] == barcodes.normalize_code(doc["code"])
        assert row["code_valid"] == barcodes.is_valid_code(doc["code"])
        names = [{"lang": "main", "text": doc["product_name"]}] if doc.get("product_name") else []
        names += sorted(
            ({"lang": k[-2:], "text": v} for k, v in doc.items() if _is_lang_key(k, "product_name") and v),
            key=lambda item: item["lang"],
        )
        assert row["product_name"] == names
        assert row["categories_tags"] == doc.get("categories_tags")
        if isinstance(doc.get("ingredients_n"), (int, float, str)):
            assert row["ingredients_n"] == int(float(doc["ingredients_n"]))
        if "serving_quantity" in doc and doc["serving_quantity"] is not None:
            assert float(row["serving_quantity"]) == float(doc["serving_quantity"])
        assert row["has_fiber_value"] == _has_fiber(doc)
        assert row["schema_version"] == doc.get("schema_version")


def _is_lang_key(key: str, family: str) -> bool:
    prefix = family + "_"
    return (
        key.startswith(prefix) and len(key) == len(prefix) + 2 and key[-2:].isalpha() and key[-2:].islower()
    )


def _has_fiber(doc: dict) -> bool:
    nutriments = doc.get("nutriments") or {}
    legacy = (doc.get("schema_version") or 999) < 1003 and any(
        nutriments.get(k) is not None for k in ("fiber", "fiber_prepared")
    )
    return legacy or '"fiber":' in orjson.dumps(doc.get("nutrition") or {}).decode()


def test_images_equal_the_sdks_legacy_conversion(real_off: tuple) -> None:
    _, table, docs, _ = real_off
    checked = 0
    for doc, images in zip(docs, table.column("images").to_pylist(), strict=True):
        if not doc.get("images"):
            assert images in (None, [])
            continue
        legacy = convert_to_legacy_schema(doc["images"])
        assert [img["key"] for img in images] == list(legacy)
        for img in images:
            expected = legacy[img["key"]]
            assert img["imgid"] == (int(expected["imgid"]) if expected.get("imgid") is not None else None)
            assert img["rev"] == (int(expected["rev"]) if expected.get("rev") is not None else None)
            uploaded = expected.get("uploaded_t")
            assert img["uploaded_t"] == (int(uploaded) if uploaded not in (None, "") else None)
            full = (expected.get("sizes") or {}).get("full") or {}
            assert (img["width"], img["height"]) == (full.get("w"), full.get("h"))
            angle = expected.get("angle")
            assert img["angle"] == (int(angle) if angle not in (None, "") else None)
            checked += 1
    assert checked > 1000


def test_legacy_nutriments_regrouped_like_the_export(real_off: tuple) -> None:
    _, table, docs, _ = real_off
    suffixes = ["_prepared_100g", "_prepared_serving", "_prepared_unit", "_prepared_value", "_unit", "_value",
                "_100g", "_serving"]  # fmt: skip
    for doc, nutriments in zip(docs, table.column("nutriments").to_pylist(), strict=True):
        if (doc.get("schema_version") or 999) >= 1003:
            continue
        expected: dict[str, dict] = {}
        for key, value in (doc.get("nutriments") or {}).items():
            for suffix in suffixes:
                if key.endswith(suffix) and value is not None:
                    expected.setdefault(key[: -len(suffix)], {})[suffix.lstrip("_")] = value
                    break
        got = {n["name"]: n for n in nutriments or []}
        assert set(got) == set(expected)
        for name, fields in expected.items():
            if "100g" in fields and isinstance(fields["100g"], (int, float)):
                assert got[name]["100g"] == pytest.approx(fields["100g"], rel=1e-6)
            if "unit" in fields:
                assert got[name]["unit"] == str(fields["unit"])


def test_readable_by_duckdb_polars_and_pyarrow(real_off: tuple) -> None:
    _, table, _, out = real_off
    path = out / "products.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}')").fetchall()[0][0] == table.num_rows
    assert pl.read_parquet(path).height == table.num_rows
    assert pl.scan_parquet(path).select(pl.col("code")).collect().height == table.num_rows
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_row_groups_have_the_configured_size(tmp_path: Path) -> None:
    source = tmp_path / "d.jsonl"
    write_lines(source, [orjson.dumps({"code": f"{i:013d}", "rev": i}) for i in range(2500)])
    report, _ = convert(source, tmp_path / "out", row_group_rows=1000, batch_rows=300)
    meta = pq.ParquetFile(tmp_path / "out" / "products.parquet").metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]
    assert report.row_groups == 3


def test_bad_lines_are_quarantined_and_neighbours_kept(tmp_path: Path) -> None:
    lines = [
        b'{"code": "3017620422003", "product_name": "ok 1"}',
        b'{"code": "3017620422004", "product_na',  # truncated
        b"[1, 2, 3]",
        b"42",
        b'{"code": "3017620422005", \xe9"product_name": "x"}',  # invalid UTF-8 outside a string: no repair
        b"",
        b"{not json}",
        b'{"product_name": "no code"}',
        b'{"code": "3017620422006", "product_name": "ok 2"}',
    ]
    source = write_lines(tmp_path / "d.jsonl", lines)
    report, table = convert(source, tmp_path / "out")
    assert table.column("product_name").to_pylist() == [
        [{"lang": "main", "text": "ok 1"}],
        [{"lang": "main", "text": "ok 2"}],
    ]
    assert table.column("dump_line").to_pylist() == [1, 9]
    assert report.quarantined == {
        "empty": 1,
        "invalid_json": 2,
        "invalid_utf8": 1,
        "no_code": 1,
        "not_an_object": 2,
    }
    assert report.lines_in == 9 == report.rows_out + report.quarantined_total
    records = [
        orjson.loads(line)
        for line in gzip.decompress((tmp_path / "out" / "products.bad.jsonl.gz").read_bytes()).splitlines()
    ]
    assert [r["line"] for r in records] == [2, 3, 4, 5, 6, 7, 8]
    by_line = {r["line"]: r for r in records}
    assert by_line[2]["text"] == lines[1].decode()
    assert base64.b64decode(by_line[5]["base64"]) == lines[4]
    assert by_line[5]["reason"] == "invalid_utf8"


def test_synthetic_bad_lines_are_exactly_the_quarantine(
    tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    source = tmp_path / "synth.jsonl.gz"
    spec = SynthSpec(products=600, seed=9, bad_line_rate=0.05, huge_line=True, taxonomy_dir=taxonomy_dir,
                     keywords_dir=keywords_dir)  # fmt: skip
    synth = generate(spec, source)
    report, table = convert(source, tmp_path / "out")
    assert table.num_rows == synth.products == 600
    assert report.quarantined_total == sum(synth.bad_lines.values())
    expected = {
        "invalid_json": synth.bad_lines.get("truncated", 0) + synth.bad_lines.get("empty_object_text", 0),
        "not_an_object": synth.bad_lines.get("array", 0) + synth.bad_lines.get("scalar", 0),
        "invalid_utf8": synth.bad_lines.get("invalid_utf8", 0),
        "too_large": 1,
    }
    assert report.quarantined == {k: v for k, v in expected.items() if v}
    assert report.lines_in == synth.lines
    assert report.bytes_in == synth.bytes_uncompressed


def test_unreadable_values_become_null_and_are_counted(tmp_path: Path) -> None:
    docs = [
        {"code": "3017620422003", "additives_n": "abc", "rev": "12", "ingredients_n": 4.0,
         "completeness": "0.5",
         "states_tags": "not a list", "nova_group": 2.5, "obsolete": "on", "no_nutrition_data": "maybe",
         "quantity": 500, "created_t": "1700000000"},
        {"code": "3017620422004", "additives_n": 3, "images": "broken", "nutriments": [], "packagings": {}},
    ]  # fmt: skip
    source = write_lines(tmp_path / "d.jsonl", [orjson.dumps(d) for d in docs])
    report, table = convert(source, tmp_path / "out")
    first, second = table.to_pylist()
    assert (first["additives_n"], first["rev"], first["ingredients_n"]) == (None, 12, 4)
    assert first["completeness"] == 0.5 and first["states_tags"] is None and first["nova_group"] is None
    assert first["obsolete"] is True and first["no_nutrition_data"] is None
    assert first["quantity"] == "500" and first["created_t"] == 1_700_000_000
    assert second["additives_n"] == 3 and second["images"] is None
    assert report.coerced_to_null == {
        "additives_n": 1, "images": 1, "no_nutrition_data": 1, "nova_group": 1, "nutriments": 1,
        "packagings": 1, "states_tags": 1,
    }  # fmt: skip


def test_numbers_beyond_float_range_become_null_instead_of_failing_the_batch(tmp_path: Path) -> None:
    """FLOAT columns (completeness, nutrient values of both layouts) hold at most ~3.4e38."""
    docs = [
        {"code": "3017620422003", "completeness": 1e300, "nutriments": {"fat_100g": 1e300, "salt_100g": 2}},
        {"code": "3017620422004", "schema_version": 1003, "nutrition": {"aggregated_set": {
            "nutrients": {"fat": {"value": -1e300}, "salt": {"value": 0.5}}}}},
        {"code": "3017620422005", "completeness": 0.25},
    ]  # fmt: skip
    source = write_lines(tmp_path / "d.jsonl", [orjson.dumps(d) for d in docs])
    report, table = convert(source, tmp_path / "out")
    first, second, third = table.to_pylist()
    assert first["completeness"] is None and third["completeness"] == 0.25
    assert [(n["name"], n["100g"]) for n in first["nutriments"]] == [("salt", 2.0)]
    assert [(n["name"], n["100g"]) for n in second["nutriments"]] == [("fat", None), ("salt", 0.5)]
    assert report.rows_out == 3 and report.coerced_to_null == {"completeness": 1}


def test_duplicates_and_collisions_are_kept_and_counted(tmp_path: Path) -> None:
    codes = ["3017620422003", "3017620422003", "12345670", "0000012345670", "12"]
    source = write_lines(
        tmp_path / "d.jsonl", [orjson.dumps({"code": c, "rev": i}) for i, c in enumerate(codes)]
    )
    report, table = convert(source, tmp_path / "out")
    assert table.num_rows == 5
    assert (report.duplicate_code_rows, report.normalized_code_collisions, report.invalid_codes) == (1, 1, 1)
    assert table.column("normalized_code").to_pylist()[2:4] == ["12345670", "12345670"]


def test_unbalanced_counts_fail_and_keep_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    source = write_lines(tmp_path / "d.jsonl", [orjson.dumps({"code": f"{i:013d}"}) for i in range(50)])
    convert(source, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    original = convert_module.BatchTransformer.__call__

    def lose_a_row(self, batch, languages=None):
        result = original(self, batch, languages)
        return result.slice(0, result.num_rows - 1)

    monkeypatch.setattr(convert_module.BatchTransformer, "__call__", lose_a_row)
    with pytest.raises(ConversionError):
        convert(source, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def _convert_within(seconds: float, source: Path, out: Path, **options) -> BaseException | None:
    """Run a conversion on a thread; it must end (no stage left waiting on another) within ``seconds``."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            convert(source, out, **options)
            outcome.append(None)
        except BaseException as exc:  # handed back to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the conversion hung after a writer failure"
    assert "parquet-writer" not in [t.name for t in threading.enumerate()]
    return outcome[0]


def test_a_writer_failure_fails_the_conversion_and_keeps_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure on the writer thread (here a full disk while a row group is written) ends the conversion with
    a ConversionError while the main thread is still producing batches, without leaving a thread waiting."""
    out = tmp_path / "out"
    source = write_lines(tmp_path / "d.jsonl", [orjson.dumps({"code": f"{i:013d}"}) for i in range(3000)])
    convert(source, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []
    original_write = pq.ParquetWriter.write_table

    def disk_full(self, table, row_group_size=None):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return original_write(self, table, row_group_size=row_group_size)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    error = _convert_within(60, source, out, batch_rows=100, first_batch_rows=100, row_group_rows=200)
    assert isinstance(error, ConversionError)
    assert "No space left" in str(error)
    assert calls == [200, 200]  # nothing written after the failure
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_corrupt_gzip_fails_and_keeps_the_previous_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    good = tmp_path / "good.jsonl"
    write_lines(good, [orjson.dumps({"code": f"{i:013d}"}) for i in range(20)])
    convert(good, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(good.read_bytes())[:-30])
    with pytest.raises(DumpReadError):
        convert(broken, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_sigkill_mid_conversion_keeps_the_previous_snapshot(
    tmp_path: Path, data_dir: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    small = tmp_path / "small.jsonl"
    write_lines(small, [orjson.dumps({"code": f"{i:013d}"}) for i in range(10)])
    out = data_dir / "parquet" / "off"
    convert_dump(small, "off", out_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    big = tmp_path / "big.jsonl.gz"
    generate(SynthSpec(products=6000, seed=2, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), big)
    exe = Path(sys.executable).with_name("offpipe")
    env = dict(os.environ, OFF_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        [str(exe), "convert", str(big), "--batch-rows", "500", "--min-rows", "0"], env=env,
        stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    tmp_parquet = out / "products.parquet.tmp"
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_parquet.exists() and tmp_parquet.stat().st_size > 0):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.endswith(".tmp")} == before
    report = convert_dump(big, "off", out_dir=out)
    assert report.rows_out == 6000
    assert pq.read_metadata(out / "products.parquet").num_rows == 6000
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())
