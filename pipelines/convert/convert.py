"""JSONL dump → Parquet snapshot, streaming, with an explicit schema, a quarantine, and balanced counts.

Three stages overlap on a 2-core machine: a reader thread decompresses and splits lines
(``reader.py``), DuckDB turns each batch into rows and quarantined lines (``transform.py``, SQL in
``sql/convert/``), and a writer thread appends row groups of about 122,880 rows (zstd) to the Parquet file.

Guarantees:

- every line is accounted for: ``lines_in == rows_out + quarantined``, or the conversion fails loudly;
- a line that is not a JSON object (truncated, array, scalar, larger than ``max_line_bytes``, without a code)
  goes to ``products.bad.jsonl.gz`` with its line number and reason, never taking its neighbours with it; a
  line whose only fault is in its text (invalid UTF-8, a lone surrogate escape…) is repaired and kept
  (``repaired_lines``; ``repair.py``);
- a value that cannot be read becomes NULL and is counted per column (``coerced_to_null``);
- outputs are written to temporary names and renamed only when complete: a crash or a SIGKILL leaves the
  previous snapshot, quarantine and report untouched;
- an implausible snapshot (no row, fewer rows than the flavor's floor, a shrink below a ratio of the previous
  one) is refused before any rename (``guard.py``).
"""

from __future__ import annotations

import base64
import gzip
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.common import files
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.sql import connect, load_sql
from pipelines.convert.errors import ConversionError, SnapshotRefusedError
from pipelines.convert.guard import SnapshotGuard, check_snapshot, previous_rows
from pipelines.convert.reader import background_prepared
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.convert.snapshot import PRODUCTS_FILE, REPORT_FILE
from pipelines.convert.transform import FAILED_PREFIX, BatchTransformer, prepare_batch

logger = logging.getLogger(__name__)

QUARANTINE_FILE = "products.bad.jsonl.gz"
ROW_GROUP_ROWS = 100_000  # ~650 MB of Arrow data at real document sizes, held while the group fills
MAX_LINE_BYTES = 16 * 1024 * 1024  # DuckDB's default maximum JSON object size

__all__ = ["ConversionError", "ConversionReport", "ConvertOptions", "SnapshotRefusedError", "convert_dump"]


@dataclass
class ConversionReport:
    flavor: str
    source: str
    output: str
    lines_in: int = 0
    bytes_in: int = 0  # the dump's uncompressed size, newlines included
    rows_out: int = 0
    repaired_lines: int = 0  # rows kept after their text was repaired (repair.py); counted in rows_out
    quarantined: dict[str, int] = field(default_factory=dict)
    coerced_to_null: dict[str, int] = field(default_factory=dict)
    duplicate_code_rows: int = 0
    normalized_code_collisions: int = 0
    invalid_codes: int = 0
    row_groups: int = 0
    skipped_nutriment_keys: int = 0
    # The snapshot guard's figures (guard.py): the floor and the ratio applied, the replaced snapshot's rows,
    # and whether --force let a shrink below the ratio through.
    min_rows: int = 0
    min_ratio: float = 0.0
    previous_rows: int | None = None
    shrink_accepted: bool = False
    seconds: float = 0.0
    converted_at: str = ""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict:
        return asdict(self) | {"quarantined_total": self.quarantined_total}


@dataclass(frozen=True)
class ConvertOptions:
    batch_rows: int = 6_144
    # The first batch is small: DuckDB starts on it while the reader fills the next one, instead of waiting
    # for a whole batch to be decompressed, which counts on small dumps (``docs/dumps.md``).
    first_batch_rows: int = 1_024
    row_group_rows: int = ROW_GROUP_ROWS
    max_line_bytes: int = MAX_LINE_BYTES
    threads: int | None = None
    memory_limit: str = "2GB"


