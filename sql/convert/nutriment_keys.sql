-- MODEL: nutriment_keys
-- KIND: QUERY
-- READS: @nutriment_batch
-- PARAMS: -
-- The keys of a batch's legacy `nutriments` objects: json_transform must be told them up front.
--
-- nutriment_keys: the keys of the legacy `nutriments` objects of a batch ("fat_100g", "fiber_unit"…): the set
-- is open-ended (new nutrients keep appearing) and json_transform must be told its keys up front.
-- Input relation `nutriment_batch(legacy_nutriments VARCHAR, …)`: the objects' JSON text (NULL elsewhere).
SELECT coalesce(list(key ORDER BY key), []) AS keys
FROM (
    SELECT DISTINCT unnest(json_keys(legacy_nutriments)) AS key
    FROM nutriment_batch
    WHERE legacy_nutriments IS NOT NULL
)
