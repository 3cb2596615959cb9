-- MODEL: mirror_before_{table}
-- KIND: TABLE
-- READS: {table}
-- PARAMS: {table}
-- The working copy's rows as read from PostgreSQL, before the rules run: what the difference is taken from.
--
-- Kept beside the working table so that, once the rules have run, mirror_changes.sql can tell which rows
-- they inserted, updated or deleted: only those go back to PostgreSQL (docs/store.md).
CREATE OR REPLACE TEMP TABLE mirror_before_{table} AS SELECT * FROM {table};
