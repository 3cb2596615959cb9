"""Throw-away PostgreSQL databases for the tests of the PostgreSQL store.

The server is the one of these machines and of CI (``OFF_TEST_POSTGRES_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``, a role allowed to create databases). Each database is
named ``offpipe_test_<random hex>`` and dropped ``WITH (FORCE)`` afterwards. Creating one from
``template0`` takes tens of milliseconds; an initialized store is copied from a template database that
``init_schema`` set up once (:func:`store_template`), which is cheaper than initializing again.
"""

from __future__ import annotations

import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from pipelines.store.postgres.connection import connect
from pipelines.store.postgres.schema import init_schema
from pipelines.store.target import PostgresTarget

ADMIN_URL = os.environ.get("OFF_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFIX = "offpipe_test_"

_template_lock = threading.Lock()
_template: list[str] = []


def database_url(name: str) -> str:
    """The URL of database ``name`` on the test server (same host, port and role as ADMIN_URL)."""
    return urlsplit(ADMIN_URL)._replace(path=f"/{name}").geturl()


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL for the tests at {ADMIN_URL} (set OFF_TEST_POSTGRES_URL): {exc}")


def create_database(template: str = "template0") -> str:
    """A new database ``offpipe_test_<hex>`` copied from ``template`` (empty by default); its name."""
    name = f"{PREFIX}{secrets.token_hex(6)}"
    with _admin() as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return name


def drop_database(name: str) -> None:
    """Drop ``name``, closing whatever connections a test left open."""
    assert name.startswith(PREFIX), name
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def store_template() -> str:
    """This session's template database: a fresh database after ``init_schema`` (created on first use)."""
    with _template_lock:
        if not _template:
            name = create_database()
            try:
                conn = connect(PostgresTarget(database_url(name)))
                try:
                    init_schema(conn)
                finally:
                    conn.close()
            except BaseException:
                drop_database(name)
                raise
            _template.append(name)
        return _template[0]


def drop_store_template() -> None:
    """Drop the session's template database, if one was made."""
    with _template_lock:
        while _template:
            drop_database(_template.pop())


# Every table of the store a test may fill, emptied between tests (annotation_vote goes with its insight).
STORE_TABLES = (
    "public.annotation_vote",
    "public.product_insight",
    "public.prediction",
    "offpipe.run",
    "offpipe.ocr_image",
    "offpipe.listener_log",
    "offpipe.image",
    "offpipe.product_version",
)


def truncate_store(conn: psycopg.Connection) -> None:
    """Empty every table of the store and restart its sequences: a clean store for the next test."""
    conn.execute(f"TRUNCATE {', '.join(STORE_TABLES)} RESTART IDENTITY")
    conn.execute("ALTER SEQUENCE offpipe.product_version_seq RESTART")


class PostgresServer:
    """Databases for one test session: initialized stores (copies of the session's template) or copies of
    a given database, all dropped by :meth:`drop_all`; :meth:`drop_later` drops one on a background thread
    (dropping a database waits for a checkpoint, 1-3 s on a busy machine, which the next test need not)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._dropper: ThreadPoolExecutor | None = None

    def create(self, template: str | None = None) -> str:
        """A new database — an initialized store, or a copy of database ``template`` — and its URL."""
        name = create_database(template=template or store_template())
        self.names.append(name)
        with _admin() as admin:  # commits need not wait for the disk: a test database dies with its test
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name))
            )
        return database_url(name)

    def drop_later(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        if name in self.names:
            self.names.remove(name)
            if self._dropper is None:
                self._dropper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database")
            self._dropper.submit(drop_database, name)

    def drop_all(self) -> None:
        """Drop every database left, once the background drops have ended."""
        if self._dropper is not None:
            self._dropper.shutdown(wait=True)
            self._dropper = None
        while self.names:
            drop_database(self.names.pop())
