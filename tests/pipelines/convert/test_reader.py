"""The dump reader: every line comes out once, whole, numbered, whatever the block and read sizes."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pipelines.convert import reader

GZIP_MAGIC = b"\x1f\x8b"

LINES = st.lists(
    st.one_of(
        st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")),
        # longer than a block: the block grows
        st.integers(min_value=100, max_value=700).map(lambda n: b"{" + b"a" * n + b"}"),
    ),
    max_size=60,
)


def _read_back(path: Path, rows: int, first_rows: int | None) -> list[tuple[int, bytes]]:
    """The lines of ``path``, read with every other table kept alive until the end: blocks of the tables
    dropped on the way are reused for later ones, and the tables kept must still hold their own lines."""
    read: dict[int, list[tuple[int, bytes]]] = {}
    kept: dict[int, pa.Table] = {}
    table_rows: dict[int, int] = {}
    tables = reader.iter_line_tables(path, rows=rows, chunk_rows=7, first_rows=first_rows)
    for index, table in enumerate(tables):
        wanted = (first_rows or rows) if index == 0 else rows
        assert table.num_rows < wanted + 7  # whole record batches, at most `chunk_rows` lines each
        if index > 0:  # only the last table may be short: check the previous one now
            assert table_rows[index - 1] >= ((first_rows or rows) if index == 1 else rows)
        table_rows[index] = table.num_rows
        if index % 2:
            read[index] = _lines(table)
        else:
            kept[index] = table
        del table
    read.update({index: _lines(table) for index, table in kept.items()})
    return [line for index in sorted(read) for line in read[index]]


def _lines(table: pa.Table) -> list[tuple[int, bytes]]:
    return list(zip(table.column("line_no").to_pylist(), table.column("line").to_pylist(), strict=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=LINES,
    last_newline=st.booleans(),
    compressed=st.booleans(),
    rows=st.integers(1, 20),
    first_rows=st.none() | st.integers(1, 5),
    find_limit=st.integers(1, 4),
)
def test_lines_come_back_whole_and_numbered(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    last_newline: bool,
    compressed: bool,
    rows: int,
    first_rows: int | None,
    find_limit: int,
) -> None:
    # Tiny blocks and reads: lines straddle reads, blocks fill up mid-line, long lines grow a block (and
    # blocks are reused from the pool while earlier batches are still alive).
    monkeypatch.setattr(reader, "BLOCK_BYTES", 64)
    monkeypatch.setattr(reader, "READ_SIZE", 37)
    monkeypatch.setattr(reader, "PIECE_BYTES", 29)
    # Newlines found one by one, then by numpy for the rest of a piece.
    monkeypatch.setattr(reader, "_FIND_LIMIT", find_limit)
    data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    # The reader recognizes gzip by its magic bytes, not by the file name: a plain file that begins with
    # them is read as (truncated) gzip — see test_a_plain_file_that_begins_like_gzip_is_an_error.
    assume(compressed or not data.startswith(GZIP_MAGIC))
    path = tmp_path / ("dump.jsonl.gz" if compressed else "dump.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)

    got = _read_back(path, rows, first_rows)

    expected_lines = data.split(b"\n")
    if data.endswith(b"\n") or not data:
        expected_lines = expected_lines[:-1]
    assert [number for number, _ in got] == list(range(1, len(expected_lines) + 1))
    # Each value is its line plus the newline (one is added to a last line without it).
    assert [line for _, line in got] == [line + b"\n" for line in expected_lines]


def test_a_plain_file_that_begins_like_gzip_is_an_error(tmp_path: Path) -> None:
    """No dump line can begin with the gzip magic bytes (not JSON, not UTF-8): such a file is taken for gzip
    and refused with a clear error rather than read as text."""
    path = tmp_path / "dump.jsonl"
    path.write_bytes(GZIP_MAGIC + b'{"code": "1"}\n')
    with pytest.raises(reader.DumpReadError, match="gzip"):
        list(reader.iter_line_tables(path, rows=10))


def test_prepare_runs_on_the_reader_thread_with_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "BLOCK_BYTES", 64)  # a few lines per record batch
    path = tmp_path / "dump.jsonl"
    path.write_bytes(b"".join(b'{"code": "%d"}\n' % i for i in range(1, 101)))

    def prepare(table):  # what the conversion does with language_keys: work done ahead, off the main thread
        return threading.current_thread().name, table.column("line_no")[0].as_py(), table.num_rows

    got = list(reader.background_prepared(path, prepare, rows=30, first_rows=5))

    assert {name for _, (name, _, _) in got} == {"dump-reader"}
    assert [first for _, (_, first, _) in got] == [table.column("line_no")[0].as_py() for table, _ in got]
    assert [size for _, (_, _, size) in got] == [table.num_rows for table, _ in got]
    sizes = [table.num_rows for table, _ in got]
    assert sum(sizes) == 100 and 5 <= sizes[0] < 10 and all(30 <= size < 35 for size in sizes[1:-1])
