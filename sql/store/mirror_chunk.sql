-- MODEL: mirror_chunk
-- KIND: TABLE
-- READS: mirror_changes_{table}, @mirror_skipped
-- PARAMS: {table}, {export_columns}, $low, $high
-- The changes of one table to apply in one PostgreSQL transaction: a range of lock buckets, minus the
-- products changed by someone else since the session read them.
--
-- A bulk session applies its changes bucket range by bucket range, each in a short transaction; a product
-- whose version moved since the read (the listener applied newer data meanwhile) is left out, so the
-- listener's result stands (docs/store.md, "Concurrency"). Columns as the staging table reads them: `op`,
-- then the table's columns with JSON and lists as JSON text.
CREATE OR REPLACE TEMP TABLE mirror_chunk AS
SELECT c.op, {export_columns}
FROM mirror_changes_{table} AS c
WHERE c.bucket BETWEEN $low AND $high
  AND NOT EXISTS (
      SELECT 1 FROM mirror_skipped AS s
      WHERE s.server_type = c.server_type AND s.barcode = c.barcode
  )
ORDER BY c.op, c.bucket;
