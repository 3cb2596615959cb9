"""Reading the OCR dataset in batches: its many small parts come out as full batches, every row once."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.predictors.bulk import iter_folders, iter_parquet


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(1, 60))
def test_a_folder_of_parts_reads_as_full_batches(sizes: list[int], batch: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = 0
        for index, size in enumerate(sizes):
            part = folder / f"prefix={index % 4:03d}" / f"part-{index}.parquet"
            part.parent.mkdir(exist_ok=True)
            pq.write_table(pa.table({"x": pa.array(range(start, start + size), pa.int64())}), part)
            start += size
        (folder / "_quarantine").mkdir()
        (folder / "_quarantine" / "run.jsonl").write_text("{}\n")  # not a part
        tables = list(iter_parquet(folder, ["x", "absent"], batch))
    *full, last = [t.num_rows for t in tables]
    assert full == [batch] * len(full) and 0 < last <= batch
    assert sorted(v for t in tables for v in t.column("x").to_pylist()) == list(range(start))
    assert all(t.column_names == ["x"] for t in tables)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30), st.integers(1, 60), st.data())
def test_some_folders_read_as_full_batches_across_them(
    sizes: list[int], batch: int, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start, rows = 0, {}
        for index, size in enumerate(sizes):
            name = f"prefix={index % 5:03d}"
            part = folder / name / f"part-{index}.parquet"
            part.parent.mkdir(exist_ok=True)
            pq.write_table(pa.table({"x": pa.array(range(start, start + size), pa.int64())}), part)
            rows.setdefault(name, []).extend(range(start, start + size))
            start += size
        (folder / sorted(rows)[0] / ".part-tmp.parquet").write_bytes(b"half-written")  # not a part
        chosen = sorted(data.draw(st.sets(st.sampled_from(sorted(rows)), min_size=1)))
        tables = list(iter_folders([folder / name for name in chosen] + [folder / "absent"], None, batch))
    *full, last = [t.num_rows for t in tables]
    assert all(n == batch for n in full) and 0 < last <= batch
    read = [x for t in tables for x in t.column("x").to_pylist()]
    assert sorted(read) == sorted(x for name in chosen for x in rows[name])
