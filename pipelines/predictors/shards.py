"""The OCR pass in shards of barcode prefix, for a distributed engine to run (docs/scale-out.md).

Fetching, parsing and predicting OCR'd images is the part of the pipeline that outgrows one machine. It
splits by the first three digits of the barcode — the images bucket's first folder and the OCR dataset's
partition (``prefix=<digits>``) — into up to a thousand independent shards:

- **sync**: :func:`split_keys` cuts the bucket's key list into one key file per shard (one pass over the
  list); :func:`sync_shard` is ``sync_bucket`` over one of them, writing that shard's dataset parts;
- **predict**: the driver reads the OCR ledger once (``predict_bulk``), :class:`ShardedOcr` writes each
  shard's pending images to a file named after their digest, and :func:`predict_shard` predicts them with
  the very functions of the in-process run (``pending_batches``, ``predict_tables``) into one Parquet part,
  written atomically. A part already there (same digest: same images, same OCR, same predictors) is not
  computed again, so a rerun after a failure does only the shards that had not finished; the import into
  the store stays one step of the driver, after every shard.

Nothing here knows the engine: the driver hands each step's calls to a :data:`Mapper` — in this process
one after the other (:func:`in_process`), or Prefect tasks on a Dask cluster (``flows/ocr.py``). The shard
functions take and return plain values, so any worker that can import ``pipelines`` and read
``$OFF_DATA_DIR`` can run them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.errors import OffpipeError
from pipelines.common.files import atomic_path
from pipelines.ocr.bucket import OCR_SUFFIX, PREFIX_DIGITS, sync_bucket
from pipelines.predictors import ocr_ledger
from pipelines.predictors.bulk import (
    OCR_BATCH_ROWS,
    PredictReport,
    iter_folders,
    pending_batches,
    predict_tables,
)
from pipelines.predictors.resources import default_resources
from pipelines.store.schema import concat_predictions

logger = logging.getLogger(__name__)

OTHER_SHARD = "other"  # OCR keys whose folder does not start with three digits (quarantined by their sync)
# The size of a shard: enough work (tens of seconds) that Prefect's and Dask's cost per task (a fraction of a
# second: states written to the API, the task shipped) stays small; at 20M images, ~2,000 shards per step.
SHARD_KEYS = 10_000  # OCR keys per sync shard (about)
SHARD_IMAGES = 10_000  # pending images per predict shard (about)
_IMAGES_KEY = b"offpipe_images"
_PARTIAL_KEY = b"offpipe_images_partial"

# A step's calls, handed to an engine: (function, keyword arguments of each call) → each call's result, in
# order. A call that fails makes the mapper raise once every call has ended (finished shards are kept).
Mapper = Callable[[Callable[..., dict[str, Any]], Sequence[dict[str, Any]]], list[dict[str, Any]]]


class ShardError(OffpipeError, RuntimeError):
    """A shard that cannot run as asked (a worker with other reference data, an OCR table without shards)."""


def in_process(
    function: Callable[..., dict[str, Any]], calls: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The default engine: every call here, one after the other."""
    return [function(**kwargs) for kwargs in calls]


def pass_dir(flavor: Flavor | str, settings: Settings) -> Path:
    """Where a pass keeps its shard files until its import: ``$OFF_DATA_DIR/tmp/ocr-pass-<flavor>/``."""
    return settings.data_dir / "tmp" / f"ocr-pass-{Flavor(flavor).value}"


# -- sync --------------------------------------------------------------------------------------------------


def shard_of_key(key: str) -> str | None:
    """The shard of a key-list line: the first three digits of its folder for an OCR key, ``other`` for an
    OCR key whose folder does not start with three digits, ``None`` for any other key (images…)."""
    key = key.strip()
    if not key.endswith(OCR_SUFFIX) or not key.startswith("data/"):
        return None
    digits = key[len("data/") :].split("/", 1)[0][:PREFIX_DIGITS]
    return digits if len(digits) == PREFIX_DIGITS and digits.isascii() and digits.isdigit() else OTHER_SHARD


def split_keys(
    lines: Iterable[str], out_dir: Path, prefix: str | None = None, shard_keys: int = SHARD_KEYS
) -> list[Path]:
    """Cut the OCR keys of a key list (its lines, streamed) into shard key files under ``out_dir``: a shard
    takes consecutive keys until it holds ``shard_keys`` of them, then ends where the three-digit prefix
    changes (the bucket lists its keys in order, so a shard is a run of whole prefixes). ``prefix``: only
    the keys of barcodes starting with it. Each file is written whole (temp + rename); their paths."""
    files: list[Path] = []
    batch: list[str] = []
    last = None
    for line in lines:
        shard = shard_of_key(line)
        if shard is None or (prefix and (shard == OTHER_SHARD or not _shard_matches(shard, prefix))):
            continue
        if len(batch) >= shard_keys and shard != last:
            files.append(_write_keys(out_dir, len(files), batch))
            batch = []
        batch.append(line.strip())
        last = shard
    if batch:
        files.append(_write_keys(out_dir, len(files), batch))
    return files


