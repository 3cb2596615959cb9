"""Data-quality facets written into Product Opener's MongoDB: Robotoff's removed fiber facet job, set-based.

Robotoff's nightly ``generate_fiber_quality_facet`` (spec §7, removed in February 2026 with the nutrition
schema migration) walked the ``nutrient_mention`` predictions one by one, fetched each product from MongoDB
and ``$push``-ed ``en:missing-nutrition-facts-fibers-present-on-photos`` (and ``…-on-nutrition-photos``) into
``data_quality_tags`` and ``data_quality_warnings_tags`` when a photo mentions fibers but the product has no
fiber value. Here the same rule runs in three steps (``docs/facets.md``):

1. :func:`plan_fiber_facets`: one DuckDB query (``sql/facets/fiber_facet_plan.sql``) over the prediction
   store and the Parquet snapshot gives every product whose facets must change, with the facets to add and
   to remove: a facet that no longer applies is taken away, which Robotoff never did.
2. :func:`write_plan`: the plan as Parquet plus a markdown/JSON summary, always written (also in dry runs),
   so what a run would write can be reviewed before MongoDB is touched.
3. :func:`apply_plan`: unordered ``bulk_write`` batches of ``$addToSet``/``$pull`` updates (idempotent, so a
   batch sent twice changes nothing the second time), with a checkpoint after each batch so a run that
   failed half-way resumes where it stopped.

Every ``code`` that reaches a MongoDB filter is checked here to be a plain 4–24 digit string, whatever the
plan file says: a filter value that is not a string (an operator document) or not a barcode never leaves
this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pymongo import UpdateOne

from pipelines.barcodes import InvalidBarcodeError, is_valid_code
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.sql import load_sql
from pipelines.convert.snapshot import existing_snapshot
from pipelines.download.meta import write_json_atomic
from pipelines.store.db import open_store

logger = logging.getLogger(__name__)

FIBER_FACET = "en:missing-nutrition-facts-fibers-present-on-photos"
FIBER_NUTRITION_FACET = "en:missing-nutrition-facts-fibers-present-on-nutrition-photos"
FACETS = (FIBER_FACET, FIBER_NUTRITION_FACET)
# Robotoff wrote the facets into both fields; Product Opener shows the warnings field on the product page.
FACET_FIELDS = ("data_quality_tags", "data_quality_warnings_tags")
# Robotoff ran the job for OFF only: the rule is about food nutrition tables, and MONGO_DB names one
# flavor's database, so other flavors are refused rather than written to the wrong place.
FACET_FLAVORS = frozenset({Flavor.off})
DEFAULT_BATCH_SIZE = 1000
MONGO_TIMEOUT_MS = 30_000

PLAN_FILE = "fiber_facets.plan.parquet"
SUMMARY_MARKDOWN = "fiber_facets.summary.md"
SUMMARY_JSON = "fiber_facets.summary.json"
CHECKPOINT_FILE = "fiber_facets.checkpoint.json"
REPORT_FILE = "fiber_facets.report.json"
LISTED = 20  # plan rows shown in the markdown summary (all of them are in the Parquet file)

_TAGS = pa.list_(pa.string())
PLAN_SCHEMA = pa.schema(
    [
        pa.field("code", pa.string(), nullable=False),
        pa.field("normalized_code", pa.string(), nullable=False),
        pa.field("facets_to_add", _TAGS, nullable=False),
        pa.field("facets_to_remove", _TAGS, nullable=False),
    ]
)
# The plan carries how many products it left out for an invalid code (kept in the Parquet file's metadata).
_SKIPPED_KEY = b"offpipe.skipped_invalid_codes"
_MONGO_CODE = re.compile(r"[0-9]{4,24}")


class UnsupportedFlavorError(ValueError):
    """The fiber facet is only written for the flavors of :data:`FACET_FLAVORS`."""


class BulkWriteResultLike(Protocol):
    """What :func:`apply_plan` reads from a ``bulk_write`` result (pymongo's ``BulkWriteResult``)."""

    @property
    def matched_count(self) -> int: ...

    @property
    def modified_count(self) -> int: ...


class BulkWriter(Protocol):
    """The part of a pymongo ``Collection`` the writer uses (tests pass wrappers)."""

    def bulk_write(self, requests: list[UpdateOne], *, ordered: bool = ...) -> BulkWriteResultLike: ...


@dataclass
class FacetReport:
    """Counts of one facet run. ``matched``/``modified`` count update operations as MongoDB reports them
    (a product losing one facet and gaining the other is two operations); ``operations``, ``round_trips``,
    ``matched`` and ``modified`` cover what this run sent, not batches an earlier run completed."""

    flavor: str = Flavor.off.value
    dry_run: bool = False
    applied: bool = False
    target: str | None = None
    plan: str | None = None
    plan_sha256: str = ""
    products_planned: int = 0
    facets_added: dict[str, int] = field(default_factory=dict)
    facets_removed: dict[str, int] = field(default_factory=dict)
    skipped_invalid_codes: int = 0
    operations: int = 0
    batches: int = 0
    batches_skipped: int = 0
    round_trips: int = 0
    matched: int = 0
    modified: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanFiles:
    """The files :func:`write_plan` wrote."""

    plan: Path
    markdown: Path
    json: Path


# --- planning ----------------------------------------------------------------------------------------------


def facet_flavor(flavor: Flavor | str) -> Flavor:
    """``flavor`` as a :class:`Flavor`, or :class:`UnsupportedFlavorError` when the facet does not apply."""
    chosen = Flavor(flavor)
    if chosen not in FACET_FLAVORS:
        allowed = ", ".join(sorted(f.value for f in FACET_FLAVORS))
        raise UnsupportedFlavorError(f"the fiber facet is written for {allowed} only, not {chosen.value}")
    return chosen


def is_mongo_code(raw: object) -> bool:
    """True when ``raw`` may be a MongoDB ``code`` filter: a string of 4 to 24 ASCII digits that Product
    Opener's rules call valid. Stricter than :func:`~pipelines.barcodes.is_valid_code`, which accepts GS1
    forms and stray characters: the filter matches the stored code as it is, so only plain codes qualify."""
    return isinstance(raw, str) and _MONGO_CODE.fullmatch(raw) is not None and is_valid_code(raw)


def mongo_code(raw: object) -> str:
    """``raw`` when :func:`is_mongo_code` accepts it, else :class:`InvalidBarcodeError`."""
    if not is_mongo_code(raw):
        raise InvalidBarcodeError(f"invalid barcode for a MongoDB filter: {raw!r}")
    assert isinstance(raw, str)
    return raw


def plan_fiber_facets(
    source: duckdb.DuckDBPyConnection | Path | str,
    snapshot: Path | str,
    *,
    server_type: Flavor | str = Flavor.off,
) -> pa.Table:
    """The fiber facet changes of every product: a :data:`PLAN_SCHEMA` table, one row per product to change.

    ``source`` is a store connection or the store's path (opened read-only). Products whose ``code`` fails
    :func:`is_mongo_code` are left out and counted in the table's metadata (:func:`skipped_invalid_codes`).
    """
    if isinstance(source, duckdb.DuckDBPyConnection):
        return _plan(source, Path(snapshot), Flavor(server_type))
    con = open_store(source, read_only=True)
    try:
        return _plan(con, Path(snapshot), Flavor(server_type))
    finally:
        con.close()


def _plan(con: duckdb.DuckDBPyConnection, snapshot: Path, server_type: Flavor) -> pa.Table:
    started = time.perf_counter()
    params = {
        "snapshot": str(snapshot),
        "server_type": server_type.value,
        "photos_facet": FIBER_FACET,
        "nutrition_facet": FIBER_NUTRITION_FACET,
    }
    changes = con.sql(load_sql("facets/fiber_facet_plan"), params=params).to_arrow_table()
    codes = changes.column("code").to_pylist()
    valid = [is_mongo_code(code) for code in codes]
    invalid = [code for code, ok in zip(codes, valid, strict=True) if not ok]
    if invalid:
        examples = ", ".join(repr(code) for code in invalid[:5])
        logger.warning(
            "%d products with an invalid code left out of the plan (e.g. %s)", len(invalid), examples
        )
    plan = changes.filter(pa.array(valid, pa.bool_())).select(PLAN_SCHEMA.names).cast(PLAN_SCHEMA)
    logger.info(
        "fiber facet plan: %d products to change (%.2f s)", plan.num_rows, time.perf_counter() - started
    )
    return with_skipped_invalid_codes(plan, len(invalid))


def with_skipped_invalid_codes(plan: pa.Table, count: int) -> pa.Table:
    """``plan`` recording that ``count`` products were left out for an invalid code."""
    metadata = dict(plan.schema.metadata or {})
    metadata[_SKIPPED_KEY] = str(count).encode()
    return plan.replace_schema_metadata(metadata)


def skipped_invalid_codes(plan: pa.Table) -> int:
    """How many products planning left out for an invalid code (0 when the plan does not say)."""
    return int((plan.schema.metadata or {}).get(_SKIPPED_KEY, b"0"))


def check_plan(plan: pa.Table) -> None:
    """Refuse a plan that is not :data:`PLAN_SCHEMA` or names another facet than ours.

    Why: a plan file can be edited by hand, and ``$pull`` must never take away a tag this job does not own.
    """
    missing = [name for name in PLAN_SCHEMA.names if name not in plan.column_names]
    if missing:
        raise ValueError(f"not a fiber facet plan: missing columns {missing}")
    for column in ("facets_to_add", "facets_to_remove"):
        named = {tag for tags in plan.column(column).to_pylist() for tag in tags or ()}
        unknown = sorted(named - set(FACETS))
        if unknown:
            raise ValueError(f"plan column {column} names facets this job does not write: {unknown}")


def plan_digest(plan: pa.Table) -> str:
    """sha256 of the plan's rows (code, normalized code, facets), in order: the checkpoint's identity.

    Computed over the rows, not the Parquet bytes, so the same plan read back from its file has the same
    digest whatever the writer's version or compression.
    """
    digest = hashlib.sha256()
    for row in plan.select(PLAN_SCHEMA.names).to_pylist():
        digest.update(orjson.dumps(row))
        digest.update(b"\n")
    return digest.hexdigest()


def plan_report(plan: pa.Table) -> FacetReport:
    """A report holding the plan's own counts (nothing sent yet)."""
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    for tags in plan.column("facets_to_add").to_pylist():
        added.update(tags or ())
    for tags in plan.column("facets_to_remove").to_pylist():
        removed.update(tags or ())
    return FacetReport(
        plan_sha256=plan_digest(plan),
        products_planned=plan.num_rows,
        facets_added={facet: added.get(facet, 0) for facet in FACETS},
        facets_removed={facet: removed.get(facet, 0) for facet in FACETS},
        skipped_invalid_codes=skipped_invalid_codes(plan),
    )


# --- plan files --------------------------------------------------------------------------------------------


def write_plan(plan: pa.Table, out_dir: Path | str) -> PlanFiles:
    """Write the plan (Parquet), its markdown summary and JSON counts into ``out_dir``, each atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = PlanFiles(out_dir / PLAN_FILE, out_dir / SUMMARY_MARKDOWN, out_dir / SUMMARY_JSON)
    table = plan.select(PLAN_SCHEMA.names).cast(PLAN_SCHEMA).replace_schema_metadata(plan.schema.metadata)
    _write_atomic(files.plan, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    report = plan_report(plan)
    summary = {
        "plan": str(files.plan),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
        "plan_sha256": report.plan_sha256,
        "products": report.products_planned,
        "facets_to_add": report.facets_added,
        "facets_to_remove": report.facets_removed,
        "skipped_invalid_codes": report.skipped_invalid_codes,
    }
    text = plan_markdown(summary, plan.slice(0, LISTED).to_pylist())
    _write_atomic(files.markdown, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    write_json_atomic(files.json, summary)
    logger.info("fiber facet plan written to %s (%d products)", files.plan, plan.num_rows)
    return files


def read_plan(path: Path | str) -> pa.Table:
    """A plan written by :func:`write_plan` (with its skipped-code count)."""
    return pq.read_table(path)


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """``write`` a temporary file beside ``path``, fsync it, rename it: readers see old or new, never half."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _facet_table(added: Mapping[str, int], removed: Mapping[str, int]) -> list[str]:
    lines = ["| facet | to add | to remove |", "| --- | ---: | ---: |"]
    lines += [f"| `{facet}` | {added.get(facet, 0)} | {removed.get(facet, 0)} |" for facet in FACETS]
    return lines


def plan_markdown(summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] = ()) -> str:
    """The plan summary as markdown: counts per facet, then the first rows of the plan."""
    lines = [
        "# Fiber quality facets — plan",
        "",
        f"Plan: `{summary['plan']}` (sha256 `{summary['plan_sha256']}`)",
        "",
        f"- products to change: {summary['products']}",
        f"- products skipped for an invalid code: {summary['skipped_invalid_codes']}",
        "",
        *_facet_table(summary["facets_to_add"], summary["facets_to_remove"]),
    ]
    if rows:
        lines += ["", f"## First {len(rows)} products", "", "| code | add | remove |", "| --- | --- | --- |"]
        lines += [
            f"| {row['code']} | {', '.join(row['facets_to_add'])} | {', '.join(row['facets_to_remove'])} |"
            for row in rows
        ]
    return "\n".join(lines) + "\n"


