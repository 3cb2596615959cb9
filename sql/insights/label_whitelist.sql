-- MODEL: label_whitelist
-- KIND: TABLE
-- READS: @label_whitelist_input
-- PARAMS: -
-- The label importer's whitelist (tags), sorted so that a one-product refresh reads a few rows of it.
CREATE OR REPLACE TEMP TABLE label_whitelist AS FROM label_whitelist_input ORDER BY ALL;
