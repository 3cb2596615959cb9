-- MODEL: brand_blacklist
-- KIND: TABLE
-- READS: @brand_blacklist_input
-- PARAMS: -
-- The brand importer's blacklist (tags), sorted so that a one-product refresh reads a few rows of it.
CREATE OR REPLACE TEMP TABLE brand_blacklist AS FROM brand_blacklist_input ORDER BY ALL;
