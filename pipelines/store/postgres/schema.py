"""``offpipe store init`` and ``offpipe store check``: the tables a PostgreSQL store needs, and whether a
database has them as offpipe reads and writes them.

A fresh database gets Robotoff's tables exactly as Robotoff 1.85.10's migrations create them, with those
migrations recorded so Robotoff's own ``migrate-db`` carries on from there; an existing Robotoff database is
never altered. Both get the project's own tables in the schema ``offpipe``. Then the columns offpipe uses
are compared with :data:`REQUIRED_COLUMNS`, and a mismatch fails before anything is written, because
offpipe's rows would otherwise be cut, rounded or refused half-way through a run (docs/store.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pipelines.common.errors import OffpipeError
from pipelines.common.sql import load_sql

log = logging.getLogger(__name__)

ROBOTOFF_RELEASE = "1.85.10"
OFFPIPE_SCHEMA_VERSION = 1
INIT_HINT = "run `offpipe store init --url …`"
MAX_PROBLEMS_SHOWN = 3


class StoreSchemaError(OffpipeError, RuntimeError):
    """The database lacks a table or column offpipe needs, or has one with another type (nothing changed)."""


@dataclass(frozen=True)
class Column:
    """A column offpipe reads or writes: its type as PostgreSQL prints it (``format_type``), whether offpipe
    may write NULL into it, and whether offpipe leaves it to the database (a serial id, which needs its
    default)."""

    name: str
    type: str
    nullable: bool = True
    generated: bool = False


def _columns(spec: str, *, not_null: str = "", generated: str = "") -> tuple[Column, ...]:
    """Columns from ``name type`` lines; ``not_null`` and ``generated`` list names (whitespace-separated)."""
    strict, serial = set(not_null.split()), set(generated.split())
    columns = []
    for line in spec.strip().splitlines():
        name, kind = line.strip().split(" ", 1)
        columns.append(Column(name, kind.strip(), nullable=name not in strict, generated=name in serial))
    return tuple(columns)


# The columns offpipe reads or writes, per Robotoff table, as Robotoff 1.85.10 has them (docs/store.md).
# A type must match exactly, except that a text column may be longer: character varying(n) accepts
# character varying(m >= n), unbounded character varying or text, and text accepts unbounded character
# varying (arrays alike). A column offpipe may write NULL into must allow NULL; a serial id needs its default.
REQUIRED_COLUMNS: dict[str, tuple[Column, ...]] = {
    "prediction": _columns(
        """
        id integer
        barcode character varying(100)
        type character varying(256)
        data jsonb
        timestamp timestamp without time zone
        value_tag text
        value text
        source_image text
        automatic_processing boolean
        predictor character varying(100)
        predictor_version character varying(100)
        confidence real
        server_type character varying(10)
        """,
        not_null="id barcode type data timestamp server_type",
        generated="id",
    ),
    "product_insight": _columns(
        """
        id uuid
        barcode character varying(100)
        type character varying(256)
        data jsonb
        timestamp timestamp without time zone
        completed_at timestamp without time zone
        annotation integer
        annotated_result integer
        n_votes integer
        username text
        countries jsonb
        brands jsonb
        process_after timestamp without time zone
        value_tag text
        value text
        source_image text
        automatic_processing boolean
        server_type character varying(10)
        unique_scans_n integer
        reserved_barcode boolean
        predictor character varying(100)
        predictor_version character varying(100)
        campaign jsonb
        confidence real
        bounding_box jsonb
        lc character varying(255)[]
        with_image boolean
        """,
        not_null="id barcode type data n_votes automatic_processing unique_scans_n reserved_barcode",
    ),
    "image": _columns(
        """
        id integer
        barcode character varying(100)
        uploaded_at timestamp without time zone
        image_id character varying(50)
        source_image text
        width integer
        height integer
        deleted boolean
        server_type character varying(10)
        fingerprint bigint
        """,
        not_null="id barcode image_id source_image width height deleted",
        generated="id",
    ),
    "annotation_vote": _columns(
        """
        id uuid
        insight_id uuid
        """,
        not_null="id insight_id",
    ),
}
# Robotoff tables offpipe inserts rows into: a further NOT NULL column without a default would refuse them.
WRITTEN_TABLES = ("prediction", "product_insight")  # Robotoff's image is not written yet (docs/store.md)
# What postgres/robotoff_schema creates (Robotoff's tables) and postgres/offpipe_schema (the project's own).
ROBOTOFF_TABLES = (
    "product_insight",
    "prediction",
    "annotation_vote",
    "image",
    "image_prediction",
    "logo_annotation",
    "logo_confidence_threshold",
    "base_model",
    "migratehistory",
    "embedding.image_embedding",
    "embedding.logo_embedding",
)
OFFPIPE_TABLES = (
    "offpipe.run",
    "offpipe.ocr_image",
    "offpipe.listener_log",
    "offpipe.image",
    "offpipe.annotate_attempt",
    "offpipe.product_version",
    "offpipe.schema_version",
)
_TYPE = re.compile(r"(?P<base>.+?)(?:\((?P<length>\d+)\))?(?P<array>\[\])?")
_TEXTUAL = frozenset({"text", "character varying"})


@dataclass(frozen=True)
class InitReport:
    """What ``offpipe store init`` did: whether it created Robotoff's tables (a fresh database), the tables
    it created, and the tables the check then found as offpipe needs them."""

    created_robotoff: bool
    created_tables: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def init_schema(conn: psycopg.Connection) -> InitReport:
    """Create what the store lacks and check the result, in one transaction: a failing check (or any error)
    rolls everything back. Robotoff's tables are created only when ``product_insight`` is absent."""
    try:
        with conn.transaction():
            conn.execute(load_sql("postgres/schema_init_lock"))
            before = _existing(conn, (*ROBOTOFF_TABLES, *OFFPIPE_TABLES))
            created_robotoff = "product_insight" not in before
            if created_robotoff:
                conn.execute(load_sql("postgres/robotoff_schema"))
                conn.execute(load_sql("postgres/robotoff_migrations_record"))
            conn.execute(load_sql("postgres/offpipe_schema"))
            after = _existing(conn, (*ROBOTOFF_TABLES, *OFFPIPE_TABLES))
            checked = check_schema(conn)
    except psycopg.Error as exc:
        raise StoreSchemaError(f"offpipe store init failed: {_first_line(exc)}; nothing was changed") from exc
    created = [name for name in after if name not in before]
    log.info("store init: created %d tables (Robotoff's: %s)", len(created), created_robotoff)
    return InitReport(created_robotoff=created_robotoff, created_tables=created, checked=checked)


