"""``offpipe refresh`` and ``offpipe insights export|show`` end to end: 200 synthetic products with OCR.

The dump is installed as if downloaded (with a sidecar carrying an ETag), converted, then refreshed once
for the whole module and each store (the DuckDB file; a PostgreSQL database chosen by ``OFF_STORE_URL``);
tests that change the store work on a copy.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.convert.convert import convert_dump
from pipelines.convert.snapshot import snapshot_etag
from pipelines.download.dump import DUMP_NAME
from pipelines.download.meta import DumpMeta, write_meta
from pipelines.insights import refresh as refresh_module
from pipelines.insights.export import EXPORT_COLUMNS, EXPORT_SCHEMA
from pipelines.insights.job import refresh_markdown
from pipelines.synth.generator import SynthSpec, generate
from tests.pipelines.insights.conftest import BACKENDS
from tests.support.postgres import STORE_TABLES, PostgresServer, truncate_store

runner = CliRunner()
ETAG = '"synth-dump-1"'


def _invoke(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{") :])


def _query(data: Path, sql: str, params: list[Any] | None = None, url: str | None = None) -> list[tuple]:
    """``sql`` (``?`` placeholders) on the store: the DuckDB file of ``data``, or the PostgreSQL database
    ``url`` (Robotoff's tables and the project's, ``offpipe.run``…, in the search path)."""
    if url is not None:
        with psycopg.connect(url, options="-c search_path=public,offpipe") as conn:
            return conn.execute(sql.replace("?", "%s"), params or []).fetchall()
    con = duckdb.connect(str(data / "store.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@dataclass
class Refreshed:
    """The data folder after a first ``offpipe refresh``, that run's report, and the store it wrote."""

    data: Path
    report: dict[str, Any]
    url: str | None = None  # the PostgreSQL store; None: the DuckDB file in ``data``

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return _query(self.data, sql, params, self.url)


def _install_dump(data: Path, taxonomy_dir: Path, keywords_dir: Path) -> Path:
    """A synthetic dump where `offpipe download` puts it, with a sidecar older than the conversion."""
    dump = data / "dumps" / "off" / DUMP_NAME
    dump.parent.mkdir(parents=True)
    archive = data.parent / "ocr.jsonl.gz"
    spec = SynthSpec(products=200, seed=11, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, dump, ocr_out=archive)
    body = dump.read_bytes()
    downloaded = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    meta = DumpMeta(
        url="https://static.openfoodfacts.org/data/openfoodfacts-products.jsonl.gz",
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        lines=200,
        downloaded_at=downloaded.isoformat(timespec="seconds"),
        etag=ETAG,
        flavor="off",
    )
    write_meta(dump, meta)
    convert_dump(dump, "off")
    return archive


@pytest.fixture(scope="module", params=BACKENDS)
def refreshed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    taxonomy_dir: Path,
    keywords_dir: Path,
) -> Iterator[Refreshed]:
    """The data folder after a first ``offpipe refresh --ocr ARCHIVE``, and that run's report; the
    PostgreSQL variant writes to its own database (``OFF_STORE_URL``)."""
    data = tmp_path_factory.mktemp("insights-cli") / "data"
    data.mkdir()
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OFF_DATA_DIR", str(data))
        patch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
        patch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
        if url is None:
            patch.delenv("OFF_STORE_URL", raising=False)
        else:
            patch.setenv("OFF_STORE_URL", url)
        archive = _install_dump(data, taxonomy_dir, keywords_dir)
        report = _invoke("refresh", "--flavor", "off", "--ocr", str(archive))
        yield Refreshed(data, report, url)


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The store a failing command must leave untouched (see :func:`_empty_store`)."""
    return _empty_store(request.param, request, monkeypatch)


def _empty_store(backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The DuckDB default (None) or an emptied PostgreSQL database (its URL), chosen by ``OFF_STORE_URL``."""
    if backend == "duckdb":
        monkeypatch.delenv("OFF_STORE_URL", raising=False)
        return None
    url: str = request.getfixturevalue("postgres_store_url")
    with psycopg.connect(url, autocommit=True) as conn:
        truncate_store(conn)
    monkeypatch.setenv("OFF_STORE_URL", url)
    return url


def _nothing_written(data: Path, url: str | None) -> bool:
    """No store file was created (DuckDB), or every table of the PostgreSQL store is still empty."""
    if url is None:
        return not (data / "store.duckdb").exists()
    counts = [_query(data, f"SELECT count(*) FROM {table}", url=url)[0][0] for table in STORE_TABLES]
    return counts == [0] * len(STORE_TABLES)


