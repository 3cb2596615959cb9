"""Reading one product from a Parquet snapshot fast: a sorted, narrow lookup copy beside the snapshot.

The snapshot is written for scans (row groups of 100k rows, dump order): to return one product, a reader
decodes a whole row group of every column — hundreds of milliseconds at real sizes, on every event. The
listener therefore keeps ``products.lookup.arrow`` next to the snapshot: the columns the per-product steps
read (:data:`LOOKUP_COLUMNS`), sorted by normalized code, as an Arrow IPC file of small record batches
(:data:`LOOKUP_BATCH_ROWS` rows, zstd). The sidecar ``products.lookup.json`` lists each batch's first code,
so one product costs a bisection and the decoding of one small batch from a memory-mapped file (a
Parquet row group that small would need a footer of a hundred megabytes at 4M products). The copy is built
once per snapshot (in the background by the listener; the sidecar records which snapshot it was made from,
so a new snapshot makes it stale), written to a temporary name then renamed, the sidecar last.
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from pipelines.common import files
from pipelines.common.errors import OffpipeError
from pipelines.common.sql import connect, load_sql
from pipelines.convert.schema import PRODUCT_SCHEMA

logger = logging.getLogger(__name__)

LOOKUP_FILE = "products.lookup.arrow"
LOOKUP_META = "products.lookup.json"
LOOKUP_BATCH_ROWS = 256
# The snapshot columns the per-product path reads (product-name predictors, validity filter, insight
# importers and refresh, the category features); the other columns come back null, as from MongoDB's
# projection.
LOOKUP_COLUMNS = (
    "code", "normalized_code", "code_valid", "product_type", "lang", "product_name", "generic_name",
    "ingredients_text", "packaging_text", "images", "labels_tags", "categories_tags", "brands", "brands_tags",
    "emb_codes", "emb_codes_tags", "quantity", "expiration_date", "countries_tags", "unique_scans_n",
    "ingredients_tags", "ingredients_original_tags", "nutriments", "has_fiber_value", "created_t",
    "last_modified_t", "schema_version", "dump_line",
)  # fmt: skip


class LookupStaleError(OffpipeError, RuntimeError):
    """The copy changed under the reader (a rebuild in progress): read the snapshot this time."""


def _stamp(snapshot: Path) -> dict[str, int]:
    stat = snapshot.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


@lru_cache(maxsize=64)
def _null_columns(rows: int) -> dict[str, pa.Array]:
    """All-null columns of ``rows`` rows for the snapshot columns the copy leaves out (built once per size:
    ~80 nested types cost more to build than the lookup itself)."""
    return {
        field.name: pa.nulls(rows, field.type) for field in PRODUCT_SCHEMA if field.name not in LOOKUP_COLUMNS
    }


class SnapshotLookup:
    """The lookup copy of one snapshot file."""

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot
        self.path = snapshot.with_name(LOOKUP_FILE)
        self.meta = snapshot.with_name(LOOKUP_META)
        self._file: ipc.RecordBatchFileReader | None = None
        self._file_stamp: dict | None = None
        self._mins: list[str] = []
        self._building: threading.Thread | None = None
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """The copy exists, was made from the snapshot now in place, and is the one the sidecar describes."""
        try:
            recorded = json.loads(self.meta.read_text())
            return (
                recorded.get("snapshot") == _stamp(self.snapshot)
                and recorded.get("file_size") == self.path.stat().st_size
                and isinstance(recorded.get("first_codes"), list)
            )
        except (OSError, ValueError):
            return False

    def build(self) -> None:
        """Write the copy (temporary name, then rename) and then its sidecar."""
        stamp = _stamp(self.snapshot)
        columns = ", ".join(f'"{name}"' for name in LOOKUP_COLUMNS)  # fixed names, not input
        con = connect()
        first_codes: list[str | None] = []
        try:
            con.execute("SET enable_progress_bar = false")  # a background thread of the listener
            con.read_parquet(str(self.snapshot)).create_view("snapshot_source")
            query = load_sql("listener/snapshot_lookup").replace("{columns}", columns)
            reader = con.sql(query).to_arrow_reader(LOOKUP_BATCH_ROWS * 64)
            options = ipc.IpcWriteOptions(compression="zstd")
            with (
                files.atomic_path(self.path) as tmp,
                ipc.new_file(str(tmp), reader.schema, options=options) as writer,
            ):
                for chunk in reader:
                    for start in range(0, chunk.num_rows, LOOKUP_BATCH_ROWS):  # exact, small batches
                        batch = chunk.slice(start, LOOKUP_BATCH_ROWS)
                        first_codes.append(batch.column("normalized_code")[0].as_py())
                        writer.write_batch(batch)
        finally:
            con.close()
        meta = {
            "snapshot": stamp,
            "file_size": self.path.stat().st_size,
            "batch_rows": LOOKUP_BATCH_ROWS,
            "first_codes": first_codes,
        }
        files.write_json(self.meta, meta)
        self.snapshot.with_name("products.lookup.parquet").unlink(missing_ok=True)  # earlier format's copy
        logger.info("built the lookup copy of %s (%d batches)", self.snapshot, len(first_codes))

    def build_in_background(self) -> None:
        """Start building the copy on a thread, unless a build is already running."""
        with self._lock:
            if self._building is not None and self._building.is_alive():
                return
            self._building = threading.Thread(target=self._build_quietly, name="snapshot-lookup", daemon=True)
            self._building.start()

    def _build_quietly(self) -> None:
        try:
            self.build()
        except Exception:  # the listener keeps using the slow path; the next batch retries
            logger.exception("building the lookup copy of %s failed", self.snapshot)

    def rows(self, codes: Sequence[str]) -> pa.Table:
        """Rows of ``codes`` with the snapshot's schema (columns outside the copy are null), in dump order.
        Call only when :meth:`ready`."""
        file = self._open()
        batches: dict[int, list[str]] = {}
        for code in sorted(set(codes)):
            # the batches whose range can hold the code (several when its rows straddle a boundary);
            # NULL codes sort last and are never asked for
            first = max(0, bisect.bisect_left(self._mins, code) - 1)
            for index in range(first, bisect.bisect_right(self._mins, code)):
                batches.setdefault(index, []).append(code)
        tables = []
        for index, wanted in sorted(batches.items()):
            table = pa.Table.from_batches([file.get_batch(index)])
            tables.append(
                table.filter(pc.is_in(table.column("normalized_code"), pa.array(wanted, pa.string())))
            )
        found = pa.concat_tables(tables) if tables else file.schema.empty_table()
        nulls = _null_columns(found.num_rows)
        full = pa.table(
            {
                field.name: found.column(field.name).cast(field.type)
                if field.name in found.column_names
                else nulls[field.name]
                for field in PRODUCT_SCHEMA
            },
            schema=PRODUCT_SCHEMA,
        )
        return full.sort_by("dump_line")

    def _open(self) -> ipc.RecordBatchFileReader:
        meta = json.loads(self.meta.read_text())
        if self._file is None or meta["snapshot"] != self._file_stamp:
            file = ipc.open_file(pa.memory_map(str(self.path)))
            mins = [code if code is not None else "\U0010ffff" for code in meta["first_codes"]]
            if file.num_record_batches != len(mins):  # replaced between the sidecar's read and the open
                raise LookupStaleError(
                    f"{self.path}: {file.num_record_batches} batches, its sidecar lists {len(mins)}"
                )
            self._file, self._mins, self._file_stamp = file, mins, meta["snapshot"]
        return self._file
