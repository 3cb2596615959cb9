"""Benchmark of the write-back run: due insights decided, written to Product Opener and recorded.

    python bench/apply.py [--insights 10000] [--rate 5] [--capped 200] [--store postgresql://…]

A fresh DuckDB store (and, with ``--store``, a fresh PostgreSQL database on that server, dropped at the end)
gets ``--insights`` due automatic insights of mixed types (label, category, store, brand, product_weight,
expiration_date, packager_code) on as many products, one insight each; a Product Opener stand-in on
127.0.0.1 (``tests/support/product_opener.py``) holds the products — a third of them already hold their
insight's value — and serves them through its read API, which is the run's product source, as in production.
Then ``apply_due_insights`` runs in apply mode:

1. uncapped (no rate limit): how many insights a second the pipeline itself reads, decides, sends, records
   and refreshes — target ≥ 500/s on this machine (issue 23) — with the CPU time of this process per insight
   (every thread: the pipeline's own cost, HTTP client included) beside the stand-in's CPU time per request
   (the stand-in's own cost, which shares the machine's two cores);
2. capped at ``--rate`` calls a second, on the first ``--capped`` insights of a second store: the throughput
   the cap allows (Robotoff applies insights one at a time in its 2-minute job).

The refresh after the writes needs the reference lists (``../shared/data`` beside the checkout, as the tests
use). Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's pipelines and tests
sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict import _env  # the bench helpers of the same folder

from pipelines.annotate.job import apply_due_insights
from pipelines.common.config import get_settings
from pipelines.store.session import store_session

# The stand-in runs in a process of its own, as Product Opener would: in this one, its request handling would
# compete with the run for Python's interpreter lock.
SERVER = r"""
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.support.product_opener import ProductOpener
products = json.loads(Path(sys.argv[2]).read_text())
with ProductOpener(user="offpipe-bot", password="s3cret", products=products) as server:
    print(server.base, flush=True)
    started = resource.getrusage(resource.RUSAGE_SELF)
    sys.stdin.read()  # until the bench closes our stdin
    ended = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ended.ru_utime + ended.ru_stime - started.ru_utime - started.ru_stime
    print(json.dumps({"cpu_s": cpu, "requests": len(server.requests) + len(server.reads)}), flush=True)
"""

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
# (type, value, value_tag, the product field that holds it already for a third of the products)
KINDS = (
    ("label", None, "en:organic", {"labels_tags": ["en:organic"]}),
    ("category", None, "en:biscuits", {"categories_tags": ["en:biscuits"]}),
    ("store", "Auchan", "auchan", {"stores_tags": ["auchan"]}),
    ("brand", "Materne", "materne", {}),
    ("product_weight", "500 g", None, {"quantity": "1 kg"}),
    ("expiration_date", "12/2027", None, {"expiration_date": "01/2027"}),
    ("packager_code", "EMB 29181", None, {"emb_codes": "EMB 29181"}),
)
IMAGES = {"1": {"imgid": "1", "sizes": {"full": {"w": 1000, "h": 2000}}}}


def barcode(i: int) -> str:
    """A valid EAN-13 for product ``i`` (the strict check runs before every call)."""
    body = f"200{i:09d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def insights_and_products(count: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    rows, products = [], {}
    for i in range(count):
        kind, value, tag, done = KINDS[i % len(KINDS)]
        code = barcode(i)
        rows.append({"i": i, "barcode": code, "type": kind, "value": value, "value_tag": tag})
        products[code] = {"images": IMAGES, **(done if i % 3 == 0 else {})}
    return rows, products


def seed(store: str | None, settings: Any, rows: list[dict[str, Any]]) -> None:
    """Due automatic insights, inserted as the refresh would have left them (one session, set-based)."""
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    with store_session(store, server_type="off", purpose="bench seed", settings=settings) as con:
        con.register("bench_insights", table)
        con.execute(
            """
            INSERT INTO product_insight (id, barcode, type, data, timestamp, value, value_tag, source_image,
                automatic_processing, server_type, process_after, n_votes, reserved_barcode, predictor,
                unique_scans_n)
            SELECT uuid(), barcode, type, '{}', $now, value, value_tag,
                '/200/' || i || '/1.jpg', true, 'off', $now, 0, false, 'bench', 0
            FROM bench_insights
            """,
            {"now": NOW},
        )
        con.unregister("bench_insights")


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def stand_in(products: dict[str, dict[str, Any]], folder: Path, used: dict[str, Any]) -> Iterator[str]:
    """A Product Opener stand-in in another process holding ``products``; its base URL. ``used`` receives its
    CPU seconds and the requests it answered, once it has stopped."""
    path = folder / "products.json"
    path.write_text(json.dumps(products))
    repo = str(Path(__file__).resolve().parents[1])
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, repo, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        used.update(json.loads(process.stdout.readline() or "{}"))
        process.wait(timeout=30)


def run(store: str | None, data: Path, count: int, rate: float) -> dict[str, Any]:
    rows, products = insights_and_products(count)
    data.mkdir(parents=True)
    server: dict[str, Any] = {}
    with stand_in(products, data, server) as base:
        env = {"OFF_DATA_DIR": str(data), "OFF_WORLD_URL_OFF": base, "OFF_PRODUCT_SOURCES": "api"}
        settings = get_settings(_env() | env)
        seed(store, settings, rows)
        started, cpu = time.perf_counter(), cpu_seconds()
        report = apply_due_insights(
            "off",
            mode="apply",
            limit=count,
            rate=rate,
            store=store,
            settings=settings,
            now=NOW + dt.timedelta(1),
        )
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    return {
        "insights": count,
        "rate_cap": rate or None,
        "seconds": round(seconds, 2),
        "insights_per_s": round(count / seconds, 1),
        "ms_per_insight": round(seconds * 1000 / count, 2),
        # the pipeline's own work (this process, every thread): what it costs without Product Opener's time
        "pipeline_cpu_ms_per_insight": round(cpu * 1000 / count, 2),
        "pipeline_insights_per_cpu_s": round(count / cpu, 1),
        # the stand-in's own work: on a 2-core machine it competes with the pipeline for the cores
        "stand_in_cpu_ms_per_request": round(server["cpu_s"] * 1000 / max(1, server["requests"]), 2),
        "stand_in_requests": server["requests"],
        "calls": report.sent,
        "statuses": report.statuses,
        "recorded": report.recorded,
        "refreshed": report.refreshed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--insights", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=5.0, help="calls per second of the capped run")
    parser.add_argument("--capped", type=int, default=200, help="insights of the capped run")
    parser.add_argument("--store", help="postgresql://… : the same runs into a fresh PostgreSQL database too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    # the refresh after the writes reads the reference lists of the environment (../shared/data by default)
    os.environ.update(_env() | {"OFF_USER": "offpipe-bot", "OFF_PASSWORD": "s3cret"})
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        stores: dict[str, tuple[str | None, str | None]] = {"duckdb": (None, None)}
        if args.store:
            from pgstore import bench_database

            uncapped = stack.enter_context(bench_database(args.store, suffix="apply"))
            capped = stack.enter_context(bench_database(args.store, suffix="apply_capped"))
            stores["postgresql"] = (uncapped, capped)
        for name, (uncapped_store, capped_store) in stores.items():
            with tempfile.TemporaryDirectory(prefix="bench-apply-") as folder:
                results[name] = {
                    "uncapped": run(uncapped_store, Path(folder) / "a", args.insights, 0.0),
                    "capped": run(capped_store, Path(folder) / "b", args.capped, args.rate),
                }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
