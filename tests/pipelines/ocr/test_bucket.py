"""The images bucket as an OCR source, against a bucket stand-in on 127.0.0.1 serving the synthetic archive's
images as ``data/<folder>/<imgid>.json.gz`` with their key list, plus broken ones."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.common.config import get_settings
from pipelines.common.http import RetryPolicy
from pipelines.ocr.bucket import BucketSyncError, OcrKey, dataset_path, select_keys, sync_bucket
from pipelines.ocr.ingest import ocr_texts_for
from pipelines.ocr.rows import build_row
from pipelines.predictors.bulk import iter_parquet
from pipelines.predictors.ocr_ledger import ocr_hashes
from tests.pipelines.ocr.conftest import SynthOcr
from tests.support.http_server import DumpServer, ServedFile

FAST = RetryPolicy(attempts=3, backoff_s=0.01)
BROKEN = {
    "data/301/762/042/2003/7.json.gz": b"\x1f\x8b\x08\x00truncated",  # corrupt gzip
    "data/301/762/042/2004/1.json.gz": gzip.compress(b"<html>not json</html>"),
    "data/1/1.json.gz": None,  # a 1-digit barcode folder: never fetched
    "data/301/762/042/2005/2.json.gz": None,  # listed, absent: 404
}


class Bucket:
    def __init__(self, server: DumpServer, keys: list[str], good: dict[str, dict]) -> None:
        self.server, self.keys, self.good = server, keys, good

    def fetched(self) -> list[str]:
        return [r["path"] for r in self.server.requests if r["path"].endswith(".json.gz")]


@pytest.fixture
def bucket(synth_ocr: SynthOcr) -> Iterator[Bucket]:
    good: dict[str, dict] = {}
    with DumpServer() as server:
        for line in synth_ocr.lines():
            record = orjson.loads(line)
            key = "data" + record["source"] + ".gz"
            good[key] = record["content"]
            server.files["/" + key] = ServedFile(gzip.compress(orjson.dumps(record["content"])))
            server.files["/" + key.replace(".json.gz", ".jpg")] = ServedFile(b"jpeg")
        for key, body in BROKEN.items():
            if body is not None:
                server.files["/" + key] = ServedFile(body)
        listed = [path[1:] for path in server.files] + [k for k, body in BROKEN.items() if body is None]
        keys = sorted(listed)
        server.files["/data/data_keys.gz"] = ServedFile(gzip.compress("\n".join(keys).encode() + b"\n"))
        yield Bucket(server, keys, good)


def settings_for(bucket: Bucket, tmp_path: Path):
    return get_settings({"OFF_DATA_DIR": str(tmp_path / "data"), "OFF_OCR_BUCKET_URL": bucket.server.base})


def dataset_rows(tmp_path: Path, bucket: Bucket) -> list[dict]:
    folder = dataset_path("off", settings_for(bucket, tmp_path))
    prefix = ds.partitioning(pa.schema([("prefix", pa.string())]), flavor="hive")
    table = ds.dataset(folder, format="parquet", partitioning=prefix, exclude_invalid_files=True).to_table()
    return table.sort_by([("barcode", "ascending"), ("image_id", "ascending")]).to_pylist()


def test_every_good_image_lands_once_and_bad_ones_are_counted(bucket: Bucket, tmp_path: Path) -> None:
    settings = settings_for(bucket, tmp_path)
    report = sync_bucket("off", settings=settings, workers=4, batch=50, retry=FAST)
    good = len(bucket.good)
    assert report.rows_out == good and report.present == 0
    assert report.quarantined == {"invalid_barcode": 1, "not_found": 1, "not_json": 2}
    assert report.selected == good + 4 == report.present + report.rows_out + sum(report.quarantined.values())
    rows = dataset_rows(tmp_path, bucket)
    assert len(rows) == good == len({(r["barcode"], r["image_id"]) for r in rows})
    # the very row the archive ingestion builds for the image
    row = rows[0]
    key = row["ocr_source"].removeprefix(bucket.server.base + "/")
    expected = build_row(
        bucket.good[key], barcode=row["barcode"], image_id=row["image_id"], source=row["ocr_source"]
    )
    assert {k: v for k, v in row.items() if k in expected} == expected
    assert all(r["prefix"] == r["barcode"][:3] for r in rows)
    quarantine = next((settings.parquet_dir("off") / "ocr_texts" / "_quarantine").glob("*.jsonl"))
    reasons = [json.loads(line)["reason"] for line in quarantine.read_text().splitlines()]
    assert sorted(reasons) == ["invalid_barcode", "not_found", "not_json", "not_json"]


def test_a_rerun_fetches_nothing_new(bucket: Bucket, tmp_path: Path) -> None:
    settings = settings_for(bucket, tmp_path)
    first = sync_bucket("off", settings=settings, retry=FAST)
    fetched = len(bucket.fetched())
    again = sync_bucket("off", settings=settings, retry=FAST)
    assert again.present == first.rows_out and again.rows_out == 0
    assert len(bucket.fetched()) - fetched == 3  # only the failed ones are asked again
    assert len(dataset_rows(tmp_path, bucket)) == first.rows_out


def test_a_prefix_selects_its_barcodes_only(bucket: Bucket, tmp_path: Path) -> None:
    codes = sorted({k.split("/")[1] for k in bucket.good})
    prefix = codes[0]
    report = sync_bucket("off", settings=settings_for(bucket, tmp_path), prefix=prefix, retry=FAST)
    rows = dataset_rows(tmp_path, bucket)
    assert rows and all(r["barcode"].startswith(prefix) for r in rows) and report.rows_out == len(rows)


def test_transient_failures_are_retried(bucket: Bucket, tmp_path: Path) -> None:
    bucket.server.behaviour.fail_5xx = 2  # the key list's first two answers
    report = sync_bucket("off", settings=settings_for(bucket, tmp_path), retry=FAST)
    assert report.rows_out == len(bucket.good)


def test_one_clear_error_when_the_sync_cannot_run(bucket: Bucket, tmp_path: Path) -> None:
    settings = settings_for(bucket, tmp_path)
    with pytest.raises(BucketSyncError, match="Open Food Facts' images only"):
        sync_bucket("obf", settings=settings)
    with pytest.raises(BucketSyncError, match="must be digits"):
        sync_bucket("off", settings=settings, prefix="30/../")
    del bucket.server.files["/data/data_keys.gz"]
    with pytest.raises(BucketSyncError, match="key list could not be downloaded"):
        sync_bucket("off", settings=settings, retry=FAST)


def test_key_selection() -> None:
    lines = [
        "data/301/762/042/2003/1.json.gz\n",
        "data/301/762/042/2003/1.jpg\n",
        "data/301/762/042/2003/1.400.jpg\n",
        "data/12345678/2.json.gz\n",  # a short code's folder
        "data/301/762/042/2003/x.json.gz\n",
        "other/301/762/042/2003/3.json.gz\n",
    ]
    found = list(select_keys(lines))
    assert found[:2] == [
        OcrKey("data/301/762/042/2003/1.json.gz", "3017620422003", "1"),
        OcrKey("data/12345678/2.json.gz", "12345678", "2"),
    ]
    assert found[2][:2] == ("data/301/762/042/2003/x.json.gz", "invalid_image_id")
    assert [k.barcode for k in select_keys(lines, "123") if isinstance(k, OcrKey)] == ["12345678"]


def test_the_command(bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OFF_OCR_BUCKET_URL", bucket.server.base)
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(k for k in bucket.keys if k in bucket.good) + "\n")
    done = CliRunner().invoke(app, ["ocr-sync", "--keys", str(keys), "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["rows_out"] == len(bucket.good)
    assert not any(r["path"] == "/data/data_keys.gz" for r in bucket.server.requests)
    bad = CliRunner().invoke(app, ["ocr-sync", "--flavor", "obf"])
    assert bad.exit_code == 1 and "error: the images bucket holds" in bad.output


def test_the_dataset_reads_as_the_archive_table_does(
    bucket: Bucket, synth_ocr: SynthOcr, tmp_path: Path
) -> None:
    """What the predictors and the OCR ledger read from the synced dataset equals the archive's table."""
    settings = settings_for(bucket, tmp_path)
    sync_bucket("off", settings=settings, batch=40, retry=FAST)
    dataset = dataset_path("off", settings)
    assert ocr_texts_for(dataset, "off") == (dataset, None)
    archive_table, report = ocr_texts_for(synth_ocr.archive, "off", settings=settings)
    assert report is not None and report.rows_out == len(bucket.good)
    key = [("barcode", "ascending"), ("image_id", "ascending")]
    synced = pa.concat_tables(iter_parquet(dataset, None, 64)).sort_by(key)
    ingested = pq.read_table(archive_table).sort_by(key)
    assert synced.drop_columns(["ocr_source"]).equals(ingested.drop_columns(["ocr_source"]))
    # the ledger reads the folder as it reads a table (its hash covers the OCR's source: a bucket URL here)
    by_image = [("source_image", "ascending")]
    hashed = ocr_hashes(dataset).sort_by(by_image)
    assert hashed.num_rows == len(bucket.good) and hashed.equals(ocr_hashes(synced).sort_by(by_image))


def test_an_unchanged_key_list_is_not_downloaded_again(bucket: Bucket, tmp_path: Path) -> None:
    settings = settings_for(bucket, tmp_path)
    sync_bucket("off", settings=settings, retry=FAST)
    again = sync_bucket("off", settings=settings, retry=FAST)
    asked = [r for r in bucket.server.requests if r["path"] == "/data/data_keys.gz"]
    assert len(asked) == 2 and "If-None-Match" not in asked[0]["headers"]
    assert asked[1]["headers"]["If-None-Match"] == bucket.server.files["/data/data_keys.gz"].etag
    assert again.keys_listed == len(bucket.keys) and again.rows_out == 0  # the kept copy was read
    bucket.server.files["/data/data_keys.gz"] = ServedFile(
        gzip.compress(b"data/301/762/042/2009/1.json.gz\n")
    )
    changed = sync_bucket("off", settings=settings, retry=FAST)
    assert changed.keys_listed == 1 and changed.quarantined == {"not_found": 1}
