"""Opening the DuckDB store, creating its schema, and the one way the store is written: a locked transaction.

Why ``write_transaction`` wraps every write: the design promises one transaction per change (a SIGKILL leaves
the previous state) and one writer at a time (invariant 8). DuckDB gives the first; the second needs the
writer lock (:mod:`pipelines.store.lock`) because DuckDB makes a read-write file exclusive to one process
and fails, rather than waits, when a second process opens it. Hence :func:`store_writer`: take the lock,
*then* open the file, so a second writer waits its turn instead of failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import duckdb

from pipelines.config import Settings, get_settings
from pipelines.sql import connect, load_sql
from pipelines.store.lock import DEFAULT_LOCK_TIMEOUT, StoreLockedError, writer_lock

logger = logging.getLogger(__name__)

# Created in this order (the table's default uses the sequence, the index needs the table).
SCHEMA_OBJECTS = (
    "store/prediction_id_seq",
    "store/prediction",
    "store/prediction_barcode_idx",
    "store/product_insight",
    "store/product_insight_barcode_idx",
    "store/run",
    "store/ocr_image",
    "store/image",
    "store/listener_log",
)
_OPEN_RETRY_SECONDS = 0.1


class StoreNotFoundError(FileNotFoundError):
    """A read-only open of a store that does not exist."""


def store_path(settings: Settings | None = None) -> Path:
    """The default store: ``$OFF_DATA_DIR/store.duckdb``."""
    return (settings or get_settings()).store_path


def open_store(path: Path | str | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the store, its schema created if missing (read-write only).

    A read-write connection holds DuckDB's exclusive lock on the file for as long as it is open, so other
    processes can neither write nor read meanwhile; writers should prefer :func:`store_writer`, which
    also waits for the writer lock, and keep connections short. A read-only connection needs no writer
    lock but fails while another process has the file open read-write.
    """
    path = Path(path) if path is not None else store_path()
    if read_only:
        if not path.is_file():
            raise StoreNotFoundError(f"no store at {path}")
        return connect(path, read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(path)
    try:
        ensure_schema(con)
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def store_writer(
    path: Path | str | None = None, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "write"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Hold the writer lock, open the store read-write, yield the connection; close, then unlock.

    The listener and the nightly refresh both write through this, so whichever comes second waits (up to
    ``timeout`` seconds, then :class:`~pipelines.store.lock.StoreLockedError`). Opening is retried until the
    same deadline while a reader still has the file open.
    """
    path = Path(path) if path is not None else store_path()
    deadline = time.monotonic() + timeout
    with writer_lock(path, timeout=timeout, purpose=purpose):
        con = _open_until(path, deadline)
        try:
            yield con
        finally:
            con.close()


def _open_until(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    """Open read-write, retrying while another process (a reader) holds DuckDB's own file lock."""
    while True:
        try:
            return open_store(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreLockedError(f"{path}: still open in another process: {exc}") from exc
            time.sleep(_OPEN_RETRY_SECONDS)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the store's objects that are missing (idempotent: every statement is IF NOT EXISTS)."""
    with write_transaction(con, purpose="schema"):
        for name in SCHEMA_OBJECTS:
            con.execute(load_sql(name))


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """File of the connection's current database; None for an in-memory database."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    return Path(rows[0][0]) if rows and rows[0][0] else None


@contextmanager
def write_transaction(
    con: duckdb.DuckDBPyConnection, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "write"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One write transaction under the writer lock: BEGIN, the block, COMMIT; ROLLBACK if the block raises.

    The lock is that of the connection's database file (none for an in-memory database, which no other
    process can see). The caller must not already be inside a transaction on ``con``: every store write
    owns its transaction, which is what makes each one all-or-nothing.
    """
    path = database_path(con)
    guard = writer_lock(path, timeout=timeout, purpose=purpose) if path is not None else nullcontext()
    with guard:
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            _rollback(con)
            raise
        try:
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)  # a failed COMMIT may leave the transaction open
            raise


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, ignoring "no transaction" (DuckDB may already have aborted it) so the first error wins."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")
    logger.warning("store transaction rolled back")
