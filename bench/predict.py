"""Benchmark of the predictions: throughput of the set-based path, of the per-product path, and quality.

    python bench/predict.py [--products 1000000] [--ocr-products 50000] [--loop 10000] [--cache data/bench]

It generates (once, cached under ``--cache``) a synthetic dump with its truth file and converts it to
Parquet, and a second synthetic dump with an OCR archive (~2 images per product) that it ingests. Then, each
in a child process that reports its own wall time and peak RSS:

- product-name predictions (label, brand, product_weight) for every product — target ≥ 300k products/s on
  2 cores, peak RSS ≤ 3 GB (Robotoff's own per-product functions: ~28k names/s on one core);
- the same function called in a Python loop on one-row tables for ``--loop`` products (the per-product
  path), so the speed-up of the set-based path shows as a ratio;
- OCR predictions (every OCR type) over the OCR table: images/s.

Finally recall and precision per prediction type against the planted facts of the truth files (target:
recall ≥ 0.99 on planted label/brand/weight/packager-code/store/expiry/fiber mentions).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
PRODUCTS_SEED = 21  # seed of the product-name snapshots


def _env() -> dict[str, str]:
    env = dict(os.environ)
    if (SHARED / "ocr-keywords").is_dir():
        env.setdefault("OFF_KEYWORDS_DIR", str(SHARED / "ocr-keywords"))
        env.setdefault("OFF_TAXONOMY_DIR", str(SHARED / "taxonomies"))
    return env


def _offpipe(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args], check=True, env=_env(), stdout=subprocess.DEVNULL
    )


def products_snapshot(cache: Path, products: int) -> tuple[Path, Path]:
    """Parquet snapshot and truth file of a ``products``-product synthetic dump (cached)."""
    dump = cache / f"predict-{products}.jsonl.gz"
    truth = cache / f"predict-{products}.truth.jsonl.gz"
    out = cache / f"predict-{products}"
    if not truth.exists():
        print(f"generating {products:,} products with their truth…", file=sys.stderr)
        seed = str(PRODUCTS_SEED)
        _offpipe("synth", "-n", str(products), "--seed", seed, "--out", str(dump), "--truth-out", str(truth))
    if not (out / "products.parquet").exists():
        print("converting…", file=sys.stderr)
        _offpipe("convert", str(dump), "--out-dir", str(out), "--min-rows", "0")
    return out / "products.parquet", truth


def ocr_table(cache: Path, products: int) -> tuple[Path, Path]:
    """OCR-text table and truth file of a synthetic dump with an OCR archive (cached)."""
    dump = cache / f"predict-ocr-{products}.jsonl.gz"
    archive = cache / f"predict-ocr-{products}.ocr.jsonl.gz"
    truth = cache / f"predict-ocr-{products}.truth.jsonl.gz"
    table = cache / f"predict-ocr-{products}" / "ocr_texts.parquet"
    if not truth.exists():
        print(f"generating {products:,} products with OCR images…", file=sys.stderr)
        args = ["-n", str(products), "--seed", "22", "--out", str(dump), "--ocr-out", str(archive)]
        _offpipe("synth", *args, "--truth-out", str(truth))
    if not table.exists():
        print("ingesting the OCR archive…", file=sys.stderr)
        _offpipe("ocr-ingest", str(archive), "--out", str(table))
    return table, truth


CHILD = """
import json, resource, sys, time
import pyarrow.parquet as pq
from pipelines.predictors.registry import NAME_TYPES, predict
kind, path, out, loop = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
result = {}
if kind == "names":
    table = pq.read_table(path, columns=["code", "normalized_code", "product_name", "product_type"])
    predict(table.slice(0, 1000), types=NAME_TYPES)  # load keyword lists outside the timing
    started = time.perf_counter()
    predictions = predict(table, types=NAME_TYPES)
    result["seconds"] = time.perf_counter() - started
    result["rows"] = table.num_rows
    started = time.perf_counter()
    for index in range(min(loop, table.num_rows)):
        predict(table.slice(index, 1), types=NAME_TYPES)
    result["loop_seconds"] = time.perf_counter() - started
    result["loop_rows"] = min(loop, table.num_rows)
else:
    table = pq.read_table(path)
    predict(ocr=table.slice(0, 50))
    started = time.perf_counter()
    predictions = predict(ocr=table)
    result["seconds"] = time.perf_counter() - started
    result["rows"] = table.num_rows
