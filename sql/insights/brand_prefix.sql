-- MODEL: brand_prefix
-- KIND: TABLE
-- READS: @brand_prefix_input
-- PARAMS: -
-- The known (brand tag, barcode prefix) pairs (~100k), sorted by tag so that a one-product refresh reads a few
-- rows of them (zone maps) instead of scanning them all.
CREATE OR REPLACE TEMP TABLE brand_prefix AS FROM brand_prefix_input ORDER BY ALL;
