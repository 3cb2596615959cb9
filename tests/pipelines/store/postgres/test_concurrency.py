"""1,000 listener events applied while the nightly bulk run (predict + import + refresh) of 100,000 products
writes to the same PostgreSQL database: both finish, nothing deadlocks, no edit is lost (docs/store.md,
"Concurrency").

The listener is a real ``offpipe listen`` on private Redis streams, reading the edited products from a
local Product Opener API (``OFF_PRODUCT_SOURCES=api``); the bulk run is ``run_refresh`` with the listener's
replay, in a thread of the test, over an older snapshot (the products before their edits). Events arrive:

- *free*: published at a steady rate from the start of the bulk run until its store session (the import, the
  refresh and the replay: ``pipelines.insights.job.nightly_step``) starts: they meet the prediction step;
- *pinned*: three waves of 150 products, each published while the bulk run is held at one point and
  applied before it goes on — two after the session's read, one between two of its apply chunks. The
  holds only wait (the code path is the real one): they make the session's ``skipped_products`` exactly
  predictable from the lock buckets.

After both: the listener's path run again on every edited product changes nothing (a bulk decision that
undid an edit would be redone), every edited product ends as the same edits applied after a clean bulk run
over the old data leave it (renamed products: on their predictions' keys, see below), and every other
product of the base set equals that clean run. The snapshot is 5,000 generated products repeated under
other codes (generating 100,000 takes ~2 min); ``OFF_TEST_PG_CONCURRENCY_PRODUCTS`` scales it (default
100,000; ~70 s in all on the 2-core development machine).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from pipelines.barcodes import InvalidBarcodeError, strict_code, validated_code
from pipelines.common.config import Settings, get_settings
from pipelines.convert.convert import convert_dump
from pipelines.insights.job import run_refresh
from pipelines.listener import stream
from pipelines.listener.dispatch import process_units
from pipelines.listener.loop import Listener, LoopOptions, listener_stats
from pipelines.listener.replay import replay_after_refresh
from pipelines.predictors.resources import Resources
from pipelines.store.postgres import mirror
from pipelines.store.postgres import session as pg_session
from pipelines.store.postgres.session import ApplyReport, PostgresStore
from pipelines.store.session import store_reader
from pipelines.store.target import PostgresTarget
from pipelines.synth.codes import make_code
from pipelines.synth.generator import SynthSpec, generate
from tests.pipelines.listener.conftest import OFFPIPE
from tests.support.postgres import PostgresServer

logger = logging.getLogger(__name__)

PRODUCTS = int(os.environ.get("OFF_TEST_PG_CONCURRENCY_PRODUCTS", "100000"))
BASE = 5_000  # generated products; the snapshot repeats them under other codes up to PRODUCTS
EDITS = 1_000  # edited products of the base set, one event each
WAVE = 150  # products of each pinned wave
SESSION = "predict off and refresh off"  # the purpose of the nightly job's store session (nightly_step)
FREE_RATE = 150.0  # free events per second
REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT_S = 300.0

INSIGHT_COLUMNS = (
    "barcode, type, value_tag, value, json_canonical(data) AS data, annotation, n_votes, "
    "countries::VARCHAR, brands::VARCHAR, source_image, automatic_processing, unique_scans_n, "
    "reserved_barcode, predictor, predictor_version, campaign::VARCHAR, confidence::FLOAT, lc::VARCHAR, "
    "with_image"
)
PREDICTION_COLUMNS = (
    "barcode, type, value_tag, value, json_canonical(data) AS data, source_image, automatic_processing, "
    "predictor, predictor_version, confidence::FLOAT"
)

State = dict[str, tuple[list[tuple], list[tuple]]]


# --- data -----------------------------------------------------------------------------------------------


@dataclass
class Edit:
    code: str  # normalized
    raw: str
    kind: str  # deleted | scans | name | tags
    document: dict[str, Any] | None  # the final document (None: deleted)

    def event(self) -> dict[str, str]:
        base = {"product_type": "food", "user_id": "alice", "comment": "", "code": self.raw}
        if self.document is None:
            return base | {"action": "deleted", "diffs": "{}"}
        fields = {"scans": ["countries"], "name": ["product_name"], "tags": ["brands", "labels"]}[self.kind]
        return base | {"action": "updated", "diffs": json.dumps({"fields": {"change": fields}})}


def _base_documents(dump: Path) -> list[dict[str, Any]]:
    with gzip.open(dump, "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def _edited(document: dict[str, Any], kind: str, donor: dict[str, Any]) -> dict[str, Any] | None:
    """The product after its edit: gone, more scans in other countries, another product's names, or its
    brand and label tags cleared."""
    if kind == "deleted":
        return None
    out = dict(document)
    if kind == "scans":
        out["unique_scans_n"] = int(out.get("unique_scans_n") or 0) + 1_000
        out["countries_tags"] = ["en:belgium", "en:switzerland"]
    elif kind == "name":
        for key in [k for k in out if k.startswith("product_name")]:
            del out[key]
        out |= {k: v for k, v in donor.items() if k.startswith("product_name")}
    else:
        out |= {"brands_tags": [], "brands": "", "labels_tags": [], "labels": ""}
    return out


def _replicated(base: pa.Table, products: int) -> pa.Table:
    """``base`` repeated under new EAN-13 codes up to ``products`` rows (the base rows keep theirs)."""
    parts, rank, rows = [base], 50_000_000, base.num_rows
    while rows < products:
        codes = pa.array([make_code("ean13", rank + i).raw for i in range(base.num_rows)], pa.string())
        part = base.set_column(base.schema.get_field_index("code"), "code", codes)
        part = part.set_column(part.schema.get_field_index("normalized_code"), "normalized_code", codes)
        parts.append(part)
        rank += base.num_rows
        rows += base.num_rows
    return pa.concat_tables(parts).slice(0, products)


# --- the pieces -----------------------------------------------------------------------------------------


class ProductApi:
    """Product Opener's read API for the edited products (``/api/v2/product/<code>``); 404 otherwise."""

    def __init__(self, documents: dict[str, dict[str, Any]]) -> None:
        self.documents = documents

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                document = documents.get(self.path.rstrip("/").rsplit("/", 1)[-1])
                body = orjson.dumps({"status": 1, "product": document}) if document else b"{}"
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Events:
    """Publishes the edits' events to the listener's stream and waits for the listener to apply them."""

    client: redis.Redis
    settings: Settings
    published: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, edits: list[Edit], unless: threading.Event | None = None) -> bool:
        """Publish ``edits`` unless ``unless`` is set (checked under the lock its setter takes)."""
        with self.lock:
            if unless is not None and unless.is_set():
                return False
            for edit in edits:
                self.client.xadd(self.settings.redis_streams[0], edit.event())
                self.published.append(edit.code)
        return True

    def wait_applied(self) -> None:
        """Until the listener has processed (committed, then acknowledged) every event published so far."""
        count = len(self.published)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            status = stream.group_status(
                self.client, self.settings.redis_streams[0], self.settings.listener_group
            )
            done = listener_stats(self.client, self.settings.listener_group).get("processed", 0)
            if done >= count and status.pending == 0 and status.lag == 0:
                return
            assert time.monotonic() < deadline, f"the listener applied {done} of {count} events ({status})"
            time.sleep(0.02)


