-- MODEL: refresh_product_count
-- KIND: QUERY
-- READS: refresh_product
-- PARAMS: -
-- The number of products the importers see (the report's `products`; the safety stop compares it).
SELECT count(*) AS products FROM refresh_product;
