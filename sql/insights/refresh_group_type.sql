-- MODEL: refresh_group_type
-- KIND: QUERY
-- READS: refresh_group
-- PARAMS: -
-- The insight types at hand: only their importers run (all of them in a bulk refresh, one or two for a product).
SELECT DISTINCT type FROM refresh_group;
