"""``offpipe predict`` end to end: synthetic dump → Parquet → OCR table → store predictions → export."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from typer.testing import CliRunner

from pipelines.cli import app

runner = CliRunner()


def _invoke(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def test_predict_imports_then_changes_nothing(ocr_archive: Path, data_dir: Path) -> None:
    first = _invoke("predict", "--flavor", "off", "--ocr", str(ocr_archive))
    assert first["products"] == 300 and first["images"] > 0
    assert first["store_import"]["inserted"] == first["predictions"] > 0
    assert {"brand", "label", "image_orientation", "packager_code"} <= set(first["per_type"])
    # the OCR table was ingested into the flavor's folder, and is read directly on the next run
    table = data_dir / "parquet" / "off" / "ocr_texts.parquet"
    assert table.is_file()
    second = _invoke("predict", "--flavor", "off", "--ocr", str(table))
    # the images were predicted under the same lists: only the product names are predicted again
    assert second["images"] == 0 and second["images_already_predicted"] == first["images"]
    assert 0 < second["predictions"] < first["predictions"]
    assert second["store_import"]["inserted"] == 0
    assert second["store_import"]["deleted_total"] == 0
    con = duckdb.connect(str(data_dir / "store.duckdb"), read_only=True)
    try:
        stored = con.execute("SELECT count(*) FROM prediction").fetchall()[0][0]
    finally:
        con.close()
    assert stored == first["predictions"]
    third = _invoke("predict", "--flavor", "off", "--ocr", str(table), "--all-images")
    assert third["images"] == first["images"] and third["predictions"] == first["predictions"]
    assert third["store_import"]["inserted"] == 0

    out = data_dir / "predictions.parquet"
    _invoke("predictions", "export", "--format", "parquet", "--out", str(out))
    exported = pq.read_table(out)
    assert exported.num_rows == stored
    assert {"type", "barcode", "value", "value_tag", "data", "predictor", "source_image"} <= set(
        exported.column_names
    )


def test_predict_types_and_no_import(ocr_archive: Path, data_dir: Path) -> None:
    report = _invoke("predict", "--flavor", "off", "--type", "brand", "--no-import")
    assert set(report["per_type"]) == {"brand"}
    assert report["images"] == 0 and report["store_import"] is None
    assert not (data_dir / "store.duckdb").exists()


def test_predict_without_snapshot_fails_cleanly(data_dir: Path) -> None:
    result = runner.invoke(app, ["predict", "--flavor", "obf"])
    assert result.exit_code == 1
    assert "no Parquet table" in result.output
