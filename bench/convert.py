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
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
from pydantic import BaseModel

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
        "import resource; "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': r.rows_out, "
        "'quarantined': r.quarantined_total, 'row_groups': r.row_groups, "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # the child reports its own peak RSS


class LanguageText(BaseModel):
    lang: str
    text: str


class ImageSize(BaseModel):
    h: int | None = None
    w: int | None = None


class Image(BaseModel):
    key: str | None = None
    imgid: int | None = None
    rev: int | None = None
    sizes: dict[str, ImageSize] | None = None
    uploaded_t: int | None = None
    uploader: str | None = None


class Ingredient(BaseModel):
    id: str | None = None
    text: str | None = None
    percent_estimate: float | None = None
    percent_min: float | None = None
    percent_max: float | None = None
    is_in_taxonomy: int | None = None
    vegan: str | None = None
    vegetarian: str | None = None
    ciqual_food_code: str | None = None
    ingredients: list[Ingredient] | None = None


class Nutriment(BaseModel):
    name: str
    value: float | None = None
    per_100g: float | None = None
    serving: float | None = None
    unit: str | None = None


class Packaging(BaseModel):
    material: str | None = None
    number_of_units: int | None = None
    recycling: str | None = None
    shape: str | None = None
    weight_measured: float | None = None


_SCALARS = {"int32": int, "int64": int, "float": float, "string": str, "bool": bool}


def _row_model() -> type[BaseModel]:
    """A pydantic model of all 111 export columns, the way OFF's export validates each product."""
    from pydantic import create_model

    from pipelines.convert.schema import HF_COLUMNS

    special: dict[str, object] = {
        "images": list[Image],
        "nutriments": list[Nutriment],
        "packagings": list[Packaging],
        "ingredients": list[Ingredient],
        "product_name": list[LanguageText],
        "generic_name": list[LanguageText],
        "ingredients_text": list[LanguageText],
        "packaging_text": list[LanguageText],
        "owner_fields": list[dict],
        "categories_properties": dict,
    }
    fields = {}
    for name, kind in HF_COLUMNS:
        annotation = special.get(name) or _SCALARS.get(str(kind)) or list[str]
        fields[name] = (annotation | None, None)
    model = create_model("RowProduct", **fields)  # type: ignore[call-overload]
    model.model_config["coerce_numbers_to_str"] = True
    return model


def _row_model_input(doc: dict) -> dict:
    """The export's pre-processing: language fields to lists, images and nutriments to lists of items."""
    data = dict(doc)
    for field in ("product_name", "generic_name", "ingredients_text", "packaging_text"):
        items = [{"lang": "main", "text": data[field]}] if data.get(field) else []
        items += [
            {"lang": k[-2:], "text": v}
            for k, v in doc.items()
            if k.startswith(field + "_") and len(k) == len(field) + 3 and v
        ]
        data[field] = items
    images = doc.get("images") or {}
    if "uploaded" in images or "selected" in images:
        from openfoodfacts.images import convert_to_legacy_schema

        images = convert_to_legacy_schema(images)
    data["images"] = [{"key": key, **value} for key, value in images.items() if isinstance(value, dict)]
    grouped: dict[str, dict] = {}
    for key, value in (doc.get("nutriments") or {}).items():
        for suffix, field in (
            ("_100g", "per_100g"),
            ("_serving", "serving"),
            ("_unit", "unit"),
            ("_value", "value"),
        ):
            if key.endswith(suffix):
                grouped.setdefault(key[: -len(suffix)], {"name": key[: -len(suffix)]})[field] = value
    data["nutriments"] = list(grouped.values())
    data["owner_fields"] = [
        {"field_name": k, "timestamp": v} for k, v in (doc.get("owner_fields") or {}).items()
    ]
    return data


def row_by_row(path: Path) -> float:
    """The baseline: parse, validate every product with pydantic, 1,024-row pyarrow tables, write Parquet."""
    import pyarrow.parquet as pq

    model = _row_model()
    started = time.perf_counter()
    out = path.with_suffix(".rows.parquet")
    writer = None
    with gzip.open(path, "rb") as handle:
        while batch := list(itertools.islice(handle, 1024)):
            rows = []
            for line in batch:
                try:
                    row = model.model_validate(_row_model_input(orjson.loads(line))).model_dump()
                except Exception:
                    continue
                for key in ("images", "nutriments", "ingredients", "owner_fields", "categories_properties"):
                    row[key] = orjson.dumps(row[key]).decode() if row[key] is not None else None
                rows.append(row)
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
