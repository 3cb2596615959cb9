"""The ``ocr-pass`` flow on a real Prefect API: the images bucket stand-in on 127.0.0.1 synced and predicted
shard by shard, in this process (through the CLI) and on a 2-process Dask ``LocalCluster``, with the same
predictions in the store."""

from __future__ import annotations

import gzip
import json
import os
import socket
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.synth.generator import SynthSpec, generate
from tests.support.http_server import DumpServer, serve_as_bucket

pytestmark = pytest.mark.usefixtures("prefect_api")


def _predictions(store: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        columns = [
            c[0] for c in con.execute("DESCRIBE prediction").fetchall() if c[0] not in ("id", "timestamp")
        ]
        return sorted(con.execute(f"SELECT {', '.join(columns)} FROM prediction").fetchall(), key=repr)
    finally:
        con.close()


def test_the_pass_on_a_local_dask_cluster_stores_what_the_in_process_pass_stores(
    data_dir: Path, taxonomy_dir: Path, keywords_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.ocr import run_ocr_pass
    from pipelines.convert.convert import convert_dump

    monkeypatch.setenv("OFF_KEYWORDS_DIR", str(keywords_dir))
    monkeypatch.setenv("OFF_TAXONOMY_DIR", str(taxonomy_dir))
    source = data_dir.parent / "source"
    source.mkdir()
    spec = SynthSpec(products=150, seed=11, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir)
    generate(spec, source / "products.jsonl.gz", ocr_out=source / "ocr.jsonl.gz")
    convert_dump(source / "products.jsonl.gz", "off")
    lines = gzip.decompress((source / "ocr.jsonl.gz").read_bytes()).splitlines()
    with DumpServer() as bucket:
        serve_as_bucket(bucket, lines, ("data/1/1.json.gz",))  # a 1-digit folder: quarantined by its shard
        monkeypatch.setenv("OFF_OCR_BUCKET_URL", bucket.base)

        here = data_dir / "here.duckdb"
        sizes = ["--shard-keys", "40", "--shard-images", "40"]  # several shards of a small bucket
        result = CliRunner().invoke(app, ["ocr-pass", "--store", str(here), *sizes])
        assert result.exit_code == 0, result.output
        first = json.loads(result.stdout[result.stdout.index("{") :])
        sync = first["sync"]
        assert sync["rows_out"] == len(lines) and sync["quarantined"] == {"invalid_barcode": 1}
        assert sync["shards"] > 1
        assert first["predict"]["images"] == len(lines) and first["shards"]["predicted"] > 1

        on_dask = run_ocr_pass(
            workers=2, flavor="off", store=str(data_dir / "dask.duckdb"), shard_keys=40, shard_images=40
        )
    assert on_dask["sync"]["present"] == len(lines) and on_dask["sync"]["rows_out"] == 0  # nothing fetched
    assert on_dask["predict"]["images"] == len(lines)  # a new store: its ledger is empty
    assert {k: v for k, v in on_dask["shards"].items() if k != "workers"} == {
        k: v for k, v in first["shards"].items() if k != "workers"
    }
    here_pid = f"{socket.gethostname()}:{os.getpid()}"
    assert first["shards"]["workers"] == first["sync"]["workers"] == [here_pid]  # one after the other, here
    assert len(on_dask["shards"]["workers"]) == 2 and here_pid not in on_dask["shards"]["workers"]
    assert _predictions(data_dir / "dask.duckdb") == _predictions(here)
    assert not (data_dir / "tmp" / "ocr-pass-off").exists()  # the pass's files go once imported


def test_the_shards_run_where_they_are_told() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.ocr import task_runner

    here = task_runner()
    assert isinstance(here, ThreadPoolTaskRunner) and here._max_workers == 1  # one shard at a time
    assert isinstance(task_runner(workers=1), ThreadPoolTaskRunner)
    local = task_runner(workers=3)
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 3 and local.cluster_kwargs["threads_per_worker"] == 1
    remote = task_runner(workers=3, address="tcp://10.0.0.5:8786")  # the scheduler wins
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
