"""The tables a PostgreSQL session mirrors into its DuckDB working copy, and how each column crosses over.

The rules (sql/store, sql/insights) run on DuckDB tables named and typed as in the DuckDB store. With the
PostgreSQL store, a session copies the rows of its scope into such tables, lets the rules change them, and
writes back the difference (:mod:`pipelines.store.postgres.session`). This module says, per table, where the
rows live in PostgreSQL and how each column converts: JSON travels as text (``jsonb`` ↔ DuckDB ``JSON``),
lists as JSON arrays (``jsonb`` or ``varchar[]`` ↔ ``VARCHAR[]``), Robotoff's timestamps without time zone
as UTC (↔ ``TIMESTAMPTZ``). The SQL slots filled from it (``{columns}``…) are built only from these
constants, never from input.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

BUCKETS = 4096  # the lock buckets (sql/macros/store.sql); 12 bits of md5
LOCK_SPACE = 0x0FF0  # advisory-lock namespace of the buckets (first key of pg_advisory_xact_lock(int, int))
BULK_LOCK_SPACE = 0x0FF1  # one session lock per flavor: a single bulk run at a time


def bucket(server_type: str, barcode: str) -> int:
    """The lock bucket of a product: the twin of the DuckDB macro ``store_bucket`` (sql/macros/store.sql)."""
    return int(hashlib.md5(f"{server_type}:{barcode}".encode()).hexdigest()[:3], 16)


def flavor_lock_key(server_type: str) -> int:
    """The bulk-run lock of a flavor (second key of ``pg_advisory_lock(int, int)``)."""
    return int(hashlib.md5(server_type.encode()).hexdigest()[:7], 16)


class Kind(StrEnum):
    """How a column crosses between PostgreSQL and DuckDB."""

    plain = "plain"  # same type on both sides
    json = "json"  # jsonb ↔ JSON (text; DuckDB keeps it minified)
    json_list = "json_list"  # jsonb array ↔ VARCHAR[] (Robotoff's countries, brands, campaign)
    varchar_array = "varchar_array"  # varchar[] ↔ VARCHAR[] (Robotoff's lc)
    utc = "utc"  # timestamp without time zone holding UTC ↔ TIMESTAMPTZ (Robotoff's convention)
    tstz = "tstz"  # timestamptz ↔ TIMESTAMPTZ (the project's own tables)


@dataclass(frozen=True)
class Column:
    name: str
    duck: str  # DuckDB type of the working table (as in sql/store/<table>.sql)
    stage: str  # PostgreSQL type of the staging column
    kind: Kind = Kind.plain

    @property
    def ident(self) -> str:
        return f'"{self.name}"'


def _c(name: str, duck: str, stage: str, kind: Kind = Kind.plain) -> Column:
    return Column(name, duck, stage, kind)


def _text(name: str) -> Column:
    return Column(name, "VARCHAR", "text")


@dataclass(frozen=True)
class Mirrored:
    """One mirrored table: its DuckDB name, its PostgreSQL relation, identity and columns.

    ``generated_key``: PostgreSQL assigns the key on insert (``prediction.id``, a serial): rows inserted by
    the rules keep their DuckDB id only to order the insert. ``guard``: a condition on the stored row that
    deletes and updates also require at apply time — an insight annotated after the session read it is
    never touched (docs/store.md, "Protection"). ``by_product``: rows belong to a product
    (``server_type``, ``barcode``) and are applied with its bucket; the others (``run``) at the end.
    """

    name: str
    relation: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    by_product: bool = True
    generated_key: bool = False
    guard: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


PREDICTION = Mirrored(
    name="prediction",
    relation="prediction",
    key=("id",),
    generated_key=True,
    columns=(
        _c("id", "BIGINT", "bigint"),
        _text("barcode"),
        _text("type"),
        _c("data", "VARCHAR", "jsonb", Kind.json),
        _c("timestamp", "TIMESTAMPTZ", "timestamptz", Kind.utc),
        _text("value_tag"),
        _text("value"),
        _text("source_image"),
        _c("automatic_processing", "BOOLEAN", "boolean"),
        _text("predictor"),
        _text("predictor_version"),
        _c("confidence", "DOUBLE", "double precision"),
        _text("server_type"),
    ),
)

PRODUCT_INSIGHT = Mirrored(
    name="product_insight",
    relation="product_insight",
    key=("id",),
    guard="AND t.annotation IS NULL",
    columns=(
        _c("id", "UUID", "uuid"),
        _text("barcode"),
        _text("type"),
        _c("data", "VARCHAR", "jsonb", Kind.json),
        _c("timestamp", "TIMESTAMPTZ", "timestamptz", Kind.utc),
        _c("completed_at", "TIMESTAMPTZ", "timestamptz", Kind.utc),
        _c("annotation", "INTEGER", "integer"),
        _c("annotated_result", "INTEGER", "integer"),
        _c("n_votes", "INTEGER", "integer"),
        _text("username"),
        _c("countries", "VARCHAR", "jsonb", Kind.json_list),
        _c("brands", "VARCHAR", "jsonb", Kind.json_list),
        _c("process_after", "TIMESTAMPTZ", "timestamptz", Kind.utc),
        _text("value_tag"),
        _text("value"),
        _text("source_image"),
        _c("automatic_processing", "BOOLEAN", "boolean"),
        _text("server_type"),
        _c("unique_scans_n", "INTEGER", "integer"),
        _c("reserved_barcode", "BOOLEAN", "boolean"),
        _text("predictor"),
        _text("predictor_version"),
        _c("campaign", "VARCHAR", "jsonb", Kind.json_list),
        _c("confidence", "DOUBLE", "double precision"),
        _c("bounding_box", "VARCHAR", "jsonb", Kind.json),
        _c("lc", "VARCHAR", "jsonb", Kind.varchar_array),
        _c("with_image", "BOOLEAN", "boolean"),
    ),
)

IMAGE = Mirrored(
    name="image",
    relation="offpipe.image",
    key=("barcode", "server_type", "image_id"),
    columns=(
        _text("barcode"),
        _text("server_type"),
        _text("image_id"),
        _text("source_image"),
        _c("width", "INTEGER", "integer"),
        _c("height", "INTEGER", "integer"),
        _c("uploaded_at", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
        _c("deleted", "BOOLEAN", "boolean"),
        _c("updated_at", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
    ),
)

OCR_IMAGE = Mirrored(
    name="ocr_image",
    relation="offpipe.ocr_image",
    key=("barcode", "server_type", "source_image"),
    columns=(
        _text("barcode"),
        _text("server_type"),
        _text("source_image"),
        _text("ocr_hash"),
        _text("fingerprint"),
        _c("predicted_at", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
    ),
)

LISTENER_LOG = Mirrored(
    name="listener_log",
    relation="offpipe.listener_log",
    key=("server_type", "barcode"),
    columns=(
        _text("server_type"),
        _text("barcode"),
        _c("deleted", "BOOLEAN", "boolean"),
        _c("applied_at", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
    ),
)

ANNOTATE_ATTEMPT = Mirrored(
    name="annotate_attempt",
    relation="offpipe.annotate_attempt",
    key=("insight_id",),
    columns=(
        _c("insight_id", "UUID", "uuid"),
        _text("barcode"),
        _text("server_type"),
        _c("attempts", "INTEGER", "integer"),
        _text("last_error"),
        _c("last_attempt_at", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
        _c("retry_after", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
    ),
)

RUN = Mirrored(
    name="run",
    relation="offpipe.run",
    key=("id",),
    by_product=False,
    columns=(
        _c("id", "UUID", "uuid"),
        _text("kind"),
        _text("flavor"),
        _text("dump_etag"),
        _c("started", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
        _c("ended", "TIMESTAMPTZ", "timestamptz", Kind.tstz),
        _c("products", "INTEGER", "integer"),
        _c("counts", "VARCHAR", "jsonb", Kind.json),
    ),
)

MIRRORED: tuple[Mirrored, ...] = (
    PREDICTION,
    PRODUCT_INSIGHT,
    IMAGE,
    OCR_IMAGE,
    LISTENER_LOG,
    ANNOTATE_ATTEMPT,
    RUN,
)
BY_NAME = {table.name: table for table in MIRRORED}


# --- the SQL slots (pipelines.store.postgres.session fills sql/postgres/*.sql and sql/store/mirror_*.sql) ---


def pg_read_columns(table: Mirrored) -> str:
    """``SELECT`` list reading ``t``'s columns as CSV-friendly text (scope_read.sql)."""
    exprs = []
    for col in table.columns:
        match col.kind:
            case Kind.json | Kind.json_list:
                exprs.append(f"t.{col.ident}::text")
            case Kind.varchar_array:
                exprs.append(f"to_json(t.{col.ident})::text")
            case Kind.utc:
                exprs.append(f"t.{col.ident} AT TIME ZONE 'UTC'")
            case _:
                exprs.append(f"t.{col.ident}")
    return ", ".join(exprs)


