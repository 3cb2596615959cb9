-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction
-- PARAMS: -
-- Refresh step: the store importer's candidates.
--
-- Store importer (importer.py:1001-1026): every prediction is a candidate, always automatic; the annotator
-- checks the product's stores later. Conflict: same value_tag.
INSERT INTO refresh_candidate_raw BY NAME
SELECT
    p.barcode, p.server_type, p.type, p.value, p.value_tag, p.data, p.source_image, p.image_stem,
    true AS automatic_processing, p.predictor, p.predictor_version, p.confidence,
    p.priority, p.image_rank, p.predictor_rank, p.id AS prediction_id,
    p.value_tag AS conflict_key, NULL::VARCHAR AS taxonomy, NULL::VARCHAR[] AS campaign
FROM refresh_prediction p
WHERE p.type = 'store';
