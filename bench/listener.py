"""Benchmark of the Redis listener: event-to-commit latency, sustained throughput, memory.

    python bench/listener.py [--products 100000] [--rate 20] [--latency-seconds 20]
                             [--burst-rate 250] [--burst-seconds 20] [--cache data/bench]

It reuses (or builds) the cached synthetic snapshot of ``bench/predict.py``, and in a child process fills a
fresh store with the nightly job (product-name predictions, bulk refresh), then runs the listener in that
process against the Redis at ``REDIS_URL`` (private stream and group names, deleted afterwards):

1. latency: events published at ``--rate`` per second (coalescing delay 0), each one's latency measured from
   just before its XADD to the commit of the batch that applied it (the dispatcher returned, before the
   XACK); p50 / p95 / p99 / max. Target (results in ``docs/listener.md``): p50 ≤ 250 ms, p99 ≤ 1 s at 20
   events/s.
2. throughput: events published at ``--burst-rate`` per second for ``--burst-seconds`` with the default
   coalescing delay (2 s); the rate at which they were committed (first XADD to last commit), the largest
   backlog seen, and a check that every event was applied once (processed = published, nothing pending).
   Target: ≥ 200 events/s with no loss.

Events are drawn uniformly over the snapshot's products (the worst case for coalescing): 80 % edits of the
product name, 10 % image uploads, 10 % mass-update edits (``scanbot``, the low lane). Peak RSS is the child's
(store, snapshot reads, predictors' lists, the listener).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict import _env, products_snapshot  # the bench helpers of the same folder

CHILD = r"""
import json, os, random, resource, statistics, sys, tempfile, threading, time, uuid
from pathlib import Path
import pyarrow.parquet as pq
import redis
from pipelines.common.config import get_settings
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.dispatch import process_units
from pipelines.listener.lookup import SnapshotLookup
from pipelines.listener.sources import product_source
from pipelines.listener.loop import Listener, LoopOptions, listener_stats
from pipelines.listener import stream
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import default_resources
from pipelines.predictors.bulk import prediction_products
from pipelines.store.db import KeptWriter, store_writer
from pipelines.store.predictions import import_predictions

snapshot, args = Path(sys.argv[1]), json.loads(sys.argv[2])
data = Path(tempfile.mkdtemp(prefix="bench-listener-"))
(data / "parquet" / "off").mkdir(parents=True)
(data / "parquet" / "off" / "products.parquet").symlink_to(snapshot.resolve())
prefix = f"bench-listener-{uuid.uuid4().hex[:8]}"
os.environ |= {"OFF_DATA_DIR": str(data), "OFF_REDIS_STREAMS": f"{prefix}:updates",
               "OFF_OCR_STREAM": f"{prefix}:ocr"}
out = {}
resources = default_resources()
resources.preload(("labels", "categories"))
started = time.perf_counter()
products = pq.read_table(snapshot)
predictions = predict(products, resources=resources)
settings0 = get_settings()
with store_writer(settings0.store_path) as con:
    import_predictions(con, predictions, products=prediction_products(predictions, snapshot))
    refresh_insights(con, snapshot, resources=resources)
out["store_fill_s"] = round(time.perf_counter() - started, 1)
started = time.perf_counter()
lookup = SnapshotLookup(data / "parquet" / "off" / "products.parquet")
lookup.build()  # what the listener builds in the background for each new snapshot
out["lookup_build_s"] = round(time.perf_counter() - started, 1)
codes = products.column("normalized_code").to_pylist()
del products, predictions
client = redis.Redis.from_url(settings0.redis_url)
rng = random.Random(7)


def event():
    code = rng.choice(codes)
    draw = rng.random()
    fields = {"code": code, "product_type": "food", "action": "updated", "user_id": "alice", "comment": ""}
    if draw < 0.8:
        fields["diffs"] = json.dumps({"fields": {"change": ["product_name"]}})
    elif draw < 0.9:
        fields["diffs"] = json.dumps({"uploaded_images": {"add": [str(rng.randint(20, 60))]}})
    else:
        fields |= {"user_id": "scanbot", "diffs": "{}"}
    return fields