pq.write_table(predictions, out)
result["predictions"] = predictions.num_rows
result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(json.dumps(result))
"""


def run_child(kind: str, path: Path, out: Path, loop: int = 0) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(path), str(out), str(loop)],
        check=True,
        capture_output=True,
        text=True,
        env=_env(),
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prediction_key(row: dict) -> list[str]:
    """The values a planted fact is compared with, per type."""
    kind, data = row["type"], json.loads(row["data"])
    if kind in ("label", "brand", "store"):
        return [row["value_tag"]]
    if kind in ("product_weight", "packager_code", "expiration_date"):
        return [row["value"]]
    # the truth covers fiber only (the fact behind the quality facet); other nutrients of the synthetic
    # nutrition tables are real content, not false positives
    if kind == "nutrient_mention":
        return [k for k in data.get("mentions", {}) if k == "fiber"]
    if kind == "nutrient":
        return [k for k in data.get("nutrients", {}) if k == "fiber"]
    if kind == "image_orientation":
        return [data.get("orientation")]
    return []


def _fact_key(fact: dict) -> str | None:
    kind = fact["type"]
    if kind in ("label", "brand", "store"):
        return fact.get("value_tag")
    if kind == "quality_facet":
        return None
    return fact.get("value")


def _predicted(path: Path) -> dict[str, set]:
    import pyarrow.parquet as pq

    predicted: dict[str, set] = defaultdict(set)
    for row in pq.read_table(path).to_pylist():
        where = row["source_image"].rsplit("/", 1)[-1].removesuffix(".jpg") if row["source_image"] else "name"
        for key in _prediction_key(row):
            predicted[row["type"]].add((row["barcode"], where, key))
    return predicted


def _planted(path: Path, source: str) -> dict[str, set]:
    planted: dict[str, set] = defaultdict(set)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            product = json.loads(line)
            if not product["valid"] or product["conflict_with"]:
                continue  # conflict partners share a barcode: their facts cannot be told apart
            for fact in product["facts"]:
                key = _fact_key(fact)
                if key is None or fact["source"] != source:
                    continue
                where = "name" if source == "product_name" else fact["image_id"]
                planted[fact["type"]].add((product["normalized_code"], where, key))
    return planted


def quality(predictions: Path, truth: Path, source: str) -> dict[str, dict]:
    """Recall (planted facts found) and precision (distinct predicted values, on the names or images where
    facts were planted, that were planted) per type, for one source (``product_name`` or ``ocr``)."""
    predicted, planted = _predicted(predictions), _planted(truth, source)
    report = {}
    for kind in sorted(planted):
        found = planted[kind] & predicted[kind]
        places = {(f[0], f[1]) for f in planted[kind]}
        comparable = {p for p in predicted[kind] if (p[0], p[1]) in places}
        report[kind] = {
            "planted": len(planted[kind]),
            "recall": round(len(found) / len(planted[kind]), 4),
            "precision": round(len(found & comparable) / len(comparable), 4) if comparable else None,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--ocr-products", type=int, default=50_000)
    parser.add_argument("--loop", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("OFF_DATA_DIR", "data")) / "bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    snapshot, truth = products_snapshot(args.cache, args.products)
    table, ocr_truth = ocr_table(args.cache, args.ocr_products)
    names_out, ocr_out = args.cache / "predictions-names.parquet", args.cache / "predictions-ocr.parquet"
    names = run_child("names", snapshot, names_out, args.loop)
    ocr = run_child("ocr", table, ocr_out)
    names_rate = names["rows"] / names["seconds"]
    loop_rate = names["loop_rows"] / names["loop_seconds"]
    results = {
        "cpus": os.cpu_count(),
        "product_names": {
            "products": names["rows"],
            "seconds": round(names["seconds"], 2),
            "products_per_second": round(names_rate),
            "predictions": names["predictions"],
            "peak_rss_mb": names["peak_rss_mb"],
            "per_product_loop": {
                "products": names["loop_rows"],
                "seconds": round(names["loop_seconds"], 2),
                "products_per_second": round(loop_rate, 1),
            },
            "set_based_speedup_over_loop": round(names_rate / loop_rate, 1),
        },
        "ocr": {
            "images": ocr["rows"],
            "seconds": round(ocr["seconds"], 2),
            "images_per_second": round(ocr["rows"] / ocr["seconds"], 1),
            "predictions": ocr["predictions"],
            "peak_rss_mb": ocr["peak_rss_mb"],
        },
        "quality": {
            "product_name": quality(names_out, truth, "product_name"),
            "ocr": quality(ocr_out, ocr_truth, "ocr"),
        },
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
