-- MODEL: prediction_export
-- KIND: QUERY
-- READS: prediction
-- PARAMS: -
-- The predictions as the Parquet export's rows.
--
-- The prediction table for the Parquet export, Robotoff's column names and order; `data` as JSON text.
-- Python writes it with an explicit Arrow schema (pipelines/store/export.py: EXPORT_SCHEMA), so the file's
-- schema does not depend on which columns happen to hold NULLs.
SELECT
    id, barcode, type, data::VARCHAR AS data, timestamp, value_tag, value, source_image, automatic_processing,
    predictor, predictor_version, confidence, server_type
FROM prediction
ORDER BY id;
