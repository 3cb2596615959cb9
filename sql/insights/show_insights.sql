-- MODEL: product_insights_shown
-- KIND: QUERY
-- READS: product_insight
-- PARAMS: $barcode, $server_type
-- `offpipe insights show`: one product's insights.
--
-- `offpipe insights show`: the insights of one product (barcode already normalized and validated), with
-- Robotoff's column names.
SELECT
    id::VARCHAR AS id, barcode, type, data, timestamp, completed_at, annotation, annotated_result, n_votes,
    username, countries, brands, process_after, value_tag, value, source_image, automatic_processing,
    server_type, unique_scans_n, reserved_barcode, predictor, predictor_version, campaign, confidence,
    bounding_box, lc, with_image
FROM product_insight
WHERE barcode = $barcode AND server_type = $server_type
ORDER BY type, value_tag, value, id;
