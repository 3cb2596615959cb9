-- MODEL: copy_counts
-- KIND: QUERY
-- READS: {relation}
-- PARAMS: {relation}, %(server_types)s
-- Rows per server type of one PostgreSQL table, for the server types `offpipe store copy` copied.
--
-- Printed beside the DuckDB store's counts (sql/store/copy_count.sql): equal counts per server type and
-- table are what a finished copy promises.
SELECT t.server_type, count(*) AS n
FROM {relation} AS t
WHERE t.server_type = ANY(%(server_types)s::text[])
GROUP BY t.server_type
ORDER BY t.server_type
