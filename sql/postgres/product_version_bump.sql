-- MODEL: offpipe.product_version
-- KIND: INSERT
-- READS: -
-- PARAMS: %(server_type)s, %(barcodes)s, %(buckets)s
-- Give new versions to the products a per-product session applied (the listener's).
--
-- A bulk session that read a product before this commit sees the version move and leaves the product to
-- the listener's newer result (docs/store.md, "Concurrency").
INSERT INTO offpipe.product_version (server_type, barcode, bucket, version)
SELECT %(server_type)s::text, p.barcode, p.bucket, nextval('offpipe.product_version_seq')
FROM unnest(%(barcodes)s::text[], %(buckets)s::int[]) AS p(barcode, bucket)
ON CONFLICT (server_type, barcode) DO UPDATE SET version = excluded.version
