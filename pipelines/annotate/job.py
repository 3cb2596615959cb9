"""The write-back run: every due insight of a flavor applied to Product Opener, or only planned.

Robotoff's scheduler annotates the due insights every 2 minutes (``process_insights``: automatic processing,
not annotated, ``process_after`` passed). A run here does the same in four steps (docs/annotate.md):

1. **read** the due insights (``sql/annotate/due_insights.sql``, the oldest ``limit``) — on PostgreSQL in a
   session scoped to their products (``sql/postgres/due_insight_barcodes.sql``);
2. **decide** per insight from the product's *current* state, read from the configured product source
   (``OFF_PRODUCT_SOURCES``: MongoDB or Product Opener's API in production): a call, or nothing to send;
3. **plan** mode (the default) writes the decisions as Parquet and markdown under
   ``$OFF_DATA_DIR/reports/apply/<flavor>/`` and stops; **apply** mode sends the calls, at most ``rate`` a
   second, outside any store session (no lock is held during an HTTP call);
4. **record** the outcomes (``sql/annotate/record_outcomes.sql``) every :data:`RECORD_EVERY` insights, each
   time in one short session of their products;
5. **refresh** the insights of the products whose insights were recorded, from their current state (the
   per-product refresh of ``pipelines.insights.refresh``), as Robotoff does after every annotation: the
   listener skips the update events of our own edits, so this is where the products' other insights learn of
   them.

A call that may succeed later (5xx, timeout, lost connection) leaves the insight unannotated and counts the
attempt (``sql/annotate/record_attempts.sql``): it waits a backoff that doubles per attempt, and after
:attr:`Backoff.attempts` failed calls it is recorded as failed, as a refused call (4xx) is at once. A run
killed between a call and its record sends nothing twice for the types with an "already done" check: the
next run reads the product's new state and records ``error_already_annotated`` instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.annotate.base import Done, Insight, Write
from pipelines.annotate.config import Credentials
from pipelines.annotate.errors import UnsupportedInsightError
from pipelines.annotate.registry import RULES, decide
from pipelines.annotate.results import AnnotationStatus, Outcome
from pipelines.annotate.writer import ProductOpenerWriter
from pipelines.common.config import Flavor, Settings, get_settings
from pipelines.common.files import atomic_path, write_text
from pipelines.common.sql import arrow_table, load_statement
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.sources import ProductSource, product_source
from pipelines.predictors.resources import Resources, default_resources
from pipelines.store.db import write_transaction
from pipelines.store.session import StoreRef, scope_barcodes, store_reader, store_session

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 1000  # insights per run (docs/annotate.md, "Safety")
DEFAULT_RATE = 2.0  # calls per second at most
DEFAULT_WORKERS = 4  # calls in flight at most (the rate cap still holds across them)
# Outcomes are recorded in one session every RECORD_EVERY insights or RECORD_EVERY_S seconds, whichever comes
# first: a crash loses at most those records (the insights are decided again at the next run), and a session
# (the DuckDB store's writer lock, short) costs tens of milliseconds whatever it records.
RECORD_EVERY = 200
RECORD_EVERY_S = 2.0
TABLES = ("product_insight", "annotate_attempt")


@dataclass(frozen=True)
class Backoff:
    """How often an insight whose calls fail transiently is tried, and how long it waits in between:
    ``first_s`` after the first failure, doubling each time up to ``max_s`` (defaults: ten calls over about
    twelve hours, so that an outage of Product Opener for a night's part costs no insight;
    docs/annotate.md, "Failures")."""

    attempts: int = 10
    first_s: float = 120.0
    max_s: float = 4 * 3600.0


class Mode(StrEnum):
    plan = "plan"
    apply = "apply"


@dataclass
class RunReport:
    """What one write-back run did (``statuses``: outcomes per status name)."""

    flavor: str
    mode: str
    due: int = 0
    sent: int = 0
    unsupported: int = 0
    retry_later: int = 0
    recorded: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    plan: str | None = None
    refreshed: int = 0  # products whose insights were refreshed after the run's annotations
    seconds: float = 0.0

    def count(self, status: AnnotationStatus) -> None:
        self.statuses[status.name] = self.statuses.get(status.name, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decided:
    insight: Insight
    decision: Write | Done | None  # None: a type offpipe does not write back


Send = Callable[[Insight, Write], Outcome]


def apply_due_insights(
    flavor: Flavor | str = Flavor.off,
    *,
    mode: Mode | str = Mode.plan,
    limit: int = DEFAULT_LIMIT,
    rate: float = DEFAULT_RATE,
    store: StoreRef = None,
    settings: Settings | None = None,
    source: ProductSource | None = None,
    send: Send | None = None,
    resources: Resources | None = None,
    workers: int = DEFAULT_WORKERS,
    now: dt.datetime | None = None,
    backoff: Backoff = Backoff(),
) -> RunReport:
    """Plan or apply the flavor's due insights (at most ``limit``); ``send`` replaces the Product Opener
    writer (built from ``OFF_USER``/``OFF_PASSWORD`` in apply mode), called by ``workers`` threads at once;
    ``resources``: the lists the refresh reads (default: the configured folders)."""
    started = time.perf_counter()
    flavor, mode = Flavor(flavor), Mode(mode)
    settings = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    report = RunReport(flavor=flavor.value, mode=mode.value)
    due = read_due(flavor, now=now, limit=limit, store=store, settings=settings)
    report.due = len(due)
    source = source or product_source(settings)
    decided, rows = decide_all(flavor, due, source)
    if mode is Mode.plan:
        report.plan = str(write_plan(decided, flavor, now, settings))
    elif decided:
        if send is None:
            writer = ProductOpenerWriter(settings, flavor, Credentials.from_env())
            send = lambda insight, write: writer.send(insight, write, automatic=True)  # noqa: E731
        touched: set[str] = set()

        def save(outcomes: list[dict[str, Any]]) -> int:
            touched.update(outcome["barcode"] for outcome in outcomes if outcome["annotation"] is not None)
            return record(flavor, outcomes, store=store, settings=settings, backoff=backoff, now=now)

        written = _apply(decided, send, rate, workers, report, save, backoff.attempts)
        # the products written are read again; the others' rows, read a moment ago, are still current
        unchanged = rows.filter(
            pc.is_in(rows.column("normalized_code"), pa.array(sorted(touched - written), pa.string()))
        )
        report.refreshed = refresh_products(
            flavor, sorted(written), store=store, settings=settings, source=source, resources=resources,
            known=unchanged,
        )  # fmt: skip
    for item in decided:
        if item.decision is None:
            report.unsupported += 1
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "write-back %s (%s): %d due, %d sent, %s, %d left for a later run, %d of unsupported types",
        flavor.value, mode.value, report.due, report.sent, report.statuses or "no outcome",
        report.retry_later, report.unsupported,
    )  # fmt: skip
    return report


def read_due(
    flavor: Flavor, *, now: dt.datetime, limit: int, store: StoreRef, settings: Settings
) -> list[Insight]:
    """The due insights, oldest due first (``sql/annotate/due_insights.sql``)."""
    params = {"server_type": flavor.value, "types": sorted(RULES), "now": now, "limit": limit}
    codes = scope_barcodes("postgres/due_insight_barcodes", params, store, settings)
    if codes is not None and not codes:
        return []
    reader = store_reader(store, server_type=flavor.value, barcodes=codes, tables=TABLES, settings=settings)
    with reader as con:
        rows = arrow_table(con, load_statement("annotate/due_insights"), params).to_pylist()
    return [Insight(**row) for row in rows]


def decide_all(
    flavor: Flavor, due: Sequence[Insight], source: ProductSource
) -> tuple[list[Decided], pa.Table]:
    """Each insight's decision from its product's current state (one source call for all products), and the
    products' rows."""
    codes = sorted({insight.barcode for insight in due})
    rows = PRODUCT_SCHEMA.empty_table()
    if codes:
        rows = source.rows(flavor, codes, {code: code for code in codes})
    products = {row["normalized_code"]: row for row in rows.to_pylist()}
    decided = []
    for insight in due:
        try:
            decided.append(Decided(insight, decide(insight, products.get(insight.barcode))))
        except UnsupportedInsightError as exc:
            logger.warning("insight %s not applied: %s", insight.id, exc)
            decided.append(Decided(insight, None))
    return decided, rows


