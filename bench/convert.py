"""Benchmark of the JSONL → Parquet conversion against `gzip -dc` and against a row-by-row converter.

    python bench/convert.py [--sizes 250000,1000000] [--baseline-docs 30000] [--baseline-file FILE]
                            [--cache data/bench]

For each size it generates (once, cached) a synthetic dump at realistic document sizes, times
`gzip -dc dump > /dev/null`, then converts the dump in a child process and reports its wall time and peak
RSS. Targets (results in ``docs/dumps.md``): conversion ≤ 2.0 × gzip -dc, peak RSS ≤ 2 GB and not growing with
the dump size.

The row-by-row baseline re-implements, per product, OFF's own Parquet export (openfoodfacts/
openfoodfacts-exports v0.9.0, food flavor, which produces the Hugging Face ``food.parquet``): the dump is
read as gzip text, each line parsed with orjson and validated into a pydantic model of the 111 export
columns whose validators restructure the nested fields (``<field>_<lang>`` keys into ``{lang, text}``
lists, images through the SDK's ``convert_to_legacy_schema`` into a list with filtered sizes, legacy
``nutriments`` keys grouped per nutrient or the schema-1003 ``nutrition`` validated with the SDK's
``NutritionV3``, ``owner_fields`` into a list, ``categories_properties`` keys repaired — any other key makes
the product invalid —, sub-ingredients validated recursively, flags and numbers coerced), then dumped by
alias with ``ingredients`` and ``environmental_score_data`` serialized to JSON text. Every 1,024 products
become one ``pa.array`` per column, a record batch cast to the export's schema, written by a
``ParquetWriter``. Invalid products are logged with their traceback (into /dev/null) and dropped, as the
export does, and their count goes to stderr (about 9 % of the synthetic products: odd values the generator
injects on purpose).
It runs on the first ``--baseline-docs`` documents of the smallest synthetic dump, and also on
``--baseline-file`` when given (e.g. real documents); for each file the script prints how many times slower
than `gzip -dc` the baseline is, both throughputs (MB of JSON per second) and how many times faster our
conversion is on that file. ``speedup_at_scale`` compares throughputs per byte of JSON on the same
generator's documents: ours on the largest dump over the baseline's on the synthetic head (target: ≥ 10×).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import pyarrow as pa
from openfoodfacts.images import convert_to_legacy_schema
from openfoodfacts.types import NutritionV3
from pydantic import BaseModel, Field, create_model, field_serializer, model_validator

from pipelines.convert.transform import NUTRIMENT_SUFFIXES

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
    """Run the conversion in a child process: its own wall time and peak RSS. The snapshot guard is off
    (no floor, any previous snapshot replaced): the benchmark's dumps are smaller than OFF's."""
    code = (
        "import json, sys, time; from pathlib import Path; "
        "from pipelines.convert.convert import convert_dump; "
        "t = time.perf_counter(); "
        "r = convert_dump(Path(sys.argv[1]), 'off', out_dir=Path(sys.argv[2]), min_rows=0, force=True); "
        "import resource; "
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': r.rows_out, 'bytes': r.bytes_in, "
        "'quarantined': r.quarantined_total, 'row_groups': r.row_groups, "
        "'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(out)], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # the child reports its own peak RSS


# --- Row-by-row baseline ---------------------------------------------------------------------------------
# Our own re-implementation of the food Parquet export of openfoodfacts/openfoodfacts-exports (v0.9.0,
# `exports/parquet`): every product goes through the same kind of pydantic models and validators, the same
# per-field restructuring, then 1,024-product record batches through pyarrow into a ParquetWriter.


class _ImageSize(BaseModel):
    h: int | None = None
    w: int | None = None


class _Image(BaseModel):
    key: str | None = None
    imgid: int | None = None
    rev: int | None = None
    sizes: dict[str, _ImageSize] | None = None
    uploaded_t: int | None = None
    uploader: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _non_empty_sizes(cls, data: dict) -> dict:
        sizes = data.pop("sizes", None)
        if sizes:
            sizes = {name: size for name, size in sizes.items() if size}
        data["sizes"] = sizes or None
        return data

    @model_validator(mode="after")
    def _known_sizes(self) -> _Image:
        if self.sizes:
            self.sizes = {name: size for name, size in self.sizes.items() if name in _IMAGE_SIZES}
        return self


_IMAGE_SIZES = frozenset(("100", "200", "400", "full"))


class _Ingredient(BaseModel):
    id: str | None = None
    text: str | None = None
    percent: float | None = None
    percent_estimate: float | None = None
    percent_min: float | None = None
    percent_max: float | None = None
    is_in_taxonomy: int | None = None
    vegan: str | None = None
    vegetarian: str | None = None
    from_palm_oil: str | None = None
    processing: str | None = None
    labels: str | None = None
    origins: str | None = None
    quantity: str | None = None
    quantity_g: float | None = None
    ciqual_food_code: str | None = None
    ciqual_proxy_food_code: str | None = None
    ecobalyse_code: str | None = None
    ecobalyse_proxy_code: str | None = None
    ingredients: list[_Ingredient] | None = None

    @model_validator(mode="before")
    @classmethod
    def _sub_ingredients(cls, data: dict) -> dict:
        # Sub-ingredients are validated depth first, each by its own model_validate call.
        if "ingredients" in data and isinstance(data["ingredients"], list):
            data["ingredients"] = [cls.model_validate(sub) for sub in data["ingredients"]]
        return data


class _Nutriment(BaseModel):
    name: str
    value: float | None = None
    per_100g: float | None = Field(default=None, alias="100g")
    serving: float | None = None
    unit: str | None = None
    prepared_value: float | None = None
    prepared_100g: float | None = None
    prepared_serving: float | None = None
    prepared_unit: str | None = None


class _LanguageText(BaseModel):
    lang: str
    text: str


class _OwnerField(BaseModel):
    field_name: str
    timestamp: int


class _Packaging(BaseModel):
    material: str | None = None
    number_of_units: int | None = None
    quantity_per_unit: str | None = None
    quantity_per_unit_unit: str | None = None
    quantity_per_unit_value: str | None = Field(default=None, coerce_numbers_to_str=True)
    recycling: str | None = None
    shape: str | None = None
    weight_measured: float | None = None


class _CategoriesProperties(BaseModel, extra="forbid"):
    ciqual_food_code: int | None = None
    agribalyse_food_code: int | None = None
    agribalyse_proxy_food_code: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_keys(cls, data: dict) -> dict:
        # The exporter strips the characters ':', 'e' and 'n' from both ends of each key (meant to remove
        # the ':en' suffix) and repairs keys ending in '_cod'; any other key makes the product invalid.
        fixed = {}
        for key, value in data.items():
            key = key.strip(":en")
            if key.endswith("_cod"):
                key = key.replace("_cod", "_code")
            fixed[key] = value
        return fixed


# (suffix of a legacy `nutriments` key, field of the nutriment item), tried in this order on every key: the
# export's own table, shared with our conversion.
_NUTRIMENT_SUFFIXES = NUTRIMENT_SUFFIXES
_NUTRIMENT_ITEM_FIELDS = (
    "value",
    "prepared_value",
    "100g",
    "serving",
    "unit",
    "prepared_100g",
    "prepared_serving",
    "prepared_unit",
)
_LANGUAGE_FIELDS = ("ingredients_text", "product_name", "packaging_text", "generic_name")


class _FoodProduct(BaseModel):
    """The export's columns that are more than a plain scalar or string list (``_row_model`` adds those)."""

    code: str
    obsolete: bool = False
    schema_version: int = 999
    product_quantity: str | None = Field(default=None, coerce_numbers_to_str=True)
    serving_quantity: str | None = Field(default=None, coerce_numbers_to_str=True)
    no_nutrition_data: bool | None = None
    product_name: list[_LanguageText] | None = None
    generic_name: list[_LanguageText] | None = None
    ingredients_text: list[_LanguageText] | None = None
    packaging_text: list[_LanguageText] | None = None
    images: list[_Image] | None = None
    owner_fields: list[_OwnerField] | None = None
    packagings: list[_Packaging] | None = None
    nutriments: list[_Nutriment] | None = None
    ingredients: list[_Ingredient] | None = None
    categories_properties: _CategoriesProperties | None = None
    environmental_score_data: dict | None = None

    @model_validator(mode="before")
    @classmethod
    def _flags(cls, data: dict) -> dict:
        data.pop("obsolete", None)  # the export always writes False
        if "no_nutrition_data" in data:
            data["no_nutrition_data"] = data["no_nutrition_data"] in ("on", "true", 1, True)
        return data

    @model_validator(mode="before")
    @classmethod
    def _language_lists(cls, data: dict) -> dict:
        # `<field>` becomes {"lang": "main"}, every `<field>_<xx>` key (any key of the family whose last
        # "_" segment has two characters, `ingredients_text_with_allergens_fr` included) a {"lang": "xx"}.
        for field in _LANGUAGE_FIELDS:
            main = data.pop(field, None)
            items = [{"lang": "main", "text": main}] if main else []
            prefix = field + "_"
            for key in [key for key in data if key.startswith(prefix)]:
                value = data.pop(key)
                lang = key.rsplit("_", 1)[-1]
                if len(lang) == 2 and value is not None and len(value):
                    items.append({"lang": lang, "text": value})
            data[field] = items
        return data

    @model_validator(mode="before")
    @classmethod
    def _image_list(cls, data: dict) -> dict:
        images = data.pop("images", None)
        data["images"] = []
        if images:
            for key, image in convert_to_legacy_schema(images).items():
                data["images"].append({"key": key, **image})
        return data

    @model_validator(mode="before")
    @classmethod
    def _owner_field_list(cls, data: dict) -> dict:
        owner_fields = data.pop("owner_fields", None)
        if owner_fields:
            data["owner_fields"] = [{"field_name": k, "timestamp": t} for k, t in owner_fields.items()]
        return data

    @model_validator(mode="before")
    @classmethod
    def _nutriment_list(cls, data: dict) -> dict:
        if data.get("schema_version", 999) < 1003:
            # Legacy flat `nutriments`: keys grouped by nutrient name, one item per nutrient.
            nutriments = data.pop("nutriments", None)
            if nutriments:
                grouped: dict[str, dict] = {}
                for key, value in nutriments.items():
                    for suffix, field in _NUTRIMENT_SUFFIXES:
                        if key.endswith(suffix):
                            key = key.replace(suffix, "")
                            grouped.setdefault(key, {})[field] = value
                data["nutriments"] = [{"name": name, **fields} for name, fields in grouped.items()]
        else:
            # Schema 1003: the whole `nutrition` object is validated with the SDK's model, then its
            # aggregated set gives one item per nutrient (value and prepared_value stay null).
            aggregated = NutritionV3.model_validate(data.get("nutrition", {})).aggregated_set
            if aggregated:
                per_100 = aggregated.per in ("100g", "100ml")
                as_sold = aggregated.preparation == "as_sold"
                items = []
                for name, nutrient in aggregated.nutrients.items():
                    item = dict.fromkeys(_NUTRIMENT_ITEM_FIELDS)
                    item["name"] = name
                    if as_sold:
                        item["100g" if per_100 else "serving"] = nutrient.value
                        item["unit"] = nutrient.unit
                    else:
                        item["prepared_100g" if per_100 else "prepared_serving"] = nutrient.value
                        item["prepared_unit"] = nutrient.unit
                    items.append(item)
                data["nutriments"] = items
        data.setdefault("nutriments", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _score_types(cls, data: dict) -> dict:
        score = data.get("environmental_score_score")
        if score and isinstance(score, float):
            data["environmental_score_score"] = int(score)
        nova_groups = data.get("nova_groups")
        if nova_groups and isinstance(nova_groups, int):
            data["nova_groups"] = str(nova_groups)
        return data

    @field_serializer("ingredients")
    def _ingredients_json(self, ingredients: list[_Ingredient] | None, _info) -> str | None:
        if ingredients is None:
            return None
        return orjson.dumps([ingredient.model_dump() for ingredient in ingredients]).decode("utf-8")

    @field_serializer("environmental_score_data")
    def _environmental_score_json(self, data: dict | None, _info) -> str | None:
        return None if data is None else orjson.dumps(data).decode("utf-8")


_SCALARS = {pa.int32(): int, pa.int64(): int, pa.float32(): float, pa.string(): str, pa.bool_(): bool}


def _row_model() -> type[BaseModel]:
    """The export's food product model: ``_FoodProduct`` plus one optional field per remaining column."""
    from pipelines.convert.schema import HF_COLUMNS

    fields = {
        name: ((_SCALARS.get(kind) or list[str]) | None, None)
        for name, kind in HF_COLUMNS
        if name not in _FoodProduct.model_fields
    }
    return create_model("FoodProduct", __base__=_FoodProduct, **fields)  # type: ignore[call-overload]


def _row_schema() -> tuple[pa.Schema, dict[str, pa.DataType]]:
    """The export's Arrow schema (its images items lack our angle/width/height) and the columns whose type
    it gives to ``pa.array`` instead of letting pyarrow infer it."""
    from pipelines.convert.schema import CATEGORIES_PROPERTIES, HF_COLUMNS, IMAGE_SIZE, NUTRIMENTS, PACKAGINGS

    images = pa.list_(
        pa.struct(
            [
                pa.field("key", pa.string()),
                pa.field("imgid", pa.int32()),
                pa.field("rev", pa.int32()),
                pa.field(
                    "sizes", pa.struct([pa.field(s, IMAGE_SIZE) for s in ("100", "200", "400", "full")])
                ),
                pa.field("uploaded_t", pa.int64()),
                pa.field("uploader", pa.string()),
            ]
        )
    )
    schema = pa.schema([pa.field(name, images if name == "images" else kind) for name, kind in HF_COLUMNS])
    typed = {
        "images": images,
        "nutriments": NUTRIMENTS,
        "packagings": PACKAGINGS,
        "categories_properties": CATEGORIES_PROPERTIES,
    }
    return schema, typed


def _rejects_log() -> logging.Logger:
    """Where rejected products are logged with their traceback, as the exporter does, but into /dev/null."""
    log = logging.getLogger("bench.row_by_row")
    if not log.handlers:
        log.addHandler(logging.FileHandler(os.devnull))
        log.propagate = False
    return log


def row_by_row(path: Path) -> float:
    """The baseline: OFF's export, product by product (see the module docstring). Returns its seconds."""
    import pyarrow.parquet as pq

    model = _row_model()
    schema, typed = _row_schema()
    rejects = _rejects_log()
    rejected = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        writer = None
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            docs = (orjson.loads(line) for line in (raw.strip("\n") for raw in handle) if line)
            while batch := list(itertools.islice(docs, 1024)):
                rows = []
                for doc in batch:
                    try:
                        rows.append(model(**doc).model_dump(by_alias=True))
                    except Exception:
                        rejected += 1
                        code = doc.get("code") if isinstance(doc, dict) else None
                        rejects.warning("product %s rejected by validation", code, exc_info=True)
                if not rows:
                    continue
                columns = {key: pa.array([row[key] for row in rows], type=typed.get(key)) for key in rows[0]}
                record_batch = pa.record_batch(columns, schema=schema)
                if writer is None:
                    writer = pq.ParquetWriter(Path(tmp) / "food.parquet", schema=record_batch.schema)
                writer.write_batch(record_batch, row_group_size=122_880)
        if writer is not None:
            writer.close()
    seconds = time.perf_counter() - started
    if rejected:
        print(
            f"row-by-row baseline: {rejected:,} products failed validation "
            "(logged and dropped, as OFF's export does)",
            file=sys.stderr,
        )
    return seconds


def compare_row_by_row(path: Path, cache: Path) -> dict:
    """The baseline and our conversion on the same file: seconds, throughput, and how many times faster."""
    gz = gzip_seconds(path)
    baseline = row_by_row(path)
    ours = convert_in_child(path, cache / "out-head")
    megabytes = ours["bytes"] / 1e6
    return {
        "file": str(path),
        "docs": ours["rows"] + ours["quarantined"],
        "json_mb": round(megabytes),
        "gzip_dc_seconds": round(gz, 2),
        "row_by_row_seconds": round(baseline, 1),
        "row_by_row_ratio_to_gzip_dc": round(baseline / gz, 1),
        "row_by_row_mb_per_second": round(megabytes / baseline, 1),
        "convert_seconds": round(ours["seconds"], 2),
        "convert_mb_per_second": round(megabytes / ours["seconds"], 1),
        "speedup_over_row_by_row": round(baseline / ours["seconds"], 1),
    }


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
    parser.add_argument(
        "--baseline-file",
        type=Path,
        help="run the row-by-row comparison on this dump instead of the synthetic head (e.g. real documents)",
    )
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
                "mb_per_second": round(info["bytes"] / 1e6 / info["seconds"], 1),
                "peak_rss_mb": info["peak_rss_mb"],
                "rows": info["rows"],
                "row_groups": info["row_groups"],
            }
        )
    # The baseline always runs on the head of the synthetic dump (the documents of the at-scale runs) and,
    # with --baseline-file, on that file too (e.g. real documents).
    smallest = synthetic_dump(args.cache, min(sizes) if sizes else 250_000)
    head = head_of(smallest, args.baseline_docs, args.cache)
    files = [head] + ([args.baseline_file] if args.baseline_file else [])
    results["row_by_row"] = [compare_row_by_row(path, args.cache) for path in files]
    if results["runs"]:
        # The same comparison at scale, where our fixed costs (imports, first batch, last row group) fade, per
        # byte of JSON on the same generator's documents: the baseline has no fixed cost worth the name (it
        # is linear in the products), so its throughput on the head is its throughput on any size. gzip -dc
        # is no common unit across files: it decompresses a highly compressible file (the real sample
        # repeated) ~1.7× faster per byte than the synthetic dumps.
        largest = max(results["runs"], key=lambda run: run["products"])
        synthetic = results["row_by_row"][0]
        speedup = largest["mb_per_second"] / synthetic["row_by_row_mb_per_second"]
        results["speedup_at_scale"] = round(speedup, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
