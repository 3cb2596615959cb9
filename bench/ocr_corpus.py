"""Benchmark of the OCR corpus path: the images bucket synced into the dataset, predicted, then re-predicted
after a label-list change.

    python bench/ocr_corpus.py [--products 20000] [--cache data/bench] [--workers 8] [--dask-workers 2]
                               [--flows-only]

A synthetic dump with an OCR archive (~2 images per product, cached under ``--cache`` by bench/predict.py's
helper) is laid out as the images bucket — ``data/<image folder>/<imgid>.json.gz`` and ``data/data_keys.gz``
— and served by ``python -m http.server`` in a process of its own on 127.0.0.1. Then, in this process, each
step timed with its peak RSS:

1. ``sync_bucket``: fetch + parse into the Parquet dataset — images/s and dataset bytes per image;
2. ``run_predictions`` over the dataset into a fresh store: every OCR predictor over every image — images/s;
3. a new label list (one pattern added): the incremental run (the label predictor over every image)
   against a full re-run of every predictor on a copy of the same store — target ≤ 1/4 of its time
   (issue 24).

4. the ``ocr-pass`` flow (sync + predict + import in shards of barcode prefix, ``flows/ocr.py``) into fresh
   data folders, run first in this process (one shard after the other) then on a ``LocalCluster`` of
   ``--dask-workers`` processes (0: skipped): images/s of each and their ratio — target ≥ 1.6× with 2
   workers on a 2-core machine (issue 24) — and the peak RSS of each worker process (sampled every 0.2 s).
   A trivial flow runs first, so that the ephemeral Prefect API's start is not counted.

Figures only.
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
import threading
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


class ChildRss:
    """The peak RSS of every process below this one, sampled every 0.2 s (psutil comes with Dask)."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for child in self.me.children(recursive=True):
                try:
                    self.peak[child.pid] = max(self.peak.get(child.pid, 0), child.memory_info().rss)
                except Exception:  # gone meanwhile
                    continue

    def __enter__(self) -> ChildRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def flow_pass(data: Path, base_env: dict[str, str], workers: int | None, server_pid: int) -> dict[str, Any]:
    """The ``ocr-pass`` flow into the fresh data folder ``data`` (an empty snapshot: OCR only)."""
    from flows.ocr import run_ocr_pass

    os.environ.update(base_env | {"OFF_DATA_DIR": str(data)})
    snapshot = products_path("off", get_settings())
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(PRODUCT_SCHEMA.empty_table(), snapshot)
    import psutil

    server = psutil.Process(server_pid)
    server_cpu, driver_cpu = sum(server.cpu_times()[:2]), time.process_time()
    started = time.perf_counter()
    with ChildRss() as rss:
        out = run_ocr_pass(workers=workers, flavor="off")
    seconds = round(time.perf_counter() - started, 2)
    server_cpu = round(sum(server.cpu_times()[:2]) - server_cpu, 1)
    driver_cpu = round(time.process_time() - driver_cpu, 1)
    images = out["predict"]["images"]
    step = {
        "step": f"ocr-pass flow, {f'LocalCluster of {workers} workers' if workers else 'in process'}",
        "seconds": seconds,
        "images": images,
        "images_per_s": round(images / seconds, 1),
        "flow_steps_s": out["seconds"],
        "shards": out["shards"]["predicted"],
        "shard_processes": len(out["shards"]["workers"]),
        # what shares the cores with the shards: the bucket stand-in, and this process (the driver's steps,
        # Prefect's ephemeral API; in process, the shards too)
        "bucket_server_cpu_s": server_cpu,
        "driver_cpu_s": driver_cpu,
    }
    if workers:
        step["worker_peak_rss_mb"] = sorted(
            round(v / 2**20) for v in rss.peak.values() if v > 200 * 2**20
        )  # the workers (the http server and Dask's helpers stay far below)
    return step


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
    parser.add_argument("--dask-workers", type=int, default=2, help="LocalCluster processes (0: skip)")
    parser.add_argument("--flows-only", action="store_true", help="step 4 only (the flow, here and on Dask)")
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
            dataset = dataset_path("off", settings)
            if not args.flows_only:
                report, step = timed(
                    "sync", lambda: sync_bucket("off", settings=settings, workers=args.workers)
                )
                size = sum(p.stat().st_size for p in dataset.rglob("*.parquet"))
                step |= {"images_per_s": round(report.rows_out / step["seconds"], 1)}
                step |= {"rows_out": report.rows_out}
                step["dataset_bytes_per_image"] = round(size / max(1, report.rows_out))
                results["steps"].append(step)
            if args.dask_workers:
                from prefect import flow

                base = _env() | {"OFF_OCR_BUCKET_URL": env["OFF_OCR_BUCKET_URL"]}
                flow(lambda: None, name="warm-up")()  # the ephemeral API starts here, not in a timed pass
                here = flow_pass(root / "flow-here", base, None, server.pid)
                on_dask = flow_pass(root / "flow-dask", base, args.dask_workers, server.pid)
                results["steps"] += [here, on_dask]
                results["dask_over_in_process"] = round(on_dask["images_per_s"] / here["images_per_s"], 2)
                os.environ["OFF_DATA_DIR"] = str(data)
        finally:
            server.terminate()
            server.wait(timeout=10)
        if args.flows_only:
            print(json.dumps(results, indent=2))
            return
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
        incremental_s = step["seconds"]
        full, step = timed(
            "new label list: full re-run",
            lambda: run_predictions("off", store=copy, resources=after, all_images=True, **options),
        )
        step["images"] = full.images
        results["steps"].append(step)
        results["incremental_over_full"] = round(incremental_s / step["seconds"], 3)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
