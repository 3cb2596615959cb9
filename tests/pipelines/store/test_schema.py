"""Opening the store creates Robotoff's prediction table, its sequence and index, idempotently."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipelines.common.config import get_settings
from pipelines.store.db import StoreNotFoundError, database_path, ensure_schema, open_store, store_path


def test_schema_is_robotoffs_prediction_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = con.execute(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_name = 'prediction' ORDER BY ordinal_position"
    ).fetchall()
    assert [(name, kind, nullable) for name, kind, nullable, _ in columns] == [
        ("id", "BIGINT", "NO"),
        ("barcode", "VARCHAR", "NO"),
        ("type", "VARCHAR", "NO"),
        ("data", "JSON", "NO"),
        ("timestamp", "TIMESTAMP WITH TIME ZONE", "NO"),
        ("value_tag", "VARCHAR", "YES"),
        ("value", "VARCHAR", "YES"),
        ("source_image", "VARCHAR", "YES"),
        ("automatic_processing", "BOOLEAN", "YES"),
        ("predictor", "VARCHAR", "YES"),
        ("predictor_version", "VARCHAR", "YES"),
        ("confidence", "DOUBLE", "YES"),
        ("server_type", "VARCHAR", "NO"),
    ]
    defaults = {name: default for name, _, _, default in columns}
    assert "prediction_id_seq" in defaults["id"]
    assert defaults["server_type"] == "'off'"
    indexes = con.execute("SELECT index_name, expressions FROM duckdb_indexes()").fetchall()
    assert ("prediction_barcode_idx", "[barcode]") in indexes


def test_opening_again_keeps_rows_and_the_sequence(store: Path) -> None:
    con = open_store(store)
    con.execute("INSERT INTO prediction (barcode, type, data, timestamp) VALUES ('1', 'label', '{}', now())")
    ensure_schema(con)
    con.close()
    con = open_store(store)
    con.execute("INSERT INTO prediction (barcode, type, data, timestamp) VALUES ('2', 'label', '{}', now())")
    assert con.execute("SELECT id, barcode, server_type FROM prediction ORDER BY id").fetchall() == [
        (1, "1", "off"),
        (2, "2", "off"),
    ]
    assert database_path(con) == store
    con.close()


def test_read_only_open(store: Path) -> None:
    with pytest.raises(StoreNotFoundError):
        open_store(store, read_only=True)
    open_store(store).close()
    con = open_store(store, read_only=True)
    assert con.execute("SELECT count(*) FROM prediction").fetchall() == [(0,)]
    con.close()


def test_default_store_is_in_the_data_dir(data_dir: Path) -> None:
    assert store_path() == data_dir / "store.duckdb" == get_settings().store_path
    open_store().close()
    assert (data_dir / "store.duckdb").is_file()


def test_in_memory_database_has_no_path() -> None:
    con = duckdb.connect()
    ensure_schema(con)  # no file, no lock
    assert database_path(con) is None
    con.close()