def _write_keys(out_dir: Path, number: int, keys: list[str]) -> Path:
    path = out_dir / f"shard-{number:05d}.keys"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(keys) + "\n", encoding="utf-8")
    return path


def _shard_matches(shard: str, prefix: str) -> bool:
    return (
        shard.startswith(prefix[:PREFIX_DIGITS]) if len(prefix) >= PREFIX_DIGITS else shard.startswith(prefix)
    )


def sync_shard(flavor: str, keys_file: str, prefix: str | None = None, workers: int = 8) -> dict[str, Any]:
    """``sync_bucket`` over one shard's key file, parsing in this process (a worker is one core)."""
    report = sync_bucket(flavor, prefix=prefix, keys_file=Path(keys_file), workers=workers, parse_workers=1)
    return report.to_dict() | {"worker": worker()}


def add_sync_reports(reports: Sequence[dict[str, Any]], flavor: str) -> dict[str, Any]:
    """The shards' sync reports as one (counts summed)."""
    total: dict[str, Any] = {"flavor": flavor, "shards": len(reports), "quarantined": {}}
    for report in reports:
        for name in ("selected", "present", "rows_out", "parts", "quarantined_total"):
            total[name] = total.get(name, 0) + report.get(name, 0)
        for reason, count in report.get("quarantined", {}).items():
            total["quarantined"][reason] = total["quarantined"].get(reason, 0) + count
        total["dataset"] = report.get("dataset", "")
    return total


# -- predict -----------------------------------------------------------------------------------------------


def predict_shard(
    flavor: str, dataset: str, prefixes: list[str], pending_file: str, part: str, fingerprint: str
) -> dict[str, Any]:
    """Predict the pending images of one shard (``pending_file``, :data:`ocr_ledger.PENDING_SCHEMA`) from
    the dataset's partitions of ``prefixes`` into ``part``; nothing to do when ``part`` exists (the same
    images were done)."""
    prefix = _label(prefixes)
    out = Path(part)
    if out.is_file():
        meta = pq.read_schema(out).metadata or {}
        return _shard_result(prefix, out, pq.read_metadata(out).num_rows, meta, skipped=True)
    resources = default_resources()
    mine = ocr_ledger.predictors_fingerprint(resources)
    if mine != fingerprint:
        raise ShardError(
            f"shard {prefix}: this worker's reference data differ from the driver's (fingerprint {mine} vs "
            f"{fingerprint}): give every worker the same OFF_KEYWORDS_DIR, OFF_TAXONOMY_DIR, OFF_GRAMMARS_DIR"
        )
    pending = pq.read_table(pending_file)
    groups = ocr_ledger.type_groups(pending, fingerprint)
    report = PredictReport(flavor=flavor)
    batches = iter_folders([Path(dataset) / f"prefix={p}" for p in prefixes], None, OCR_BATCH_ROWS)
    table = predict_tables(
        None, pending_batches(batches, groups), flavor=flavor, types=None, resources=resources, report=report
    )
    meta = {_IMAGES_KEY: str(report.images).encode(), _PARTIAL_KEY: str(report.images_partial).encode()}
    with atomic_path(out) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")
    return _shard_result(prefix, out, table.num_rows, meta, skipped=False)


def _label(prefixes: Sequence[str]) -> str:
    """A shard's name: its first and last prefix."""
    return prefixes[0] if len(prefixes) == 1 else f"{prefixes[0]}-{prefixes[-1]}"


def _shard_result(
    prefix: str, part: Path, predictions: int, meta: dict[bytes, bytes], *, skipped: bool
) -> dict[str, Any]:
    return {
        "prefix": prefix,
        "part": str(part),
        "predictions": predictions,
        "images": int(meta.get(_IMAGES_KEY, b"0")),
        "images_partial": int(meta.get(_PARTIAL_KEY, b"0")),
        "skipped": skipped,
        "worker": worker(),
    }


