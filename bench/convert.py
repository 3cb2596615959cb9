"""Benchmark of the JSONL → Parquet conversion against `gzip -dc` and against a row-by-row converter.

    python bench/convert.py [--sizes 250000,1000000] [--baseline-docs 30000] [--cache data/bench]

For each size it generates (once, cached) a synthetic dump at realistic document sizes, times
`gzip -dc dump > /dev/null`, then converts the dump in a child process and reports its wall time and peak
RSS. Targets (issue 3): conversion ≤ 2.0 × gzip -dc, peak RSS ≤ 2 GB and not growing with the dump size.

The row-by-row baseline is what OFF's own export does: a pydantic model per product, then pyarrow
tables. It runs on the first ``--baseline-docs`` documents; the script prints how many times slower than
`gzip -dc` it is, and how many times faster our conversion is on the same file (target: ≥ 10×).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
from pydantic import BaseModel, field_validator

REPO = Path(__file__).resolve().parents[1]


def gzip_seconds(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(f"gzip -dc '{path}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - started


def synthetic_dump(cache: Path, products: int) -> Path:
    path = cache / f"synth-{products}.jsonl.gz"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"generating {products:,} products into {path} (cached for later runs)…", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.cli",
                "synth",
                "-n",
                str(products),
                "--seed",
                "1",
                "--out",
                str(path),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def convert_in_child(path: Path, out: Path) -> dict:
    """Run the conversion in a child process: its own wall time and peak RSS."""
    code = (
        "import json, sys, time; from pathlib import Path; "
        "from pipelines.convert.convert import convert_dump; "
        "t = time.perf_counter(); r = convert_dump(Path(sys.argv[1]), 'off', out_dir=Path(sys.argv[2])); "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': r.rows_out, "
        "'quarantined': r.quarantined_total, 'row_groups': r.row_groups}))"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)], check=True, capture_output=True, text=True
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    info = json.loads(result.stdout.strip().splitlines()[-1])
    # ru_maxrss of children is the largest of any child so far: children run one at a time here, bigger last.
    info["peak_rss_mb"] = round(max(peak, before) / 1024)
    return info


class LanguageText(BaseModel):
    lang: str
    text: str


class RowProduct(BaseModel):
    """A row-by-row product model in the style of OFF's export (a subset of its fields)."""

    code: str
    product_name: list[LanguageText] | None = None
    brands: str | None = None
    brands_tags: list[str] | None = None
    categories_tags: list[str] | None = None
    labels_tags: list[str] | None = None
    countries_tags: list[str] | None = None
    lang: str | None = None
    quantity: str | None = None
    serving_quantity: str | None = None
    ingredients_n: int | None = None
    additives_n: int | None = None
    completeness: float | None = None
    created_t: int | None = None
    last_modified_t: int | None = None
    unique_scans_n: int | None = None
    nova_group: int | None = None
    images: list[dict] | None = None
    nutriments: list[dict] | None = None
    ingredients: str | None = None

    @field_validator("ingredients_n", "additives_n", "nova_group", "unique_scans_n", mode="before")
    @classmethod
    def _int(cls, value: object) -> object:
        try:
            return int(float(value)) if value not in (None, "") else None  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


def _row_model_input(doc: dict) -> dict:
    data = {
        k: doc.get(k) for k in RowProduct.model_fields if k not in ("product_name", "images", "nutriments")
    }
    names = [{"lang": "main", "text": doc["product_name"]}] if doc.get("product_name") else []
    names += [
        {"lang": k[-2:], "text": v}
        for k, v in doc.items()
        if k.startswith("product_name_") and len(k) == 15 and v
    ]
    data["product_name"] = names
    images = doc.get("images") or {}
    data["images"] = [{"key": key, **value} for key, value in images.items() if isinstance(value, dict)]
    nutriments = doc.get("nutriments") or {}
    data["nutriments"] = [{"name": k, "value": v} for k, v in nutriments.items() if k.endswith("_100g")]
    data["ingredients"] = orjson.dumps(doc.get("ingredients")).decode() if doc.get("ingredients") else None
    for key in ("quantity", "serving_quantity"):
        if data.get(key) is not None:
            data[key] = str(data[key])
    return data


def row_by_row(path: Path) -> float:
    """The baseline: parse, validate with pydantic, build pyarrow tables of 1,024 rows, write Parquet."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    out = path.with_suffix(".rows.parquet")
    writer = None
    with gzip.open(path, "rb") as handle:
        while batch := list(itertools.islice(handle, 1024)):
            rows = []
            for line in batch:
                try:
                    rows.append(RowProduct.model_validate(_row_model_input(orjson.loads(line))).model_dump())
                except Exception:
                    continue
            for row in rows:
                row["images"] = orjson.dumps(row["images"]).decode()
                row["nutriments"] = orjson.dumps(row["nutriments"]).decode()
            table = pa.Table.from_pylist(rows)
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema, compression="zstd")
            writer.write_table(table.cast(writer.schema))
    if writer is not None:
        writer.close()
    out.unlink(missing_ok=True)
    return time.perf_counter() - started


def head_of(path: Path, docs: int, cache: Path) -> Path:
    target = cache / f"head-{docs}.jsonl.gz"
    if not target.exists():
        with gzip.open(path, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
            for line in itertools.islice(src, docs):
                dst.write(line)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000")
    parser.add_argument("--baseline-docs", type=int, default=30_000)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("OFF_DATA_DIR", "data")) / "bench")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict = {"cpus": os.cpu_count(), "runs": []}
    for size in sizes:
        dump = synthetic_dump(args.cache, size)
        gz = gzip_seconds(dump)
        info = convert_in_child(dump, args.cache / f"out-{size}")
        results["runs"].append(
            {
                "products": size,
                "dump_gz_mb": round(dump.stat().st_size / 1e6),
                "gzip_dc_seconds": round(gz, 1),
                "convert_seconds": round(info["seconds"], 1),
                "ratio_to_gzip_dc": round(info["seconds"] / gz, 2),
                "peak_rss_mb": info["peak_rss_mb"],
                "rows": info["rows"],
                "row_groups": info["row_groups"],
            }
        )
    head = head_of(synthetic_dump(args.cache, min(sizes)), args.baseline_docs, args.cache)
    gz = gzip_seconds(head)
    baseline = row_by_row(head)
    ours = convert_in_child(head, args.cache / "out-head")["seconds"]
    results["row_by_row"] = {
        "docs": args.baseline_docs,
        "gzip_dc_seconds": round(gz, 2),
        "row_by_row_seconds": round(baseline, 1),
        "row_by_row_ratio_to_gzip_dc": round(baseline / gz, 1),
        "convert_seconds": round(ours, 2),
        "speedup_over_row_by_row": round(baseline / ours, 1),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
