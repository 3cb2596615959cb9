"""The snapshot's lookup copy: the same rows as the snapshot for the columns the per-product path reads,
found by decoding one small record batch; stale when the snapshot changes; built in the background."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from pipelines.common.config import Flavor, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.listener import lookup as lookup_module
from pipelines.listener.lookup import LOOKUP_COLUMNS, LookupStaleError, SnapshotLookup
from pipelines.listener.sources import SnapshotSource, snapshot_rows
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real off sample converted, plus 60 duplicated codes (later dump lines), as a snapshot file."""
    out = tmp_path_factory.mktemp("convert")
    convert_dump(shared_path("products") / "off-real-sample.jsonl.gz", "off", out_dir=out)
    table = pq.read_table(out / "products.parquet")
    extra = table.slice(0, 60)
    extra = extra.set_column(
        extra.schema.get_field_index("dump_line"),
        "dump_line",
        pc.add(extra.column("dump_line"), pa.scalar(10_000, pa.int64())),
    )
    folder = tmp_path_factory.mktemp("parquet") / "parquet" / "off"
    folder.mkdir(parents=True)
    pq.write_table(pa.concat_tables([table, extra]), folder / "products.parquet", row_group_size=100_000)
    return folder / "products.parquet"


def test_lookup_rows_equal_the_snapshot_rows(snapshot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup_module, "LOOKUP_BATCH_ROWS", 7)  # duplicates straddle batch boundaries
    lookup = SnapshotLookup(snapshot)
    assert not lookup.ready()
    lookup.build()
    assert lookup.ready() and ipc.open_file(lookup.path).num_record_batches > 100
    codes = pq.read_table(snapshot, columns=["normalized_code"]).column(0).to_pylist()
    asked = [*sorted(set(codes))[::5], "3000000000001"]  # every fifth product, and one absent
    found = lookup.rows(asked)
    expected = snapshot_rows(snapshot, asked)
    assert found.schema == expected.schema
    assert found.select(list(LOOKUP_COLUMNS)).equals(expected.select(list(LOOKUP_COLUMNS)))
    assert found.num_rows == expected.num_rows > len(asked) - 1  # duplicates included
    others = [name for name in found.column_names if name not in LOOKUP_COLUMNS]
    assert all(found.column(name).null_count == found.num_rows for name in others)
    for code in codes[:60]:  # each duplicated code: both rows, whichever batches they landed in
        assert lookup.rows([code]).num_rows == 2


def test_a_new_snapshot_makes_the_copy_stale(snapshot: Path, tmp_path: Path) -> None:
    copy = tmp_path / "products.parquet"
    copy.write_bytes(snapshot.read_bytes())
    lookup = SnapshotLookup(copy)
    lookup.build()
    assert lookup.ready()
    time.sleep(0.01)
    pq.write_table(pq.read_table(snapshot).slice(0, 10), copy)  # the nightly run replaces the snapshot
    assert not lookup.ready()


def test_the_snapshot_source_builds_its_copy_in_the_background(snapshot: Path) -> None:
    data = snapshot.parents[2]
    settings = get_settings({"OFF_DATA_DIR": str(data)})
    source = SnapshotSource(settings, lookup=True)
    codes = pq.read_table(snapshot, columns=["normalized_code"]).column(0).to_pylist()[:20]
    first = source.rows(Flavor.off, codes, {})  # from the snapshot, while the copy is being built
    lookup = source._lookups[snapshot]
    deadline = time.monotonic() + 60
    while not lookup.ready():
        assert time.monotonic() < deadline, "the lookup copy was not built"
        time.sleep(0.05)
    second = source.rows(Flavor.off, codes, {})  # from the copy
    assert second.select(list(LOOKUP_COLUMNS)).equals(first.select(list(LOOKUP_COLUMNS)))


def test_a_copy_replaced_under_the_reader_sends_it_to_the_snapshot(snapshot: Path, tmp_path: Path) -> None:
    """A rebuild swaps the file before its sidecar: a reader that sees them disagree reads the snapshot."""
    folder = tmp_path / "parquet" / "off"
    folder.mkdir(parents=True)
    copy = folder / "products.parquet"
    copy.write_bytes(snapshot.read_bytes())
    lookup = SnapshotLookup(copy)
    lookup.build()
    meta = json.loads(lookup.meta.read_text())
    meta["first_codes"] = meta["first_codes"][:-1]  # the sidecar of another build
    lookup.meta.write_text(json.dumps(meta))
    assert lookup.ready()
    with pytest.raises(LookupStaleError):
        lookup.rows(["3000000000001"])
    source = SnapshotSource(get_settings({"OFF_DATA_DIR": str(tmp_path)}), lookup=True)
    source._lookups[copy] = lookup
    codes = pq.read_table(copy, columns=["normalized_code"]).column(0).to_pylist()[:5]
    assert sorted(source.rows(Flavor.off, codes, {}).column("normalized_code").to_pylist()) == sorted(
        snapshot_rows(copy, codes).column("normalized_code").to_pylist()
    )
