"""Every DuckDB SQL file keeps its contract: it parses, its header is well-formed and true, and code uses it
by name (sql/postgres/'s PostgreSQL files have their own test: test_postgres_sql_contracts.py).

The header (``pipelines.common.sql.parse_header``) names what a file produces (MODEL), what it does (KIND),
what it reads (READS: tables, ``@inputs`` registered from Python) and its parameters (PARAMS). Each file is
run on empty inputs in a connection holding only what its header declares: a table it reads without
declaring it is a binder error, and a TABLE/VIEW/MACRO/INDEX/SEQUENCE that does not produce its MODEL fails.
Declared tables are made by running the file that produces them (store DDL as written; temporary tables and
views as empty copies of the columns their file produces); inputs get the schemas the pipeline registers.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.annotate.job import OUTCOMES_SCHEMA
from pipelines.common.sql import (
    SqlHeader,
    SqlHeaderError,
    connect,
    header,
    load_sql,
    parse_header,
    sql_dir,
)
from pipelines.convert.reader import BATCH_SCHEMA
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.insights.refresh import normalize_emb_code
from pipelines.ocr.schema import OCR_TEXT_SCHEMA
from pipelines.predictors.ocr_ledger import HASHED_SCHEMA
from pipelines.store.images import GONE_SCHEMA, UPLOADS_SCHEMA
from pipelines.store.postgres.copy import _slots as _copy_slots
from pipelines.store.postgres.mirror import PREDICTION
from pipelines.store.predictions import PRODUCTS_SCHEMA
from pipelines.store.schema import PREDICTION_SCHEMA
from pipelines.taxonomy import ANCESTOR_SCHEMA, NAME_SCHEMA, NODE_SCHEMA, PARENT_SCHEMA
from tests.support.sql_files import sql_body, used_by_name

ROOT = Path(__file__).resolve().parents[2]
# sql/postgres/ holds PostgreSQL files, run by psycopg: tests/sql/test_postgres_sql_contracts.py checks them.
NAMES = sorted(
    name
    for name in (p.relative_to(sql_dir()).with_suffix("").as_posix() for p in sql_dir().rglob("*.sql"))
    if not name.startswith("postgres/")
)
_BARCODE = pa.schema([pa.field("barcode", pa.string())])

# The relations the pipeline registers before running a file (READS: @name), with the schemas it gives them.
INPUTS: dict[str, pa.Schema] = {
    "annotate_outcomes": OUTCOMES_SCHEMA,
    "barcode_source": PRODUCT_SCHEMA,
    "batch": BATCH_SCHEMA.append(pa.field("text", pa.string())),
    "brand_blacklist_input": pa.schema([pa.field("tag", pa.string())]),
    "brand_prefix_input": pa.schema([pa.field("tag", pa.string()), pa.field("prefix", pa.string())]),
    "image_gone": GONE_SCHEMA,
    "image_products": PRODUCT_SCHEMA,
    "image_uploads": UPLOADS_SCHEMA,
    "label_whitelist_input": pa.schema([pa.field("tag", pa.string())]),
    "logged": pa.schema([pa.field("barcode", pa.string()), pa.field("deleted", pa.bool_())]),
    "nutriment_batch": pa.schema(
        [pa.field("legacy_nutriments", pa.string()), pa.field("has_fiber_value", pa.bool_())]
    ),
    "ocr_hashed": HASHED_SCHEMA,
    "ocr_recorded": HASHED_SCHEMA,
    "ocr_rows": OCR_TEXT_SCHEMA,
    "ocr_seen": pa.schema([pa.field("barcode", pa.string()), pa.field("image_id", pa.string())]),
    "overlay_rows": pa.schema(
        [
            pa.field("row_index", pa.int64()),
            PRODUCT_SCHEMA.field("normalized_code"),
            PRODUCT_SCHEMA.field("images"),
        ]
    ),
    "prediction_barcodes": _BARCODE,
    "prediction_source": PRODUCT_SCHEMA,
    "products_gone": _BARCODE,
    "refresh_codes": _BARCODE,
    "refresh_gone": _BARCODE,
    "refresh_source": PRODUCT_SCHEMA,
    "snapshot_source": PRODUCT_SCHEMA,
    "store_import_arrow": PREDICTION_SCHEMA.append(pa.field("_row", pa.int64())),
    "store_import_products": PRODUCTS_SCHEMA,
    "taxonomy_deepest_input": pa.schema([pa.field("grp", pa.string()), pa.field("tag", pa.string())]),
    "taxonomy_load_ancestor": ANCESTOR_SCHEMA,
    "taxonomy_load_name": NAME_SCHEMA,
    "taxonomy_load_node": NODE_SCHEMA,
    "taxonomy_load_parent": PARENT_SCHEMA,
}

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
# A value of the right type for each parameter name ($path is set per file: an input or an output file).
PARAMS: dict[str, object] = {
    "backoff_max_s": 3600.0,
    "backoff_s": 120.0,
    "barcode": "3017620422003",
    "barcodes": ["3017620422003"],
    "before": NOW,
    "bulk": True,
    "check_products": True,
    "codes": ["3017620422003"],
    "counts": "{}",
    "dump_etag": None,
    "fingerprint": "fp",
    "flavor": "off",
    "id": "00000000-0000-0000-0000-000000000001",
    "key": "key",
    "kind": "bulk",
    "limit": 10,
    "listed": 5,
    "load_seconds": 0.1,
    "loader": "loader",
    "max_line_bytes": 1000,
    "mtime": NOW,
    "now": NOW,
    "nutrition_facet": "en:nutrition-facet",
    "photos_facet": "en:photos-facet",
    "products": 0,
    "server_type": "off",
    "sha256": "0" * 64,
    "since": NOW,
    "size_bytes": 1,
    "source_image": "/301/762/042/2003/1.jpg",
    "started": NOW,
    "taxonomy": "labels",
    "types": ["brand", "label"],
    "wait_minutes": 10,
}
# Template slots, filled as the pipeline fills them (from names it has validated).
TEMPLATES = {
    # the mirror files (templated per mirrored table; run for every table by tests/pipelines/store/postgres)
    "table": "prediction",
    "path": "'mirror.csv'",
    "csv_columns": "{'id': 'BIGINT'}",
    "load_columns": "c.id",
    "key_join": 'b."id" = c."id"',
    "before_columns": 'c."id"',
    "memory_limit": "1GB",
    "bucket": "-1",
    "export_columns": "c.id",
    "into": "mirror_versions",
    # the copy files (store copy: templated per mirrored table too)
    "relation": "prediction",
    **{slot: value for slot, value in _copy_slots(PREDICTION).items() if slot != "table"},
    "columns": '"code", "normalized_code", "dump_line"',
    "language_keys": ', "product_name_fr": "VARCHAR"',
    "nutriment_structure": '{"fat_100g": "DOUBLE", "fiber": "DOUBLE", "fiber_prepared": "DOUBLE"}',
    "nutriment_columns": ', TRY_CAST(nut."fat_100g" AS FLOAT) AS "fat_100g"',
    **{
        f"{family}_langs": f"[{{'lang': 'main', 'text': j.{family}}}]"
        for family in ("product_name", "generic_name", "ingredients_text", "packaging_text")
    },
}
_BASE_KINDS = {"TABLE", "SEQUENCE"}
_CHECKS = {
    "TABLE": "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
    "VIEW": "SELECT count(*) FROM duckdb_views() WHERE view_name = ?",
    "MACRO": "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?",
    "INDEX": "SELECT count(*) FROM duckdb_indexes() WHERE index_name = ?",
    "SEQUENCE": "SELECT count(*) FROM duckdb_sequences() WHERE sequence_name = ?",
}


def _filled(name: str) -> str:
    text = load_sql(name)
    for slot, value in TEMPLATES.items():
        text = text.replace(f"{{{slot}}}", value)
    return text


@cache
def _producers() -> dict[str, str]:
    """Table, view or sequence name → the first file (in name order) that creates it."""
    made: dict[str, str] = {}
    for name in NAMES:
        head = header(name)
        if head.kind in {"TABLE", "VIEW", "SEQUENCE"}:
            for model in head.models:
                made.setdefault(model, name)
    return made


def _is_base(table: str) -> bool:
    """A store object created as written (its DDL reads nothing but other store objects)."""
    producer = _producers().get(table)
    if producer is None:
        return False
    head = header(producer)
    return head.kind in _BASE_KINDS and not head.inputs and all(_is_base(r) for r in head.reads)


class Harness:
    """Connections holding exactly what a file declares, empty."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.snapshot = folder / "products.parquet"
        pq.write_table(PRODUCT_SCHEMA.empty_table(), self.snapshot)
        self._columns: dict[str, list[tuple[str, str]]] = {}

    def connection(self) -> duckdb.DuckDBPyConnection:
        con = connect()
        con.create_function(
            "normalize_emb_code", normalize_emb_code, ["VARCHAR"], "VARCHAR", side_effects=False
        )
        return con

    def params(self, name: str, head: SqlHeader) -> dict[str, object]:
        values = {**PARAMS, "path": str(self.folder / f"{name.replace('/', '_')}.out")}
        if name == "convert/code_stats":
            values["path"] = str(self.snapshot)
        values["snapshot"] = str(self.snapshot)
        return {p: values[p] for p in head.named_params}

    def prepare(self, con: duckdb.DuckDBPyConnection, name: str) -> SqlHeader:
        head = header(name)
        for variable in re.findall(r"getvariable\('([a-z_]+)'\)", ", ".join(head.params)):
            con.execute(f"SET VARIABLE {variable} = ?", [PARAMS[variable]])
        for source in head.inputs:
            con.register(source, INPUTS[source].empty_table())
        targets = head.models if head.kind in {"INSERT", "UPDATE", "DELETE"} else ()
        for table in dict.fromkeys((*head.reads, *targets)):
            self.create(con, table)
        return head

    def run(self, con: duckdb.DuckDBPyConnection, name: str) -> SqlHeader:
        head = self.prepare(con, name)
        params = self.params(name, head)
        for statement in duckdb.extract_statements(_filled(name)):
            con.execute(statement, params) if params else con.execute(statement)
        return head

    def create(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        if _is_base(table):
            producer = _producers()[table]
            for read in header(producer).reads:
                self.create(con, read)
            con.execute(load_sql(producer))
            return
        columns = ", ".join(f'"{column}" {kind}' for column, kind in self.columns(table))
        con.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{table}" ({columns})')

    def columns(self, table: str) -> list[tuple[str, str]]:
        """The columns the file producing ``table`` gives it, run on empty inputs."""
        if table not in self._columns:
            producer = _producers().get(table)
            assert producer is not None, f"no SQL file produces {table!r} (declare it as an @input?)"
            con = self.connection()
            try:
                self.run(con, producer)
                self._columns[table] = [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            finally:
                con.close()
        return self._columns[table]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    return Harness(tmp_path_factory.mktemp("sql-contracts"))


@pytest.mark.parametrize("name", NAMES)
def test_parses(name: str) -> None:
    statements = duckdb.extract_statements(_filled(name))
    assert statements, f"{name}: no statement"


@pytest.mark.parametrize("name", NAMES)
def test_header_is_well_formed(name: str) -> None:
    head = header(name)
    body = sql_body(name)
    used = set(re.findall(r"\$[a-z_][a-z0-9_]*", body))
    used |= set(re.findall(r"\{[a-z_][a-z0-9_]*\}", body))
    used |= set(re.findall(r"getvariable\('[a-z_][a-z0-9_]*'\)", body))
    assert set(head.params) == used, f"{name}: PARAMS {sorted(head.params)}, the SQL uses {sorted(used)}"
    words = set(re.findall(r"[a-z_][a-z0-9_]*", body.lower()))
    stale = [r for r in (*head.reads, *head.inputs) if r not in words and "{" not in r and "." not in r]
    assert not stale, f"{name}: READS names {stale}, which the SQL does not mention"
    if head.kind in {"TABLE", "VIEW", "INSERT", "UPDATE", "DELETE", "MACRO", "INDEX", "SEQUENCE"}:
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
def test_header_is_true_on_empty_inputs(name: str, harness: Harness) -> None:
    """Run on a connection holding only the declared READS and inputs; the declared MODEL must then exist."""
    if name.startswith(("store/mirror_", "store/copy_")):
        pytest.skip(
            "templated per mirrored table (pipelines/store/postgres/mirror.py) and run inside a PostgreSQL "
            "session's working copy: run for every table by tests/pipelines/store/postgres"
        )
    con = harness.connection()
    try:
        head = harness.run(con, name)
        check = _CHECKS.get(head.kind)
        if check is not None:
            for model in head.models:
                assert con.execute(check, [model]).fetchall()[0][0] >= 1, (
                    f"{name}: {head.kind} {model} not made"
                )
    finally:
        con.close()


def test_refresh_files_are_named_after_what_they_produce() -> None:
    """In sql/insights/, a file is named after its MODEL (MODEL_<variant> when several files write it)."""
    for name in NAMES:
        if not name.startswith("insights/") or name.startswith(("insights/export_", "insights/show_")):
            continue
        stem = name.removeprefix("insights/")
        models = header(name).models
        assert any(stem == m or stem.startswith(f"{m}_") for m in models), f"{name}: MODEL {models}"


def test_refresh_steps_list_every_refresh_file_once() -> None:
    from pipelines.insights.refresh import REFRESH_STEPS

    steps = [step.sql for step in REFRESH_STEPS]
    assert len(steps) == len(set(steps))
    assert all(header(step) for step in steps)
    doc = (ROOT / "docs" / "insights.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| \d+ \| `(insights/[a-z_]+)` \|", doc, flags=re.MULTILINE)
    assert rows == steps, "docs/insights.md's step table must list REFRESH_STEPS, in order"


GOOD = """-- MODEL: refresh_product
-- KIND: TABLE
-- READS: prediction, @scope_codes
-- PARAMS: $flavor, $now, {columns}
-- Why the step exists.
--
-- Details.
CREATE TABLE refresh_product AS SELECT 1;
"""


def test_parse_header() -> None:
    head = parse_header(GOOD)
    assert head.models == ("refresh_product",)
    assert head.kind == "TABLE"
    assert head.reads == ("prediction",)
    assert head.inputs == ("scope_codes",)
    assert head.params == ("$flavor", "$now", "{columns}")
    assert head.named_params == ("flavor", "now")
    assert head.purpose == "Why the step exists."
    none = parse_header(
        GOOD.replace("prediction, @scope_codes", "-").replace("$flavor, $now, {columns}", "-")
    )
    assert none.reads == none.inputs == none.params == ()


@pytest.mark.parametrize(
    "broken",
    [
        GOOD.replace("-- MODEL: refresh_product\n", ""),  # no MODEL line
        GOOD.replace("KIND: TABLE", "KIND: TABEL"),  # unknown kind
        GOOD.replace("READS: prediction, @scope_codes", "READS:"),  # empty (write `-`)
        GOOD.replace("READS: prediction, @scope_codes", "READS: prediction, prediction"),  # repeated
        GOOD.replace("$flavor, $now", "flavor, now"),  # not a parameter
        GOOD.replace("-- Why the step exists.\n", ""),  # no purpose line
        GOOD.replace("MODEL: refresh_product", "MODEL: Refresh Product"),
        "SELECT 1;\n",
    ],
)
def test_parse_header_refuses(broken: str) -> None:
    with pytest.raises(SqlHeaderError):
        parse_header(broken)
