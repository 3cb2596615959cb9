-- Step 2 applied: delete the evicted rows except those kept as identical twins of incoming rows.
DELETE FROM prediction
WHERE id IN (SELECT id FROM store_import_evicted)
  AND id NOT IN (SELECT id FROM store_import_kept);
