-- MODEL: mirror_changes_{table}
-- KIND: TABLE
-- READS: {table}, mirror_before_{table}
-- PARAMS: {table}, {key}, {bucket}
-- What the rules changed in a working-copy table: rows inserted (i), updated (u) and deleted (d).
--
-- The difference between the table as read from PostgreSQL (mirror_before_*) and as the rules left it, row by
-- row over every column: a row whose key is only after is an insert, only before a delete, in both with
-- other values an update (its new values). `bucket` is the product's lock bucket (sql/macros/store.sql) under
-- which it is applied; -1 for a table not kept per product (run).
CREATE OR REPLACE TEMP TABLE mirror_changes_{table} AS
WITH after_only AS (
    SELECT * FROM {table} EXCEPT SELECT * FROM mirror_before_{table}
),
before_only AS (
    SELECT * FROM mirror_before_{table} EXCEPT SELECT * FROM {table}
),
before_keys AS (
    SELECT DISTINCT {key} AS k FROM before_only AS c
),
after_keys AS (
    SELECT {key} AS k FROM {table} AS c
)
SELECT CASE WHEN {key} IN (SELECT k FROM before_keys) THEN 'u' ELSE 'i' END AS op, {bucket} AS bucket, c.*
FROM after_only AS c
UNION ALL
SELECT 'd' AS op, {bucket} AS bucket, c.*
FROM before_only AS c
WHERE {key} NOT IN (SELECT k FROM after_keys);
