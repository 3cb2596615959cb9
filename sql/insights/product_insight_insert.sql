-- MODEL: product_insight
-- KIND: INSERT
-- READS: refresh_row
-- PARAMS: $now
-- Refresh step: insert the candidates that map onto no stored insight.
--
-- Insert the candidates that map onto no reference, with a fresh UUID, the refresh time and no votes.
-- Rows go in barcode order (per-product lookups then skip most row groups).
INSERT INTO product_insight (
    id, barcode, type, data, timestamp, n_votes, countries, brands, process_after, value_tag, value,
    source_image, automatic_processing, server_type, unique_scans_n, reserved_barcode, predictor,
    predictor_version, campaign, confidence, bounding_box, with_image
)
SELECT
    uuid(), w.barcode, w.type, w.data, $now, 0, w.countries, w.brands, w.process_after, w.value_tag, w.value,
    w.source_image, w.automatic_processing, w.server_type, w.unique_scans_n, w.reserved_barcode, w.predictor,
    w.predictor_version, w.campaign, w.confidence, w.bounding_box, w.with_image
FROM refresh_row w
WHERE w.ref_id IS NULL
ORDER BY w.barcode, w.type
RETURNING type;
