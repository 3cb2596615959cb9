-- nutriment_keys: the keys of the legacy `nutriments` objects in a batch of dump lines ("fat_100g",
-- "fiber_unit"…): the set is open-ended (new nutrients keep appearing), and json_transform must be told its
-- keys up front. Input relation `batch(line_no BIGINT, line BLOB)`; parameter $max_line_bytes.
-- Lines that do not parse contribute nothing (they are quarantined later).
SELECT coalesce(list(key ORDER BY key), []) AS keys
FROM (
    SELECT DISTINCT unnest(try(json_keys(text, '$.nutriments'))) AS key
    FROM (
        SELECT try(decode(line)) AS text
        FROM batch
        WHERE octet_length(line) - 1 <= $max_line_bytes
    )
    WHERE starts_with(ltrim(text, chr(32) || chr(9) || chr(13) || chr(10)), '{')
)
