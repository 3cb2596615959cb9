"""``offpipe store copy``: move a DuckDB store into PostgreSQL through the seam every writer uses.

Why through a session rather than a bulk load: a bulk session (:func:`pipelines.store.session.store_session`)
already knows how to read a flavor's rows from PostgreSQL, take the difference and apply it in short
transactions under the products' locks, leaving annotated insights and the listener's newer work alone. The
copy only needs rules that make the working copy equal to the DuckDB store (``sql/store/copy_*.sql``); the
session then writes what differs and nothing else, so copying twice writes nothing the second time and a
copy after the DuckDB store changed brings PostgreSQL in line.

Rows are matched on their content, never on a generated id: prediction ids are PostgreSQL's own (a serial),
so a prediction is the same when every other column is (documents as documents, confidences at ``real``
precision). The run log, of which a session reads only the latest bulk run, is copied apart: every run whose
id PostgreSQL lacks is inserted, in one short transaction at the end.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg

from pipelines.common.config import Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.sql import load_sql, load_statement
from pipelines.store.db import DEFAULT_READER_TIMEOUT, StoreNotFoundError, open_store
from pipelines.store.postgres.connection import connect
from pipelines.store.postgres.mirror import (
    BY_NAME,
    MIRRORED,
    RUN,
    Column,
    Kind,
    Mirrored,
    duck_export_columns,
)
from pipelines.store.postgres.schema import check_schema
from pipelines.store.postgres.session import ApplyReport, _copy_in, _pg
from pipelines.store.session import store_session
from pipelines.store.target import PostgresTarget

logger = logging.getLogger(__name__)

# The product tables copied through a session, in the order their counts are printed.
COPIED = ("prediction", "product_insight", "image", "ocr_image", "listener_log")
# What PostgreSQL must have before anything is written (the sessions' product versions too).
_OPS = ("inserted", "updated", "deleted")
# Columns NOT NULL in Robotoff's table that a DuckDB store may hold NULL in (stores written before the refresh
# took Robotoff's defaults): copied as Robotoff's model defaults them, compared as copied.
ROBOTOFF_DEFAULTS = {
    "product_insight": {
        "n_votes": "0",
        "automatic_processing": "false",
        "unique_scans_n": "0",
        "reserved_barcode": "false",
    }
}


class CopySourceError(OffpipeError, ValueError):
    """The DuckDB file to copy is not a store, or a writer kept it for longer than the timeout."""


class CopyMismatchError(OffpipeError, RuntimeError):
    """After the copy, PostgreSQL's counts differ from the DuckDB store's (the report says where)."""

    def __init__(self, mismatches: list[str]) -> None:
        super().__init__(
            "counts differ after the copy (annotated insights in PostgreSQL are kept; products another "
            f"writer changed meanwhile are left to it, copy again): {'; '.join(mismatches)}"
        )


@dataclass
class CopyReport:
    """What a copy found and wrote: per server type and table, the rows of each store after the copy and
    the rows written; the run log's rows; products left to a concurrent writer."""

    source: str
    target: str
    tables: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    run: dict[str, int] = field(default_factory=dict)
    skipped_products: int = 0
    seconds: float = 0.0

    @property
    def written(self) -> int:
        rows = sum(
            counts.get(op, 0) for per in self.tables.values() for counts in per.values() for op in _OPS
        )
        return rows + self.run.get("inserted", 0)

    def mismatches(self) -> list[str]:
        """``server type/table: DuckDB n, PostgreSQL m`` for each count that differs after the copy."""
        out = [
            f"{server_type}/{table}: DuckDB {c['duckdb']}, PostgreSQL {c['postgresql']}"
            for server_type, per in self.tables.items()
            for table, c in per.items()
            if c["duckdb"] != c["postgresql"]
        ]
        if self.run and self.run["duckdb"] != self.run["postgresql"]:
            out.append(f"run: DuckDB {self.run['duckdb']}, PostgreSQL {self.run['postgresql']}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.source,
            "to": self.target,
            "server_types": self.tables,
            "run": self.run,
            "written": self.written,
            "skipped_products": self.skipped_products,
            "equal": not self.mismatches(),
            "seconds": self.seconds,
        }


