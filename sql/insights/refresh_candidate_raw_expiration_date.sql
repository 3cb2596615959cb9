-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product
-- PARAMS: -
-- Refresh step: the expiration date importer's candidates.
--
-- Expiration date importer (importer.py:892-924): nothing when the product has an expiration date;
-- otherwise the latest date (ISO values sort as dates; among equal values the first in Robotoff's order),
-- not automatic when the predictions disagree. Conflict: same value.
INSERT INTO refresh_candidate_raw BY NAME
WITH ranked AS (
    SELECT
        p.*,
        row_number() OVER (
            PARTITION BY p.barcode, p.server_type
            ORDER BY p.value DESC, p.priority, p.image_rank, p.predictor_rank, p.id
        ) AS rank,
        count(DISTINCT p.value) OVER (PARTITION BY p.barcode, p.server_type) AS distinct_values
    FROM refresh_prediction p
    WHERE p.type = 'expiration_date'
)
SELECT
    p.barcode, p.server_type, p.type, p.value, p.value_tag, p.data, p.source_image, p.image_stem,
    CASE WHEN p.distinct_values > 1 THEN false ELSE p.automatic_processing END AS automatic_processing,
    p.predictor, p.predictor_version, p.confidence,
    p.priority, p.image_rank, p.predictor_rank, p.id AS prediction_id,
    p.value AS conflict_key, NULL::VARCHAR AS taxonomy, NULL::VARCHAR[] AS campaign
FROM ranked p
JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
WHERE p.rank = 1 AND coalesce(r.expiration_date, '') = '';
