"""Benchmark of one listener batch: the fixed cost of a few products' work, DuckDB beside PostgreSQL.

    python bench/listener_batch.py [--products 100000] [--batch 3] [--batches 60] [--rounds 3]
                                   [--cache data/bench] [--store postgresql://…]

The listener's latency is about 1.5 × its batch time (docs/listener.md), and ``bench/listener.py`` measures it
end to end through Redis, where a slow spell feeds itself (a slower batch holds more products). This bench
takes the batch alone: in a child process it fills a DuckDB store file and, with ``--store``, a fresh
PostgreSQL database on that server (dropped at the end) with the cached synthetic snapshot of
``bench/predict.py`` (product-name predictions, bulk refresh), then applies ``--batches`` batches of
``--batch`` random products (``process_units`` of product edits, as the listener does, through each store's
kept writer) to each store in turn, ``--rounds`` times, alternating the stores so that both see the same
machine. It prints each store's median and p90 batch time per round and overall, and the PostgreSQL/DuckDB
ratio of the medians. The first three batches of each store's first round (the kept store's warm-up) are
not counted. Figures only: nothing here asserts a time.
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
import json, os, random, statistics, sys, tempfile, time
from pathlib import Path
import pyarrow.parquet as pq

snapshot, args = Path(sys.argv[1]), json.loads(sys.argv[2])
data = Path(tempfile.mkdtemp(prefix="bench-listener-batch-"))
(data / "parquet" / "off").mkdir(parents=True)
(data / "parquet" / "off" / "products.parquet").symlink_to(snapshot.resolve())
os.environ["OFF_DATA_DIR"] = str(data)
from pipelines.common.config import Flavor, get_settings
from pipelines.insights.refresh import refresh_insights
from pipelines.listener.coalesce import ProductWork
from pipelines.listener.dispatch import process_units
from pipelines.listener.sources import product_source
from pipelines.predictors.bulk import prediction_products
from pipelines.predictors.registry import predict
from pipelines.predictors.resources import default_resources
from pipelines.store.predictions import import_predictions
from pipelines.store.session import kept_store, store_session
from pipelines.store.target import store_target

settings = get_settings()
resources = default_resources()
resources.preload(("labels", "categories"))
products = pq.read_table(snapshot)
predictions = predict(products, resources=resources)
stores = {"duckdb": store_target(None, settings)}
if args["store"]:
    stores["postgresql"] = store_target(args["store"], settings)
fill = {}
for name, target in stores.items():
    started = time.perf_counter()
    with store_session(target, server_type="off", purpose="bench fill", settings=settings) as con:
        import_predictions(con, predictions, products=prediction_products(predictions, snapshot))
        refresh_insights(con, snapshot, resources=resources)
    fill[name] = round(time.perf_counter() - started, 1)
codes = products.column("normalized_code").to_pylist()
del products, predictions
source = product_source(settings, lookup=True)
writers = {name: kept_store(target, settings) for name, target in stores.items()}
rng = random.Random(7)
times = {name: [] for name in stores}
rounds = []
for number in range(args["rounds"]):
    this_round = {}
    for name, writer in writers.items():
        spent = []
        for i in range(args["batches"] + (3 if number == 0 else 0)):
            units = [ProductWork(code=code, flavor=Flavor.off, update=True)
                     for code in rng.sample(codes, args["batch"])]
            began = time.perf_counter()
            process_units(units, settings=settings, resources=resources, source=source, writer=writer)
            if number or i >= 3:
                spent.append((time.perf_counter() - began) * 1000)
        times[name] += spent
        this_round[name] = round(statistics.median(spent), 1)
    rounds.append(this_round)
for writer in writers.values():
    writer.close()


def figures(values):
    ordered = sorted(values)
    p90 = ordered[len(ordered) * 9 // 10]
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(p90, 1)}


out = {"fill_s": fill, "rounds_median_ms": rounds, "overall": {name: figures(v) for name, v in times.items()}}
if "postgresql" in times:
    ratio = statistics.median(times["postgresql"]) / statistics.median(times["duckdb"])
    out["ratio_median"] = round(ratio, 2)
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=3, help="products per batch")
    parser.add_argument("--batches", type=int, default=60, help="batches per store and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--store", help="postgresql://… : also a fresh PostgreSQL database on that server")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    snapshot, _ = products_snapshot(args.cache, args.products)
    options = {"batch": args.batch, "batches": args.batches, "rounds": args.rounds, "store": None}
    with contextlib.ExitStack() as stack:
        if args.store is not None:
            from pgstore import bench_database

            options["store"] = stack.enter_context(bench_database(args.store, suffix="batch"))
        env = _env() | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(snapshot), json.dumps(options)],
            capture_output=True,
            text=True,
            env=env,
        )
    if done.returncode:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"the listener batch bench failed (exit {done.returncode})")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result |= {"products": args.products, "batch": args.batch, "batches": args.batches}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