def check_schema(conn: psycopg.Connection) -> list[str]:
    """The tables checked, when every column offpipe uses is there with a type it can use and offpipe's own
    tables exist; :class:`StoreSchemaError` naming the first problems otherwise. Reads the catalog only."""
    problems = schema_problems(conn)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = f" (and {more} more)" if more else ""
        raise StoreSchemaError(f"{'; '.join(shown)}{tail}; nothing was changed")
    return [*REQUIRED_COLUMNS, *OFFPIPE_TABLES]


def schema_problems(conn: psycopg.Connection) -> list[str]:
    """Every way the database differs from what offpipe needs, one sentence each (empty: none): Robotoff's
    tables and columns first, then offpipe's own tables."""
    existing = set(_existing(conn, (*REQUIRED_COLUMNS, *OFFPIPE_TABLES)))
    if not existing:
        return [f"the database has no table product_insight (never initialized for offpipe): {INIT_HINT}"]
    problems = [_missing_robotoff_table(name, existing) for name in REQUIRED_COLUMNS if name not in existing]
    present = [name for name in REQUIRED_COLUMNS if name in existing]
    actual: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in present}
    if present:
        with conn.cursor(row_factory=dict_row) as cur:
            for row in cur.execute(load_sql("postgres/schema_columns"), {"tables": present}):
                actual[row["table_name"]][row["column_name"]] = row
    for table in present:
        problems += _column_problems(table, actual[table])
    missing_own = [name for name in OFFPIPE_TABLES if name not in existing]
    if len(missing_own) == len(OFFPIPE_TABLES):
        problems.append(f"the database has no offpipe tables (schema offpipe): {INIT_HINT}")
    elif missing_own:
        problems.append(f"the database has no table {', '.join(missing_own)}: {INIT_HINT}")
    if "offpipe.schema_version" in existing:
        problems += _version_problems(conn)
    return problems


