-- MODEL: snapshot_rows
-- KIND: QUERY
-- READS: @snapshot_source
-- PARAMS: $codes
-- The snapshot rows of some products, for the per-product path.
--
-- snapshot_rows: the rows of some products in a flavor's snapshot (relation `snapshot_source`), every column,
-- for the per-product path. Parameter $codes: normalized, validated barcodes. Duplicate rows of a code are all
-- returned, as the bulk run reads them (the refresh picks one per code).
SELECT *
FROM snapshot_source
WHERE normalized_code IN (SELECT unnest($codes::VARCHAR[]))
ORDER BY dump_line
