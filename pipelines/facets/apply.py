"""Applying a fiber facet plan to Product Opener's MongoDB: unordered ``bulk_write`` batches of idempotent
``$addToSet``/``$pull`` updates, with a checkpoint after each batch so an interrupted run resumes
(``docs/facets.md``)."""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
from pymongo import UpdateOne

from pipelines.common import files as atomic_files
from pipelines.common.config import Settings
from pipelines.facets.plan import PLAN_SCHEMA, check_plan, is_mongo_code, mongo_code
from pipelines.facets.report import FacetReport, plan_report

logger = logging.getLogger(__name__)

# Robotoff wrote the facets into both fields; Product Opener shows the warnings field on the product page.
FACET_FIELDS = ("data_quality_tags", "data_quality_warnings_tags")
DEFAULT_BATCH_SIZE = 1000
MONGO_TIMEOUT_MS = 30_000


class BulkWriteResultLike(Protocol):
    """What :func:`apply_plan` reads from a ``bulk_write`` result (pymongo's ``BulkWriteResult``)."""

    @property
    def matched_count(self) -> int: ...

    @property
    def modified_count(self) -> int: ...


class BulkWriter(Protocol):
    """The part of a pymongo ``Collection`` the writer uses (tests pass wrappers)."""

    def bulk_write(self, requests: list[UpdateOne], *, ordered: bool = ...) -> BulkWriteResultLike: ...


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
    atomic_files.write_json(checkpoint, state)


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
