"""Benchmark of the Redis listener: event-to-commit latency, sustained throughput, memory.

    python bench/listener.py [--products 100000] [--rate 20] [--latency-seconds 20]
                             [--burst-rate 250] [--burst-seconds 20] [--cache data/bench]
                             [--store postgresql://… [--keep] [--max-phase-seconds 300]]

It reuses (or builds) the cached synthetic snapshot of ``bench/predict.py``, and in a child process fills a
fresh store with the nightly job (product-name predictions, bulk refresh), then runs the listener in that
process against the Redis at ``REDIS_URL`` (private stream and group names, deleted afterwards). Each phase
starts with one warm-up event, applied before the clock starts (its latency is printed as ``warmup_ms``: the
first batch of a kept store builds its session state, once per listener):

1. latency: events published at ``--rate`` per second (coalescing delay 0), each one's latency measured from
   just before its XADD to the commit of the batch that applied it (the dispatcher returned, before the
   XACK); p50 / p95 / p99 / max. Target (results in ``docs/listener.md``): p50 ≤ 250 ms, p99 ≤ 1 s at 20
   events/s.
2. throughput: events published at ``--burst-rate`` per second for ``--burst-seconds`` with the default
   coalescing delay (2 s); the rate at which they were committed (first XADD to last commit), the largest
   backlog seen, and a check that every event was applied once (processed = published, nothing pending).
   Target: ≥ 200 events/s with no loss.

With ``--store postgresql://…`` the store is a fresh PostgreSQL database on that server (named after the
URL's database plus a suffix, dropped at the end; ``--keep``: the URL's own, kept), and both phases run
again while a bulk refresh of the snapshot (``refresh_step``, another process) writes to the same database:
the insights are emptied first, so that refresh inserts every insight again, in chunks under bucket locks,
while the listener applies its events. Such a phase publishes until the bulk refresh has ended (at least its
usual length, at most ``--max-phase-seconds``); it reports the bulk refresh's own figures (read / decide /
apply, products left to the listener) and how long it overlapped the listener's work. Each phase also
reports the listener's PostgreSQL sessions: read / decide / apply and the session functions' time
(``bench/pgstore.py``).

Events are drawn uniformly over the snapshot's products (the worst case for coalescing): 80 % edits of the
product name, 10 % image uploads, 10 % mass-update edits (``scanbot``, the low lane). Peak RSS is the child's
(store, snapshot reads, predictors' lists, the listener). Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's pipelines
sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict import _env, products_snapshot  # the bench helpers of the same folder

CHILD = r"""
import json, os, random, resource, statistics, subprocess, sys, tempfile, threading, time, uuid
from pathlib import Path
import pyarrow.parquet as pq
import redis

snapshot, args = Path(sys.argv[1]), json.loads(sys.argv[2])
sys.path.insert(0, args["bench_dir"])
from pgstore import SessionRecorder, session_summary, truncate_insights
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
from pipelines.store.predictions import import_predictions
from pipelines.store.session import kept_store, store_session
from pipelines.store.target import DuckDBTarget, store_target

data = Path(tempfile.mkdtemp(prefix="bench-listener-"))
(data / "parquet" / "off").mkdir(parents=True)
(data / "parquet" / "off" / "products.parquet").symlink_to(snapshot.resolve())
prefix = f"bench-listener-{uuid.uuid4().hex[:8]}"
os.environ |= {"OFF_DATA_DIR": str(data), "OFF_REDIS_STREAMS": f"{prefix}:updates",
               "OFF_OCR_STREAM": f"{prefix}:ocr"}
settings0 = get_settings()
target = store_target(args["store"], settings0)  # None: the DuckDB file of the data folder
postgres = not isinstance(target, DuckDBTarget)
recorder = SessionRecorder().install() if postgres else None
out = {"store": "postgresql" if postgres else "duckdb"}
resources = default_resources()
resources.preload(("labels", "categories"))
started = time.perf_counter()
products = pq.read_table(snapshot)
predictions = predict(products, resources=resources)
with store_session(target, server_type="off", purpose="bench fill", settings=settings0) as con:
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


