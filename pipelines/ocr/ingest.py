"""An OCR archive (one Cloud Vision JSON per line) → the flavor's OCR text table, in Parquet.

The archive holds one line per image, ``{"source": "/303/835/001/3804/11.json", "content": {"responses":
[…]}}``, about 60 kB each: 100k images are 6 GB of JSON. Parsing a response with the SDK is slow pure Python
(``docs/ocr.md``), so the parent process only streams and decompresses lines and hands chunks of them to a
process pool (chunks come back in order, whatever the number of workers: the output is the same with 1 or 8),
then writes row groups as they complete. Memory stays bounded by the chunks in flight.

Guarantees, as for the dump conversion (``pipelines/convert``):

- every line is accounted for: ``lines_in == rows_out + quarantined``, or the ingestion fails loudly;
- a line that cannot become a row (not JSON, no responses, an error response, an SDK parse failure, an
  invalid barcode or image id in its path, an image already ingested) is counted per reason and recorded in
  ``<name>.bad.jsonl`` beside the output with its line number and source, never taking its neighbours with it;
- the table and the quarantine are written to temporary names and renamed only when complete: a crash, a
  corrupt archive or a SIGKILL leaves the previous files untouched.

``rows.ocr_table_from_json`` and ``fetch.fetch_ocr_table`` build the same row for one image with
``rows.build_row``: the per-image run uses the very functions the nightly run uses.
"""

from __future__ import annotations

import logging
import os
import re
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from isal import igzip, isal_zlib

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.ocr.rows import (
    BAD_RECORD,
    DUPLICATE_IMAGE,
    EMPTY_LINE,
    NOT_JSON,
    PARSE_ERROR,
    OcrRecordError,
    build_row,
    parse_source,
    rows_to_table,
)
from pipelines.ocr.schema import OCR_TEXT_SCHEMA

__all__ = [
    "OCR_TEXTS_FILE",
    "OcrIngestError",
    "OcrIngestReport",
    "default_output",
    "ingest_archive",
    "process_chunk",
    "quarantine_path",
]

logger = logging.getLogger(__name__)

OCR_TEXTS_FILE = "ocr_texts.parquet"
CHUNK_LINES = 256  # ~15 MB of JSON at the archive's mean line size: enough parsing to amortize the hand-over
CHUNK_BYTES = 32 * 1024 * 1024  # a chunk also ends here, whatever its line count (1 MB responses exist)
ROW_GROUP_ROWS = 8_192
ROW_GROUP_BYTES = 128 * 1024 * 1024  # Arrow bytes held before a row group is written
_SOURCE_IN_RAW = re.compile(rb'"source"\s*:\s*"((?:[^"\\]|\\.){1,1000})"')
_HEAD_CHARS = 200


class OcrIngestError(OffpipeError, RuntimeError):
    """The ingestion could not produce a complete, balanced table; the previous one is untouched."""


@dataclass
class OcrIngestReport:
    """Counts of one ingestion (printed by the CLI, asserted by tests)."""

    flavor: str
    source: str
    output: str
    quarantine: str
    workers: int = 1
    lines_in: int = 0
    rows_out: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    row_groups: int = 0
    seconds: float = 0.0
    ingested_at: str = ""

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"quarantined_total": self.quarantined_total}


@dataclass
class ChunkResult:
    """What a worker sends back for one chunk of lines: the rows, their line numbers, the bad lines."""

    first_line: int
    lines: int
    table: pa.Table
    row_lines: list[int]
    bad: list[dict[str, Any]]


def default_output(flavor: Flavor | str, settings: Settings | None = None) -> Path:
    """``$OFF_DATA_DIR/parquet/<flavor>/ocr_texts.parquet``."""
    return (settings or get_settings()).parquet_dir(flavor) / OCR_TEXTS_FILE