def convert_dump(
    source: Path,
    flavor: Flavor | str,
    *,
    out_dir: Path | None = None,
    settings: Settings | None = None,
    options: ConvertOptions | None = None,
    progress: Callable[[int], None] | None = None,
    min_rows: int | None = None,
    force: bool = False,
) -> ConversionReport:
    """Convert ``source`` (.jsonl or .jsonl.gz) into ``<out_dir>/products.parquet`` (+ quarantine, report).

    The new snapshot must pass the guard (``guard.py``) before it replaces anything: at least one row, at
    least ``min_rows`` (default: the flavor's ``OFF_DUMP_MIN_LINES_<FLAVOR>``; 0 disables), and at least
    ``OFF_SNAPSHOT_MIN_RATIO`` of the installed snapshot's rows unless ``force``. A refusal raises
    :class:`SnapshotRefusedError` and leaves every previous output as it was.
    """
    settings = settings or get_settings()
    options = options or ConvertOptions()
    flavor = Flavor(flavor)
    guard = SnapshotGuard.for_flavor(settings, flavor, min_rows=min_rows, force=force)
    out_dir = out_dir or settings.parquet_dir(flavor)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = {name: out_dir / name for name in (PRODUCTS_FILE, QUARANTINE_FILE, REPORT_FILE)}
    tmp = {name: path.with_name(path.name + ".tmp") for name, path in final.items()}
    report = ConversionReport(
        flavor=flavor.value,
        source=str(source),
        output=str(final[PRODUCTS_FILE]),
        min_rows=guard.min_rows,
        min_ratio=guard.min_ratio,
    )
    started = time.perf_counter()
    try:
        _run(source, tmp, options, report, progress)
        # Every output is complete under its temporary name: judge it before anything is replaced.
        report.previous_rows = previous_rows(final[PRODUCTS_FILE])
        report.shrink_accepted = check_snapshot(
            flavor, report.rows_out, report.lines_in, report.quarantined, report.previous_rows, guard
        )
        _code_stats(tmp[PRODUCTS_FILE], report)
        report.seconds = round(time.perf_counter() - started, 2)
        report.converted_at = datetime.now(UTC).isoformat(timespec="seconds")
        files.write_json(tmp[REPORT_FILE], report.to_dict())
        # Quarantine and snapshot first, report last: the report describes files that are in place.
        for name in (QUARANTINE_FILE, PRODUCTS_FILE, REPORT_FILE):
            tmp[name].replace(final[name])
    except BaseException:
        for path in tmp.values():
            path.unlink(missing_ok=True)
        raise
    logger.info(
        "%s: %d lines → %d rows (%d repaired), %d quarantined, %d values coerced to null (%.1f s)",
        source.name,
        report.lines_in,
        report.rows_out,
        report.repaired_lines,
        report.quarantined_total,
        sum(report.coerced_to_null.values()),
        report.seconds,
    )
    return report


def _run(
    source: Path,
    tmp: dict[str, Path],
    options: ConvertOptions,
    report: ConversionReport,
    progress: Callable[[int], None] | None,
) -> None:
    threads = int(options.threads or os.cpu_count() or 2)
    transformer = BatchTransformer(options.max_line_bytes, threads=threads, memory_limit=options.memory_limit)
    names = PRODUCT_SCHEMA.names
    quarantined: Counter = Counter()
    coerced: Counter = Counter()
    writer = _RowGroupWriter(tmp[PRODUCTS_FILE], options.row_group_rows)
    expected_line = 1
    try:
        with gzip.open(tmp[QUARANTINE_FILE], "wb", compresslevel=6) as bad:
            # Each batch is prepared on the reader's thread (its language keys listed, its lines checked as
            # UTF-8 and viewed as text), while DuckDB works on the previous batch.
            batches = background_prepared(
                source, prepare_batch, options.batch_rows, first_rows=options.first_batch_rows
            )
            for _, (batch, languages) in batches:
                result = transformer(batch, languages)
                line_numbers = result.column("_line_no")
                _check_order(line_numbers, expected_line, batch.num_rows)
                expected_line += batch.num_rows
                report.lines_in += batch.num_rows
                report.bytes_in += pc.sum(pc.binary_length(batch.column("line"))).as_py() or 0
                reasons = result.column("_reason")
                if reasons.null_count == result.num_rows:
                    rows = result  # the common case: no bad line, no copy
                else:
                    good = pc.is_null(reasons)
                    rows = result.filter(good)
                    _quarantine(result.filter(pc.invert(good)), bad, quarantined)
                report.rows_out += rows.num_rows
                for name in result.column_names:
                    if name.startswith(FAILED_PREFIX):
                        count = pc.sum(rows.column(name)).as_py() or 0
                        if count:
                            coerced[name[len(FAILED_PREFIX) :]] += count
                # combine_chunks copies the rows into Arrow's own pool at their exact size, releasing the
                # (over-allocated) buffers DuckDB exported: the pending row group stays compact.
                writer.put(rows.select(names).cast(PRODUCT_SCHEMA).combine_chunks())
                # DuckDB's output is no longer needed: free it now rather than when the next batch's result
                # replaces it, which would keep it alive through DuckDB's busiest moment.
                del result, rows, reasons, line_numbers
                if progress is not None:
                    progress(batch.num_rows)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        transformer.close()
    report.quarantined = dict(sorted(quarantined.items()))
    report.coerced_to_null = dict(sorted(coerced.items()))
    report.row_groups = writer.row_groups
    report.skipped_nutriment_keys = transformer.unsafe_keys
    report.repaired_lines = transformer.repaired_lines
    if report.lines_in != report.rows_out + report.quarantined_total:
        raise ConversionError(
            f"counts do not balance: {report.lines_in} lines in, {report.rows_out} rows out, "
            f"{report.quarantined_total} quarantined"
        )


