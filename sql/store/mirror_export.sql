-- MODEL: mirror_export
-- KIND: QUERY
-- READS: mirror_changes_{table}
-- PARAMS: {table}, {export_columns}, {path}
-- Every change of one table, as the staging table reads them, written to the CSV file {path}.
--
-- A per-product session (a listener batch) applies all its changes in the one transaction that holds its
-- products' locks: no bucket ranges and no products left to a concurrent writer, so the changes go out as
-- they are, in one statement (a bulk session cuts them into chunks: mirror_chunk.sql). Columns as
-- mirror_chunk.sql writes them: `op`, then the table's columns with JSON and lists as JSON text.
COPY (
    SELECT c.op, {export_columns}
    FROM mirror_changes_{table} AS c
    ORDER BY c.op, c.bucket
) TO {path} (FORMAT csv, HEADER false);
