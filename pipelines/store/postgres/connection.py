"""Connecting to the PostgreSQL store: one place that turns a URL into a connection or a one-line error.

Connections are in autocommit mode and every unit of work opens its own ``conn.transaction()``, so a
transaction is always explicit and short. The session's time zone is UTC: Robotoff's timestamps are
``timestamp without time zone`` holding UTC (its peewee models write ``datetime.utcnow()``), and the
conversions in ``sql/postgres/`` rely on it.
"""

from __future__ import annotations

import psycopg

from pipelines.common.errors import OffpipeError
from pipelines.store.target import PostgresTarget, mask_url

APPLICATION_NAME = "offpipe"
CONNECT_TIMEOUT_S = 10


class StoreConnectionError(OffpipeError, ConnectionError):
    """The PostgreSQL store could not be reached or refused the credentials (nothing was written)."""


def connect(target: PostgresTarget) -> psycopg.Connection:
    """An autocommit connection to ``target``, time zone UTC; :class:`StoreConnectionError` when the server
    cannot be reached, refuses the login or the database does not exist."""
    try:
        conn = psycopg.connect(
            target.url,
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
    except psycopg.ProgrammingError as exc:  # a URL libpq cannot parse
        raise StoreConnectionError(
            f"invalid PostgreSQL URL {mask_url(target.url)}: {_first_line(exc)}"
        ) from None
    except psycopg.OperationalError as exc:
        raise StoreConnectionError(
            f"cannot connect to the store {target.describe()}: {_first_line(exc)}"
        ) from None
    try:
        conn.execute("SET TIME ZONE 'UTC'")
    except BaseException:
        conn.close()
        raise
    return conn


def _first_line(exc: BaseException) -> str:
    """libpq's message without its continuation lines (and without the URL, which may hold the password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace("connection failed: ", "")
