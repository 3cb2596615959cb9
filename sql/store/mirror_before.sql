-- MODEL: mirror_before_{table}
-- KIND: TABLE
-- READS: {table}
-- PARAMS: {table}, {before_columns}, $empty
-- The working copy's rows as read from PostgreSQL, before the rules run: their keys and a hash of each row.
--
-- Kept beside the working table so that, once the rules have run, mirror_changes.sql can tell which rows
-- they inserted, updated or deleted: only those go back to PostgreSQL (docs/store.md). A key and a 64-bit
-- hash of the whole row (DuckDB's hash of the row as a struct) say as much as a copy of the row for that
-- purpose, at a fraction of its size and of the time to compare it (a changed row hashing to the same value
-- is a 2^-64 chance). The product's columns are kept too: a deleted row is applied under its bucket. With
-- $empty, an empty "before" of the same shape: a table read empty is kept so only once the rules wrote into
-- it (pipelines/store/postgres/session.py).
CREATE OR REPLACE TEMP TABLE mirror_before_{table} AS
SELECT {before_columns}, hash(c) AS row_hash
FROM {table} AS c
WHERE NOT $empty;