@dataclass
class BulkProbe:
    """Watches the bulk run's PostgreSQL sessions from inside its thread (the real functions are called):
    their reports, apply chunks and skipped products, and holds them at the points of the pinned waves."""

    thread: threading.Thread | None = None
    purpose: str | None = None
    reports: dict[str, ApplyReport] = field(default_factory=dict)
    chunks: dict[str, list[list[int]]] = field(default_factory=dict)
    skipped: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)
    holds: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)
    middle: dict[str, Callable[[], None]] = field(default_factory=dict)  # held between the middle chunks

    def mine(self) -> bool:
        return threading.current_thread() is self.thread and self.purpose is not None

    def hold(self, point: str) -> None:
        action = self.holds.pop((self.purpose or "", point), None)
        if action is not None:
            action()

    def install(self, patch: pytest.MonkeyPatch) -> None:
        probe = self
        bulk, read, versions = PostgresStore._bulk, pg_session._read, pg_session._read_versions
        chunks, moved, pg = pg_session._chunks, pg_session._moved_products, pg_session._pg

        @contextmanager
        def watched_bulk(store: PostgresStore, scope: Any, purpose: str, *args: Any) -> Iterator[Any]:
            probe.purpose = purpose if threading.current_thread() is probe.thread else None
            with bulk(store, scope, purpose, *args) as con:
                yield con
            probe.reports[purpose] = store.last_report
            probe.purpose = None

        def watched_read(conn: Any, work: Any, scope: Any, *args: Any, **kwargs: Any) -> Any:
            if probe.mine() and scope.everything:
                probe.hold("before read")
            return read(conn, work, scope, *args, **kwargs)

        def watched_versions(
            conn: Any, work: Any, server_type: str, buckets: Any, tmp: Any, into: str
        ) -> None:
            versions(conn, work, server_type, buckets, tmp, into)
            if probe.mine() and into == "mirror_versions":
                probe.hold("after read")

        def watched_chunks(work: Any, tables: Any) -> list:
            out = chunks(work, tables)
            if probe.mine():
                purpose = probe.purpose or ""
                probe.chunks[purpose] = [list(buckets) for _, _, buckets in out]
                if purpose in probe.middle:
                    probe.holds[(purpose, f"chunk {len(out) // 2}")] = probe.middle.pop(purpose)
            return out

        def watched_moved(*args: Any) -> list:
            out = moved(*args)
            if probe.mine():
                probe.skipped.setdefault(probe.purpose or "", []).extend(out)
            return out

        def watched_pg(name: str, table: Any = None) -> Any:
            if probe.mine() and name == "postgres/lock_buckets":
                count = probe.locks[probe.purpose or ""] = probe.locks.get(probe.purpose or "", 0) + 1
                probe.hold(f"chunk {count - 1}")  # chunk i-1 committed, chunk i not begun (no lock held)
            return pg(name, table)

        patch.setattr(PostgresStore, "_bulk", watched_bulk)
        patch.setattr(pg_session, "_read", watched_read)
        patch.setattr(pg_session, "_read_versions", watched_versions)
        patch.setattr(pg_session, "_chunks", watched_chunks)
        patch.setattr(pg_session, "_moved_products", watched_moved)
        patch.setattr(pg_session, "_pg", watched_pg)


