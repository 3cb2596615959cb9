-- MODEL: copy_counts
-- KIND: QUERY
-- READS: {table}
-- PARAMS: {table}
-- Rows per server type of one table of the DuckDB store being copied.
--
-- `offpipe store copy` prints these beside PostgreSQL's (sql/postgres/copy_count.sql) once the copy is
-- done: equal counts per server type and table are what a finished copy promises. The server types found
-- here are the ones copied.
SELECT c.server_type, count(*) AS n
FROM {table} AS c
GROUP BY c.server_type
ORDER BY c.server_type;
