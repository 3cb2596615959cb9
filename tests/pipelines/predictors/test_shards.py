"""The OCR pass in shards of barcode prefix (``pipelines.predictors.shards``), run here one shard after the
other: the same store as the in-process run, a failed shard redone alone, the key list cut per shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.common.config import get_settings
from pipelines.ocr.ingest import default_output, ingest_archive
from pipelines.predictors.bulk import run_predictions
from pipelines.predictors.ocr_ledger import predictors_fingerprint
from pipelines.predictors.resources import default_resources
from pipelines.predictors.shards import (
    OTHER_SHARD,
    ShardedOcr,
    ShardError,
    in_process,
    pass_dir,
    predict_shard,
    shard_of_key,
    split_keys,
)

_VOLATILE = ("id", "timestamp")


@pytest.fixture
def dataset(ocr_archive: Path, data_dir: Path) -> Path:
    """The synthetic archive's OCR texts as the images bucket's dataset: one part per barcode prefix."""
    ingest_archive(ocr_archive, flavor="off")
    table = pq.read_table(default_output("off"))
    folder = data_dir / "parquet" / "off" / "ocr_texts"
    prefixes = pc.utf8_slice_codeunits(table.column("barcode"), 0, 3)
    for prefix in sorted(set(prefixes.to_pylist())):
        part = folder / f"prefix={prefix}" / "part-test-00000.parquet"
        part.parent.mkdir(parents=True)
        pq.write_table(table.filter(pc.equal(prefixes, prefix)), part)
    return folder


def _predictions(store: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(store), read_only=True)
    try:
        columns = [c[0] for c in con.execute("DESCRIBE prediction").fetchall() if c[0] not in _VOLATILE]
        return sorted(con.execute(f"SELECT {', '.join(columns)} FROM prediction").fetchall(), key=repr)
    finally:
        con.close()


def test_the_sharded_pass_stores_what_the_in_process_run_stores(dataset: Path, data_dir: Path) -> None:
    here = run_predictions("off", ocr_table=dataset, store=data_dir / "here.duckdb")
    sharded = ShardedOcr("off", in_process, shard_images=40)
    shards = run_predictions("off", ocr_table=dataset, store=data_dir / "shards.duckdb", ocr_shards=sharded)
    assert shards.images == here.images > 0 and shards.per_type == here.per_type
    assert shards.predictions == here.predictions
    assert _predictions(data_dir / "shards.duckdb") == _predictions(data_dir / "here.duckdb")
    assert len(sharded.results) > 1  # several shards of about 40 images
    assert all(result["images"] >= 40 for result in sharded.results[:-1])
    sharded.clear()
    assert not pass_dir("off", get_settings()).exists()
    again = ShardedOcr(
        "off", in_process, shard_images=40
    )  # the ledger now covers every image: no shard has work
    rerun = run_predictions("off", ocr_table=dataset, store=data_dir / "shards.duckdb", ocr_shards=again)
    assert again.results == [] and rerun.images == 0 and rerun.images_already_predicted == here.images


def test_a_failed_shard_is_redone_alone_by_the_rerun(dataset: Path, data_dir: Path) -> None:
    run_predictions("off", ocr_table=dataset, store=data_dir / "clean.duckdb")
    lost: list[str] = []

    def worker_lost(function: Any, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every shard runs, but the worker of one is lost: the step fails once all have ended."""
        lost.extend(calls[len(calls) // 2]["prefixes"])
        results = [function(**kwargs) for kwargs in calls if kwargs["prefixes"] != lost]
        raise RuntimeError(f"worker of shard {lost} lost after {len(results)} others had ended")

    store = data_dir / "store.duckdb"
    with pytest.raises(RuntimeError, match="lost"):
        run_predictions(
            "off", ocr_table=dataset, store=store, ocr_shards=ShardedOcr("off", worker_lost, shard_images=40)
        )
    done = list((pass_dir("off", get_settings()) / "predictions").glob("*.parquet"))
    sharded = ShardedOcr("off", in_process, shard_images=40)
    run_predictions("off", ocr_table=dataset, store=store, ocr_shards=sharded)
    assert len(done) == len(sharded.results) - 1 > 1  # every shard but the lost one had ended
    redone = [result["prefix"] for result in sharded.results if not result["skipped"]]
    assert redone == [lost[0] if len(lost) == 1 else f"{lost[0]}-{lost[-1]}"]
    assert _predictions(store) == _predictions(data_dir / "clean.duckdb")


def test_a_worker_with_other_reference_data_refuses_its_shard(dataset: Path, tmp_path: Path) -> None:
    current = predictors_fingerprint(default_resources())
    other = current.replace("label=", "label=0", 1)
    with pytest.raises(ShardError, match="reference data differ"):
        predict_shard(
            "off", str(dataset), ["301"], str(tmp_path / "p.parquet"), str(tmp_path / "o.parquet"), other
        )


def test_the_pass_needs_the_dataset_not_one_table(ocr_archive: Path, data_dir: Path) -> None:
    ingest_archive(ocr_archive, flavor="off")
    with pytest.raises(ShardError, match="OCR dataset"):
        run_predictions(
            "off", ocr_table=default_output("off"), ocr_shards=ShardedOcr("off", in_process, shard_images=40)
        )


@pytest.mark.parametrize(
    ("key", "shard"),
    [
        ("data/301/762/042/2003/1.json.gz", "301"),
        ("data/12345678/2.json.gz", "123"),
        ("data/1/1.json.gz", OTHER_SHARD),  # a 1-digit folder: its sync quarantines it
        ("data/abc/1.json.gz", OTHER_SHARD),
        ("data/301/762/042/2003/1.jpg", None),
        ("data/data_keys.gz", None),
        ("301/762/042/2003/1.json.gz", None),
    ],
)
def test_shard_of_key(key: str, shard: str | None) -> None:
    assert shard_of_key(key) == shard


@given(
    st.lists(st.from_regex(r"data/[0-9a-z]{1,4}(/[0-9]{3}){0,3}/[0-9]{1,2}\.(json\.gz|jpg)", fullmatch=True)),
    st.integers(min_value=1, max_value=5),
)
def test_split_keys_cuts_the_sorted_list_into_runs_of_whole_prefixes(keys: list[str], size: int) -> None:
    import tempfile

    keys = sorted(keys)  # as the bucket lists them
    with tempfile.TemporaryDirectory() as folder:
        files = split_keys(keys, Path(folder), shard_keys=size)
        shards = [path.read_text().splitlines() for path in files]
    assert [key for shard in shards for key in shard] == [k for k in keys if k.endswith(".json.gz")]
    assert all(len(shard) >= size for shard in shards[:-1])  # only the last may be short
    seen: set[str | None] = set()
    for shard in shards:  # a prefix never spans two shards (the "other" keys fall where they sort)
        prefixes = {shard_of_key(key) for key in shard} - {OTHER_SHARD}
        assert not prefixes & seen
        seen |= prefixes


def test_split_keys_with_a_prefix_keeps_its_keys_only(tmp_path: Path) -> None:
    keys = ["data/1/1.json.gz", "data/301/762/1.json.gz", "data/3017/1.json.gz", "data/302/1/1.json.gz"]
    [only] = split_keys(keys, tmp_path, prefix="3017")
    assert only.read_text().split() == ["data/301/762/1.json.gz", "data/3017/1.json.gz"]
    assert sum(len(p.read_text().split()) for p in split_keys(keys, tmp_path / "b", prefix="30")) == 3
