-- MODEL: parsed_lines
-- KIND: VIEW
-- READS: @batch
-- PARAMS: getvariable('max_line_bytes'), {language_keys}
-- One batch of dump lines classified and parsed once, for the products query.
--
-- parsed_lines: one batch of dump lines, classified and parsed once (a view the products query reads, so
-- nothing is materialized). Input relation `batch(line_no BIGINT, line BLOB, text VARCHAR)`: raw lines, each
-- ending with its newline, and the same lines as text, NULL where not UTF-8 (prepare_batch in transform.py).
-- Variable max_line_bytes (newline not counted; sql/convert/max_line_bytes.sql sets it). Placeholder
-- {language_keys}: extra structure members
-- `, "product_name_fr": "VARCHAR"` for the language variants present in the batch (prepare_batch in transform.py),
-- filled by pipelines/convert/transform.py with validated names only.
--
-- json_transform reads scalars as VARCHAR (numbers as written, strings unescaped) and lists and objects as
-- JSON text, re-read later from that small text. `reason` says why a line cannot become a row.
CREATE OR REPLACE TEMP VIEW parsed_lines AS
WITH decoded AS (
    SELECT
        line_no,
        line,
        octet_length(line) - 1 AS n_bytes,
        CASE WHEN octet_length(line) - 1 <= getvariable('max_line_bytes') THEN text END AS text
    FROM batch
),

parsed AS (
    SELECT
        line_no,
        line,
        n_bytes,
        text,
        CASE WHEN regexp_matches(text, '^\s*\{') THEN try(json_transform(text, '{
            "brands": "VARCHAR", "categories": "VARCHAR", "code": "VARCHAR",
            "compared_to_category": "VARCHAR", "creator": "VARCHAR",
            "environmental_score_grade": "VARCHAR", "emb_codes": "VARCHAR", "labels": "VARCHAR",
            "lang": "VARCHAR", "last_editor": "VARCHAR", "last_modified_by": "VARCHAR", "link": "VARCHAR",
            "manufacturing_places": "VARCHAR", "nova_groups": "VARCHAR", "nutriscore_grade": "VARCHAR",
            "nutrition_data_per": "VARCHAR", "origins": "VARCHAR", "owner": "VARCHAR",
            "packaging": "VARCHAR", "product_quantity_unit": "VARCHAR", "product_quantity": "VARCHAR",
            "quantity": "VARCHAR", "serving_quantity": "VARCHAR", "serving_size": "VARCHAR",
            "stores": "VARCHAR", "product_type": "VARCHAR", "expiration_date": "VARCHAR",
            "product_name": "VARCHAR", "generic_name": "VARCHAR", "ingredients_text": "VARCHAR",
            "packaging_text": "VARCHAR", "additives_n": "VARCHAR", "complete": "VARCHAR",
            "ingredients_from_palm_oil_n": "VARCHAR", "ingredients_n": "VARCHAR",
            "ingredients_percent_analysis": "VARCHAR", "ingredients_with_specified_percent_n": "VARCHAR",
            "ingredients_with_unspecified_percent_n": "VARCHAR",
            "ingredients_without_ciqual_codes_n": "VARCHAR", "known_ingredients_n": "VARCHAR",
            "max_imgid": "VARCHAR", "new_additives_n": "VARCHAR", "nova_group": "VARCHAR",
            "nutriscore_score": "VARCHAR", "rev": "VARCHAR", "scans_n": "VARCHAR",
            "unique_scans_n": "VARCHAR", "unknown_ingredients_n": "VARCHAR",
            "with_non_nutritive_sweeteners": "VARCHAR", "with_sweeteners": "VARCHAR",
            "schema_version": "VARCHAR", "environmental_score_score": "VARCHAR", "created_t": "VARCHAR",
            "last_image_t": "VARCHAR", "last_modified_t": "VARCHAR", "last_updated_t": "VARCHAR",
            "popularity_key": "VARCHAR", "completeness": "VARCHAR", "no_nutrition_data": "VARCHAR",
            "packagings_complete": "VARCHAR", "obsolete": "VARCHAR", "additives_tags": "JSON",
            "allergens_tags": "JSON", "brands_tags": "JSON", "categories_tags": "JSON",
            "checkers_tags": "JSON", "ciqual_food_name_tags": "JSON", "cities_tags": "JSON",
            "correctors_tags": "JSON", "countries_tags": "JSON", "data_quality_errors_tags": "JSON",
            "data_quality_info_tags": "JSON", "data_quality_warnings_tags": "JSON",
            "data_sources_tags": "JSON", "environmental_score_tags": "JSON", "editors": "JSON",
            "emb_codes_tags": "JSON", "entry_dates_tags": "JSON", "food_groups_tags": "JSON",
            "informers_tags": "JSON", "ingredients_analysis_tags": "JSON",
            "ingredients_original_tags": "JSON", "ingredients_tags": "JSON",
            "ingredients_without_ciqual_codes": "JSON", "labels_tags": "JSON", "languages_tags": "JSON",
            "last_edit_dates_tags": "JSON", "main_countries_tags": "JSON",
            "manufacturing_places_tags": "JSON", "minerals_tags": "JSON", "misc_tags": "JSON",
            "nova_groups_tags": "JSON", "nucleotides_tags": "JSON", "nutrient_levels_tags": "JSON",
            "origins_tags": "JSON", "packaging_recycling_tags": "JSON", "packaging_shapes_tags": "JSON",
            "packaging_tags": "JSON", "photographers": "JSON", "popularity_tags": "JSON",
            "purchase_places_tags": "JSON", "states_tags": "JSON", "stores_tags": "JSON",
            "traces_tags": "JSON", "unknown_nutrients_tags": "JSON", "vitamins_tags": "JSON",
            "data_quality_tags": "JSON", "categories_properties": "JSON", "images": "JSON",
            "nutriments": "JSON", "nutrition": "JSON", "owner_fields": "JSON", "packagings": "JSON",
            "ingredients": "JSON", "environmental_score_data": "JSON"{language_keys}
        }')) END AS j
    FROM decoded
)

SELECT
    line_no,
    CASE
        WHEN n_bytes > getvariable('max_line_bytes') THEN 'too_large'
        WHEN text IS NULL THEN 'invalid_utf8'
        WHEN regexp_full_match(text, '\s*') THEN 'empty'
        WHEN NOT regexp_matches(text, '^\s*\{') THEN 'not_an_object'
        WHEN j IS NULL THEN 'invalid_json'
        WHEN j.code IS NULL OR trim(j.code) = '' THEN 'no_code'
    END AS reason,
    CASE WHEN j IS NULL OR j.code IS NULL OR trim(j.code) = '' THEN line END AS raw,
    j
FROM parsed