def copy_store(
    source: Path,
    target: PostgresTarget,
    *,
    timeout: float = DEFAULT_READER_TIMEOUT,
    settings: Settings | None = None,
) -> CopyReport:
    """Make PostgreSQL's rows of every server type of the DuckDB store ``source`` equal to the store's
    (annotated insights in PostgreSQL are kept), add its runs, and count both sides.

    The DuckDB store stays open read-only for the whole copy, so no writer changes it meanwhile: a writer
    that holds it when the copy starts is waited for up to ``timeout`` seconds (as a reader does), and the
    same timeout bounds the wait for another bulk run of a flavor on PostgreSQL.
    """
    started = time.perf_counter()
    settings = settings or get_settings()
    source = source.expanduser().resolve()
    report = CopyReport(source=str(source), target=target.describe())
    src = open_source(source, timeout)
    try:
        conn = connect(target)
        try:
            check_schema(conn)
            counts = {name: _source_counts(src, BY_NAME[name]) for name in COPIED}
            server_types = sorted({st for per in counts.values() for st in per})
            for server_type in server_types:
                applied = _copy_flavor(source, target, server_type, timeout, settings)
                report.skipped_products += applied.skipped_products
                report.tables[server_type] = {
                    name: {"duckdb": counts[name].get(server_type, 0), "postgresql": 0}
                    | {op: applied.rows.get(name, {}).get(op, 0) for op in _OPS}
                    for name in COPIED
                }
            report.run = _copy_runs(src, conn)
            for name in COPIED:
                for server_type, n in _target_counts(conn, BY_NAME[name], server_types).items():
                    report.tables[server_type][name]["postgresql"] = n
        finally:
            conn.close()
    finally:
        src.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


# -- the two stores ------------------------------------------------------------------------------------------


def open_source(path: Path, timeout: float) -> duckdb.DuckDBPyConnection:
    """The DuckDB store, read-only; one line when it is missing, not a store, or held by a writer."""
    if not path.is_file():
        raise StoreNotFoundError(f"no DuckDB store at {path}")
    try:
        con = open_store(path, read_only=True, timeout=timeout)
    except duckdb.Error as exc:
        message = " ".join(str(exc).split())
        if "could not set lock" in message.lower():
            raise CopySourceError(
                f"the DuckDB store {path} is open for writing in another process; gave up after {timeout:g} s"
            ) from None
        raise CopySourceError(f"{path} is not a DuckDB store: {message}") from None
    tables = {row[0] for row in con.execute(load_statement("store/copy_source_tables")).fetchall()}
    missing = [table.name for table in MIRRORED if table.name not in tables]
    if missing:
        con.close()
        raise CopySourceError(f"{path} is not an offpipe store: no table {', '.join(missing)}")
    return con


def _source_counts(src: duckdb.DuckDBPyConnection, table: Mirrored) -> dict[str, int]:
    return dict(src.execute(load_sql("store/copy_count").format(table=table.name)).fetchall())


def _target_counts(conn: psycopg.Connection, table: Mirrored, server_types: list[str]) -> dict[str, int]:
    rows = conn.execute(_pg("postgres/copy_count", table), {"server_types": server_types}).fetchall()
    return {server_type: n for server_type, n in rows}


# -- the product tables: one bulk session per server type --------------------------------------------------


