"""``offpipe ocr-ingest``: prints the report as JSON, writes the flavor's table, refuses bad arguments."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
from typer.testing import CliRunner

from pipelines.cli import app
from tests.pipelines.ocr.conftest import SynthOcr

runner = CliRunner()


def test_ocr_ingest_prints_the_report(tmp_path: Path, data_dir: Path, synth_ocr: SynthOcr) -> None:
    archive = tmp_path / "ocr.jsonl.gz"
    archive.write_bytes(gzip.compress(b"\n".join([*synth_ocr.lines()[:12], b"{truncated"]) + b"\n"))
    result = runner.invoke(app, ["ocr-ingest", str(archive), "--flavor", "opff", "--workers", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    out = data_dir / "parquet" / "opff" / "ocr_texts.parquet"
    assert report["output"] == str(out)
    assert (report["lines_in"], report["rows_out"], report["quarantined"]) == (13, 12, {"not_json": 1})
    assert report["quarantined_total"] == 1
    assert pq.read_metadata(out).num_rows == 12


def test_ocr_ingest_out_option(tmp_path: Path, data_dir: Path, synth_ocr: SynthOcr) -> None:
    out = tmp_path / "elsewhere" / "texts.parquet"
    result = runner.invoke(app, ["ocr-ingest", str(synth_ocr.archive), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert pq.read_metadata(out).num_rows == synth_ocr.report.ocr_images
    assert (tmp_path / "elsewhere" / "texts.bad.jsonl").is_file()
    assert not (data_dir / "parquet").exists()


def test_ocr_ingest_refuses_bad_arguments(tmp_path: Path, data_dir: Path, synth_ocr: SynthOcr) -> None:
    missing = runner.invoke(app, ["ocr-ingest", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    flavor = runner.invoke(app, ["ocr-ingest", str(synth_ocr.archive), "--flavor", "xyz"])
    assert flavor.exit_code == 2
    assert "unknown flavor" in flavor.output


def test_ocr_ingest_fails_cleanly_on_a_corrupt_archive(tmp_path: Path, data_dir: Path) -> None:
    archive = tmp_path / "bad.jsonl.gz"
    archive.write_bytes(gzip.compress(b'{"source": "/1.json"}\n' * 1000)[:-20])
    result = runner.invoke(app, ["ocr-ingest", str(archive), "--workers", "1"])
    assert result.exit_code == 1
    assert "cannot read the archive" in result.output
    assert not (data_dir / "parquet" / "off" / "ocr_texts.parquet").exists()