def bulk_refresh():
    # A bulk refresh of the snapshot in another process, against the same PostgreSQL database, over
    # emptied insights (run_phase): it inserts every insight again, in chunks under bucket locks, while the
    # listener writes.
    job = {"bench_dir": args["bench_dir"], "data": str(data), "store": args["store"]}
    return subprocess.Popen([sys.executable, "-c", args["bulk_script"], json.dumps(job)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_phase(label, delay, rate, seconds, bulk=False):
    os.environ["OFF_LISTENER_GROUP"] = f"{prefix}-{label}"
    os.environ["OFF_REDIS_STREAMS"] = f"{prefix}:{label}"  # each phase its own stream: its events only
    settings = get_settings()
    committed = {}
    source = product_source(settings, lookup=True)
    writer = kept_store(target, settings)  # as `offpipe listen`: the store stays open between batches
    mark = len(recorder.sessions) if recorder else 0
    if bulk:
        truncate_insights(args["store"])  # before the listener connects: TRUNCATE waits for no one

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
    # warm-up: one event applied before the clock starts; the first batch of a kept store builds its
    # session state (PostgreSQL: the in-memory working copy and its taxonomy tables), once per listener
    warm_at = time.time()
    warm_id = client.xadd(settings.redis_streams[0], event()).decode()
    while warm_id not in committed and time.time() < warm_at + 120:
        time.sleep(0.01)
    warmup_ms = round((committed.get(warm_id, float("nan")) - warm_at) * 1000, 1)
    committed.clear()
    batches.clear()
    mark = len(recorder.sessions) if recorder else 0
    background = bulk_refresh() if bulk else None
    sent = {}
    begin = time.time()
    backlog = 0
    i = 0
    # a bulk phase publishes until the bulk refresh has ended (at least `seconds`): every part of it, the
    # read, the rules and the chunked apply, runs while events arrive
    while i < int(rate * seconds) or (background is not None and background.poll() is None):
        target_at = begin + i / rate
        pause = target_at - time.time()
        if pause > 0:
            time.sleep(pause)
        at = time.time()
        entry_id = client.xadd(settings.redis_streams[0], event()).decode()
        sent[entry_id] = at
        backlog = max(backlog, len(sent) - len(committed))
        i += 1
        if time.time() - begin > args["max_phase_seconds"]:
            break
    total = i
    published_until = time.time()
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
        "processed": listener_stats(client, settings.listener_group).get("processed", 0) - 1,  # - warm-up
        "warmup_ms": warmup_ms,
        "pending_after": status.pending, "lag_after": status.lag,
        "publishing_s": round(published_until - begin, 1),
        "committed_per_s": round(total / (last - begin), 1),
        "latency_ms": {"p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1),
                       "max": round(latencies[-1], 1) if latencies else None},
        "max_backlog": backlog,
        "batches": len(batches),
        "products_per_batch": round(statistics.mean(b[0] for b in batches), 1) if batches else 0,
        "batch_ms_p50": round(statistics.median(b[1] for b in batches) * 1000, 1) if batches else 0,
    }
    if recorder:
        out[label]["pg_sessions"] = session_summary(recorder.sessions[mark:])
    if background is not None:
        stdout, stderr = background.communicate(timeout=600)
        if background.returncode:
            sys.stderr.write(stderr[-3000:])
            raise SystemExit(f"the bulk refresh failed (exit {background.returncode})")
        bulk_figures = json.loads(stdout.strip().splitlines()[-1])
        session = bulk_figures["session"]
        apply_from = session["began_at"] + session["read_s"] + session["decide_s"]
        until = min(last, bulk_figures["ended_at"])
        out[label]["bulk_refresh"] = bulk_figures | {
            # how much of the bulk refresh, and of its apply, ran while the listener had events to apply
            "overlap_s": round(max(0.0, until - max(begin, session["began_at"])), 1),
            "apply_overlap_s": round(max(0.0, until - max(begin, apply_from)), 1),
        }
        # the events published while the bulk refresh ran (the phase also holds events before and after it)
        during = sorted(
            (committed[i] - at) * 1000
            for i, at in sent.items()
            if i in committed and bulk_figures["began_at"] <= at <= bulk_figures["ended_at"]
        )
        if len(during) > 1:
            q = statistics.quantiles(during, n=100)
            out[label]["latency_ms_while_bulk_ran"] = {
                "events": len(during), "p50": round(q[49], 1), "p95": round(q[94], 1), "p99": round(q[98], 1),
                "max": round(during[-1], 1),
            }


run_phase("latency", 0.0, args["rate"], args["latency_seconds"])
run_phase("throughput", 2.0, args["burst_rate"], args["burst_seconds"])
if postgres:
    run_phase("latency_during_bulk", 0.0, args["rate"], args["latency_seconds"], bulk=True)
    run_phase("throughput_during_bulk", 2.0, args["burst_rate"], args["burst_seconds"], bulk=True)
keys = list(client.scan_iter(match=f"*{prefix}*"))
if keys:
    client.delete(*keys)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(out))