def _missing_robotoff_table(name: str, existing: set[str]) -> str:
    if "product_insight" not in existing:
        return f"the database has no table {name}: {INIT_HINT}"
    return (
        f"the database has no table {name}, which Robotoff {ROBOTOFF_RELEASE} has "
        "(product_insight exists: an older Robotoff database? migrate it with Robotoff's `migrate-db`)"
    )


def _column_problems(table: str, actual: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    required = {column.name: column for column in REQUIRED_COLUMNS[table]}
    for column in required.values():
        found = actual.get(column.name)
        where = f"{table}.{column.name}"
        if found is None:
            problems.append(
                f"{where} is missing, offpipe needs it as {column.type} (Robotoff {ROBOTOFF_RELEASE})"
            )
        elif not _type_fits(column.type, found):
            needs = column.type + (" or longer" if _parse_type(column.type)[1] is not None else "")
            problems.append(
                f"{where} is {found['type']}, offpipe needs {needs} (Robotoff {ROBOTOFF_RELEASE})"
            )
        elif column.nullable and not found["nullable"]:
            problems.append(
                f"{where} is NOT NULL, offpipe may write NULL (Robotoff {ROBOTOFF_RELEASE} allows it)"
            )
        elif column.generated and not found["has_default"]:
            problems.append(f"{where} has no default, offpipe leaves it to the database's sequence")
    if table in WRITTEN_TABLES:
        for name, found in actual.items():
            if name not in required and not found["nullable"] and not found["has_default"]:
                problems.append(
                    f"{table}.{name} is NOT NULL without a default, and offpipe does not write it"
                )
    return problems


def _type_fits(expected: str, found: dict[str, Any]) -> bool:
    """Whether a column of ``found``'s type holds every value offpipe writes as ``expected``."""
    base, length, array = _parse_type(expected)
    if found["is_array"] != array:
        return False
    if found["base_type"] == base:
        return length is None or found["max_length"] is None or found["max_length"] >= length
    return base in _TEXTUAL and found["base_type"] in _TEXTUAL and found["max_length"] is None


def _parse_type(text: str) -> tuple[str, int | None, bool]:
    """``character varying(255)[]`` → (``character varying``, 255, True)."""
    match = _TYPE.fullmatch(text)
    if match is None:  # the pattern matches any non-empty text
        raise ValueError(f"not a type: {text!r}")
    length = match["length"]
    return match["base"], int(length) if length else None, bool(match["array"])


def _version_problems(conn: psycopg.Connection) -> list[str]:
    versions = [row[0] for row in conn.execute(load_sql("postgres/offpipe_schema_version")).fetchall()]
    if not versions:
        return [f"offpipe.schema_version has no row: {INIT_HINT}"]
    version = versions[0]
    if version != OFFPIPE_SCHEMA_VERSION:
        advice = ": upgrade offpipe" if version > OFFPIPE_SCHEMA_VERSION else ""
        return [
            f"the offpipe schema is version {version}, this offpipe knows {OFFPIPE_SCHEMA_VERSION}{advice}"
        ]
    return []


def _existing(conn: psycopg.Connection, names: tuple[str, ...]) -> list[str]:
    """Those of ``names`` the database has (as its search path resolves them), in the order given."""
    return [row[0] for row in conn.execute(load_sql("postgres/schema_tables"), {"names": list(names)})]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