def report_markdown(report: Mapping[str, Any]) -> str:
    """A run's report as markdown (the flow's artifact)."""
    if report["applied"]:
        outcome = f"applied to `{report['target']}`"
    else:
        outcome = "dry run: plan only" if report["dry_run"] else "plan only (no MONGO_URI)"
    lines = [
        f"# Fiber quality facets — {report['flavor']}",
        "",
        f"{outcome}; plan `{report['plan']}`",
        "",
        *_facet_table(report["facets_added"], report["facets_removed"]),
        "",
        f"- products planned: {report['products_planned']}",
        f"- products skipped for an invalid code: {report['skipped_invalid_codes']}",
        f"- batches: {report['batches']} ({report['batches_skipped']} done by an earlier run)",
        f"- update operations sent: {report['operations']} in {report['round_trips']} round trips",
        f"- matched: {report['matched']}, modified: {report['modified']}",
        f"- seconds: {report['seconds']}",
    ]
    return "\n".join(lines) + "\n"


# --- applying ----------------------------------------------------------------------------------------------


def product_updates(code: str, add: Sequence[str], remove: Sequence[str]) -> list[UpdateOne]:
    """The update operations of one product: ``$addToSet`` of ``add``, ``$pull`` of ``remove``, both fields.

    Two operations when both are set: MongoDB refuses an update that modifies the same field with two
    operators ("would create a conflict"). ``$addToSet`` … ``$each`` adds only what is missing (Robotoff's
    ``$push`` could add a facet twice) and ``$pull`` … ``$in`` removes only our facets.
    """
    where = {"code": mongo_code(code)}
    updates = []
    if add:
        updates.append(UpdateOne(where, {"$addToSet": {name: {"$each": list(add)} for name in FACET_FIELDS}}))
    if remove:
        updates.append(UpdateOne(where, {"$pull": {name: {"$in": list(remove)} for name in FACET_FIELDS}}))
    return updates


