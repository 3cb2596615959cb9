-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product
-- PARAMS: -
-- Refresh step: the product weight importer's candidates.
--
-- Product weight importer (importer.py:835-889): nothing when the product has a quantity (any value, even
-- empty: Robotoff tests `is not None`); otherwise only the first prediction in Robotoff's order. It is not
-- automatic when its matcher type saw more than one distinct value, or when it comes from the product name.
-- Conflict: same value.
INSERT INTO refresh_candidate_raw BY NAME
WITH ranked AS (
    SELECT
        p.*,
        row_number() OVER (
            PARTITION BY p.barcode, p.server_type
            ORDER BY p.priority, p.image_rank, p.predictor_rank, p.id
        ) AS rank,
        count(DISTINCT p.value) OVER (
            PARTITION BY p.barcode, p.server_type, json_extract_string(p.data, '$.matcher_type')
        ) AS values_of_matcher
    FROM refresh_prediction p
    WHERE p.type = 'product_weight'
)
SELECT
    p.barcode, p.server_type, p.type, p.value, p.value_tag, p.data, p.source_image, p.image_stem,
    CASE
        WHEN p.values_of_matcher > 1 OR json_extract_string(p.data, '$.source') = 'product_name' THEN false
        ELSE p.automatic_processing
    END AS automatic_processing,
    p.predictor, p.predictor_version, p.confidence,
    p.priority, p.image_rank, p.predictor_rank, p.id AS prediction_id,
    p.value AS conflict_key, NULL::VARCHAR AS taxonomy, NULL::VARCHAR[] AS campaign
FROM ranked p
JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
WHERE p.rank = 1 AND r.quantity IS NULL;
