"""Benchmark of the OCR corpus path: the images bucket synced into the dataset, predicted, then re-predicted
after a label-list change.

    python bench/ocr_corpus.py [--products 20000] [--cache data/bench] [--workers 8]

A synthetic dump with an OCR archive (~2 images per product, cached under ``--cache`` by bench/predict.py's
helper) is laid out as the images bucket — ``data/<image folder>/<imgid>.json.gz`` and ``data/data_keys.gz``
— and served by ``python -m http.server`` in a process of its own on 127.0.0.1. Then, in this process, each
step timed with its peak RSS:

1. ``sync_bucket``: fetch + parse into the Parquet dataset — images/s and dataset bytes per image;
2. ``run_predictions`` over the dataset into a fresh store: every OCR predictor over every image — images/s;
3. a new label list (one pattern added): the incremental run (the label predictor over every image)
   against a full re-run of every predictor on a copy of the same store — target ≤ 1/4 of its time
   (issue 24).

Not measured yet: the same pass on a Dask LocalCluster (issue 24's scale-out is not built). Figures only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow.parquet as pq
from predict import _env, ocr_table  # the bench helpers of the same folder

from pipelines.common.config import get_settings
from pipelines.convert.schema import PRODUCT_SCHEMA
from pipelines.convert.snapshot import products_path
from pipelines.ocr.bucket import dataset_path, sync_bucket
from pipelines.predictors.bulk import run_predictions
from pipelines.predictors.resources import Resources


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def lay_out_bucket(archive: Path, folder: Path) -> int:
    """The archive's images as bucket keys under ``folder``; the number of images."""
    keys = []
    with gzip.open(archive, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            key = "data" + record["source"] + ".gz"
            path = folder / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(json.dumps(record["content"]).encode(), compresslevel=1))
            keys.append(key)
    # sorted, as the bucket's own list (S3 lists keys in order): consecutive keys share barcode prefixes
    (folder / "data" / "data_keys.gz").write_bytes(gzip.compress("\n".join(sorted(keys)).encode() + b"\n"))
    return len(keys)


def timed(step: str, call: Any) -> tuple[Any, dict[str, Any]]:
    started = time.perf_counter()
    result = call()
    seconds = round(time.perf_counter() - started, 2)
    return result, {"step": step, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--products", type=int, default=20_000, help="products of the synthetic dump")
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--workers", type=int, default=8, help="fetches in flight")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.update(_env())
    ocr_table(args.cache, args.products)  # generates (once) the dump and its OCR archive
    archive = args.cache / f"predict-ocr-{args.products}.ocr.jsonl.gz"
    results: dict[str, Any] = {"steps": []}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as tmp:
        root = Path(tmp)
        bucket = root / "bucket"
        images = lay_out_bucket(archive, bucket)
        results["images"] = images
        server = subprocess.Popen(
            [
                sys.executable,
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
                str(bucket),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            port = server.stdout.readline().split("port ")[1].split()[0]
            data = root / "data"
            env = {"OFF_DATA_DIR": str(data), "OFF_OCR_BUCKET_URL": f"http://127.0.0.1:{port}"}
            settings = get_settings(_env() | env)
            report, step = timed("sync", lambda: sync_bucket("off", settings=settings, workers=args.workers))
            dataset = dataset_path("off", settings)
            size = sum(p.stat().st_size for p in dataset.rglob("*.parquet"))
            step |= {"images_per_s": round(report.rows_out / step["seconds"], 1), "rows_out": report.rows_out}
            step["dataset_bytes_per_image"] = round(size / max(1, report.rows_out))
            results["steps"].append(step)
        finally:
            server.terminate()
            server.wait(timeout=10)
        snapshot = products_path("off", settings)  # no products: the OCR pass alone
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(PRODUCT_SCHEMA.empty_table(), snapshot)
        keywords = Path(os.environ["OFF_KEYWORDS_DIR"])
        taxonomies = Path(os.environ["OFF_TAXONOMY_DIR"])
        grammars = keywords.parent / "grammars"
        before = Resources(keywords, taxonomies, grammars_dir=grammars)
        store = data / "store.duckdb"
        options = {"ocr_table": dataset, "settings": settings}
        first, step = timed(
            "predict every image", lambda: run_predictions("off", store=store, resources=before, **options)
        )
        step["images_per_s"] = round(first.images / step["seconds"], 1)
        results["steps"].append(step)
        changed = root / "ocr-keywords"
        shutil.copytree(keywords, changed)
        with (changed / "label_flashtext.txt").open("a", encoding="utf-8") as handle:
            handle.write("en:a-new-label||a new label\n")
        after = Resources(changed, taxonomies, grammars_dir=grammars)
        copy = data / "copy.duckdb"
        shutil.copyfile(store, copy)
        partial, step = timed(
            "new label list: incremental",
            lambda: run_predictions(
                "off", ocr_table=dataset, store=store, settings=settings, resources=after
            ),
        )
        step |= {"images": partial.images, "partial_types": partial.partial_types}
        results["steps"].append(step)
        full, step = timed(
            "new label list: full re-run",
            lambda: run_predictions("off", store=copy, resources=after, all_images=True, **options),
        )
        step["images"] = full.images
        results["steps"].append(step)
        results["incremental_over_full"] = round(results["steps"][2]["seconds"] / step["seconds"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