def apply_plan(
    collection: BulkWriter,
    plan: pa.Table,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    checkpoint: Path | None = None,
) -> FacetReport:
    """Send the plan to ``collection`` in unordered ``bulk_write`` batches of ``batch_size`` products.

    With ``checkpoint``, the plan's digest and the last completed batch are written there (atomically) after
    each batch; a later call with the same plan, target and batch size skips the batches already done, and
    any other plan starts over. A batch that failed half-way is sent again in full, which is harmless: the
    updates are idempotent. Rows whose code fails :func:`is_mongo_code` are skipped and counted.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    check_plan(plan)
    started = time.perf_counter()
    report = plan_report(plan)
    report.target = getattr(collection, "full_name", None)
    rows = plan.select(PLAN_SCHEMA.names).to_pylist()
    report.batches = math.ceil(len(rows) / batch_size)
    identity = {"plan_sha256": report.plan_sha256, "target": report.target, "batch_size": batch_size}
    first = min(_resume_batch(checkpoint, identity), report.batches) if checkpoint is not None else 0
    report.batches_skipped = first
    if first:
        logger.info("resuming the fiber facet plan at batch %d of %d", first, report.batches)
    for index in range(first, report.batches):
        requests: list[UpdateOne] = []
        for row in rows[index * batch_size : (index + 1) * batch_size]:
            if not is_mongo_code(row["code"]):
                report.skipped_invalid_codes += 1
                logger.warning("plan row with an invalid code skipped: %r", row["code"])
                continue
            requests += product_updates(row["code"], row["facets_to_add"], row["facets_to_remove"])
        if requests:
            result = collection.bulk_write(requests, ordered=False)
            report.round_trips += 1
            report.operations += len(requests)
            report.matched += result.matched_count
            report.modified += result.modified_count
        if checkpoint is not None:
            _write_checkpoint(checkpoint, identity, index, done=index == report.batches - 1)
        logger.debug("fiber facet batch %d/%d sent (%d operations)", index + 1, report.batches, len(requests))
    if checkpoint is not None and report.batches == 0:
        _write_checkpoint(checkpoint, identity, -1, done=True)
    report.applied = True
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "fiber facets: %d operations in %d round trips, matched %d, modified %d", report.operations,
        report.round_trips, report.matched, report.modified,
    )  # fmt: skip
    return report


def _resume_batch(checkpoint: Path, identity: Mapping[str, Any]) -> int:
    """The first batch still to send according to ``checkpoint`` (0 when it is absent or for another run)."""
    try:
        state = orjson.loads(checkpoint.read_bytes())
    except FileNotFoundError:
        return 0
    except orjson.JSONDecodeError:
        logger.warning("unreadable checkpoint %s: starting over", checkpoint)
        return 0
    if not isinstance(state, dict) or any(state.get(key) != value for key, value in identity.items()):
        logger.info("checkpoint %s is for another plan, target or batch size: starting over", checkpoint)
        return 0
    last = state.get("last_batch")
    return last + 1 if isinstance(last, int) and last >= -1 else 0


def _write_checkpoint(checkpoint: Path, identity: Mapping[str, Any], last_batch: int, *, done: bool) -> None:
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    state = dict(identity) | {
        "last_batch": last_batch,
        "completed": done,
        "updated_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    write_json_atomic(checkpoint, state)


# --- the run -----------------------------------------------------------------------------------------------


def reports_dir(flavor: Flavor | str, settings: Settings | None = None) -> Path:
    """Where a flavor's plan, summary, checkpoint and report go: ``$OFF_DATA_DIR/reports/facets/<flavor>``."""
    return (settings or get_settings()).data_dir / "reports" / "facets" / Flavor(flavor).value


