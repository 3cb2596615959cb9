"""Exports: Robotoff's columns, data as JSON text (Parquet) or nested (JSON lines), atomic replacement."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.store import export as export_module
from pipelines.store.export import EXPORT_COLUMNS, EXPORT_SCHEMA, export_predictions
from pipelines.store.predictions import import_predictions
from tests.pipelines.store.conftest import CONTENT, T0, T1, batch, pred, stored

runner = CliRunner()

ROWS = (
    pred(data={"text": "Bio – équitable", "nested": {"list": [1, 2.5, None, True]}}, confidence=0.875),
    pred(value_tag=None, value="250 g", type="product_weight", source_image=None, automatic_processing=False),
    pred(type="category", value_tag="en:snacks", predictor=None, predictor_version=None, server_type="obf"),
    pred(barcode="5449000000996", automatic_processing=True, data={}),
)


@pytest.fixture
def filled(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    import_predictions(con, batch(*ROWS[:2]), now=T0)
    import_predictions(con, batch(*ROWS[2:]), now=T1)
    return con


def test_parquet_round_trip(filled: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    out = tmp_path / "exports" / "predictions.parquet"
    report = export_predictions(filled, out, "parquet")
    assert report.rows == 4
    table = pq.read_table(out)
    assert table.schema == EXPORT_SCHEMA
    exported = table.to_pylist()
    expected = stored(filled, "id", "timestamp")
    for row in exported:
        row["data"] = json.loads(row["data"])  # JSON text
    assert [{k: row[k] for k in (*CONTENT, "id", "timestamp")} for row in exported] == expected


def test_jsonl_round_trip(filled: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    out = tmp_path / "predictions.jsonl"
    assert export_predictions(filled, out, "jsonl").rows == 4
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [list(line) for line in lines] == [list(EXPORT_COLUMNS)] * 4
    expected = stored(filled, "id", "timestamp")
    for line, row in zip(lines, expected, strict=True):
        assert isinstance(line["data"], dict)  # nested, not a string
        assert datetime.fromisoformat(line.pop("timestamp")) == row.pop("timestamp")
        assert line == row
    assert lines[0]["data"]["text"] == "Bio – équitable"


def test_empty_store_exports_empty_files(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    assert export_predictions(con, tmp_path / "p.parquet").rows == 0
    assert pq.read_table(tmp_path / "p.parquet").schema == EXPORT_SCHEMA
    assert export_predictions(con, tmp_path / "p.jsonl", "jsonl").rows == 0


def test_failed_export_keeps_the_previous_file(
    filled: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.jsonl"
    out.write_text("previous\n")

    def fail(con: duckdb.DuckDBPyConnection, path: Path, statement: str) -> int:
        path.write_text('{"half": ')
        raise OSError("disk full")

    monkeypatch.setattr(export_module, "_write_jsonl", fail)
    with pytest.raises(OSError, match="disk full"):
        export_predictions(filled, out, "jsonl")
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("p.")) == ["p.jsonl"]


def test_unknown_format(filled: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv"):
        export_predictions(filled, tmp_path / "p.csv", "csv")


def test_cli_export(filled: duckdb.DuckDBPyConnection, store: Path, tmp_path: Path) -> None:
    filled.close()  # the CLI opens the store read-only; DuckDB refuses that while we hold it read-write
    out = tmp_path / "cli.jsonl"
    result = runner.invoke(
        app, ["predictions", "export", "--format", "jsonl", "--out", str(out), "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 4
    assert len(out.read_text().splitlines()) == 4
    result = runner.invoke(
        app, ["predictions", "export", "--out", str(tmp_path / "p.parquet"), "--store", str(store)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_metadata(tmp_path / "p.parquet").num_rows == 4


def test_cli_export_default_store_and_errors(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["predictions", "export", "--out", str(tmp_path / "p.parquet")])
    assert result.exit_code == 2
    assert "no store" in result.output
    result = runner.invoke(app, ["predictions", "export", "--out", str(tmp_path / "p"), "--format", "csv"])
    assert result.exit_code == 2
