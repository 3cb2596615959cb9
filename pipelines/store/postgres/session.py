"""A unit of work on the PostgreSQL store: read the scope's rows, run the rules in DuckDB, apply the changes.

The rules are DuckDB SQL over tables shaped like the DuckDB store's. A session copies the rows of its scope
(``prediction``, ``product_insight``, and the project's own tables) from PostgreSQL into such tables — a
*working copy* — with COPY, yields the working copy's connection to the same functions that write the DuckDB
store, then takes the difference (rows inserted, updated, deleted; ``sql/store/mirror_changes.sql``) and
applies it with COPY into staging tables and a few set-based statements (``sql/postgres/apply_*.sql``).
Only the reading and the applying are PostgreSQL's; every decision is the rules' (docs/store.md).

Two shapes (docs/store.md, "Concurrency"):

- **per product** (the listener, a refresh of some barcodes): one transaction holding the advisory locks of
  the products' buckets from the read to the commit, so nothing changes them in between; the products'
  versions move (``offpipe.product_version``) so a bulk session knows they changed;
- **bulk** (every product of a flavor): the read is one snapshot (REPEATABLE READ) without locks; the apply
  goes bucket range by bucket range, one short transaction each under its buckets' locks, leaving out the
  products whose version moved since the read. One bulk session per flavor at a time (a session lock).

Each product's changes land in one transaction: a crash leaves every product fully before or fully after,
and a rerun decides again from what is stored.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import weakref
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
from psycopg import sql as pgsql

from pipelines.common.errors import OffpipeError
from pipelines.common.sql import connect as duck_connect
from pipelines.common.sql import fit_threads, load_sql, load_statement, parsed
from pipelines.store.postgres import mirror
from pipelines.store.postgres.connection import connect
from pipelines.store.postgres.mirror import MIRRORED, Mirrored
from pipelines.store.postgres.schema import check_schema
from pipelines.store.target import PostgresTarget

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000  # changed rows per bulk transaction (about): short transactions, few of them
CHUNK_BUCKETS = 256  # at most this many bucket locks per transaction (PostgreSQL's lock table is shared)
# A bulk working copy lives in memory (no database file to write and checkpoint: loading the scope's rows
# takes ~35 % less time) and spills to the session's scratch folder beyond this, which keeps the process's
# peak RSS within the 4 GB of issue 22.
BULK_MEMORY_LIMIT = "2GB"
_COPY_BLOCK = 1 << 20
_FLAVOR_POLL_S = 0.5
# Deletes first (a key deleted and inserted again in one session never collides), then updates, then inserts.
_APPLY_STEPS = (
    ("d", "postgres/apply_delete", "deleted"),
    ("u", "postgres/apply_update", "updated"),
    ("i", "postgres/apply_insert", "inserted"),
)
_OP_NAMES = {op: name for op, _, name in _APPLY_STEPS}
_SKIPPED_SCHEMA = pa.schema([pa.field("server_type", pa.string()), pa.field("barcode", pa.string())])


class StoreBusyError(OffpipeError, TimeoutError):
    """Another bulk session of the same flavor held the PostgreSQL store for longer than the timeout."""


@dataclass(frozen=True)
class Scope:
    """What a session reads: the products of ``barcodes`` (normalized), or every product (``None``), of one
    server type (``None``: all, for readers)."""

    server_type: str | None
    barcodes: tuple[str, ...] | None = None

    @property
    def everything(self) -> bool:
        return self.barcodes is None


@dataclass
class ApplyReport:
    """What a session wrote: rows per table and operation, chunks, products left to a concurrent writer."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    chunks: int = 0
    skipped_products: int = 0
    seconds: float = 0.0

    def add(self, table: str, op: str, count: int) -> None:
        if count:
            ops = self.rows.setdefault(table, {})
            ops[op] = ops.get(op, 0) + count


@cache
def _slots(table: Mirrored) -> dict[str, str]:
    """Every template slot of the mirror SQL for ``table`` (built from constants only)."""
    return {
        "table": table.name,
        "relation": table.relation,
        "stage": f"stage_{table.name}",
        "columns": mirror.pg_read_columns(table),
        "csv_columns": mirror.duck_csv_columns(table),
        "load_columns": mirror.duck_load_columns(table),
        "export_columns": mirror.duck_export_columns(table),
        "before_columns": mirror.duck_before_columns(table),
        "key_join": mirror.duck_key_join(table),
        "bucket": mirror.duck_bucket(table),
        "stage_columns": mirror.pg_stage_columns(table),
        "key_match": mirror.pg_key_match(table),
        "guard": table.guard,
        "assignments": mirror.pg_assignments(table),
        "insert_columns": mirror.pg_insert_columns(table),
        "insert_values": mirror.pg_insert_values(table),
        "insert_order": mirror.pg_insert_order(table),
    }


