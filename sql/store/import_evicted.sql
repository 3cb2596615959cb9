-- MODEL: store_import_evicted
-- KIND: TABLE
-- READS: prediction, store_import_batch
-- PARAMS: -
-- Import step 2: the stored predictions the incoming rows replace, and why.
--
-- Step 2 of robotoff/insights/importer.py's import: the stored predictions the incoming valid rows replace, with the rule that selects
-- them. Groups are those of all valid incoming rows (not only the first of each key), as in Robotoff.
--
-- * 'category': an incoming category prediction evicts every stored category prediction of its product
--   (barcode, server_type): any image, any predictor_version, any predictor.
-- * 'predictor_version': other types evict stored rows of the same barcode, server_type, type and
--   source_image whose predictor_version IS DISTINCT FROM an incoming one. `source_image = source_image` is
--   plain SQL equality, as in Robotoff's raw SQL: a NULL source_image (product-name predictions) never
--   matches, so those rows are never evicted by this rule. When a group holds several predictor versions,
--   every stored row differs from one of them and is evicted, as in Robotoff's loop over the groups.
-- The evicted rows keep every column: store_import_kept compares them with the batch without reading
-- `prediction` again.
CREATE TEMP TABLE store_import_evicted AS
SELECT p.*, 'category' AS rule
FROM prediction p
WHERE p.type = 'category'
  AND EXISTS (
      SELECT 1
      FROM store_import_batch b
      WHERE b.drop_reason IS NULL
        AND b.type = 'category'
        AND b.barcode = p.barcode
        AND b.server_type = p.server_type
  )
UNION ALL
SELECT p.*, 'predictor_version' AS rule
FROM prediction p
WHERE p.type <> 'category'
  AND EXISTS (
      SELECT 1
      FROM store_import_batch b
      WHERE b.drop_reason IS NULL
        AND b.barcode = p.barcode
        AND b.server_type = p.server_type
        AND b.type = p.type
        AND b.source_image = p.source_image
        AND b.predictor_version IS DISTINCT FROM p.predictor_version
  );
