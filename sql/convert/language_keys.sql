-- language_keys: the language variants of names and texts ("product_name_fr", "ingredients_text_de"…) present
-- in a batch of dump lines; json_transform must be told its keys up front. A regex over the raw text is the
-- cheapest way to list them; a key-like text inside a value only adds a key that then reads as NULL.
-- Input relation `batch(line_no BIGINT, line BLOB)` (lines ending with their newline); parameter
-- $max_line_bytes.
SELECT coalesce(list(key ORDER BY key), []) AS keys
FROM (
    SELECT DISTINCT unnest(regexp_extract_all(
        try(decode(line)),
        '"((?:product_name|generic_name|ingredients_text|packaging_text)_[a-z]{2})"\s*:',
        1)) AS key
    FROM batch
    WHERE octet_length(line) - 1 <= $max_line_bytes
)
