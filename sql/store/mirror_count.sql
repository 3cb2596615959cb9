-- MODEL: mirror_count
-- KIND: QUERY
-- READS: {table}
-- PARAMS: {table}
-- The rows of a working-copy table: whether the rules wrote into a table read empty.
--
-- A table with no row before the rules and none after has no change: the session skips its difference
-- (two statements) for this one count.
SELECT count(*) AS n FROM {table};