def _copy_flavor(
    source: Path, target: PostgresTarget, server_type: str, timeout: float, settings: Settings
) -> ApplyReport:
    """One bulk session of ``server_type`` whose working copy is made equal to the DuckDB store's rows."""
    reports: list[ApplyReport] = []
    with store_session(
        target,
        server_type=server_type,
        barcodes=None,
        purpose=f"copy {server_type}",
        timeout=timeout,
        tables=COPIED,
        settings=settings,
        applied=reports.append,
    ) as con:
        started = time.perf_counter()
        con.execute(load_sql("store/copy_attach"), {"path": str(source)})
        for name in COPIED:
            _match(con, BY_NAME[name], server_type)
        logger.info(
            "copy %s: working copy matched to the DuckDB store in %.2f s",
            server_type,
            time.perf_counter() - started,
        )
    return reports[0] if reports else ApplyReport()


def _match(con: duckdb.DuckDBPyConnection, table: Mirrored, server_type: str) -> None:
    """Delete the working rows the DuckDB store lacks, insert the DuckDB rows the working copy lacks."""
    params = {"server_type": server_type}
    for into, relation in (("copy_target", table.name), ("copy_source", f"copy_from.{table.name}")):
        con.execute(_fill("store/copy_signatures", table, into=into, relation=relation), params)
    con.execute(_fill("store/copy_plan", table))
    con.execute(_fill("store/copy_delete", table))
    con.execute(_fill("store/copy_insert", table), params)


def _fill(name: str, table: Mirrored, **extra: str) -> str:
    """A copy statement with its slots filled (from the constants of the mirror module only)."""
    return load_sql(name).format_map(_slots(table) | extra)


def _slots(table: Mirrored) -> dict[str, str]:
    keys = [f'"{name}"' for name in table.key]
    content = [c for c in table.columns if not (table.generated_key and c.name in table.key)]
    copied = {c.name: _copied(table, c) for c in content}
    fields = ", ".join(f"{c.ident} := {_compared(c, copied[c.name])}" for c in content)
    return {
        "table": table.name,
        "key_columns": ", ".join(keys),
        "target_key": ", ".join(f"t.{key}" for key in keys),
        "source_key": ", ".join(f"s.{key}" for key in keys),
        "plan_match": " AND ".join(f"c.{key} = p.{key}" for key in keys),
        "key_order": ", ".join(f"c.{key}" for key in keys),
        "signature": f"md5_number(to_json(struct_pack({fields})))",
        "insert_columns": ", ".join(f"{copied[c.name]} AS {c.ident}" for c in content),
    }


def _copied(table: Mirrored, col: Column) -> str:
    """A column's value as the copy writes it: Robotoff's default in place of a NULL it does not allow."""
    default = ROBOTOFF_DEFAULTS.get(table.name, {}).get(col.name)
    return f"coalesce(c.{col.ident}, {default})" if default is not None else f"c.{col.ident}"


def _compared(col: Column, value: str) -> str:
    """How a column's value takes part in a row's fingerprint: as PostgreSQL keeps it."""
    if col.kind is Kind.json:
        return f"json_canonical({value})"
    if col.duck == "DOUBLE":  # Robotoff's confidences are `real`
        return f"CAST({value} AS FLOAT)"
    return value


# -- the run log ---------------------------------------------------------------------------------------------


def _copy_runs(src: duckdb.DuckDBPyConnection, conn: psycopg.Connection) -> dict[str, int]:
    """Insert every run of the DuckDB store whose id PostgreSQL lacks (one transaction); the counts."""
    with tempfile.TemporaryDirectory(prefix="offpipe-copy-") as tmp:
        path = Path(tmp) / "run.csv"
        query = load_sql("store/copy_run").format(export_columns=duck_export_columns(RUN))
        src.sql(query).write_csv(str(path), header=False)
        with conn.transaction():
            conn.execute(_pg("postgres/stage_create", RUN))
            _copy_in(conn, _pg("postgres/stage_copy", RUN), path)
            inserted = conn.execute(_pg("postgres/copy_run_insert", RUN)).rowcount
            staged, present = conn.execute(_pg("postgres/copy_run_present", RUN)).fetchone()  # type: ignore[misc]
    return {"duckdb": staged, "postgresql": present, "inserted": inserted}
