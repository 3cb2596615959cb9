"""Opening the DuckDB store, creating its schema, and the one way the store is written: a locked transaction.

Why ``write_transaction`` wraps every write: the design promises one transaction per change (a SIGKILL leaves
the previous state) and one writer at a time (invariant 8). DuckDB gives the first; the second needs the
writer lock (:mod:`pipelines.store.lock`) because DuckDB makes a read-write file exclusive to one process
and fails, rather than waits, when a second process opens it. Hence :func:`store_writer`: take the lock,
*then* open the file, so a second writer waits its turn instead of failing.

The listener applies a batch every few tens of milliseconds; opening the store (and rebuilding its session
state) for each would cost more than the batch. :class:`KeptWriter` keeps one connection, and the writer
lock, between batches and lets go as soon as anyone else rings the lock's doorbell (a writer waiting for the
lock, a reader waiting for the file) or after a short idle time.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

import duckdb

from pipelines.common.config import Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.sql import connect, fit_threads, load_sql
from pipelines.store.lock import (
    DEFAULT_LOCK_TIMEOUT,
    StoreLockedError,
    acquire_writer_lock,
    answer_doorbell,
    doorbell_rung,
    release_writer_lock,
    ring_doorbell,
    writer_lock,
)

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
    "store/annotate_attempt",
)
_OPEN_RETRY_SECONDS = 0.1
DEFAULT_READER_TIMEOUT = 60.0  # how long a reader waits for writers to let go of the file


class StoreNotFoundError(OffpipeError, FileNotFoundError):
    """A read-only open of a store that does not exist."""


def store_path(settings: Settings | None = None) -> Path:
    """The default store: ``$OFF_DATA_DIR/store.duckdb``."""
    return (settings or get_settings()).store_path


def open_store(
    path: Path | str | None = None, *, read_only: bool = False, timeout: float = DEFAULT_READER_TIMEOUT
) -> duckdb.DuckDBPyConnection:
    """A connection to the store, its schema created if missing (read-write only).

    A read-write connection holds DuckDB's exclusive lock on the file for as long as it is open, so other
    processes can neither write nor read meanwhile; writers should prefer :func:`store_writer`, which
    also waits for the writer lock, and keep connections short. A read-only connection needs no writer
    lock; while another process has the file open read-write it rings the doorbell (a listener lets go
    at the end of its batch) and retries for up to ``timeout`` seconds, then raises DuckDB's error.
    """
    path = Path(path) if path is not None else store_path()
    if read_only:
        if not path.is_file():
            raise StoreNotFoundError(f"no store at {path}")
        return _open_reader(path, time.monotonic() + timeout)
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


def _open_reader(path: Path, deadline: float) -> duckdb.DuckDBPyConnection:
    rang = False
    while True:
        try:
            con = connect(path, read_only=True)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            ring_doorbell(path)
            rang = True
            time.sleep(_OPEN_RETRY_SECONDS)
            continue
        if rang:
            answer_doorbell(path)
        return con


class KeptWriter:
    """The store open for writing across many short jobs (the listener's batches), for one thread.

    :meth:`session` yields the connection, opening it (writer lock, then the file) when it is not open. It
    stays open afterwards, so the next batch skips the open, the macros and the session state the insight
    refresh builds on its connection (a large share of a one-product batch), and is closed (the lock released)
    when someone rings the doorbell, when :meth:`tick` finds it idle for ``idle_s``, after a failed job
    (its next one starts from a fresh connection), and by :meth:`close`. Before opening, it lets a waiter
    that rang go first: the file lock is not fair, and a listener with a steady stream of batches would
    otherwise take it back before the nightly run's next poll.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        idle_s: float = 5.0,
        timeout: float = DEFAULT_LOCK_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.idle_s = idle_s
        self.timeout = timeout
        self.clock = clock
        self.opened = 0  # how many times the store was opened: what the keeping saves is visible
        self._con: duckdb.DuckDBPyConnection | None = None
        self._last_used = 0.0

    @property
    def is_open(self) -> bool:
        return self._con is not None

    @contextmanager
    def session(
        self,
        purpose: str = "write",
        *,
        server_type: str | None = None,
        barcodes: Sequence[str] | None = None,
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The kept connection for one job; a job that raises closes it (its state is not trusted).
        ``barcodes`` (the products of the job) set its DuckDB threads (``fit_threads``); ``server_type``
        matters only to the PostgreSQL store."""
        con = self._con if self._con is not None else self._open(purpose)
        try:
            fit_threads(con, None if barcodes is None else len(barcodes))
            yield con
        except BaseException:
            self.close()
            raise
        self._last_used = self.clock()
        if doorbell_rung(self.path):
            logger.info("store wanted by another process: closing the kept connection")
            self.close()

    def tick(self) -> None:
        """Between jobs: let go when someone waits or the connection has been idle for ``idle_s``."""
        if self._con is not None and (
            doorbell_rung(self.path) or self.clock() - self._last_used >= self.idle_s
        ):
            self.close()

    def close(self) -> None:
        """Close the connection and release the writer lock (nothing to do when not open)."""
        con, self._con = self._con, None
        if con is None:
            return
        try:
            con.close()
        finally:
            release_writer_lock(self.path)

    def _open(self, purpose: str) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.timeout
        while doorbell_rung(self.path) and time.monotonic() < deadline:
            time.sleep(_OPEN_RETRY_SECONDS)  # someone else waits: let them in first
        acquire_writer_lock(self.path, timeout=max(deadline - time.monotonic(), 0.0), purpose=purpose)
        try:
            self._con = _open_until(self.path, deadline)
        except BaseException:
            release_writer_lock(self.path)
            raise
        self.opened += 1
        return self._con


def is_storage_error(exc: BaseException) -> bool:
    """Whether a DuckDB error says the storage failed (disk full, read-only, locked file, unreadable file)
    rather than the statement: an ``IOException``, or a commit that could not write its file (DuckDB reports
    a full disk at commit as a ``TransactionException``)."""
    if isinstance(exc, duckdb.IOException):
        return True
    return isinstance(exc, duckdb.TransactionException) and "Failed to commit" in str(exc)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the store's objects that are missing (idempotent: every statement is IF NOT EXISTS)."""
    with write_transaction(con, purpose="schema"):
        for name in SCHEMA_OBJECTS:
            con.execute(load_sql(name))


# connection → its database file: every store write asks (for its lock), and the answer is a query.
_DATABASE_PATHS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, tuple[Path | None]] = (
    weakref.WeakKeyDictionary()
)


def database_path(con: duckdb.DuckDBPyConnection) -> Path | None:
    """File of the connection's current database; None for an in-memory database.

    Remembered per connection (the project's connections never switch databases with ``USE``).
    """
    known = _DATABASE_PATHS.get(con)
    if known is not None:
        return known[0]
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    path = Path(rows[0][0]) if rows and rows[0][0] else None
    _DATABASE_PATHS[con] = (path,)
    return path


class StoreTransactionError(OffpipeError, RuntimeError):
    """A write inside an enclosing transaction failed; the enclosing transaction cannot commit."""


class _Transaction:
    """An open write transaction: whether a step joined to it failed (then it must not commit)."""

    __slots__ = ("failed",)

    def __init__(self) -> None:
        self.failed: BaseException | None = None


# connection → the state of the write_transaction it is in (absent: none): nested calls join it.
_OPEN_TRANSACTIONS: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, _Transaction] = (
    weakref.WeakKeyDictionary()
)


