-- MODEL: {table}
-- KIND: INSERT
-- READS: copy_plan_{table}
-- PARAMS: {table}, {insert_columns}, {plan_match}, {key_order}, $server_type
-- Insert into the working copy the DuckDB store's rows PostgreSQL lacks (plan op i), with their values.
--
-- Every column is taken as the DuckDB store has it (Robotoff's default in place of a NULL its table does
-- not allow: older stores hold some), but a generated key: a prediction gets a working-copy id from the
-- sequence, then PostgreSQL's own at apply time, in the DuckDB store's id order. `copy_from` is the
-- attached DuckDB store (copy_attach.sql).
INSERT INTO {table} BY NAME
SELECT {insert_columns}
FROM copy_from.{table} AS c
SEMI JOIN copy_plan_{table} AS p ON p.op = 'i' AND {plan_match}
WHERE c.server_type = $server_type
ORDER BY {key_order};
