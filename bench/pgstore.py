"""PostgreSQL helpers of the benches: a fresh database per run, its schema, its table sizes.

``bench/refresh.py --store postgresql://…`` and ``bench/listener.py --store postgresql://…`` measure a fresh
store: :func:`bench_database` creates a database named after the URL's one plus a suffix on the same server
and drops it at the end (``keep``: the URL's own database, created when absent, refused when it already
holds rows, and kept). The SQL is in ``bench/sql/`` (the project's ``sql/`` holds the pipeline's only; its
contract tests run every file there).
"""

from __future__ import annotations

import logging
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql as pgsql

from pipelines.store.postgres.schema import init_schema
from pipelines.store.target import mask_url

logger = logging.getLogger(__name__)

SQL = Path(__file__).resolve().parent / "sql"
MAINTENANCE_DB = "postgres"


def bench_sql(name: str) -> str:
    """``bench/sql/<name>.sql`` without its header (psycopg would read a ``%`` there as a placeholder)."""
    text = (SQL / f"{name}.sql").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("--"))


def database_name(url: str) -> str:
    """The database a ``postgresql://`` URL names (libpq's default, the user name, when it names none)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    return name or parts.username or "postgres"


def with_database(url: str, name: str) -> str:
    """``url`` pointing at the database ``name`` of the same server (user, password, options kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _maintenance(url: str) -> psycopg.Connection:
    return psycopg.connect(with_database(url, MAINTENANCE_DB), autocommit=True)


@contextmanager
def bench_database(url: str, *, keep: bool = False, suffix: str = "bench") -> Iterator[str]:
    """The URL of a fresh database with the store's schema for one bench run, dropped at the end.

    ``keep``: the URL's own database instead (created if absent), left in place afterwards; refused when it
    already holds predictions or insights, since the figures are those of a fresh store.
    """
    name = database_name(url) if keep else f"{database_name(url)}_{suffix}_{secrets.token_hex(3)}"
    target = with_database(url, name)
    with _maintenance(url) as conn:
        exists = conn.execute(bench_sql("pg_database_exists"), {"name": name}).fetchone()[0]  # type: ignore[index]
        if not exists:
            conn.execute(pgsql.SQL(bench_sql("pg_database_create")).format(database=pgsql.Identifier(name)))
    created = not exists
    try:
        init_store_schema(target)
        if keep and not created and _holds_rows(target):
            raise SystemExit(f"{mask_url(target)} already holds predictions or insights: not a fresh store")
        logger.info("bench database %s ready", mask_url(target))
        yield target
    finally:
        if not keep:
            with _maintenance(url) as conn:
                conn.execute(pgsql.SQL(bench_sql("pg_database_drop")).format(database=pgsql.Identifier(name)))


def init_store_schema(url: str) -> None:
    """Create the store's tables, as ``offpipe store init`` does (Robotoff's, with every index the apply pays
    for in production, and the project's own in schema ``offpipe``)."""
    with psycopg.connect(url, autocommit=True) as conn:
        init_schema(conn)


def _holds_rows(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(conn.execute(bench_sql("pg_store_rows")).fetchone()[0])  # type: ignore[index]


def table_sizes(url: str) -> dict[str, dict[str, Any]]:
    """Size on disk (MB, of which indexes) and rows of Robotoff's tables and the project's, after ANALYZE."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(bench_sql("pg_analyze"))
        rows = conn.execute(bench_sql("pg_table_sizes")).fetchall()
    return {
        relation: {"mb": round(total / 2**20, 1), "index_mb": round(index / 2**20, 1), "rows": max(count, 0)}
        for relation, total, index, count in rows
    }


def truncate_insights(url: str) -> None:
    """Empty ``product_insight`` (and its votes) so that the next bulk refresh inserts every insight again."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(bench_sql("pg_truncate_insights"))


# -- timing the PostgreSQL sessions of a bench child ---------------------------------------------------------

# Functions of pipelines.store.postgres.session whose time each session accumulates (inclusive: _read holds
# _copy_out, _apply_range holds _apply_chunk, which holds _copy_in). A name that no longer exists is skipped.
SESSION_PHASES = (
    "_read",
    "_copy_out",
    "_read_versions",
    "_diff",
    "_chunks",
    "_moved_products",
    "_apply_range",
    "_apply_unscoped",
    "_apply_chunk",
    "_copy_in",
)


class SessionRecorder:
    """Times every PostgreSQL writing session opened in this process: read (until the block starts), decide
    (the block), apply (the block's end: difference + apply) and the session functions' own time.

    Bench only: it wraps private functions of :mod:`pipelines.store.postgres.session` and the seam's
    ``_postgres`` factory, so the pipeline's code runs unchanged and the figures say where its time goes.
    """

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self._phases: dict[str, float] | None = None

    def install(self) -> SessionRecorder:
        import pipelines.store.postgres.session as pg_session
        import pipelines.store.session as seam

        for name in SESSION_PHASES:
            function = getattr(pg_session, name, None)
            if function is not None:
                setattr(pg_session, name, self._timed(name, function))
        factory = seam._postgres

        def recording(target: Any, settings: Any, **kwargs: Any) -> Any:
            store = factory(target, settings, **kwargs)
            store.writer = self._writer(store, store.writer)
            return store

        seam._postgres = recording
        return self

    def _timed(self, name: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self._phases is not None:
                    self._phases[name] = self._phases.get(name, 0.0) + time.perf_counter() - started

        return timed

    def _writer(self, store: Any, writer: Any) -> Any:
        @contextmanager
        def timed(scope: Any, **kwargs: Any) -> Iterator[Any]:
            phases: dict[str, float] = {}
            self._phases = phases
            began = time.perf_counter()
            try:
                with writer(scope, **kwargs) as con:
                    entered = time.perf_counter()
                    yield con
                    decided = time.perf_counter()
            finally:
                self._phases = None
            report = store.last_report
            self.sessions.append(
                {
                    "purpose": kwargs.get("purpose", "write"),
                    "bulk": scope.everything,
                    "read_s": entered - began,
                    "decide_s": decided - entered,
                    "apply_s": time.perf_counter() - decided,
                    "rows": report.rows,
                    "chunks": report.chunks,
                    "skipped_products": report.skipped_products,
                    "phases_s": phases,
                }
            )

        return timed


def rounded_session(record: dict[str, Any]) -> dict[str, Any]:
    """A session record with its seconds rounded (for printing)."""
    out = {k: round(v, 3) if isinstance(v, float) else v for k, v in record.items()}
    out["phases_s"] = {k: round(v, 3) for k, v in record["phases_s"].items()}
    return out


def session_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and p95 (ms) of the read, decide and apply times of many small sessions, and the median of
    each session function's time."""
    if not records:
        return {"sessions": 0}

    def quantiles(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {
            "p50": round(statistics.median(values) * 1000, 1),
            "p95": round(values[int(0.95 * (len(values) - 1))] * 1000, 1),
        }

    names = sorted({name for r in records for name in r["phases_s"]})
    return {
        "sessions": len(records),
        "read_ms": quantiles([r["read_s"] for r in records]),
        "decide_ms": quantiles([r["decide_s"] for r in records]),
        "apply_ms": quantiles([r["apply_s"] for r in records]),
        "phases_ms_p50": {
            name: round(statistics.median(r["phases_s"].get(name, 0.0) for r in records) * 1000, 1)
            for name in names
        },
    }
