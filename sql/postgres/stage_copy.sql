-- MODEL: {stage}
-- KIND: INSERT
-- READS: -
-- PARAMS: {stage}
-- COPY a chunk's changes (CSV written by DuckDB) into the staging table.
--
-- The CSV is the working copy's mirror_chunk table: `op`, then the columns, JSON and lists as JSON text,
-- timestamps with their UTC offset; an unquoted empty field is NULL.
COPY {stage} FROM STDIN (FORMAT csv)
