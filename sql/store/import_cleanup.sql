-- MODEL: store_import_kept, store_import_evicted, store_import_batch
-- KIND: DELETE
-- READS: -
-- PARAMS: -
-- Drops the import's working tables before it commits.
--
-- The import's working tables (connection-local). Dropped before committing, so a committed import leaves
-- nothing behind; a rolled-back one discards them with the transaction.
DROP TABLE IF EXISTS temp.store_import_kept;
DROP TABLE IF EXISTS temp.store_import_evicted;
DROP TABLE IF EXISTS temp.store_import_batch;
