-- MODEL: {table}
-- KIND: INSERT
-- READS: -
-- PARAMS: {table}, {path}, {csv_columns}, {load_columns}
-- Load a scope's rows, read from PostgreSQL as CSV, into the working copy's table of the same name.
--
-- The PostgreSQL store's session copies the rows of its scope into DuckDB tables shaped as the DuckDB store's,
-- so that the rules run unchanged (docs/store.md, "One rule, two stores"). The CSV comes from
-- sql/postgres/scope_read.sql: JSON and lists as JSON text, timestamps in UTC; an unquoted empty field is
-- NULL, a quoted one the empty string (PostgreSQL's CSV convention). Slots are filled from the constants of
-- pipelines/store/postgres/mirror.py and a temporary file name the session made.
INSERT INTO {table} BY NAME
SELECT {load_columns}
FROM read_csv(
    {path}, header = false, columns = {csv_columns}, delim = ',', quote = '"', escape = '"',
    allow_quoted_nulls = false, max_line_size = 200000000, auto_detect = false
) AS c;
