-- MODEL: copy_from
-- KIND: SCHEMA
-- READS: -
-- PARAMS: $path
-- Attach the DuckDB store being copied to PostgreSQL, read-only, to a session's working copy.
--
-- `offpipe store copy` runs one bulk session per server type on the PostgreSQL store: its working copy
-- holds PostgreSQL's rows, and the copy rules (copy_*.sql) make them equal to the DuckDB store's, read from
-- here. READ_ONLY: the copy never writes the DuckDB store, and shares it with other readers.
ATTACH $path AS copy_from (READ_ONLY);