def test_refresh_creates_insights_then_changes_nothing(refreshed: Refreshed) -> None:
    data, first = refreshed.data, refreshed.report
    assert first["predict"]["products"] == 200 and first["predict"]["images"] > 0
    assert first["totals"]["created"] > 0
    assert first["totals"]["created"] == sum(first["refresh"]["created"].values())
    assert {"label", "store", "packager_code"} <= set(first["refresh"]["created"])
    assert first["dump_etag"] == ETAG
    stored = refreshed.query("SELECT count(*) FROM product_insight")[0][0]
    assert stored == first["totals"]["created"]

    second = _invoke(
        "refresh", "--flavor", "off", "--ocr", str(data / "parquet" / "off" / "ocr_texts.parquet")
    )
    unchanged = {"candidates": 0, "created": 0, "updated": 0, "deleted": 0}
    assert second["totals"] | {"candidates": 0, "kept_protected": 0} == unchanged | {"kept_protected": 0}
    # automatic insights (to be applied) are protected references: kept, and counted as such
    automatic = refreshed.query("SELECT count(*) FROM product_insight WHERE automatic_processing")[0][0]
    assert second["totals"]["kept_protected"] == automatic > 0
    assert second["totals"]["candidates"] == first["totals"]["candidates"]
    assert second["predict"]["store_import"]["inserted"] == 0
    assert second["run_id"] != first["run_id"]
    runs = refreshed.query("SELECT id::VARCHAR, kind, flavor, dump_etag FROM run ORDER BY ended")
    assert runs[-2:] == [(first["run_id"], "bulk", "off", ETAG), (second["run_id"], "bulk", "off", ETAG)]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_export_round_trips_the_rows(refreshed: Refreshed, fmt: str) -> None:
    out = refreshed.data.parent / f"insights.{fmt}"
    report = _invoke("insights", "export", "--format", fmt, "--out", str(out))
    # sorted here: PostgreSQL's text order depends on the database's collation, the export's does not
    stored = sorted(refreshed.query("SELECT barcode, type, id::VARCHAR FROM product_insight"))
    assert report["rows"] == len(stored) > 0
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]
    if fmt == "parquet":
        table = pq.read_table(out)
        assert table.schema.equals(EXPORT_SCHEMA)
        rows = table.to_pylist()
        assert isinstance(orjson.loads(rows[0]["data"]), dict)
    else:
        rows = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        assert list(rows[0]) == list(EXPORT_COLUMNS)
        assert isinstance(rows[0]["data"], dict)
    assert [(r["barcode"], r["type"], r["id"]) for r in rows] == stored


def test_show_prints_the_product_rows(refreshed: Refreshed) -> None:
    barcode, insights = refreshed.query(
        "SELECT barcode, count(*) FROM product_insight GROUP BY barcode ORDER BY 2 DESC, 1 LIMIT 1"
    )[0]
    predictions = refreshed.query("SELECT count(*) FROM prediction WHERE barcode = ?", [barcode])[0][0]
    raw = barcode.lstrip("0") if len(barcode) == 8 else f" {barcode} "  # normalized before it is looked up
    shown = _invoke("insights", "show", raw, "--flavor", "off")
    assert shown["barcode"] == barcode
    assert len(shown["insights"]) == insights and len(shown["predictions"]) == predictions
    assert {row["barcode"] for row in shown["insights"] + shown["predictions"]} == {barcode}
    assert all(isinstance(row["data"], dict) for row in shown["insights"])


@pytest.mark.parametrize(
    "code", ["abc", "12", "1'; DROP TABLE product_insight; --", "{code}'; DROP TABLE product_insight; --"]
)
def test_show_rejects_an_invalid_code(refreshed: Refreshed, code: str) -> None:
    """The strict check (``docs/reliability.md`` F24): a real product's code followed by junk is refused, not
    reduced to that product's digits."""
    barcode = refreshed.query("SELECT min(barcode) FROM product_insight")[0][0]
    result = runner.invoke(app, ["insights", "show", code.format(code=barcode)])
    assert result.exit_code == 2
    assert "invalid barcode" in result.output
    assert refreshed.query("SELECT count(*) FROM product_insight")[0][0] > 0