def _result(entry: tuple[Decided, Future[Outcome]]) -> tuple[Decided, Outcome]:
    item, future = entry
    return item, future.result()


class _RateLimit:
    """At most ``rate`` calls a second across the workers (``rate`` 0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            slot = max(self._next, time.monotonic())
            self._next = slot + self.interval
        pause = slot - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def _apply(
    decided: Sequence[Decided],
    send: Send,
    rate: float,
    workers: int,
    report: RunReport,
    save: Callable[[list[dict[str, Any]]], int],
    attempts: int,
) -> set[str]:
    """Send the calls (``workers`` at a time, at most ``rate`` a second) and record the outcomes as they come,
    in the insights' order; the barcodes of the products written. A transient failure is recorded as an
    attempt, or as a failure when it was the insight's last of ``attempts``."""
    limit = _RateLimit(rate)

    def outcome_of(item: Decided) -> Outcome:
        if isinstance(item.decision, Write):
            limit.wait()
            return send(item.insight, item.decision)
        assert isinstance(item.decision, Done)
        return Outcome(item.decision.status, item.decision.detail)

    written: set[str] = set()
    pending: list[dict[str, Any]] = []
    last_save = [time.monotonic()]

    def settle(item: Decided, outcome: Outcome) -> None:
        nonlocal pending
        row = None
        if isinstance(item.decision, Write):
            report.sent += 1
            tried = item.insight.attempts + 1
            if outcome.transient and tried < attempts:
                report.retry_later += 1
                logger.warning(
                    "insight %s left for a later run (attempt %d of %d): %s",
                    item.insight.id, tried, attempts, outcome.detail,
                )  # fmt: skip
                row = attempt_row(item.insight, outcome.detail)
            elif outcome.status is AnnotationStatus.error_failed_update:
                if outcome.transient:
                    outcome = Outcome(outcome.status, f"gave up after {tried} attempts: {outcome.detail}")
                logger.error("insight %s not applied: %s", item.insight.id, outcome.detail)
            else:
                written.add(item.insight.barcode)
        if row is None:
            report.count(outcome.status)
            row = outcome_row(item.insight, outcome)
        pending.append(row)
        if len(pending) >= RECORD_EVERY or time.monotonic() - last_save[0] >= RECORD_EVERY_S:
            report.recorded += save(pending)
            pending, last_save[0] = [], time.monotonic()

    # a short window of calls in flight: a crash leaves few calls made and not recorded (docs/annotate.md)
    window: deque[tuple[Decided, Future[Outcome]]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="offpipe-apply")
    try:
        for item in decided:
            if item.decision is None:
                continue
            window.append((item, pool.submit(outcome_of, item)))
            if len(window) >= 2 * max(1, workers):
                settle(*_result(window.popleft()))
        while window:
            settle(*_result(window.popleft()))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if pending:
        report.recorded += save(pending)
    return written


