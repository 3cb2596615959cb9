-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product
-- PARAMS: -
-- Refresh step: the packager code importer's candidates (normalize_emb_code is a Python function).
--
-- Packager code importer (importer.py:618-658): a code already on the product (emb_codes_tags, compared
-- after Robotoff's normalize_emb_code: lowercased, without spaces, dashes and dots, accents stripped,
-- a trailing "ce" read as "ec") is not suggested again. Automatic as predicted. Conflict: same value.
INSERT INTO refresh_candidate_raw BY NAME
SELECT
    p.barcode, p.server_type, p.type, p.value, p.value_tag, p.data, p.source_image, p.image_stem,
    p.automatic_processing, p.predictor, p.predictor_version, p.confidence,
    p.priority, p.image_rank, p.predictor_rank, p.id AS prediction_id,
    p.value AS conflict_key, NULL::VARCHAR AS taxonomy, NULL::VARCHAR[] AS campaign
FROM refresh_prediction p
JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
WHERE p.type = 'packager_code'
  AND NOT list_contains(
      list_transform(coalesce(r.emb_codes_tags, []), lambda pc_code: normalize_emb_code(pc_code)),
      normalize_emb_code(p.value)
  );
