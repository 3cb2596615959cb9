-- MODEL: product_insight
-- KIND: UPDATE
-- READS: refresh_row
-- PARAMS: $now
-- Refresh step: update the stored insights a candidate maps onto, only when something differs.
--
-- Update the references a candidate maps onto — only when something differs (a deliberate improvement over
-- Robotoff, which rewrites every mapped reference: a new timestamp and zero votes each time). A changed
-- reference gets the candidate's fields, a new timestamp, its votes reset and process_after recomputed.
-- Documents compare whatever their key order and confidences at `real` precision: what the PostgreSQL store
-- gives back (docs/store.md, "One rule, two stores").
UPDATE product_insight i
SET value = w.value, value_tag = w.value_tag, data = w.data, source_image = w.source_image,
    automatic_processing = w.automatic_processing, predictor = w.predictor,
    predictor_version = w.predictor_version, confidence = w.confidence, bounding_box = w.bounding_box,
    campaign = w.campaign, reserved_barcode = w.reserved_barcode, with_image = w.with_image,
    countries = w.countries, brands = w.brands, unique_scans_n = w.unique_scans_n,
    timestamp = $now, n_votes = 0, process_after = w.process_after
FROM refresh_row w
WHERE w.ref_id = i.id
  AND (
      i.value IS DISTINCT FROM w.value OR i.value_tag IS DISTINCT FROM w.value_tag
      OR (i.data::VARCHAR IS DISTINCT FROM w.data::VARCHAR
          AND json_canonical(i.data) IS DISTINCT FROM json_canonical(w.data))
      OR i.source_image IS DISTINCT FROM w.source_image
      OR i.automatic_processing IS DISTINCT FROM w.automatic_processing OR i.predictor IS DISTINCT FROM w.predictor
      OR i.predictor_version IS DISTINCT FROM w.predictor_version OR i.confidence::FLOAT IS DISTINCT FROM w.confidence::FLOAT
      OR (i.bounding_box::VARCHAR IS DISTINCT FROM w.bounding_box::VARCHAR
          AND json_canonical(i.bounding_box) IS DISTINCT FROM json_canonical(w.bounding_box))
      OR i.campaign IS DISTINCT FROM w.campaign
      OR i.reserved_barcode IS DISTINCT FROM w.reserved_barcode OR i.with_image IS DISTINCT FROM w.with_image
      OR i.countries IS DISTINCT FROM w.countries OR i.brands IS DISTINCT FROM w.brands
      OR i.unique_scans_n IS DISTINCT FROM w.unique_scans_n
  )
RETURNING i.type;
