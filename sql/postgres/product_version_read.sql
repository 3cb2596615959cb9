-- MODEL: product_versions
-- KIND: QUERY
-- READS: offpipe.product_version
-- PARAMS: %(server_type)s, %(everything)s, %(buckets)s
-- The version of each product a per-product writer changed, as CSV: all of a flavor, or some buckets.
--
-- A bulk session reads every version with its rows (same snapshot), and again for each chunk under the
-- chunk's locks: a product whose version moved was changed by the listener meanwhile and is left to it.
COPY (
    SELECT v.server_type, v.barcode, v.version
    FROM offpipe.product_version AS v
    WHERE v.server_type = %(server_type)s::text
      AND (%(everything)s OR v.bucket = ANY(%(buckets)s::int[]))
) TO STDOUT (FORMAT csv)
