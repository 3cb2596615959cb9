"""Streaming a dump into Arrow batches of raw lines, on a background thread.

Decompression (ISA-L's inflate, faster than zlib; multi-member gzip included) and line splitting (numpy
over large blocks, zero-copy Arrow buffers) run on a producer thread while DuckDB transforms the previous
batch; both release the GIL for their heavy work, so they overlap on a 2-core machine. Lines are numbered
from 1 and handed over as bytes: invalid UTF-8 must reach the classifier intact (the transformer repairs
what it refuses, ``repair.py``, and the quarantine keeps a refused line's original bytes).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from pipelines.common.errors import OffpipeError
from pipelines.common.gzip_stream import GzipDecodeError, GzipStream

BATCH_SCHEMA = pa.schema([pa.field("line_no", pa.int64()), pa.field("line", pa.large_binary())])
# Compressed (or plain) bytes read at a time. The decoder hands back what it did not consume of them as a new
# bytes object after every piece: 2 MB reads copied about four times the dump's size in those tails, 256 KB
# reads a tenth of it (figures in ``docs/dumps.md``).
READ_SIZE = 256 * 1024
# Decompressed data comes out in pieces of this size at most: small pieces are recycled by malloc, whereas an
# output of tens of MB is fresh mmapped memory every time, whose page faults cost about as much system time as
# the inflate itself.
PIECE_BYTES = 256 * 1024
# Decompressed data is copied into blocks of this size; every block holds whole lines and record batches are
# zero-copy slices of a block (~480 lines of 17 KB). A table of lines keeps every block it touches alive, and
# blocks of 64 MB were each a fresh mapping of their own: 8 MB blocks cut the conversion's peak RSS at the
# same speed; 4 MB blocks were slower (DuckDB's cost per vector is high with ~180 output columns).
# Measurements in ``docs/dumps.md``. Blocks are reused once nothing refers to them (:class:`_BlockPool`).
BLOCK_BYTES = 8 * 1024 * 1024
# Blocks the pool holds on to, in use or free (~40 are in use at once with 6,144-line batches of real
# documents); past it, a free block is let go for each new one.
POOLED_BLOCKS = 64
_FIND_LIMIT = 64  # newlines looked for one by one in a decompressed piece before numpy scans the rest
_DONE = object()
T = TypeVar("T")


class DumpReadError(OffpipeError, RuntimeError):
    """The dump cannot be read to its end (corrupt or truncated compression)."""


def _chunks(path: Path) -> Iterator[bytes]:
    """Decompressed data of ``path`` in pieces (plain text files are passed through in chunks).

    The format is sniffed, but a ``.gz`` file that is not gzip data is refused, as the download refuses it:
    it is a wrong file (an error page saved under the dump's name), not a dump to read as text.
    """
    with path.open("rb") as handle:
        head = handle.read(2)
        handle.seek(0)
        if head != b"\x1f\x8b" and path.name.endswith(".gz"):
            raise DumpReadError(f"{path}: not gzip data (no gzip header) although named .gz")
        if head != b"\x1f\x8b":
            while chunk := handle.read(READ_SIZE):
                yield chunk
            return
        stream = GzipStream()
        while chunk := handle.read(READ_SIZE):
            try:
                yield from stream.pieces(chunk, PIECE_BYTES)
            except GzipDecodeError as exc:
                raise DumpReadError(f"{path}: corrupt gzip data ({exc})") from exc
        if not stream.eof:
            raise DumpReadError(f"{path}: gzip stream is truncated")


class _BlockPool:
    """Blocks of :data:`BLOCK_BYTES`, handed out again once no Arrow array refers to them any more.

    Each block is a numpy array wrapped without copy in an Arrow buffer, and every batch sliced from it holds
    a reference to that array, through Arrow (DuckDB's scan included); when only the pool refers to it, its
    lines are no longer used anywhere. Reusing it saves the kernel's work on fresh memory: blocks freed and
    allocated anew cost system time in zeroing and unmapping (``docs/dumps.md``). A block still
    in use is never handed out: in the worst case the pool allocates, as if there were no pool.
    """

    def __init__(self, size: int, keep: int = POOLED_BLOCKS) -> None:
        self.size = size
        self.keep = keep
        self.blocks: list[np.ndarray] = []

    def take(self, size: int) -> pa.Buffer:
        if size == self.size:
            for block in self.blocks:
                # References: the pool's list, `block`, getrefcount's argument — and nothing else.
                if sys.getrefcount(block) == 3:
                    return pa.py_buffer(block)
        block = np.empty(size, dtype=np.uint8)
        if size == self.size:
            self.blocks.append(block)
            if len(self.blocks) > self.keep:  # drop a free block (the list only grows while all are in use)
                self._drop_one_free()
        return pa.py_buffer(block)

    def _drop_one_free(self) -> None:
        for i, block in enumerate(self.blocks[:-1]):
            if sys.getrefcount(block) == 3:
                del self.blocks[i]
                return


def _newlines(data: bytes, start: int, stop: int) -> np.ndarray:
    """Offsets of the newlines of ``data[start:stop]`` (relative to ``data``).

    Dump lines are long (~17 KB on average at OFF), so a memchr per line (``bytes.find``) beats comparing
    every byte in numpy by an order of magnitude; after
    :data:`_FIND_LIMIT` lines in one piece, the rest of it is scanned with numpy, so short lines cost no more.
    """
    found: list[int] = []
    at = data.find(b"\n", start, stop)
    while at >= 0:
        found.append(at)
        if len(found) == _FIND_LIMIT:
            rest = np.frombuffer(data, dtype=np.uint8, count=stop - at - 1, offset=at + 1)
            return np.concatenate([np.array(found, dtype=np.int64), np.flatnonzero(rest == 10) + (at + 1)])
        at = data.find(b"\n", at + 1, stop)
    return np.array(found, dtype=np.int64)


def _blocks(path: Path) -> Iterator[tuple[pa.Buffer, np.ndarray]]:
    """Blocks of whole lines of the decompressed dump, with the offsets of their newlines.

    A line is never split between blocks: the tail after a full block's last newline starts the next block
    (a line longer than half a block makes the next block larger). A last line without its newline gets one.
    Newlines are looked for in each decompressed piece as it is copied into the block.
    """
    pool = _BlockPool(BLOCK_BYTES)
    block = pool.take(BLOCK_BYTES)
    view = memoryview(block).cast("B")
    filled = 0
    found: list[np.ndarray] = []  # newline offsets in the block, piece by piece
    for piece in _chunks(path):
        data = memoryview(piece)  # slices of a view are not copies, slices of bytes are
        at = 0
        while at < len(data):
            if filled == len(view):  # full: hand over its whole lines, the tail starts the next block
                ends = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
                tail = _tail_length(ends, filled)
                new = pool.take(BLOCK_BYTES if 2 * tail <= BLOCK_BYTES else 2 * len(view))
                new_view = memoryview(new).cast("B")
                new_view[:tail] = view[filled - tail : filled]
                if len(ends):
                    yield block, ends
                found = []  # the tail holds no newline
                block, view, filled = new, new_view, tail
            n = min(len(data) - at, len(view) - filled)
            view[filled : filled + n] = data[at : at + n]
            found.append(_newlines(piece, at, at + n) + (filled - at))
            filled += n
            at += n
    if not filled:
        return
    ends = np.concatenate(found) if found else np.empty(0, dtype=np.int64)
    if view[filled - 1] != 10:  # the last line has no newline: add one
        if filled == len(view):
            new = pa.allocate_buffer(filled + 1)
            memoryview(new).cast("B")[:filled] = view
            block, view = new, memoryview(new).cast("B")
        view[filled] = 10
        ends = np.append(ends, filled)
    yield block, ends


def _tail_length(ends: np.ndarray, filled: int) -> int:
    """Bytes after the last newline found so far."""
    return filled - int(ends[-1]) - 1 if len(ends) else filled


def _batches_of(block: pa.Buffer, ends: np.ndarray, first_line: int, rows: int) -> Iterator[pa.RecordBatch]:
    """Split a block (whole lines, newlines at ``ends``) into record batches of ``rows`` lines.

    Values keep their trailing newline: Arrow binary values are contiguous, and JSON ignores it. The data is
    not copied: every batch is a slice of the block.
    """
    start = 0
    for offset in range(0, len(ends), rows):
        batch_ends = ends[offset : offset + rows]
        offsets = np.empty(len(batch_ends) + 1, dtype=np.int64)
        offsets[0] = 0
        offsets[1:] = batch_ends + 1 - start
        values = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(batch_ends), [None, pa.py_buffer(offsets), block.slice(start)]
        )
        numbers = pa.array(
            np.arange(first_line + offset, first_line + offset + len(batch_ends), dtype=np.int64)
        )
        yield pa.record_batch([numbers, values], schema=BATCH_SCHEMA)
        start = int(batch_ends[-1]) + 1


def iter_line_batches(path: Path, rows: int = 8192) -> Iterator[pa.RecordBatch]:
    """Record batches ``(line_no, line)`` of ``path``, in order (runs in the calling thread)."""
    next_line = 1
    for block, ends in _blocks(path):
        yield from _batches_of(block, ends, next_line, rows)
        next_line += len(ends)


def iter_line_tables(
    path: Path, rows: int = 16384, chunk_rows: int = 1024, first_rows: int | None = None
) -> Iterator[pa.Table]:
    """Tables of ``rows`` lines (the first one ``first_rows``) made of record batches of ``chunk_rows``
    lines at most (fewer where a block ends).

    DuckDB scans an Arrow table in parallel by record batch: one big batch would run on a single thread.
    A small first table lets the transformation start while the reader fills the next one.
    """
    pending: list[pa.RecordBatch] = []
    count = 0
    wanted = first_rows or rows
    for batch in iter_line_batches(path, chunk_rows):
        pending.append(batch)
        count += batch.num_rows
        if count >= wanted:
            yield pa.Table.from_batches(pending, schema=BATCH_SCHEMA)
            pending, count, wanted = [], 0, rows
    if pending:
        yield pa.Table.from_batches(pending, schema=BATCH_SCHEMA)


def background_prepared(
    path: Path,
    prepare: Callable[[pa.Table], T],
    rows: int = 16384,
    prefetch: int = 1,
    first_rows: int | None = None,
) -> Iterator[tuple[pa.Table, T]]:
    """:func:`iter_line_tables` on a producer thread, each table with ``prepare(table)`` computed there too.

    The producer starts a table only when there is room for it: at most ``prefetch + 1`` tables are alive,
    the one in use and the ones read ahead (a free slot appears when the consumer comes back for more).
    ``prepare`` is per-table work that does not need the consumer (it must release the GIL to overlap).
    """
    ready: queue.Queue = queue.Queue()
    room = threading.Semaphore(prefetch + 1)
    stop = threading.Event()

    def produce() -> None:
        tables = iter_line_tables(path, rows, first_rows=first_rows)
        try:
            while not stop.is_set():
                if not room.acquire(timeout=0.1):
                    continue
                table = next(tables, _DONE)
                ready.put(table if table is _DONE else (table, prepare(table)))
                if table is _DONE:
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            ready.put(exc)

    thread = threading.Thread(target=produce, name="dump-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
            room.release()  # the consumer is done with `item`: read the next one ahead
    finally:
        stop.set()
        thread.join(timeout=5)
