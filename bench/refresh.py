"""Benchmark of the nightly job: predict + import + insight refresh, and the per-product refresh latency.

    python bench/refresh.py [--products 1000000] [--ocr-products 50000] [--samples 200] [--cache data/bench]

It reuses (or builds) the cached synthetic snapshots of ``bench/predict.py``: a ``--products`` dump converted
to Parquet, and a dump with OCR images ingested into an OCR-text table. In a child process, on a fresh store:
predict over the snapshot (names) and the OCR table, import, bulk-refresh the insights — each step timed,
with the child's peak RSS — then refresh ``--samples`` random products one at a time against that store
(the listener's path) and report the p50/p95 latency. The 4M figure is the 1M one scaled linearly (every
step is a scan or a hash join over the products). Targets (issue 5): ≤ 5 min for 4M products, peak RSS
≤ 4 GB, per-product p50 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict import _env, ocr_table, products_snapshot  # the bench helpers of the same folder

CHILD = """
import json, random, resource, statistics, sys, time
from pathlib import Path
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.resources import default_resources
from pipelines.predictors.run import PredictReport, iter_parquet, predict_tables, PRODUCT_COLUMNS
from pipelines.store.db import store_writer
from pipelines.store.predictions import import_predictions

snapshot, ocr, store, samples = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
resources = default_resources()
out = {}
import pyarrow as pa
started = time.perf_counter()
names = predict_tables(iter_parquet(snapshot, PRODUCT_COLUMNS, 250_000), None, flavor="off", types=None,
                       resources=resources, report=PredictReport(flavor="off"))
out["predict_names_seconds"] = time.perf_counter() - started
started = time.perf_counter()
images = predict_tables(None, iter_parquet(ocr, None, 5_000), flavor="off", types=None, resources=resources,
                        report=PredictReport(flavor="off"))
out["predict_ocr_seconds"] = time.perf_counter() - started
out["ocr_images"] = pq.ParquetFile(ocr).metadata.num_rows
predictions = pa.concat_tables([names, images])
del names, images
out["predictions"] = predictions.num_rows
with store_writer(store) as con:
    started = time.perf_counter()
    import_predictions(con, predictions)
    out["import_seconds"] = time.perf_counter() - started
    del predictions
    started = time.perf_counter()
    refreshed = refresh_insights(con, snapshot, resources=resources)
    out["refresh_seconds"] = time.perf_counter() - started
    out["insights_created"] = sum(refreshed.created.values())
    out["products"] = refreshed.products
    out["peak_rss_mb_bulk"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    refresh_columns = ["code", "normalized_code", "dump_line", "product_type", "lang", "labels_tags",
                       "categories_tags", "brands_tags", "emb_codes_tags", "quantity", "expiration_date",
                       "countries_tags", "unique_scans_n", "images"]  # what the refresh reads, not all 120
    table = pq.read_table(snapshot, columns=refresh_columns)
    codes = [c for c in table["normalized_code"].to_pylist() if c]
    chosen = random.Random(3).sample(codes, min(samples, len(codes)))
    latencies = []
    for code in chosen:
        one = table.filter(pc.equal(table["normalized_code"], code)).slice(0, 1)
        started = time.perf_counter()
        refresh_insights(con, one, barcodes=[code], resources=resources)
        latencies.append(time.perf_counter() - started)
    out["per_product_ms_p50"] = statistics.median(latencies) * 1000
    out["per_product_ms_p95"] = sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--ocr-products", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("OFF_DATA_DIR", "data")) / "bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    snapshot, _ = products_snapshot(args.cache, args.products)
    table, _ = ocr_table(args.cache, args.ocr_products)
    store = args.cache / f"refresh-{args.products}.duckdb"
    store.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(snapshot), str(table), str(store), str(args.samples)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    per_product_steps = (
        figures["predict_names_seconds"] + figures["import_seconds"] + figures["refresh_seconds"]
    )
    total = per_product_steps + figures["predict_ocr_seconds"]
    scale = 4_000_000 / figures["products"]
    result = {
        "cpus": os.cpu_count(),
        **{k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()},
        "total_seconds": round(total, 1),
        # names, import and refresh scale with the products; the OCR step with the images, kept as measured
        "extrapolated_4m_minutes": round(
            (per_product_steps * scale + figures["predict_ocr_seconds"]) / 60, 1
        ),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
