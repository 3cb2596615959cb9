"""Poison events do not take good ones down (``docs/reliability.md`` F28): failures are isolated per flavor
and per product, the good work of a batch is committed and acknowledged, and only the failing entries are
retried, then dead-lettered with their reason and error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pyarrow as pa

from pipelines.common.config import Flavor
from pipelines.listener import stream
from pipelines.listener.coalesce import coalesce
from pipelines.listener.dispatch import process_units
from pipelines.listener.events import parse_ocr_event, parse_product_event
from pipelines.listener.failures import is_outage
from pipelines.listener.loop import listener_stats
from pipelines.listener.sources import ApiSource, product_source
from pipelines.ocr.rows import ocr_table_from_json
from pipelines.predictors.rules.nutriscore import NutriscoreDetector
from pipelines.store.session import kept_store
from pipelines.synth.ocr import OcrImage, build_response
from tests.pipelines.listener.conftest import (
    codes_with_insights,
    make_listener,
    postgres_only,
    publish,
    query,
    world_settings,
)
from tests.support.http_server import Behaviour, DumpServer
from tests.support.onnx_models import solid_image, yolo_nutriscore_model

NAME_CHANGED = json.dumps({"fields": {"change": ["product_name"]}})


def test_three_events_of_a_flavor_without_snapshot_do_not_take_ten_good_ones_down(world) -> None:
    settings, resources, client = world
    codes = codes_with_insights(settings)
    poison, good, later = codes[:3], codes[3:13], codes[13:15]
    updates = settings.redis_streams[0]
    listener = make_listener(settings, resources, client)  # the real in-process dispatcher
    listener.options.max_deliveries = 3
    listener.setup()
    for code in poison:  # beauty products: obf has no snapshot (nor any other product source) here
        publish(client, settings, code=code, product_type="beauty", diffs=NAME_CHANGED)
    for code in good:
        publish(client, settings, code=code, diffs=NAME_CHANGED)
    listener.turn()  # one batch of 13 products

    applied = query(settings, "SELECT barcode FROM listener_log WHERE server_type = 'off' ORDER BY 1", [])
    assert applied == [(code,) for code in sorted(good)]  # the ten good products were applied …
    assert stream.group_status(client, updates, settings.listener_group).pending == 3  # … and acknowledged
    assert client.xlen(updates + stream.DEAD_LETTER_SUFFIX) == 0
    assert listener_stats(client, settings.listener_group)["processed"] == 10

    for code in later:  # the poison comes back through the reclaim, with new traffic
        publish(client, settings, code=code, diffs=NAME_CHANGED)
        time.sleep(0.05)  # idle longer than claim_idle_ms
        listener.turn()
    dead = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in client.xrange(updates + stream.DEAD_LETTER_SUFFIX)
    ]
    assert sorted(d["field:code"] for d in dead) == sorted(poison)
    assert {d["reason"] for d in dead} == {"source_unavailable"}
    assert all("no obf snapshot" in d["detail"] for d in dead)
    assert stream.group_status(client, updates, settings.listener_group).pending == 0
    stats = listener_stats(client, settings.listener_group)
    assert (stats["processed"], stats["dead_lettered"]) == (12, 3)


class _CrashingDetector:
    """The Nutri-Score detector, crashing on one product's image (a runtime error inside the batch's store
    work, after its OCR was fetched: the kind of failure only the product's own work can raise)."""

    def __init__(self, detector: NutriscoreDetector, poison: str) -> None:
        self.detector, self.poison, self.seen = detector, poison, []

    def predictions(self, image: bytes, *, barcode: str, source_image: str, server_type: str) -> pa.Table:
        self.seen.append(barcode)
        if barcode == self.poison:
            raise RuntimeError("the detector crashed")
        return self.detector.predictions(
            image, barcode=barcode, source_image=source_image, server_type=server_type
        )