def _check_order(line_numbers: pa.ChunkedArray, first: int, count: int) -> None:
    """Rows must come back one per line, in line order (the counts and the quarantine rely on it)."""
    if len(line_numbers) != count:
        raise ConversionError(f"batch starting at line {first}: {count} lines in, {len(line_numbers)} out")
    if count and (line_numbers[0].as_py() != first or line_numbers[-1].as_py() != first + count - 1):
        raise ConversionError(f"batch starting at line {first} came back out of order")


def _quarantine(rows: pa.Table, out: IO[bytes], counts: Counter) -> None:
    """Write quarantined lines: line number, reason, size, and the line itself (base64 if not UTF-8)."""
    for line_no, reason, raw in zip(
        rows.column("_line_no").to_pylist(),
        rows.column("_reason").to_pylist(),
        rows.column("_raw").to_pylist(),
        strict=True,
    ):
        counts[reason] += 1
        data = raw.removesuffix(b"\n") if raw is not None else b""
        record: dict = {"line": line_no, "reason": reason, "bytes": len(data)}
        try:
            record["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            record["base64"] = base64.b64encode(data).decode("ascii")
        out.write(orjson.dumps(record) + b"\n")


class _RowGroupWriter:
    """Appends rows to one Parquet file in row groups of ``row_group_rows``, on a background thread.

    pyarrow starts a new row group at every write, so rows are buffered until a full group is ready; the
    writing (encoding, zstd) then runs on its own thread while DuckDB works on the next batch.
    """

    def __init__(self, path: Path, row_group_rows: int) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.row_groups = 0
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="parquet-writer", daemon=True)
        self.thread.start()

    def put(self, rows: pa.Table) -> None:
        self._raise_if_failed()
        self.pending.append(rows)
        self.pending_rows += rows.num_rows
        while self.pending_rows >= self.row_group_rows:
            table = pa.concat_tables(self.pending)
            self._send(table.slice(0, self.row_group_rows))
            rest = table.slice(self.row_group_rows)
            self.pending = [rest] if rest.num_rows else []
            self.pending_rows = rest.num_rows

    def close(self) -> None:
        if self.pending_rows:
            self._send(pa.concat_tables(self.pending))
        self.pending = []
        self.queue.join()
        self.queue.put(None)
        self.thread.join()
        self._raise_if_failed()

    def abort(self) -> None:
        self.pending = []
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join(timeout=60)

    def _send(self, table: pa.Table) -> None:
        # Wait until the previous group is written: at most one group is being written while the next one
        # accumulates, which bounds memory whatever the size of the dump.
        self.queue.join()
        self._raise_if_failed()
        self.queue.put(table)
        self.row_groups += 1

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise ConversionError(f"writing {self.path.name} failed: {self.error}") from self.error

    def _work(self) -> None:
        writer = None
        try:
            writer = pq.ParquetWriter(self.path, PRODUCT_SCHEMA, compression="zstd", compression_level=3)
            while (table := self.queue.get()) is not None:
                try:
                    writer.write_table(table, row_group_size=self.row_group_rows)
                except BaseException as exc:
                    self.error = exc  # before task_done: a producer waiting on the queue then sees it
                    raise
                finally:
                    del table
                    self.queue.task_done()
            self.queue.task_done()
        except BaseException as exc:
            self.error = exc
            while self.queue.get() is not None:  # drain so the producer never blocks
                self.queue.task_done()
            self.queue.task_done()
        finally:
            if writer is not None:
                writer.close()
            if self.error is None and writer is None:
                pq.ParquetWriter(self.path, PRODUCT_SCHEMA).close()


def _code_stats(path: Path, report: ConversionReport) -> None:
    """Duplicate raw codes, raw codes that normalize to the same code, invalid codes (rows are all kept)."""
    con = connect()
    try:
        row = con.execute(load_sql("convert/code_stats"), {"path": str(path)}).fetchall()[0]
    finally:
        con.close()
    report.duplicate_code_rows, report.normalized_code_collisions, report.invalid_codes = (
        int(v or 0) for v in row
    )
