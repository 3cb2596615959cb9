-- MODEL: run
-- KIND: INSERT
-- READS: -
-- PARAMS: $id, $kind, $flavor, $dump_etag, $started, $products, $counts
-- Records the refresh with its counts, in the refresh's transaction: the next bulk refresh's safety stop reads
-- its product count (refresh_previous_products.sql).
INSERT INTO run (id, kind, flavor, dump_etag, started, ended, products, counts)
VALUES ($id, $kind, $flavor, $dump_etag, $started, now(), $products, $counts);
