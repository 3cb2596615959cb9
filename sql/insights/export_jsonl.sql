-- MODEL: product_insight_jsonl
-- KIND: QUERY
-- READS: product_insight
-- PARAMS: $path
-- Writes the insights as JSON lines (the insight export).
--
-- The product_insight table as JSON lines, Robotoff's column names and order; `data` and `bounding_box` as
-- nested JSON (JSON columns are written as they are), lists as arrays, times in ISO 8601 with their UTC
-- offset, as Python's isoformat() writes them.
COPY (
    SELECT
        id::VARCHAR AS id, barcode, type, data,
        strftime(timezone('UTC', timestamp), '%Y-%m-%dT%H:%M:%S.%f+00:00') AS timestamp,
        strftime(timezone('UTC', completed_at), '%Y-%m-%dT%H:%M:%S.%f+00:00') AS completed_at,
        annotation, annotated_result, n_votes, username, countries, brands,
        strftime(timezone('UTC', process_after), '%Y-%m-%dT%H:%M:%S.%f+00:00') AS process_after,
        value_tag, value, source_image, automatic_processing, server_type, unique_scans_n, reserved_barcode,
        predictor, predictor_version, campaign, confidence, bounding_box, lc, with_image
    FROM product_insight
    ORDER BY barcode, type, id
) TO $path (FORMAT json);
