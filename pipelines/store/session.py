"""The seam between the rules and the store: a DuckDB connection the rules read and write, whatever the store.

- DuckDB store (the default): the store file itself, under its writer lock (``store_writer``);
- PostgreSQL store: a working copy holding the scope's rows, whose changes are applied to PostgreSQL when the
  block ends (:mod:`pipelines.store.postgres.session`).

Callers say which products they touch (``server_type`` and ``barcodes``; ``None``: all of the flavor) so the
PostgreSQL store reads only those rows and locks only those products; the DuckDB store ignores it. The same
functions (``import_predictions``, ``refresh_insights``, the listener's ``apply_products``) run on the yielded
connection in both cases: a rule is written once (docs/store.md, "One rule, two stores").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from pipelines.common.config import Settings, get_settings
from pipelines.common.sql import fit_threads
from pipelines.store.db import KeptWriter, open_store, store_writer
from pipelines.store.lock import DEFAULT_LOCK_TIMEOUT
from pipelines.store.target import DuckDBTarget, PostgresTarget, StoreTarget, store_target

if TYPE_CHECKING:
    from pipelines.store.postgres.session import ApplyReport

StoreRef = StoreTarget | Path | str | None


def _postgres(target: PostgresTarget, settings: Settings, **kwargs):
    from pipelines.store.postgres.session import PostgresStore

    return PostgresStore(target, work_dir=settings.data_dir / "tmp", **kwargs)


def _tables(names: Sequence[str] | None):
    from pipelines.store.postgres.mirror import BY_NAME, MIRRORED

    return MIRRORED if names is None else tuple(BY_NAME[name] for name in names)


@contextmanager
def store_session(
    store: StoreRef = None,
    *,
    server_type: str,
    barcodes: Sequence[str] | None = None,
    purpose: str = "write",
    timeout: float = DEFAULT_LOCK_TIMEOUT,
    tables: Sequence[str] | None = None,
    settings: Settings | None = None,
    applied: Callable[[ApplyReport], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection on which the rules write the products ``barcodes`` of ``server_type`` (None: all).

    PostgreSQL: ``tables`` (names of :mod:`pipelines.store.postgres.mirror` tables, default all) are the ones
    read; the changes are applied when the block ends without error, nothing otherwise; ``applied`` is then
    given what was written (rows per table and operation), for callers that report it (``store copy``). The
    DuckDB store writes in place and never calls it.
    """
    settings = settings or get_settings()
    target = store_target(store, settings)
    if isinstance(target, DuckDBTarget):
        with store_writer(target.path, timeout=timeout, purpose=purpose) as con:
            fit_threads(con, None if barcodes is None else len(barcodes))
            yield con
        return
    from pipelines.store.postgres.session import Scope

    pg = _postgres(target, settings)
    try:
        scope = Scope(server_type, None if barcodes is None else tuple(barcodes))
        with pg.writer(scope, purpose=purpose, timeout=timeout, tables=_tables(tables)) as con:
            yield con
        if applied is not None:
            applied(pg.last_report)
    finally:
        pg.close()


@contextmanager
def store_reader(
    store: StoreRef = None,
    *,
    server_type: str | None = None,
    barcodes: Sequence[str] | None = None,
    tables: Sequence[str] | None = None,
    settings: Settings | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection holding the store's rows (PostgreSQL: those of the products asked for)."""
    settings = settings or get_settings()
    target = store_target(store, settings)
    if isinstance(target, DuckDBTarget):
        con = open_store(target.path, read_only=True)
        try:
            yield con
        finally:
            con.close()
        return
    from pipelines.store.postgres.session import Scope

    pg = _postgres(target, settings)
    try:
        scope = Scope(server_type, None if barcodes is None else tuple(barcodes))
        with pg.reader(scope, tables=_tables(tables)) as con:
            yield con
    finally:
        pg.close()


def scope_barcodes(
    query: str, params: dict[str, Any], store: StoreRef = None, settings: Settings | None = None
) -> list[str] | None:
    """The products a PostgreSQL query (``sql/<query>.sql``, one column of barcodes) names, to give a session
    on the PostgreSQL store a narrow scope; ``None`` with the DuckDB store, whose sessions read nothing (the
    rules run on the file, where the same condition costs nothing to evaluate)."""
    settings = settings or get_settings()
    target = store_target(store, settings)
    if isinstance(target, DuckDBTarget):
        return None
    pg = _postgres(target, settings)
    try:
        return pg.barcodes(query, params)
    finally:
        pg.close()


def check_store(store: StoreRef = None, settings: Settings | None = None) -> None:
    """Fail now, with one line, when the PostgreSQL store cannot be used (unreachable, refused login, no
    tables, a Robotoff column offpipe cannot write): a long step before the first session need not run
    for nothing. The DuckDB store creates its tables itself: nothing to check."""
    target = store_target(store, settings or get_settings())
    if isinstance(target, PostgresTarget):
        from pipelines.store.postgres.connection import connect
        from pipelines.store.postgres.schema import check_schema

        conn = connect(target)
        try:
            check_schema(conn)
        finally:
            conn.close()


class KeptStore(Protocol):
    """A store kept open between the listener's batches."""

    def session(
        self, purpose: str = "write", *, server_type: str, barcodes: Sequence[str]
    ) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    def tick(self) -> None: ...

    def close(self) -> None: ...


class KeptPostgres:
    """The PostgreSQL store kept for the listener: one connection and one in-memory working copy (with its
    taxonomy tables) for every batch; each batch is one per-product session."""

    def __init__(
        self, target: PostgresTarget, settings: Settings, *, timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self._pg = _postgres(target, settings, keep_copy=True)

    @contextmanager
    def session(
        self, purpose: str = "write", *, server_type: str, barcodes: Sequence[str]
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        from pipelines.store.postgres.session import Scope

        scope = Scope(server_type, tuple(barcodes))
        with self._pg.writer(scope, purpose=purpose, timeout=self.timeout) as con:
            yield con

    def tick(self) -> None:
        """Nothing to let go of between batches: PostgreSQL has no single-writer file lock."""

    def close(self) -> None:
        self._pg.close()


def kept_store(store: StoreRef = None, settings: Settings | None = None) -> KeptWriter | KeptPostgres:
    """The store the listener keeps open between batches."""
    settings = settings or get_settings()
    target = store_target(store, settings)
    if isinstance(target, DuckDBTarget):
        return KeptWriter(target.path)
    return KeptPostgres(target, settings)
