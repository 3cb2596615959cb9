"""Reading one product from a Parquet snapshot fast: a sorted, narrow lookup copy beside the snapshot.

The snapshot is written for scans (row groups of 100k rows, dump order): to return one product, a reader
decodes a whole row group of every column — hundreds of milliseconds at real sizes, on every event. The
listener therefore keeps ``products.lookup.parquet`` next to the snapshot: the columns the per-product steps
read (:data:`LOOKUP_COLUMNS`), sorted by normalized code, in row groups of :data:`LOOKUP_ROW_GROUP` rows.
Row-group statistics then point at the one small group that can hold a code, read with a file kept open.
The copy is built once per snapshot (in the background by the listener; a sidecar records which snapshot
it was made from, so a new snapshot makes it stale) and written to a temporary name then renamed.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.sql import connect, load_sql

logger = logging.getLogger(__name__)

LOOKUP_FILE = "products.lookup.parquet"
LOOKUP_META = "products.lookup.json"
LOOKUP_ROW_GROUP = 2048
# The snapshot columns the per-product path reads (product-name predictors, validity filter, insight
# importers and refresh, the category features); the other columns come back null, as from MongoDB's
# projection.
LOOKUP_COLUMNS = (
    "code", "normalized_code", "code_valid", "product_type", "lang", "product_name", "generic_name",
    "ingredients_text", "packaging_text", "images", "labels_tags", "categories_tags", "brands", "brands_tags",
    "emb_codes", "emb_codes_tags", "quantity", "expiration_date", "countries_tags", "unique_scans_n",
    "ingredients_tags", "nutriments", "has_fiber_value", "created_t", "last_modified_t", "schema_version",
    "dump_line",
)  # fmt: skip


def _stamp(snapshot: Path) -> dict[str, int]:
    stat = snapshot.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class SnapshotLookup:
    """The lookup copy of one snapshot file."""

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot
        self.path = snapshot.with_name(LOOKUP_FILE)
        self.meta = snapshot.with_name(LOOKUP_META)
        self._file: pq.ParquetFile | None = None
        self._file_stamp: dict | None = None
        self._mins: list[str] = []
        self._building: threading.Thread | None = None
        self._lock = threading.Lock()

    def ready(self) -> bool:
        """The copy exists and was made from the snapshot now in place."""
        try:
            recorded = json.loads(self.meta.read_text())
            return self.path.is_file() and recorded.get("snapshot") == _stamp(self.snapshot)
        except (OSError, ValueError):
            return False

    def build(self) -> None:
        """Write the copy (temporary name, then rename) and its sidecar."""
        stamp = _stamp(self.snapshot)
        tmp = self.path.with_name(self.path.name + f".tmp-{os.getpid()}")
        columns = ", ".join(f'"{name}"' for name in LOOKUP_COLUMNS)  # fixed names, not input
        con = connect()
        try:
            con.execute("SET preserve_insertion_order = false")
            con.read_parquet(str(self.snapshot)).create_view("snapshot_source")
            query = load_sql("listener/snapshot_lookup").replace("{columns}", columns)
            reader = con.sql(query).to_arrow_reader(LOOKUP_ROW_GROUP)
            with pq.ParquetWriter(tmp, reader.schema, compression="zstd") as writer:
                for batch in reader:  # exact row groups: one small group per lookup
                    writer.write_table(pa.Table.from_batches([batch]), row_group_size=LOOKUP_ROW_GROUP)
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            con.close()
        meta_tmp = self.meta.with_name(self.meta.name + ".tmp")
        meta_tmp.write_text(json.dumps({"snapshot": stamp, "row_group_rows": LOOKUP_ROW_GROUP}))
        meta_tmp.replace(self.meta)
        logger.info("built the lookup copy of %s", self.snapshot)

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
        groups: dict[int, list[str]] = {}
        for code in sorted(set(codes)):
            # the groups whose range can hold the code (several when its rows straddle a boundary)
            first = max(0, bisect.bisect_left(self._mins, code) - 1)
            for group in range(first, bisect.bisect_right(self._mins, code)):
                groups.setdefault(group, []).append(code)
        tables = []
        for group, wanted in sorted(groups.items()):
            table = file.read_row_group(group)
            tables.append(
                table.filter(pc.is_in(table.column("normalized_code"), pa.array(wanted, pa.string())))
            )
        found = pa.concat_tables(tables) if tables else file.schema_arrow.empty_table()
        full = pa.table(
            {
                field.name: found.column(field.name).cast(field.type)
                if field.name in found.column_names
                else pa.nulls(found.num_rows, field.type)
                for field in PRODUCT_SCHEMA
            },
            schema=PRODUCT_SCHEMA,
        )
        return full.sort_by("dump_line")

    def _open(self) -> pq.ParquetFile:
        stamp = json.loads(self.meta.read_text())
        if self._file is None or stamp != self._file_stamp:
            self._file = pq.ParquetFile(self.path)
            metadata = self._file.metadata
            schema = metadata.schema
            index = next(i for i in range(len(schema)) if schema.column(i).path == "normalized_code")
            self._mins = [
                metadata.row_group(i).column(index).statistics.min for i in range(metadata.num_row_groups)
            ]
            self._file_stamp = stamp
        return self._file
