-- MODEL: statistics
-- KIND: ANALYZE
-- READS: -
-- PARAMS: -
-- Refresh the planner's statistics before the sizes are read: reltuples is then the tables' row count.
--
-- The bench's database is fresh and autovacuum may not have visited it yet.
ANALYZE
