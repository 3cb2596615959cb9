-- MODEL: legacy_nutriments
-- KIND: QUERY
-- READS: @nutriment_batch
-- PARAMS: {nutriment_structure}, {nutriment_columns}
-- Typed values of the legacy `nutriments` objects of a batch, one column per key.
--
-- legacy_nutriments: the values of the legacy `nutriments` objects ({"fat_100g": 3, "fat_unit": "g", …}) of a
-- batch, one column per key that names a nutrient field (`<name>_value`, `_100g`, `_serving`, `_unit` and their
-- `_prepared_` forms), typed (numbers as FLOAT, units as text), plus the fiber flag. pipelines/convert/transform.py
-- regroups the columns into one item per nutrient name, as OFF's export does (building those lists in SQL, one
-- struct per name known to the batch then a filter, cost ~15 % more on real documents).
-- Input relation `nutriment_batch(legacy_nutriments VARCHAR, has_fiber_value BOOLEAN)`, one row per batch row,
-- in order. Placeholders, filled by pipelines/convert/transform.py from keys it has validated:
-- {nutriment_structure} (json_transform structure of the keys present, always with "fiber" and
-- "fiber_prepared"; numeric fields as DOUBLE), {nutriment_columns} (`, TRY_CAST(nut."fat_100g" AS FLOAT) AS
-- "fat_100g"`…, possibly empty).
SELECT
    coalesce(has_fiber_value, false) OR coalesce(nut.fiber IS NOT NULL OR nut.fiber_prepared IS NOT NULL, false)
        AS has_fiber_value{nutriment_columns}
FROM (
    SELECT
        has_fiber_value,
        CASE WHEN legacy_nutriments IS NOT NULL
             THEN json_transform(legacy_nutriments, '{nutriment_structure}') END AS nut
    FROM nutriment_batch
)
