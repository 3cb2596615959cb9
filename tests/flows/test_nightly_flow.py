"""The ``nightly`` flow on a real Prefect API: all steps on a small synthetic dump, then an unchanged dump."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import psycopg
import pytest

from pipelines.synth.generator import SynthSpec, generate
from tests.flows.artifacts import artifact
from tests.support.http_server import DumpServer, serve_as_bucket

pytestmark = pytest.mark.usefixtures("prefect_api")


@pytest.fixture
def dump(data_dir: Path, taxonomy_dir: Path, keywords_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A 150-product synthetic dump with two bad lines and an OCR archive beside it (outside the data dir)."""
    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    monkeypatch.delenv("MONGO_URI", raising=False)
    source = data_dir.parent / "source"
    source.mkdir()
    spec = SynthSpec(
        products=150, seed=11, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir, bad_line_rate=0.02
    )
    generate(spec, source / "products.jsonl.gz", ocr_out=source / "ocr.jsonl.gz")
    return source / "products.jsonl.gz"


def _counts(key: str) -> dict[tuple[str, str], object]:
    latest = max(artifact(key), key=lambda a: a.created)
    rows = json.loads(latest.data) if isinstance(latest.data, str) else latest.data
    return {(row["step"], row["count"]): row["value"] for row in rows}


def test_nightly_runs_every_step_then_skips_an_unchanged_dump(dump: Path, data_dir: Path) -> None:
    from flows.nightly import nightly

    ocr = str(dump.with_name("ocr.jsonl.gz"))
    first = nightly(flavor="off", url=str(dump), min_lines=0, ocr=ocr)
    steps = first["steps"]
    assert first["outcome"] == "completed"
    assert steps["download"]["status"] == "downloaded"
    convert = steps["convert"]
    assert convert["lines_in"] == convert["rows_out"] + convert["quarantined_total"]
    assert convert["rows_out"] == 150 and convert["quarantined_total"] > 0
    assert steps["audit"]["products"] == 150
    refresh = steps["refresh"]
    assert refresh["predict"]["images"] > 0 and refresh["totals"]["created"] > 0
    assert steps["facets"]["applied"] is False and Path(steps["facets"]["plan"]).is_file()

    # the counts artifact holds every step's figures, equal to the reports the steps returned
    counts = _counts("nightly-off-counts")
    assert counts[("convert", "rows out")] == 150
    assert counts[("convert", "quarantined")] == convert["quarantined_total"]
    assert counts[("predict", "images predicted")] == refresh["predict"]["images"]
    created = {
        k[1].split(": ", 1)[1]: v
        for k, v in counts.items()
        if k[0] == "refresh" and k[1].startswith("created")
    }
    assert created == refresh["refresh"]["created"]
    assert counts[("facets", "products planned")] == steps["facets"]["products_planned"]
    markdown = max(artifact("nightly-off"), key=lambda a: a.created).data
    assert "Outcome: **completed**" in markdown and steps["audit"]["csv"] in markdown

    con = duckdb.connect(str(data_dir / "store.duckdb"), read_only=True)
    try:
        stored = con.execute("SELECT count(*) FROM product_insight").fetchall()[0][0]
    finally:
        con.close()
    assert stored == refresh["totals"]["created"]

    again = nightly(flavor="off", url=str(dump), min_lines=0, ocr=ocr)
    assert again["outcome"] == "unchanged"
    assert again["steps"]["download"]["status"] == "unchanged"
    assert all(again["steps"][step] is None for step in ("convert", "audit", "refresh", "facets"))
    rerun = _counts("nightly-off-counts")
    assert {step for step, _ in rerun} == {"download"} and rerun[("download", "status")] == "unchanged"


