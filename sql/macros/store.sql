-- MODEL: store_bucket
-- KIND: MACRO
-- READS: -
-- PARAMS: -
-- The lock bucket of a product in the PostgreSQL store (the twin of pipelines/store/postgres/mirror.py).
--
-- A product's changes are applied under an advisory lock on its bucket, not on the product: a nightly apply
-- of a chunk of products then takes a few hundred locks instead of thousands (PostgreSQL's lock table is
-- small), and the listener locks the buckets of its products in ascending order, as the nightly run does,
-- so the two never deadlock (docs/store.md, "Concurrency"). 4,096 buckets: the first 12 bits of
-- md5('<server type>:<barcode>'); Python computes the same number for the listener's products.
CREATE OR REPLACE TEMP MACRO store_bucket(server_type, barcode) AS
    CAST('0x' || substr(md5(server_type || ':' || barcode), 1, 3) AS INTEGER);
