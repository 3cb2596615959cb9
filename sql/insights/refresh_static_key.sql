-- MODEL: refresh_static_key
-- KIND: TABLE
-- READS: -
-- PARAMS: $key
-- Which list set the connection's label_whitelist, brand_blacklist and brand_prefix were built from: they are
-- built again only when the refresh is given other lists.
CREATE OR REPLACE TEMP TABLE refresh_static_key AS SELECT $key AS key;