def test_nightly_into_postgresql(
    dump: Path, data_dir: Path, pg_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``OFF_STORE_URL`` set the same flow writes Robotoff's tables: insights, predictions and the run
    in PostgreSQL, no DuckDB store file; the facet plan is made from PostgreSQL's insights; a forced rerun
    of an unchanged snapshot writes no insight."""
    from flows.nightly import nightly

    monkeypatch.setenv("OFF_STORE_URL", pg_store_url)
    ocr = str(dump.with_name("ocr.jsonl.gz"))
    first = nightly(flavor="off", url=str(dump), min_lines=0, ocr=ocr)
    assert first["outcome"] == "completed"
    refresh = first["steps"]["refresh"]
    assert refresh["totals"]["created"] > 0
    assert Path(first["steps"]["facets"]["plan"]).is_file()
    assert not (data_dir / "store.duckdb").exists()
    with psycopg.connect(pg_store_url) as conn:
        insights, servers = conn.execute(
            "SELECT count(*), array_agg(DISTINCT server_type) FROM product_insight"
        ).fetchone()  # type: ignore[misc]
        predictions = conn.execute("SELECT count(*) FROM prediction").fetchone()[0]  # type: ignore[index]
        runs = conn.execute("SELECT count(*) FROM offpipe.run WHERE flavor = 'off'").fetchone()[0]  # type: ignore[index]
    assert insights == refresh["totals"]["created"] and servers == ["off"]
    assert predictions > 0 and runs >= 1

    again = nightly(flavor="off", url=str(dump), min_lines=0, ocr=ocr, force=True)
    assert again["outcome"] == "completed"
    assert sum(again["steps"]["refresh"]["refresh"]["created"].values()) == 0
    with psycopg.connect(pg_store_url) as conn:
        assert conn.execute("SELECT count(*) FROM product_insight").fetchone()[0] == insights  # type: ignore[index]


def test_a_failed_step_fails_the_run_with_its_reason(data_dir: Path) -> None:
    """A local file that does not exist: no retry (it would fail the same way), the run is Failed and its
    state message names the cause."""
    from flows.nightly import nightly

    missing = data_dir / "nowhere" / "products.jsonl.gz"
    state = nightly(flavor="off", url=str(missing), min_lines=0, return_state=True)
    assert state.is_failed()
    assert "no dump file" in str(state.result(raise_on_failure=False))
    assert not (data_dir / "parquet").exists()


@pytest.mark.usefixtures("production_guard")
def test_nightly_floor_and_force_reach_the_snapshot_guard(
    dump: Path, data_dir: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    """``min_lines`` is the floor of the dump's lines and of the snapshot's rows; ``force`` accepts a
    snapshot that shrinks. A refused snapshot fails the run at the conversion: nothing replaced, no
    refresh."""
    from flows.nightly import nightly
    from pipelines.convert.convert import convert_dump

    convert_dump(dump, "off", min_rows=0)  # the installed snapshot: the dump's 150 products
    out = data_dir / "parquet" / "off"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    lines = len(gzip.decompress(dump.read_bytes()).splitlines())
    assert lines > 150  # the dump has bad lines: rows < lines

    state = nightly(flavor="off", url=str(dump), min_lines=lines, facets=False, return_state=True)
    assert state.is_failed()
    assert f"150 rows, fewer than the minimum {lines:,}" in str(state.result(raise_on_failure=False))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not (data_dir / "store.duckdb").exists()  # the refresh did not run

    smaller = dump.with_name("smaller.jsonl.gz")
    spec = SynthSpec(products=100, seed=12, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, smaller)
    state = nightly(flavor="off", url=str(smaller), min_lines=0, facets=False, return_state=True)
    assert state.is_failed()
    assert "of the previous snapshot's 150" in str(state.result(raise_on_failure=False))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    forced = nightly(flavor="off", url=str(smaller), min_lines=0, force=True, facets=False)
    convert = forced["steps"]["convert"]
    assert (convert["rows_out"], convert["previous_rows"], convert["shrink_accepted"]) == (100, 150, True)
    assert forced["outcome"] == "completed" and forced["steps"]["refresh"] is not None


def test_nightly_syncs_the_images_bucket_then_predicts_from_its_dataset(
    dump: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.nightly import nightly

    lines = gzip.decompress(dump.with_name("ocr.jsonl.gz").read_bytes()).splitlines()
    with DumpServer() as bucket:
        serve_as_bucket(bucket, lines)
        monkeypatch.setenv("OFF_OCR_BUCKET_URL", bucket.base)
        first = nightly(flavor="off", url=str(dump), min_lines=0, ocr="bucket", facets=False)
        sync, predicted = first["steps"]["ocr_sync"], first["steps"]["refresh"]["predict"]
        assert sync["rows_out"] == len(lines) == predicted["images"] and sync["quarantined_total"] == 0
        assert Path(sync["dataset"]) == data_dir / "parquet" / "off" / "ocr_texts"
        assert _counts("nightly-off-counts")[("ocr sync", "rows out")] == len(lines)
        markdown = max(artifact("nightly-off"), key=lambda a: a.created).data
        assert f"OCR from the images bucket: {len(lines)} new images" in markdown

        again = nightly(flavor="off", url=str(dump), min_lines=0, ocr="bucket", facets=False, force=True)
        sync, predicted = again["steps"]["ocr_sync"], again["steps"]["refresh"]["predict"]
        assert (sync["rows_out"], sync["present"]) == (0, len(lines))  # nothing fetched again…
        assert predicted["images"] == 0 and predicted["images_already_predicted"] == len(
            lines
        )  # …or predicted


def test_nightly_with_a_dask_scheduler_runs_the_ocr_in_shards_there(
    dump: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    from flows.nightly import nightly

    lines = gzip.decompress(dump.with_name("ocr.jsonl.gz").read_bytes()).splitlines()
    with (
        DumpServer() as bucket,
        LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster,
    ):
        serve_as_bucket(bucket, lines)
        monkeypatch.setenv("OFF_OCR_BUCKET_URL", bucket.base)
        monkeypatch.setenv("OFF_DASK_ADDRESS", cluster.scheduler_address)
        run = nightly(flavor="off", url=str(dump), min_lines=0, ocr="bucket", facets=False)
        executed = cluster.scheduler.transition_counter
    sync, predicted = run["steps"]["ocr_sync"], run["steps"]["refresh"]["predict"]
    assert sync["rows_out"] == len(lines) and sync["shards"] >= 1 and executed > 0
    # the shards predicted and imported every image: the refresh finds them in the ledger
    assert predicted["images"] == 0 and predicted["images_already_predicted"] == len(lines)
    assert f"OCR from the images bucket: {len(lines)} new images" in nightly_markdown_of(run)
    con = duckdb.connect(str(data_dir / "store.duckdb"), read_only=True)
    try:
        ocr_predictions = con.execute(
            "SELECT count(*) FROM prediction WHERE source_image IS NOT NULL"
        ).fetchone()
    finally:
        con.close()
    assert ocr_predictions is not None and ocr_predictions[0] > 0


def nightly_markdown_of(run: dict) -> str:
    from pipelines.nightly import nightly_markdown

    return nightly_markdown(run)