def ocr_texts_for(
    path: Path,
    flavor: Flavor | str = Flavor.off,
    *,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, OcrIngestReport | None]:
    """What the OCR predictors read for ``path``: a Parquet table, or a folder of parts (the images bucket's
    dataset, ``offpipe ocr-sync``), as it is; an OCR archive (``.jsonl[.gz]``) ingested into the flavor's
    table first (with the ingestion's report)."""
    if path.is_dir() or path.suffix == ".parquet":
        return path, None
    report = ingest_archive(path, flavor=flavor, settings=settings, progress=progress)
    return Path(report.output), report


def quarantine_path(out_path: Path) -> Path:
    """The quarantine beside an output: ``ocr_texts.parquet`` → ``ocr_texts.bad.jsonl``."""
    return out_path.with_name(out_path.with_suffix("").name + ".bad.jsonl")


def ingest_archive(
    path: Path,
    out_path: Path | None = None,
    flavor: Flavor | str = Flavor.off,
    workers: int | None = None,
    *,
    settings: Settings | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_lines: int = CHUNK_LINES,
    chunk_bytes: int = CHUNK_BYTES,
) -> OcrIngestReport:
    """Ingest the OCR archive ``path`` (.jsonl or .jsonl.gz) into ``out_path`` (default: the flavor's
    Parquet folder) and its quarantine; ``workers`` processes parse (default: one per core, 1 = in-process).
    """
    flavor = Flavor(flavor)
    out_path = Path(out_path) if out_path is not None else default_output(flavor, settings)
    workers = max(1, workers if workers is not None else os.cpu_count() or 1)
    if chunk_lines < 1 or chunk_bytes < 1:
        raise ValueError("chunks need at least one line and one byte")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    bad_path = quarantine_path(out_path)
    tmp_out, tmp_bad = (p.with_name(p.name + ".tmp") for p in (out_path, bad_path))
    report = OcrIngestReport(
        flavor=flavor.value, source=str(path), output=str(out_path), quarantine=str(bad_path), workers=workers
    )
    started = time.perf_counter()
    try:
        # closing() shuts the pool down at once on failure, not whenever the generator is collected
        results = _results(_read_chunks(Path(path), chunk_lines, chunk_bytes), workers)
        with closing(results), tmp_bad.open("wb") as bad_file:
            _run(results, tmp_out, bad_file, report, progress)
        # Quarantine first, table last: the table in place always has its quarantine beside it.
        tmp_bad.replace(bad_path)
        tmp_out.replace(out_path)
    except BaseException:
        for tmp in (tmp_out, tmp_bad):
            tmp.unlink(missing_ok=True)
        raise
    report.seconds = round(time.perf_counter() - started, 2)
    report.ingested_at = datetime.now(UTC).isoformat(timespec="seconds")
    logger.info(
        "%s: %d lines → %d rows, %d quarantined %s (%.1f s)",
        Path(path).name,
        report.lines_in,
        report.rows_out,
        report.quarantined_total,
        report.quarantined,
        report.seconds,
    )
    return report


def _run(
    results: Iterator[ChunkResult],
    tmp_out: Path,
    bad_file: IO[bytes],
    report: OcrIngestReport,
    progress: Callable[[int], None] | None,
) -> None:
    """Write every chunk's rows and bad lines, dropping images already seen; check the counts balance."""
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    expected_line = 1
    with _RowGroupWriter(tmp_out) as writer:
        for result in results:
            if result.first_line != expected_line:
                raise OcrIngestError(f"chunk starting at line {result.first_line} came back out of order")
            expected_line += result.lines
            table, duplicates = _drop_duplicates(result, seen)
            for record in sorted([*result.bad, *duplicates], key=lambda r: r["line"]):
                counts[record["reason"]] += 1
                bad_file.write(orjson.dumps(record) + b"\n")
            writer.write(table)
            report.lines_in += result.lines
            report.rows_out += table.num_rows
            if progress is not None:
                progress(result.lines)
    report.row_groups = writer.row_groups
    report.quarantined = dict(sorted(counts.items()))
    if report.lines_in != report.rows_out + report.quarantined_total:
        raise OcrIngestError(
            f"counts do not balance: {report.lines_in} lines in, {report.rows_out} rows out, "
            f"{report.quarantined_total} quarantined"
        )


