"""Benchmark of the nightly job: predict + import + insight refresh, and the per-product refresh latency.

    python bench/refresh.py [--products 1000000] [--ocr-products 50000] [--samples 200] [--cache data/bench]

It reuses (or builds) the cached synthetic snapshot of ``bench/predict.py`` (a ``--products`` dump converted
to Parquet) and the OCR images of its first ``--ocr-products`` products, ingested into an OCR-text table. In a
child process, on a fresh store, the nightly job runs twice through ``run_predictions`` and
``refresh_insights``: a first run (empty store: every image is predicted) and a nightly rerun on the same
inputs (the OCR ledger skips every image already predicted). Each step is timed, with the child's peak RSS;
then ``--samples`` random products are refreshed one at a time against that store (the listener's path) and
the p50/p95 latency is reported. The 4M figures scale the 1M ones linearly (every step is a scan or a hash
join over the products or the images); the first run's OCR prediction is kept as measured (it scales with the
images, not the products). Targets (results in ``docs/insights.md``): ≤ 5 min for 4M products, peak RSS
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

from predict import PRODUCTS_SEED, _env, _offpipe, products_snapshot  # the bench helpers of the same folder

CHILD = """
import json, os, random, resource, statistics, sys, tempfile, time
from pathlib import Path
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pipelines.common.config import get_settings
from pipelines.insights.refresh import refresh_insights
from pipelines.predictors.resources import default_resources
from pipelines.predictors.bulk import run_predictions
from pipelines.store.db import store_writer

snapshot, ocr, store, samples = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
data = Path(tempfile.mkdtemp(prefix="bench-refresh-"))  # a data folder whose off snapshot is the cached one
(data / "parquet" / "off").mkdir(parents=True)
(data / "parquet" / "off" / "products.parquet").symlink_to(snapshot.resolve())
os.environ["OFF_DATA_DIR"] = str(data)
settings, resources = get_settings(), default_resources()
out = {"ocr_images": pq.ParquetFile(ocr).metadata.num_rows}


def nightly(label):
    started = time.perf_counter()
    report = run_predictions("off", ocr_table=ocr, store=store, settings=settings, resources=resources)
    predict_import = time.perf_counter() - started
    with store_writer(store) as con:
        started = time.perf_counter()
        refreshed = refresh_insights(con, snapshot, resources=resources)
        refresh = time.perf_counter() - started
    out[label] = {
        "images_predicted": report.images,
        "images_already_predicted": report.images_already_predicted,
        "predict_names_seconds": report.seconds_predict - report.seconds_predict_images,
        "predict_ocr_seconds": report.seconds_predict_images,
        "predictions": report.predictions,
        "predict_and_import_seconds": predict_import,
        "import_seconds": report.store_import["seconds"],
        "refresh_seconds": refresh,
        "products": refreshed.products,
        "insights_created": sum(refreshed.created.values()),
        "insights_changed": refreshed.changes,
        "total_seconds": predict_import + refresh,
        "peak_rss_mb_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


nightly("first_run")  # empty store: every image is predicted
nightly("nightly_run")  # same dump and OCR table: the ledger skips every image
with store_writer(store) as con:
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


def snapshot_ocr_table(cache: Path, products: int, ocr_products: int) -> Path:
    """OCR-text table of the first ``ocr_products`` products of the ``products`` snapshot (cached).

    The generator draws product i from ``(seed, i)``, so a shorter dump with the snapshot's seed holds the
    same first products; its OCR archive then belongs to products of the snapshot, with their image ids (the
    import keeps only predictions of existing products and images).
    """
    table = cache / f"predict-{products}-ocr-{ocr_products}" / "ocr_texts.parquet"
    if not table.exists():
        folder = table.parent
        folder.mkdir(parents=True, exist_ok=True)
        archive = folder / "ocr.jsonl.gz"
        print(f"generating the OCR images of {ocr_products:,} products of the snapshot…", file=sys.stderr)
        args = ["-n", str(ocr_products), "--seed", str(PRODUCTS_SEED), "--out", str(folder / "head.jsonl.gz")]
        _offpipe("synth", *args, "--ocr-out", str(archive))
        print("ingesting the OCR archive…", file=sys.stderr)
        _offpipe("ocr-ingest", str(archive), "--out", str(table))
    return table


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 2) if isinstance(value, float) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--ocr-products", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("OFF_DATA_DIR", "data")) / "bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    snapshot, _ = products_snapshot(args.cache, args.products)
    table = snapshot_ocr_table(args.cache, args.products, args.ocr_products)
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
    first, nightly = figures["first_run"], figures["nightly_run"]
    scale = 4_000_000 / nightly["products"]
    result = {
        "cpus": os.cpu_count(),
        **_rounded(figures),
        # 4M: every step scales with the products (the ledger check with the OCR table, scaled alike); the
        # first run's OCR step scales with the images, which are kept as measured
        "extrapolated_4m_nightly_minutes": round(nightly["total_seconds"] * scale / 60, 1),
        "extrapolated_4m_first_run_minutes": round(
            ((first["total_seconds"] - first["predict_ocr_seconds"]) * scale + first["predict_ocr_seconds"])
            / 60,
            1,
        ),
        "ocr_images_per_second": round(first["images_predicted"] / first["predict_ocr_seconds"]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