@contextmanager
def write_transaction(
    con: duckdb.DuckDBPyConnection, *, timeout: float = DEFAULT_LOCK_TIMEOUT, purpose: str = "write"
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One write transaction under the writer lock: BEGIN, the block, COMMIT; ROLLBACK if the block raises.

    The lock is that of the connection's database file (none for an in-memory database, which no other
    process can see). Called inside another ``write_transaction`` on the same connection, it joins that one:
    writes that must land together (predictions and the OCR ledger entries saying they exist) commit
    together or not at all. A joined block that raises dooms the enclosing transaction, even if the caller
    catches the error: it rolls back instead of committing half of its work. The caller must not be inside
    a transaction opened any other way (a raw ``BEGIN``).
    """
    enclosing = _OPEN_TRANSACTIONS.get(con)
    if enclosing is not None:
        try:
            yield con
        except BaseException as exc:
            enclosing.failed = enclosing.failed or exc
            raise
        return
    path = database_path(con)
    guard = writer_lock(path, timeout=timeout, purpose=purpose) if path is not None else nullcontext()
    with guard:
        con.execute("BEGIN TRANSACTION")
        state = _OPEN_TRANSACTIONS[con] = _Transaction()
        try:
            yield con
            if state.failed is not None:
                raise StoreTransactionError(
                    f"{purpose}: a step failed ({type(state.failed).__name__}: {state.failed}); "
                    "nothing was committed"
                ) from state.failed
        except BaseException:
            _OPEN_TRANSACTIONS.pop(con, None)
            _rollback(con)
            raise
        _OPEN_TRANSACTIONS.pop(con, None)
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
