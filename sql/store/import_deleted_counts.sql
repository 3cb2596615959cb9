-- MODEL: import_deleted_counts
-- KIND: QUERY
-- READS: store_import_evicted, store_import_kept
-- PARAMS: -
-- Predictions deleted per eviction rule, and those kept as identical twins.
--
-- Rows deleted per step-2 rule, and evicted rows kept because the import would re-insert them unchanged.
SELECT
    count(*) FILTER (WHERE rule = 'category' AND k.id IS NULL) AS category,
    count(*) FILTER (WHERE rule = 'predictor_version' AND k.id IS NULL) AS predictor_version,
    count(k.id) AS kept_identical
FROM store_import_evicted e
LEFT JOIN store_import_kept k USING (id);