def test_truncated_snapshot_stops_deletions_unless_forced(
    refreshed: Refreshed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    data = tmp_path / "data"
    shutil.copytree(refreshed.data, data, ignore=shutil.ignore_patterns("*.lock"))
    monkeypatch.setenv("OFF_DATA_DIR", str(data))
    url = None
    if refreshed.url is not None:  # a copy of the refreshed database
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create(template=refreshed.url.rsplit("/", 1)[1])
        monkeypatch.setenv("OFF_STORE_URL", url)
    dump = data / "dumps" / "off" / DUMP_NAME
    half = tmp_path / "half.jsonl"
    half.write_bytes(b"".join(gzip.decompress(dump.read_bytes()).splitlines(keepends=True)[:100]))
    convert_dump(half, "off")
    insights = "SELECT * FROM product_insight ORDER BY id"
    before = _query(data, insights, url=url)

    stopped = _invoke("refresh", "--flavor", "off", "--no-predict")
    assert stopped["predict"] is None and stopped["dump_etag"] is None  # converted from another file
    assert stopped["refresh"]["missing_products"] > 0 and stopped["refresh"]["missing_deletion_skipped"]
    assert stopped["totals"]["deleted"] == 0 and stopped["refresh"]["predictions_deleted"] == 0
    # docs/reliability.md F19: the importers left them alone too
    assert _query(data, insights, url=url) == before
    forced = _invoke("refresh", "--flavor", "off", "--no-predict", "--force")
    assert not forced["refresh"]["missing_deletion_skipped"]
    assert forced["totals"]["deleted"] > 0 and forced["refresh"]["predictions_deleted"] > 0
    assert forced["refresh"]["missing_deleted_products"] == forced["refresh"]["missing_products"]
    assert sum(forced["refresh"]["deleted_missing"].values()) == forced["totals"]["deleted"]
    assert "deletion skipped: safety stop" in refresh_markdown(stopped)  # the Prefect artifact says it
    shown = f"insights deleted (missing products): {forced['totals']['deleted']}"
    assert shown in refresh_markdown(forced)


def test_a_failed_refresh_keeps_the_import(
    refreshed: Refreshed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The import and the refresh share one store session (pipelines/insights/job.py, ``nightly_step``) as two
    transactions: a refresh that fails leaves the import in place on both stores (PostgreSQL applies it when
    the session ends), nothing of the refresh, and the next run refreshes without importing again."""
    data = tmp_path / "data"
    shutil.copytree(refreshed.data, data, ignore=shutil.ignore_patterns("*.lock", "store.duckdb*"))
    monkeypatch.setenv("OFF_DATA_DIR", str(data))
    url = None
    if refreshed.url is not None:  # an empty store of its own
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create()
        monkeypatch.setenv("OFF_STORE_URL", url)

    def failing(report: Any) -> Any:  # called inside the refresh's transaction, after its writes
        raise RuntimeError("a rule failed")

    with monkeypatch.context() as patch:
        patch.setattr(refresh_module, "_run_counts", failing)
        result = runner.invoke(app, ["refresh", "--flavor", "off"])
    assert result.exit_code != 0 and "a rule failed" in str(result.exception)
    imported = _query(data, "SELECT count(*) FROM prediction", url=url)[0][0]
    assert imported > 0
    assert _query(data, "SELECT count(*) FROM product_insight", url=url) == [(0,)]
    assert _query(data, "SELECT count(*) FROM run", url=url) == [(0,)]

    rerun = _invoke("refresh", "--flavor", "off")
    assert rerun["predict"]["store_import"]["inserted"] == 0
    stored = rerun["predict"]["store_import"]
    assert stored["inserted"] == 0 and stored["kept_identical"] + stored["skipped_existing"] == imported
    assert rerun["totals"]["created"] > 0


def test_refresh_without_snapshot_fails_cleanly(data_dir: Path, empty_store: str | None) -> None:
    result = runner.invoke(app, ["refresh", "--flavor", "obf"])
    assert result.exit_code == 1
    assert "no Parquet table" in result.output
    assert _nothing_written(data_dir, empty_store)


def test_refresh_without_taxonomies_fails_before_predicting(
    refreshed: Refreshed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    url = _empty_store("duckdb" if refreshed.url is None else "postgresql", request, monkeypatch)
    data = tmp_path / "data"
    (data / "parquet" / "off").mkdir(parents=True)
    shutil.copy(refreshed.data / "parquet" / "off" / "products.parquet", data / "parquet" / "off")
    monkeypatch.setenv("OFF_DATA_DIR", str(data))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(tmp_path / "no-taxonomies"))
    result = runner.invoke(app, ["refresh", "--flavor", "off"])
    assert result.exit_code == 1
    assert "taxonomy labels not found" in result.output
    assert _nothing_written(data, url)


def test_snapshot_etag_needs_a_conversion_after_the_download(data_dir: Path) -> None:
    from pipelines.common.config import get_settings

    dump = data_dir / "dumps" / "off" / DUMP_NAME
    dump.parent.mkdir(parents=True)
    dump.write_bytes(b"x")
    report = data_dir / "parquet" / "off" / "products.report.json"
    report.parent.mkdir(parents=True)
    now = dt.datetime.now(dt.UTC)
    meta = DumpMeta(url="u", size=1, sha256="", lines=1, downloaded_at=now.isoformat(), etag=ETAG)
    write_meta(dump, meta)
    settings = get_settings()
    for source, converted, expected in [
        (dump, now + dt.timedelta(seconds=1), ETAG),
        (dump, now - dt.timedelta(seconds=1), None),  # a newer dump, not converted yet
        (data_dir / "other.jsonl.gz", now + dt.timedelta(seconds=1), None),
    ]:
        report.write_bytes(orjson.dumps({"source": str(source), "converted_at": converted.isoformat()}))
        assert snapshot_etag("off", settings) == expected