def test_a_product_whose_work_raises_is_isolated_and_the_others_committed(world, tmp_path: Path) -> None:
    settings, resources, _ = world
    codes = codes_with_insights(settings)[:8]
    poison = codes[5]
    events = [
        parse_ocr_event("ocr", f"1700000000000-{i}", {"code": code, "image_id": "31", "product_type": "food"})
        for i, code in enumerate(codes)
    ]

    def fetch_ocr(code: str, image: str, flavor: Flavor, raw: str) -> pa.Table:
        payload = build_response(OcrImage(image, 600, 800, "fr", blocks=[["NUTRI-SCORE"]]))
        return ocr_table_from_json(payload, barcode=code, image_id=image, source="test")

    model = yolo_nutriscore_model(tmp_path / "nutriscore.onnx")
    detector = _CrashingDetector(NutriscoreDetector(model).load(), poison)
    report = process_units(
        coalesce(events),
        settings=settings,
        resources=resources,
        detector=detector,  # type: ignore[arg-type]
        fetch_ocr=fetch_ocr,
        fetch_image=lambda code, image, flavor, raw: solid_image((255, 0, 0)),
    )
    [failure] = report.failed
    assert (failure.code, failure.reason, failure.outage) == (poison, "apply_failed", False)
    assert failure.detail == "RuntimeError: the detector crashed"
    ledger = query(settings, "SELECT barcode FROM ocr_image ORDER BY 1", [])
    assert ledger == [(code,) for code in sorted(codes) if code != poison]  # the seven others committed
    graded = query(settings, "SELECT DISTINCT barcode FROM prediction WHERE predictor = 'nutriscore'", [])
    assert sorted(graded) == [(code,) for code in sorted(codes) if code != poison]
    # found in halves (8 → 4 → 2 → 1): the poison's image went through the detector 4 times, not 8
    assert detector.seen.count(poison) == 4


def test_products_waiting_for_an_unreachable_source_are_never_dead_lettered(world) -> None:
    """Product Opener's API down (503 after every retry): off products fall back to the snapshot and are
    applied; obf products have no other source — an outage, so they wait, whatever their delivery count."""
    settings, resources, client = world
    waiting, *good = codes_with_insights(settings)[:4]
    with DumpServer() as api:
        api.behaviour = Behaviour(fail_5xx=10**9)
        chained = world_settings(
            settings,
            OFF_PRODUCT_SOURCES="api,snapshot",
            OFF_WORLD_URL_OFF=api.base,
            OFF_WORLD_URL_OBF=api.base,
        )
        source = product_source(chained)  # the configured chain, its API retries without the 0.5 s backoff
        for api_source in source.sources:
            if isinstance(api_source, ApiSource):
                api_source.backoff_s = 0.001

        def dispatch(units):
            return process_units(units, settings=chained, resources=resources, source=source)

        listener = make_listener(chained, resources, client, dispatch=dispatch)
        listener.options.max_deliveries = 2
        listener.setup()
        publish(client, chained, code=waiting, product_type="beauty", diffs=NAME_CHANGED)
        for code in good:
            publish(client, chained, code=code, diffs=NAME_CHANGED)
            time.sleep(0.05)  # idle longer than claim_idle_ms: the obf entry is delivered again each turn
            listener.turn()
    updates = chained.redis_streams[0]
    assert client.xlen(updates + stream.DEAD_LETTER_SUFFIX) == 0
    assert stream.group_status(client, updates, chained.listener_group).pending == 1
    [entry] = client.xpending_range(updates, chained.listener_group, "-", "+", 10)
    assert entry["times_delivered"] == 3  # past max_deliveries, still pending
    applied = query(chained, "SELECT barcode FROM listener_log ORDER BY 1", [])
    assert applied == [(code,) for code in sorted(good)]


@postgres_only("a store connection cut by the server: the DuckDB store is a file, it has none")
def test_a_store_connection_cut_between_batches_is_an_outage_not_the_products_fault(world) -> None:
    """The listener keeps its PostgreSQL connection between batches; a server restart (or an idle-session
    killer) cuts it. The next batch fails on it — the environment's fault, not its products': they must
    wait for the store (an outage), never count towards their dead-lettering; the batch after reconnects."""
    settings, resources, _ = world
    first, second, third = codes_with_insights(settings)[:3]
    kept = kept_store(settings=settings)

    def apply(code: str):
        return process_units(_deleted(code), settings=settings, resources=resources, writer=kept)

    try:
        assert apply(first).failed == []
        with psycopg.connect(settings.store_url, autocommit=True) as admin:  # the server cuts the session
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        try:
            report = apply(second)
        except Exception as exc:  # a dispatcher may raise an outage: the whole batch waits
            assert is_outage(exc), repr(exc)
        else:
            assert [(f.code, f.outage) for f in report.failed] in ([], [(second, True)])
        assert apply(third).failed == []  # a new connection
    finally:
        kept.close()
    assert query(settings, "SELECT count(*) FROM listener_log WHERE barcode IN (?, ?)", [first, third]) == [
        (2,)
    ]


def _deleted(code: str) -> list:
    fields = {"code": code, "product_type": "food", "action": "deleted", "user_id": "alice", "diffs": "{}"}
    event = parse_product_event("updates", "1700000000000-0", fields)
    return coalesce([event])
