-- MODEL: barcode_migration_csv
-- KIND: QUERY
-- READS: barcode_migration
-- PARAMS: $path
-- Writes the audit's per-product log (the barcode_migration view) as CSV to $path.
COPY (FROM barcode_migration) TO $path (HEADER, DELIMITER ',');