def outcome_row(
    insight: Insight, outcome: Outcome, *, annotation: int = 1, username: str | None = None
) -> dict[str, Any]:
    """The annotation recorded for an insight that reached an end (by default accepted by the automatic
    processing, which Robotoff records without a user), with Robotoff's result code where Robotoff records
    one, or ``error_failed_update`` for a call Product Opener refused (so that it is not sent again every
    run; docs/annotate.md, "Results")."""
    failed = outcome.status is AnnotationStatus.error_failed_update
    recorded = outcome.recorded or failed
    user_value = outcome.status is AnnotationStatus.user_input_updated
    return {
        "id": insight.id,
        "barcode": insight.barcode,
        "annotation": annotation,
        "annotated_result": int(outcome.status) if recorded else None,
        "completed_at": dt.datetime.now(dt.UTC),
        "username": username,
        "user_value_tag": insight.value_tag if user_value else None,
        "error": outcome.detail if failed else None,
        "retry": False,
    }


def attempt_row(insight: Insight, error: str) -> dict[str, Any]:
    """A failed call to try again later: no annotation, one more attempt (``record_attempts.sql``)."""
    return {
        "id": insight.id,
        "barcode": insight.barcode,
        "annotation": None,
        "annotated_result": None,
        "completed_at": dt.datetime.now(dt.UTC),
        "username": None,
        "user_value_tag": None,
        "error": error,
        "retry": True,
    }


OUTCOMES_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("annotation", pa.int32()),  # none: a failed call to try again later
        pa.field("annotated_result", pa.int32()),
        pa.field("completed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("username", pa.string()),
        pa.field("user_value_tag", pa.string()),  # the operator's value tag, written (annotation 2)
        pa.field("error", pa.string()),  # why the call failed
        pa.field("retry", pa.bool_(), nullable=False),  # whether it is tried again later
    ]
)


def record(
    flavor: Flavor,
    rows: list[dict[str, Any]],
    *,
    store: StoreRef,
    settings: Settings,
    backoff: Backoff = Backoff(),
    now: dt.datetime | None = None,
) -> int:
    """Record ``rows`` (:func:`outcome_row`, :func:`attempt_row`) in one session of their products: the
    annotations, then the failed attempts and the attempts done with. The number of annotations recorded (an
    insight annotated by someone else meanwhile keeps that annotation and is not counted). ``now``: the run's
    clock, from which the backoff counts."""
    outcomes = pa.Table.from_pylist(rows, schema=OUTCOMES_SCHEMA)
    codes = sorted({row["barcode"] for row in rows})
    session = store_session(
        store, server_type=flavor.value, barcodes=codes, purpose="record annotations", tables=TABLES,
        settings=settings,
    )  # fmt: skip
    with session as con:
        con.register("annotate_outcomes", outcomes)
        try:
            with write_transaction(con, purpose="record annotations"):
                recorded = len(con.execute(load_statement("annotate/record_outcomes")).fetchall())
                params = {"now": now or dt.datetime.now(dt.UTC), "backoff_s": backoff.first_s}
                params["backoff_max_s"] = backoff.max_s
                con.execute(load_statement("annotate/record_attempts"), params)
                con.execute(load_statement("annotate/clear_attempts"))
                return recorded
        finally:
            con.unregister("annotate_outcomes")


