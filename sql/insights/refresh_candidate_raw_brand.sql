-- MODEL: refresh_candidate_raw
-- KIND: INSERT
-- READS: refresh_prediction, refresh_product, brand_blacklist, brand_prefix
-- PARAMS: -
-- Refresh step: the brand importer's candidates.
--
-- Brand importer (importer.py:927-998): nothing when the product already has brands_tags. Predictions of
-- the keyword lists (taxonomy, curated-list) are dropped when their tag is blacklisted or, for a 13-digit
-- barcode, when (tag, first 7 digits + "xxxxxx") is not a known brand prefix (brands.py:140-154).
-- automatic_processing left unset becomes "from the product name" (as Robotoff writes it).
-- Conflict: same value_tag.
INSERT INTO refresh_candidate_raw BY NAME
SELECT
    p.barcode, p.server_type, p.type, p.value, p.value_tag, p.data, p.source_image, p.image_stem,
    coalesce(p.automatic_processing, json_extract_string(p.data, '$.source') IS NOT DISTINCT FROM 'product_name')
        AS automatic_processing,
    p.predictor, p.predictor_version, p.confidence,
    p.priority, p.image_rank, p.predictor_rank, p.id AS prediction_id,
    p.value_tag AS conflict_key, NULL::VARCHAR AS taxonomy, NULL::VARCHAR[] AS campaign
FROM refresh_prediction p
JOIN refresh_product r ON r.barcode = p.barcode AND r.server_type = p.server_type
WHERE p.type = 'brand'
  AND len(coalesce(r.brands_tags, [])) = 0
  AND (
      p.predictor IS NULL
      OR p.predictor NOT IN ('taxonomy', 'curated-list')
      OR (
          p.value_tag NOT IN (SELECT tag FROM brand_blacklist)
          AND (
              length(p.barcode) != 13
              OR EXISTS (
                  SELECT 1 FROM brand_prefix b
                  WHERE b.tag = p.value_tag AND b.prefix = left(p.barcode, 7) || 'xxxxxx'
              )
          )
      )
  );