def _drop_duplicates(result: ChunkResult, seen: set[str]) -> tuple[pa.Table, list[dict[str, Any]]]:
    """Keep the first row of each image (``source_image`` names it: barcode + image id).

    An archive can hold an image twice, e.g. under its legacy and its migrated folder; two rows would give
    every prediction of that image twice.
    """
    keys = result.table.column("source_image").to_pylist()
    keep: list[bool] = []
    duplicates: list[dict[str, Any]] = []
    sources = None
    for index, key in enumerate(keys):
        fresh = key not in seen
        keep.append(fresh)
        if fresh:
            seen.add(key)
            continue
        if sources is None:
            sources = result.table.column("ocr_source").to_pylist()
        duplicates.append(
            {
                "line": result.row_lines[index],
                "reason": DUPLICATE_IMAGE,
                "source": sources[index],
                "detail": f"{key} was already ingested from an earlier line",
            }
        )
    table = result.table if not duplicates else result.table.filter(pa.array(keep))
    return table, duplicates


def process_chunk(first_line: int, lines: list[bytes]) -> ChunkResult:
    """Rows and quarantine records of ``lines`` (numbered from ``first_line``); runs in a worker.

    Each line is handled on its own: whatever goes wrong with one becomes its quarantine record.
    """
    rows: list[dict[str, Any]] = []
    row_lines: list[int] = []
    bad: list[dict[str, Any]] = []
    for offset, raw in enumerate(lines):
        line_no = first_line + offset
        try:
            rows.append(_line_row(raw))
            row_lines.append(line_no)
        except OcrRecordError as exc:
            bad.append(_bad_record(line_no, raw, exc.reason, exc.detail))
        except Exception as exc:  # never let one line take the chunk down
            logger.debug("line %d: unexpected %r", line_no, exc)
            bad.append(_bad_record(line_no, raw, PARSE_ERROR, f"{type(exc).__name__}: {exc}"))
    table, rejected = _rows_table(rows)
    for index in sorted(rejected, reverse=True):
        line_no = row_lines.pop(index)
        bad.append(_bad_record(line_no, lines[line_no - first_line], PARSE_ERROR, rejected[index]))
    bad.sort(key=lambda record: record["line"])
    return ChunkResult(first_line=first_line, lines=len(lines), table=table, row_lines=row_lines, bad=bad)


def _line_row(raw: bytes) -> dict[str, Any]:
    """The row of one archive line, or :class:`OcrRecordError`."""
    if not raw.strip():
        raise OcrRecordError(EMPTY_LINE, "blank line")
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise OcrRecordError(NOT_JSON, str(exc)) from exc
    if not isinstance(record, dict):
        raise OcrRecordError(BAD_RECORD, f"a JSON {type(record).__name__}, not an object")
    source = record.get("source")
    if not isinstance(source, str):
        raise OcrRecordError(BAD_RECORD, "no 'source' string")
    if not isinstance(record.get("content"), dict):
        raise OcrRecordError(BAD_RECORD, "no 'content' object")
    barcode, image_id = parse_source(source)
    return build_row(record["content"], barcode=barcode, image_id=image_id, source=source)