def refresh_products(
    flavor: Flavor,
    codes: Sequence[str],
    *,
    store: StoreRef,
    settings: Settings,
    source: ProductSource,
    resources: Resources | None = None,
    known: pa.Table | None = None,
) -> int:
    """Refresh the insights of ``codes``, read from ``source`` now, and of the products of ``known`` (rows
    already read and still current), in one per-product refresh session; the products refreshed. A product
    the source does not have is left alone (absence is not deletion)."""
    parts = [known] if known is not None and known.num_rows else []
    if codes:
        parts.append(source.rows(flavor, codes, {code: code for code in codes}))
    if not parts:
        return 0
    rows = pa.concat_tables(parts, promote_options="default") if len(parts) > 1 else parts[0]
    found = sorted(set(rows.column("normalized_code").to_pylist()))
    if not found:
        return 0
    session = store_session(
        store, server_type=flavor.value, barcodes=found, purpose="refresh after write-back", settings=settings
    )
    with session as con:
        refresh_insights(con, rows, flavor=flavor, barcodes=found, resources=resources or default_resources())
    return len(found)


PLAN_SCHEMA = pa.schema(
    [
        pa.field("insight_id", pa.string(), nullable=False),
        pa.field("barcode", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("value", pa.string()),
        pa.field("value_tag", pa.string()),
        pa.field("decision", pa.string(), nullable=False),  # send | <status name> | unsupported
        pa.field("endpoint", pa.string()),
        pa.field("fields", pa.map_(pa.string(), pa.string())),
        pa.field("action", pa.string()),
    ]
)


def plan_rows(decided: Sequence[Decided]) -> list[dict[str, Any]]:
    rows = []
    for item in decided:
        decision, insight = item.decision, item.insight
        row: dict[str, Any] = {
            "insight_id": insight.id,
            "barcode": insight.barcode,
            "type": insight.type,
            "value": insight.value,
            "value_tag": insight.value_tag,
            "decision": "unsupported",
        }
        if isinstance(decision, Write):
            row |= {"decision": "send", "endpoint": decision.path, "action": decision.action}
            row["fields"] = dict(decision.fields)
        elif isinstance(decision, Done):
            row["decision"] = decision.status.name
        rows.append(row)
    return rows


def write_plan(decided: Sequence[Decided], flavor: Flavor, now: dt.datetime, settings: Settings) -> Path:
    """The run's decisions as ``<stamp>.parquet`` and ``<stamp>.md`` (atomic writes); the Parquet path."""
    folder = settings.data_dir / "reports" / "apply" / flavor.value
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    rows = plan_rows(decided)
    parquet = stem.with_suffix(".parquet")
    with atomic_path(parquet) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=PLAN_SCHEMA), tmp)
    write_text(stem.with_suffix(".md"), plan_markdown(rows, flavor))
    return parquet


def plan_markdown(rows: Sequence[dict[str, Any]], flavor: Flavor) -> str:
    sends = [row for row in rows if row["decision"] == "send"]
    lines = [
        f"# Write-back plan: {flavor.value}",
        "",
        f"{len(rows)} due insights: {len(sends)} calls to Product Opener, {len(rows) - len(sends)} without.",
        "",
        "| insight | barcode | type | decision | call |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        call = f"`{row['endpoint']}` {row['action']}" if row["decision"] == "send" else ""
        cells = (row["insight_id"], row["barcode"], row["type"], row["decision"], call)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_markdown(report: dict[str, Any]) -> str:
    """A run's counts as markdown (the flow's artifact)."""
    lines = [
        f"# Write-back run: {report['flavor']} ({report['mode']})",
        "",
        "| due | sent | recorded | left for a later run | unsupported types | seconds |",
        "|---|---|---|---|---|---|",
        f"| {report['due']} | {report['sent']} | {report['recorded']} | {report['retry_later']} "
        f"| {report['unsupported']} | {report['seconds']} |",
        "",
    ]
    if report["statuses"]:
        lines += ["| outcome | insights |", "|---|---|"]
        lines += [f"| {name} | {count} |" for name, count in sorted(report["statuses"].items())]
    if report["plan"]:
        lines += ["", f"Plan: `{report['plan']}` (nothing sent)."]
    return "\n".join(lines) + "\n"