@contextmanager
def mongo_collection(settings: Settings) -> Iterator[Any]:
    """The products collection of ``MONGO_URI`` (``MONGO_DB``/``MONGO_COLLECTION``); the client is closed
    afterwards. The URI is never logged: it may hold a password."""
    from pymongo import MongoClient

    if not settings.mongo_uri:
        raise ValueError("MONGO_URI is not set")
    client: MongoClient = MongoClient(
        settings.mongo_uri, serverSelectionTimeoutMS=MONGO_TIMEOUT_MS, appname="offpipe-facets"
    )
    try:
        yield client[settings.mongo_db][settings.mongo_collection]
    finally:
        client.close()


def run_fiber_facets(
    flavor: Flavor | str = Flavor.off,
    *,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    store: Path | None = None,
    settings: Settings | None = None,
    collection: BulkWriter | None = None,
) -> FacetReport:
    """Plan the flavor's fiber facets, write the plan under :func:`reports_dir`, and apply it.

    Nothing connects to MongoDB with ``dry_run`` or when ``MONGO_URI`` is unset (and no ``collection`` is
    given, as tests do): the plan files are the whole output then. The report is also written as JSON.
    """
    started = time.perf_counter()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    settings = settings or get_settings()
    chosen = facet_flavor(flavor)
    snapshot = existing_snapshot(chosen, settings)
    out_dir = reports_dir(chosen, settings)
    plan = plan_fiber_facets(store or settings.store_path, snapshot, server_type=chosen)
    files = write_plan(plan, out_dir)
    checkpoint = out_dir / CHECKPOINT_FILE
    if dry_run or (collection is None and not settings.mongo_uri):
        report = plan_report(plan)
        report.batches = math.ceil(plan.num_rows / batch_size)
        logger.info("fiber facets %s: %s, plan only", chosen.value, "dry run" if dry_run else "no MONGO_URI")
    elif collection is not None:
        report = apply_plan(collection, plan, batch_size=batch_size, checkpoint=checkpoint)
    else:
        with mongo_collection(settings) as target:
            report = apply_plan(target, plan, batch_size=batch_size, checkpoint=checkpoint)
    report.flavor = chosen.value
    report.dry_run = dry_run
    report.plan = str(files.plan)
    report.seconds = round(time.perf_counter() - started, 3)
    write_json_atomic(out_dir / REPORT_FILE, report.to_dict())
    return report
