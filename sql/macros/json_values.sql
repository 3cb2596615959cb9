-- MODEL: off_text, off_double, off_float, off_int, off_bigint, off_bool, off_text_list, off_failed, off_image_size, off_image_row, off_images, off_nutriments_v3, off_nutriment_field, off_nutrition_has_fiber
-- KIND: MACRO
-- READS: -
-- PARAMS: -
-- Coercion of dump values to the snapshot's types, NULL for what cannot be read.
--
-- Coercion of dump values to the snapshot's types. Scalars arrive as text (json_transform to VARCHAR: numbers
-- as written, strings unescaped); lists and objects as JSON text.
-- The dump holds numbers as strings, strings as numbers, "" for unknown values…: every macro returns NULL for a
-- value it cannot read, and the conversion counts, per column, values that were present but became NULL.
-- A missing key and a JSON null both arrive as SQL NULL. Macros bind sub-expressions once with the
-- `list_transform([x], lambda y: …)[1]` idiom (see barcodes.sql).

-- Text: strings unquoted, numbers and booleans as written; objects and arrays are not text.
CREATE OR REPLACE TEMP MACRO off_text(v) AS CASE
    WHEN v IS NULL OR starts_with(v, '{') OR starts_with(v, '[') THEN NULL
    ELSE v ->> '$'
END;

CREATE OR REPLACE TEMP MACRO off_double(v) AS TRY_CAST(v AS DOUBLE);

-- A number beyond FLOAT's range (1e300) is unreadable like any other, not an error for the whole batch.
CREATE OR REPLACE TEMP MACRO off_float(v) AS TRY_CAST(TRY_CAST(v AS DOUBLE) AS FLOAT);

-- Integers accept "12", 12 and 12.0; 12.5 is not an integer (NULL, counted).
CREATE OR REPLACE TEMP MACRO off_int(v) AS list_transform([TRY_CAST(v AS DOUBLE)], lambda int_d:
    CASE WHEN int_d = floor(int_d) AND abs(int_d) < 2147483648 THEN CAST(int_d AS INTEGER) END)[1];

CREATE OR REPLACE TEMP MACRO off_bigint(v) AS list_transform([TRY_CAST(v AS DOUBLE)], lambda big_d:
    CASE WHEN big_d = floor(big_d) AND abs(big_d) < 9.2e18 THEN CAST(big_d AS BIGINT) END)[1];

-- Product Opener writes flags as true/false, 1/0, "on"/"off", "yes"/"no" (input: the value as text).
CREATE OR REPLACE TEMP MACRO off_bool(v) AS CASE lower(trim(v))
    WHEN 'true' THEN true WHEN '1' THEN true WHEN 'on' THEN true WHEN 'yes' THEN true
    WHEN 'false' THEN false WHEN '0' THEN false WHEN 'off' THEN false WHEN 'no' THEN false WHEN '' THEN false
END;

CREATE OR REPLACE TEMP MACRO off_text_list(v) AS CASE WHEN starts_with(v, '[') THEN TRY_CAST(v AS VARCHAR[]) END;

-- A value that was there but could not be read.
CREATE OR REPLACE TEMP MACRO off_failed(raw, typed) AS raw IS NOT NULL AND typed IS NULL;

-- An image as json_transform reads it, in either layout: raw image "<imgid>" (sizes, uploader, uploaded_t),
-- selected image "<key>_<lang>" (imgid, rev, sizes, angle; in the 2026 layout angle sits in `generation`).
-- Scalars as text, converted by off_image_row (the STRUCT is spelled out in off_images: macros are
-- temporary, per connection, and a persistent type would tie every store file to one version of it).
CREATE OR REPLACE TEMP MACRO off_image_size(sz) AS {'h': off_int(sz.h), 'w': off_int(sz.w)};

CREATE OR REPLACE TEMP MACRO off_image_row(image_key, img) AS {
    'key': image_key,
    'imgid': off_int(img.imgid),
    'rev': off_int(img.rev),
    'sizes': {
        '100': off_image_size(img.sizes."100"),
        '200': off_image_size(img.sizes."200"),
        '400': off_image_size(img.sizes."400"),
        'full': off_image_size(img.sizes."full")
    },
    'uploaded_t': off_bigint(img.uploaded_t),
    'uploader': img.uploader,
    'angle': coalesce(off_int(img.angle), off_int(img.generation.angle)),
    'width': off_int(img.sizes."full".w),
    'height': off_int(img.sizes."full".h)
};

