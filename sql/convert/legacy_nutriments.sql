-- legacy_nutriments: `nutriments` (and the fiber flag) of the batch's rows, with the legacy objects
-- ({"fat_100g": 3, "fat_unit": "g", …}) regrouped per nutrient as OFF's export does: one item per name
-- from its `<name>_value`, `_100g`, `_serving`, `_unit` keys and their `_prepared_` forms.
-- Input relation `nutriment_batch(legacy_nutriments VARCHAR, nutriments <list>, has_fiber_value BOOLEAN)`,
-- one row per batch row, in order. Placeholders, filled by pipelines/convert/transform.py from keys it has
-- validated: {nutriment_structure} (json_transform structure of the keys present, always with "fiber" and
-- "fiber_prepared"), {nutriment_list} (one struct per nutrient name, reading `nut."<key>"`).
SELECT
    CASE WHEN nut IS NULL THEN nutriments ELSE list_filter({nutriment_list}, lambda nm: nm.name IS NOT NULL AND (
        nm.value IS NOT NULL OR nm."100g" IS NOT NULL OR nm.serving IS NOT NULL OR nm.unit IS NOT NULL
        OR nm.prepared_value IS NOT NULL OR nm.prepared_100g IS NOT NULL
        OR nm.prepared_serving IS NOT NULL OR nm.prepared_unit IS NOT NULL)) END AS nutriments,
    coalesce(has_fiber_value, false) OR coalesce(nut.fiber IS NOT NULL OR nut.fiber_prepared IS NOT NULL, false)
        AS has_fiber_value
FROM (
    SELECT
        *,
        CASE WHEN legacy_nutriments IS NOT NULL
             THEN json_transform(legacy_nutriments, '{nutriment_structure}') END AS nut
    FROM nutriment_batch
)
