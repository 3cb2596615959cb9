-- MODEL: schema_init_lock
-- KIND: QUERY
-- READS: -
-- PARAMS: -
-- Serializes `offpipe store init` runs on one database until the end of their transaction.
--
-- Two inits at the same time would both see a table absent and both create it: the second would fail on
-- the name (CREATE … IF NOT EXISTS does not wait for an uncommitted creation). The key is a constant of
-- this step alone (one 64-bit key; per-product locks use other keys).
SELECT pg_advisory_xact_lock(hashtextextended('offpipe store init', 0));
