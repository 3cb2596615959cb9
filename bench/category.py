"""Benchmark of the category model: training time, inference throughput over millions of products, memory.

    python bench/category.py [--base 1000000] [--products 4000000] [--train-products 1000000]
                             [--cache data/bench]

It reuses (or generates once, cached) the synthetic snapshot of ``bench/predict.py`` with ``--base``
products (realistic documents: names in several languages, ingredient lists, nutriments, planted categories).
Each phase runs in a child process that reports its own wall time and peak RSS:

1. training: ``train_from_snapshot`` on the snapshot, at most ``--train-products`` training products
   (both passes over the snapshot, training, the held-out report, the ONNX export). Target: ≤ 10 min for 1M.
2. inference: the saved model through onnxruntime, as the nightly prediction runs it
   (``CategoryClassifier.predictions`` on record batches of the snapshot's columns), over ``--products``
   products — the snapshot read as many times as needed. Target: 4M products ≤ 2 min, peak RSS ≤ 3 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict import _env, products_snapshot  # the bench helpers of the same folder

TRAIN = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from pipelines.category_model.from_snapshot import train_from_snapshot
from pipelines.category_model.train import TrainConfig
snapshot, train_products = Path(sys.argv[1]), int(sys.argv[2])
root = Path(tempfile.mkdtemp(prefix="bench-category-"))
started = time.perf_counter()
folder, card = train_from_snapshot(snapshot, root, config=TrainConfig(max_products=train_products))
print(json.dumps({
    "folder": str(folder), "seconds": round(time.perf_counter() - started, 1), "phases": card["seconds"],
    "training_products": card["training_products"], "categories": card["categories"],
    "micro_f1": card["metrics"]["micro_f1"], "macro_f1": card["metrics"]["macro_f1"],
    "precision_at_1": card["metrics"]["precision_at_1"], "coverage": card["metrics"].get("coverage"),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
"""

INFER = r"""
import json, resource, sys, time
import pyarrow as pa, pyarrow.parquet as pq
from pipelines.category_model.classifier import CategoryClassifier
snapshot, folder, products = sys.argv[1], sys.argv[2], int(sys.argv[3])
classifier = CategoryClassifier.load(folder)
columns = ["normalized_code", "product_type", "product_name", "ingredients_original_tags", "nutriments"]
done = predictions = 0
started = time.perf_counter()
while done < products:
    for batch in pq.ParquetFile(snapshot).iter_batches(65_536, columns=columns):
        table = pa.Table.from_batches([batch]).slice(0, products - done)
        predictions += classifier.predictions(table, server_type="off").num_rows
        done += table.num_rows
        if done >= products:
            break
seconds = time.perf_counter() - started
print(json.dumps({
    "products": done, "predictions": predictions, "seconds": round(seconds, 1),
    "products_per_s": round(done / seconds),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
"""


def _child(code: str, *args: str) -> dict:
    env = _env() | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True, env=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--base", type=int, default=1_000_000, help="Products of the cached synthetic snapshot."
    )
    parser.add_argument("--products", type=int, default=4_000_000, help="Products to run inference on.")
    parser.add_argument("--train-products", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    args = parser.parse_args()
    snapshot, _ = products_snapshot(args.cache, args.base)
    training = _child(TRAIN, str(snapshot), str(args.train_products))
    inference = _child(INFER, str(snapshot), training["folder"], str(args.products))
    result = {
        "base_snapshot_products": args.base,
        "training": training,
        "inference": inference,
        "targets": {
            # training time grows with its products: scaled to 1M training products
            "train_1m_le_10min": training["seconds"] * 1_000_000 / max(training["training_products"], 1)
            <= 600,
            "infer_4m_le_2min": inference["seconds"] * 4_000_000 / inference["products"] <= 120,
            "infer_rss_le_3gb": inference["peak_rss_mb"] <= 3072,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