def run_phase(label, delay, rate, seconds):
    os.environ["OFF_LISTENER_GROUP"] = f"{prefix}-{label}"
    os.environ["OFF_REDIS_STREAMS"] = f"{prefix}:{label}"  # each phase its own stream: its events only
    settings = get_settings()
    committed = {}
    source = product_source(settings, lookup=True)
    writer = KeptWriter(settings.store_path)  # as `offpipe listen`: the store stays open between batches

    batches = []  # (products, seconds) of each batch

    def dispatch(units):
        began = time.time()
        process_units(units, settings=settings, resources=resources, source=source, writer=writer)
        now = time.time()
        batches.append((len(units), now - began))
        for unit in units:
            for _, entry_id in unit.entries:
                committed[entry_id] = now

    options = LoopOptions(delay_s=delay, low_delay_s=10.0 if delay else 0.0, block_ms=20)
    listener = Listener(client=redis.Redis.from_url(settings.redis_url), settings=settings, dispatch=dispatch,
                        consumer="bench", options=options, idle=writer.tick)
    listener.setup()

    def run():
        try:
            listener.run()
        finally:
            writer.close()  # from the thread that opened it

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    sent = {}
    total = int(rate * seconds)
    begin = time.time()
    backlog = 0
    for i in range(total):
        target = begin + i / rate
        pause = target - time.time()
        if pause > 0:
            time.sleep(pause)
        at = time.time()
        entry_id = client.xadd(settings.redis_streams[0], event()).decode()
        sent[entry_id] = at
        backlog = max(backlog, len(sent) - len(committed))
    deadline = time.time() + 600
    while len(committed) < total and time.time() < deadline:
        time.sleep(0.01)
    last = max(committed.values()) if committed else float("nan")
    listener.stop()
    thread.join(timeout=60)
    status = stream.group_status(client, settings.redis_streams[0], settings.listener_group)
    latencies = sorted((committed[i] - sent[i]) * 1000 for i in sent if i in committed)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    out[label] = {
        "events": total, "rate_asked": rate, "delay_s": delay, "applied": len(committed),
        "processed": listener_stats(client, settings.listener_group).get("processed", 0),
        "pending_after": status.pending, "lag_after": status.lag,
        "committed_per_s": round(total / (last - begin), 1),
        "latency_ms": {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1),
                       "max": round(latencies[-1], 1) if latencies else None},
        "max_backlog": backlog,
        "batches": len(batches),
        "products_per_batch": round(statistics.mean(b[0] for b in batches), 1) if batches else 0,
        "batch_ms_p50": round(statistics.median(b[1] for b in batches) * 1000, 1) if batches else 0,
    }


run_phase("latency", 0.0, args["rate"], args["latency_seconds"])
run_phase("throughput", 2.0, args["burst_rate"], args["burst_seconds"])
keys = list(client.scan_iter(match=f"*{prefix}*"))
if keys:
    client.delete(*keys)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--burst-rate", type=float, default=250.0)
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    args = parser.parse_args()
    snapshot, _ = products_snapshot(args.cache, args.products)
    options = {
        "rate": args.rate,
        "latency_seconds": args.latency_seconds,
        "burst_rate": args.burst_rate,
        "burst_seconds": args.burst_seconds,
    }
    env = _env() | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(snapshot), json.dumps(options)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["products"] = args.products
    latency, throughput = result["latency"], result["throughput"]
    result["targets"] = {
        "p50_le_250ms": latency["latency_ms"]["p50"] <= 250,
        "p99_le_1s": latency["latency_ms"]["p99"] <= 1000,
        "throughput_ge_200_per_s": throughput["committed_per_s"] >= 200,
        "no_loss": throughput["applied"] == throughput["events"] == throughput["processed"]
        and throughput["pending_after"] == 0,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
