"""The listen loop on the real Redis: events in, store changes out, every entry settled as promised."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.listener import stream
from pipelines.listener.dispatch import process_units
from pipelines.listener.loop import listener_stats
from tests.pipelines.listener.conftest import (
    codes_with_insights,
    listener_env,
    make_listener,
    publish,
    query,
    world_settings,
)


def test_events_are_applied_skipped_or_dead_lettered_and_all_acknowledged(world) -> None:
    settings, resources, client = world
    settings = world_settings(settings, OFF_USER="offpipe-bot")  # the account of our own write-back edits
    gone, kept = codes_with_insights(settings)[:2]
    listener = make_listener(settings, resources, client)
    listener.setup()
    publish(client, settings, code=gone, action="deleted")
    publish(client, settings, code=kept, diffs=json.dumps({"fields": {"change": ["product_name"]}}))
    publish(client, settings, code="12")  # invalid barcode
    publish(client, settings, code=kept, user_id="roboto-app")  # Robotoff's own edit
    publish(client, settings, code=kept, user_id="offpipe-bot")  # ours (docs/annotate.md) …
    publish(client, settings, code=kept, comment="[offpipe] Adding label tag 'en:organic', ID: x")  # … marked
    applied = sum(listener.turn() for _ in range(5))
    assert applied == 2
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone]) == [(0,)]
    assert query(settings, "SELECT count(*) FROM prediction WHERE barcode = ?", [gone]) == [(0,)]
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [kept])[0][0] > 0
    stats = listener_stats(client, settings.listener_group)
    assert stats == {"processed": 2, "batches": 1, "skipped": 3, "dead_lettered": 1}
    status = stream.group_status(client, settings.redis_streams[0], settings.listener_group)
    assert (status.pending, status.lag, status.dead_letters) == (0, 0, 1)
    runs = query(settings, "SELECT kind, products FROM run WHERE kind = 'per-product'", [])
    assert runs == [("per-product", 1)]  # the deleted product is missing from the product table


def test_a_failed_batch_stays_pending_and_is_redone(world) -> None:
    settings, resources, client = world
    gone = codes_with_insights(settings)[0]

    def broken(units) -> None:
        raise RuntimeError("store unavailable")

    failing = make_listener(settings, resources, client, dispatch=broken)
    failing.setup()
    publish(client, settings, code=gone, action="deleted")
    assert sum(failing.turn() for _ in range(3)) == 0
    assert stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending == 1
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone])[0][0] > 0

    healthy = make_listener(settings, resources, client)
    healthy.consumer = "c2"
    assert sum(healthy.turn() for _ in range(3)) == 1  # reclaimed from c1, applied, acknowledged
    assert stream.group_status(client, settings.redis_streams[0], settings.listener_group).pending == 0
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone]) == [(0,)]
    assert listener_stats(client, settings.listener_group)["failed_batches"] >= 1


def test_offpipe_listen_applies_events_and_stops_cleanly_on_sigterm(
    world, tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    settings, _, client = world
    gone = codes_with_insights(settings)[0]
    # the child reads its lists from its settings
    env = listener_env(settings, keywords_dir, taxonomy_dir, OFF_LISTENER_DELAY_S="0.2")
    offpipe = str(Path(sys.executable).parent / "offpipe")
    listener = subprocess.Popen([offpipe, "listen"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        publish(client, settings, code=gone, action="deleted")
        deadline = time.monotonic() + 60
        while listener_stats(client, settings.listener_group).get("processed", 0) < 1:
            assert listener.poll() is None, listener.stderr.read() if listener.stderr else ""
            assert time.monotonic() < deadline, "the listener did not apply the event"
            time.sleep(0.2)
        listener.send_signal(signal.SIGTERM)
        assert listener.wait(timeout=30) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [gone]) == [(0,)]
    status = subprocess.run(
        [offpipe, "listen", "--status"], env=env, capture_output=True, text=True, check=True
    )
    report = json.loads(status.stdout)
    assert report["counters"]["processed"] == 1
    assert [s["pending"] for s in report["streams"]] == [0, 0]


def test_a_poison_product_is_isolated_then_dead_lettered_after_max_deliveries(world) -> None:
    settings, resources, client = world
    poison, healthy, later = codes_with_insights(settings)[:3]
    attempts: list[list[str]] = []

    def dispatch(units) -> None:
        attempts.append([unit.code for unit in units])
        if any(unit.code == poison for unit in units):
            raise ValueError("this product breaks the predictor")
        process_units(units, settings=settings, resources=resources)

    listener = make_listener(settings, resources, client, dispatch=dispatch)
    listener.options.max_deliveries = 3
    listener.setup()
    publish(client, settings, code=poison, action="deleted")
    publish(client, settings, code=healthy, action="deleted")
    listener.turn()
    # the batch failed, then each product alone: the healthy one is applied and acknowledged at once
    assert attempts == [[poison, healthy], [poison], [healthy]]
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [healthy]) == [(0,)]
    updates = settings.redis_streams[0]
    assert stream.group_status(client, updates, settings.listener_group).pending == 1

    for _ in range(2):  # redelivered through the reclaim, failing each time; traffic goes on meanwhile
        publish(client, settings, code=later, diffs="{}")
        time.sleep(0.05)  # idle longer than claim_idle_ms
        listener.turn()
    dead = client.xrange(updates + stream.DEAD_LETTER_SUFFIX)
    assert len(dead) == 1
    fields = {k.decode(): v.decode() for k, v in dead[0][1].items()}
    assert fields["reason"] == "apply_failed"
    assert fields["field:code"] == poison
    assert "ValueError: this product breaks the predictor" in fields["detail"]
    assert stream.group_status(client, updates, settings.listener_group).pending == 0
    stats = listener_stats(client, settings.listener_group)
    assert stats["dead_lettered"] == 1
    assert stats["processed"] == 3  # healthy + later twice
    assert query(settings, "SELECT count(*) FROM product_insight WHERE barcode = ?", [poison])[0][0] > 0


def test_an_outage_is_neither_dead_lettered_nor_split(world) -> None:
    settings, resources, client = world
    codes = codes_with_insights(settings)[:6]
    calls: list[int] = []

    def down(units) -> None:
        calls.append(len(units))
        raise OSError("store is on a full disk")

    listener = make_listener(settings, resources, client, dispatch=down)
    listener.options.max_deliveries = 1
    listener.options.health_window_s = 0.0
    listener.setup()
    for code in codes:
        publish(client, settings, code=code, action="deleted")
    for _ in range(4):
        listener.turn()
    # an outage is classified by its error (OSError): the batch waits whole, never dispatched in parts
    assert calls and set(calls) == {6}
    updates = settings.redis_streams[0]
    assert client.xlen(updates + stream.DEAD_LETTER_SUFFIX) == 0
    assert stream.group_status(client, updates, settings.listener_group).pending == 6

    time.sleep(0.05)
    healed = make_listener(settings, resources, client)  # the outage ends: everything is applied
    assert sum(healed.turn() for _ in range(3)) == 6
    assert stream.group_status(client, updates, settings.listener_group).pending == 0


def test_offpipe_listen_exits_at_startup_naming_missing_resources(world, tmp_path: Path) -> None:
    import subprocess
    import sys

    settings, _, _ = world
    env = listener_env(settings, tmp_path / "no-keywords", tmp_path / "no-taxonomies")
    offpipe = str(Path(sys.executable).parent / "offpipe")
    done = subprocess.run([offpipe, "listen"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot listen" in done.stderr
    for name in ("brand_taxonomy_blacklist.txt", "label_flashtext.txt", "store_regex.txt", "categories"):
        assert name in done.stderr


def test_uploads_and_deletions_reach_the_image_table(world) -> None:
    settings, resources, client = world
    snapshot = pq.read_table(settings.parquet_dir("off") / "products.parquet").to_pylist()
    product = next(r for r in snapshot if any(i["key"] == "1" for i in r["images"] or []))
    code, known = product["normalized_code"], next(i for i in product["images"] if i["key"] == "1")
    listener = make_listener(settings, resources, client)
    listener.setup()
    publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"add": ["1", "77"]}}))
    sum(listener.turn() for _ in range(3))
    rows = query(
        settings,
        "SELECT image_id, source_image, width, height, CAST(extract(epoch FROM uploaded_at) AS BIGINT), "
        "deleted FROM image "
        "WHERE barcode = ? ORDER BY image_id",
        [code],
    )
    [first, new] = rows
    assert first[2:5] == (known["width"], known["height"], known["uploaded_t"])  # from the product
    assert new[0] == "77" and new[1].endswith("/77.jpg") and new[2] is None  # not in the snapshot yet
    assert abs(new[4] - time.time()) < 120  # the event's time stands for the upload time
    publish(client, settings, code=code, diffs=json.dumps({"uploaded_images": {"delete": ["77"]}}))
    sum(listener.turn() for _ in range(3))
    deleted = query(settings, "SELECT image_id FROM image WHERE barcode = ? AND deleted", [code])
    assert deleted == [("77",)]
    publish(client, settings, code=code, action="deleted")
    sum(listener.turn() for _ in range(3))
    assert query(settings, "SELECT count(*) FROM image WHERE barcode = ? AND NOT deleted", [code]) == [(0,)]


def test_offpipe_listen_refuses_a_nutriscore_model_it_cannot_use(
    world, tmp_path: Path, taxonomy_dir: Path, keywords_dir: Path
) -> None:
    import subprocess
    import sys

    settings, _, _ = world
    bad = tmp_path / "nutriscore.onnx"
    bad.write_bytes(b"not a model")
    env = listener_env(settings, keywords_dir, taxonomy_dir, OFF_NUTRISCORE_MODEL=str(bad))
    offpipe = str(Path(sys.executable).parent / "offpipe")
    done = subprocess.run([offpipe, "listen"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"cannot listen: cannot load {bad}" in done.stderr
