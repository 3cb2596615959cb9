-- MODEL: copy_source_tables
-- KIND: QUERY
-- READS: -
-- PARAMS: -
-- The tables of the DuckDB file given to `offpipe store copy`: is it a store?
--
-- A DuckDB file without the store's tables is refused with one line naming what is missing, before
-- anything is written to PostgreSQL.
SELECT table_name
FROM duckdb_tables()
WHERE database_name = current_database() AND schema_name = 'main'
ORDER BY table_name;