def duck_csv_columns(table: Mirrored) -> str:
    """The ``columns=`` struct of DuckDB's ``read_csv`` for the CSV of :func:`pg_read_columns`."""
    types = []
    for col in table.columns:
        text_kind = col.kind in (Kind.json, Kind.json_list, Kind.varchar_array)
        types.append(f"'{col.name}': '{'VARCHAR' if text_kind else col.duck}'")
    return "{" + ", ".join(types) + "}"


def duck_load_columns(table: Mirrored) -> str:
    """``SELECT`` list turning the CSV's text back into the working table's types (mirror_load.sql)."""
    exprs = []
    for col in table.columns:
        match col.kind:
            case Kind.json:
                exprs.append(f"json(c.{col.ident}) AS {col.ident}")
            case Kind.json_list | Kind.varchar_array:
                exprs.append(f"from_json(c.{col.ident}, '[\"VARCHAR\"]') AS {col.ident}")
            case _:
                exprs.append(f"c.{col.ident}")
    return ", ".join(exprs)


def duck_export_columns(table: Mirrored) -> str:
    """``SELECT`` list writing the working rows as CSV the staging table reads (mirror_export.sql)."""
    exprs = []
    for col in table.columns:
        match col.kind:
            case Kind.json:
                exprs.append(f"c.{col.ident}::VARCHAR")
            case Kind.json_list | Kind.varchar_array:
                exprs.append(f"to_json(c.{col.ident})::VARCHAR")
            case _:
                exprs.append(f"c.{col.ident}")
    return ", ".join(exprs)


