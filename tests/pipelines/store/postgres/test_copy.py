"""``offpipe store copy`` against a real PostgreSQL: a DuckDB store built by the pipeline (two flavors, OCR,
insights, runs, listener tables) lands in PostgreSQL row for row; copying again writes nothing; a copy after
the DuckDB store changed brings PostgreSQL in line; annotated insights survive; bad inputs are one line.

One database per module (random name, dropped at the end); the DuckDB store is built once per module.
"""

from __future__ import annotations

import datetime as dt
import json
import struct
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import Flavor, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.job import run_refresh
from pipelines.listener.apply import log_applied
from pipelines.ocr.ingest import ingest_archive
from pipelines.predictors.resources import Resources
from pipelines.store.db import store_writer
from pipelines.store.images import mark_deleted, record_uploads
from pipelines.store.postgres.copy import COPIED, ROBOTOFF_DEFAULTS
from pipelines.store.postgres.mirror import BY_NAME, RUN, Kind, Mirrored
from pipelines.store.predictions import import_predictions
from pipelines.store.schema import predictions_from_rows
from pipelines.synth.generator import SynthSpec, generate
from tests.support.postgres import create_database, drop_database

COPY = ["store", "copy"]
PASSWORD = "sekret-pw"  # trust auth ignores it; it must never be printed
NOW = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
runner = CliRunner()


# -- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def databases(_pg_store_template: str) -> Iterator[dict[str, str]]:
    """Two fresh databases: ``store`` as ``offpipe store init`` leaves it, ``bare`` without tables; their
    URLs carry a password (trust auth ignores it) that must never be printed."""
    names = {"store": create_database(template=_pg_store_template), "bare": create_database()}
    try:
        yield {kind: f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{db}" for kind, db in names.items()}
    finally:
        for name in names.values():
            drop_database(name)


@pytest.fixture(scope="module")
def url(databases: dict[str, str]) -> str:
    return databases["store"]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, taxonomy_dir: Path, keywords_dir: Path) -> Path:
    """A DuckDB store the pipeline wrote: a synthetic dump predicted (names and OCR) and refreshed as off and
    as obf (the same barcodes in two server types), images and listener log rows as the listener records
    them, a legacy duplicate prediction and values that are awkward in CSV and JSON."""
    base = tmp_path_factory.mktemp("copy-source")
    settings = get_settings({"OFF_DATA_DIR": str(base / "data")})
    resources = Resources(keywords_dir, taxonomy_dir)
    dump, archive = base / "dump.jsonl.gz", base / "ocr.jsonl.gz"
    spec = SynthSpec(products=150, seed=21, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, dump, ocr_out=archive, workers=1)
    for flavor in ("off", "obf"):
        convert_dump(dump, flavor, settings=settings, min_rows=0, force=True)
        ocr = base / f"ocr-{flavor}.parquet"
        ingest_archive(archive, ocr, flavor, settings=settings, workers=1)
        run_refresh(flavor, after_refresh=None, ocr_table=ocr, settings=settings, resources=resources)
    with store_writer(settings.store_path) as con:
        codes = [row[0] for row in con.execute(_SQL_CODES).fetchall()]
        assert len(codes) >= 8
        record_uploads(con, "off", [(code, "7", NOW) for code in codes[:6]], now=NOW)
        mark_deleted(con, "off", [(codes[0], "7"), (codes[1], "2")], now=NOW)
        log_applied(con, Flavor.off, codes[:4], codes[4:6], now=NOW)
        log_applied(con, Flavor.obf, codes[6:8], [], now=NOW)
        con.execute(_SQL_DUPLICATE)  # a legacy duplicate: equal to another row in all but its id
        import_predictions(con, predictions_from_rows([_awkward(codes[2])]), now=NOW)
    return settings.store_path


_SQL_CODES = (
    "SELECT DISTINCT barcode FROM prediction WHERE server_type = 'off' "
    "AND regexp_full_match(barcode, '[0-9]{13}') ORDER BY barcode"
)
_SQL_DUPLICATE = (
    "INSERT INTO prediction BY NAME SELECT * EXCLUDE (id) FROM prediction WHERE id = (SELECT min(id) FROM "
    "prediction WHERE server_type = 'obf')"
)


def _awkward(code: str, **fields: Any) -> dict[str, Any]:
    """A prediction whose values cross CSV and jsonb awkwardly: quotes, commas, a newline, non-ASCII, an
    empty string beside NULLs, keys out of order, a confidence finer than `real`."""
    row = {
        "barcode": code,
        "type": "label",
        "data": '{"z":1,"a":[1.5,"é, \\"q\\"\\n"],"m":{"y":null,"b":true}}',
        "value_tag": "en:awkward",
        "value": 'a,"b"\nc é',
        "source_image": "",
        "automatic_processing": None,
        "predictor": "copy-test",
        "predictor_version": None,
        "confidence": 0.123456789,
        "server_type": "off",
    }
    return row | fields


# -- reading both stores -------------------------------------------------------------------------------------