def _duck(name: str, table: Mirrored, **extra: str) -> str:
    """A DuckDB mirror statement with its slots filled."""
    return load_sql(name).format_map(_slots(table) | extra)


def _duck_parsed(name: str, table: Mirrored) -> duckdb.Statement:
    """A DuckDB mirror statement without per-session slots, parsed once (a one-product session runs ~30 of
    them; DuckDB's parser is a large share of a small statement's time)."""
    return parsed(_duck(name, table))


def _pg(name: str, table: Mirrored | None = None) -> pgsql.Composed:
    """A PostgreSQL statement, slots filled, header dropped (psycopg would read its ``%`` as placeholders)."""
    text = "\n".join(line for line in load_sql(name).splitlines() if not line.startswith("--"))
    slots = {k: pgsql.SQL(v) for k, v in _slots(table).items()} if table is not None else {}
    return pgsql.SQL(text).format(**slots)  # type: ignore[arg-type]  # our own files: literal text


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class WorkingCopy:
    """A DuckDB database shaped like the DuckDB store (its DDL), for one session or kept for many."""

    def __init__(
        self, path: Path | None = None, temp_dir: Path | None = None, memory_limit: str | None = None
    ) -> None:
        from pipelines.store.db import ensure_schema

        self.con = duck_connect(path if path is not None else ":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        if temp_dir is not None:
            self.con.execute(f"SET temp_directory = {_quoted(temp_dir)}")
        if memory_limit is not None:
            self.con.execute(load_sql("store/mirror_memory").format(memory_limit=memory_limit))
        self.con.execute(load_sql("store/mirror_sequence"))
        ensure_schema(self.con)
        # the mirrored tables that may hold rows (a kept copy's last session's): the next read empties those
        self.dirty: set[str] = set()

    def close(self) -> None:
        self.con.close()


class PostgresStore:
    """Sessions on one PostgreSQL store; keeps its connection (and, with ``keep_copy``, its in-memory working
    copy) between sessions, as the listener does between batches."""

    def __init__(
        self, target: PostgresTarget, *, work_dir: Path | None = None, keep_copy: bool = False
    ) -> None:
        self.target = target
        self.work_dir = work_dir
        self.keep_copy = keep_copy
        self._conn: psycopg.Connection | None = None
        self._copy: WorkingCopy | None = None
        self._tmp: Path | None = None
        self.last_report = ApplyReport()

    # -- connections ---------------------------------------------------------------------------------------

    def connection(self) -> psycopg.Connection:
        """The store's connection; a new one is checked first (``check_schema``, a few ms): a database
        without the store's tables, or whose Robotoff tables offpipe cannot write, fails with one line
        before anything is read or written."""
        if self._conn is None or self._conn.closed:
            conn = connect(self.target)
            try:
                check_schema(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def barcodes(self, query: str, params: dict[str, Any]) -> list[str]:
        """The barcodes ``sql/<query>.sql`` (a PostgreSQL query of one column) returns: a session's scope
        chosen by a condition on PostgreSQL's rows, so that the session reads only those products."""
        rows = self.connection().execute(_pg(query), params).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _drop_connection(self) -> None:
        """After a failure the connection's state is not trusted: the next session opens a new one."""
        if self._conn is not None:
            with suppress(Exception):
                self._conn.close()
            self._conn = None

    # -- sessions ------------------------------------------------------------------------------------------

    @contextmanager
    def reader(
        self, scope: Scope, tables: Sequence[Mirrored] = MIRRORED
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A working copy holding the scope's rows, for reading (nothing is written back)."""
        conn = self.connection()
        with self._scratch_dir() as tmp:
            copy = WorkingCopy(temp_dir=tmp)
            try:
                with conn.transaction():
                    conn.execute(_pg("postgres/snapshot_read"))
                    _read(conn, copy.con, scope, tables, tmp)
                yield copy.con
            finally:
                copy.close()

    @contextmanager
    def writer(
        self,
        scope: Scope,
        *,
        purpose: str = "write",
        timeout: float = 300.0,
        tables: Sequence[Mirrored] = MIRRORED,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A working copy of the scope for the rules to change; its changes are applied when the block ends
        without an error (nothing is applied otherwise)."""
        if scope.server_type is None:
            raise ValueError("a writing session needs a server type")
        started = time.perf_counter()
        try:
            if scope.everything:
                with self._bulk(scope, purpose, timeout, tables) as con:
                    yield con
            else:
                with self._per_product(scope, tables) as con:
                    yield con
        except BaseException:
            self._drop_connection()
            raise
        self.last_report.seconds = round(time.perf_counter() - started, 3)
        logger.info(
            "%s: applied %s to PostgreSQL in %d chunks (%d products left to a concurrent writer, %.2f s)",
            purpose,
            self.last_report.rows or "nothing",
            self.last_report.chunks,
            self.last_report.skipped_products,
            self.last_report.seconds,
        )

    @contextmanager
    def _per_product(self, scope: Scope, tables: Sequence[Mirrored]) -> Iterator[duckdb.DuckDBPyConnection]:
        assert scope.barcodes is not None and scope.server_type is not None
        conn = self.connection()
        report = self.last_report = ApplyReport()
        codes = sorted(set(scope.barcodes))
        buckets = [mirror.bucket(scope.server_type, code) for code in codes]
        # the run log is read by a bulk refresh only (its safety stop): a per-product session adds to it
        read = [table for table in tables if table.by_product]
        with self._scratch_dir(keep=self.keep_copy) as tmp, self._working(tmp) as copy, conn.transaction():
            conn.execute(_pg("postgres/lock_buckets"), {"space": mirror.LOCK_SPACE, "buckets": buckets})
            fit_threads(copy.con, len(codes))
            empty = _read(conn, copy.con, scope, read, tmp, clear=copy.dirty)
            copy.dirty = {table.name for table in MIRRORED} - empty
            yield copy.con
            changed = _diff(copy.con, empty)
            copy.dirty.update(table.name for table in changed)
            versions = {"server_type": scope.server_type, "barcodes": codes, "buckets": buckets}
            _apply_all(conn, copy.con, changed, tmp, report, versions if codes else None)
            report.chunks = 1

    @contextmanager
    def _bulk(
        self, scope: Scope, purpose: str, timeout: float, tables: Sequence[Mirrored]
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        assert scope.server_type is not None
        conn = self.connection()
        report = self.last_report = ApplyReport()
        key = {"space": mirror.BULK_LOCK_SPACE, "key": mirror.flavor_lock_key(scope.server_type)}
        self._lock_flavor(conn, key, scope.server_type, purpose, timeout)
        try:
            with self._scratch_dir() as tmp:
                copy = WorkingCopy(temp_dir=tmp, memory_limit=BULK_MEMORY_LIMIT)
                try:
                    with conn.transaction():
                        conn.execute(_pg("postgres/snapshot_read"))
                        empty = _read(conn, copy.con, scope, tables, tmp)
                        _read_versions(conn, copy.con, scope.server_type, None, tmp, "mirror_versions")
                    yield copy.con
                    changed = _diff(copy.con, empty)
                    for low, high, buckets in _chunks(copy.con, changed):
                        with conn.transaction():
                            conn.execute(
                                _pg("postgres/lock_buckets"), {"space": mirror.LOCK_SPACE, "buckets": buckets}
                            )
                            skipped = _moved_products(conn, copy.con, scope.server_type, buckets, tmp)
                            report.skipped_products += len(skipped)
                            _register_skipped(copy.con, skipped)
                            _apply_range(conn, copy.con, changed, low, high, tmp, report)
                        report.chunks += 1
                    with conn.transaction():
                        _apply_unscoped(conn, copy.con, changed, tmp, report)
                finally:
                    copy.close()
        finally:
            with suppress(psycopg.Error):
                conn.execute(_pg("postgres/unlock_flavor"), key)

    def _lock_flavor(
        self, conn: psycopg.Connection, key: dict[str, int], flavor: str, purpose: str, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while not conn.execute(_pg("postgres/lock_flavor"), key).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() >= deadline:
                raise StoreBusyError(
                    f"{purpose}: another bulk run of {flavor} is writing to {self.target.describe()}; "
                    f"gave up after {timeout:g} s"
                )
            time.sleep(_FLAVOR_POLL_S)

    @contextmanager
    def _working(self, tmp: Path) -> Iterator[WorkingCopy]:
        """The in-memory working copy of a per-product session: kept between sessions with ``keep_copy``."""
        if not self.keep_copy:
            copy = WorkingCopy(temp_dir=tmp)
            try:
                yield copy
            finally:
                copy.close()
            return
        if self._copy is None:
            self._copy = WorkingCopy()
        try:
            yield self._copy
        except BaseException:
            self._copy.close()  # its state is not trusted after a failure
            self._copy = None
            raise

    @contextmanager
    def _scratch_dir(self, keep: bool = False) -> Iterator[Path]:
        """A folder for the session's files; with ``keep`` (the listener's per-product sessions), one for
        every such session (its CSV files are overwritten: made once, removed at :meth:`close`)."""
        if keep and self._tmp is not None and self._tmp.is_dir():
            yield self._tmp
            return
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="offpipe-pg-", dir=self.work_dir))
        if keep:
            self._tmp = path
            yield path
            return
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


# -- reading -------------------------------------------------------------------------------------------------


def _read(
    conn: psycopg.Connection,
    work: duckdb.DuckDBPyConnection,
    scope: Scope,
    tables: Sequence[Mirrored],
    tmp: Path,
    clear: Collection[str] = (),
) -> frozenset[str]:
    """Load the scope's rows of ``tables`` into the working copy and keep them as "before"; the names of the
    tables left empty (no "before" kept: :func:`_diff` makes it if the rules add rows). ``clear``: the
    tables to empty first (a kept copy's last rows; a new copy's tables are empty).

    PostgreSQL writes the rows (COPY) while DuckDB loads the previous part of them: each table's CSV is cut
    into parts of about :data:`_READ_PART_BYTES`, loaded in order by one thread while the next part arrives
    (measured at 100k products: the read of a bulk session ~25 % faster). A scope whose tables each fit in
    one part (a listener batch) is loaded without a thread.
    """
    params: dict[str, Any] = {
        "server_type": scope.server_type,
        "everything": scope.everything,
        "barcodes": list(scope.barcodes or ()),
    }
    for table in MIRRORED:
        if table.name in clear:
            work.execute(_duck_parsed("store/mirror_clear", table))
    with _Loader(work) as loader:
        for table in tables:
            query = _pg("postgres/scope_read" if table.by_product else "postgres/scope_read_run", table)
            _copy_out_parts(conn, query, params, tmp / f"read_{table.name}", table, loader)
    empty = frozenset(table.name for table in MIRRORED if table.name not in loader.loaded)
    for table in MIRRORED:
        if table.name not in empty:
            work.execute(_duck_parsed("store/mirror_before", table), {"empty": False})
    return empty


class _Loader:
    """Loads CSV parts into the working copy in the order given: in one worker thread once a table comes in
    several parts (DuckDB runs the load without Python's lock, so PostgreSQL's COPY goes on meanwhile), at
    once while every table has fit in one part (a listener batch: no thread)."""

    def __init__(self, work: duckdb.DuckDBPyConnection) -> None:
        self.work = work
        self._pool: ThreadPoolExecutor | None = None
        self._done: list[Future[None]] = []
        self.loaded: set[str] = set()  # tables given at least one part

    def __enter__(self) -> _Loader:
        return self

    def add(self, table: Mirrored, path: Path, *, whole: bool) -> None:
        """Load ``path`` (``whole``: the table's only part); the working copy is the thread's from the
        first part sent there on, until the block ends."""
        self.loaded.add(table.name)
        if whole and self._pool is None:
            self._load(table, path)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="offpipe-pg-load")
        self._done.append(self._pool.submit(self._load, table, path))

    def _load(self, table: Mirrored, path: Path) -> None:
        try:
            self.work.execute(_duck("store/mirror_load", table, path=_quoted(path)))
        finally:
            path.unlink()

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self._pool is None:
            return
        try:
            if error is None:
                for future in self._done:
                    future.result()  # the first failure is raised
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


_READ_PART_BYTES = 8 << 20


def _copy_out_parts(
    conn: psycopg.Connection,
    query: pgsql.Composed,
    params: dict[str, Any],
    stem: Path,
    table: Mirrored,
    loader: _Loader,
) -> None:
    """COPY ``query``'s rows into CSV parts of about :data:`_READ_PART_BYTES` given to ``loader`` as each
    is complete (PostgreSQL sends one row per message: a part never cuts a row). No rows: no part (the
    cleared table is already right)."""
    part, size = 0, 0
    out = None
    try:
        with conn.cursor() as cur, cur.copy(query, params) as copy:
            for row in copy:
                if out is None:
                    out = stem.with_name(f"{stem.name}_{part}.csv").open("wb")
                out.write(row)
                size += len(row)
                if size >= _READ_PART_BYTES:
                    out.close()
                    loader.add(table, Path(out.name), whole=False)
                    out, size, part = None, 0, part + 1
        if out is not None:
            out.close()
            loader.add(table, Path(out.name), whole=part == 0)
            out = None
    finally:
        if out is not None:
            out.close()


def _copy_out(conn: psycopg.Connection, query: pgsql.Composed, params: dict[str, Any], path: Path) -> None:
    with conn.cursor() as cur, cur.copy(query, params) as copy, path.open("wb") as out:
        for block in copy:
            out.write(block)


def _copy_in(conn: psycopg.Connection, query: pgsql.Composed, path: Path) -> None:
    with conn.cursor() as cur, cur.copy(query) as copy, path.open("rb") as source:
        while block := source.read(_COPY_BLOCK):
            copy.write(block)


def _read_versions(
    conn: psycopg.Connection,
    work: duckdb.DuckDBPyConnection,
    server_type: str,
    buckets: list[int] | None,
    tmp: Path,
    into: str,
) -> None:
    path = tmp / f"{into}.csv"
    params = {"server_type": server_type, "everything": buckets is None, "buckets": buckets or []}
    _copy_out(conn, _pg("postgres/product_version_read"), params, path)
    text = load_sql("store/mirror_versions_load")  # literal braces: filled by replace, not format
    work.execute(text.replace("{into}", into).replace("{path}", _quoted(path)))
    path.unlink()


def _moved_products(
    conn: psycopg.Connection, work: duckdb.DuckDBPyConnection, server_type: str, buckets: list[int], tmp: Path
) -> list[tuple[str, str]]:
    """Products of ``buckets`` whose version moved since the session read them (under the buckets' locks)."""
    _read_versions(conn, work, server_type, buckets, tmp, "mirror_versions_now")
    return [tuple(row) for row in work.execute(load_statement("store/mirror_moved")).fetchall()]  # type: ignore[misc]


# -- deciding what changed -----------------------------------------------------------------------------------


def _diff(work: duckdb.DuckDBPyConnection, empty: frozenset[str]) -> tuple[Mirrored, ...]:
    """Take every table's changes; the tables that have some (the apply skips the others). A table read
    empty (``empty``) that the rules left empty has none, without a statement more than its count (most
    tables of a listener batch: a product without OCR'd images, without a listener log yet)."""
    changed = []
    for table in MIRRORED:
        if table.name in empty:
            if not _count(work, table):
                continue
            work.execute(_duck_parsed("store/mirror_before", table), {"empty": True})
        rows = work.execute(_duck_parsed("store/mirror_changes", table)).fetchone()  # CREATE … AS: its count
        if rows and rows[0]:
            changed.append(table)
    return tuple(changed)


def _count(work: duckdb.DuckDBPyConnection, table: Mirrored) -> int:
    rows = work.execute(_duck_parsed("store/mirror_count", table)).fetchone()
    return rows[0] if rows else 0


def _chunks(work: duckdb.DuckDBPyConnection, tables: Sequence[Mirrored]) -> list[tuple[int, int, list[int]]]:
    """Bucket ranges of about :data:`CHUNK_ROWS` changed rows (at most :data:`CHUNK_BUCKETS` buckets each),
    with the buckets in them that have changes; ``tables``: those with changes (:func:`_diff`)."""
    counts: dict[int, int] = {}
    for table in tables:
        if not table.by_product:
            continue
        for bucket, n in work.execute(_duck("store/mirror_bucket_counts", table)).fetchall():
            counts[bucket] = counts.get(bucket, 0) + n
    chunks: list[tuple[int, int, list[int]]] = []
    current: list[int] = []
    rows = 0
    for bucket in sorted(counts):
        current.append(bucket)
        rows += counts[bucket]
        if rows >= CHUNK_ROWS or len(current) >= CHUNK_BUCKETS:
            chunks.append((current[0], current[-1], current))
            current, rows = [], 0
    if current:
        chunks.append((current[0], current[-1], current))
    return chunks


def _register_skipped(work: duckdb.DuckDBPyConnection, skipped: list[tuple[str, str]]) -> None:
    rows = {"server_type": [s for s, _ in skipped], "barcode": [b for _, b in skipped]}
    work.register("mirror_skipped", pa.table(rows, schema=_SKIPPED_SCHEMA))


# -- applying ------------------------------------------------------------------------------------------------


def _apply_range(
    conn: psycopg.Connection,
    work: duckdb.DuckDBPyConnection,
    tables: Sequence[Mirrored],
    low: int,
    high: int,
    tmp: Path,
    report: ApplyReport,
) -> None:
    """Apply the product tables' changes in buckets ``low``…``high`` (inside the caller's transaction);
    ``tables``: those with changes."""
    for table in tables:
        if table.by_product:
            work.execute(_duck_parsed("store/mirror_chunk", table), {"low": low, "high": high})
            _apply_chunk(conn, work, table, tmp, report)


def _apply_unscoped(
    conn: psycopg.Connection,
    work: duckdb.DuckDBPyConnection,
    tables: Sequence[Mirrored],
    tmp: Path,
    report: ApplyReport,
) -> None:
    for table in tables:
        if not table.by_product:
            work.execute(_duck_parsed("store/mirror_chunk_run", table))
            _apply_chunk(conn, work, table, tmp, report)


def _apply_all(
    conn: psycopg.Connection,
    work: duckdb.DuckDBPyConnection,
    tables: Sequence[Mirrored],
    tmp: Path,
    report: ApplyReport,
    versions: dict[str, Any] | None,
) -> None:
    """Apply every change of ``tables`` (those with changes) in the caller's transaction — a per-product
    session, whose locks cover all its products: each table's changes go out in one statement
    (``mirror_export.sql``), then one round trip deletes, updates and inserts, table after table, empties
    the staging tables and moves the products' ``versions`` (the ``product_version_bump`` parameters)."""
    for table in tables:
        path = tmp / f"apply_{table.name}.csv"
        work.execute(_duck("store/mirror_export", table, path=_quoted(path)))
        _stage(conn, table)
        _copy_in(conn, _pg("postgres/stage_copy", table), path)
        path.unlink()
    with conn.pipeline():
        done = [
            (table, op, conn.execute(_pg(name, table))) for table in tables for op, name, _ in _APPLY_STEPS
        ]
        for table in tables:
            conn.execute(_pg("postgres/stage_clear", table))
        if versions is not None:
            conn.execute(_pg("postgres/product_version_bump"), versions)
    for table, op, cursor in done:
        report.add(table.name, _OP_NAMES[op], cursor.rowcount)


def _apply_chunk(
    conn: psycopg.Connection, work: duckdb.DuckDBPyConnection, table: Mirrored, tmp: Path, report: ApplyReport
) -> None:
    """COPY ``mirror_chunk`` into the staging table, then delete, update, insert and empty the staging table
    in one round trip (pipeline mode)."""
    ops = dict(work.execute(load_statement("store/mirror_chunk_ops")).fetchall())
    if not ops:
        return
    path = tmp / f"apply_{table.name}.csv"
    work.table("mirror_chunk").write_csv(str(path), header=False)
    _stage(conn, table)
    _copy_in(conn, _pg("postgres/stage_copy", table), path)
    path.unlink()
    with conn.pipeline():
        done = [(op, conn.execute(_pg(name, table))) for op, name, _ in _APPLY_STEPS if ops.get(op)]
        conn.execute(_pg("postgres/stage_clear", table))
    for op, cursor in done:
        report.add(table.name, _OP_NAMES[op], cursor.rowcount)


# Staging tables made on each connection: temporary tables kept for the connection's life and emptied after
# each use (creating one per chunk writes ~30 catalog rows and removes them again).
_STAGED: weakref.WeakKeyDictionary[psycopg.Connection, set[str]] = weakref.WeakKeyDictionary()


def _stage(conn: psycopg.Connection, table: Mirrored) -> None:
    """Make ``table``'s staging table on ``conn`` unless it has it (a failed transaction may have rolled its
    creation back: the session then drops the connection, and with it this record)."""
    staged = _STAGED.setdefault(conn, set())
    if table.name not in staged:
        conn.execute(_pg("postgres/stage_keep", table))
        staged.add(table.name)
