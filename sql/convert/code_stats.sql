-- MODEL: code_stats
-- KIND: QUERY
-- READS: -
-- PARAMS: $path
-- Barcode facts of a converted snapshot for the conversion report (duplicates, collisions, invalid codes).
--
-- code_stats: barcode facts of a converted snapshot (parameter $path, the Parquet file). Every row is kept;
-- downstream steps pick one row per normalized code (the latest last_modified_t).
--   duplicate_code_rows        rows whose raw code appears more than once, beyond the first;
--   normalized_code_collisions normalized codes reached from more than one distinct raw code;
--   invalid_codes              rows whose code is not a valid barcode (kept, flagged code_valid = false).
SELECT
    count(*) - count(DISTINCT code) AS duplicate_code_rows,
    (
        SELECT count(*) FROM (
            SELECT normalized_code FROM read_parquet($path)
            GROUP BY normalized_code HAVING count(DISTINCT code) > 1
        )
    ) AS normalized_code_collisions,
    count(*) FILTER (WHERE NOT code_valid) AS invalid_codes
FROM read_parquet($path)
