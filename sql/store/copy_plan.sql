-- MODEL: copy_plan_{table}
-- KIND: TABLE
-- READS: copy_target_{table}, copy_source_{table}
-- PARAMS: {table}, {target_key}, {source_key}
-- Which rows the copy deletes from the working copy (d) and which it takes from the DuckDB store (i).
--
-- A working-copy row (read from PostgreSQL) without an equal row in the DuckDB store goes; a DuckDB row
-- without an equal row in the working copy comes. Equal rows stay as they are, so the session applies
-- nothing for them and a second copy writes nothing. A row that changed is both: the session's difference
-- (mirror_changes.sql) turns the pair into one update when its key is kept.
CREATE OR REPLACE TEMP TABLE copy_plan_{table} AS
SELECT 'd' AS op, {target_key}
FROM copy_target_{table} AS t
ANTI JOIN copy_source_{table} AS s ON s.sig = t.sig AND s.n = t.n
UNION ALL
SELECT 'i' AS op, {source_key}
FROM copy_source_{table} AS s
ANTI JOIN copy_target_{table} AS t ON t.sig = s.sig AND t.n = s.n;
