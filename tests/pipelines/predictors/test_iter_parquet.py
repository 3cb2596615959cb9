"""Reading the OCR dataset in batches: its many small parts come out as full batches, every row once."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.predictors.bulk import iter_parquet


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
