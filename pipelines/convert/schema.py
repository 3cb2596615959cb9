"""The explicit schema of the Parquet snapshot: OFF's own 111 export columns plus what the pipeline needs.

Never inferred: DuckDB and Polars both drop or coerce fields silently past their inference window (see
docs/parquet-schema.md), so every column and type is declared here, and the conversion
casts its output to exactly this schema (a mismatch is an error, not a guess).

The first 111 columns have the names and Arrow types of the Hugging Face ``openfoodfacts/product-database``
``food.parquet`` export (``../shared/spec/hf-food-parquet-schema.tsv``), so tools written for that file read
ours. One deliberate widening: ``images`` items also carry ``angle``, ``width`` and ``height`` (of the full
image), which the importers need. The extra columns follow; ``docs/parquet-schema.md`` documents all of them
and a test keeps it in sync.
"""

from __future__ import annotations

import pyarrow as pa

STR = pa.string()
STR_LIST = pa.list_(pa.string())
I32 = pa.int32()
I64 = pa.int64()
F32 = pa.float32()

LANGUAGE_FIELD = pa.list_(pa.struct([pa.field("lang", STR), pa.field("text", STR)]))
IMAGE_SIZE = pa.struct([pa.field("h", I32), pa.field("w", I32)])
IMAGES = pa.list_(
    pa.struct(
        [
            pa.field("key", STR),
            pa.field("imgid", I32),
            pa.field("rev", I32),
            pa.field(
                "sizes",
                pa.struct([pa.field(size, IMAGE_SIZE) for size in ("100", "200", "400", "full")]),
            ),
            pa.field("uploaded_t", I64),
            pa.field("uploader", STR),
            pa.field("angle", I32),
            pa.field("width", I32),
            pa.field("height", I32),
        ]
    )
)
NUTRIMENTS = pa.list_(
    pa.struct(
        [
            pa.field("name", STR),
            pa.field("value", F32),
            pa.field("100g", F32),
            pa.field("serving", F32),
            pa.field("unit", STR),
            pa.field("prepared_value", F32),
            pa.field("prepared_100g", F32),
            pa.field("prepared_serving", F32),
            pa.field("prepared_unit", STR),
        ]
    )
)
PACKAGINGS = pa.list_(
    pa.struct(
        [
            pa.field("material", STR),
            pa.field("number_of_units", I64),
            pa.field("quantity_per_unit", STR),
            pa.field("quantity_per_unit_unit", STR),
            pa.field("quantity_per_unit_value", STR),
            pa.field("recycling", STR),
            pa.field("shape", STR),
            pa.field("weight_measured", F32),
        ]
    )
)
OWNER_FIELDS = pa.list_(pa.struct([pa.field("field_name", STR), pa.field("timestamp", I64)]))
CATEGORIES_PROPERTIES = pa.struct(
    [
        pa.field("ciqual_food_code", I32),
        pa.field("agribalyse_food_code", I32),
        pa.field("agribalyse_proxy_food_code", I32),
    ]
)

