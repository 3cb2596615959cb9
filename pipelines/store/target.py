"""Which store a run writes to: the embedded DuckDB file or a PostgreSQL database in Robotoff's schema.

``OFF_STORE_URL`` (or a ``--store`` option) chooses: unset or a path → the DuckDB file (the default,
``$OFF_DATA_DIR/store.duckdb``); ``postgresql://…`` → PostgreSQL, where Robotoff's API, Hunger Games and
the apps read the insights (docs/store.md). The URL may carry a password: it only comes from the
environment or the command line, and everything this module prints masks it (:func:`mask_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.common.config import Settings, get_settings
from pipelines.common.errors import OffpipeError

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_USERINFO_PASSWORD = re.compile(r"(//[^:/@?#]*:)[^@/?#]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


class StoreUrlError(OffpipeError, ValueError):
    """``OFF_STORE_URL`` (or ``--store``) is neither a path nor a PostgreSQL URL."""


def mask_url(url: str) -> str:
    """``url`` with any password (``user:secret@`` or ``?password=secret``) replaced by ``***``."""
    return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_PASSWORD.sub(r"\1***@", url))


@dataclass(frozen=True)
class DuckDBTarget:
    """The embedded store: one DuckDB file (pipelines.store.db)."""

    path: Path

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database: Robotoff's tables in its search path (``public`` by default), the project's own
    tables in the schema ``offpipe``. ``repr`` and :meth:`describe` never show the password."""

    url: str = field(repr=False)

    def describe(self) -> str:
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"PostgresTarget({self.describe()!r})"


StoreTarget = DuckDBTarget | PostgresTarget


def store_target(
    value: str | Path | StoreTarget | None = None, settings: Settings | None = None
) -> StoreTarget:
    """The store named by ``value`` (a path, a URL, a target), else by ``OFF_STORE_URL``, else the default
    DuckDB file."""
    if isinstance(value, DuckDBTarget | PostgresTarget):
        return value
    if isinstance(value, Path):
        return DuckDBTarget(value)
    settings = settings or get_settings()
    raw = (value or settings.store_url or "").strip()
    if not raw:
        return DuckDBTarget(settings.store_path)
    if raw.startswith(POSTGRES_SCHEMES):
        return PostgresTarget(raw)
    if "://" in raw:
        scheme = raw.split("://", 1)[0]
        raise StoreUrlError(
            f"unsupported store URL scheme {scheme!r} in {mask_url(raw)}: use a DuckDB file path or postgresql://…"
        )
    return DuckDBTarget(Path(raw).expanduser().resolve())


def postgres_target(
    value: str | None = None, *, command: str, settings: Settings | None = None
) -> PostgresTarget:
    """The PostgreSQL store named by ``value`` or ``OFF_STORE_URL``, for a ``command`` that only has a
    meaning there; :class:`StoreUrlError` when they name the DuckDB store instead (or nothing)."""
    target = store_target(value, settings)
    if isinstance(target, PostgresTarget):
        return target
    given = "" if (value or (settings or get_settings()).store_url) else " (none given)"
    raise StoreUrlError(
        f"{command} needs a PostgreSQL store: pass --url postgresql://… or set OFF_STORE_URL; "
        f"the store named is the DuckDB file {target.describe()}{given}, which creates its tables itself"
    )
