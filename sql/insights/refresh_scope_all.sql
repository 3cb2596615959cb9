-- MODEL: refresh_scope
-- KIND: TABLE
-- READS: @refresh_source, prediction, product_insight
-- PARAMS: $server_type
-- Refresh step (bulk): the products to refresh, the snapshot's and those the store holds data for.
--
-- refresh_scope for a bulk refresh: every product of the snapshot, and every product the store still holds
-- predictions or insights for under these server types (so that products gone from the dump are found).
CREATE OR REPLACE TEMP TABLE refresh_scope AS
SELECT DISTINCT normalized_code AS barcode, $server_type AS server_type
FROM refresh_source
WHERE normalized_code IS NOT NULL
UNION
SELECT DISTINCT barcode, server_type FROM prediction WHERE server_type = $server_type
UNION
SELECT DISTINCT barcode, server_type FROM product_insight WHERE server_type = $server_type;
