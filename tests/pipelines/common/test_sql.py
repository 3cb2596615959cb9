"""SQL files are loaded by name, safely; every macro file installs on a fresh DuckDB connection."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.common.sql import (
    SMALL_SCOPE_PRODUCTS,
    SqlNotFoundError,
    connect,
    fit_threads,
    load_sql,
    macro_names,
    scratch,
)


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


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT current_setting('threads')").fetchall()[0][0]


@pytest.mark.parametrize(
    ("products", "one_thread"),
    [(1, True), (SMALL_SCOPE_PRODUCTS, True), (SMALL_SCOPE_PRODUCTS + 1, False), (None, False)],
)
def test_small_scopes_run_on_one_thread_and_others_on_all(products: int | None, one_thread: bool) -> None:
    con = connect()
    default = _threads(con)  # the machine's cores
    fit_threads(con, 3)  # a previous small session's setting is undone by a larger scope
    fit_threads(con, products)
    assert _threads(con) == (1 if one_thread else default)
    con.close()


def test_the_scratch_connection_runs_on_one_thread() -> None:
    assert _threads(scratch()) == 1
