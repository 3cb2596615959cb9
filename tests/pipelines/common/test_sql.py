"""SQL files are loaded by name, safely; every macro file installs on a fresh DuckDB connection."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.common.sql import SqlNotFoundError, connect, load_sql, macro_names


def test_load_by_name() -> None:
    assert "CREATE OR REPLACE TEMP MACRO normalize_code" in load_sql("macros/barcodes")


@pytest.mark.parametrize("name", ["../pyproject", "macros/../../README", "nope", "/etc/passwd"])
def test_refuses_unknown_or_escaping_names(name: str) -> None:
    with pytest.raises(SqlNotFoundError):
        load_sql(name)


def test_every_macro_file_installs(tmp_path) -> None:
    assert "macros/barcodes" in macro_names()
    con = connect(tmp_path / "store.duckdb")
    functions = {row[0] for row in con.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    assert {"normalize_code", "is_valid_code", "split_code", "barcode_info"} <= functions
    con.close()
    # Macros are temporary: nothing is stored in the database file, and a new connection installs them again.
    raw = duckdb.connect(str(tmp_path / "store.duckdb"))
    stored = {row[0] for row in raw.execute("SELECT function_name FROM duckdb_functions()").fetchall()}
    raw.close()
    assert "normalize_code" not in stored
    connect(tmp_path / "store.duckdb").close()
