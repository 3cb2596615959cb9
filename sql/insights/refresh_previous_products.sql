-- MODEL: refresh_previous_products
-- KIND: QUERY
-- READS: run
-- PARAMS: $flavor
-- The product count of the flavor's last finished bulk refresh: the safety stop's reference (no row: never
-- bulk-refreshed).
SELECT products
FROM run
WHERE kind = 'bulk' AND flavor = $flavor AND ended IS NOT NULL
ORDER BY ended DESC
LIMIT 1;