"""

BULK = r"""
import json, os, sys, time
job = json.loads(sys.argv[1])
sys.path.insert(0, job["bench_dir"])
os.environ["OFF_DATA_DIR"] = job["data"]
from pgstore import SessionRecorder, rounded_session
from pipelines.insights.job import refresh_step
recorder = SessionRecorder().install()
began = time.time()
report = refresh_step("off", after_refresh=None, store=job["store"])
session = rounded_session(recorder.sessions[-1])


def peak_rss_mb():
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would be the listener process's peak
    status = open("/proc/self/status").read().splitlines()
    return round(int(next(line for line in status if line.startswith("VmHWM")).split()[1]) / 1024)


session["began_at"] = began
print(json.dumps({
    "began_at": began, "ended_at": time.time(), "seconds": round(time.time() - began, 1),
    "products": report["products"], "created": sum(report["created"].values()), "session": session,
    "peak_rss_mb": peak_rss_mb(),
}))
"""


def _targets(latency: dict, throughput: dict) -> dict:
    return {
        "p50_le_250ms": latency["latency_ms"]["p50"] <= 250,
        "p99_le_1s": latency["latency_ms"]["p99"] <= 1000,
        "throughput_ge_200_per_s": throughput["committed_per_s"] >= 200,
        "no_loss": all(
            phase["applied"] == phase["events"] == phase["processed"] and phase["pending_after"] == 0
            for phase in (latency, throughput)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--burst-rate", type=float, default=250.0)
    parser.add_argument("--burst-seconds", type=float, default=20.0)
    parser.add_argument(
        "--max-phase-seconds", type=float, default=300.0, help="cap of a phase during a bulk run"
    )
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--store", help="postgresql://… : the store (a fresh database on that server)")
    parser.add_argument("--keep", action="store_true", help="write into the URL's database and keep it")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    snapshot, _ = products_snapshot(args.cache, args.products)
    options = {
        "rate": args.rate,
        "latency_seconds": args.latency_seconds,
        "burst_rate": args.burst_rate,
        "burst_seconds": args.burst_seconds,
        "max_phase_seconds": args.max_phase_seconds,
        "bench_dir": str(Path(__file__).resolve().parent),
        "bulk_script": BULK,
        "store": None,
    }
    with contextlib.ExitStack() as stack:
        if args.store is not None:
            from pgstore import bench_database

            options["store"] = stack.enter_context(bench_database(args.store, keep=args.keep))
        result = run_child(snapshot, options)
    result["products"] = args.products
    result["targets"] = _targets(result["latency"], result["throughput"])
    if "latency_during_bulk" in result:
        result["targets_during_bulk"] = _targets(
            result["latency_during_bulk"], result["throughput_during_bulk"]
        )
    print(json.dumps(result, indent=2))


def run_child(snapshot: Path, options: dict) -> dict:
    env = _env() | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(snapshot), json.dumps(options)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"the listener bench failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
