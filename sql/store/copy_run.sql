-- MODEL: copy_run
-- KIND: QUERY
-- READS: run
-- PARAMS: {export_columns}
-- The DuckDB store's run log, as the CSV PostgreSQL's staging table reads (op i, then every column).
--
-- A session reads only the latest bulk run of its flavor, so the run log is not copied through one: every
-- row is staged and inserted unless PostgreSQL has its id (sql/postgres/copy_run_insert.sql). Columns as
-- mirror_chunk.sql writes them (JSON as text, timestamps with their offset).
SELECT 'i' AS op, {export_columns}
FROM run AS c
ORDER BY c.started, c.id;
