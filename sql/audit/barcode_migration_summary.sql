-- MODEL: barcode_migration_summary
-- KIND: QUERY
-- READS: barcode_migration
-- PARAMS: $listed
-- The audit's counts per status, and the first invalid codes and conflicts.
--
-- barcode_migration_summary: the seed's per-flavor counts from the `barcode_migration` view
-- (sql/audit/barcode_migration.sql): products, invalid code, moved, not moved (conflicts), same path,
-- changed code.
SELECT
    count(*) AS products,
    count(*) FILTER (WHERE status = 'invalid') AS invalid,
    count(*) FILTER (WHERE status = 'moved') AS moved,
    count(*) FILTER (WHERE status = 'conflict') AS not_moved,
    count(*) FILTER (WHERE status = 'same path') AS same_path,
    count(*) FILTER (WHERE changed_code) AS changed_code,
    list(code) FILTER (WHERE status = 'invalid')[1:$listed] AS invalid_codes,
    list([old_path, new_path]) FILTER (WHERE status = 'conflict')[1:$listed] AS conflicts
FROM barcode_migration