def worker() -> str:
    """Which process ran a shard (``host:pid``): the flow's report says where the work went."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ShardedOcr:
    """``predict_bulk``'s OCR step in shards (:class:`pipelines.predictors.bulk.OcrShards`): the pending
    images split by barcode prefix, each shard predicted by ``mapper``'s engine into its own part, the parts
    read back. :meth:`clear` removes the pass's files once the import has landed."""

    def __init__(
        self,
        flavor: Flavor | str,
        mapper: Mapper = in_process,
        settings: Settings | None = None,
        shard_images: int = SHARD_IMAGES,
    ):
        self.flavor = Flavor(flavor)
        self.shard_images = shard_images
        self.mapper = mapper
        self.settings = settings or get_settings()
        self.root = pass_dir(self.flavor, self.settings)
        self.results: list[dict[str, Any]] = []

    def __call__(
        self, ocr_table: Path, pending: pa.Table, fingerprint: str, report: PredictReport
    ) -> pa.Table:
        if not ocr_table.is_dir():
            raise ShardError(
                f"{ocr_table}: the OCR pass runs in shards over the OCR dataset (offpipe ocr-sync), "
                "not over one table"
            )
        calls = self._plan(ocr_table, pending, fingerprint)
        self.results = self.mapper(predict_shard, calls)
        report.images += sum(result["images"] for result in self.results)
        report.images_partial += sum(result["images_partial"] for result in self.results)
        tables = [pq.read_table(result["part"]) for result in self.results]
        logger.info(
            "OCR pass of %s: %d shards (%d already done), %d images",
            self.flavor.value,
            len(self.results),
            sum(result["skipped"] for result in self.results),
            sum(result["images"] for result in self.results),
        )
        return concat_predictions([table.replace_schema_metadata(None) for table in tables])

    def _plan(self, dataset: Path, pending: pa.Table, fingerprint: str) -> list[dict[str, Any]]:
        """One call per shard — consecutive prefixes with about :attr:`shard_images` images to predict —
        its pending file written (named by digest)."""
        # the rows sorted by prefix, so that a shard's rows are slices (one pass, not a filter per shard)
        prefixes = pc.utf8_slice_codeunits(pending.column("barcode"), 0, PREFIX_DIGITS)
        order = pc.sort_indices(prefixes)
        ordered, keys = pending.take(order), prefixes.take(order)
        runs: dict[str, tuple[int, int]] = {}
        start = 0
        for item in pc.value_counts(keys).to_pylist():  # in order of appearance: sorted
            runs[item["values"]] = (start, item["counts"])
            start += item["counts"]
        calls = []
        wanted: set[Path] = set()
        for group in self._groups(pending, fingerprint):
            rows = pa.concat_tables([ordered.slice(*runs[prefix]) for prefix in group])
            digest = _digest(rows, fingerprint)
            name = f"prefix={_label(group)}-{digest}.parquet"
            pending_file, part = self.root / "pending" / name, self.root / "predictions" / name
            if not pending_file.is_file():
                with atomic_path(pending_file) as tmp:
                    pq.write_table(rows, tmp)
            wanted.update((pending_file, part))
            calls.append(
                {
                    "flavor": self.flavor.value,
                    "dataset": str(dataset),
                    "prefixes": group,
                    "pending_file": str(pending_file),
                    "part": str(part),
                    "fingerprint": fingerprint,
                }
            )
        for folder in ("pending", "predictions"):  # an earlier pass's images, predictors or OCR
            for path in (self.root / folder).glob("*.parquet"):
                if path not in wanted:
                    path.unlink()
        return calls

    def _groups(self, pending: pa.Table, fingerprint: str) -> list[list[str]]:
        """The prefixes with images to predict, cut into runs of about :attr:`shard_images` such images."""
        counts: dict[str, int] = {}
        for types, keys in ocr_ledger.type_groups(pending, fingerprint):
            if types == ():
                continue  # up to date: no work
            # an image key starts with its barcode (ocr_ledger.image_keys)
            for prefix in pc.utf8_slice_codeunits(keys, 0, PREFIX_DIGITS).to_pylist():
                counts[prefix] = counts.get(prefix, 0) + 1
        groups: list[list[str]] = []
        current: list[str] = []
        size = 0
        for prefix in sorted(counts):
            current.append(prefix)
            size += counts[prefix]
            if size >= self.shard_images:
                groups.append(current)
                current, size = [], 0
        if current:
            groups.append(current)
        return groups

    def clear(self) -> None:
        """Remove the pass's files (after the import: the ledger now says what was done)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _digest(rows: pa.Table, fingerprint: str) -> str:
    """What a shard's result depends on: its images, their OCR, what was recorded of them, the predictors."""
    order = pc.sort_indices(rows, [("barcode", "ascending"), ("source_image", "ascending")])
    h = hashlib.sha256(fingerprint.encode())
    for column in ("barcode", "source_image", "ocr_hash", "recorded"):
        for value in rows.column(column).take(order).to_pylist():
            h.update(b"\x00" if value is None else value.encode() + b"\x01")
    return h.hexdigest()[:16]