def _rows_table(rows: list[dict[str, Any]]) -> tuple[pa.Table, dict[int, str]]:
    """The rows as one table; a row Arrow cannot take (a string score…) is left out, with the reason.

    The whole chunk is converted at once; only when that fails are rows converted one by one to find the
    culprits, so one odd document never costs its neighbours.
    """
    try:
        return rows_to_table(rows), {}
    except (pa.ArrowException, ValueError, TypeError):
        pass
    tables: list[pa.Table] = []
    rejected: dict[int, str] = {}
    for index, row in enumerate(rows):
        try:
            tables.append(rows_to_table([row]))
        except (pa.ArrowException, ValueError, TypeError) as exc:
            rejected[index] = f"{type(exc).__name__}: {exc}"
    table = pa.concat_tables(tables) if tables else OCR_TEXT_SCHEMA.empty_table()
    return table, rejected


def _bad_record(line_no: int, raw: bytes, reason: str, detail: str) -> dict[str, Any]:
    """A quarantine record: line number, reason, source (if it can be read), size, and why.

    The line itself is not copied (a response can weigh a megabyte); lines that are not even a record keep
    their first characters to help find what produced them.
    """
    record: dict[str, Any] = {"line": line_no, "reason": reason, "source": _source_of(raw)}
    record["bytes"] = len(raw.rstrip(b"\r\n"))
    record["detail"] = detail
    if reason in (EMPTY_LINE, NOT_JSON, BAD_RECORD):
        record["head"] = raw[: _HEAD_CHARS * 4].decode("utf-8", errors="replace")[:_HEAD_CHARS]
    return record


def _source_of(raw: bytes) -> str | None:
    """The ``source`` of a line, read from its first bytes: it works on truncated lines too."""
    match = _SOURCE_IN_RAW.search(raw, 0, 4096)
    if match is None:
        return None
    try:
        value = orjson.loads(b'"' + match.group(1) + b'"')
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


def _read_chunks(path: Path, chunk_lines: int, chunk_bytes: int) -> Iterator[tuple[int, list[bytes]]]:
    """``(first line number, lines)`` chunks of the archive, numbered from 1, streamed."""
    lines: list[bytes] = []
    size = 0
    first = 1
    for line in _read_lines(path):
        lines.append(line)
        size += len(line)
        if len(lines) >= chunk_lines or size >= chunk_bytes:
            yield first, lines
            first += len(lines)
            lines, size = [], 0
    if lines:
        yield first, lines


def _read_lines(path: Path) -> Iterator[bytes]:
    """Lines of a plain or gzipped (multi-member) file; a corrupt or truncated archive is an error.

    An archive that cannot be read to its end cannot be ingested: its missing lines could not be counted.
    """
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    handle: IO[bytes] = igzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[assignment]
    with handle:
        iterator = iter(handle)
        while True:
            try:
                line = next(iterator)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error, isal_zlib.error) as exc:
                raise OcrIngestError(f"{path}: cannot read the archive to its end ({exc})") from exc
            yield line


def _results(chunks: Iterator[tuple[int, list[bytes]]], workers: int) -> Iterator[ChunkResult]:
    """Chunk results in archive order, from ``workers`` processes (in-process for 1).

    At most two chunks per worker are in flight: enough to keep every worker busy while the parent reads
    and writes, and a bound on memory whatever the archive's size.
    """
    if workers == 1:
        for first, lines in chunks:
            yield process_chunk(first, lines)
        return
    pending: deque[Future[ChunkResult]] = deque()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        try:
            for first, lines in chunks:
                pending.append(pool.submit(process_chunk, first, lines))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


class _RowGroupWriter:
    """Appends tables to one zstd Parquet file in row groups of :data:`ROW_GROUP_ROWS` rows (or bytes).

    pyarrow starts a row group at every write, and chunks are small: tables are buffered until a group is
    full. An empty archive still gives a valid file with the schema and no rows.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.row_groups = 0
        self.writer = pq.ParquetWriter(path, OCR_TEXT_SCHEMA, compression="zstd", compression_level=3)

    def __enter__(self) -> _RowGroupWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self.writer.close()

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        if self.pending_rows >= ROW_GROUP_ROWS or self.pending_bytes >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        self.pending, self.pending_rows, self.pending_bytes = [], 0, 0
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.row_groups += 1
