-- MODEL: refresh_stored_products
-- KIND: QUERY
-- READS: prediction, product_insight
-- PARAMS: $server_type
-- The safety stop's reference for a store never bulk-refreshed: the products it holds data for.
--
-- The number of products of a server type ($server_type) the store holds predictions or insights for: the
-- safety stop's reference for a store that has never been bulk-refreshed (filled by the listener alone).
SELECT count(*) FROM (
    SELECT barcode FROM prediction WHERE server_type = $server_type
    UNION
    SELECT barcode FROM product_insight WHERE server_type = $server_type
);
