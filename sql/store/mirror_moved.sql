-- MODEL: mirror_moved
-- KIND: QUERY
-- READS: mirror_versions, mirror_versions_now
-- PARAMS: -
-- Products a per-product writer changed since the bulk session read them: their changes are left out.
--
-- The listener moves a product's version in the transaction that applies its newer data; a bulk decision
-- for that product was made from older rows, so applying it would undo the listener's work (docs/store.md,
-- "Concurrency"). The listener's result stands; the bulk run's replay decides such products again.
SELECT n.server_type, n.barcode
FROM mirror_versions_now AS n
LEFT JOIN mirror_versions AS r ON r.server_type = n.server_type AND r.barcode = n.barcode
WHERE r.version IS DISTINCT FROM n.version;
