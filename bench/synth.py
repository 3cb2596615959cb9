"""Benchmark of the synthetic dump generator: documents/s, mean document size, peak memory.

    python bench/synth.py [--products 100000] [--workers 2] [--ocr-products 2000]

Prints one JSON object. Uses the taxonomies and keyword lists of OFF_TAXONOMY_DIR / OFF_KEYWORDS_DIR when
present (``make bench`` points them at ../shared/data), the embedded vocabulary otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from pipelines.common.config import get_settings
from pipelines.synth.generator import SynthSpec, generate


def _peak_rss_mb() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"parent_peak_rss_mb": round(own, 1), "worker_peak_rss_mb": round(children, 1)}


def run(products: int, workers: int | None, ocr_products: int) -> dict:
    settings = get_settings()
    spec = SynthSpec(
        products=products, seed=1, taxonomy_dir=settings.taxonomy_dir, keywords_dir=settings.keywords_dir
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "products.jsonl.gz"
        started = time.perf_counter()
        report = generate(spec, out, workers=workers)
        elapsed = time.perf_counter() - started
        result = {
            "products": products,
            "workers": workers or "auto",
            "vocabulary": report.vocabulary,
            "seconds": round(elapsed, 2),
            "documents_per_second": round(products / elapsed, 1),
            "mean_document_bytes": round(report.bytes_uncompressed / products),
            "uncompressed_mb": round(report.bytes_uncompressed / 1e6, 1),
            "gzip_mb": round(out.stat().st_size / 1e6, 1),
        }
        if ocr_products:
            ocr_spec = SynthSpec(
                products=ocr_products,
                seed=1,
                taxonomy_dir=settings.taxonomy_dir,
                keywords_dir=settings.keywords_dir,
            )
            started = time.perf_counter()
            ocr_report = generate(
                ocr_spec, Path(tmp) / "p.jsonl.gz", ocr_out=Path(tmp) / "ocr.jsonl.gz", workers=workers
            )
            ocr_elapsed = time.perf_counter() - started
            result["with_ocr"] = {
                "products": ocr_products,
                "ocr_images": ocr_report.ocr_images,
                "seconds": round(ocr_elapsed, 2),
                "documents_per_second": round(ocr_products / ocr_elapsed, 1),
                "ocr_images_per_second": round(ocr_report.ocr_images / ocr_elapsed, 1),
                "ocr_archive_gzip_mb": round((Path(tmp) / "ocr.jsonl.gz").stat().st_size / 1e6, 1),
            }
    return result | _peak_rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--ocr-products", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(run(args.products, args.workers, args.ocr_products), indent=2))


if __name__ == "__main__":
    main()