def _compared(table: Mirrored) -> list[str]:
    """Every column but a generated id (PostgreSQL's own)."""
    return [c.name for c in table.columns if not (table.generated_key and c.name in table.key)]


def _norm(kind: Kind, duck_type: str, value: Any) -> str:
    """A value as both stores must agree on it: documents as documents, instants in UTC, `real` precision."""
    if value is None:
        return "null"
    if kind in (Kind.json, Kind.json_list, Kind.varchar_array):
        parsed = orjson.loads(value) if isinstance(value, str) and kind is Kind.json else value
        return orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS).decode()
    if kind in (Kind.utc, Kind.tstz):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC).isoformat()
    if duck_type == "DOUBLE":
        return repr(struct.unpack("f", struct.pack("f", value))[0])
    return repr(str(value) if isinstance(value, uuid.UUID) else value)


def _rows(table: Mirrored, fetched: list[tuple]) -> dict[str, Counter]:
    """Rows per server type (the run log: all under ``*``), as multisets of normalized tuples; a NULL that
    Robotoff's table does not allow counts as Robotoff's default (what the copy writes)."""
    columns = [c for c in table.columns if c.name in _compared(table)]
    defaults = {name: json.loads(value) for name, value in ROBOTOFF_DEFAULTS.get(table.name, {}).items()}
    out: dict[str, Counter] = {}
    for row in fetched:
        values = dict(zip([c.name for c in columns], row, strict=True))
        values |= {name: value for name, value in defaults.items() if values[name] is None}
        key = values.get("server_type", "*")
        normalized = tuple(_norm(c.kind, c.duck, values[c.name]) for c in columns)
        out.setdefault(key, Counter())[normalized] += 1
    return out


def duck_rows(path: Path, table: Mirrored) -> dict[str, Counter]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        columns = ", ".join(f'"{c}"' for c in _compared(table))
        return _rows(table, con.execute(f"SELECT {columns} FROM {table.name}").fetchall())
    finally:
        con.close()


def pg_rows(url: str, table: Mirrored) -> dict[str, Counter]:
    with psycopg.connect(url) as conn:
        columns = ", ".join(f'"{c}"' for c in _compared(table))
        return _rows(table, conn.execute(f"SELECT {columns} FROM {table.relation}").fetchall())


def pg_scalar(url: str, query: str, params: tuple = ()) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()[0]  # type: ignore[index]


def pg_prediction_ids(url: str) -> set[int]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM prediction").fetchall()}


def assert_same_rows(source: Path, url: str) -> None:
    for name in COPIED:
        assert duck_rows(source, BY_NAME[name]) == pg_rows(url, BY_NAME[name]), name
    runs = duck_rows(source, RUN).get("*", Counter())
    assert runs
    assert not runs - pg_rows(url, RUN).get("*", Counter()), "every run of the DuckDB store is in PostgreSQL"


def copy(source: Path, url: str, *extra: str) -> dict[str, Any]:
    """Run the command; its JSON report (the command must succeed)."""
    result = runner.invoke(app, [*COPY, "--from", str(source), "--to", url, *extra])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    report = json.loads(result.stdout)
    assert report["equal"] is True
    return report


def written(report: dict[str, Any], server_type: str, table: str) -> dict[str, int]:
    counts = report["server_types"][server_type][table]
    return {op: counts[op] for op in ("inserted", "updated", "deleted") if counts[op]}


def one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert PASSWORD not in result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- tests ---------------------------------------------------------------------------------------------------


def test_the_copy_holds_every_row_of_the_duckdb_store(source: Path, url: str) -> None:
    report = copy(source, url)
    assert report["to"] == url.replace(PASSWORD, "***")
    assert set(report["server_types"]) == {"off", "obf"}
    for server_type, tables in report["server_types"].items():
        for name, counts in tables.items():
            assert counts["duckdb"] == counts["postgresql"], (server_type, name)
    # six uploads, and the deletion of an image never seen uploaded
    assert report["server_types"]["off"]["image"]["duckdb"] == 7
    assert report["server_types"]["obf"]["listener_log"]["duckdb"] == 2
    assert report["run"]["duckdb"] == report["run"]["postgresql"] == 2
    assert_same_rows(source, url)


def test_copying_again_writes_nothing(source: Path, url: str) -> None:
    copy(source, url)
    ids = pg_prediction_ids(url)
    again = copy(source, url)
    assert again["written"] == 0
    assert again["run"]["inserted"] == 0
    assert all(not written(again, st, name) for st in again["server_types"] for name in COPIED)
    assert pg_prediction_ids(url) == ids  # no prediction was deleted and inserted again
    assert_same_rows(source, url)


