"""Every PostgreSQL SQL file (sql/postgres/) keeps its contract: its header is well-formed, code uses it by
name, and it runs on a store as ``offpipe store init`` leaves it.

These files are run by psycopg: parameters are ``%(name)s``, template slots ``{name}`` (filled with SQL
fragments the caller validated, through ``psycopg.sql``). Each file runs inside a transaction rolled back
afterwards, with the example values of PARAMS, the fragments of TEMPLATES and the temporary tables of
INPUTS (for its ``@inputs``); a file that needs an entry those lack fails, saying which. ``COPY … TO
STDOUT`` files are read to the end, ``COPY … FROM STDIN`` files get no rows. DDL files (KIND SCHEMA) run as
init runs them: the whole text in one ``execute`` without parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pipelines.common.sql import SqlHeader, header, load_sql, parse_header, sql_dir
from pipelines.store.postgres.connection import connect
from pipelines.store.postgres.mirror import PRODUCT_INSIGHT, RUN
from pipelines.store.postgres.schema import init_schema
from pipelines.store.postgres.session import _slots as _mirror_slots
from pipelines.store.target import PostgresTarget
from tests.support.postgres import create_database, database_url, drop_database
from tests.support.sql_files import sql_body, used_by_name

FOLDER = "postgres"
NAMES = sorted(
    p.relative_to(sql_dir()).with_suffix("").as_posix() for p in (sql_dir() / FOLDER).rglob("*.sql")
)
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# An example value of the right type for each %(name)s parameter of the files.
PARAMS: dict[str, object] = {
    "names": ["product_insight", "offpipe.run"],
    "tables": ["prediction", "product_insight"],
    "server_type": "off",
    "everything": False,
    "barcodes": ["3017620422003"],
    "buckets": [1],
    "space": 4080,
    "key": 7,
    "server_types": ["off", "obf"],
    "now": NOW,
    "limit": 10,
    "types": ["label", "store"],
    "id": "00000000-0000-0000-0000-000000000001",
}
# A trusted SQL fragment for each {name} template slot, as the code would fill it.
# The mirror files are templated per mirrored table: product_insight stands for all of them here (the
# session tests run them for every table).
TEMPLATES: dict[str, str] = dict(_mirror_slots(PRODUCT_INSIGHT))
# Files whose slots stand for another mirrored table than product_insight.
FILE_TEMPLATES: dict[str, dict[str, str]] = {
    name: dict(_mirror_slots(RUN))
    for name in ("postgres/scope_read_run", "postgres/copy_run_insert", "postgres/copy_run_present")
}


def _templates(name: str) -> dict[str, str]:
    return FILE_TEMPLATES.get(name, TEMPLATES)


# Statements run before a file whose slots include the key: the staging table the apply files read.
SLOT_PRELUDES: dict[str, str] = {"stage": "CREATE TEMP TABLE {stage} ({stage_columns}) ON COMMIT DROP"}
# For each @input a file reads: the statement creating it (a temporary table, empty).
INPUTS: dict[str, str] = {}
# What the file's MODEL must name after it ran, per KIND (a relation of any schema, temporary ones too).
_MADE = {"TABLE", "VIEW", "INDEX", "SEQUENCE", "SCHEMA"}
_COPY_OUT = re.compile(r"\bCOPY\b.*\bTO\s+STDOUT\b", re.IGNORECASE | re.DOTALL)
_COPY_IN = re.compile(r"\bCOPY\b.*\bFROM\s+STDIN\b", re.IGNORECASE | re.DOTALL)
_USED = re.compile(r"%\([a-z_][a-z0-9_]*\)s|\{[a-z_][a-z0-9_]*\}")


def _needed(head: SqlHeader, name: str) -> tuple[dict[str, object], dict[str, str], list[str]]:
    """The example params, template fragments and input statements ``name`` needs; fails naming a lack."""
    lacking = [
        *(f"%({p})s in PARAMS" for p in head.pg_params if p not in PARAMS),
        *(f"{{{s}}} in TEMPLATES" for s in head.slots if s not in TEMPLATES),
        *(f"@{i} in INPUTS" for i in head.inputs if i not in INPUTS),
    ]
    if lacking:
        pytest.fail(f"sql/{name}.sql: add an example for {', '.join(lacking)} of {Path(__file__).name}")
    return (
        {p: PARAMS[p] for p in head.pg_params},
        {s: _templates(name)[s] for s in head.slots},
        [INPUTS[i] for i in head.inputs]
        + [
            SLOT_PRELUDES[s].format_map(_templates(name))
            for s in head.slots
            if s in SLOT_PRELUDES and "stage_create" not in name
        ],
    )


def run_file(conn: psycopg.Connection, name: str) -> SqlHeader:
    """Run ``sql/<name>.sql`` on ``conn`` as the pipeline would, with the examples of this module."""
    head = header(name)
    text = load_sql(name)
    if head.kind == "SCHEMA":
        conn.execute(text)  # as init_schema runs it: several statements, no parameters
        return head
    params, slots, inputs = _needed(head, name)
    for statement in inputs:
        conn.execute(statement)
    query: str | sql.Composed = (
        sql.SQL(text).format(**{slot: sql.SQL(fragment) for slot, fragment in slots.items()})
        if slots
        else text
    )
    body = sql_body(name)
    with conn.cursor() as cur:
        if _COPY_OUT.search(body):
            with cur.copy(query, params or None) as copy:
                for _ in copy:
                    pass
        elif _COPY_IN.search(body):
            with cur.copy(query, params or None):
                pass
        else:
            cur.execute(query, params or None)
    return head


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    """A database as ``offpipe store init`` leaves a fresh one."""
    name = create_database()
    try:
        url = database_url(name)
        conn = connect(PostgresTarget(url))
        try:
            init_schema(conn)
        finally:
            conn.close()
        yield url
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def store(store_url: str) -> Iterator[psycopg.Connection]:
    conn = connect(PostgresTarget(store_url))
    yield conn
    conn.close()


def test_there_are_postgres_files() -> None:
    assert "postgres/robotoff_schema" in NAMES and "postgres/offpipe_schema" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_header_is_well_formed(name: str) -> None:
    head = header(name)
    body = sql_body(name)
    used = set(_USED.findall(body))
    declared = {p for p in head.params if p.startswith(("%(", "{"))}
    assert declared == used, f"{name}: PARAMS {sorted(head.params)}, the SQL uses {sorted(used)}"
    assert not head.named_params, f"{name}: psycopg does not bind $name parameters: write %(name)s"
    words = set(re.findall(r"[a-z_][a-z0-9_]*", body.lower()))
    stale = [r for r in (*head.reads, *head.inputs) if r not in words and "{" not in r and "." not in r]
    assert not stale, f"{name}: READS names {stale}, which the SQL does not mention"
    if head.kind != "QUERY":
        # a templated name ({table}) or a schema-qualified one is checked by running the file instead
        missing = [m for m in head.models if m not in words and "{" not in m and "." not in m]
        assert not missing, f"{name}: MODEL {missing} does not appear in the SQL"


@pytest.mark.parametrize("name", NAMES)
def test_used_by_name(name: str) -> None:
    assert used_by_name(name), (
        f'sql/{name}.sql: no literal "{name}" under pipelines/ or flows/ (a file nobody runs, or a caller '
        "that builds the name)"
    )


@pytest.mark.parametrize("name", NAMES)
def test_runs_on_an_initialized_store(name: str, store: psycopg.Connection) -> None:
    with store.transaction(force_rollback=True):
        head = run_file(store, name)
        if head.kind in _MADE:
            for model in head.models:
                model = model.format_map(_templates(name)).rsplit(".", 1)[-1]
                found = store.execute("SELECT count(*) FROM pg_class WHERE relname = %s", [model]).fetchone()
                assert found is not None and found[0] >= 1, f"{name}: {head.kind} {model} not made"


def test_parse_header_takes_psycopg_params() -> None:
    head = parse_header(
        "-- MODEL: scope_rows\n-- KIND: QUERY\n-- READS: prediction\n-- PARAMS: %(barcodes)s, {columns}\n"
        "-- Why.\nSELECT {columns} FROM prediction WHERE barcode = ANY(%(barcodes)s)\n"
    )
    assert head.params == ("%(barcodes)s", "{columns}")
    assert (head.pg_params, head.slots, head.named_params) == (("barcodes",), ("columns",), ())


def test_a_missing_example_fails_clearly() -> None:
    head = parse_header(
        "-- MODEL: x\n-- KIND: QUERY\n-- READS: -\n-- PARAMS: %(nowhere)s, {slot_x}\n-- Why.\n"
    )
    with pytest.raises(
        pytest.fail.Exception, match=r"add an example for %\(nowhere\)s in PARAMS, \{slot_x\} in"
    ):
        _needed(head, "postgres/x")
