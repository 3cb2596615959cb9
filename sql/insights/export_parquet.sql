-- MODEL: product_insight_export
-- KIND: QUERY
-- READS: product_insight
-- PARAMS: -
-- The insights as the Parquet export's rows.
--
-- The product_insight table for the Parquet export: one row per insight, Robotoff's column names and order
-- (robotoff/models.py). `data` and `bounding_box` as JSON text, the id as its canonical UUID text.
-- Python writes it with an explicit Arrow schema (pipelines/insights/export.py: EXPORT_SCHEMA).
SELECT
    id::VARCHAR AS id, barcode, type, data::VARCHAR AS data, timestamp, completed_at, annotation,
    annotated_result, n_votes, username, countries, brands, process_after, value_tag, value, source_image,
    automatic_processing, server_type, unique_scans_n, reserved_barcode, predictor, predictor_version, campaign,
    confidence, bounding_box::VARCHAR AS bounding_box, lc, with_image
FROM product_insight
ORDER BY barcode, type, id;
