-- MODEL: prediction
-- KIND: INSERT
-- READS: store_import_batch, prediction
-- PARAMS: $now
-- Import step 3: insert the incoming predictions the store does not hold yet.
--
-- Step 3 of robotoff/insights/importer.py's import: insert the first incoming row of each key unless the store (after step 2) already
-- holds a row with the same (barcode, server_type, type, source_image, value_tag, value, predictor,
-- automatic_processing). `data`, `confidence` and `predictor_version` are not part of the key. NULL matches
-- NULL (IS NOT DISTINCT FROM): Robotoff compares Python tuples against a set, where None == None.
--
-- The existing keys are found with an inner join (the batch is the hash table, the store is scanned once,
-- row groups skipped by the barcode range of the batch) rather than NOT EXISTS, which DuckDB plans as a
-- hash table over the whole store: 20x slower for a one-product batch.
-- Rows go in barcode order so that the store's row groups stay clustered by product (zone maps then skip
-- most of the table in per-product work).
INSERT INTO prediction (
    barcode, type, data, timestamp, value_tag, value, source_image, automatic_processing, predictor,
    predictor_version, confidence, server_type
)
SELECT
    b.barcode, b.type, b.data, $now, b.value_tag, b.value, b.source_image, b.automatic_processing,
    b.predictor, b.predictor_version, b.confidence, b.server_type
FROM store_import_batch b
WHERE b.is_first
  AND b._row NOT IN (
      SELECT b._row
      FROM store_import_batch b
      JOIN prediction p
          ON p.barcode = b.barcode
         AND p.server_type = b.server_type
         AND p.type = b.type
         AND p.source_image IS NOT DISTINCT FROM b.source_image
         AND p.value_tag IS NOT DISTINCT FROM b.value_tag
         AND p.value IS NOT DISTINCT FROM b.value
         AND p.predictor IS NOT DISTINCT FROM b.predictor
         AND p.automatic_processing IS NOT DISTINCT FROM b.automatic_processing
      WHERE b.is_first
  )
ORDER BY b.barcode, b.server_type, b._row;