def duck_before_columns(table: Mirrored, alias: str = "c") -> str:
    """What the diff keeps of a row as read: its key, and its product (to apply a delete under its bucket)."""
    names = dict.fromkeys((*table.key, *(("server_type", "barcode") if table.by_product else ())))
    return ", ".join(f'{alias}."{name}"' for name in names)


def duck_key_join(table: Mirrored, left: str = "b", right: str = "c") -> str:
    """Equality of two rows' keys (key columns are never NULL: the working tables' primary keys)."""
    return " AND ".join(f'{left}."{name}" = {right}."{name}"' for name in table.key)


def duck_bucket(table: Mirrored) -> str:
    return "store_bucket(c.server_type, c.barcode)" if table.by_product else "-1"


def pg_stage_columns(table: Mirrored) -> str:
    """Column definitions of the staging table: ``op`` then the table's columns (stage_create.sql)."""
    return ", ".join(["op text NOT NULL"] + [f"{c.ident} {c.stage}" for c in table.columns])


def _pg_value(col: Column) -> str:
    match col.kind:
        case Kind.varchar_array:
            elements = f"ARRAY(SELECT jsonb_array_elements_text(s.{col.ident}))"
            return f"CASE WHEN s.{col.ident} IS NULL THEN NULL ELSE {elements} END"
        case Kind.utc:
            return f"s.{col.ident} AT TIME ZONE 'UTC'"
        case _:
            return f"s.{col.ident}"


def pg_key_match(table: Mirrored) -> str:
    return " AND ".join(f't."{name}" = s."{name}"' for name in table.key)


def pg_insert_columns(table: Mirrored) -> str:
    return ", ".join(c.ident for c in _inserted(table))


def pg_insert_values(table: Mirrored) -> str:
    return ", ".join(_pg_value(c) for c in _inserted(table))


def pg_assignments(table: Mirrored) -> str:
    """``SET`` list of an update: every column but the key."""
    return ", ".join(f"{c.ident} = {_pg_value(c)}" for c in table.columns if c.name not in table.key)


def pg_insert_order(table: Mirrored) -> str:
    return ", ".join(f's."{name}"' for name in table.key)


def _inserted(table: Mirrored) -> tuple[Column, ...]:
    if table.generated_key:
        return tuple(c for c in table.columns if c.name not in table.key)
    return table.columns
