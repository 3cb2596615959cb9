-- MODEL: prediction_jsonl
-- KIND: QUERY
-- READS: prediction
-- PARAMS: $path
-- Writes the predictions as JSON lines (the prediction export).
--
-- The prediction table as JSON lines, Robotoff's column names; `data` as a nested object (a JSON column is
-- written as is), `timestamp` in ISO 8601 with its UTC offset, as Python's isoformat() writes it.
COPY (
    SELECT
        id, barcode, type, data,
        strftime(timezone('UTC', timestamp), '%Y-%m-%dT%H:%M:%S.%f+00:00') AS timestamp,
        value_tag, value, source_image, automatic_processing, predictor, predictor_version, confidence,
        server_type
    FROM prediction
    ORDER BY id
) TO $path (FORMAT json);