def _state(url: str, settings: Settings) -> State:
    """Each product's (insights, predictions), ids and times aside, read through the store's reader."""
    state: State = {}
    tables = ["prediction", "product_insight"]
    with store_reader(PostgresTarget(url), server_type="off", tables=tables, settings=settings) as con:
        for index, (table, columns) in enumerate(
            (("product_insight", INSIGHT_COLUMNS), ("prediction", PREDICTION_COLUMNS))
        ):
            for row in con.execute(f"SELECT {columns} FROM {table}").fetchall():
                state.setdefault(row[0], ([], []))[index].append(row)
    return {code: (sorted(ins, key=repr), sorted(preds, key=repr)) for code, (ins, preds) in state.items()}


def _clean_run(server: PostgresServer, snapshot: pa.Table, data: Path, resources: Resources) -> Settings:
    """A bulk run over ``snapshot`` on a fresh database: its settings (``store_url`` is the database)."""
    settings = get_settings({"OFF_DATA_DIR": str(data), "OFF_STORE_URL": server.create()})
    _put_snapshot(settings, snapshot)
    run_refresh("off", after_refresh=None, settings=settings, resources=resources)
    return settings


def _apply_after(settings: Settings, env: dict[str, str], edits: list[Edit], resources: Resources) -> None:
    """The edits' events applied by an in-process listener on the store of ``settings``, once nothing else
    writes to it: what the events leave when they all come after the bulk run."""
    store = {"OFF_DATA_DIR": str(settings.data_dir), "OFF_STORE_URL": settings.store_url or ""}
    settings = get_settings(store | env)
    client = redis.Redis.from_url(REDIS_URL)
    listener = Listener(
        client=client,
        settings=settings,
        dispatch=lambda units: process_units(units, settings=settings, resources=resources),
        consumer="after",
        options=LoopOptions(delay_s=0, low_delay_s=0, block_ms=20),
    )
    listener.setup()
    events = Events(client, settings)
    events.publish(edits)
    deadline = time.monotonic() + TIMEOUT_S
    while listener_stats(client, settings.listener_group).get("processed", 0) < len(edits):
        assert time.monotonic() < deadline, "the reference listener did not apply the edits"
        listener.turn()
    client.close()


