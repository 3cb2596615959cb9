-- MODEL: product_predictions_shown
-- KIND: QUERY
-- READS: prediction
-- PARAMS: $barcode, $server_type
-- `offpipe insights show`: one product's stored predictions.
--
-- `offpipe insights show`: the stored predictions of one product (barcode already normalized and validated).
SELECT
    id, barcode, type, data, timestamp, value_tag, value, source_image, automatic_processing, predictor,
    predictor_version, confidence, server_type
FROM prediction
WHERE barcode = $barcode AND server_type = $server_type
ORDER BY type, id;
