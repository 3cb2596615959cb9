"""Archive ingestion: rows equal to the SDK, quarantine keeping neighbours, balanced counts, atomic output."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openfoodfacts.ocr import OCRResult

from pipelines.ocr import ingest
from pipelines.ocr.ingest import OcrIngestError, default_output, ingest_archive, quarantine_path
from pipelines.ocr.rows import ocr_table_from_json, parse_source
from pipelines.ocr.schema import OCR_TEXT_SCHEMA
from tests.conftest import REPO
from tests.pipelines.ocr.conftest import RealOcr, SynthOcr


def _read(path: Path) -> pa.Table:
    return pq.read_table(path, schema=OCR_TEXT_SCHEMA)


def _bad(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in quarantine_path(path).read_bytes().splitlines()]


def _write_gz(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=1, mtime=0))
    return path


def test_synthetic_archive_rows_equal_the_sdk(tmp_path: Path, synth_ocr: SynthOcr) -> None:
    out = tmp_path / "ocr_texts.parquet"
    report = ingest_archive(synth_ocr.archive, out, "off", workers=1, chunk_lines=37)
    lines = synth_ocr.lines()
    assert report.lines_in == len(lines) == synth_ocr.report.ocr_images
    assert report.rows_out == len(lines)
    assert report.quarantined == {}
    assert quarantine_path(out).read_bytes() == b""
    table = _read(out)
    assert pq.read_schema(out) == OCR_TEXT_SCHEMA
    rows = table.to_pylist()
    for row, line in zip(rows, lines, strict=True):
        record = orjson.loads(line)
        result = OCRResult.from_json(record["content"])
        assert row["ocr_source"] == record["source"]
        assert (row["barcode"], row["image_id"]) == parse_source(record["source"])
        assert row["source_image"] == record["source"].removesuffix(".json") + ".jpg"
        assert row["full_text"] == result.get_full_text()
        assert row["full_text_contiguous"] == result.get_full_text_contiguous()
        assert [(d["key"], d["count"]) for d in row["languages"]] == list(result.get_languages().items())


def test_same_table_whatever_the_workers_and_chunks(tmp_path: Path, synth_ocr: SynthOcr) -> None:
    one = ingest_archive(synth_ocr.archive, tmp_path / "a" / "ocr_texts.parquet", workers=1)
    two = ingest_archive(
        synth_ocr.archive,
        tmp_path / "b" / "ocr_texts.parquet",
        workers=2,
        chunk_lines=11,
        chunk_bytes=200_000,
    )
    assert two.workers == 2
    assert one.rows_out == two.rows_out > 0
    assert _read(Path(one.output)).equals(_read(Path(two.output)))


def test_real_files_through_the_archive_path(tmp_path: Path, real_ocr: list[RealOcr]) -> None:
    archive = tmp_path / "real.jsonl"  # plain text this time
    archive.write_bytes(b"\n".join(r.archive_line() for r in real_ocr) + b"\n")
    report = ingest_archive(archive, tmp_path / "ocr_texts.parquet", workers=1)
    assert report.rows_out == len(real_ocr) and report.quarantined == {}
    table = _read(Path(report.output))
    for index, real in enumerate(real_ocr):
        direct = ocr_table_from_json(
            real.payload, barcode=real.barcode, image_id=real.image_id, source=real.source
        )
        assert table.slice(index, 1).equals(direct), real.name  # one code path: same row either way


def _bad_lines(good: list[bytes]) -> list[tuple[bytes, str | None]]:
    """Malformed lines and the reason each must be quarantined with (None: a good line)."""
    first = orjson.loads(good[0])
    content = first["content"]

    def line(source: str, payload: object) -> bytes:
        return orjson.dumps({"source": source, "content": payload})

    no_pages = {"responses": [{"fullTextAnnotation": {"text": "x"}}]}
    float_vertex = orjson.loads(orjson.dumps(content))
    word = float_vertex["responses"][0]["fullTextAnnotation"]["pages"][0]["blocks"][0]["paragraphs"][0]
    word["words"][0]["boundingBox"]["vertices"][0]["x"] = 1.5
    string_score = {"responses": [{"labelAnnotations": [{"description": "Food", "score": "high"}]}]}
    return [
        (b"", "empty_line"),
        (good[1][: len(good[1]) // 2], "not_json"),  # truncated: its source is still recorded
        (b"\xff\xfe{not utf-8", "not_json"),
        (b"[1, 2]", "bad_record"),
        (orjson.dumps({"source": 3, "content": content}), "bad_record"),
        (orjson.dumps({"source": "/303/835/001/3804/1.json"}), "bad_record"),
        (line("/303/835/001/3804/90.json", {}), "no_responses"),
        (line("/303/835/001/3804/91.json", {"responses": []}), "no_responses"),
        (line("/303/835/001/3804/92.json", {"responses": [{"error": {"code": 7}}]}), "ocr_error"),
        (line("/303/835/001/3804/93.json", no_pages), "parse_error"),
        (line("/303/835/001/3804/94.json", float_vertex), "parse_error"),
        (line("/303/835/001/3804/95.json", string_score), "parse_error"),  # Arrow refuses it
        (line("/12/1.json", content), "invalid_barcode"),
        (line("/303/835/001/3804/front_fr.json", content), "invalid_image_id"),
        (line("/303/835/001/3804/1.jpg", content), "invalid_source"),
        (good[0], "duplicate_image"),  # the very first image again
        (line(first["source"].replace(".json", ".json.gz"), content), "duplicate_image"),
    ]


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_lines_are_quarantined_and_neighbours_kept(
    tmp_path: Path, synth_ocr: SynthOcr, workers: int
) -> None:
    good = synth_ocr.lines()[:40]
    bad = _bad_lines(good)
    lines: list[bytes] = []
    expected: list[tuple[int, str]] = []  # (line number, reason)
    good_sources: list[str] = []
    for index, line in enumerate(good):
        lines.append(line)
        good_sources.append(orjson.loads(line)["source"])
        if index < len(bad):  # a bad line right after each of the first good lines
            raw, reason = bad[index]
            lines.append(raw)
            expected.append((len(lines), reason))
    archive = _write_gz(tmp_path / "mixed.jsonl.gz", lines)
    out = tmp_path / "ocr_texts.parquet"
    report = ingest_archive(archive, out, workers=workers, chunk_lines=4)

    assert report.lines_in == len(lines)
    assert report.rows_out == len(good)
    assert report.rows_out + report.quarantined_total == report.lines_in
    reasons = [reason for _, reason in expected]
    assert report.quarantined == {r: reasons.count(r) for r in sorted(set(reasons))}
    # every good line survived, in archive order, whatever sat next to it
    assert _read(out).column("ocr_source").to_pylist() == good_sources
    records = _bad(out)
    assert [(r["line"], r["reason"]) for r in records] == expected
    by_line = {r["line"]: r for r in records}
    truncated_line = expected[1][0]
    assert by_line[truncated_line]["source"] == good_sources[1]
    assert by_line[expected[0][0]]["source"] is None
    for line_no, reason in expected:
        if reason in ("ocr_error", "parse_error", "invalid_barcode", "no_responses"):
            assert by_line[line_no]["source"] == orjson.loads(lines[line_no - 1])["source"]
        assert by_line[line_no]["detail"]
    assert "was already ingested" in by_line[expected[-1][0]]["detail"]


def test_default_output_is_the_flavors_parquet_dir(data_dir: Path, synth_ocr: SynthOcr) -> None:
    report = ingest_archive(synth_ocr.archive, None, "obf", workers=1)
    out = data_dir / "parquet" / "obf" / "ocr_texts.parquet"
    assert Path(report.output) == out == default_output("obf")
    assert out.is_file()
    assert Path(report.quarantine) == data_dir / "parquet" / "obf" / "ocr_texts.bad.jsonl"
    assert report.flavor == "obf"


def test_empty_archive_gives_an_empty_table(tmp_path: Path) -> None:
    archive = tmp_path / "empty.jsonl"
    archive.write_bytes(b"")
    report = ingest_archive(archive, tmp_path / "ocr_texts.parquet", workers=2)
    assert (report.lines_in, report.rows_out, report.quarantined) == (0, 0, {})
    assert _read(Path(report.output)).num_rows == 0


def test_unknown_flavor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ingest_archive(tmp_path / "x.jsonl", tmp_path / "o.parquet", "nope")


# -- atomic output -------------------------------------------------------------------------------------------


def _previous(tmp_path: Path, synth_ocr: SynthOcr) -> tuple[Path, bytes, bytes]:
    """A first, complete ingestion whose files must survive the failed runs."""
    small = _write_gz(tmp_path / "small.jsonl.gz", [*synth_ocr.lines()[:5], b"oops"])
    out = tmp_path / "out" / "ocr_texts.parquet"
    ingest_archive(small, out, workers=1)
    return out, out.read_bytes(), quarantine_path(out).read_bytes()


def _assert_untouched(out: Path, table: bytes, bad: bytes) -> None:
    assert out.read_bytes() == table
    assert quarantine_path(out).read_bytes() == bad
    assert _read(out).num_rows == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["ocr_texts.bad.jsonl", "ocr_texts.parquet"]


@pytest.mark.parametrize("workers", [1, 2])
def test_truncated_archive_fails_and_leaves_the_previous_table(
    tmp_path: Path, synth_ocr: SynthOcr, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, table, bad = _previous(tmp_path, synth_ocr)
    whole = synth_ocr.archive.read_bytes()
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(whole[: int(len(whole) * 0.7)])
    # small row groups: several reach the temporary file before the archive ends early
    monkeypatch.setattr(ingest, "ROW_GROUP_ROWS", 16)
    flushed: list[int] = []
    original = ingest._RowGroupWriter._flush

    def counting_flush(self: ingest._RowGroupWriter) -> None:
        flushed.append(self.pending_rows)
        original(self)

    monkeypatch.setattr(ingest._RowGroupWriter, "_flush", counting_flush)
    with pytest.raises(OcrIngestError, match="cannot read the archive"):
        ingest_archive(truncated, out, workers=workers, chunk_lines=8)
    assert len(flushed) > 3
    _assert_untouched(out, table, bad)


def test_failure_while_writing_leaves_the_previous_table(
    tmp_path: Path, synth_ocr: SynthOcr, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, table, bad = _previous(tmp_path, synth_ocr)
    monkeypatch.setattr(ingest, "ROW_GROUP_ROWS", 10)
    original = ingest._RowGroupWriter._flush
    calls = []

    def failing_flush(self: ingest._RowGroupWriter) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        original(self)

    monkeypatch.setattr(ingest._RowGroupWriter, "_flush", failing_flush)
    with pytest.raises(OSError, match="disk full"):
        ingest_archive(synth_ocr.archive, out, workers=2, chunk_lines=10)
    assert len(calls) == 3
    _assert_untouched(out, table, bad)


@pytest.mark.slow
def test_sigkill_mid_way_leaves_the_previous_table(tmp_path: Path, synth_ocr: SynthOcr) -> None:
    out, table, bad = _previous(tmp_path, synth_ocr)
    big = _write_gz(tmp_path / "big.jsonl.gz", synth_ocr.lines() * 3)
    code = (
        "import sys; from pathlib import Path; from pipelines.ocr.ingest import ingest_archive; "
        "ingest_archive(Path(sys.argv[1]), Path(sys.argv[2]), workers=1, chunk_lines=4)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(big), str(out)], cwd=REPO)
    tmp = out.with_name(out.name + ".tmp")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (tmp.exists() and tmp.stat().st_size > 0):
            time.sleep(0.02)
        assert tmp.exists(), "the ingestion never started writing"
        time.sleep(0.3)
        assert proc.poll() is None, "the ingestion finished before it could be killed"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert out.read_bytes() == table
    assert quarantine_path(out).read_bytes() == bad