def _listen(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``offpipe listen`` logging into ``log`` (a pipe nobody reads while it runs would fill and stop it)."""
    with log.open("w") as out:
        return subprocess.Popen([OFFPIPE, "listen", "--delay", "0"], env=env, stderr=out)


# --- the test -------------------------------------------------------------------------------------------


def test_listener_edits_during_a_bulk_run_are_never_undone(
    postgres_server: PostgresServer,
    tmp_path: Path,
    taxonomy_dir: Path,
    keywords_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.perf_counter()
    resources = Resources(keywords_dir, taxonomy_dir)
    dump = tmp_path / "base.jsonl.gz"
    generate(SynthSpec(products=BASE, seed=23, taxonomy_dir=taxonomy_dir, keywords_dir=keywords_dir), dump)
    convert_dump(dump, "off", out_dir=tmp_path / "base", min_rows=0)
    base = pq.read_table(tmp_path / "base" / "products.parquet")
    old_run = _clean_run(postgres_server, base, tmp_path / "old", resources)
    old = _state(old_run.store_url or "", old_run)

    # the edited products: base products with something stored (their edit can change it), one of four kinds
    documents = {doc["code"]: doc for doc in _base_documents(dump)}
    normalized = dict(
        zip(base.column("code").to_pylist(), base.column("normalized_code").to_pylist(), strict=True)
    )
    counts: dict[str, int] = {}
    for code in normalized.values():
        counts[code] = counts.get(code, 0) + 1
    with_insights = {code for code, (insights, _) in old.items() if insights}
    candidates = sorted(
        (
            raw
            for raw, code in normalized.items()
            if code in old and counts[code] == 1 and raw in documents and _event_code(raw) == code
        ),
        key=lambda raw: (normalized[raw] not in with_insights, hash_of(raw)),
    )
    assert len(candidates) >= EDITS, f"only {len(candidates)} base products have predictions"
    kinds = ("deleted", "scans", "name", "tags")
    edits = []
    for i, raw in enumerate(candidates[:EDITS]):
        donor = documents[candidates[(i + EDITS // 2) % EDITS]]
        kind = kinds[i % len(kinds)]
        edits.append(Edit(normalized[raw], raw, kind, _edited(documents[raw], kind, donor)))

    prefix = f"offpipe-test-{uuid.uuid4().hex[:12]}"
    api = ProductApi({validated_code(e.code): e.document for e in edits if e.document is not None})
    client = redis.Redis.from_url(REDIS_URL)
    listener: subprocess.Popen | None = None
    try:
        # the reference: the same edits applied after a clean bulk run over the old data (predictions
        # from a product's former name stay, as in Robotoff: only a prediction of the same kind replaces one)
        sources = {"OFF_PRODUCT_SOURCES": "api", "OFF_WORLD_URL_OFF": api.url, "REDIS_URL": REDIS_URL}
        reference = sources | {
            "OFF_REDIS_STREAMS": f"{prefix}-ref:updates",
            "OFF_OCR_STREAM": f"{prefix}-ref:ocr",
            "OFF_LISTENER_GROUP": f"{prefix}-ref-group",
        }
        _apply_after(old_run, reference, edits, resources)
        new = _state(old_run.store_url or "", old_run)
        changed = sum(old.get(edit.code) != new.get(edit.code) for edit in edits)
        assert changed >= EDITS * 3 // 4, f"only {changed} edits change what the product should get"
        prepared = time.perf_counter()

        # the store and the listener
        url = postgres_server.create()
        env = sources | {
            "OFF_DATA_DIR": str(tmp_path / "data"),
            "OFF_STORE_URL": url,
            "OFF_REDIS_STREAMS": f"{prefix}:updates",
            "OFF_OCR_STREAM": f"{prefix}:ocr",
            "OFF_LISTENER_GROUP": f"{prefix}-group",
        }
        settings = get_settings(env)
        _put_snapshot(settings, _replicated(base, PRODUCTS))
        events = Events(client, settings)
        listener = _listen(
            os.environ
            | env
            | {
                "OFF_KEYWORDS_DIR": str(keywords_dir),
                "OFF_TAXONOMY_DIR": str(taxonomy_dir),
                "OFF_GRAMMARS_DIR": str(keywords_dir.parent / "grammars"),
            },
            listener_log := tmp_path / "listener.log",
        )
        waves = [edits[i * WAVE : (i + 1) * WAVE] for i in range(3)]
        free = edits[3 * WAVE :]
        probe = BulkProbe()
        probe.install(monkeypatch)

        def wave(group: list[Edit]) -> Callable[[], None]:
            def run() -> None:
                events.publish(group)
                events.wait_applied()

            return run

        stop_free = threading.Event()

        def refresh_begins() -> None:
            with events.lock:
                stop_free.set()
            events.wait_applied()  # every free event before the refresh session's snapshot

        probe.holds = {
            (SESSION, "before read"): refresh_begins,
            (SESSION, "after read"): wave(waves[0] + waves[1]),
        }
        probe.middle = {SESSION: wave(waves[2])}
        bulk: dict[str, Any] = {}
        errors: list[BaseException] = []

        def run_bulk() -> None:
            try:
                bulk.update(
                    run_refresh(
                        "off", after_refresh=replay_after_refresh, settings=settings, resources=resources
                    )
                )
            except BaseException as exc:
                errors.append(exc)

        probe.thread = threading.Thread(target=run_bulk, daemon=True)
        bulk_started = time.perf_counter()
        probe.thread.start()
        sent = 0
        while sent < len(free) and events.publish([free[sent]], unless=stop_free):
            sent += 1
            time.sleep(1 / FREE_RATE)
        probe.thread.join(timeout=TIMEOUT_S)
        assert not probe.thread.is_alive(), "the bulk run did not finish"
        bulk_seconds = time.perf_counter() - bulk_started
        assert not errors, errors
        before_refresh = set(events.published) - {e.code for e in waves[0] + waves[1] + waves[2]}
        events.publish(free[sent:])  # the free events the refresh session did not meet
        events.wait_applied()
        stats = listener_stats(client, settings.listener_group)
        final = _state(url, settings)
        events.publish(edits)  # the listener's path once more on every edited product: nothing may change
        events.wait_applied()
        again = _state(url, settings)
        listener.send_signal(signal.SIGTERM)
        listener.wait(timeout=60)
        assert listener.returncode == 0, listener_log.read_text()[-3000:]
    finally:
        if listener is not None and listener.poll() is None:
            listener.kill()
            listener.wait(timeout=30)
        api.close()
        keys = list(client.scan_iter(match=f"*{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()

    assert stats.get("dead_lettered", 0) == stats.get("failed_batches", 0) == 0, stats
    # the free events sent while the bulk run predicted (~0.6 s at 100k products: ~90 of them); the others
    # were published after it
    assert len(events.published) == 2 * EDITS and sent > 0, (sent, len(free))
    # every pinned wave met its hold; the refresh session's skipped products are exactly the ones its holds
    # let the listener change under it, in buckets it had changes in
    assert not probe.holds, f"holds never reached: {sorted(probe.holds)}"
    refresh_chunks = probe.chunks[SESSION]
    middle = len(refresh_chunks) // 2
    after_snapshot = {b for chunk in refresh_chunks for b in chunk}
    after_middle = {b for chunk in refresh_chunks[middle:] for b in chunk}
    expected = {e.code for e in waves[0] + waves[1] if mirror.bucket("off", e.code) in after_snapshot}
    expected |= {e.code for e in waves[2] if mirror.bucket("off", e.code) in after_middle}
    skipped = [code for _, code in probe.skipped.get(SESSION, [])]
    assert sorted(skipped) == sorted(expected) and len(expected) > WAVE
    assert probe.reports[SESSION].skipped_products == len(expected)
    # the replay decided again every product the listener applied before the refresh session's snapshot
    assert bulk["refresh"]["listener_replay"]["products"] == len(before_refresh)

    # no edit lost: the listener's path, run again on the edited products, changes nothing …
    moved = [e.code for e in edits if again.get(e.code) != final.get(e.code)]
    assert not moved, f"{len(moved)} edits undone by the bulk run ({_kinds(edits, moved)}), e.g. {moved[0]}"
    # … and each product ends as its edit applied after a clean run leaves it. A renamed product is checked on
    # its predictions' keys: the import keeps the first of two product-name predictions with the same type
    # and value and never deletes one (Robotoff's rules), so when the edit came before the bulk import the
    # former name's predictions may be missing, or an equal value may keep the new name's wording
    wrong = []
    for e in edits:
        got, want = final.get(e.code, ([], [])), new.get(e.code, ([], []))
        if e.kind != "name":
            ok = got == want
        else:
            has, wanted, former = (_keys(st[1]) for st in (got, want, old.get(e.code, ([], []))))
            ok = wanted - former <= has <= wanted | former
        if not ok:
            wrong.append(e.code)
    assert not wrong, (
        f"{len(wrong)} edits differ from the reference ({_kinds(edits, wrong)}), e.g. {wrong[0]}: "
        f"{final.get(wrong[0])} instead of {new.get(wrong[0])}"
    )
    edited = {e.code for e in edits}
    stale = [code for code in old if code not in edited and final.get(code) != old[code]]
    assert not stale, f"{len(stale)} unedited products differ from a clean run, e.g. {stale[0]}"
    logger.warning(
        "concurrency test: %d products, bulk run %.1f s with the listener (%d free events met it), "
        "preparation %.1f s, total %.1f s; products skipped by the bulk session: %d",
        PRODUCTS,
        bulk_seconds,
        sent,
        prepared - started,
        time.perf_counter() - started,
        len(expected),
    )


def _event_code(raw: str) -> str | None:
    """The code an event naming ``raw`` is about (None: the listener refuses it, ``invalid_code``)."""
    try:
        return strict_code(raw)
    except InvalidBarcodeError:
        return None


def _keys(predictions: list[tuple]) -> set[tuple]:
    """What identifies a product-name prediction to the import: type, value tag, value."""
    return {row[1:4] for row in predictions}


def _kinds(edits: list[Edit], codes: list[str]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for edit in edits:
        if edit.code in codes:
            kinds[edit.kind] = kinds.get(edit.kind, 0) + 1
    return kinds


def hash_of(text: str) -> str:
    """A stable order that mixes the products of the generator's kinds."""
    return hashlib.md5(text.encode()).hexdigest()


def _put_snapshot(settings: Settings, table: pa.Table) -> None:
    out = settings.parquet_dir("off")
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "products.parquet")
