-- MODEL: table_sizes
-- KIND: QUERY
-- READS: prediction, product_insight, offpipe.*
-- PARAMS: -
-- The on-disk size (table + indexes + TOAST) and estimated rows of the tables a store writes.
--
-- The bench prints them after a run so the 4M extrapolation has a disk figure too; run after ANALYZE so
-- reltuples is the row count (the bench's tables are otherwise not read by anyone).
SELECT n.nspname || '.' || c.relname AS relation,
       pg_total_relation_size(c.oid) AS total_bytes,
       pg_indexes_size(c.oid) AS index_bytes,
       c.reltuples::bigint AS rows
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND ((n.nspname = 'public' AND c.relname IN ('prediction', 'product_insight', 'annotation_vote'))
       OR n.nspname = 'offpipe')
ORDER BY 1