-- The images object in either layout, as a list in the legacy layout's terms (what the SDK's
-- convert_to_legacy_schema produces: uploaded images keyed by id, selected ones by "<key>_<lang>", with the
-- selection's generation fields, e.g. angle, on the selected image). The 2026 layout is recognized by its
-- first key (json_transform writes objects back minified, keys in their original order). Both layouts are
-- first turned into (key, image) entries, then read by one off_image_row: macros expand textually, and each
-- expansion of that large expression costs planning time on every batch.
CREATE OR REPLACE TEMP MACRO off_images(v) AS CASE
    WHEN v IS NULL OR NOT starts_with(v, '{') THEN NULL
    ELSE list_transform(CASE
        WHEN regexp_matches(v, '^\{"(uploaded|selected)"') THEN list_transform(
            [TRY_CAST(v AS STRUCT(
                uploaded MAP(VARCHAR, STRUCT(
                imgid VARCHAR, rev VARCHAR, uploaded_t VARCHAR, uploader VARCHAR, angle VARCHAR,
                generation STRUCT(angle VARCHAR),
                sizes STRUCT("100" STRUCT(h VARCHAR, w VARCHAR), "200" STRUCT(h VARCHAR, w VARCHAR),
                             "400" STRUCT(h VARCHAR, w VARCHAR), "full" STRUCT(h VARCHAR, w VARCHAR)))),
                selected MAP(VARCHAR, MAP(VARCHAR, STRUCT(
                imgid VARCHAR, rev VARCHAR, uploaded_t VARCHAR, uploader VARCHAR, angle VARCHAR,
                generation STRUCT(angle VARCHAR),
                sizes STRUCT("100" STRUCT(h VARCHAR, w VARCHAR), "200" STRUCT(h VARCHAR, w VARCHAR),
                             "400" STRUCT(h VARCHAR, w VARCHAR), "full" STRUCT(h VARCHAR, w VARCHAR)))))))],
            lambda im_new: list_concat(
                map_entries(coalesce(im_new.uploaded, MAP())),
                flatten(list_transform(map_entries(coalesce(im_new.selected, MAP())),
                    lambda sel: list_transform(map_entries(sel.value),
                        lambda sel_lang: {'key': sel.key || '_' || sel_lang.key, 'value': sel_lang.value})))))[1]
        ELSE map_entries(TRY_CAST(v AS MAP(VARCHAR, STRUCT(
            imgid VARCHAR, rev VARCHAR, uploaded_t VARCHAR, uploader VARCHAR, angle VARCHAR,
            generation STRUCT(angle VARCHAR),
            sizes STRUCT("100" STRUCT(h VARCHAR, w VARCHAR), "200" STRUCT(h VARCHAR, w VARCHAR),
                         "400" STRUCT(h VARCHAR, w VARCHAR), "full" STRUCT(h VARCHAR, w VARCHAR))))))
    END, lambda im_entry: off_image_row(im_entry.key, im_entry.value))
END;

-- nutriments of schema 1003+, from nutrition.aggregated_set: per-100 g (or per serving) values of the
-- aggregated set, as sold or prepared; "value" stays NULL (ambiguous in that layout), as OFF's export does.
CREATE OR REPLACE TEMP MACRO off_nutriments_v3(v) AS list_transform(
    [json_transform(v, '{"aggregated_set": {"nutrients": "JSON", "per": "VARCHAR", "preparation": "VARCHAR"}}')],
    lambda nut: CASE WHEN nut.aggregated_set.nutrients IS NOT NULL THEN list_transform(
        map_entries(TRY_CAST(nut.aggregated_set.nutrients AS MAP(VARCHAR, JSON))),
        lambda nut_e: list_transform([json_transform(nut_e.value, '{"value": "JSON", "unit": "JSON"}')], lambda nut_x:
            list_transform([[coalesce(nut.aggregated_set.preparation, 'as_sold') = 'as_sold',
                             coalesce(nut.aggregated_set.per, '100g') IN ('100g', '100ml')]], lambda nut_f: {
                'name': nut_e.key,
                'value': CAST(NULL AS FLOAT),
                '100g': CASE WHEN nut_f[1] AND nut_f[2] THEN off_float(nut_x.value) END,
                'serving': CASE WHEN nut_f[1] AND NOT nut_f[2] THEN off_float(nut_x.value) END,
                'unit': CASE WHEN nut_f[1] THEN off_text(nut_x.unit) END,
                'prepared_value': CAST(NULL AS FLOAT),
                'prepared_100g': CASE WHEN NOT nut_f[1] AND nut_f[2] THEN off_float(nut_x.value) END,
                'prepared_serving': CASE WHEN NOT nut_f[1] AND NOT nut_f[2] THEN off_float(nut_x.value) END,
                'prepared_unit': CASE WHEN NOT nut_f[1] THEN off_text(nut_x.unit) END
            })[1])[1]) END)[1];

-- Which field of a nutrient a legacy nutriments key holds (OFF's export order of suffixes).
CREATE OR REPLACE TEMP MACRO off_nutriment_field(k) AS CASE
    WHEN ends_with(k, '_prepared_100g') THEN 'prepared_100g'
    WHEN ends_with(k, '_prepared_serving') THEN 'prepared_serving'
    WHEN ends_with(k, '_prepared_unit') THEN 'prepared_unit'
    WHEN ends_with(k, '_prepared_value') THEN 'prepared_value'
    WHEN ends_with(k, '_unit') THEN 'unit'
    WHEN ends_with(k, '_value') THEN 'value'
    WHEN ends_with(k, '_100g') THEN '100g'
    WHEN ends_with(k, '_serving') THEN 'serving'
END;

-- A fiber value in the 2026 nutrition object (aggregated set or any input set). In that object a "fiber" key
-- only ever names a nutrient, so a plain text search answers without parsing it again.
CREATE OR REPLACE TEMP MACRO off_nutrition_has_fiber(v) AS coalesce(contains(v, '"fiber":'), false);