def test_a_copy_after_the_store_changed_brings_postgresql_in_line(source: Path, url: str) -> None:
    copy(source, url)
    ids = pg_prediction_ids(url)
    with store_writer(source) as con:
        code = con.execute(_SQL_CODES).fetchall()[3][0]
        new = [_awkward(code, value_tag=f"en:new-{i}", value=None, confidence=0.5 + i) for i in range(3)]
        import_predictions(con, predictions_from_rows(new), now=NOW)
        gone = con.execute(
            "DELETE FROM product_insight WHERE id = (SELECT min(id) FROM product_insight "
            "WHERE server_type = 'obf' AND annotation IS NULL) RETURNING id"
        ).fetchall()
        con.execute(
            "UPDATE ocr_image SET fingerprint = 'changed' WHERE source_image = "
            "(SELECT min(source_image) FROM ocr_image WHERE server_type = 'off') AND server_type = 'off'"
        )
        mark_deleted(con, "off", [(code, "7")], now=NOW + dt.timedelta(seconds=1))
        con.execute(_SQL_DUPLICATE)  # a third copy of a row PostgreSQL has twice: one more to insert
        con.execute(  # as in stores written before the refresh took Robotoff's defaults
            "UPDATE product_insight SET unique_scans_n = NULL, reserved_barcode = NULL WHERE id = "
            "(SELECT min(id) FROM product_insight WHERE server_type = 'off' AND unique_scans_n > 0)"
        )
    report = copy(source, url)
    assert written(report, "off", "prediction") == {"inserted": 3}
    assert written(report, "obf", "prediction") == {"inserted": 1}
    assert written(report, "obf", "product_insight") == {"deleted": 1}
    assert written(report, "off", "ocr_image") == {"updated": 1}
    assert written(report, "off", "image") == {"updated": 1}
    assert written(report, "off", "product_insight") == {"updated": 1}  # unique_scans_n 0 in PostgreSQL
    assert report["written"] == 8
    assert not pg_scalar(url, "SELECT count(*) FROM product_insight WHERE id = %s", (gone[0][0],))
    assert ids <= pg_prediction_ids(url)  # the predictions already there kept their ids
    assert_same_rows(source, url)
    assert copy(source, url)["written"] == 0


def test_an_insight_annotated_in_postgresql_is_kept(source: Path, url: str) -> None:
    copy(source, url)
    with psycopg.connect(url, autocommit=True) as conn:
        insight = conn.execute(
            "UPDATE product_insight SET annotation = 1, n_votes = 1 WHERE id = (SELECT id FROM "
            "product_insight WHERE server_type = 'off' ORDER BY id LIMIT 1) RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO annotation_vote (id, insight_id, value, device_id, timestamp) "
            "VALUES (gen_random_uuid(), %s, 1, 'device', now())",
            (insight,),
        )
    with store_writer(source) as con:
        con.execute("DELETE FROM product_insight WHERE id = ?", [insight])
    try:
        line = one_line_error([*COPY, "--from", str(source), "--to", url])
        assert "counts differ" in line and "off/product_insight" in line
        assert pg_scalar(url, "SELECT annotation FROM product_insight WHERE id = %s", (insight,)) == 1
        assert pg_scalar(url, "SELECT count(*) FROM annotation_vote WHERE insight_id = %s", (insight,)) == 1
    finally:  # PostgreSQL's extra insight goes, so that the stores are equal again for the other tests
        pg_scalar(url, "DELETE FROM product_insight WHERE id = %s RETURNING 1", (insight,))
    copy(source, url)


def test_bad_inputs_are_one_line_and_write_nothing(
    source: Path, url: str, databases: dict[str, str], tmp_path: Path
) -> None:
    copy(source, url)
    before = pg_scalar(url, "SELECT count(*) FROM prediction")
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n")
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).execute("CREATE TABLE prediction (id INTEGER)").close()
    unreachable = f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere"
    cases = {
        "no DuckDB store at": ["--from", str(tmp_path / "missing.duckdb"), "--to", url],
        "is not a DuckDB store": ["--from", str(text), "--to", url],
        "is not an offpipe store: no table product_insight": ["--from", str(other), "--to", url],
        "offpipe store copy needs a PostgreSQL store": [
            "--from",
            str(source),
            "--to",
            str(tmp_path / "target.duckdb"),
        ],
        "cannot connect to the store postgresql://postgres:***@127.0.0.1:1/nowhere": [
            "--from",
            str(source),
            "--to",
            unreachable,
        ],
        "the database has no table product_insight": [
            "--from",
            str(source),
            "--to",
            databases["bare"],
        ],
    }
    for expected, args in cases.items():
        assert expected in one_line_error([*COPY, *args])
    assert pg_scalar(url, "SELECT count(*) FROM prediction") == before


def test_a_store_held_by_a_writer_is_waited_for(source: Path, url: str) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(source), "3"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        line = one_line_error([*COPY, "--from", str(source), "--to", url, "--timeout", "0.3"])
        assert "is open for writing in another process; gave up after 0.3 s" in line
        report = copy(source, url, "--timeout", "60")  # waits for the writer to close the store
        assert holder.wait(timeout=30) == 0
        assert report["written"] == 0
    finally:
        holder.kill()
        holder.wait()


_HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""