# (name, type) of OFF's export, in its order.
HF_COLUMNS: list[tuple[str, pa.DataType]] = [
    ("additives_n", I32),
    ("additives_tags", STR_LIST),
    ("allergens_tags", STR_LIST),
    ("brands_tags", STR_LIST),
    ("brands", STR),
    ("categories", STR),
    ("categories_tags", STR_LIST),
    ("categories_properties", CATEGORIES_PROPERTIES),
    ("checkers_tags", STR_LIST),
    ("ciqual_food_name_tags", STR_LIST),
    ("cities_tags", STR_LIST),
    ("code", STR),
    ("compared_to_category", STR),
    ("complete", I32),
    ("completeness", F32),
    ("correctors_tags", STR_LIST),
    ("countries_tags", STR_LIST),
    ("created_t", I64),
    ("creator", STR),
    ("data_quality_errors_tags", STR_LIST),
    ("data_quality_info_tags", STR_LIST),
    ("data_quality_warnings_tags", STR_LIST),
    ("data_sources_tags", STR_LIST),
    ("environmental_score_data", STR),
    ("environmental_score_grade", STR),
    ("environmental_score_score", I32),
    ("environmental_score_tags", STR_LIST),
    ("editors", STR_LIST),
    ("emb_codes_tags", STR_LIST),
    ("emb_codes", STR),
    ("entry_dates_tags", STR_LIST),
    ("food_groups_tags", STR_LIST),
    ("generic_name", LANGUAGE_FIELD),
    ("images", IMAGES),
    ("informers_tags", STR_LIST),
    ("ingredients_analysis_tags", STR_LIST),
    ("ingredients_from_palm_oil_n", I32),
    ("ingredients_n", I32),
    ("ingredients_original_tags", STR_LIST),
    ("ingredients_percent_analysis", I32),
    ("ingredients_tags", STR_LIST),
    ("ingredients_text", LANGUAGE_FIELD),
    ("ingredients_with_specified_percent_n", I32),
    ("ingredients_with_unspecified_percent_n", I32),
    ("ingredients_without_ciqual_codes_n", I32),
    ("ingredients_without_ciqual_codes", STR_LIST),
    ("ingredients", STR),
    ("known_ingredients_n", I32),
    ("labels_tags", STR_LIST),
    ("labels", STR),
    ("lang", STR),
    ("languages_tags", STR_LIST),
    ("last_edit_dates_tags", STR_LIST),
    ("last_editor", STR),
    ("last_image_t", I64),
    ("last_modified_by", STR),
    ("last_modified_t", I64),
    ("last_updated_t", I64),
    ("link", STR),
    ("main_countries_tags", STR_LIST),
    ("manufacturing_places_tags", STR_LIST),
    ("manufacturing_places", STR),
    ("max_imgid", I32),
    ("minerals_tags", STR_LIST),
    ("misc_tags", STR_LIST),
    ("new_additives_n", I32),
    ("no_nutrition_data", pa.bool_()),
    ("nova_group", I32),
    ("nova_groups_tags", STR_LIST),
    ("nova_groups", STR),
    ("nucleotides_tags", STR_LIST),
    ("nutrient_levels_tags", STR_LIST),
    ("nutriments", NUTRIMENTS),
    ("nutriscore_grade", STR),
    ("nutriscore_score", I32),
    ("nutrition_data_per", STR),
    ("obsolete", pa.bool_()),
    ("origins_tags", STR_LIST),
    ("origins", STR),
    ("owner_fields", OWNER_FIELDS),
    ("owner", STR),
    ("packagings_complete", pa.bool_()),
    ("packaging_recycling_tags", STR_LIST),
    ("packaging_shapes_tags", STR_LIST),
    ("packaging_tags", STR_LIST),
    ("packaging_text", LANGUAGE_FIELD),
    ("packaging", STR),
    ("packagings", PACKAGINGS),
    ("photographers", STR_LIST),
    ("popularity_key", I64),
    ("popularity_tags", STR_LIST),
    ("product_name", LANGUAGE_FIELD),
    ("product_quantity_unit", STR),
    ("product_quantity", STR),
    ("purchase_places_tags", STR_LIST),
    ("quantity", STR),
    ("rev", I32),
    ("scans_n", I32),
    ("serving_quantity", STR),
    ("serving_size", STR),
    ("states_tags", STR_LIST),
    ("stores_tags", STR_LIST),
    ("stores", STR),
    ("traces_tags", STR_LIST),
    ("unique_scans_n", I32),
    ("unknown_ingredients_n", I32),
    ("unknown_nutrients_tags", STR_LIST),
    ("vitamins_tags", STR_LIST),
    ("with_non_nutritive_sweeteners", I32),
    ("with_sweeteners", I32),
    ("schema_version", I32),
]

# Columns the pipeline adds: (name, type, meaning).
EXTRA_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("normalized_code", STR, "Product Opener's normalized code of `code` (docs/barcodes.md)"),
    ("code_valid", pa.bool_(), "`code` has 4 to 24 digits (after GS1 extraction)"),
    ("product_type", STR, "food, beauty, petfood or product"),
    ("expiration_date", STR, "as entered (the expiration-date importer skips products that have one)"),
    ("data_quality_tags", STR_LIST, "all data-quality facets (the fiber facet writer reads it)"),
    ("nutrition", STR, "the 2026 `nutrition` object (schema 1003), as JSON text"),
    (
        "has_fiber_value",
        pa.bool_(),
        "a fiber value exists: `fiber`/`fiber_prepared` in `nutriments`, or fiber "
        "in `nutrition` (aggregated or input sets)",
    ),
    ("dump_line", I64, "1-based line number in the source dump (ties duplicates to their line)"),
]

PRODUCT_SCHEMA = pa.schema(
    [pa.field(name, kind) for name, kind in HF_COLUMNS]
    + [pa.field(name, kind) for name, kind, _ in EXTRA_COLUMNS]
)

# Fields of the top-level object that are "<field>_<lang>" families, gathered into LANGUAGE_FIELD lists.
LANGUAGE_FAMILIES = ("product_name", "generic_name", "ingredients_text", "packaging_text")


def render_markdown() -> str:
    """The column table of ``docs/parquet-schema.md`` (a test checks the document contains it)."""
    rows = ["| column | Arrow type | origin |", "| --- | --- | --- |"]
    for name, kind in HF_COLUMNS:
        rows.append(f"| `{name}` | `{kind}` | OFF export |")
    for name, kind, meaning in EXTRA_COLUMNS:
        rows.append(f"| `{name}` | `{kind}` | {meaning} |")
    return "\n".join(rows) + "\n"
