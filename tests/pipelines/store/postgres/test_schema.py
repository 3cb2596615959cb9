"""``offpipe store init`` / ``check``: Robotoff's schema on a fresh database, nothing of Robotoff's touched on
an existing one, and a clear error (with nothing written) when a column offpipe needs is missing or differs.

Robotoff's schema is checked here by its key facts, without the local ``robotoff_ref`` database (absent in
CI); the full ``pg_dump --schema-only`` comparison with it is done by hand (docs/store.md).
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from typer.testing import CliRunner

from pipelines import cli
from pipelines.common.sql import load_sql
from pipelines.store.postgres.connection import connect
from pipelines.store.postgres.schema import (
    OFFPIPE_TABLES,
    REQUIRED_COLUMNS,
    ROBOTOFF_TABLES,
    StoreSchemaError,
    check_schema,
    init_schema,
)
from pipelines.store.target import PostgresTarget
from tests.support.postgres import ADMIN_URL, database_url

MIGRATIONS = [
    "001_initial",
    "002_add_bounding_box",
    "003_add_logo_text_field",
    "004_drop_indices",
    "005_drop_other_indices",
    "006_add_logo_annotation_server_type",
    "007_add_logo_annotation_server_type_index",
    "008_add_insight_lc",
    "009_add_insight_with_image",
]
# Every index of Robotoff 1.85.10's tables but the primary keys (names and methods from its migrations).
ROBOTOFF_INDEXES = {
    **{
        f"productinsight_{column}": "btree"
        for column in (
            "annotation automatic_processing barcode n_votes predictor reserved_barcode server_type "
            "source_image timestamp type unique_scans_n value value_tag"
        ).split()
    },
    "productinsight_brands": "gin",
    "productinsight_campaign": "gin",
    "productinsight_countries": "gin",
    "product_insight_lc": "gin",
    "product_insight_with_image": "btree",
    **{f"prediction_{column}": "btree" for column in ("barcode", "server_type", "timestamp", "type")},
    **{f"annotationvote_{column}": "btree" for column in ("device_id", "insight_id", "username")},
    **{
        f"imagemodel_{column}": "btree"
        for column in (
            "barcode",
            "deleted",
            "fingerprint",
            "image_id",
            "server_type",
            "source_image",
            "uploaded_at",
        )
    },
    **{f"imageprediction_{column}": "btree" for column in ("image_id", "model_name", "model_version")},
    **{
        f"logoannotation_{column}": "btree"
        for column in (
            "annotation_type annotation_value annotation_value_tag barcode completed_at image_prediction_id "
            "source_image taxonomy_value username"
        ).split()
    },
    "logo_annotation_server_type": "btree",
}
PASSWORD = "s3cret-Pa55"


@contextmanager
def connected(url: str) -> Iterator[psycopg.Connection]:
    conn = connect(PostgresTarget(url))
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def conn(pg_database: str) -> Iterator[psycopg.Connection]:
    """A connection to the module's empty database inside a transaction rolled back after the test: DDL is
    transactional, so each test starts from an empty database without creating one. ``init_schema`` runs
    there in a savepoint, which its own failure rolls back just as it rolls back its transaction."""
    with connected(pg_database) as connection, connection.transaction(force_rollback=True):
        yield connection


def robotoff_database(conn: psycopg.Connection, *alterations: str) -> None:
    """An existing Robotoff database: Robotoff's tables only (no migrations recorded, no offpipe schema),
    one insight and one prediction, then ``alterations``."""
    conn.execute(load_sql("postgres/robotoff_schema"))
    conn.execute(
        "INSERT INTO product_insight (id, barcode, type, data, n_votes, automatic_processing, "
        "unique_scans_n, reserved_barcode, lc, confidence) "
        "VALUES ('00000000-0000-0000-0000-00000000000a', '3017620422003', 'label', '{}', 2, false, 5, "
        "false, ARRAY['fr'], 0.5)"
    )
    conn.execute(
        "INSERT INTO prediction (barcode, type, data, timestamp, server_type) "
        "VALUES ('3017620422003', 'label', '{\"x\": 1}', '2026-01-01 00:00:00', 'off')"
    )
    for statement in alterations:
        conn.execute(statement)


def catalog(
    conn: psycopg.Connection, *, schemas: tuple[str, ...] = ("public", "embedding", "offpipe")
) -> dict[str, Any]:
    """What the database holds in ``schemas``: relations (with their oids), columns, constraints, indexes,
    defaults and the rows of the small bookkeeping tables."""
    snapshot: dict[str, Any] = {
        "relations": conn.execute(
            "SELECT c.oid::bigint, n.nspname, c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s) ORDER BY 2, 3",
            [list(schemas)],
        ).fetchall(),
        "columns": conn.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE n.nspname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, a.attnum",
            [list(schemas)],
        ).fetchall(),
        "constraints": conn.execute(
            "SELECT c.oid::bigint, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = ANY(%s) ORDER BY 2",
            [list(schemas)],
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname = ANY(%s) ORDER BY 1, 2",
            [list(schemas)],
        ).fetchall(),
    }
    tables = ["migratehistory", "product_insight", "prediction"]
    tables += ["offpipe.schema_version"] if "offpipe" in schemas else []
    for table in tables:
        if conn.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is not None:
            snapshot[table] = conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
    return snapshot


def offpipe_schema_exists(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regnamespace('offpipe') IS NOT NULL").fetchone()[0]


def column(conn: psycopg.Connection, table: str, name: str) -> dict[str, Any]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute(
            "SELECT c.data_type, c.udt_name, c.character_maximum_length, c.is_nullable, c.column_default, "
            "format_type(a.atttypid, a.atttypmod) AS type "
            "FROM information_schema.columns c JOIN pg_attribute a "
            "ON a.attrelid = to_regclass(c.table_schema || '.' || c.table_name) "
            "AND a.attname = c.column_name "
            "WHERE c.table_schema = 'public' AND c.table_name = %s AND c.column_name = %s",
            [table, name],
        ).fetchone()
    assert row is not None, f"{table}.{name} missing"
    return row


# --- a fresh database ----------------------------------------------------------------------------------


@pytest.fixture
def fresh(conn: psycopg.Connection) -> Any:
    """``init`` on the empty database; its report."""
    return init_schema(conn)


def test_init_creates_robotoff_and_offpipe_tables(fresh: Any) -> None:
    assert fresh.created_robotoff is True
    assert fresh.created_tables == [*ROBOTOFF_TABLES, *OFFPIPE_TABLES]
    assert fresh.checked == [*REQUIRED_COLUMNS, *OFFPIPE_TABLES]


def test_fresh_columns_are_robotoffs(conn: psycopg.Connection, fresh: Any) -> None:
    lc = column(conn, "product_insight", "lc")
    assert (lc["data_type"], lc["udt_name"], lc["type"]) == ("ARRAY", "_varchar", "character varying(255)[]")
    assert column(conn, "product_insight", "confidence")["data_type"] == "real"
    assert column(conn, "prediction", "confidence")["data_type"] == "real"
    for table, name in [
        ("product_insight", "timestamp"),
        ("prediction", "timestamp"),
        ("image", "uploaded_at"),
    ]:
        assert column(conn, table, name)["data_type"] == "timestamp without time zone"
    barcode = column(conn, "prediction", "barcode")
    assert (barcode["data_type"], barcode["character_maximum_length"]) == ("character varying", 100)
    assert column(conn, "product_insight", "id")["data_type"] == "uuid"
    assert column(conn, "product_insight", "data")["data_type"] == "jsonb"
    assert column(conn, "product_insight", "n_votes")["is_nullable"] == "NO"
    assert column(conn, "product_insight", "with_image")["is_nullable"] == "YES"
    assert column(conn, "prediction", "id")["column_default"] == "nextval('prediction_id_seq'::regclass)"
    defaults = conn.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'product_insight' AND column_default IS NOT NULL"
    ).fetchone()[0]
    assert defaults == 0  # Robotoff's peewee models keep their defaults in Python, not in the database


def test_fresh_indexes_are_robotoffs(conn: psycopg.Connection, fresh: Any) -> None:
    rows = conn.execute(
        "SELECT i.relname, am.amname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_am am ON am.oid = i.relam JOIN pg_namespace n ON n.oid = i.relnamespace "
        "WHERE n.nspname = 'public' AND NOT x.indisprimary"
    ).fetchall()
    assert dict(rows) == ROBOTOFF_INDEXES


def test_fresh_votes_go_with_their_insight(conn: psycopg.Connection, fresh: Any) -> None:
    rule = conn.execute(
        "SELECT delete_rule FROM information_schema.referential_constraints "
        "WHERE constraint_name = 'annotation_vote_insight_id_fkey'"
    ).fetchone()
    assert rule == ("CASCADE",)
    insight = uuid.uuid4()
    conn.execute(
        "INSERT INTO product_insight (id, barcode, type, data, n_votes, automatic_processing, "
        "unique_scans_n, reserved_barcode) VALUES (%s, '1', 'label', '{}', 1, false, 0, false)",
        [insight],
    )
    conn.execute(
        "INSERT INTO annotation_vote (id, insight_id, value, device_id, timestamp) "
        "VALUES (%s, %s, 1, 'd', now())",
        [uuid.uuid4(), insight],
    )
    conn.execute("DELETE FROM product_insight WHERE id = %s", [insight])
    assert conn.execute("SELECT count(*) FROM annotation_vote").fetchone() == (0,)


def test_fresh_records_robotoffs_migrations(conn: psycopg.Connection, fresh: Any) -> None:
    rows = conn.execute("SELECT name, migrated_at FROM migratehistory ORDER BY id").fetchall()
    now = conn.execute("SELECT now() AT TIME ZONE 'utc'").fetchone()[0]
    assert [name for name, _ in rows] == MIGRATIONS
    assert all(
        isinstance(at, datetime) and at.tzinfo is None and at == now for _, at in rows
    )  # same transaction
    assert conn.execute("SELECT version FROM offpipe.schema_version").fetchall() == [(1,)]


def test_check_passes_on_the_fresh_database(conn: psycopg.Connection, fresh: Any) -> None:
    assert check_schema(conn) == [*REQUIRED_COLUMNS, *OFFPIPE_TABLES]


# --- idempotence, existing databases ---------------------------------------------------------------------


def test_init_twice_changes_nothing(conn: psycopg.Connection) -> None:
    init_schema(conn)
    before = catalog(conn)
    report = init_schema(conn)
    assert (report.created_robotoff, report.created_tables) == (False, [])
    assert catalog(conn) == before


def test_schema_files_run_again_change_nothing(conn: psycopg.Connection) -> None:
    """Each DDL file is idempotent on its own (what exists is left as it is), not only init as a whole."""
    init_schema(conn)
    before = catalog(conn)
    for name in (
        "postgres/robotoff_schema",
        "postgres/robotoff_migrations_record",
        "postgres/offpipe_schema",
    ):
        conn.execute(load_sql(name))
    assert catalog(conn) == before


def test_init_on_an_existing_robotoff_database_adds_only_offpipes_schema(conn: psycopg.Connection) -> None:
    robotoff_database(conn)
    before = catalog(conn, schemas=("public", "embedding"))
    report = init_schema(conn)
    assert report.created_robotoff is False
    assert report.created_tables == list(OFFPIPE_TABLES)
    after = catalog(conn, schemas=("public", "embedding"))
    assert after == before  # same oids, columns, constraints, indexes and rows
    assert after["migratehistory"] == []  # Robotoff's own ledger is Robotoff's business there
    assert len(after["product_insight"]) == 1
    assert offpipe_schema_exists(conn)


def test_concurrent_inits_both_succeed(pg_url: str) -> None:
    """Two inits at once on a fresh database (committed, so on a database of their own): one creates, the
    other waits for it and finds everything there."""
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with connected(pg_url) as connection:
                reports.append(init_schema(connection))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r.created_robotoff for r in reports) == [False, True]
    with connected(pg_url) as connection:
        assert connection.execute("SELECT count(*) FROM migratehistory").fetchone() == (9,)


# --- mismatches ------------------------------------------------------------------------------------------
MISMATCHES = [
    pytest.param(
        "ALTER TABLE prediction DROP COLUMN predictor_version",
        "prediction.predictor_version is missing, offpipe needs it as character varying(100) "
        "(Robotoff 1.85.10)",
        id="dropped-column",
    ),
    pytest.param(
        "ALTER TABLE product_insight ALTER COLUMN confidence TYPE double precision",
        "product_insight.confidence is double precision, offpipe needs real (Robotoff 1.85.10)",
        id="double-confidence",
    ),
    pytest.param(
        "DROP INDEX product_insight_lc; "
        "ALTER TABLE product_insight ALTER COLUMN lc TYPE text USING array_to_string(lc, ',')",
        "product_insight.lc is text, offpipe needs character varying(255)[] or longer (Robotoff 1.85.10)",
        id="lc-as-text",
    ),
    pytest.param(
        "ALTER TABLE prediction ALTER COLUMN barcode TYPE varchar(50)",
        "prediction.barcode is character varying(50), offpipe needs character varying(100) or longer",
        id="shorter-varchar",
    ),
    pytest.param(
        'ALTER TABLE product_insight ALTER COLUMN "timestamp" TYPE timestamptz',
        "product_insight.timestamp is timestamp with time zone, offpipe needs timestamp without time zone",
        id="timestamptz",
    ),
    pytest.param(
        "ALTER TABLE product_insight ALTER COLUMN lc SET NOT NULL",
        "product_insight.lc is NOT NULL, offpipe may write NULL",
        id="not-null",
    ),
    pytest.param(
        "ALTER TABLE prediction ALTER COLUMN id DROP DEFAULT",
        "prediction.id has no default",
        id="serial-without-default",
    ),
    pytest.param(
        "ALTER TABLE product_insight ADD COLUMN reviewer text NOT NULL DEFAULT 'x'; "
        "ALTER TABLE product_insight ALTER COLUMN reviewer DROP DEFAULT",
        "product_insight.reviewer is NOT NULL without a default, and offpipe does not write it",
        id="unknown-not-null-column",
    ),
    pytest.param(
        "DROP TABLE annotation_vote",
        "the database has no table annotation_vote, which Robotoff 1.85.10 has",
        id="dropped-table",
    ),
]


@pytest.mark.parametrize(("alteration", "message"), MISMATCHES)
def test_a_mismatch_fails_init_and_check_with_nothing_written(
    conn: psycopg.Connection, alteration: str, message: str
) -> None:
    robotoff_database(conn, alteration)
    before = catalog(conn)
    with pytest.raises(StoreSchemaError) as failed:
        init_schema(conn)
    text = str(failed.value)
    assert message in text
    assert text.endswith("; nothing was changed") and "\n" not in text
    assert not offpipe_schema_exists(conn)
    assert catalog(conn) == before
    with pytest.raises(StoreSchemaError, match="nothing was changed") as checked:
        check_schema(conn)
    assert message in str(checked.value)


@pytest.mark.parametrize(
    "alteration",
    [
        pytest.param("ALTER TABLE prediction ALTER COLUMN barcode TYPE text", id="varchar-as-text"),
        pytest.param("ALTER TABLE prediction ALTER COLUMN barcode TYPE varchar(200)", id="longer-varchar"),
        pytest.param("ALTER TABLE prediction ALTER COLUMN value TYPE varchar", id="text-as-varchar"),
        pytest.param("ALTER TABLE product_insight ALTER COLUMN lc TYPE text[]", id="lc-as-text-array"),
        pytest.param("ALTER TABLE product_insight ALTER COLUMN n_votes DROP NOT NULL", id="nullable"),
        pytest.param("ALTER TABLE product_insight ADD COLUMN note text", id="extra-nullable-column"),
    ],
)
def test_a_wider_column_is_accepted(conn: psycopg.Connection, alteration: str) -> None:
    robotoff_database(conn, alteration)
    report = init_schema(conn)
    assert report.created_tables == list(OFFPIPE_TABLES)


def test_several_problems_are_named_in_one_line(conn: psycopg.Connection) -> None:
    robotoff_database(
        conn,
        "ALTER TABLE prediction DROP COLUMN predictor",
        "ALTER TABLE prediction DROP COLUMN predictor_version",
        "ALTER TABLE prediction DROP COLUMN confidence",
        "ALTER TABLE prediction DROP COLUMN source_image",
    )
    with pytest.raises(StoreSchemaError) as failed:
        init_schema(conn)
    assert str(failed.value).count(" is missing") == 3
    assert "(and 1 more); nothing was changed" in str(failed.value)


def test_check_on_a_database_never_initialized(conn: psycopg.Connection) -> None:
    with pytest.raises(
        StoreSchemaError, match=r"no table product_insight .*run `offpipe store init --url …`"
    ):
        check_schema(conn)


def test_check_without_offpipes_tables(conn: psycopg.Connection) -> None:
    robotoff_database(conn)
    with pytest.raises(
        StoreSchemaError,
        match=r"^the database has no offpipe tables \(schema offpipe\): run `offpipe store init --url …`; "
        r"nothing was changed$",
    ):
        check_schema(conn)


def test_check_refuses_a_newer_offpipe_schema(conn: psycopg.Connection) -> None:
    init_schema(conn)
    conn.execute("UPDATE offpipe.schema_version SET version = 2")
    with pytest.raises(StoreSchemaError, match="offpipe schema is version 2, this offpipe knows 1: upgrade"):
        check_schema(conn)


def test_init_failure_of_the_database_is_one_error(conn: psycopg.Connection) -> None:
    """An error PostgreSQL raises during init (here: an index on a column that a table in the way lacks) is
    a StoreSchemaError, and the Robotoff tables created before it are rolled back too."""
    conn.execute("CREATE SCHEMA offpipe; CREATE TABLE offpipe.product_version (barcode text)")
    with pytest.raises(StoreSchemaError, match=r"^offpipe store init failed: .*; nothing was changed$"):
        init_schema(conn)
    assert conn.execute("SELECT to_regclass('product_insight')").fetchone() == (None,)


def test_pg_store_url_is_an_initialized_store(pg_store_url: str) -> None:
    """The fixture other PostgreSQL tests start from: a committed copy of a freshly initialized store."""
    with connected(pg_store_url) as connection:
        assert check_schema(connection) == [*REQUIRED_COLUMNS, *OFFPIPE_TABLES]
        assert connection.execute("SELECT count(*) FROM migratehistory").fetchone() == (9,)


# --- command line ----------------------------------------------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli.app, list(args), env=env)


def test_cli_init_and_check(pg_url: str) -> None:
    secret_url = with_password(pg_url)
    done = invoke("store", "init", "--url", secret_url)
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output
    assert '"created_robotoff": true' in done.stdout
    checked = invoke("store", "check", env={"OFF_STORE_URL": secret_url})
    assert checked.exit_code == 0, checked.output
    assert '"ok": true' in checked.stdout and PASSWORD not in checked.output


def test_cli_check_mismatch_is_one_line(pg_url: str) -> None:
    with connected(pg_url) as connection, connection.transaction():
        robotoff_database(
            connection, "ALTER TABLE product_insight ALTER COLUMN confidence TYPE double precision"
        )
    mismatch = "product_insight.confidence is double precision, offpipe needs real (Robotoff 1.85.10)"
    done = invoke("store", "init", "--url", with_password(pg_url))
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [f"error: {mismatch}; nothing was changed"]
    done = invoke("store", "check", "--url", with_password(pg_url))  # offpipe's tables are missing too
    assert (done.exit_code, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"error: {mismatch}; the database has no offpipe tables (schema offpipe): "
        "run `offpipe store init --url …`; nothing was changed"
    ]
    with connected(pg_url) as connection:
        assert not offpipe_schema_exists(connection)


def with_password(url: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return parts._replace(netloc=f"{user}:{PASSWORD}@{parts.hostname}:{parts.port or 5432}").geturl()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bad_urls() -> list[Any]:
    server = urlsplit(ADMIN_URL)
    host, port = server.hostname, server.port or 5432
    return [
        pytest.param(f"mysql://root:{PASSWORD}@{host}/robotoff", "unsupported store URL scheme", id="scheme"),
        pytest.param(
            f"postgresql://nobody_{uuid.uuid4().hex[:8]}:{PASSWORD}@{host}:{port}/postgres",
            "does not exist",
            id="unknown-role",
        ),
        pytest.param(
            with_password(database_url(f"offpipe_test_missing_{uuid.uuid4().hex[:8]}")),
            "does not exist",
            id="missing-database",
        ),
        pytest.param(
            f"postgresql://postgres:{PASSWORD}@127.0.0.1:{_free_port()}/postgres",
            "cannot connect",
            id="no-server",
        ),
    ]


@pytest.mark.parametrize("command", ["init", "check"])
@pytest.mark.parametrize(("url", "message"), _bad_urls())
def test_cli_bad_url_is_one_line_without_the_password(command: str, url: str, message: str) -> None:
    done = invoke("store", command, "--url", url)
    assert done.exit_code == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert PASSWORD not in done.output


def test_cli_refuses_the_duckdb_store(tmp_path: Any) -> None:
    done = invoke("store", "init", env={"OFF_STORE_URL": str(tmp_path / "store.duckdb")})
    assert done.exit_code == 1
    assert done.stderr.startswith(
        "error: offpipe store init needs a PostgreSQL store: pass --url postgresql://"
    )
    assert len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "store.duckdb").exists()


def test_cli_without_any_url_says_how_to_name_one() -> None:
    done = CliRunner().invoke(cli.app, ["store", "check"], env={"OFF_STORE_URL": None})
    assert done.exit_code == 1
    assert done.stderr.startswith("error: offpipe store check needs a PostgreSQL store: pass --url")
    assert done.stderr.rstrip().endswith("(none given), which creates its tables itself")
