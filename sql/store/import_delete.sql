-- MODEL: prediction
-- KIND: DELETE
-- READS: store_import_evicted, store_import_kept
-- PARAMS: -
-- Import step 2 applied: delete the evicted predictions.
--
-- Step 2 applied: delete the evicted rows except those kept as identical twins of incoming rows.
DELETE FROM prediction
WHERE id IN (SELECT id FROM store_import_evicted)
  AND id NOT IN (SELECT id FROM store_import_kept);
