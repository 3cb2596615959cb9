-- MODEL: import_batch_counts
-- KIND: QUERY
-- READS: store_import_batch
-- PARAMS: -
-- Where the incoming rows went before touching the store (the import report).
--
-- Where the incoming rows went before touching the store: rows in, dropped per reason (step 1), and valid
-- rows repeating the key of an earlier valid row of the same batch.
SELECT
    count(*) AS rows_in,
    count(*) FILTER (WHERE drop_reason = 'product_missing') AS product_missing,
    count(*) FILTER (WHERE drop_reason = 'invalid_image') AS invalid_image,
    count(*) FILTER (WHERE drop_reason IS NULL AND NOT is_first) AS duplicates_in_batch,
    count(*) FILTER (WHERE is_first) AS candidates
FROM store_import_batch;
